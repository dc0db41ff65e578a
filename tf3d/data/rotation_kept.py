"""Whether a grid's occupied voxels survive the rotation into each view's frame.

The input pipeline rotates every target about +Y into the frame of the view
it is paired with (`tf3d.data.rotation`). A voxel can be lost in two ways:
its column turns out of the cube (the corners of a footprint that fills the
cube, at 45 degrees; `tf3d.conventions.normalization` prevents it), or the
resampling never reads it (plain nearest-neighbour resampling skips ~17% of
the columns at 45 degrees, and a one-voxel leg there vanishes; tf3d's
resampling adds the forward map so that nothing is skipped).

For one grid and one view, with the rotated grid computed exactly as the
input pipeline does (`rotated_targets`: packed records, the pipeline's
column indices and `gather_rotated_packed`):

    kept = |occupied voxels whose centre, turned into the view's frame, falls in an
            occupied voxel of the rotated grid| / |occupied voxels|

A voxel whose centre turns out of the cube counts as lost. Quarter turns are
permutations and keep exactly 1. `added_fraction` says the opposite side:
how many more voxels the rotated grid holds than the grid (the thickening
of diagonal parts that the union of the two maps costs).
"""

import numpy as np

from tf3d.data import records, rotation

KEPT_BAR = (0.99, 0.95)  # (mean over all (grid, view) pairs, min over them)


def viewpoint_indices(azimuths, resolution):
    """`[V, R^2, K]` int32 source columns per view: the table the pipeline gathers with.

    Args:
      azimuths: V azimuths in degrees (a dataset's fixed `ViewpointSet.azimuths`).
      resolution: R.
    """
    return rotation.ViewpointRotation(azimuths, resolution).table


def record_indices(azimuths, resolution):
    """`[V, R^2, K]` int32 source columns computed from per-record azimuths.

    What the pipeline uses for datasets without fixed viewpoints
    (`rotation_mode="angle"`, e.g. 3D-R2N2): `rotation.rotation_indices`,
    evaluated in TensorFlow as there.
    """
    return rotation.rotation_indices(np.asarray(azimuths, dtype=np.float32), int(resolution)).numpy()


def _occupied(voxels):
    voxels = np.asarray(voxels)
    if voxels.ndim != 3 or len(set(voxels.shape)) != 1:
        raise ValueError(f"voxels must have shape [R, R, R], got {voxels.shape}")
    return voxels if voxels.dtype == bool else voxels > 0.5


def rotated_targets(voxels, indices):
    """The grid in every view's frame, as the input pipeline computes it.

    Args:
      voxels: `[R, R, R]` occupancy (bool, or values > 0.5 occupied).
      indices: `[V, R^2, K]` (or `[V, R^2]`) source columns (`viewpoint_indices`,
        `record_indices`), `R^2` meaning empty.

    Returns:
      bool `[V, R, R, R]`.
    """
    import tensorflow as tf

    occupied = _occupied(voxels)
    resolution = occupied.shape[0]
    indices = np.asarray(indices)
    if indices.ndim not in (2, 3) or indices.shape[1] != resolution ** 2:
        raise ValueError(f"indices must have shape [V, {resolution ** 2}, K] for resolution {resolution}, "
                         f"got {indices.shape}")
    if indices.min(initial=0) < 0 or indices.max(initial=0) > resolution ** 2:
        raise ValueError(f"indices must lie in [0, {resolution ** 2}] (R^2 = empty)")
    packed = np.frombuffer(records.pack_voxels(occupied), np.uint8)
    packed = tf.constant(np.repeat(packed[None], len(indices), axis=0))
    moved = rotation.gather_rotated_packed(packed, tf.constant(indices, tf.int32), resolution)
    return records.unpack_voxels_tf(moved, resolution, tf.uint8).numpy().astype(bool)


def kept_fraction(voxels, rotated, azimuths):
    """Fraction of occupied voxels found where their centres turn in each rotated grid.

    Args:
      voxels: `[R, R, R]` occupancy of the object's grid.
      rotated: `[V, R, R, R]` the grid in each view's frame (`rotated_targets`).
      azimuths: V azimuths in degrees.

    Returns:
      `[V]` float64 in [0, 1]; 1 for an empty grid.
    """
    occupied = _occupied(voxels)
    resolution = occupied.shape[0]
    rotated = np.asarray(rotated, dtype=bool)
    azimuths = np.asarray(azimuths, dtype=np.float64).reshape(-1)
    if rotated.shape != (len(azimuths),) + occupied.shape:
        raise ValueError(f"rotated must have shape [V, R, R, R] = {(len(azimuths),) + occupied.shape}, "
                         f"got {rotated.shape}")
    total = occupied.sum()
    if total == 0:
        return np.ones(len(azimuths))
    columns = np.transpose(occupied, (0, 2, 1)).reshape(resolution ** 2, resolution)  # [X*Z, Y]
    kept = []
    for azimuth, target in zip(azimuths, rotated):
        landing = rotation.landing_columns_numpy(azimuth, resolution)  # [X*Z], R^2 = out of the cube
        target = np.transpose(target, (0, 2, 1)).reshape(resolution ** 2, resolution)
        target = np.concatenate([target, np.zeros((1, resolution), bool)])  # nothing out of the cube
        kept.append((columns & target[landing]).sum() / total)
    return np.asarray(kept, dtype=np.float64)


def added_fraction(voxels, rotated):
    """`[V]` occupied voxels of each rotated grid over those of the grid, minus 1 (0 for an empty grid)."""
    total = _occupied(voxels).sum()
    counts = np.asarray(rotated, dtype=bool).reshape(len(rotated), -1).sum(axis=1)
    return counts / total - 1.0 if total else np.zeros(len(rotated))


def outside_fraction(voxels, azimuths):
    """Fraction of occupied voxels whose column turns out of the grid in each view's frame.

    That part of `1 - kept_fraction` no resampling can avoid; the
    normalization (`conventions.normalization`) is there to keep it 0.

    Args:
      voxels: `[R, R, R]` occupancy.
      azimuths: V azimuths in degrees.

    Returns:
      `[V]` float64 in [0, 1]; 0 for an empty grid.
    """
    occupied = _occupied(voxels)
    resolution = occupied.shape[0]
    columns = occupied.sum(axis=1).reshape(-1)  # [X*Z]: occupied voxels per column
    total = columns.sum()
    out = [columns[rotation.landing_columns_numpy(a, resolution) == resolution ** 2].sum() / total
           if total else 0.0 for a in np.asarray(azimuths, dtype=np.float64).reshape(-1)]
    return np.asarray(out, dtype=np.float64)


def meets_bar(kept, bar=KEPT_BAR):
    """Whether `kept` values (any shape) meet `bar` = (minimum mean, minimum min)."""
    kept = np.asarray(kept, dtype=np.float64)
    return bool(kept.size and kept.mean() >= bar[0] and kept.min() >= bar[1])
