"""Task `alphagan`: 3D-FCR-alphaGAN on 12-class room scenes, in two phases.

The fourth line of work tf3d reproduces: an auto-encoding GAN of whole rooms
(`tf3d.models.alphagan.AlphaGAN`) on label grids from `tf3d.data.scenes`
(`python -m pipelines.build rooms`, or a directory of `.npy`/`.npz` grids).

    task.phase: base     encoder, generator, discriminator and code discriminator
                         (or the VAE baseline with task.model.variational: true)
    task.phase: refine   the refiner alone, on the frozen base networks: set
                         init_from: BASE_RUN_DIR (the whole model; the refiner
                         starts as the identity)

Validation mean IoU (`tf3d.metrics.scene_iou`, non-empty classes) picks the
best checkpoint. `tf3d.evaluate RUN --split test` scores per-class IoU and
average precision (`tf3d.metrics.average_precision`) of the reconstructions,
before and (refine runs) after the refiner, and writes the pictures: an
interpolation between two encoded scenes (PNG strip and GIF), latent-noise
maps and samples from N(0, I) (`figures`).
"""

import dataclasses
import typing

from tf3d import config as config_lib
from tf3d import tasks
from tf3d.tasks.base import Inputs, Task


@dataclasses.dataclass
class AlphaGANModelConfig:
    encoder_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [64, 128, 256, 512])  # stride-2 conv widths (each halves the grid)
    generator_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [512, 256, 128, 64])  # widths coarse to fine (each doubles it)
    discriminator_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [64, 128, 256, 512])  # like the encoder, layer norm
    latent_channels: int = 16  # channels of the fully convolutional code (5 x 3 x 5 x 16 at 80 x 48 x 80)
    fully_convolutional: bool = True  # false: a 1-D code of latent_dim (the original's comparison)
    latent_dim: int = 1200  # size of the 1-D code
    variational: bool = False  # the VAE baseline: KL term instead of the code discriminator
    code_hidden: typing.List[int] = dataclasses.field(default_factory=lambda: [750, 750])  # code discriminator MLP
    refiner_channels: int = 32  # width of the refiner's residual blocks
    refiner_blocks: int = 4  # residual blocks of the refiner


@dataclasses.dataclass
class AlphaGANLossConfig:
    gamma: float = 0.9  # false-negative weight of the reconstruction loss (1 - gamma: false positives)
    class_weights: typing.Optional[typing.List[float]] = None  # per-class weights; None: from the data's frequencies
    reconstruction_weight: float = 10.0  # lambda of the reconstruction term
    adversarial_weight: float = 1.0  # weight of the generator's GAN terms
    kl_weight: float = 0.01  # VAE baseline: weight of the KL term


@dataclasses.dataclass
class AlphaGANScheduleConfig:
    encoder_generator: int = 2  # E/G updates per batch (the original: 2)
    discriminator: int = 1  # D updates per batch
    code_discriminator: int = 1  # code-D updates per batch


@dataclasses.dataclass
class AlphaGANConfig(config_lib.TaskConfig):
    name: str = "alphagan"  # registered task (tf3d.tasks): what is trained and how
    phase: str = "base"  # "base" (E, G, D, code-D) or "refine" (the refiner; set init_from)
    downsample: int = 1  # train and score on grids 1/f the data's size per side (2: 80x48x80 -> 40x24x40)
    model: AlphaGANModelConfig = dataclasses.field(default_factory=AlphaGANModelConfig)
    loss: AlphaGANLossConfig = dataclasses.field(default_factory=AlphaGANLossConfig)
    schedule: AlphaGANScheduleConfig = dataclasses.field(default_factory=AlphaGANScheduleConfig)
    discriminator_learning_rate: typing.Optional[float] = None  # D and code-D; None: train.learning_rate
    beta_1: float = 0.5  # Adam's beta_1 for every player (GAN practice)
    num_samples: int = 6  # evaluation: scenes drawn from N(0, I)
    interpolation_steps: int = 8  # evaluation: frames between two encoded scenes
    ap_bins: int = 65536  # evaluation: score levels of the average precision histogram

    def validate(self, experiment):
        from tf3d.models.alphagan import PHASES

        config_lib.check_choice("task.phase", self.phase, PHASES)
        m = self.model
        for where, widths in (("task.model.encoder_filters", m.encoder_filters),
                              ("task.model.generator_filters", m.generator_filters),
                              ("task.model.discriminator_filters", m.discriminator_filters),
                              ("task.model.code_hidden", m.code_hidden)):
            if not widths or min(widths) <= 0:
                raise config_lib.ConfigError(f"{where} must be a non-empty list of positive widths, got {widths}")
        if not len(m.encoder_filters) == len(m.generator_filters) == len(m.discriminator_filters):
            raise config_lib.ConfigError("task.model.encoder_filters, generator_filters and discriminator_filters "
                                         "must have the same length (one halving or doubling each)")
        for where, value in (("task.model.latent_channels", m.latent_channels),
                             ("task.model.latent_dim", m.latent_dim),
                             ("task.model.refiner_channels", m.refiner_channels),
                             ("task.model.refiner_blocks", m.refiner_blocks),
                             ("task.schedule.encoder_generator", self.schedule.encoder_generator),
                             ("task.num_samples", self.num_samples), ("task.ap_bins", self.ap_bins),
                             ("task.downsample", self.downsample),
                             ("task.loss.reconstruction_weight", self.loss.reconstruction_weight)):
            config_lib.check_positive(where, value)
        if self.interpolation_steps < 2:
            raise config_lib.ConfigError(f"task.interpolation_steps must be >= 2, got {self.interpolation_steps}")
        for where, value in (("task.schedule.discriminator", self.schedule.discriminator),
                             ("task.schedule.code_discriminator", self.schedule.code_discriminator),
                             ("task.loss.adversarial_weight", self.loss.adversarial_weight),
                             ("task.loss.kl_weight", self.loss.kl_weight)):
            if value < 0:
                raise config_lib.ConfigError(f"{where} must be >= 0, got {value}")
        if not 0 < self.loss.gamma < 1:
            raise config_lib.ConfigError(f"task.loss.gamma must be in (0, 1), got {self.loss.gamma}")
        if self.loss.class_weights is not None and (len(self.loss.class_weights) != 12 or
                                                    min(self.loss.class_weights) < 0):
            raise config_lib.ConfigError(f"task.loss.class_weights must be 12 non-negative weights or null, got "
                                         f"{self.loss.class_weights}")
        if self.discriminator_learning_rate is not None:
            config_lib.check_positive("task.discriminator_learning_rate", self.discriminator_learning_rate)
        if not 0 <= self.beta_1 < 1:
            raise config_lib.ConfigError(f"task.beta_1 must be in [0, 1), got {self.beta_1}")
        if self.phase == "refine" and not experiment.init_from:
            raise config_lib.ConfigError("task.phase: refine trains the refiner of a trained base model: set "
                                         "init_from: BASE_RUN_DIR")


def _write_png(path, image):
    import io

    import tensorflow as tf
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    with tf.io.gfile.GFile(path, "wb") as fh:
        fh.write(buffer.getvalue())


@tasks.register
class AlphaGANTask(Task):
    """Room scenes with 3D-FCR-alphaGAN (see the module docstring)."""

    name = "alphagan"
    config_class = AlphaGANConfig

    # --------------------------------------------------------------- training

    def build_inputs(self, input_context=None):
        from tf3d.data import scenes
        from tf3d.training import distribute

        d, t = self.config.data, self.config.train
        info = scenes.read_info(d.dir)
        for split in (d.train_split, d.val_split):
            if not scenes.num_scenes(info, split):
                raise FileNotFoundError(f"{d.dir} has no {split!r} scenes; build the data with `python -m "
                                        f"pipelines.build rooms --out {d.dir}`")
        if input_context is not None and input_context.num_input_pipelines > 1:
            raise ValueError("the alphagan task reads its data on one input pipeline (one machine)")
        batch = distribute.per_replica_batch(input_context, t.batch_size)
        f = self.config.task.downsample
        train = scenes.make_dataset(d.dir, d.train_split, batch, training=True, shuffle_buffer=d.shuffle_buffer,
                                    repeat=True, seed=t.seed, downsample=f)
        eval_batch = self.config.eval.batch_size
        val = scenes.make_dataset(d.dir, d.val_split, eval_batch, training=False, downsample=f)
        num_train, num_val = scenes.num_scenes(info, d.train_split), scenes.num_scenes(info, d.val_split)
        steps = t.steps_per_epoch or max(1, num_train // t.batch_size)
        val_steps = -(-num_val // eval_batch)
        if t.val_batches:
            val_steps = min(val_steps, t.val_batches)
        if any(side % f for side in info["shape"]):
            raise ValueError(f"task.downsample={f} does not divide the grids of {d.dir} ({info['shape']})")
        dataset_info = {"name": info.get("name", "label grids"), "source": d.dir,
                        "shape": [side // f for side in info["shape"]], "data_shape": info["shape"],
                        "classes": info.get("classes"), "class_frequencies": info.get("class_frequencies"),
                        "num_train": num_train}
        return Inputs(train=train, val=val.take(val_steps), steps_per_epoch=steps, val_steps=val_steps,
                      dataset_info=dataset_info)

    def build_model(self, dataset_info):
        from tf3d.data.scene_classes import NUM_CLASSES, SCENE_SHAPE
        from tf3d.models.alphagan import AlphaGAN

        m = self.config.task.model
        return AlphaGAN(shape=tuple(dataset_info.get("shape", SCENE_SHAPE)), num_classes=NUM_CLASSES,
                        encoder_filters=m.encoder_filters, generator_filters=m.generator_filters,
                        discriminator_filters=m.discriminator_filters, latent_channels=m.latent_channels,
                        fully_convolutional=m.fully_convolutional, latent_dim=m.latent_dim,
                        variational=m.variational, code_hidden=m.code_hidden, refiner_channels=m.refiner_channels,
                        refiner_blocks=m.refiner_blocks)

    def example_inputs(self, dataset_info, batch_size=1):
        """Random label grids `[batch_size, X, Y, Z]` (one by default: a full-size scene is heavy on a CPU)."""
        import numpy as np

        from tf3d.data.scene_classes import NUM_CLASSES, SCENE_SHAPE

        shape = tuple(dataset_info.get("shape", SCENE_SHAPE))
        return np.random.default_rng(0).integers(0, NUM_CLASSES, (batch_size, *shape)).astype("uint8")

    def class_weights(self, dataset_info):
        """The reconstruction loss's `[C]` class weights: configured, or from the data's frequencies."""
        from tf3d.data.scene_classes import CLASSES
        from tf3d.losses.scene_reconstruction import class_weights

        if self.config.task.loss.class_weights is not None:
            return list(self.config.task.loss.class_weights)
        frequencies = dataset_info.get("class_frequencies")
        if not frequencies:
            return [1.0] * len(CLASSES)
        return class_weights([frequencies[c] for c in CLASSES]).tolist()

    def compile(self, model, inputs):
        import keras

        c, t = self.config.task, self.config.train
        total = t.epochs * inputs.steps_per_epoch

        def adam(rate):
            return keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(rate, decay_steps=total,
                                                                                alpha=t.lr_decay),
                                         beta_1=c.beta_1)

        d_rate = c.discriminator_learning_rate or t.learning_rate
        self.weights = self.class_weights(inputs.dataset_info)
        optimizers = (dict(encoder_generator_optimizer=adam(t.learning_rate), discriminator_optimizer=adam(d_rate),
                           code_discriminator_optimizer=adam(d_rate)) if c.phase == "base" else
                      dict(refiner_optimizer=adam(t.learning_rate)))
        model.compile(phase=c.phase, class_weights=self.weights, gamma=c.loss.gamma,
                      reconstruction_weight=c.loss.reconstruction_weight, adversarial_weight=c.loss.adversarial_weight,
                      kl_weight=c.loss.kl_weight, schedule=(c.schedule.encoder_generator, c.schedule.discriminator,
                                                            c.schedule.code_discriminator), **optimizers)

    def monitor(self):
        return "val_miou", "max"

    def describe(self, model, inputs):
        c = self.config.task
        variant = ("VAE" if c.model.variational else "alpha-GAN") + \
            ("" if c.model.fully_convolutional else f", 1-D code {c.model.latent_dim}")
        return (f"{self.name} ({c.phase} phase, {variant}): {model.count_params():,} parameters, grids "
                f"{tuple(inputs.dataset_info['shape'])}, code {model.code_shape}, class weights "
                f"{[round(w, 2) for w in self.weights]}")

    # --------------------------------------------------------------- after training

    def _variants(self):
        return ("base", "refined") if self.config.task.phase == "refine" else ("base",)

    def evaluate(self, model, data, split, *, categories=None, max_batches=None):
        """Per-class IoU (true and the paper's) and AP of the reconstructions of every scene of `split`."""
        import numpy as np
        import tensorflow as tf

        from tf3d.data import scenes
        from tf3d.data.scene_classes import CLASSES, NUM_CLASSES
        from tf3d.metrics import scene_iou
        from tf3d.metrics.average_precision import ScoreHistogram

        info = scenes.read_info(data)
        f = self.config.task.downsample
        if tuple(s // f for s in info["shape"]) != tuple(model.shape):
            raise ValueError(f"{data} holds {tuple(info['shape'])} grids (task.downsample={f}); this run's model "
                             f"takes {tuple(model.shape)}")
        ds = scenes.make_dataset(data, split, self.config.eval.batch_size, training=False, downsample=f)
        if max_batches:
            ds = ds.take(max_batches)
        variants = self._variants()
        counts = {v: np.zeros((3, NUM_CLASSES), np.int64) for v in variants}
        histograms = {v: ScoreHistogram(NUM_CLASSES, self.config.task.ap_bins) for v in variants}
        refined = "refined" in variants

        @tf.function
        def reconstruct(labels):
            base = model.decode(model.encode(labels)[0])
            return (base, model.refiner(base, training=False)) if refined else (base,)

        truth = np.zeros(NUM_CLASSES, np.int64)
        num = 0
        for labels in ds:
            outputs = dict(zip(variants, reconstruct(labels)))
            y = labels.numpy()
            truth += scenes.class_counts(y)
            num += len(y)
            for variant, probabilities in outputs.items():
                p = probabilities.numpy()
                counts[variant] += np.stack(scene_iou.confusion_counts(y, p.argmax(-1), NUM_CLASSES))
                histograms[variant].add(y, p)
        if not num:
            raise ValueError(f"no scenes to evaluate in {data} ({split})")
        rows = {}
        for variant in variants:
            iou = scene_iou.iou(*counts[variant])
            paper = scene_iou.paper_iou(*counts[variant])
            ap = histograms[variant].average_precision()
            rows[variant] = {"iou": dict(zip(CLASSES, map(float, iou))), "paper_iou": dict(zip(CLASSES, map(float, paper))),
                             "ap": dict(zip(CLASSES, map(float, ap))), "mean_iou": scene_iou.mean_without_empty(iou),
                             "mean_paper_iou": scene_iou.mean_without_empty(paper),
                             "mean_ap": scene_iou.mean_without_empty(ap)}
        variant_name = "vae" if self.config.task.model.variational else "alphagan"
        return {"data": data, "split": split, "scenes": num, "model": variant_name, "shape": list(model.shape), "phase": self.config.task.phase,
                "rows": rows, "class_frequencies": dict(zip(CLASSES, map(float, truth / truth.sum()))),
                "categories": []}

    def format_report(self, report):
        from tf3d.data.scene_classes import CLASSES

        width = max(len(c) for c in CLASSES) + 2
        lines = [f"{report['scenes']} scenes at {tuple(report['shape'])}, {report['model']} ({report['phase']} "
                 f"phase); IoU = true IoU, "
                 f"AP = average precision; means over the 11 non-empty classes"]
        head = "class".ljust(width) + "freq".rjust(8) + "".join(f"{v + ' IoU':>14}{v + ' AP':>13}"
                                                                  for v in report["rows"])
        lines.append(head)
        for c in CLASSES:
            cells = "".join(f"{r['iou'][c]:>14.3f}{r['ap'][c]:>13.3f}" for r in report["rows"].values())
            lines.append(c.ljust(width) + f"{report['class_frequencies'][c]:>8.4f}" + cells)
        lines.append("mean".ljust(width) + " " * 8 + "".join(f"{r['mean_iou']:>14.3f}{r['mean_ap']:>13.3f}"
                                                            for r in report["rows"].values()))
        return "\n".join(lines)

    def figures(self, model, data, split, prefix):
        """Writes `<prefix>_interpolation.png/.gif`, `_noise_map.png`, `_samples.png`; returns their paths."""
        from tf3d.training import scene_figures

        import os

        import tensorflow as tf

        t = self.config.task
        tf.io.gfile.makedirs(os.path.dirname(prefix))
        paths = []
        for name, image in scene_figures.figures(model, data, split, steps=t.interpolation_steps,
                                                 downsample=t.downsample,
                                                 num_samples=t.num_samples, seed=self.config.train.seed,
                                                 refined="refined" in self._variants()).items():
            if name.endswith(".gif"):
                path = f"{prefix}_{name}"
                scene_figures.write_gif(path, image)
            else:
                path = f"{prefix}_{name}.png"
                _write_png(path, image)
            paths.append(path)
        return paths
