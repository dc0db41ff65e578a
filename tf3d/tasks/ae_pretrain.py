"""Task `ae_pretrain`: the CycleGAN's generator halves pretrained as autoencoders of one domain.

`task.domain: image` trains Dec2D o Enc2D on images, `voxels` trains
Dec3D o Enc3D on voxel grids (each in the frame of a random view), with the
architecture `cyclegan` builds from the same widths
(`tf3d.models.autoencoder.Autoencoder`). Pretraining stays unpaired: by
default the image autoencoder sees only the models of hash bucket 0 and the
voxel autoencoder only those of bucket 1, the halves `cyclegan` draws each
domain from (`task.model_half`). Then

    init_from: runs/ae_pretrain_2d:enc2d+dec2d,runs/ae_pretrain_3d:enc3d+dec3d

in a `cyclegan` experiment loads the four parts (`tf3d.runs.init_from`).
Images are reconstructed with binary cross-entropy on their gray levels,
grids with the paired task's weighted BCE; validation reports the loss, and
for grids the IoU at `eval.thresholds`.
"""

import dataclasses
import typing

from tf3d import config as config_lib
from tf3d import tasks
from tf3d.models import autoencoder as _classes  # noqa: F401 (registers the Keras classes `runs.load_model` needs)
from tf3d.tasks.paired import PairedTask

DOMAINS = ("image", "voxels")
# The CycleGAN's default widths of each domain's encoder and decoder.
_DEFAULT_FILTERS = {"image": ([16, 32, 64, 128], [128, 64, 32, 16]), "voxels": ([16, 32, 64], [64, 32, 16])}


@dataclasses.dataclass
class AEModelConfig:
    latent_dim: int = 256  # size L of the code (the CycleGAN's task.model.latent_dim)
    encoder_filters: typing.List[int] = dataclasses.field(default_factory=list)  # [] = cyclegan's enc2d/enc3d defaults
    decoder_filters: typing.List[int] = dataclasses.field(default_factory=list)  # [] = cyclegan's dec2d/dec3d defaults
    norm: str = "none"  # the CycleGAN's task.model.generator_norm


@dataclasses.dataclass
class AEPretrainConfig(config_lib.TaskConfig):
    name: str = "ae_pretrain"  # registered task (tf3d.tasks): what is trained and how
    domain: str = "image"  # "image": Dec2D o Enc2D; "voxels": Dec3D o Enc3D
    model_half: typing.Optional[int] = None  # train on hash bucket 0 or 1 of the models; None: image 0, voxels 1
    pos_weight: typing.Optional[float] = None  # occupied-voxel weight (voxels); None: from dataset occupancy
    model: AEModelConfig = dataclasses.field(default_factory=AEModelConfig)

    def validate(self, experiment):
        from tf3d.models import conv_block

        config_lib.check_choice("task.domain", self.domain, DOMAINS)
        config_lib.check_choice("task.model.norm", self.model.norm, conv_block.NORMS)
        config_lib.check_positive("task.model.latent_dim", self.model.latent_dim)
        if self.model_half not in (None, 0, 1):
            raise config_lib.ConfigError(f"task.model_half must be 0, 1 or null, got {self.model_half}")
        for key in ("encoder_filters", "decoder_filters"):
            widths = getattr(self.model, key)
            if widths and min(widths) <= 0:
                raise config_lib.ConfigError(f"task.model.{key} must hold positive widths, got {widths}")
        if self.domain == "image":
            stride = 2 ** max(len(self.filters[0]), len(self.filters[1]))
            if experiment.data.image_size % stride:
                raise config_lib.ConfigError(f"data.image_size ({experiment.data.image_size}) must be divisible "
                                             f"by {stride} (2 ** the number of task.model filter stages)")

    @property
    def filters(self):
        """`(encoder widths, decoder widths)` with the domain's defaults filled in."""
        encoder, decoder = _DEFAULT_FILTERS[self.domain]
        return list(self.model.encoder_filters or encoder), list(self.model.decoder_filters or decoder)

    @property
    def half(self):
        return self.model_half if self.model_half is not None else DOMAINS.index(self.domain)


@tasks.register
class AEPretrainTask(PairedTask):
    """Autoencoder of one domain (see the module docstring)."""

    name = "ae_pretrain"
    config_class = AEPretrainConfig

    def _pick(self, images, voxels):
        return (images, images) if self.config.task.domain == "image" else (voxels, voxels)

    def build_inputs(self, input_context=None):
        from tf3d.data import pipeline
        from tf3d.training import distribute

        inputs = super().build_inputs(input_context)
        d, t = self.config.data, self.config.train
        train_src = inputs.sources[0]
        mine = dataclasses.replace(train_src, files=distribute.shard_files(train_src.files, input_context,
                                                                           f"the {d.train_split} split"))
        train = pipeline.make_dataset(mine, d.train_split, training=True, repeat=True, seed=t.seed,
                                      batch_size=distribute.per_replica_batch(input_context, t.batch_size),
                                      views=d.train_views, shuffle_buffer=d.shuffle_buffer,
                                      model_shard=(self.config.task.half, 2), skip_bad_records=d.skip_bad_records,
                                      **self._pipeline_options())
        steps = t.steps_per_epoch or max(1, pipeline.num_batches(train_src, t.batch_size, d.train_views,
                                                                 d.categories) // 2)
        return dataclasses.replace(inputs, train=train.map(self._pick), val=inputs.val.map(self._pick),
                                   steps_per_epoch=steps)

    def build_model(self, dataset_info):
        from tf3d.models.autoencoder import Autoencoder

        task = self.config.task
        size = self.config.data.image_size if task.domain == "image" else int(dataset_info["voxel_resolution"])
        encoder, decoder = task.filters
        model = Autoencoder(task.domain, size, encoder, decoder, task.model.latent_dim, task.model.norm,
                            name=f"autoencoder_{task.domain}")
        model.build(model.batch_shape)
        return model

    def example_inputs(self, dataset_info, batch_size=2):
        import numpy as np

        if self.config.task.domain == "image":
            return super().example_inputs(dataset_info, batch_size)
        size = int(dataset_info["voxel_resolution"])
        return (np.random.default_rng(0).random((batch_size, size, size, size)) > 0.9).astype("float32")

    def compile(self, model, inputs):
        import keras

        from tf3d.losses import weighted_bce
        from tf3d.metrics.voxel_iou import VoxelIoU
        from tf3d.tasks.cyclegan import pos_weight

        t = self.config.train
        schedule = keras.optimizers.schedules.CosineDecay(
            t.learning_rate, decay_steps=t.epochs * inputs.steps_per_epoch, alpha=t.lr_decay)
        if self.config.task.domain == "image":
            loss, metrics = keras.losses.BinaryCrossentropy(from_logits=True), []
        else:
            loss = weighted_bce.WeightedBinaryCrossentropy(pos_weight(self.config.task.pos_weight, inputs.dataset_info))
            metrics = [VoxelIoU(th) for th in self.config.eval.thresholds]
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=metrics)

    def monitor(self):
        if self.config.task.domain == "image":
            return "val_loss", "min"
        return super().monitor()

    def callbacks(self, model, inputs, run):
        return []

    def describe(self, model, inputs):
        task = self.config.task
        return f"{self.name} ({task.domain}, model half {task.half}): {model.count_params():,} parameters"

    def evaluate(self, model, data, split, *, categories=None, max_batches=None):
        """Reconstruction scores on `split`: the voxel IoU report (voxels) or mean L1 and silhouette IoU (images)."""
        import numpy as np
        import tensorflow as tf

        from tf3d.data import pipeline
        from tf3d.metrics.iou_report import IoUReport
        from tf3d.metrics.silhouette_iou import silhouette_iou
        from tf3d.metrics.voxel_iou import voxel_iou
        from tf3d.models.cyclegan import image_silhouette

        d, e = self.config.data, self.config.eval
        categories = list(d.categories if categories is None else categories)
        ds = pipeline.make_dataset(pipeline.resolve(data, split), split, batch_size=e.batch_size, training=False,
                                   views=d.val_views, with_metadata=True,
                                   **dict(self._pipeline_options(), categories=categories))
        if max_batches:
            ds = ds.take(max_batches)
        image = self.config.task.domain == "image"
        report = IoUReport([0.5] if image else e.thresholds)
        errors = []
        run = tf.function(lambda x: model(x, training=False))
        for batch in ds:
            names = batch["category"].numpy()
            if image:
                reconstructed = tf.sigmoid(run(batch["image"]))
                errors.append(tf.reduce_mean(tf.abs(reconstructed - batch["image"]), axis=[1, 2, 3]).numpy())
                report.add(names, {0.5: silhouette_iou(image_silhouette(batch["image"]),
                                                       image_silhouette(reconstructed)).numpy()})
            else:
                logits = run(batch["voxels"])
                report.add(names, {t: voxel_iou(batch["voxels"], logits, t).numpy() for t in e.thresholds})
        if not report.count:
            raise ValueError(f"no examples to evaluate in {data} ({split}, categories {categories or 'all'})")
        extra = {"l1": float(np.mean(np.concatenate(errors)))} if image else {}
        return dict(report.result(), **extra, data=data, split=split, categories=categories,
                    domain=self.config.task.domain)

    def format_report(self, report):
        from tf3d.metrics.iou_report import format_table

        if report.get("domain") == "image":
            return (f"image reconstruction: mean L1 {report['l1']:.4f}; silhouette IoU:\n"
                    f"{format_table(report, [0.5])}")
        return f"voxel reconstruction IoU:\n{format_table(report, self.config.eval.thresholds)}"

    def predict(self, model, run, args):
        raise NotImplementedError(f"task {self.name!r} has no inference; load its parts into a cyclegan run")
