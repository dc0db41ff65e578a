"""Task `paired`: single-view image -> voxel occupancy, trained on aligned pairs.

The first line of work tf3d reproduces: an encoder-decoder
(`tf3d.models.paired.PairedReconstructor`) trained with a voxel loss
(`tf3d.losses.registry`) on (image, voxel grid) pairs from
`tf3d.data.pipeline`, the grid rotated into the view's frame. Validation IoU
at `eval.monitor_threshold` picks the best checkpoint; `tf3d.evaluate` scores
IoU per category at `eval.thresholds` (Pix2Vox's protocol) and `tf3d.predict`
turns a picture into voxels and a mesh.
"""

import dataclasses
import os
import typing

from tf3d import config as config_lib
from tf3d import tasks
from tf3d.tasks.base import Inputs, Task

# What a run keeps of its training data's tf3d_info.json (RUN_DIR/dataset.json).
_INFO_KEYS = ("name", "voxel_resolution", "image_size", "num_views", "viewpoints", "occupancy_rate",
              "voxel_packing", "conventions")


@dataclasses.dataclass
class PairedModelConfig:
    name: str = "paired"  # registered model builder (tf3d.models.registry)
    encoder_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [16, 32, 64, 128])  # 2D conv widths, each halves h and w
    latent_dim: int = 256  # size of the image code
    decoder_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [64, 32, 16])  # 3D transposed-conv widths, 4^3 -> 32^3
    dropout: float = 0.0  # dropout on the latent code while training
    norm: str = "batch"  # "batch": batch normalization after every conv; "none"


@dataclasses.dataclass
class PairedLossConfig:
    name: str = "weighted_bce"  # registered voxel loss: "weighted_bce" or "l1"
    pos_weight: typing.Optional[float] = None  # weight of occupied voxels; None: from dataset occupancy


@dataclasses.dataclass
class PairedConfig(config_lib.TaskConfig):
    name: str = "paired"  # registered task (tf3d.tasks): what is trained and how
    model: PairedModelConfig = dataclasses.field(default_factory=PairedModelConfig)
    loss: PairedLossConfig = dataclasses.field(default_factory=PairedLossConfig)

    def validate(self, experiment):
        from tf3d.losses import registry as losses
        from tf3d.models import conv_block, registry as models

        config_lib.check_choice("task.model.name", self.model.name, models.names())
        config_lib.check_choice("task.model.norm", self.model.norm, conv_block.NORMS)
        config_lib.check_choice("task.loss.name", self.loss.name, sorted(losses.LOSSES))
        config_lib.check_positive("task.model.latent_dim", self.model.latent_dim)
        for where, widths in (("task.model.encoder_filters", self.model.encoder_filters),
                              ("task.model.decoder_filters", self.model.decoder_filters)):
            if not widths or min(widths) <= 0:
                raise config_lib.ConfigError(f"{where} must be a non-empty list of positive widths, got {widths}")
        if not 0 <= self.model.dropout < 1:
            raise config_lib.ConfigError(f"task.model.dropout must be in [0, 1), got {self.model.dropout}")
        stride = 2 ** len(self.model.encoder_filters)
        if experiment.data.image_size % stride:
            raise config_lib.ConfigError(f"data.image_size ({experiment.data.image_size}) must be divisible "
                                         f"by 2**len(task.model.encoder_filters) = {stride}")
        if self.loss.pos_weight is not None and self.loss.pos_weight <= 0:
            raise config_lib.ConfigError(f"task.loss.pos_weight must be positive, got {self.loss.pos_weight}")
        if self.loss.name != "weighted_bce" and self.loss.pos_weight is not None:
            raise config_lib.ConfigError("task.loss.pos_weight applies to weighted_bce only; leave it null")


@tasks.register
class PairedTask(Task):
    """Image -> voxels with aligned pairs (see the module docstring)."""

    name = "paired"
    config_class = PairedConfig

    # --------------------------------------------------------------- training

    def _pipeline_options(self):
        d = self.config.data
        return dict(image_size=d.image_size, frame=d.frame, rotation_mode=d.rotation,
                    categories=d.categories, cycle_length=d.cycle_length)

    def build_inputs(self, input_context=None):
        from tf3d.data import augment, pipeline
        from tf3d.training import distribute

        d, t = self.config.data, self.config.train
        sources = pipeline.resolve_splits(d.dir, (d.train_split, d.val_split))
        train_src, val_src = sources[d.train_split], sources[d.val_split]
        # This worker's shard files; counts (steps) stay those of the whole split.
        mine = {split: dataclasses.replace(src, files=distribute.shard_files(src.files, input_context, f"the {split} split"))
                for split, src in ((d.train_split, train_src), (d.val_split, val_src))}
        several = input_context is not None and input_context.num_input_pipelines > 1
        skipped = []
        common = dict(self._pipeline_options(), skip_bad_records=d.skip_bad_records, bad_records=skipped)
        train = pipeline.make_dataset(mine[d.train_split], d.train_split, training=True,
                                      batch_size=distribute.per_replica_batch(input_context, t.batch_size),
                                      views=d.train_views, shuffle_buffer=d.shuffle_buffer, repeat=True,
                                      seed=t.seed, **common)
        train = augment.apply(train, augment.Augmentation(mirror=d.augment_mirror,
                                                          photometric=d.augment_photometric), seed=t.seed)
        # Workers hold different numbers of validation records but must run the same
        # number of steps: with several, each repeats its share (a few examples count twice).
        val = pipeline.make_dataset(mine[d.val_split], d.val_split, training=False, repeat=several,
                                    batch_size=distribute.per_replica_batch(input_context, self.config.eval.batch_size,
                                                                            "eval.batch_size"),
                                    views=d.val_views, seed=t.seed, **common)
        val_steps = pipeline.num_batches(val_src, self.config.eval.batch_size, d.val_views, d.categories,
                                         drop_remainder=False)
        if t.val_batches:
            val_steps = min(val_steps, t.val_batches)
        steps = t.steps_per_epoch or pipeline.num_batches(train_src, t.batch_size, d.train_views, d.categories)
        info = {k: train_src.info[k] for k in _INFO_KEYS if k in train_src.info}
        info.setdefault("voxel_resolution", train_src.resolution)
        info.update(source=d.dir, categories=list(d.categories) or sorted(train_src.num_records or {}))
        self._val_source = val_src
        return Inputs(train=train, val=val.take(val_steps), steps_per_epoch=steps, val_steps=val_steps,
                      dataset_info=info, skipped=skipped, sources=(train_src, val_src))

    def build_model(self, dataset_info):
        from tf3d.models import registry

        m = self.config.task.model
        return registry.build(m.name, image_size=self.config.data.image_size,
                              encoder_filters=m.encoder_filters, latent_dim=m.latent_dim,
                              decoder_filters=m.decoder_filters, resolution=int(dataset_info["voxel_resolution"]),
                              dropout=m.dropout, norm=m.norm)

    def example_inputs(self, dataset_info, batch_size=2):
        import numpy as np

        size = self.config.data.image_size
        return np.random.default_rng(0).random((batch_size, size, size, 1)).astype("float32")

    def compile(self, model, inputs):
        import keras

        from tf3d.losses import registry as losses
        from tf3d.metrics.voxel_iou import VoxelIoU

        t = self.config.train
        loss_cfg = self.config.task.loss
        self.loss = losses.build(loss_cfg.name, pos_weight=loss_cfg.pos_weight,
                                 occupancy_rate=inputs.dataset_info.get("occupancy_rate"))
        schedule = keras.optimizers.schedules.CosineDecay(
            t.learning_rate, decay_steps=t.epochs * inputs.steps_per_epoch, alpha=t.lr_decay)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss=self.loss,
                      metrics=[VoxelIoU(th) for th in self.config.eval.thresholds])

    def monitor(self):
        return f"val_iou_{self.config.eval.monitor_threshold:g}", "max"

    def _preview_class(self):
        """The callback drawing validation examples each epoch (`training.previews.VoxelPreviews`'s signature)."""
        from tf3d.training.previews import VoxelPreviews

        return VoxelPreviews

    def callbacks(self, model, inputs, run):
        from tf3d.data import pipeline
        from tf3d.training.previews import pick_examples

        d = self.config.data
        candidates = pipeline.make_dataset(self._val_source, d.val_split, batch_size=64, training=False,
                                           views="first", with_metadata=True, **self._pipeline_options())
        chosen = pick_examples(candidates, self.config.train.num_previews)
        elevation = (inputs.dataset_info.get("viewpoints") or {}).get("elevation", 30.0)
        return [self._preview_class()(chosen["image"], chosen["voxels"], f"{run.logs}/previews", run.previews,
                                      elevation=elevation)]

    def describe(self, model, inputs):
        return (f"{self.name}: {model.count_params():,} parameters, loss {self.config.task.loss.name} "
                f"(pos_weight {getattr(self.loss, 'pos_weight', '-')})")

    def explain_read_error(self, error, inputs):
        from tf3d.data import integrity

        files = tuple(f for src in inputs.sources for f in src.files)
        src = inputs.sources[0]
        return integrity.explain(error, files, src.num_views, src.resolution)

    # --------------------------------------------------------------- after training

    def evaluate(self, model, data, split, *, categories=None, max_batches=None):
        """Per-category and overall IoU (`tf3d.metrics.iou_report`) of every view of `split`."""
        import tensorflow as tf

        from tf3d.data import integrity, pipeline
        from tf3d.metrics.iou_report import IoUReport
        from tf3d.metrics.voxel_iou import voxel_iou

        d, e = self.config.data, self.config.eval
        categories = list(d.categories if categories is None else categories)
        source = pipeline.resolve(data, split)
        resolution = int(model.resolution)
        if source.resolution != resolution:
            raise ValueError(f"{data} holds {source.resolution}^3 voxel grids; this run's model predicts "
                             f"{resolution}^3")
        options = dict(self._pipeline_options(), categories=categories)
        ds = pipeline.make_dataset(source, split, batch_size=e.batch_size, training=False, views=d.val_views,
                                   with_metadata=True, **options)
        if max_batches:
            ds = ds.take(max_batches)
        report = IoUReport(e.thresholds)
        predict = tf.function(lambda images: model(images, training=False))
        try:
            for batch in ds:
                logits = predict(batch["image"])
                report.add(batch["category"].numpy(),
                           {t: voxel_iou(batch["voxels"], logits, t).numpy() for t in e.thresholds})
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            explained = integrity.explain(error, source.files, source.num_views, source.resolution)
            if explained is None:
                raise
            raise explained from None
        if not report.count:
            raise ValueError(f"no examples to evaluate in {data} ({split}, categories {categories or 'all'})")
        return dict(report.result(), data=data, split=split, categories=categories, views=d.val_views)

    def format_report(self, report):
        from tf3d.metrics.iou_report import format_table

        return format_table(report, self.config.eval.thresholds)

    @classmethod
    def add_predict_arguments(cls, parser):
        parser.add_argument("image", help="picture of one object, roughly centred (PNG, JPEG, ...)")
        parser.add_argument("-o", "--output", required=True, help="mesh path ending in .obj or .ply")
        parser.add_argument("--threshold", type=float, default=0.4, help="occupancy level of the surface")

    def predict(self, model, run, args):
        """Writes the mesh, the `[X, Y, Z]` probabilities (.npy) and a preview (.png) of one image."""
        import numpy as np
        import tensorflow as tf
        import trimesh
        from PIL import Image

        from tf3d.data.images import load_image_file
        from tf3d.training.previews import preview_strip
        from tf3d.voxel_mesh import voxels_to_mesh

        stem, ext = os.path.splitext(args.output)
        if ext.lower() not in (".obj", ".ply"):
            raise ValueError(f"--output must end in .obj or .ply, got {args.output}")
        if not 0 < args.threshold < 1:
            raise ValueError(f"--threshold must be in (0, 1), got {args.threshold}")
        image = load_image_file(args.image, self.config.data.image_size)
        probabilities = tf.sigmoid(model(image, training=False))[0].numpy()  # [X, Y, Z]
        vertices, faces = voxels_to_mesh(probabilities, args.threshold)
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        trimesh.Trimesh(vertices, faces, process=False).export(args.output)
        np.save(stem + ".npy", probabilities)
        info = run.read_json(run.dataset) or {}
        elevation = (info.get("viewpoints") or {}).get("elevation", 30.0)
        strip = preview_strip(image, probabilities[None], probabilities[None], elevation)[:, :256]
        Image.fromarray(strip).save(stem + ".png")
        return (f"{int((probabilities >= args.threshold).sum())} occupied voxels; mesh {args.output} "
                f"({len(vertices)} vertices, {len(faces)} faces), voxels {stem}.npy, preview {stem}.png")
