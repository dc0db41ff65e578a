"""Voxel losses by name: an experiment's `loss.name` picks one."""

from tf3d.losses import voxel_l1, weighted_bce


def _weighted_bce(pos_weight=None, occupancy_rate=None):
    if pos_weight is None:
        if occupancy_rate is None:
            raise ValueError("weighted_bce needs loss.pos_weight or a tf3d_info.json "
                             "with occupancy_rate to derive it from")
        pos_weight = weighted_bce.default_pos_weight(occupancy_rate)
    return weighted_bce.WeightedBinaryCrossentropy(pos_weight)


def _l1(pos_weight=None, occupancy_rate=None):
    if pos_weight is not None:
        raise ValueError("loss.pos_weight applies to weighted_bce only; leave it null for l1")
    return voxel_l1.VoxelL1()


LOSSES = {"weighted_bce": _weighted_bce, "l1": _l1}


def build(name, **kwargs):
    """The Keras loss registered under `name`, built with `kwargs`."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; registered losses: {', '.join(sorted(LOSSES))}")
    return LOSSES[name](**kwargs)
