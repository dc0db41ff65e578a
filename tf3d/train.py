"""Trains an experiment: `python -m tf3d.train experiments/paired.yaml [--set key=value ...]`.

One generic trainer (TF Model Garden's habit): the config's `task.name` picks
a task (`tf3d.tasks`) that builds its inputs, model, optimizers, losses and
extra callbacks; this module adds what every run shares and calls `fit()`:

    progress and step timing, NaN guard, TensorBoard, the task's callbacks,
    best and last whole-model checkpoints (`.keras`), the best score,
    BackupAndRestore (last, so that an epoch counts as done only once the
    checkpoints of that epoch are written)

`train.strategy` picks a `tf.distribute` strategy (`tf3d.training.distribute`:
one device, the GPUs of a machine, several machines, a TPU); the model is
built and compiled in its scope and each worker reads its own shard files.

The run directory's layout is `tf3d.runs`. Running the same command again
after an interruption resumes from the last finished epoch (weights,
optimizer state and step, hence the learning-rate schedule); a resumed run
must have the same resolved config, or it is refused with the differing keys.
After completion the command reports the finished run and exits.
"""

import sys
import time

from tf3d import cli
from tf3d import config as config_lib
from tf3d import runs


class _BestScore:
    """The best monitored value so far, kept next to the best checkpoint across resumes."""

    def __init__(self, run, monitor, mode):
        self.run, self.monitor, self.mode = run, monitor, mode

    def read(self):
        record = self.run.read_json(self.run.best_score)
        return None if record is None else record["value"]

    def better(self, value, best):
        return best is None or (value > best if self.mode == "max" else value < best)

    def callback(self):
        import keras

        record = self

        class _Record(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                value = (logs or {}).get(record.monitor)
                if value is not None and record.better(float(value), record.read()):
                    runs.write_json(record.run.best_score, {"monitor": record.monitor, "mode": record.mode,
                                                            "value": float(value), "epoch": epoch + 1})

        return _Record()


class _StepTimer:
    """Training steps per second, measured from each epoch's first to last batch."""

    def __init__(self):
        self.steps, self.seconds = 0, 0.0

    def callback(self):
        import keras

        timer = self

        class _Timer(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                now = time.perf_counter()
                if batch > 0:  # the first step of an epoch includes tracing or the data hand-over
                    timer.steps += 1
                    timer.seconds += now - self._last
                self._last = now

        return _Timer()

    @property
    def rate(self):
        return self.steps / self.seconds if self.seconds else float("nan")


def _check_resume(cfg, run):
    """Refuses to resume a run whose saved config differs from `cfg`; returns True when resuming."""
    import tensorflow as tf

    if not tf.io.gfile.exists(run.backup) or not tf.io.gfile.exists(run.config):
        return False
    saved = config_lib.load(run.path)
    changed = config_lib.differences(saved, cfg)
    if changed:
        listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changed[:8])
        more = f" (and {len(changed) - 8} more)" if len(changed) > 8 else ""
        raise cli.UserError(
            f"{run.path} holds an unfinished run with another config ({listed}{more}); resume it with the "
            f"same settings, or start a fresh run with --set run_dir=NEW_DIR (or delete {run.backup})")
    return True


def train(cfg, verbose=None, callbacks=()):
    """Runs (or resumes) the experiment `cfg`; returns the summary dict.

    Args:
      cfg: a resolved `ExperimentConfig`.
      verbose: Keras `fit` verbosity (default: a progress bar on a terminal, a line per epoch otherwise).
      callbacks: extra Keras callbacks, run after all others.
    """
    import keras
    import tensorflow as tf

    from tf3d import tasks
    from tf3d.training import distribute
    from tf3d.training.nan_guard import StopOnNonFiniteLoss

    strategy = distribute.make_strategy(cfg.train.strategy)  # before any other TF op (multi-worker)
    run = runs.RunDir(distribute.worker_run_dir(cfg.run_dir, strategy))
    summary = run.read_json(run.summary)
    if summary is not None:
        print(f"{run.path} already holds a finished run (best {summary['monitor']} = "
              f"{summary['best']:.3f}); choose another run_dir to train again.")
        return summary
    resuming = _check_resume(cfg, run)
    task = tasks.build(cfg)
    keras.utils.set_random_seed(cfg.train.seed)
    inputs = task.build_inputs(distribute.input_context(strategy))
    for bad in inputs.skipped:
        print(f"skipping bad record (data.skip_bad_records=true): {bad}")
    if inputs.skipped:
        print(f"skipping {len(inputs.skipped)} bad record(s) in all")
    config_lib.save(cfg, run.path)
    runs.write_json(run.dataset, inputs.dataset_info)
    with strategy.scope():
        model = task.build_model(inputs.dataset_info)
        if cfg.init_from and not resuming:
            print(runs.init_from(model, cfg.init_from))
        task.compile(model, inputs)
    distribute.prepare_for_fit(model, strategy, inputs.train)

    monitor, mode = task.monitor()
    best = _BestScore(run, monitor, mode)
    timer = _StepTimer()
    all_callbacks = [
        StopOnNonFiniteLoss(f"The last good model is in {run.last} and {run.backup}."),
        timer.callback(),
        keras.callbacks.TensorBoard(run.logs, update_freq="epoch", write_graph=False),
        *task.callbacks(model, inputs, run),
        keras.callbacks.ModelCheckpoint(run.best, monitor=monitor, mode=mode, save_best_only=True,
                                        initial_value_threshold=best.read()),
        best.callback(),
        keras.callbacks.ModelCheckpoint(run.last),
        keras.callbacks.BackupAndRestore(run.backup, save_freq="epoch", delete_checkpoint=True),
        *callbacks,
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    t = cfg.train
    print(f"training {cfg.name} ({task.describe(model, inputs)}): {inputs.steps_per_epoch} steps/epoch x "
          f"{t.epochs} epochs, batch {t.batch_size} ({distribute.describe(strategy)}), run dir {run.path}"
          + (" (resuming)" if resuming else ""))
    start = time.time()
    try:
        history = model.fit(distribute.distribute_dataset(strategy, inputs.train), epochs=t.epochs,
                            steps_per_epoch=inputs.steps_per_epoch,
                            validation_data=distribute.distribute_dataset(strategy, inputs.val),
                            validation_steps=inputs.val_steps,
                            callbacks=all_callbacks, shuffle=False, verbose=verbose)
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        explained = task.explain_read_error(error, inputs)
        if explained is None:
            raise
        raise explained from None
    except tf.errors.NotFoundError as error:  # a shard went away mid-run (a Drive mount dropped, say)
        lines = [line.strip() for line in error.message.splitlines() if line.strip()]
        missing = next((line for line in lines if "No such file" in line or "not found" in line), lines[-1])
        raise cli.UserError(f"{missing}; once the data is back, the same command resumes {run.path} "
                            f"from its last finished epoch") from None
    logs = {k: float(v[-1]) for k, v in history.history.items()}
    best_value = best.read()
    summary = {"task": cfg.task.name, "monitor": monitor, "mode": mode, "strategy": distribute.describe(strategy),
               "best": float("nan") if best_value is None else best_value,
               "final": logs, "epochs": t.epochs, "steps_per_epoch": inputs.steps_per_epoch,
               "train_steps_per_second": timer.rate, "wall_seconds": time.time() - start,
               "skipped_records": [str(b) for b in inputs.skipped],
               "checkpoints": {"best": run.best, "last": run.last}, "logs": run.logs,
               "previews": run.previews}
    runs.write_json(run.summary, summary)
    print(f"done in {summary['wall_seconds']:.0f} s ({timer.rate:.2f} train steps/s); best {monitor} = "
          f"{summary['best']:.3f}\n  models: {run.best} (best), {run.last} (last)\n  TensorBoard: "
          f"tensorboard --logdir {run.logs}\n  previews: {run.previews}")
    return summary


def main(argv=None):
    parser = cli.parser("python -m tf3d.train", __doc__.split("\n")[0])
    cli.add_experiment_arguments(parser, "experiments/paired.yaml",
                                 "override a config field, e.g. --set train.epochs=3 (repeatable)")
    args = parser.parse_args(argv)

    def body(a):
        train(config_lib.resolve(a.experiment, a.overrides))

    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
