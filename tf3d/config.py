"""Experiment configuration: typed dataclasses are the schema, YAML only overrides.

An experiment is `ExperimentConfig()` with the YAML file merged on top, then
each `--set section.key=value` (the value parsed as YAML). Merging is strict:
an unknown key raises `ConfigError` naming it and the nearest valid keys, and
values are checked against the field's type. `save` writes the resolved config
(every field, defaults included) into the run directory, and `load` reads it
back for `tf3d.evaluate` and `tf3d.predict`.

Sections are unpacked into plain constructor and function arguments by the
entry points; models, losses and the pipeline never see a config object.
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


@dataclasses.dataclass
class ModelConfig:
    name: str = "paired"  # registered model builder (tf3d.models.registry)
    encoder_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [16, 32, 64, 128])  # 2D conv widths, each halves h and w
    latent_dim: int = 256  # size of the image code
    decoder_filters: typing.List[int] = dataclasses.field(default_factory=lambda: [64, 32, 16])  # 3D transposed-conv widths, 4^3 -> 32^3
    dropout: float = 0.0  # dropout on the latent code while training
    norm: str = "batch"  # "batch": batch normalization after every conv; "none"


@dataclasses.dataclass
class LossConfig:
    name: str = "weighted_bce"  # registered voxel loss: "weighted_bce" or "l1"
    pos_weight: typing.Optional[float] = None  # weight of occupied voxels; None: from dataset occupancy


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 20  # passes over the training split
    batch_size: int = 32  # examples per step
    learning_rate: float = 1e-3  # Adam learning rate
    lr_decay: float = 0.1  # final learning rate as a fraction of the initial one (cosine)
    steps_per_epoch: typing.Optional[int] = None  # None: one pass over the training models
    val_batches: typing.Optional[int] = None  # cap on validation batches per epoch; None: all
    backup_every_steps: typing.Optional[int] = None  # BackupAndRestore frequency; None: each epoch
    num_previews: int = 4  # validation examples drawn in TensorBoard each epoch
    seed: int = 0  # weights, shuffles and view choice


@dataclasses.dataclass
class EvalConfig:
    thresholds: typing.List[float] = dataclasses.field(default_factory=lambda: [0.3, 0.4, 0.5])  # IoU thresholds (Pix2Vox)
    monitor_threshold: float = 0.4  # threshold of the IoU that picks the best checkpoint
    batch_size: int = 64  # evaluation batch size


@dataclasses.dataclass
class ExperimentConfig:
    name: str = "paired"  # experiment name (shown in logs)
    run_dir: str = "runs/paired"  # checkpoints, logs, previews and the resolved config go here
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
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
        if dataclasses.is_dataclass(current):
            changes[key] = merge(current, value, path)
        else:
            changes[key] = _coerce(value, hints[key], path)
    return dataclasses.replace(config, **changes)


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
    config = base or ExperimentConfig()
    if path:
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"experiment file {path} does not exist (see experiments/)")
        with tf.io.gfile.GFile(path) as fh:
            loaded = yaml.safe_load(fh) or {}
        config = merge(config, loaded)
    for text in overrides:
        config = merge(config, parse_override(text))
    validate(config)
    return config


def validate(config):
    """Checks values that have a type but not every value of it is meaningful."""
    from tf3d.data import pipeline

    checks = [
        ("data.train_views", config.data.train_views, pipeline.VIEWS),
        ("data.val_views", config.data.val_views, pipeline.VIEWS),
        ("data.frame", config.data.frame, pipeline.FRAMES),
        ("data.rotation", config.data.rotation, pipeline.ROTATIONS),
    ]
    for where, value, choices in checks:
        if value not in choices:
            raise ConfigError(f"{where} must be one of {list(choices)}, got {value!r}")
    for where, value in (("train.epochs", config.train.epochs), ("train.batch_size", config.train.batch_size),
                         ("data.image_size", config.data.image_size), ("model.latent_dim", config.model.latent_dim)):
        if value <= 0:
            raise ConfigError(f"{where} must be positive, got {value}")
    if config.data.image_size % (2 ** len(config.model.encoder_filters)):
        raise ConfigError(f"data.image_size ({config.data.image_size}) must be divisible by "
                          f"2**len(model.encoder_filters) = {2 ** len(config.model.encoder_filters)}")
    if config.loss.pos_weight is not None and config.loss.pos_weight <= 0:
        raise ConfigError(f"loss.pos_weight must be positive, got {config.loss.pos_weight}")
    if not config.eval.thresholds or not all(0 < t < 1 for t in config.eval.thresholds):
        raise ConfigError(f"eval.thresholds must be in (0, 1), got {config.eval.thresholds}")
    return config


def to_dict(config):
    return dataclasses.asdict(config)


def save(config, run_dir):
    """Writes the resolved config to `run_dir/config.yaml`; returns the path."""
    import tensorflow as tf

    tf.io.gfile.makedirs(run_dir)
    path = f"{run_dir.rstrip('/')}/{CONFIG_FILE}"
    with tf.io.gfile.GFile(path, "w") as fh:
        yaml.safe_dump(to_dict(config), fh, sort_keys=False)
    return path


def load(run_dir):
    """The resolved config saved by `save` in a run directory."""
    path = f"{run_dir.rstrip('/')}/{CONFIG_FILE}"
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{run_dir} is not a tf3d run directory ({CONFIG_FILE} is missing); "
                                f"train one with `python -m tf3d.train experiments/paired.yaml`")
    return resolve(path)
