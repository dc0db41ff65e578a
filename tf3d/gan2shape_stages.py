"""`python -m tf3d.gan2shape_stages EXPERIMENT.yaml [--set key=value]`: GAN2Shape's per-instance stages.

Pan et al. 2021, "Do 2D GANs Know 3D Shape?" (sec. 3), on test images of a shaded build, so that every
stage is scored against the ground truth. For each instance (an image `I` of `instances.split`):

0. GAN inversion: per-layer styles `w` with `G(w) ~ I` (`invert_styles`; the GAN of run `gan`, trained
   by `python -m tf3d.train experiments/gan2shape.yaml`) -- the instance's place in the GAN;
   the ellipsoid prior: the depth network is fitted to `tf3d.tasks.unsup3d.ellipsoid_depth` over the
   object's box (the ground-truth mask's box, as `tf3d.evaluate`'s ellipsoid baseline);
then `stages` times:
1. step 1: the albedo and light networks are fitted to `I` with the depth and view held;
2. step 2: pseudo samples, the current depth and albedo rendered under sampled views (yaw, pitch)
   and lights; an encoder `E` predicts style offsets, trained on
   `|G(w + E(P)) - P|_1 + offset mean(E(P)^2)`; projected samples `G(w + E(P))`;
3. step 3: all four networks on the projected samples (shared depth and albedo of `I`, a view and
   light per sample) and on `I`, plus `smoothness` times the depth's total variation.

After the prior and after every stage the depth and normals seen in the input view are scored with
SIDE and MAD (`tf3d.metrics.shape_errors`) on the object's pixels, as `tf3d.evaluate` scores unsup3d,
next to constant depth and the analytic ellipsoid on the same pixels. Keys: `tf3d.gan2shape_config`.
Written to `out_dir`:

    config.yaml      the resolved config
    metrics.json     per instance and stage: SIDE, MAD, and each step's losses before and after
    stages.png       per instance: input, normals (truth, prior, each stage), a pseudo and its
                     projected sample, the final shape relit and turned

The GAN works at its own size (32 px for `experiments/gan2shape.yaml`): images go to it area-resized and
its projected samples come back bilinearly upsampled to the instance's size.
"""

import dataclasses
import math
import os
import sys
import time

import numpy as np
import yaml

from tf3d import cli
from tf3d.gan2shape_config import CONFIG_FILE, resolve


def load_instances(instances):
    """`instances.count` records of the split (from `first`, every `every`-th) as numpy: image
    `[N, S, S, 1]`, mask `[N, S, S]` bool, depth `[N, S, S]`, normal `[N, S, S, 3]`, intrinsics `[3, 3]`,
    model ids."""
    from tf3d.data import shaded_records

    try:
        ds = shaded_records.make_dataset(instances.data, instances.split, batch_size=1, training=False)
    except (FileNotFoundError, ValueError) as error:
        raise cli.UserError(str(error)) from None
    records = list(ds.skip(instances.first).shard(instances.every, 0).take(instances.count))
    if len(records) < instances.count:
        raise cli.UserError(f"{instances.data} has {len(records)} {instances.split} images from record "
                            f"{instances.first} on, every {instances.every}th, fewer than instances.count = "
                            f"{instances.count}")
    stack = lambda key: np.concatenate([r[key].numpy() for r in records])  # noqa: E731
    return {"image": stack("image"), "mask": stack("mask")[..., 0] > 0.5, "depth": stack("depth"),
            "normal": stack("normal"), "intrinsics": records[0]["intrinsics"].numpy()[0],
            "ids": [r["model_id"].numpy()[0].decode() for r in records]}


class Stages:
    """The per-instance optimizations of one config, traced once and reused for every instance.

    Args:
      config: a resolved `StagesConfig`.
      gan: a `tf3d.models.style_gan.StyleGAN`.
      image_size: S of the instances; intrinsics: their `[3, 3]` K.
    """

    def __init__(self, config, gan, image_size, intrinsics):
        import keras
        import tensorflow as tf

        from tf3d.models import gan2shape

        self.config, self.gan, self.size = config, gan, int(image_size)
        n = config.networks
        self.nets = gan2shape.InstanceNetworks(self.size, intrinsics, n.nf, n.zdim, n.min_depth, n.max_depth,
                                               n.rotation_centre, n.rotation_range, n.xy_translation)
        self.encoder = gan2shape.offset_encoder(gan.image_size, gan.num_styles, gan.w_dim)
        self._encoder_initial = self.encoder.get_weights()
        s, m = self.size, config.steps.pseudo_samples
        self.image = tf.Variable(tf.zeros([1, s, s, 1]), trainable=False)
        self.prior = tf.Variable(tf.zeros([1, s, s]), trainable=False)
        self.styles = tf.Variable(tf.zeros([1, gan.num_styles, gan.w_dim]), trainable=False)
        self.pseudo = tf.Variable(tf.zeros([m, s, s, 1]), trainable=False)
        self.projected = tf.Variable(tf.zeros([m, s, s, 1]), trainable=False)
        self.rng = tf.random.Generator.from_seed(config.seed)
        nets = self.nets
        groups = {"prior": nets.depth_net.trainable_variables,
                  "step1": nets.albedo_net.trainable_variables + nets.light_net.trainable_variables,
                  "step2": self.encoder.trainable_variables,
                  "step3": sum((net.trainable_variables for net in nets.networks), [])}
        self.variables, self.optimizers = groups, {}
        for name, variables in groups.items():
            self.optimizers[name] = keras.optimizers.Adam(n.learning_rate)
            self.optimizers[name].build(variables)
        # Adam's state as built (zero moments, step 0, the learning rate): what `start` goes back to.
        self._optimizer_initial = {name: [v.numpy() for v in opt.variables] for name, opt in self.optimizers.items()}
        self._steps = {name: self._make_step(name) for name in groups}

    # ------------------------------------------------------------------ losses

    def _held_view(self):
        import tensorflow as tf

        rotation, translation = self.nets.view(self.image)
        return tf.stop_gradient(rotation), tf.stop_gradient(translation)

    def _prior_loss(self):
        import tensorflow as tf

        return tf.reduce_mean(tf.square(self.nets.depth(self.image, training=True) - self.prior))

    def _step1_loss(self):
        import tensorflow as tf

        from tf3d.models.gan2shape import masked_l1

        nets = self.nets
        depth = tf.stop_gradient(nets.depth(self.image))
        out = nets.render(depth, nets.albedo(self.image, training=True), self._held_view(),
                          nets.light(self.image, training=True))
        return masked_l1(out["image"], self.image, out["mask"])

    def _batch(self, source):
        import tensorflow as tf

        index = self.rng.uniform([self.config.steps.batch], 0, self.config.steps.pseudo_samples, tf.int32)
        return tf.gather(source, index)

    def _step2_loss(self):
        from tf3d.models.gan2shape import to_gan_size

        pseudo = to_gan_size(self._batch(self.pseudo), self.gan.image_size)
        return self.inversion_terms(pseudo)["loss"]

    def inversion_terms(self, pseudo_small):
        """Step 2's loss of `[B, s, s, 1]` pseudo samples: dict of "loss", "l1", "offset" (the regularizer)
        and "projected" `[B, s, s, 1]`."""
        import tensorflow as tf

        from tf3d.models.gan2shape import offset_regularizer

        offsets = self.encoder(pseudo_small, training=True)  # [B, L, W]
        projected = self.gan.synthesis(self.styles + offsets, training=False)
        l1 = tf.reduce_mean(tf.abs(projected - pseudo_small))
        offset = offset_regularizer(offsets, self.config.loss.offset)
        return {"loss": l1 + offset, "l1": l1, "offset": offset, "projected": projected}

    def _step3_loss(self):
        import tensorflow as tf

        from tf3d.models.gan2shape import depth_smoothness, masked_l1

        nets, loss = self.nets, self.config.loss
        samples = self._batch(self.projected)
        batch = self.config.steps.batch
        depth = nets.depth(self.image, training=True)
        albedo = nets.albedo(self.image, training=True)
        both = tf.concat([samples, self.image], 0)  # the samples' views and lights, then the instance's
        depths, albedos = tf.tile(depth, [batch + 1, 1, 1]), tf.tile(albedo, [batch + 1, 1, 1])
        out = nets.render(depths, albedos, nets.view(both, training=True), nets.light(both, training=True))
        samples_l1 = masked_l1(out["image"][:batch], samples, out["mask"][:batch])
        instance_l1 = masked_l1(out["image"][batch:], self.image, out["mask"][batch:])
        return samples_l1 + loss.instance * instance_l1 + loss.smoothness * depth_smoothness(depth)

    def _make_step(self, name):
        import tensorflow as tf

        loss_fn, variables, optimizer = getattr(self, f"_{name}_loss"), self.variables[name], self.optimizers[name]

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = loss_fn()
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss

        return step

    def run_step(self, name, steps):
        """`steps` optimizer steps of `name` ("prior", "step1", "step2", "step3"): `[first, last]` losses
        (the loss before the first and before the last step; `[nan, nan]` for 0 steps)."""
        losses = [float(self._steps[name]()) for _ in range(int(steps))]
        return [losses[0], losses[-1]] if losses else [math.nan, math.nan]

    # ------------------------------------------------------------------ stages

    def start(self, image, prior, styles):
        """A new instance: `[1, S, S, 1]` image, `[1, S, S]` prior depth, `[1, L, W]` its GAN styles.
        Networks, encoder and optimizers go back to their initial state."""
        import tensorflow as tf

        self.nets.reset()
        self.encoder.set_weights(self._encoder_initial)
        for name, optimizer in self.optimizers.items():
            for v, value in zip(optimizer.variables, self._optimizer_initial[name]):
                v.assign(value)
        self.image.assign(image)
        self.prior.assign(prior)
        self.styles.assign(styles)

    def sample_views_and_lights(self, count):
        """`(view, light)` for `count` pseudo samples (`config.sampling`), around the instance's light."""
        import tensorflow as tf

        from tf3d.models import photo_renderer

        s = self.config.sampling
        u = lambda low, high: self.rng.uniform([count], low, high)  # noqa: E731
        angles = tf.stack([u(-1, 1) * math.radians(s.pitch), u(-1, 1) * math.radians(s.yaw),
                           tf.zeros([count])], -1)
        view = (photo_renderer.rotation_matrix(angles), tf.zeros([count, 3]))
        direction = photo_renderer.light_direction(tf.stack([u(-1, 1), u(-1, 1)], -1) * s.light_xy)
        return view, (u(*s.ambient), u(*s.diffuse), direction)

    def make_pseudo_samples(self):
        """Renders this stage's pseudo samples into `self.pseudo`; returns them `[M, S, S, 1]`."""
        import tensorflow as tf

        nets, m = self.nets, self.config.steps.pseudo_samples
        view, light = self.sample_views_and_lights(m)
        depth = tf.tile(nets.depth(self.image), [m, 1, 1])
        albedo = tf.tile(nets.albedo(self.image), [m, 1, 1])
        self.pseudo.assign(nets.render(depth, albedo, view, light)["image"])
        return self.pseudo

    def project(self):
        """Projected samples `G(w + E(P))` of the pseudo samples, at the instance's size, into
        `self.projected`; returns the mean |projected - pseudo| at the GAN's size."""
        import tensorflow as tf

        from tf3d.models.gan2shape import to_gan_size

        small = to_gan_size(self.pseudo, self.gan.image_size)
        projected = self.gan.synthesis(self.styles + self.encoder(small), training=False)
        self.projected.assign(tf.image.resize(projected, [self.size, self.size], method="bilinear"))
        return float(tf.reduce_mean(tf.abs(projected - small)))

    def shape(self):
        """The instance's depth and normals in its own view: `(depth [S, S], normal [S, S, 3],
        seen [S, S] bool)`, and the rendering's `image [S, S]`."""
        nets = self.nets
        out = nets.render(nets.depth(self.image), nets.albedo(self.image), nets.view(self.image),
                          nets.light(self.image))
        return (out["depth"].numpy()[0], out["normal"].numpy()[0], out["mask"].numpy()[0],
                out["image"].numpy()[0, ..., 0])

    def stage(self):
        """Steps 1-3 once; the losses of each (first and last)."""
        steps = self.config.steps
        log = {"step1": self.run_step("step1", steps.step1)}
        self.make_pseudo_samples()
        log["step2"] = self.run_step("step2", steps.step2)
        log["projection_l1"] = self.project()
        log["step3"] = self.run_step("step3", steps.step3)
        return log


def _scores(predictions, truth_depth, truth_normal, mask):
    """`{name: (side, mad)}` of `{name: (depth [S, S], normal [S, S, 3])}` on the `[S, S]` mask."""
    from tf3d.metrics import shape_errors

    m = mask[None].astype(np.float32)
    return {name: (float(shape_errors.side(d[None], truth_depth[None], m).numpy()[0]),
                   float(shape_errors.mad(n[None], truth_normal[None], m).numpy()[0]))
            for name, (d, n) in predictions.items()}


def run(config, gan=None, progress=True):
    """Runs the stages on every instance; writes `out_dir` (module docstring); returns the metrics dict.

    Args:
      config: a resolved `StagesConfig`.
      gan: a StyleGAN (default: loaded from `config.gan`).
    """
    from tf3d import runs
    from tf3d.models import gan2shape, photo_renderer
    from tf3d.tasks.unsup3d import ellipsoid_depth

    started = time.time()
    if gan is None:
        gan, _ = runs.load_model(config.gan, config.gan_checkpoint)
    data = load_instances(config.instances)
    size = data["image"].shape[1]
    os.makedirs(config.out_dir, exist_ok=True)
    runs.write_text(os.path.join(config.out_dir, CONFIG_FILE),
                    yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
    centre, k = config.networks.rotation_centre, data["intrinsics"]
    priors = ellipsoid_depth(data["mask"], centre)
    styles, inversion_losses = gan2shape.invert_styles(
        gan, gan2shape.to_gan_size(data["image"], gan.image_size), config.steps.inversion,
        config.steps.inversion_learning_rate)
    stages = Stages(config, gan, size, k)
    instances, pictures = [], []
    for i in range(config.instances.count):
        t0 = time.time()
        stages.start(data["image"][i:i + 1], priors[i:i + 1], styles[i:i + 1])
        record = {"id": data["ids"][i], "prior_fit": stages.run_step("prior", config.steps.prior), "stages": []}
        shapes = [stages.shape()]
        for _ in range(config.stages):
            record["stages"].append(stages.stage())
            shapes.append(stages.shape())
        seen = np.logical_and.reduce([s[2] for s in shapes]) & data["mask"][i]
        constant = (np.full((size, size), centre, np.float32), np.broadcast_to([0.0, 0.0, -1.0], (size, size, 3)))
        ellipsoid = (priors[i], photo_renderer.depth_normals(priors[i:i + 1], k).numpy()[0])
        predictions = {"constant": constant, "ellipsoid": ellipsoid}
        for j, (depth, normal, shown, _) in enumerate(shapes):
            predictions["prior" if j == 0 else f"stage{j}"] = (np.where(shown, depth, 1.0), normal)
        record["scores"] = _scores(predictions, data["depth"][i], data["normal"][i], seen)
        record["pixels"], record["seconds"] = int(seen.sum()), time.time() - t0
        instances.append(record)
        if i < config.figure_instances:
            pictures.append(_picture_row(stages, data, i, shapes))
        runs.write_json(os.path.join(config.out_dir, "metrics.json"), {"instances": instances, "partial": True})
        if progress:
            final = record["scores"][f"stage{config.stages}"]
            print(f"instance {i} ({record['id']}): SIDE {100 * final[0]:.2f}e-2, MAD {final[1]:.1f} deg after "
                  f"{config.stages} stages ({record['seconds']:.0f} s)", file=sys.stderr, flush=True)
    names = list(instances[0]["scores"])
    summary = {name: {"side": float(np.mean([r["scores"][name][0] for r in instances])),
                      "side_std": float(np.std([r["scores"][name][0] for r in instances])),
                      "mad": float(np.mean([r["scores"][name][1] for r in instances])),
                      "mad_std": float(np.std([r["scores"][name][1] for r in instances]))} for name in names}
    result = {"summary": summary, "instances": instances, "inversion_l1": [float(inversion_losses[0]),
                                                                            float(inversion_losses[-1])]
              if inversion_losses else None, "seconds": time.time() - started}
    runs.write_json(os.path.join(config.out_dir, "metrics.json"), result)
    if pictures:
        from tf3d import plots

        labels = ["input", "true n", "prior n"] + [f"stage {j + 1} n" for j in range(config.stages)] + [
            "pseudo", "projected", "relit 1", "relit 2", "yaw -30", "yaw +30"]
        plots.save_png(os.path.join(config.out_dir, "stages.png"),
                       plots.grid([row for _, row in pictures], row_labels=[r for r, _ in pictures],
                                  column_labels=labels, label_width=70))
    return result


def _gray(x):
    return (np.clip(np.asarray(x), 0.0, 1.0) * 255).astype(np.uint8)


def _normal_tile(normal, mask):
    """Camera-frame normals as colours, as `tf3d.unsup3d_figure` draws them."""
    return _gray(np.where(mask[..., None], (1.0 - np.asarray(normal)) / 2.0, 1.0))


def _picture_row(stages, data, i, shapes):
    """`(label, tiles)`: one instance's row of stages.png (scaled 2x)."""
    import tensorflow as tf

    from tf3d.models import photo_renderer

    nets, image = stages.nets, stages.image
    depth, albedo = nets.depth(image), nets.albedo(image)
    identity = (tf.eye(3)[None], tf.zeros([1, 3]))
    relit = [nets.render(depth, albedo, identity, (tf.constant([0.2]), tf.constant([0.8]),
                                                  photo_renderer.light_direction(tf.constant([xy]))))["image"]
             for xy in ([-1.0, -0.3], [1.0, -0.3])]
    turned = [nets.render(depth, albedo, (photo_renderer.rotation_matrix(tf.constant([[0.0, math.radians(a),
                                                                                       0.0]])),
                                          tf.zeros([1, 3])), nets.light(image))["image"] for a in (-30, 30)]
    mask = data["mask"][i]
    tiles = [_gray(data["image"][i, ..., 0]), _normal_tile(data["normal"][i], mask)]
    tiles += [_normal_tile(normal, shown & mask) for _, normal, shown, _ in shapes]
    tiles += [_gray(stages.pseudo.numpy()[0, ..., 0]), _gray(stages.projected.numpy()[0, ..., 0])]
    tiles += [_gray(x.numpy()[0, ..., 0]) for x in relit + turned]
    big = [np.kron(t, np.ones((2, 2, 1) if t.ndim == 3 else (2, 2), np.uint8)) for t in tiles]
    return data["ids"][i][:10], big


def format_scores(result):
    """The summary as a table: mean +- std over instances of SIDE (x 1e-2) and MAD (degrees)."""
    lines = [f"{len(result['instances'])} instances; object pixels seen at every stage",
             f"{'':12s} {'SIDE x1e-2':>16s} {'MAD deg':>16s}"]
    for name, s in result["summary"].items():
        lines.append(f"{name:12s} {100 * s['side']:8.3f}+-{100 * s['side_std']:<6.2f} "
                     f"{s['mad']:8.2f}+-{s['mad_std']:<6.2f}")
    return "\n".join(lines)


def _main(args):
    config = resolve(args.experiment, args.overrides)
    result = run(config, progress=not args.no_progress)
    print(format_scores(result))
    print(f"wrote {config.out_dir}/metrics.json, stages.png ({result['seconds']:.0f} s)")


def main(argv=None):
    parser = cli.parser("python -m tf3d.gan2shape_stages", "GAN2Shape's per-instance stages on shaded test images.")
    cli.add_experiment_arguments(parser, "experiments/gan2shape_stages.yaml")
    parser.add_argument("--no-progress", action="store_true", help="no line per instance")
    return cli.run(_main, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
