"""Experiment configuration: typed dataclasses are the schema, YAML only overrides.

An experiment is `ExperimentConfig()` with the YAML file merged on top, then
each `--set section.key=value` (the value parsed as YAML). Merging is strict:
an unknown key raises `ConfigError` naming it and the nearest valid keys, and
values are checked against the field's type. `save` writes the resolved config
(every field, defaults included) into the run directory, and `load` reads it
back for `tf3d.evaluate` and `tf3d.predict`.

The sections `data`, `train` and `eval` are shared by every task. The `task`
section is a one-of (as TF Model Garden's `OneOfConfig`): `task.name` picks
the dataclass registered with the task (`tf3d.tasks`), and the section's other
keys must be fields of that dataclass:

    task:
      name: paired
      model: {latent_dim: 256}
      loss: {name: weighted_bce}

Sections are unpacked into plain constructor and function arguments by the
tasks; models, losses and the pipeline never see a config object.
"""

import dataclasses
import difflib
import typing

import yaml

CONFIG_FILE = "config.yaml"


class ConfigError(ValueError):
    """A config file or override that does not fit the schema."""


@dataclasses.dataclass
class DataConfig:
    dir: str = "data/synthetic"  # dataset directory or shard glob: local, Drive mount or gs://
    train_split: str = "train"  # split trained on
    val_split: str = "val"  # split validated on after every epoch
    image_size: int = 64  # model input side in pixels; stored renders are area-resized to it
    train_views: str = "random"  # "random": one view per model per epoch, "all": every view
    val_views: str = "all"  # views used for validation / evaluation ("all", "first", "random")
    frame: str = "viewer"  # "viewer": targets rotated into the view's frame; "object": canonical
    rotation: str = "auto"  # "table" (fixed viewpoints), "angle" (record azimuths), "auto"
    categories: typing.List[str] = dataclasses.field(default_factory=list)  # train on these; [] = all
    shuffle_buffer: int = 512  # records in the shuffle buffer
    cycle_length: int = 4  # shards read concurrently
    skip_bad_records: bool = False  # leave corrupt records out (counted) instead of stopping
    augment_mirror: bool = False  # training pairs mirrored at random: image columns and voxel X (tf3d.data.augment)
    augment_photometric: float = 0.0  # training images: contrast U(1-s, 1+s) and gamma exp(U(-s, s)); 0: off


@dataclasses.dataclass
class TaskConfig:
    """Base of the per-task sections; each task registers a subclass (`tf3d.tasks.register`)."""

    name: str = "paired"  # registered task (tf3d.tasks): what is trained and how

    def validate(self, experiment):
        """Checks the values of this section (`experiment` is the whole `ExperimentConfig`)."""


def _default_task():
    from tf3d import tasks

    return tasks.config_class(TaskConfig.name)()


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 20  # passes over the training split
    batch_size: int = 32  # examples per step
    learning_rate: float = 1e-3  # peak learning rate (Adam unless the task says otherwise)
    lr_decay: float = 0.1  # final learning rate as a fraction of the initial one (cosine)
    steps_per_epoch: typing.Optional[int] = None  # None: one pass over the training models
    val_batches: typing.Optional[int] = None  # cap on validation batches per epoch; None: all
    num_previews: int = 4  # validation examples drawn in TensorBoard each epoch
    seed: int = 0  # weights, shuffles and view choice
    strategy: str = "auto"  # tf.distribute: auto, default, mirrored, multi_worker, tpu (tf3d.training.distribute)


@dataclasses.dataclass
class EvalConfig:
    thresholds: typing.List[float] = dataclasses.field(default_factory=lambda: [0.3, 0.4, 0.5])  # IoU thresholds (Pix2Vox)
    monitor_threshold: float = 0.4  # threshold of the IoU that picks the best checkpoint
    batch_size: int = 64  # evaluation batch size


@dataclasses.dataclass
class ExperimentConfig:
    name: str = "paired"  # experiment name (shown in logs)
    run_dir: str = "runs/paired"  # checkpoints, logs, previews and the resolved config go here
    init_from: typing.Optional[str] = None  # "RUN_DIR[:submodel]": start from another run's best weights
    task: TaskConfig = dataclasses.field(default_factory=_default_task)  # one-of by task.name
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)


def _field_types(cls):
    return {f.name: f for f in dataclasses.fields(cls)}, typing.get_type_hints(cls)


def _nearest(key, valid):
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else \
        f"valid keys: {', '.join(sorted(valid))}"


def _coerce(value, hint, where):
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union and type(None) in args:
        if value is None:
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), where)
    if origin in (list, typing.List):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):
            # YAML 1.1 reads `1e-3` (no dot) as a string; a float field takes it as a number.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported field type {hint}")


def merge(config, overrides, where=""):
    """Returns a copy of dataclass `config` with the nested dict `overrides` applied.

    Raises ConfigError on an unknown key (naming the nearest valid ones) or a
    value of the wrong type.
    """
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {overrides!r}")
    fields, hints = _field_types(type(config))
    changes = {}
    for key, value in overrides.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise ConfigError(f"unknown config key {path!r}: {_nearest(str(key), list(fields))}")
        current = getattr(config, key)
        if isinstance(current, TaskConfig):
            changes[key] = _merge_task(current, value, path)
        elif dataclasses.is_dataclass(current):
            changes[key] = merge(current, value, path)
        else:
            changes[key] = _coerce(value, hints[key], path)
    return dataclasses.replace(config, **changes)


def _merge_task(current, overrides, where):
    """Merges into the task one-of: a new `name` starts from that task's defaults."""
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where} must be a mapping, got {overrides!r}")
    name = overrides.get("name", current.name)
    if name != current.name:
        from tf3d import tasks

        if not isinstance(name, str) or name not in tasks.names():
            raise ConfigError(f"unknown task {where}.name={name!r}; registered tasks: "
                              f"{', '.join(tasks.names())}")
        current = tasks.config_class(name)()
    return merge(current, overrides, where)


def parse_override(text):
    """`"train.epochs=3"` -> `{"train": {"epochs": 3}}` (the value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"--set expects section.key=value, got {text!r}")
    key, value = text.split("=", 1)
    nested = yaml.safe_load(value) if value.strip() else ""
    for part in reversed(key.strip().split(".")):
        if not part:
            raise ConfigError(f"--set key {key!r} has an empty part")
        nested = {part: nested}
    return nested


def resolve(path=None, overrides=(), base=None):
    """Defaults <- YAML file at `path` <- each `--set` override, validated.

    Args:
      path: YAML experiment file (local or gs://), or None for defaults only.
      overrides: strings `section.key=value`.
      base: starting config (default `ExperimentConfig()`).
    """
    config = layered(base or ExperimentConfig(), path, overrides)
    validate(config)
    return config


def layered(config, path=None, overrides=(), merge_fn=None, where="experiments/"):
    """`config` <- YAML file at `path` (local or gs://) <- each `--set` override; not validated.

    The layering every experiment schema shares (this module's, `tf3d.fitting.config`'s,
    `tf3d.gan2shape_config`'s); `merge_fn` (default `merge`) merges one mapping in, `where` names
    the experiment files in the error for a missing `path`.
    """
    merge_fn = merge_fn or merge
    if path:
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"experiment file {path} does not exist (see {where})")
        with tf.io.gfile.GFile(path) as fh:
            config = merge_fn(config, yaml.safe_load(fh) or {})
    for text in overrides:
        config = merge_fn(config, parse_override(text))
    return config


def check_choice(where, value, choices):
    """Raises ConfigError unless `value` is one of `choices`."""
    if value not in choices:
        raise ConfigError(f"{where} must be one of {list(choices)}, got {value!r}")


def check_positive(where, value):
    if value <= 0:
        raise ConfigError(f"{where} must be positive, got {value}")


def validate(config):
    """Checks values that have a type but not every value of it is meaningful.

    Runs before anything is written, so a bad value fails the command at once.
    The task section checks its own fields (`TaskConfig.validate`).
    """
    from tf3d import tasks
    from tf3d.data import pipeline
    from tf3d.training import distribute

    check_choice("task.name", config.task.name, tasks.names())
    check_choice("data.train_views", config.data.train_views, pipeline.VIEWS)
    check_choice("data.val_views", config.data.val_views, pipeline.VIEWS)
    check_choice("data.frame", config.data.frame, pipeline.FRAMES)
    check_choice("data.rotation", config.data.rotation, pipeline.ROTATIONS)
    check_choice("train.strategy", config.train.strategy, distribute.STRATEGIES)
    for where, value in (("train.epochs", config.train.epochs), ("train.batch_size", config.train.batch_size),
                         ("data.image_size", config.data.image_size), ("eval.batch_size", config.eval.batch_size),
                         ("train.learning_rate", config.train.learning_rate)):
        check_positive(where, value)
    if not 0 <= config.data.augment_photometric < 1:
        raise ConfigError(f"data.augment_photometric must be in [0, 1), got {config.data.augment_photometric}")
    if not 0 <= config.train.lr_decay <= 1:
        raise ConfigError(f"train.lr_decay must be in [0, 1], got {config.train.lr_decay}")
    if not config.eval.thresholds or not all(0 < t < 1 for t in config.eval.thresholds):
        raise ConfigError(f"eval.thresholds must be in (0, 1), got {config.eval.thresholds}")
    if config.eval.monitor_threshold not in config.eval.thresholds:
        raise ConfigError(f"eval.monitor_threshold ({config.eval.monitor_threshold:g}) must be one of "
                          f"eval.thresholds {config.eval.thresholds}")
    if config.init_from is not None and not config.init_from.strip():
        raise ConfigError("init_from must be RUN_DIR or RUN_DIR:submodel, got an empty string")
    config.task.validate(config)
    return config


def flatten(config, prefix=""):
    """`{"train.epochs": 20, ...}`: every leaf of a config (dataclass or dict)."""
    mapping = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
    flat = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def differences(saved, current, ignore=("run_dir",)):
    """`[(key, saved value, current value)]` where two configs differ."""
    a, b = flatten(saved), flatten(current)
    return [(k, a.get(k, "<absent>"), b.get(k, "<absent>")) for k in sorted(set(a) | set(b))
            if k not in ignore and a.get(k, "<absent>") != b.get(k, "<absent>")]


def to_dict(config):
    return dataclasses.asdict(config)


def save(config, run_dir):
    """Writes the resolved config to `run_dir/config.yaml` (atomically); returns the path."""
    from tf3d import runs

    path = f"{run_dir.rstrip('/')}/{CONFIG_FILE}"
    runs.write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))
    return path


def load(run_dir):
    """The resolved config saved by `save` in a run directory."""
    path = f"{run_dir.rstrip('/')}/{CONFIG_FILE}"
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{run_dir} is not a tf3d run directory ({CONFIG_FILE} is missing); "
                                f"train one with `python -m tf3d.train experiments/paired.yaml`")
    return resolve(path)
