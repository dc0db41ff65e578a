"""Task `cyclegan_supervised`: debugging check 3, the CycleGAN's generators trained on pairs.

The model is the CycleGAN exactly as task `cyclegan` builds it from the
same `task.model` section (`CycleGANTask.build_model`), turned into a
`tf3d.models.supervised_cyclegan.SupervisedCycleGAN`: G = Dec3D o Enc2D and
F = Dec2D o Enc3D fitted directly, G with the paired task's voxel loss
(`task.voxel_loss`, weighted BCE by default, `task.loss.pos_weight`) and F
with the L1 of its pictures (`task.image_loss`; or the binary cross-entropy
of their gray levels). The data and the evaluation are the paired
ones: training pairs from `PairedTask.build_inputs` (grids in their view's
frame), and `tf3d.evaluate` scores as for `cyclegan` (image -> voxels IoU at
`eval.thresholds` per category, voxels -> image silhouette IoU against the
rendered mask) and prints the verdict:

* image -> voxels passes when IoU@`eval.monitor_threshold` over the test
  split is at least `task.reference_iou - task.iou_margin` (the paired
  model's 0.651 at 0.4, minus 0.10);
* voxels -> image passes when the silhouette IoU is at least
  `task.pass_silhouette_iou` (0.80: the differentiable silhouette op through
  the true camera reaches 0.823 on this test split, so a learned F that is
  told the answer should come within a few points of physics).

Of the CycleGAN's sections only `task.model`, `task.loss.pos_weight`,
`task.beta_1` and `task.beta_2` matter here (no critic, no cycle).
"""

import dataclasses

from tf3d import config as config_lib
from tf3d import tasks
from tf3d.models import supervised_cyclegan as _classes  # noqa: F401 (registers the Keras classes `runs.load_model` needs)
from tf3d.tasks.cyclegan import CycleGANConfig, CycleGANTask
from tf3d.tasks.paired import PairedTask


@dataclasses.dataclass
class CycleGANSupervisedConfig(CycleGANConfig):
    name: str = "cyclegan_supervised"  # registered task (tf3d.tasks): what is trained and how
    voxel_loss: str = "weighted_bce"  # G's loss, the paired task's (tf3d.losses.registry): weighted_bce or l1
    voxel_weight: float = 1.0  # weight of G's voxel loss
    image_loss: str = "l1"  # F's loss: "l1" (the CycleGAN's image cycle) or "bce" of the gray levels (ae_pretrain's)
    image_weight: float = 1.0  # weight of F's image loss
    reference_iou: float = 0.651  # the paired model's test IoU@eval.monitor_threshold (README)
    iou_margin: float = 0.1  # image -> voxels passes at IoU >= reference_iou - iou_margin
    pass_silhouette_iou: float = 0.8  # voxels -> image passes at silhouette IoU >= this

    def validate(self, experiment):
        from tf3d.losses import registry as losses
        from tf3d.models.supervised_cyclegan import IMAGE_LOSSES

        super().validate(experiment)
        if self.mode != "learned":
            raise config_lib.ConfigError(f"task.mode must be learned here (F is the learned Dec2D o Enc3D that "
                                         f"check 3 supervises), got {self.mode!r}")
        config_lib.check_choice("task.voxel_loss", self.voxel_loss, sorted(losses.LOSSES))
        config_lib.check_choice("task.image_loss", self.image_loss, IMAGE_LOSSES)
        for key in ("voxel_weight", "image_weight"):
            config_lib.check_positive(f"task.{key}", getattr(self, key))
        for key in ("reference_iou", "pass_silhouette_iou"):
            if not 0 < getattr(self, key) <= 1:
                raise config_lib.ConfigError(f"task.{key} must be in (0, 1], got {getattr(self, key)}")
        if self.iou_margin < 0:
            raise config_lib.ConfigError(f"task.iou_margin must be >= 0, got {self.iou_margin}")
        if self.voxel_loss != "weighted_bce" and self.loss.pos_weight is not None:
            raise config_lib.ConfigError("task.loss.pos_weight applies to task.voxel_loss=weighted_bce only")


@tasks.register
class CycleGANSupervisedTask(CycleGANTask):
    """The CycleGAN's generators with direct supervision (module docstring)."""

    name = "cyclegan_supervised"
    config_class = CycleGANSupervisedConfig

    def build_inputs(self, input_context=None):
        return PairedTask.build_inputs(self, input_context)  # pairs, not the CycleGAN's disjoint halves

    def build_model(self, dataset_info):
        from tf3d.models.supervised_cyclegan import SupervisedCycleGAN

        cyclegan = super().build_model(dataset_info)
        model = SupervisedCycleGAN.from_config(cyclegan.get_config())
        model.build((None,) + (self.config.data.image_size,) * 2 + (1,))
        return model

    def compile(self, model, inputs):
        import keras

        from tf3d.losses import registry as losses

        t, task = self.config.train, self.config.task
        self.loss = losses.build(task.voxel_loss, pos_weight=task.loss.pos_weight,
                                 occupancy_rate=inputs.dataset_info.get("occupancy_rate"))
        schedule = keras.optimizers.schedules.CosineDecay(
            t.learning_rate, decay_steps=t.epochs * inputs.steps_per_epoch, alpha=t.lr_decay)
        model.compile(optimizer=keras.optimizers.Adam(schedule, beta_1=task.beta_1, beta_2=task.beta_2),
                      voxel_loss=self.loss, voxel_weight=task.voxel_weight, image_weight=task.image_weight,
                      image_loss=task.image_loss)

    def describe(self, model, inputs):
        generators = sum(int(v.numpy().size) for v in model.generator_variables)
        return (f"{self.name}: the CycleGAN's generators ({generators:,} parameters) on pairs, G with "
                f"{self.config.task.voxel_loss} (pos_weight {getattr(self.loss, 'pos_weight', '-')}), F with "
                f"{self.config.task.image_loss}")

    def evaluate(self, model, data, split, *, categories=None, max_batches=None):
        """`CycleGANTask.evaluate`'s report plus the check's verdict."""
        report = super().evaluate(model, data, split, categories=categories, max_batches=max_batches)
        task, threshold = self.config.task, self.config.eval.monitor_threshold
        iou = report["overall"][f"iou_{threshold:g}"]
        silhouette = report["silhouettes"]["overall"]["iou_0.5"]
        need_iou = task.reference_iou - task.iou_margin
        return dict(report, verdict={
            "threshold": threshold, "iou": iou, "need_iou": need_iou, "reference_iou": task.reference_iou,
            "silhouette_iou": silhouette, "need_silhouette_iou": task.pass_silhouette_iou,
            "passed_voxels": iou >= need_iou, "passed_image": silhouette >= task.pass_silhouette_iou,
            "passed": iou >= need_iou and silhouette >= task.pass_silhouette_iou})

    def format_report(self, report):
        v = report["verdict"]
        word = lambda ok: "PASS" if ok else "FAIL"
        return "\n".join([
            super().format_report(report),
            f"check 3, image -> voxels (Dec3D o Enc2D): IoU@{v['threshold']:g} {v['iou']:.3f} -> "
            f"{word(v['passed_voxels'])} (criterion: >= {v['need_iou']:.3f}, the paired model's "
            f"{v['reference_iou']:.3f} minus {v['reference_iou'] - v['need_iou']:.2f})",
            f"check 3, voxels -> image (Dec2D o Enc3D): silhouette IoU {v['silhouette_iou']:.3f} -> "
            f"{word(v['passed_image'])} (criterion: >= {v['need_silhouette_iou']:.2f})",
            f"check 3: {word(v['passed'])}"])
