"""Trains an experiment: `python -m tf3d.train experiments/paired.yaml [--set key=value ...]`.

One readable trainer: resolve the config (`tf3d.config`), build the input
pipelines (`tf3d.data.pipeline`), the model (`tf3d.models.registry`) and the
loss (`tf3d.losses.registry`), then Keras `fit()` with callbacks:

    RUN_DIR/config.yaml                    the resolved config
    RUN_DIR/checkpoints/best.weights.h5    best validation IoU at eval.monitor_threshold
    RUN_DIR/checkpoints/last.weights.h5    end of the latest epoch
    RUN_DIR/backup/                        BackupAndRestore state while a run is unfinished
    RUN_DIR/logs/                          TensorBoard: losses, IoU, preview images
    RUN_DIR/previews/epoch_XXX.png         input | predicted | ground truth
    RUN_DIR/train_summary.json             written when the run completes

Running the same command again after an interruption resumes from the last
backup; after completion it reports the finished run and exits.
"""

import argparse
import json
import os
import sys
import time

from tf3d import config as config_lib

SUMMARY_FILE = "train_summary.json"


def paths(run_dir):
    """Where a run keeps its files (see the module docstring)."""
    run_dir = run_dir.rstrip("/")
    return {"config": f"{run_dir}/{config_lib.CONFIG_FILE}",
            "best": f"{run_dir}/checkpoints/best.weights.h5",
            "best_score": f"{run_dir}/checkpoints/best.json",
            "last": f"{run_dir}/checkpoints/last.weights.h5",
            "backup": f"{run_dir}/backup", "logs": f"{run_dir}/logs",
            "previews": f"{run_dir}/previews", "summary": f"{run_dir}/{SUMMARY_FILE}"}


def monitor_name(cfg):
    return f"val_iou_{cfg.eval.monitor_threshold:g}"


def build_model(cfg, resolution):
    """The registered model of `cfg.model`, built for `cfg.data.image_size` inputs."""
    from tf3d.models import registry

    return registry.build(cfg.model.name, image_size=cfg.data.image_size,
                          encoder_filters=cfg.model.encoder_filters, latent_dim=cfg.model.latent_dim,
                          decoder_filters=cfg.model.decoder_filters, resolution=resolution,
                          dropout=cfg.model.dropout, norm=cfg.model.norm)


def iou_metrics(thresholds):
    from tf3d.metrics.voxel_iou import VoxelIoU

    return [VoxelIoU(t) for t in thresholds]


class _BestScore:
    """The best monitored value so far, kept next to the best checkpoint across resumes."""

    def __init__(self, path):
        self.path = path

    def read(self):
        import tensorflow as tf

        if not tf.io.gfile.exists(self.path):
            return None
        with tf.io.gfile.GFile(self.path) as fh:
            return json.load(fh)["value"]

    def callback(self, monitor):
        import keras
        import tensorflow as tf

        record = self

        class _Record(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                value = (logs or {}).get(monitor)
                best = record.read()
                if value is not None and (best is None or float(value) > best):
                    with tf.io.gfile.GFile(record.path, "w") as fh:
                        json.dump({"monitor": monitor, "value": float(value), "epoch": epoch + 1}, fh)

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
                if batch == 0:
                    self._start = now  # the first step includes tracing: leave it out
                else:
                    timer.steps += 1
                    timer.seconds += now - self._last
                self._last = now

        return _Timer()

    @property
    def rate(self):
        return self.steps / self.seconds if self.seconds else float("nan")


def train(cfg, verbose=None):
    """Runs (or resumes) the experiment `cfg`; returns the summary dict."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tf3d.data import integrity, pipeline
    from tf3d.losses import registry as losses
    from tf3d.training.nan_guard import StopOnNonFiniteLoss
    from tf3d.training.previews import VoxelPreviews

    p = paths(cfg.run_dir)
    if tf.io.gfile.exists(p["summary"]):
        with tf.io.gfile.GFile(p["summary"]) as fh:
            summary = json.load(fh)
        print(f"{cfg.run_dir} already holds a finished run (best {summary['monitor']} = "
              f"{summary['best']:.3f}); choose another run_dir to train again.")
        return summary
    config_lib.save(cfg, cfg.run_dir)
    keras.utils.set_random_seed(cfg.train.seed)

    d = cfg.data
    train_src = pipeline.resolve(d.dir, d.train_split)
    val_src = pipeline.resolve(d.dir, d.val_split)
    skipped = []
    common = dict(image_size=d.image_size, frame=d.frame, rotation_mode=d.rotation,
                  categories=d.categories, cycle_length=d.cycle_length,
                  skip_bad_records=d.skip_bad_records, bad_records=skipped)
    train_ds = pipeline.make_dataset(train_src, d.train_split, batch_size=cfg.train.batch_size,
                                     training=True, views=d.train_views, shuffle_buffer=d.shuffle_buffer,
                                     repeat=True, seed=cfg.train.seed, **common)
    val_ds = pipeline.make_dataset(val_src, d.val_split, batch_size=cfg.eval.batch_size, training=False,
                                   views=d.val_views, seed=cfg.train.seed, **common)
    if skipped:
        print(f"skipping {len(skipped)} bad record(s) (data.skip_bad_records=true):")
        for bad in skipped:
            print(f"  {bad}")
    val_steps = pipeline.num_batches(val_src, cfg.eval.batch_size, d.val_views, d.categories,
                                     drop_remainder=False)
    if cfg.train.val_batches:
        val_steps = min(val_steps, cfg.train.val_batches)
    val_ds = val_ds.take(val_steps)
    steps = cfg.train.steps_per_epoch or pipeline.num_batches(
        train_src, cfg.train.batch_size, d.train_views, d.categories)

    model = build_model(cfg, train_src.resolution)
    loss = losses.build(cfg.loss.name, pos_weight=cfg.loss.pos_weight,
                        occupancy_rate=train_src.info.get("occupancy_rate"))
    schedule = keras.optimizers.schedules.CosineDecay(
        cfg.train.learning_rate, decay_steps=cfg.train.epochs * steps, alpha=cfg.train.lr_decay)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss,
                  metrics=iou_metrics(cfg.eval.thresholds))

    monitor = monitor_name(cfg)
    best = _BestScore(p["best_score"])
    preview_batch = next(iter(val_ds.unbatch().batch(cfg.train.num_previews).take(1)))
    timer = _StepTimer()
    viewpoints = train_src.info.get("viewpoints") or {}
    callbacks = [
        keras.callbacks.BackupAndRestore(
            p["backup"], save_freq=cfg.train.backup_every_steps or "epoch", delete_checkpoint=True),
        StopOnNonFiniteLoss(f"The last good weights are in {p['last']} and {p['backup']}."),
        keras.callbacks.TensorBoard(p["logs"], update_freq="epoch", write_graph=False),
        VoxelPreviews(preview_batch[0].numpy(), preview_batch[1].numpy(), f"{p['logs']}/previews",
                      p["previews"], elevation=viewpoints.get("elevation", 30.0)),
        keras.callbacks.ModelCheckpoint(p["best"], monitor=monitor, mode="max", save_best_only=True,
                                        save_weights_only=True, initial_value_threshold=best.read()),
        best.callback(monitor),
        keras.callbacks.ModelCheckpoint(p["last"], save_weights_only=True),
        timer.callback(),
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    print(f"training {cfg.name}: {steps} steps/epoch x {cfg.train.epochs} epochs, batch "
          f"{cfg.train.batch_size}, loss {cfg.loss.name} (pos_weight "
          f"{getattr(loss, 'pos_weight', '-')}), run dir {cfg.run_dir}")
    start = time.time()
    try:
        history = model.fit(train_ds, epochs=cfg.train.epochs, steps_per_epoch=steps,
                            validation_data=val_ds, validation_steps=val_steps, callbacks=callbacks,
                            shuffle=False, verbose=verbose)
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        files = train_src.files + val_src.files
        explained = integrity.explain(error, files, train_src.num_views, train_src.resolution)
        if explained is None:
            raise
        raise explained from None
    logs = {k: float(v[-1]) for k, v in history.history.items()}
    summary = {"monitor": monitor, "best": best.read() if best.read() is not None else float("nan"),
               "final": logs, "epochs": cfg.train.epochs, "steps_per_epoch": steps,
               "train_steps_per_second": timer.rate, "wall_seconds": time.time() - start,
               "skipped_records": [str(b) for b in skipped],
               "checkpoints": {"best": p["best"], "last": p["last"]}, "logs": p["logs"],
               "previews": p["previews"]}
    with tf.io.gfile.GFile(p["summary"], "w") as fh:
        json.dump(summary, fh, indent=1, default=lambda x: float(np.asarray(x)))
    print(f"done in {summary['wall_seconds']:.0f} s ({timer.rate:.2f} train steps/s); best {monitor} = "
          f"{summary['best']:.3f}\n  checkpoints: {os.path.dirname(p['best'])}\n  TensorBoard: "
          f"tensorboard --logdir {p['logs']}\n  previews: {p['previews']}")
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tf3d.train", description=__doc__.split("\n")[0])
    parser.add_argument("experiment", help="experiment YAML, e.g. experiments/paired.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set train.epochs=3 (repeatable)")
    args = parser.parse_args(argv)
    from tf3d.data.integrity import CorruptDataError
    from tf3d.training.nan_guard import NonFiniteLossError

    try:
        cfg = config_lib.resolve(args.experiment, args.overrides)
        train(cfg)
    except (config_lib.ConfigError, FileNotFoundError, CorruptDataError, NonFiniteLossError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
