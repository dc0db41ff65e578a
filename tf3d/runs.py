"""Run directories: the one module that knows where a run keeps its files.

    RUN_DIR/config.yaml               the resolved config (`tf3d.config.save`)
    RUN_DIR/dataset.json              what the run needs of its training data (resolution,
                                      viewpoints, image size, categories): evaluation and
                                      inference read this, not the dataset
    RUN_DIR/checkpoints/best.keras    whole model at the best validation score
    RUN_DIR/checkpoints/best.json     that score, its metric and epoch
    RUN_DIR/checkpoints/last.keras    whole model at the end of the latest epoch
    RUN_DIR/backup/                   BackupAndRestore state while the run is unfinished
    RUN_DIR/logs/                     TensorBoard: losses, metrics, previews
    RUN_DIR/previews/epoch_XXX.png    the task's preview pictures
    RUN_DIR/eval/<data>_<split>.json  scores of `tf3d.evaluate`, one file per dataset and split
    RUN_DIR/train_summary.json        written when training completes

Whole models are `.keras` files, so `tf3d.evaluate` and `tf3d.predict` need
only the run directory: `load_model` rebuilds the model from the file (its
layers are registered Keras serializables; the task's module is imported
first so that they are known). JSON and YAML files are written to a
temporary name and renamed into place, so a killed run never leaves half a
file behind.
"""

import hashlib
import json
import os

from tf3d.cli import UserError

CHECKPOINTS = ("best", "last")


class Diverged(UserError):
    """A run stopped because its optimization blew up (a non-finite loss, a mesh
    past its cameras). A user error on the command line; `tf3d.sweep` records it
    as the run's outcome instead of stopping the grid, since divergence is a
    result of an optimizer study."""


class RunDir:
    """Paths of one run directory (local, a Drive mount or `gs://`)."""

    def __init__(self, path):
        if not isinstance(path, str) or not path.strip():
            raise ValueError(f"run_dir must be a directory path, got {path!r}")
        self.path = path.rstrip("/")
        join = lambda *parts: "/".join((self.path,) + parts)
        self.config = join("config.yaml")
        self.dataset = join("dataset.json")
        self.checkpoints = join("checkpoints")
        self.best = join("checkpoints", "best.keras")
        self.best_score = join("checkpoints", "best.json")
        self.last = join("checkpoints", "last.keras")
        self.backup = join("backup")
        self.logs = join("logs")
        self.previews = join("previews")
        self.eval = join("eval")
        self.summary = join("train_summary.json")

    def checkpoint(self, which="best"):
        """Path of checkpoint `which` ("best", "last" or a `.keras` path); "best" falls back to "last"."""
        import tensorflow as tf

        if which not in CHECKPOINTS:
            if not tf.io.gfile.exists(which):
                raise FileNotFoundError(f"checkpoint {which} does not exist")
            return which
        path = getattr(self, which)
        if tf.io.gfile.exists(path):
            return path
        if which == "best" and tf.io.gfile.exists(self.last):
            return self.last
        if not tf.io.gfile.exists(self.config):
            raise FileNotFoundError(f"{self.path} is not a tf3d run directory (config.yaml is missing); "
                                    f"train one with `python -m tf3d.train experiments/paired.yaml`")
        raise FileNotFoundError(f"{self.path} has no {which} checkpoint yet ({path}); "
                                f"has `python -m tf3d.train` finished an epoch there?")

    def eval_file(self, data, split, categories=()):
        """Where the scores of `data` (directory or glob) on `split` go: one file per dataset.

        The name holds the dataset's last path part and a short hash of the
        whole source, so two datasets never share a file.
        """
        source = data if "://" in data else os.path.abspath(data)
        stem = [p for p in source.replace("*", "").split("/") if p and "{" not in p]
        tag = f"{stem[-1] if stem else 'data'}-{hashlib.sha256(source.encode()).hexdigest()[:6]}"
        suffix = "_" + "-".join(categories) if categories else ""
        return f"{self.eval}/{tag}_{split}{suffix}.json"

    def read_json(self, path):
        """The parsed JSON file at `path`, or None if there is none."""
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path) as fh:
            return json.load(fh)


def write_text(path, text):
    """Writes `text` to `path` through a temporary file and a rename."""
    import tensorflow as tf

    directory = os.path.dirname(path)
    if directory:
        tf.io.gfile.makedirs(directory)
    tmp = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "w") as fh:
        fh.write(text)
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return path


def write_json(path, value):
    """`write_text` of `value` as indented JSON (NumPy scalars become floats)."""
    import numpy as np

    return write_text(path, json.dumps(value, indent=1, default=lambda x: np.asarray(x).tolist()))


def load_model(run_dir, checkpoint="best"):
    """`(model, config)` of a run: the whole model from `checkpoints/<checkpoint>.keras`.

    Needs nothing but the run directory. `checkpoint` is "best" (falls back
    to "last" before the first best), "last" or a `.keras` path.
    """
    import keras

    from tf3d import config as config_lib
    from tf3d import tasks

    run = RunDir(run_dir)
    cfg = config_lib.load(run.path)
    tasks.get(cfg.task.name)  # imports the task's module: its layers become known to Keras
    path = run.checkpoint(checkpoint)
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a damaged zip/h5/config
        raise UserError(f"checkpoint {path} cannot be loaded ({type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else ''}); it may be damaged or from "
                        f"another tf3d version: try --checkpoint last, or train again") from error
    return model, cfg


def parse_init_from(spec):
    """`"RUN_DIR[:submodel]"` -> `(run_dir, submodel or None)`; `gs://` paths keep their colon."""
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail and "/" not in tail:
        return head, tail
    return spec, None


def init_from(model, spec):
    """Copies weights from other runs' best models into `model`.

    Args:
      model: a built Keras model.
      spec: "RUN_DIR" (the whole model, same architecture),
        "RUN_DIR:submodel" (the attribute `submodel` of both models, e.g.
        `encoder`), "RUN_DIR:a+b" (several attributes of one run), or several
        of these separated by commas (autoencoder pretraining -> CycleGAN:
        `runs/ae_2d:enc2d+dec2d,runs/ae_3d:enc3d+dec3d`).

    Returns:
      a description of what was loaded, one line per part.
    """
    specs = [s.strip() for s in spec.split(",") if s.strip()]
    if len(specs) > 1 or (specs and "+" in (parse_init_from(specs[0])[1] or "")):
        lines = []
        for one in specs:
            run_dir, parts = parse_init_from(one)
            lines += [init_from(model, f"{run_dir}:{part}" if part else run_dir)
                      for part in (parts.split("+") if parts else [None])]
        return "\n".join(lines)
    run_dir, submodel = parse_init_from(spec)
    source, _ = load_model(run_dir)
    src, dst = source, model
    if submodel:
        missing = [name for name, m in (("that run's model", source), ("this model", model))
                   if not _is_layer(getattr(m, submodel, None))]
        if missing:
            raise UserError(f"init_from={spec}: {' and '.join(missing)} has no submodel {submodel!r}; "
                            f"this model has {', '.join(_submodels(model)) or 'none'}")
        src, dst = getattr(source, submodel), getattr(model, submodel)
    try:
        dst.set_weights(src.get_weights())
    except ValueError as error:
        raise UserError(f"init_from={spec}: the weights do not fit this model ({error})") from error
    return f"initialised {submodel or 'the whole model'} from {run_dir} ({len(src.weights)} tensors)"


def _is_layer(value):
    import keras

    return isinstance(value, keras.layers.Layer)


def _submodels(model):
    return sorted(name for name, value in vars(model).items()
                  if not name.startswith("_") and _is_layer(value))
