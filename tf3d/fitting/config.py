"""Typed config of a mesh fit (`python -m tf3d.fit EXPERIMENT.yaml [--set key=value]`).

A fit optimises one mesh, not a dataset model, so it has its own schema
instead of `tf3d.config.ExperimentConfig`; merging is the same strict
`tf3d.config.merge` (an unknown key names the nearest valid ones, values are
type-checked), and `resolve` validates everything before anything is
written. One exception to the typed fields: `optimizer.kwargs` is a free
mapping of constructor arguments for the Keras optimizer named by
`optimizer.name` (`{momentum: 0.9}` for SGD), checked by building the
optimizer; a change of `optimizer.name` starts from empty kwargs unless the
same override gives them.

Targets (`target`):
  synthetic:CATEGORY:SEED   `pipelines.synthetic.generate(CATEGORY, SEED)`
  PATH                      an OBJ, PLY, OFF, STL or GLB file (`pipelines.meshes.load_mesh`)
Either is normalized into the voxel cube (`tf3d.conventions.normalize_vertices`).
"""

import dataclasses
import os
import typing

import yaml

from tf3d import config as config_lib
from tf3d.config import ConfigError

MODES = ("points", "silhouettes")
SCHEDULES = ("constant", "cosine")
LAYOUTS = ("rings", "dataset")
MESH_EXTENSIONS = (".obj", ".ply", ".off", ".stl", ".glb", ".gltf")
CONFIG_FILE = "config.yaml"


@dataclasses.dataclass
class LossWeights:
    chamfer: float = 1.0  # squared chamfer distance between surface samples (tf3d.losses.chamfer)
    edge: float = 1.0  # squared edge length (tf3d.losses.edge_length)
    normal: float = 0.01  # 1 - cos between adjacent faces (tf3d.losses.normal_consistency)
    laplacian: float = 0.1  # uniform Laplacian smoothing (tf3d.losses.laplacian)
    quadric: float = 0.0  # quadric error of samples against the target (tf3d.losses.quadric)
    silhouette_l2: float = 0.0  # mean squared difference of soft and target silhouettes
    silhouette_iou: float = 0.0  # 1 - soft IoU of the silhouettes


@dataclasses.dataclass
class OptimizerConfig:
    name: str = "adam"  # any name keras.optimizers.get knows: adam, sgd, rmsprop, adamw, ...
    learning_rate: float = 0.01  # initial learning rate
    schedule: str = "constant"  # "constant", or "cosine": decays to 0 over the fit's steps
    kwargs: typing.Dict[str, typing.Any] = dataclasses.field(default_factory=dict)  # other constructor arguments


@dataclasses.dataclass
class ViewsConfig:
    layout: str = "rings"  # "rings": `count` views on two elevation rings; "dataset": the dataset's 8 views
    count: int = 20  # fitting views of the "rings" layout
    elevations: typing.List[float] = dataclasses.field(default_factory=lambda: [35.0, -10.0])  # the two rings
    held_out: int = 4  # held-out views for the IoU metric, never fitted
    held_out_elevation: float = 15.0  # their elevation; azimuths 45 + k * 360 / held_out
    image_size: int = 64  # silhouette side in pixels (fitting and held-out views)
    sigma: float = 3e-4  # SoftRas sharpness of the fitted silhouettes (normalized image units squared)
    supersample: int = 2  # Blender's samples per pixel side for the target masks


@dataclasses.dataclass
class FitConfig:
    name: str = "fit"  # shown in logs
    out_dir: str = "runs/fit"  # fitted OBJ, pictures, metrics, TensorBoard logs and the resolved config
    target: str = "synthetic:chair:0"  # synthetic:CATEGORY:SEED or a mesh file (see the module docstring)
    mode: str = "points"  # "points": fit surface samples; "silhouettes": fit Blender masks
    level: int = 4  # icosphere subdivisions (4: 2562 vertices)
    radius: float = 0.35  # starting sphere radius (the target fits in [-0.5, 0.5]^3)
    steps: int = 500  # optimisation steps
    samples: int = 4000  # surface samples per step on the fitted mesh and on the target (points mode)
    seed: int = 0  # surface sampling
    log_every: int = 10  # steps between TensorBoard scalars and history entries
    snapshots: int = 4  # meshes drawn in the picture strip (start and end included)
    metric_samples: int = 10000  # surface samples per mesh for the final metrics
    losses: LossWeights = dataclasses.field(default_factory=LossWeights)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    views: ViewsConfig = dataclasses.field(default_factory=ViewsConfig)


def parse_target(spec):
    """`("synthetic", category, seed)` or `("file", path, None)`; ConfigError if malformed."""
    if spec.startswith("synthetic:"):
        from tf3d import conventions

        parts = spec.split(":")
        if len(parts) != 3 or parts[1] not in conventions.CATEGORIES or not parts[2].isdigit():
            raise ConfigError(f"target {spec!r}: expected synthetic:CATEGORY:SEED with CATEGORY one of "
                              f"{list(conventions.CATEGORIES)} and SEED a non-negative integer")
        return "synthetic", parts[1], int(parts[2])
    if os.path.splitext(spec)[1].lower() not in MESH_EXTENSIONS:
        raise ConfigError(f"target {spec!r}: expected synthetic:CATEGORY:SEED or a mesh file "
                          f"({', '.join(MESH_EXTENSIONS)})")
    if not os.path.isfile(spec):
        raise ConfigError(f"target {spec!r}: no such file")
    return "file", spec, None


def _merge(config, overrides):
    """`tf3d.config.merge`, with `optimizer.kwargs` merged as a free mapping."""
    if not isinstance(overrides, dict):
        raise ConfigError(f"config must be a mapping, got {overrides!r}")
    optimizer = overrides.get("optimizer")
    kwargs = None
    if isinstance(optimizer, dict) and "kwargs" in optimizer:
        optimizer = dict(optimizer)
        kwargs = optimizer.pop("kwargs")
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise ConfigError(f"optimizer.kwargs must be a mapping of argument names, got {kwargs!r}")
        overrides = dict(overrides, optimizer=optimizer)
    merged = config_lib.merge(config, overrides)
    renamed = merged.optimizer.name != config.optimizer.name
    base = {} if renamed else dict(config.optimizer.kwargs)
    base.update(kwargs or {})
    return dataclasses.replace(merged, optimizer=dataclasses.replace(merged.optimizer, kwargs=base))


def build_optimizer(optimizer, steps=1):
    """The Keras optimizer of an `OptimizerConfig` for a fit of `steps` steps.

    ConfigError if Keras refuses it.
    """
    import keras

    rate = optimizer.learning_rate
    spec = {"class_name": optimizer.name, "config": dict(optimizer.kwargs, learning_rate=rate)}
    try:
        built = keras.optimizers.get(spec)
        if optimizer.schedule == "cosine":
            # set after construction: a schedule object is not a valid `get` config value
            decay = keras.optimizers.schedules.CosineDecay(rate, steps)
            built = built.from_config(dict(built.get_config(), learning_rate=decay))
        return built
    except (ValueError, TypeError) as error:
        raise ConfigError(f"optimizer {optimizer.name!r} with {spec['config']}: "
                          f"{str(error).splitlines()[0]}") from None


def resolve(path=None, overrides=()):
    """Defaults <- YAML file at `path` <- each `--set key=value`, validated."""
    return validate(config_lib.layered(FitConfig(), path, overrides, _merge, where="experiments/fit_*.yaml"))


def validate(config):
    """Checks the values; raises ConfigError naming the key. Returns `config`."""
    config_lib.check_choice("mode", config.mode, MODES)
    config_lib.check_choice("views.layout", config.views.layout, LAYOUTS)
    config_lib.check_choice("optimizer.schedule", config.optimizer.schedule, SCHEDULES)
    parse_target(config.target)
    if not 0 <= config.level <= 6:
        raise ConfigError(f"level must be in [0, 6], got {config.level}")
    for key in ("radius", "steps", "samples", "log_every", "metric_samples", "views.count",
                "views.image_size", "views.sigma", "views.supersample", "views.held_out",
                "optimizer.learning_rate"):
        section, _, field = key.rpartition(".")
        config_lib.check_positive(key, getattr(getattr(config, section) if section else config, field))
    if config.radius >= 0.5:
        raise ConfigError(f"radius must be below 0.5 (the voxel cube's half side), got {config.radius}")
    if config.snapshots < 2:
        raise ConfigError(f"snapshots must be at least 2 (start and end), got {config.snapshots}")
    if len(config.views.elevations) != 2 or not all(-80 <= e <= 80 for e in config.views.elevations):
        raise ConfigError(f"views.elevations must be two elevations in [-80, 80], got {config.views.elevations}")
    if config.views.count < 2 and config.views.layout == "rings":
        raise ConfigError(f"views.count must be at least 2 (one per ring), got {config.views.count}")
    weights = dataclasses.asdict(config.losses)
    negative = [k for k, w in weights.items() if w < 0]
    if negative:
        raise ConfigError(f"losses.{negative[0]} must not be negative, got {weights[negative[0]]}")
    data_terms = ("chamfer", "quadric") if config.mode == "points" else ("silhouette_l2", "silhouette_iou")
    if not any(weights[k] > 0 for k in data_terms):
        raise ConfigError(f"mode {config.mode!r} needs a positive weight on losses."
                          f"{' or losses.'.join(data_terms)}: nothing would pull toward the target")
    unused = ("silhouette_l2", "silhouette_iou") if config.mode == "points" else ("chamfer", "quadric")
    for key in unused:
        if weights[key] > 0:
            raise ConfigError(f"losses.{key} does not apply to mode {config.mode!r}; set it to 0")
    build_optimizer(config.optimizer)
    return config


def save(config, out_dir):
    """Writes the resolved config to `out_dir/config.yaml` (atomically); returns the path."""
    from tf3d import runs

    return runs.write_text(os.path.join(out_dir, CONFIG_FILE),
                           yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
