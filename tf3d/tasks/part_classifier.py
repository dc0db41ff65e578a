"""Task `part_classifier`: debugging checks 1 and 2, a CycleGAN part as a chair/table classifier.

`task.part` picks the network (`tf3d.models.part_classifier`): `critic2d`
or `critic3d` (check 1: can the critics' architectures see the difference
between the categories at all?) or `enc2d` / `enc3d` (check 2: do the
generators' encoders keep it?). Trained with binary cross-entropy on the
training split (images of random views, or grids in their view's frame),
validated on accuracy; `tf3d.evaluate` reports the test accuracy per
category and whether it passes `task.pass_accuracy`.
"""

import dataclasses
import typing

from tf3d import config as config_lib
from tf3d import tasks
from tf3d.models import part_classifier as _classes  # noqa: F401 (registers the Keras classes `runs.load_model` needs)
from tf3d.tasks.paired import PairedTask

_DEFAULT_FILTERS = {"critic2d": [32, 64, 128], "critic3d": [8, 16, 32], "enc2d": [16, 32, 64, 128],
                    "enc3d": [16, 32, 64]}


@dataclasses.dataclass
class PartClassifierConfig(config_lib.TaskConfig):
    name: str = "part_classifier"  # registered task (tf3d.tasks): what is trained and how
    part: str = "critic3d"  # critic2d, critic3d (check 1), enc2d, enc3d (check 2)
    filters: typing.List[int] = dataclasses.field(default_factory=list)  # [] = the CycleGAN config's widths of the part
    latent_dim: int = 256  # code size of the encoders
    norm: str = "none"  # critics: instance or none; encoders: none, instance or batch
    spectral_norm: bool = False  # critics only
    pass_accuracy: float = 0.9  # test accuracy the check must reach

    def validate(self, experiment):
        from tf3d.models import conv_block, part_classifier

        config_lib.check_choice("task.part", self.part, part_classifier.PARTS)
        config_lib.check_choice("task.norm", self.norm, ("instance", "none") if self.part.startswith("critic")
                                else conv_block.NORMS)
        if len(experiment.data.categories) not in (0, 2):
            raise config_lib.ConfigError(f"data.categories must name two categories (or none: the dataset's two), "
                                         f"got {experiment.data.categories}")
        if not 0 < self.pass_accuracy <= 1:
            raise config_lib.ConfigError(f"task.pass_accuracy must be in (0, 1], got {self.pass_accuracy}")


@tasks.register
class PartClassifierTask(PairedTask):
    """A CycleGAN part as a binary classifier (module docstring)."""

    name = "part_classifier"
    config_class = PartClassifierConfig

    @property
    def _images(self):
        return self.config.task.part.endswith("2d")

    def _labelled(self, dataset, categories):
        import tensorflow as tf

        second = tf.constant(categories[1])
        key = "image" if self._images else "voxels"
        return dataset.map(lambda e: (e[key], tf.cast(tf.equal(e["category"], second), tf.float32)))

    def build_inputs(self, input_context=None):
        from tf3d.data import pipeline

        inputs = super().build_inputs(input_context)
        categories = inputs.dataset_info["categories"]
        if len(categories) != 2:
            raise ValueError(f"part_classifier needs exactly two categories, the dataset has {categories}")
        d, t = self.config.data, self.config.train
        train = pipeline.make_dataset(inputs.sources[0], d.train_split, batch_size=t.batch_size, training=True,
                                      repeat=True, views=d.train_views, shuffle_buffer=d.shuffle_buffer, seed=t.seed,
                                      with_metadata=True, **self._pipeline_options())
        val = pipeline.make_dataset(inputs.sources[1], d.val_split, batch_size=self.config.eval.batch_size,
                                    training=False, views=d.val_views, with_metadata=True, **self._pipeline_options())
        return dataclasses.replace(inputs, train=self._labelled(train, categories),
                                   val=self._labelled(val, categories).take(inputs.val_steps))

    def build_model(self, dataset_info):
        from tf3d.models.part_classifier import PartClassifier

        task = self.config.task
        size = self.config.data.image_size if self._images else int(dataset_info["voxel_resolution"])
        model = PartClassifier(task.part, size, task.filters or _DEFAULT_FILTERS[task.part], task.latent_dim,
                               task.norm, task.spectral_norm)
        model.build(model.batch_shape)
        return model

    def example_inputs(self, dataset_info, batch_size=2):
        import numpy as np

        size = self.config.data.image_size if self._images else int(dataset_info["voxel_resolution"])
        shape = (batch_size, size, size, 1) if self._images else (batch_size, size, size, size)
        return np.random.default_rng(0).random(shape).astype("float32")

    def compile(self, model, inputs):
        import keras

        t = self.config.train
        schedule = keras.optimizers.schedules.CosineDecay(
            t.learning_rate, decay_steps=t.epochs * inputs.steps_per_epoch, alpha=t.lr_decay)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])

    def monitor(self):
        return "val_accuracy", "max"

    def callbacks(self, model, inputs, run):
        return []

    def describe(self, model, inputs):
        return f"{self.name} ({self.config.task.part}): {model.count_params():,} parameters"

    def evaluate(self, model, data, split, *, categories=None, max_batches=None):
        """Accuracy per category and overall on every view of `split`, and whether it passes."""
        import numpy as np
        import tensorflow as tf

        from tf3d import runs
        from tf3d.data import pipeline

        d = self.config.data
        ds = pipeline.make_dataset(pipeline.resolve(data, split), split, batch_size=self.config.eval.batch_size,
                                   training=False, views=d.val_views, with_metadata=True, **self._pipeline_options())
        if max_batches:
            ds = ds.take(max_batches)
        names = list(categories or d.categories) or None
        if names is None:  # the run's own categories, as it was trained
            names = runs.RunDir(self.config.run_dir).read_json(runs.RunDir(self.config.run_dir).dataset) or {}
            names = names.get("categories") or sorted(pipeline.resolve(data, split).num_records or {})
        run = tf.function(lambda x: model(x, training=False))
        correct = {c: [] for c in names}
        key = "image" if self._images else "voxels"
        for batch in ds:
            predicted_second = run(batch[key]).numpy() > 0
            for category, second in zip(batch["category"].numpy(), predicted_second):
                category = category.decode()
                if category in correct:
                    correct[category].append(second == (category == names[1]))
        per_category = {c: {"accuracy": float(np.mean(v)), "count": len(v)} for c, v in correct.items() if v}
        overall = float(np.mean([x for v in correct.values() for x in v]))
        return {"per_category": per_category, "accuracy": overall, "pass_accuracy": self.config.task.pass_accuracy,
                "passed": overall >= self.config.task.pass_accuracy, "part": self.config.task.part, "data": data,
                "split": split}

    def format_report(self, report):
        lines = [f"{'category':<16}{'examples':>9}{'accuracy':>10}"]
        for name, row in report["per_category"].items():
            lines.append(f"{name:<16}{row['count']:>9}{row['accuracy']:>10.3f}")
        verdict = "PASS" if report["passed"] else "FAIL"
        lines.append(f"{report['part']} as a classifier: accuracy {report['accuracy']:.3f} -> {verdict} "
                     f"(criterion: >= {report['pass_accuracy']:g})")
        return "\n".join(lines)

    def predict(self, model, run, args):
        raise NotImplementedError(f"task {self.name!r} is a debugging check; it has no inference")
