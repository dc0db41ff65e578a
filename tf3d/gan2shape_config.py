"""Typed config of GAN2Shape's per-instance stages (`python -m tf3d.gan2shape_stages EXPERIMENT.yaml`).

The stages optimize networks per image, not a dataset model, so they have their own schema instead of
`tf3d.config.ExperimentConfig` (as `tf3d.fitting.config` for mesh fits); merging is the same strict
`tf3d.config.merge` (an unknown key names the nearest valid ones, values are type-checked), and `resolve`
validates everything before anything runs. What each key does: `tf3d.gan2shape_stages`.
"""

import dataclasses
import typing

from tf3d import config as config_lib
from tf3d.config import ConfigError

CONFIG_FILE = "config.yaml"


@dataclasses.dataclass
class InstancesConfig:
    data: str = "data/shaded"  # shaded build (`python -m pipelines.build shaded`)
    split: str = "test"  # images taken from this split, in record order
    first: int = 0  # records skipped before the first instance
    every: int = 1  # take every k-th record (the build stores a model's views together: 4 for one per model)
    count: int = 8  # instances


@dataclasses.dataclass
class NetworksConfig:
    nf: int = 16  # width of the four networks (tf3d.models.unsup3d_networks)
    zdim: int = 128  # bottleneck of the depth and albedo encoder-decoders
    min_depth: float = 2.0  # depth range
    max_depth: float = 3.0
    rotation_centre: float = 2.5  # depth the views turn about (the data's camera distance)
    rotation_range: float = 60.0  # degrees: bound of each predicted rotation
    xy_translation: float = 0.1  # bound of the predicted x, y translation
    learning_rate: float = 1e-3  # Adam, every network and the offset encoder


@dataclasses.dataclass
class StepsConfig:
    inversion: int = 200  # Adam steps of the instance's GAN inversion
    inversion_learning_rate: float = 0.05  # its learning rate
    prior: int = 100  # steps fitting the depth network to the ellipsoid
    step1: int = 100  # steps of step 1 (albedo and light)
    pseudo_samples: int = 16  # pseudo samples per stage
    step2: int = 100  # steps of the offset encoder per stage
    step3: int = 200  # steps of step 3 (all four networks)
    batch: int = 8  # pseudo / projected samples per step of steps 2 and 3


@dataclasses.dataclass
class SamplingConfig:
    yaw: float = 30.0  # degrees: pseudo views' yaw uniform in [-yaw, yaw]
    pitch: float = 15.0  # degrees: pitch uniform in [-pitch, pitch]
    light_xy: float = 1.0  # light direction normalize(x, y, -1), x and y uniform in [-light_xy, light_xy]
    ambient: typing.List[float] = dataclasses.field(default_factory=lambda: [0.2, 0.45])  # uniform range (the build's)
    diffuse: typing.List[float] = dataclasses.field(default_factory=lambda: [0.5, 0.7])  # uniform range (the build's)


@dataclasses.dataclass
class LossConfig:
    offset: float = 1.0  # lambda of the offset regularizer mean(dw^2) (GAN2Shape eq. 4)
    smoothness: float = 1.0  # weight of the depth's total variation in step 3
    instance: float = 1.0  # weight of the instance's own reconstruction in step 3


@dataclasses.dataclass
class StagesConfig:
    name: str = "gan2shape_stages"  # shown in logs
    out_dir: str = "runs/gan2shape_stages"  # metrics.json, stages.png, the resolved config
    gan: str = "runs/gan2shape"  # run directory of the GAN (task gan2shape)
    gan_checkpoint: str = "last"  # "best", "last" or a .keras path
    stages: int = 2  # repetitions of steps 1-3 (GAN2Shape: 4)
    seed: int = 0  # pseudo views and lights, batches
    figure_instances: int = 3  # instances drawn in stages.png (0: no picture)
    instances: InstancesConfig = dataclasses.field(default_factory=InstancesConfig)
    networks: NetworksConfig = dataclasses.field(default_factory=NetworksConfig)
    steps: StepsConfig = dataclasses.field(default_factory=StepsConfig)
    sampling: SamplingConfig = dataclasses.field(default_factory=SamplingConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)


def resolve(path=None, overrides=()):
    """Defaults <- YAML file at `path` <- each `--set key=value`, validated."""
    return validate(config_lib.layered(StagesConfig(), path, overrides, where="experiments/gan2shape_stages*.yaml"))


def validate(config):
    """Checks the values; raises ConfigError naming the key. Returns `config`."""
    n, s = config.networks, config.steps
    positive = {"stages": config.stages, "instances.count": config.instances.count,
                "instances.every": config.instances.every, "networks.nf": n.nf,
                "networks.zdim": n.zdim, "networks.min_depth": n.min_depth,
                "networks.learning_rate": n.learning_rate, "steps.pseudo_samples": s.pseudo_samples,
                "steps.batch": s.batch, "steps.inversion_learning_rate": s.inversion_learning_rate}
    for key, value in positive.items():
        config_lib.check_positive(key, value)
    non_negative = {"instances.first": config.instances.first, "figure_instances": config.figure_instances,
                    "steps.inversion": s.inversion, "steps.prior": s.prior, "steps.step1": s.step1,
                    "steps.step2": s.step2, "steps.step3": s.step3, "loss.offset": config.loss.offset,
                    "loss.smoothness": config.loss.smoothness, "loss.instance": config.loss.instance,
                    "sampling.yaw": config.sampling.yaw, "sampling.pitch": config.sampling.pitch,
                    "sampling.light_xy": config.sampling.light_xy}
    for key, value in non_negative.items():
        if value < 0:
            raise ConfigError(f"{key} must be >= 0, got {value}")
    if n.nf % 4:
        raise ConfigError(f"networks.nf must be a multiple of 4 (group norm), got {n.nf}")
    if not n.min_depth < n.rotation_centre < n.max_depth:
        raise ConfigError(f"networks.rotation_centre ({n.rotation_centre}) must lie between min_depth "
                          f"({n.min_depth}) and max_depth ({n.max_depth})")
    for key in ("ambient", "diffuse"):
        low_high = getattr(config.sampling, key)
        if len(low_high) != 2 or not 0 <= low_high[0] <= low_high[1]:
            raise ConfigError(f"sampling.{key} must be [low, high] with 0 <= low <= high, got {low_high}")
    if s.batch > s.pseudo_samples:
        raise ConfigError(f"steps.batch ({s.batch}) must not exceed steps.pseudo_samples ({s.pseudo_samples})")
    if config.figure_instances > config.instances.count:
        raise ConfigError(f"figure_instances ({config.figure_instances}) must not exceed instances.count "
                          f"({config.instances.count})")
    config_lib.check_choice("instances.split", config.instances.split, ("train", "val", "test"))
    return config
