"""Task `cyclegan`: image <-> voxels learned from unpaired sets (`tf3d.models.cyclegan.CycleGAN`).

Training data are honestly unpaired: the training split's models are cut
into two disjoint halves by a hash of their id
(`pipeline.make_unpaired_dataset(..., disjoint=True)`); images come only
from one half and voxel grids only from the other, each grid rotated into
the frame of a random view so that both domains are seen from the same
distribution of viewpoints. One epoch is one pass over a half.

Validation and `tf3d.evaluate` use the paired split: image -> voxels IoU at
`eval.thresholds` per category (as the paired task), and voxels -> image
silhouette IoU against the rendered mask of every view. `task.mode` picks
the 3D -> 2D direction: a learned network, the differentiable silhouette
renderer with the view's camera (`render`), or both. `init_from` takes the
four autoencoder parts of `ae_pretrain` runs:

    init_from: runs/ae_pretrain_2d:enc2d+dec2d,runs/ae_pretrain_3d:enc3d+dec3d
"""

import dataclasses
import typing

from tf3d import config as config_lib
from tf3d import tasks
from tf3d.models.cyclegan import INPUTS, MODES, PARTS, RENDER_LOSSES  # importing it registers the Keras classes `runs.load_model` needs
from tf3d.tasks.paired import PairedTask


@dataclasses.dataclass
class CycleGANModelConfig:
    latent_dim: int = 256  # size L of the code both encoders produce
    enc2d_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [16, 32, 64, 128])  # Enc2D stages, each halves h, w
    dec3d_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [64, 32, 16])  # Dec3D widths, coarse to fine
    enc3d_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [16, 32, 64])  # Enc3D widths, each halves X, Y, Z
    dec2d_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [128, 64, 32, 16])  # Dec2D widths, coarse to fine
    generator_norm: str = "none"  # "none", "instance" (GroupNormalization(groups=-1)) or "batch" (see docs/cyclegan.md)
    critic2d_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [32, 64, 128])  # image critic widths
    critic3d_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [16, 32, 64])  # voxel critic widths
    critic_norm: str = "instance"  # "instance" or "none" (no batch norm in a WGAN-GP critic)
    spectral_norm: bool = False  # keras.layers.SpectralNormalization on every critic layer
    latent_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [256, 256])  # code critic's hidden widths


@dataclasses.dataclass
class CycleGANLossConfig:
    adversarial_weight: float = 1.0  # weight of the generators' Wasserstein terms (0: the image and voxel critics are off)
    latent_weight: float = 0.0  # weight of the code critic's term, Enc2D(x) against Enc3D(v) (0: no code critic)
    cycle_weight: float = 10.0  # weight of |F(G(x)) - x| and BCE(G(F(v)), v) (learned 3D->2D)
    identity_weight: float = 0.0  # weight of the autoencoder terms Dec3D(Enc3D(v)) ~ v and (not in render mode) Dec2D(Enc2D(x)) ~ x
    render_weight: float = 10.0  # weight of the render cycle, silhouette(G(x)) against mask(x) (modes render and both)
    render_loss: str = "l1"  # its distance: "l1" per pixel or "iou" (1 - soft IoU)
    render_voxel_weight: float = 0.0  # weight of BCE(G(render(v)), v), the voxel cycle through the renderer (render, both)
    gp_weight: float = 10.0  # lambda of the gradient penalty (Gulrajani et al. 2017)
    n_critic: int = 5  # critic updates per generator update
    pos_weight: typing.Optional[float] = None  # occupied-voxel weight of the voxel BCE terms; None: from occupancy
    render_samples: int = 64  # samples per ray of the silhouette op
    render_size: typing.Optional[int] = None  # side of the render cycle's silhouettes (divides data.image_size); None: image size


@dataclasses.dataclass
class CycleGANConfig(config_lib.TaskConfig):
    name: str = "cyclegan"  # registered task (tf3d.tasks): what is trained and how
    mode: str = "learned"  # 3D->2D direction: "learned" (Dec2D o Enc3D), "render" (silhouette op) or "both"
    disjoint: bool = True  # images and voxel grids from disjoint halves of the training models
    generator_input: str = "image"  # what G reads: "image" (shaded picture) or "silhouette" (its mask)
    frozen: typing.List[str] = dataclasses.field(default_factory=list)  # generator parts not trained, e.g. [enc3d, dec3d] after init_from
    critic_learning_rate: float = 1e-4  # Adam learning rate of the critics (train.learning_rate: generators)
    beta_1: float = 0.5  # Adam beta_1 of both optimizers (WGAN-GP: 0.5 or 0)
    beta_2: float = 0.9  # Adam beta_2 of both optimizers
    model: CycleGANModelConfig = dataclasses.field(default_factory=CycleGANModelConfig)
    loss: CycleGANLossConfig = dataclasses.field(default_factory=CycleGANLossConfig)

    def validate(self, experiment):
        from tf3d.models import conv_block

        config_lib.check_choice("task.mode", self.mode, MODES)
        config_lib.check_choice("task.loss.render_loss", self.loss.render_loss, RENDER_LOSSES)
        config_lib.check_choice("task.generator_input", self.generator_input, INPUTS)
        for part in self.frozen:
            config_lib.check_choice("task.frozen", part, PARTS)
        config_lib.check_choice("task.model.generator_norm", self.model.generator_norm, conv_block.NORMS)
        config_lib.check_choice("task.model.critic_norm", self.model.critic_norm, ("instance", "none"))
        config_lib.check_positive("task.model.latent_dim", self.model.latent_dim)
        config_lib.check_positive("task.critic_learning_rate", self.critic_learning_rate)
        config_lib.check_positive("task.loss.n_critic", self.loss.n_critic)
        config_lib.check_positive("task.loss.render_samples", self.loss.render_samples)
        for key in ("enc2d_filters", "dec3d_filters", "enc3d_filters", "dec2d_filters", "critic2d_filters",
                    "critic3d_filters", "latent_filters"):
            widths = getattr(self.model, key)
            if not widths or min(widths) <= 0:
                raise config_lib.ConfigError(f"task.model.{key} must be a non-empty list of positive widths, "
                                             f"got {widths}")
        for key in ("adversarial_weight", "latent_weight", "cycle_weight", "identity_weight", "render_weight",
                    "render_voxel_weight", "gp_weight"):
            if getattr(self.loss, key) < 0:
                raise config_lib.ConfigError(f"task.loss.{key} must be >= 0, got {getattr(self.loss, key)}")
        if self.loss.pos_weight is not None:
            config_lib.check_positive("task.loss.pos_weight", self.loss.pos_weight)
        for key in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, key) < 1:
                raise config_lib.ConfigError(f"task.{key} must be in [0, 1), got {getattr(self, key)}")
        size = experiment.data.image_size
        for key in ("enc2d_filters", "dec2d_filters"):
            stride = 2 ** len(getattr(self.model, key))
            if size % stride:
                raise config_lib.ConfigError(f"data.image_size ({size}) must be divisible by "
                                             f"2**len(task.model.{key}) = {stride}")
        if self.loss.render_size is not None and (self.loss.render_size <= 0 or size % self.loss.render_size):
            raise config_lib.ConfigError(f"task.loss.render_size ({self.loss.render_size}) must divide "
                                         f"data.image_size ({size})")
        if experiment.data.frame != "viewer" and self.mode != "learned":
            raise config_lib.ConfigError(f"task.mode={self.mode} renders through the view's camera and needs "
                                         f"data.frame=viewer, got {experiment.data.frame!r}")


def pos_weight(configured, dataset_info):
    """The occupied-voxel weight: `configured`, or the weighted BCE default from the dataset's occupancy."""
    from tf3d.losses import weighted_bce

    if configured is not None:
        return float(configured)
    return weighted_bce.default_pos_weight(dataset_info.get("occupancy_rate") or 0.05)


@tasks.register
class CycleGANTask(PairedTask):
    """Unpaired image <-> voxels (see the module docstring); `tf3d.predict` works as for `paired`."""

    name = "cyclegan"
    config_class = CycleGANConfig

    # --------------------------------------------------------------- training

    def build_inputs(self, input_context=None):
        from tf3d.data import pipeline
        from tf3d.training import distribute

        inputs = super().build_inputs(input_context)  # the paired validation split and the dataset info
        d, t = self.config.data, self.config.train
        train_src = inputs.sources[0]
        mine = dataclasses.replace(train_src, files=distribute.shard_files(train_src.files, input_context,
                                                                           f"the {d.train_split} split"))
        train = pipeline.make_unpaired_dataset(
            mine, d.train_split, seed=t.seed, disjoint=self.config.task.disjoint,
            batch_size=distribute.per_replica_batch(input_context, t.batch_size), training=True,
            views=d.train_views, shuffle_buffer=d.shuffle_buffer, skip_bad_records=d.skip_bad_records,
            **self._pipeline_options())
        steps = t.steps_per_epoch or max(1, pipeline.num_batches(train_src, t.batch_size, d.train_views,
                                                                 d.categories) // (2 if self.config.task.disjoint else 1))
        return dataclasses.replace(inputs, train=train, steps_per_epoch=steps)

    def build_model(self, dataset_info):
        from tf3d.models.cyclegan import CycleGAN, viewer_projection

        m, loss, size = self.config.task.model, self.config.task.loss, self.config.data.image_size
        model = CycleGAN(
            image_size=size, resolution=int(dataset_info["voxel_resolution"]), latent_dim=m.latent_dim,
            enc2d_filters=m.enc2d_filters, dec2d_filters=m.dec2d_filters, enc3d_filters=m.enc3d_filters,
            dec3d_filters=m.dec3d_filters, generator_norm=m.generator_norm, critic2d_filters=m.critic2d_filters,
            critic3d_filters=m.critic3d_filters, critic_norm=m.critic_norm, spectral_norm=m.spectral_norm,
            latent_filters=m.latent_filters, frozen=self.config.task.frozen, mode=self.config.task.mode,
            adversarial_weight=loss.adversarial_weight, latent_weight=loss.latent_weight, cycle_weight=loss.cycle_weight,
            identity_weight=loss.identity_weight, render_weight=loss.render_weight, render_loss=loss.render_loss,
            render_voxel_weight=loss.render_voxel_weight, generator_input=self.config.task.generator_input,
            gp_weight=loss.gp_weight,
            n_critic=loss.n_critic, pos_weight=pos_weight(loss.pos_weight, dataset_info),
            projection=viewer_projection(dataset_info.get("viewpoints"), size),
            render_samples=loss.render_samples, render_size=loss.render_size, thresholds=self.config.eval.thresholds)
        model.build((None, size, size, 1))
        return model

    def compile(self, model, inputs):
        import keras

        t, task = self.config.train, self.config.task
        schedule = keras.optimizers.schedules.CosineDecay(
            t.learning_rate, decay_steps=t.epochs * inputs.steps_per_epoch, alpha=t.lr_decay)
        model.compile(optimizer=keras.optimizers.Adam(schedule, beta_1=task.beta_1, beta_2=task.beta_2),
                      critic_optimizer=keras.optimizers.Adam(task.critic_learning_rate, beta_1=task.beta_1,
                                                             beta_2=task.beta_2))

    def _preview_class(self):
        from tf3d.training.cycle_previews import CyclePreviews

        return CyclePreviews

    def describe(self, model, inputs):
        t = self.config.task
        return (f"{self.name} ({t.mode} 3D->2D, {'disjoint halves' if t.disjoint else 'same models'}): "
                f"{model.count_params():,} parameters, n_critic {t.loss.n_critic}, spectral norm "
                f"{'on' if t.model.spectral_norm else 'off'}")

    # --------------------------------------------------------------- after training

    def evaluate(self, model, data, split, *, categories=None, max_batches=None):
        """Image -> voxels IoU (`PairedTask`'s report) and voxels -> image silhouette IoU, per category."""
        import tensorflow as tf

        from tf3d.data import pipeline
        from tf3d.metrics.iou_report import IoUReport
        from tf3d.metrics.silhouette_iou import silhouette_iou
        from tf3d.metrics.voxel_iou import voxel_iou

        d, e = self.config.data, self.config.eval
        categories = list(d.categories if categories is None else categories)
        source = pipeline.resolve(data, split)
        ds = pipeline.make_dataset(source, split, batch_size=e.batch_size, training=False, views=d.val_views,
                                   with_metadata=True, with_masks=True, **dict(self._pipeline_options(),
                                                                               categories=categories))
        if max_batches:
            ds = ds.take(max_batches)
        voxels_report, silhouette_report = IoUReport(e.thresholds), IoUReport([0.5])
        to_voxels = tf.function(lambda images: model(images, training=False))
        to_mask = tf.function(lambda voxels: model.predicted_mask(voxels))
        for batch in ds:
            names = batch["category"].numpy()
            logits = to_voxels(batch["image"])
            voxels_report.add(names, {t: voxel_iou(batch["voxels"], logits, t).numpy() for t in e.thresholds})
            silhouette_report.add(names, {0.5: silhouette_iou(batch["mask"][..., 0],
                                                              to_mask(batch["voxels"])).numpy()})
        if not voxels_report.count:
            raise ValueError(f"no examples to evaluate in {data} ({split}, categories {categories or 'all'})")
        return dict(voxels_report.result(), silhouettes=silhouette_report.result(), data=data, split=split,
                    categories=categories, views=d.val_views, mode=self.config.task.mode)

    def format_report(self, report):
        from tf3d.metrics.iou_report import format_table

        direction = "learned Dec2D o Enc3D" if report.get("mode", "learned") != "render" else "silhouette op"
        return (f"image -> voxels (voxel IoU):\n{format_table(report, self.config.eval.thresholds)}\n"
                f"voxels -> image ({direction}; silhouette IoU against the rendered mask):\n"
                f"{format_table(report['silhouettes'], [0.5])}")
