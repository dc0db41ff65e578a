"""Task `unsup3d`: depth, albedo, view and light from single shaded images, no 3D supervision.

Unsup3D (Wu et al. 2020) as `tf3d.models.photo_geometric.PhotoGeometricAutoencoder`,
trained on a shaded dataset (`python -m pipelines.build shaded`,
`tf3d.data.shaded_records`) with its reconstruction loss only; the
records' ground truth is used for scores alone. Validation loss picks the
best checkpoint (the unsupervised objective: no ground truth decides), and
`val_side` / `val_mad` are logged beside it. `tf3d.evaluate RUN --split
test` scores SIDE and MAD (`tf3d.metrics.shape_errors`) of the depth and
normals warped into the input view on the object's pixels, next to three
references computed on the same pixels:

- constant depth: a fronto-parallel plane (SIDE = the spread of the true
  log depth; normals all facing the camera);
- ellipsoid: the half-ellipsoid over the object's bounding box that
  GAN2Shape starts from (its "shape prior"), depth `c - h sqrt(1 - r^2)`;
- ground-truth depth through the same depth -> normals step: the floor the
  normal estimate of a perfect depth map reaches at this resolution (flat
  parts meet at edges that finite differences blur).
"""

import dataclasses
import typing

import numpy as np

from tf3d import config as config_lib
from tf3d import tasks
from tf3d.tasks.base import Inputs, Task


@dataclasses.dataclass
class Unsup3DModelConfig:
    nf: int = 16  # width of the first convolution of every network (Unsup3D: 64)
    zdim: int = 128  # bottleneck of the encoder-decoders (Unsup3D: 256)
    min_depth: float = 2.0  # canonical depth range (the data's camera is 2.5 from the object's centre)
    max_depth: float = 3.0
    rotation_centre: float = 2.5  # depth of the point the predicted view turns about
    rotation_range: float = 60.0  # degrees: each rotation is tanh times this
    xy_translation: float = 0.1  # bound of the view's x and y translation
    z_translation: float = 0.0  # bound of the view's z translation
    view_warmup: int = 0  # training steps the view is held at the identity, then ramped in over as many (0: off)
    flat_start: bool = False  # depth and albedo networks' last conv starts at zero (flat depth) instead of Glorot noise


@dataclasses.dataclass
class Unsup3DLossConfig:
    flip_weight: float = 0.5  # weight of the flipped (symmetric) branch; 0 turns the symmetry off
    perceptual: float = 0.0  # weight of the VGG16 relu3_3 term; off: no ImageNet weights here (random VGG)
    perceptual_weights: typing.Optional[str] = None  # VGG16 notop .h5 with ImageNet weights; None: random
    confidence: bool = True  # scale the errors by the predicted confidence maps
    confidence_floor: float = 0.0  # added to every confidence scale, so no pixel is discounted below it
    depth_smoothness: float = 0.0  # weight of the canonical depth's total variation (GAN2Shape's term; Unsup3D has none)


@dataclasses.dataclass
class Unsup3DConfig(config_lib.TaskConfig):
    name: str = "unsup3d"  # registered task (tf3d.tasks): what is trained and how
    model: Unsup3DModelConfig = dataclasses.field(default_factory=Unsup3DModelConfig)
    loss: Unsup3DLossConfig = dataclasses.field(default_factory=Unsup3DLossConfig)

    def validate(self, experiment):
        # Registers the model class with Keras, so that `runs.load_model` can read a checkpoint back.
        from tf3d.models import photo_geometric  # noqa: F401

        m, loss = self.model, self.loss
        size = experiment.data.image_size
        if size < 16 or size & (size - 1):
            raise config_lib.ConfigError(f"data.image_size must be a power of two >= 16 for unsup3d, got {size}")
        for where, value in (("task.model.nf", m.nf), ("task.model.zdim", m.zdim),
                             ("task.model.min_depth", m.min_depth)):
            config_lib.check_positive(where, value)
        if m.nf % 4:
            raise config_lib.ConfigError(f"task.model.nf must be a multiple of 4 (group norm), got {m.nf}")
        if not m.min_depth < m.max_depth:
            raise config_lib.ConfigError(f"task.model.max_depth ({m.max_depth}) must exceed min_depth "
                                         f"({m.min_depth})")
        if not 0 <= m.rotation_range <= 180:
            raise config_lib.ConfigError(f"task.model.rotation_range must be in [0, 180], got {m.rotation_range}")
        for where, value in (("task.model.xy_translation", m.xy_translation),
                             ("task.model.z_translation", m.z_translation),
                             ("task.loss.flip_weight", loss.flip_weight), ("task.loss.perceptual", loss.perceptual),
                             ("task.loss.depth_smoothness", loss.depth_smoothness),
                             ("task.loss.confidence_floor", loss.confidence_floor),
                             ("task.model.view_warmup", m.view_warmup)):
            if value < 0:
                raise config_lib.ConfigError(f"{where} must be >= 0, got {value}")


def ellipsoid_depth(mask, centre_depth, height_fraction=0.5):
    """GAN2Shape's ellipsoid prior: `[B, H, W]` depth, a half-ellipsoid over each mask's bounding box.

    Args:
      mask: `[B, H, W]` bool object masks.
      centre_depth: depth of the flat background (and of the ellipsoid's rim).
      height_fraction: the bump's height towards the camera, as a fraction of 0.5 (the half-size of
        an object normalized into the voxel cube, `tf3d.conventions`).
    """
    batch, h, w = mask.shape
    rows, cols = np.mgrid[0:h, 0:w] + 0.5
    out = np.full((batch, h, w), centre_depth, np.float32)
    for b in range(batch):
        ys, xs = np.nonzero(mask[b])
        if not len(ys):
            continue
        cy, cx = (ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2
        ry, rx = max((ys.max() + 1 - ys.min()) / 2, 1), max((xs.max() + 1 - xs.min()) / 2, 1)
        r2 = ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2
        out[b] -= 0.5 * height_fraction * np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    return out


@tasks.register
class Unsup3DTask(Task):
    """Unsup3D on shaded renders (see the module docstring)."""

    name = "unsup3d"
    config_class = Unsup3DConfig

    # --------------------------------------------------------------- training

    def _info(self, directory):
        from tf3d import cli
        from tf3d.data import shaded_records

        try:
            info = shaded_records.read_info(directory)
        except (FileNotFoundError, ValueError) as error:
            raise cli.UserError(str(error)) from None
        if info["image_size"] != self.config.data.image_size:
            raise cli.UserError(f"{directory} holds {info['image_size']} px images; set data.image_size="
                                f"{info['image_size']} (unsup3d does not resize)")
        return info

    def build_inputs(self, input_context=None):
        from tf3d import conventions
        from tf3d.data import shaded_records

        d = self.config.data
        info = self._info(d.dir)
        train, val, steps, val_steps = shaded_records.fit_datasets(info, d, self.config.train, self.config.eval)
        vp = info["viewpoints"]
        dataset_info = {"name": info["name"], "format": info["format"], "image_size": info["image_size"],
                        "viewpoints": vp, "source": d.dir,
                        "intrinsics": conventions.intrinsics(vp["fov"], vp["image_size"]).tolist()}
        return Inputs(train=train, val=val, steps_per_epoch=steps, val_steps=val_steps,
                      dataset_info=dataset_info)

    def build_model(self, dataset_info):
        from tf3d.models.photo_geometric import PhotoGeometricAutoencoder

        m, loss = self.config.task.model, self.config.task.loss
        size = int(dataset_info["image_size"])
        intrinsics = dataset_info.get("intrinsics")
        if intrinsics is None:  # data without a shaded build's camera: the default field of view
            from tf3d import conventions

            intrinsics = conventions.intrinsics(conventions.DEFAULT_VIEWPOINTS.fov, size).tolist()
        model = PhotoGeometricAutoencoder(
            image_size=size, intrinsics=intrinsics, min_depth=m.min_depth, max_depth=m.max_depth,
            rotation_centre=m.rotation_centre, rotation_range=m.rotation_range, xy_translation=m.xy_translation,
            z_translation=m.z_translation, nf=m.nf, zdim=m.zdim, flip_weight=loss.flip_weight,
            perceptual_weight=loss.perceptual, perceptual_weights=loss.perceptual_weights,
            use_confidence=loss.confidence, depth_smoothness=loss.depth_smoothness, flat_start=m.flat_start,
            confidence_floor=loss.confidence_floor, view_warmup=m.view_warmup)
        model.build((None, size, size, 1))
        return model

    def example_inputs(self, dataset_info, batch_size=2):
        size = int(dataset_info["image_size"])
        return np.random.default_rng(0).random((batch_size, size, size, 1)).astype("float32")

    def compile(self, model, inputs):
        import keras

        t = self.config.train
        schedule = keras.optimizers.schedules.CosineDecay(
            t.learning_rate, decay_steps=t.epochs * inputs.steps_per_epoch, alpha=t.lr_decay)
        model.compile(optimizer=keras.optimizers.Adam(schedule))

    def monitor(self):
        return "val_loss", "min"

    def describe(self, model, inputs):
        loss = self.config.task.loss
        return (f"{self.name}: {model.count_params():,} parameters, flip weight {loss.flip_weight:g}, "
                f"perceptual {loss.perceptual:g}" + (" (random VGG16)" if loss.perceptual and
                                                     not loss.perceptual_weights else ""))

    # --------------------------------------------------------------- after training

    def evaluate(self, model, data, split, *, categories=None, max_batches=None):
        """Mean per-image SIDE and MAD of `model` and of the references on `split` of `data`."""
        import tensorflow as tf

        from tf3d.data import shaded_records
        from tf3d.metrics import shape_errors
        from tf3d.models import photo_renderer

        self._info(data)
        ds = shaded_records.make_dataset(data, split, batch_size=self.config.eval.batch_size, training=False)
        if max_batches:
            ds = ds.take(max_batches)
        reconstruct = tf.function(model.reconstruct)
        k = model.intrinsics
        names = ("unsup3d", "constant", "ellipsoid", "gt_depth_normals")
        # "object": every pixel the ground truth and the model both cover; "interior": those whose 3x3
        # neighbourhood is all object (thin legs and slats at 64 px are mostly edge pixels).
        rows = {(name, where): {"side": [], "mad": []} for name in names for where in ("object", "interior")}
        categories = list(categories or [])
        centre = float(model.rotation_centre)
        for batch in ds:
            keep = np.ones(batch["image"].shape[0], bool)
            if categories:
                keep = np.isin(batch["category"].numpy().astype(str), categories)
            recon = reconstruct(batch["image"])
            gt_depth, gt_normal = batch["depth"].numpy(), batch["normal"].numpy()
            gt_mask = batch["mask"].numpy()[..., 0] > 0.5  # the object, not the wall behind it
            seen = recon["recon_mask"].numpy()
            interior = tf.nn.max_pool2d(tf.cast(~gt_mask, tf.float32)[..., None], 3, 1, "SAME")[..., 0].numpy() == 0
            depth = np.where(seen, recon["recon_depth"].numpy(), 1.0)
            ellipsoid = ellipsoid_depth(gt_mask, centre)
            predictions = {
                "unsup3d": (depth, recon["recon_normal"].numpy()),
                "constant": (np.full_like(gt_depth, centre), np.broadcast_to([0.0, 0.0, -1.0], gt_normal.shape)),
                "ellipsoid": (ellipsoid, photo_renderer.depth_normals(ellipsoid, k).numpy()),
                "gt_depth_normals": (np.where(gt_depth > 0, gt_depth, 1.0),
                                     photo_renderer.depth_normals(np.where(gt_depth > 0, gt_depth, centre), k).numpy())}
            for where, mask in (("object", gt_mask & seen), ("interior", interior & seen)):
                has = keep & (mask.sum(axis=(1, 2)) > 0)
                m = mask.astype(np.float32)
                for name, (d, n) in predictions.items():
                    rows[name, where]["side"].extend(shape_errors.side(d, gt_depth, m).numpy()[has].tolist())
                    rows[name, where]["mad"].extend(shape_errors.mad(n, gt_normal, m).numpy()[has].tolist())
        count = len(rows["unsup3d", "object"]["side"])
        if not count:
            raise ValueError(f"no images to evaluate in {data} ({split})")
        report = {where: {name: {"side": float(np.mean(rows[name, where]["side"])),
                                 "side_std": float(np.std(rows[name, where]["side"])),
                                 "mad": float(np.mean(rows[name, where]["mad"])),
                                 "mad_std": float(np.std(rows[name, where]["mad"]))} for name in names}
                  for where in ("object", "interior")}
        return dict(scores=report["object"], interior=report["interior"], images=count, data=data, split=split,
                    categories=categories)

    def format_report(self, report):
        lines = [f"{report['images']} images; mean over images (+- std); object pixels | interior pixels",
                 f"{'':18s} {'SIDE x1e-2':>14s} {'MAD deg':>14s} | {'SIDE x1e-2':>14s} {'MAD deg':>14s}"]
        labels = {"unsup3d": "unsup3d", "constant": "constant depth", "ellipsoid": "ellipsoid prior",
                  "gt_depth_normals": "GT depth (floor)"}

        def cells(s):
            return f"{100 * s['side']:7.3f}+-{100 * s['side_std']:<5.2f} {s['mad']:7.2f}+-{s['mad_std']:<5.2f}"

        for name, label in labels.items():
            lines.append(f"{label:18s} {cells(report['scores'][name])} | {cells(report['interior'][name])}")
        return "\n".join(lines)
