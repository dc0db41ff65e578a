"""`Task`: what a model needs from the generic trainer, evaluator and predictor.

Following TF Model Garden's `base_task.Task`, a task owns its networks, its
inputs, its optimizers and losses (through `compile()`, or a custom
`train_step` on its `keras.Model` where it needs several optimizers, as in
keras-io's GAN examples), its extra callbacks, its evaluation and its
inference. `tf3d.train` owns the rest: the run directory, the shared
callbacks (TensorBoard, best/last checkpoints, BackupAndRestore, NaN guard,
progress) and `fit()`.

The flow in `tf3d.train.train`:

    strategy = distribute.make_strategy(config.train.strategy)
    task = tasks.build(config)
    inputs = task.build_inputs(distribute.input_context(strategy))  # Inputs, this worker's share
    with strategy.scope():
        model = task.build_model(inputs.dataset_info)  # built, not compiled
        task.compile(model, inputs)
    model.fit(distribute.distribute_dataset(strategy, inputs.train), ...,
              callbacks=shared + task.callbacks(...))

Under a `tf.distribute` strategy (`tf3d.training.distribute`) a task reads
only its input pipeline's shard files (`distribute.shard_files`), batches
`distribute.per_replica_batch` examples, and a custom `train_step` scales
hand-computed losses with `distribute.scale_loss`; Keras does the rest
(variables mirrored, gradients all-reduced, metrics summed over replicas).

and afterwards `tf3d.evaluate` calls `task.evaluate(model, ...)` and
`tf3d.predict` calls `task.predict(model, ...)` on the model loaded from the
run directory (`tf3d.runs.load_model`).
"""

import dataclasses


@dataclasses.dataclass
class Inputs:
    """What a task's `build_inputs` returns.

    Attributes:
      train: repeating, batched `tf.data.Dataset` fed to `fit()`.
      val: finite validation dataset (`val_steps` batches), or None.
      steps_per_epoch: training steps per epoch.
      val_steps: validation batches per epoch.
      dataset_info: what the run keeps of its training data (written to
        `RUN_DIR/dataset.json`; `build_model`, evaluation and prediction read it).
      skipped: records left out as corrupt (`data.skip_bad_records`).
      sources: the `DatasetSource`s read (to explain a read error).
    """

    train: object
    val: object
    steps_per_epoch: int
    val_steps: int
    dataset_info: dict
    skipped: list = dataclasses.field(default_factory=list)
    sources: tuple = ()


class Task:
    """Base class of tasks; subclasses set `name` and `config_class` and are `@register`ed.

    Args:
      config: the resolved `ExperimentConfig`; `config.task` is an instance
        of `config_class`.
    """

    name = None
    config_class = None

    def __init__(self, config):
        if not isinstance(config.task, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__} task section, "
                            f"got {type(config.task).__name__}")
        self.config = config

    # --------------------------------------------------------------- training

    def build_inputs(self, input_context=None):
        """Training and validation data of this input pipeline: an `Inputs`.

        Args:
          input_context: a `tf.distribute.InputContext` (None: one pipeline,
            one replica). Datasets read `distribute.shard_files(..., input_context)`
            and are batched per replica (`distribute.per_replica_batch`);
            step counts stay those of the global batch, the same on every worker.
        """
        raise NotImplementedError

    def build_model(self, dataset_info):
        """A built (not compiled) `keras.Model` for data described by `dataset_info`."""
        raise NotImplementedError

    def example_inputs(self, dataset_info, batch_size=2):
        """Random inputs of the model's shape (`model(example_inputs(...))` runs): for tests and benchmarks."""
        raise NotImplementedError

    def compile(self, model, inputs):
        """Compiles `model`: optimizer(s), loss(es) and metrics."""
        raise NotImplementedError

    def monitor(self):
        """`(metric name in fit()'s logs, "max" or "min")` that picks the best checkpoint."""
        raise NotImplementedError

    def callbacks(self, model, inputs, run):
        """Task-specific callbacks (previews); `run` is the `tf3d.runs.RunDir`."""
        return []

    def describe(self, model, inputs):
        """One line printed when training starts."""
        return f"{self.name}: {model.count_params():,} parameters"

    def explain_read_error(self, error, inputs):
        """A user-facing error for a `tf.errors` raised while reading data, or None."""
        return None

    # --------------------------------------------------------------- after training

    def evaluate(self, model, data, split, *, categories=None, max_batches=None):
        """Scores of `model` on `split` of `data`: a JSON-serializable dict."""
        raise NotImplementedError

    def format_report(self, report):
        """The scores of `evaluate` as a printable table."""
        raise NotImplementedError

    def figures(self, model, data, split, prefix):
        """Writes the task's evaluation pictures as `<prefix>_<name>.<ext>`; returns their paths (none by default)."""
        return []

    @classmethod
    def add_predict_arguments(cls, parser):
        """Adds the task's `tf3d.predict` options to `parser`."""

    def predict(self, model, run, args):
        """Runs inference for `tf3d.predict`; returns a one-line description of what was written."""
        raise NotImplementedError(f"task {self.name!r} has no inference")
