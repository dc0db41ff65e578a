"""Task `unconditional_gan`: debugging check 4, each of the CycleGAN's GANs alone (noise -> samples).

`task.domain: voxels` trains the CycleGAN's Dec3D on Gaussian noise against
its voxel critic, `image` its Dec2D against its image critic
(`tf3d.models.unconditional_gan.UnconditionalGAN`, widths from the same
`task.model` section as `cyclegan`), WGAN-GP on the real training items of
that domain (grids in their view's frame, or pictures of random views).

The score a user can trust (`tf3d.metrics.sample_quality`) comes from the
domain's check-1 classifier (`task.classifier`, a `part_classifier` run of
part critic3d or critic2d): the Fréchet distance between its penultimate
features of a sample set and of the real training split, and the share of
samples it labels with confidence >= 0.9. `tf3d.evaluate` prints both for
three sample sets of one size (the test split's):

* the real test split (how close real data gets: the floor),
* the mean shape (`tf3d.baselines.per_view_means`: the training split's mean
  grid, or mean picture, of each view; the trivial generator),
* the generator's samples,

and passes when FD(generated) <= FD(mean shape) - `task.pass_fraction` x
(FD(mean shape) - FD(real test)): with 0.5, below half way from the trivial
generator to real data. During training the same distance on `val_samples`
samples against the validation split (`val_fd`) picks the best checkpoint.
"""

import dataclasses

from tf3d import config as config_lib
from tf3d import tasks
from tf3d.models import unconditional_gan as _classes  # noqa: F401 (registers the Keras classes `runs.load_model` needs)
from tf3d.tasks.cyclegan import CycleGANModelConfig, CycleGANTask
from tf3d.tasks.paired import PairedTask

DOMAINS = ("voxels", "image")
_CLASSIFIER_PART = {"voxels": "critic3d", "image": "critic2d"}
_SAMPLE_SEED = 2024


@dataclasses.dataclass
class UnconditionalGANConfig(config_lib.TaskConfig):
    name: str = "unconditional_gan"  # registered task (tf3d.tasks): what is trained and how
    domain: str = "voxels"  # "voxels": noise -> Dec3D vs the voxel critic; "image": noise -> Dec2D vs the image critic
    model: CycleGANModelConfig = dataclasses.field(default_factory=CycleGANModelConfig)  # the CycleGAN's widths (the domain's decoder and critic)
    critic_learning_rate: float = 1e-4  # Adam learning rate of the critic (train.learning_rate: generator)
    beta_1: float = 0.5  # Adam beta_1 of both optimizers
    beta_2: float = 0.9  # Adam beta_2 of both optimizers
    gp_weight: float = 10.0  # lambda of the gradient penalty
    n_critic: int = 5  # critic updates per generator update
    classifier: str = ""  # run directory of the domain's check-1 classifier (part_classifier, critic3d or critic2d)
    features: str = "pooled"  # classifier features: "pooled" (last conv map averaged over space) or "flat" (the whole map)
    val_samples: int = 256  # samples scored against the validation split after every epoch (val_fd)
    pass_fraction: float = 0.5  # pass: FD(generated) <= FD(mean) - pass_fraction * (FD(mean) - FD(real test))

    def validate(self, experiment):
        config_lib.check_choice("task.domain", self.domain, DOMAINS)
        config_lib.check_choice("task.features", self.features, ("pooled", "flat"))
        config_lib.check_choice("task.model.generator_norm", self.model.generator_norm, ("none", "instance", "batch"))
        config_lib.check_choice("task.model.critic_norm", self.model.critic_norm, ("instance", "none"))
        for key in ("critic_learning_rate", "n_critic", "val_samples"):
            config_lib.check_positive(f"task.{key}", getattr(self, key))
        config_lib.check_positive("task.model.latent_dim", self.model.latent_dim)
        if self.gp_weight < 0:
            raise config_lib.ConfigError(f"task.gp_weight must be >= 0, got {self.gp_weight}")
        if not 0 < self.pass_fraction <= 1:
            raise config_lib.ConfigError(f"task.pass_fraction must be in (0, 1], got {self.pass_fraction}")
        for key in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, key) < 1:
                raise config_lib.ConfigError(f"task.{key} must be in [0, 1), got {getattr(self, key)}")
        if self.domain == "image":
            stride = 2 ** len(self.model.dec2d_filters)
            if experiment.data.image_size % stride:
                raise config_lib.ConfigError(f"data.image_size ({experiment.data.image_size}) must be divisible "
                                             f"by 2**len(task.model.dec2d_filters) = {stride}")


@tasks.register
class UnconditionalGANTask(PairedTask):
    """One of the CycleGAN's GANs alone (module docstring)."""

    name = "unconditional_gan"
    config_class = UnconditionalGANConfig

    def _pick(self, images, voxels):
        return voxels if self.config.task.domain == "voxels" else images

    def _size(self, dataset_info):
        return int(dataset_info["voxel_resolution"]) if self.config.task.domain == "voxels" \
            else self.config.data.image_size

    def classifier(self):
        """The check-1 `PartClassifier` of `task.classifier`; refuses one of the other domain."""
        from tf3d import cli, runs

        task = self.config.task
        if not task.classifier:
            raise cli.UserError(f"task.classifier must name the run directory of a check-1 "
                                f"{_CLASSIFIER_PART[task.domain]} classifier (experiments/debug/check1_critics.yaml)")
        model, cfg = runs.load_model(task.classifier)
        part = getattr(cfg.task, "part", None)
        if cfg.task.name != "part_classifier" or part != _CLASSIFIER_PART[task.domain]:
            raise cli.UserError(f"task.classifier={task.classifier} is a {cfg.task.name} run"
                                f"{f' of part {part}' if part else ''}; domain {task.domain} needs a "
                                f"part_classifier run of part {_CLASSIFIER_PART[task.domain]}")
        if task.domain == "image" and model.size != self.config.data.image_size:
            raise cli.UserError(f"task.classifier={task.classifier} reads {model.size} px images; this run makes "
                                f"data.image_size={self.config.data.image_size}")
        return model

    # --------------------------------------------------------------- training

    def build_inputs(self, input_context=None):
        inputs = super().build_inputs(input_context)
        return dataclasses.replace(inputs, train=inputs.train.map(self._pick), val=inputs.val.map(self._pick))

    def build_model(self, dataset_info):
        from tf3d.models.unconditional_gan import UnconditionalGAN

        task, m = self.config.task, self.config.task.model
        voxels = task.domain == "voxels"
        model = UnconditionalGAN(task.domain, self._size(dataset_info), m.latent_dim,
                                 m.dec3d_filters if voxels else m.dec2d_filters, m.generator_norm,
                                 m.critic3d_filters if voxels else m.critic2d_filters, m.critic_norm, m.spectral_norm,
                                 task.gp_weight, task.n_critic)
        model.build()
        return model

    def example_inputs(self, dataset_info, batch_size=2):
        import numpy as np

        return np.random.default_rng(0).standard_normal((batch_size, self.config.task.model.latent_dim)).astype("float32")

    def compile(self, model, inputs):
        """As `cyclegan` compiles: cosine-decayed Adam for the generator, constant Adam for the critic."""
        CycleGANTask.compile(self, model, inputs)

    def monitor(self):
        return "val_fd", "min"

    def callbacks(self, model, inputs, run):
        from tf3d.training.fd_monitor import FrechetMonitor

        task = self.config.task
        return [FrechetMonitor(self.classifier(), inputs.val, task.val_samples, pooled=task.features == "pooled")]

    def describe(self, model, inputs):
        task = self.config.task
        generator, critic = model.parts
        return (f"{self.name} (noise -> {generator.name} vs {critic.name}): generator "
                f"{generator.count_params():,}, critic {critic.count_params():,} parameters, n_critic "
                f"{task.n_critic}; val_fd in the features of {task.classifier}")

    # --------------------------------------------------------------- after training

    def evaluate(self, model, data, split, *, categories=None, max_batches=None):
        """The three sample sets' Fréchet distances and confident shares (module docstring), and the verdict."""
        import numpy as np

        from tf3d import baselines
        from tf3d.data import pipeline
        from tf3d.metrics import sample_quality

        d, e, task = self.config.data, self.config.eval, self.config.task
        classifier = self.classifier()
        key = "voxels" if task.domain == "voxels" else "image"
        classify = lambda batches: sample_quality.classify(classifier, batches, task.features == "pooled")  # noqa: E731

        def real(which):
            ds = pipeline.make_dataset(pipeline.resolve(data, which), which, batch_size=e.batch_size, training=False,
                                       views=d.val_views, **self._pipeline_options())
            ds = ds.map(self._pick)
            return ds.take(max_batches) if max_batches else ds

        reference, _ = classify(real(d.train_split))
        sets = {"real test set": classify(real(split))}
        count = len(sets["real test set"][1])
        means = baselines.per_view_means(data, d.train_split, (key,), image_size=d.image_size,
                                         categories=d.categories)[key]  # [V, ...]
        self._means = means  # for `figures`, which runs next
        picks = np.arange(count) % len(means)  # every view equally often, as in the test set
        sets["mean shape per view"] = classify(means[picks[i:i + e.batch_size]] for i in range(0, count, e.batch_size))
        sets["generated"] = classify(model.sample_batches(count, _SAMPLE_SEED, e.batch_size))
        rows = {name: sample_quality.scores(f, p, reference) for name, (f, p) in sets.items()}
        fd_mean, fd_real = rows["mean shape per view"]["fd"], rows["real test set"]["fd"]
        need = fd_mean - task.pass_fraction * (fd_mean - fd_real)
        return {"rows": rows, "reference_count": int(len(reference)), "need_fd": need,
                "passed": rows["generated"]["fd"] <= need, "pass_fraction": task.pass_fraction,
                "domain": task.domain, "classifier": task.classifier, "features": task.features, "data": data,
                "split": split}

    def format_report(self, report):
        lines = [f"{report['domain']}: {report.get('features', 'pooled')} features of {report['classifier']}; "
                 f"Fréchet distance to the training "
                 f"split ({report['reference_count']} examples)",
                 f"{'samples':<22}{'count':>7}{'FD':>10}{'confident':>11}{'labelled 2nd':>14}"]
        for name, row in report["rows"].items():
            lines.append(f"{name:<22}{row['count']:>7}{row['fd']:>10.4g}{row['confident']:>11.3f}"
                         f"{row['second']:>14.3f}")
        verdict = "PASS" if report["passed"] else "FAIL"
        lines.append(f"check 4 ({report['domain']} GAN alone): FD {report['rows']['generated']['fd']:.4g} -> {verdict} "
                     f"(criterion: <= {report['need_fd']:.4g}, {report['pass_fraction']:g} of the way from the "
                     f"mean shape to the real test set)")
        return "\n".join(lines)

    def figures(self, model, data, split, prefix):
        """`<prefix>_samples.png`: a row each of real test items, mean shapes (one per view) and samples."""
        import numpy as np

        from tf3d import baselines, plots
        from tf3d.data import pipeline
        from tf3d.training.cycle_previews import image_panel
        from tf3d.training.voxel_render import render_voxels

        d, key = self.config.data, ("voxels" if self.config.task.domain == "voxels" else "image")
        source = pipeline.resolve(data, split)
        elevation = float((source.info.get("viewpoints") or {}).get("elevation", 30.0))
        means = getattr(self, "_means", None)
        if means is None:
            means = baselines.per_view_means(data, d.train_split, (key,), image_size=d.image_size,
                                             categories=d.categories)[key]
        count = min(8, len(means))
        batch = next(iter(pipeline.make_dataset(source, split, batch_size=count * 8, training=False, views="all",
                                                **self._pipeline_options())))
        real = self._pick(*batch).numpy()[::8][:count]  # one view of each of the first models
        draw = (lambda x: render_voxels(x, elevation, image_size=96)) if key == "voxels" \
            else (lambda x: image_panel(x, 96))
        rows = [[draw(x) for x in items] for items in (real, means[:count], model.sample(count, _SAMPLE_SEED))]
        path = f"{prefix}_samples.png"
        plots.save_png(path, plots.grid(rows, row_labels=["real (test)", "mean shape", "generated"]))
        return [path]

    def predict(self, model, run, args):
        raise NotImplementedError(f"task {self.name!r} is a debugging check; it has no inference")
