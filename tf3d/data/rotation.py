"""Rotating a voxel grid into a view's viewer-centred frame, inside `tf.data`.

The frame is the one `tf3d.conventions` defines: the target for a view of
azimuth `az` is the grid `v'` with

    v'[p'] = v[rotation_y(az) @ p']        (p' a voxel centre, world units)

so that `v'` seen through the azimuth-0 camera (same elevation) looks like `v`
seen through the camera of azimuth `az`. Voxels whose source falls outside the
cube are empty.

Resampling that drops nothing. At a quarter turn voxel centres map onto voxel
centres and the rotation is a permutation. At other angles plain
nearest-neighbour resampling (each target voxel reads the source voxel its
centre turns into) never reads about 17% of the source columns (3 - 2 sqrt(2)
of a large area) and reads as many twice, so a one-voxel leg in an unread
column vanishes from the 45-degree target while the image shows it. tf3d's
targets are therefore the union of two nearest-neighbour maps:

    v'[t] = v[inverse(t)]  OR  any v[s] with forward(s) = t

`inverse(t)` is the source column the target column's centre turns into, and
`forward(s)` the target column a source column's centre turns into. Every
occupied source voxel lands in the target (none is dropped), and no target
voxel is set without an occupied source voxel within one voxel of it; the
price is a slight thickening of diagonal parts (on the default build, 2.6% more
voxels at 45 degrees on average, 37% at most: `python -m pipelines.verify DIR
--rotation`).
A rotated unit lattice puts at most two centres in a half-open unit square,
so `forward` needs at most two sources per target column: each target column
is the OR of K = 3 source columns.

Three ways to compute `v'`, all the same map:

* `rotate_exact`: a quarter-turn multiple, done with transposes and reverses
  (no resampling at all; voxel centres map onto voxel centres).
* `rotation_indices` + `gather_rotated`: the indices computed from the angle
  on the fly, for any azimuth (R2N2 records carry their own, arbitrary ones).
* `ViewpointRotation`: indices precomputed once per fixed viewpoint of a
  `ViewpointSet` (a `[V, R^2, K]` table); quarter turns are the exact
  permutation (`quarter_turn_indices`).

A rotation about +Y moves whole columns along Y, so indices address columns:
the flat `i * R + k` of a source column (i, k) for every target column, K of
them, with `R^2` meaning "empty". One gather then moves `K R^2` rows of `R`
voxels instead of `R^3` single voxels. Records store each Y column as
contiguous bytes (`tf3d.data.records.pack_voxels`), so the input pipeline
applies the same indices to still-packed grids (`gather_rotated_packed`) and
unpacks once afterwards.

`rotate_voxels_reference` is the slow NumPy reference the tests compare with.
Functions other than the reference take a batch: voxels `[B, X, Y, Z]`.
"""

import numpy as np

from tf3d import conventions

_EXACT_TOLERANCE_DEG = 1e-3
# Source points that fall exactly on a voxel face (x = +-z at 45 degrees) are
# ties that round-off would break differently in NumPy and TF; a fixed nudge
# (in voxel units) breaks them the same way everywhere.
_TIE_NUDGE = 1e-4


def quarter_turns(azimuth_deg):
    """Number of quarter turns (0..3) if `azimuth_deg` is a multiple of 90 degrees, else None."""
    turns = float(azimuth_deg) / 90.0
    nearest = round(turns)
    if abs(turns - nearest) * 90.0 > _EXACT_TOLERANCE_DEG:
        return None
    return int(nearest) % 4


def _source_points(azimuth_deg, resolution):
    """`[R^3, 3]` continuous source voxel coordinates of every target voxel (NumPy)."""
    centres = conventions.voxel_centers(resolution)
    grid = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), -1).reshape(-1, 3)
    source = grid @ conventions.rotation_y(azimuth_deg).T  # [R^3, 3]: rotation_y(az) @ p'
    return conventions.world_to_voxel(source, resolution) + _TIE_NUDGE


def rotate_voxels_reference(voxels, azimuth_deg):
    """Slow NumPy reference: `[X, Y, Z]` grid -> the same grid in the view's frame.

    Voxel by voxel: the inverse nearest-neighbour map, then every source
    voxel written where its own centre turns (the module docstring's union).
    """
    voxels = np.asarray(voxels)
    if voxels.ndim != 3 or len(set(voxels.shape)) != 1:
        raise ValueError(f"voxels must have shape [R, R, R], got {voxels.shape}")
    resolution = voxels.shape[0]
    out = np.zeros_like(voxels)
    for flat, point in enumerate(_source_points(azimuth_deg, resolution)):
        index = np.floor(point).astype(int)
        if np.all((index >= 0) & (index < resolution)):
            out[np.unravel_index(flat, voxels.shape)] = voxels[tuple(index)]
    if quarter_turns(azimuth_deg) is not None:
        return out  # a permutation: the forward map is the same one
    centres = conventions.voxel_centers(resolution)
    grid = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), -1).reshape(-1, 3)
    turned = grid @ conventions.viewer_rotation(azimuth_deg).T  # where each source centre lands
    targets = np.floor(conventions.world_to_voxel(turned, resolution) + _TIE_NUDGE).astype(int)
    for flat, target in enumerate(targets):
        source = np.unravel_index(flat, voxels.shape)
        if voxels[source] and np.all((target >= 0) & (target < resolution)):
            out[tuple(target)] = np.maximum(out[tuple(target)], voxels[source])
    return out


SOURCES_PER_COLUMN = 3  # K: the inverse source and at most two forward ones (module docstring)


def _nearest_columns_numpy(rotation, resolution):
    """`[R^2]` flat column `i * R + k` holding each column centre turned by `rotation`; R^2 = outside."""
    centres = conventions.voxel_centers(resolution)
    x, z = np.meshgrid(centres, centres, indexing="ij")
    points = np.stack([x, np.zeros_like(x), z], -1).reshape(-1, 3) @ rotation.T  # [R^2, 3]
    index = np.floor(conventions.world_to_voxel(points, resolution) + _TIE_NUDGE).astype(np.int64)
    i, k = index[:, 0], index[:, 2]
    inside = (i >= 0) & (i < resolution) & (k >= 0) & (k < resolution)
    return np.where(inside, i * resolution + k, resolution ** 2)


def landing_columns_numpy(azimuth_deg, resolution):
    """`[R^2]` the target column `i * R + k` each source column's centre turns into; `R^2` = outside.

    The forward map of the module docstring: where a voxel of the object's
    grid lands in the frame of a view of azimuth `azimuth_deg`.
    """
    return _nearest_columns_numpy(conventions.viewer_rotation(azimuth_deg), resolution).astype(np.int32)


def rotation_indices_numpy(azimuth_deg, resolution):
    """`[R^2, K]` int32 source columns `i * R + k` per target column; `R^2` marks "empty".

    Column 0 is the inverse nearest-neighbour source, columns 1 and 2 the
    sources whose centres land in the target column (lowest and highest
    index; `R^2` where there are none, repeated where there is one).
    """
    size = resolution ** 2
    inverse = _nearest_columns_numpy(conventions.rotation_y(azimuth_deg), resolution)
    forward = landing_columns_numpy(azimuth_deg, resolution)  # [R^2] targets
    low = np.full(size + 1, size, np.int64)
    high = np.full(size + 1, -1, np.int64)
    sources = np.arange(size)
    np.minimum.at(low, forward, sources)
    np.maximum.at(high, forward, sources)
    high = np.where(high < 0, size, high)
    return np.stack([inverse, low[:size], high[:size]], axis=1).astype(np.int32)


def rotation_indices(azimuth_deg, resolution):
    """TF version of `rotation_indices_numpy` for azimuths known only at run time.

    Args:
      azimuth_deg: `[B]` float tensor of azimuths in degrees.
      resolution: python int R.

    Returns:
      `[B, R^2, K]` int32 source columns `i * R + k`; `R^2` means empty.
    """
    import tensorflow as tf

    azimuth = tf.cast(tf.convert_to_tensor(azimuth_deg), tf.float64) * (np.pi / 180.0)
    c = tf.cast(tf.cos(azimuth), tf.float32)[:, None]  # [B, 1]
    s = tf.cast(tf.sin(azimuth), tf.float32)[:, None]
    # In voxel units about the cube centre, so that round-off stays far below the tie nudge.
    centres = np.arange(resolution) + 0.5 - resolution / 2.0
    x, z = (t.reshape(1, -1).astype(np.float32) for t in np.meshgrid(centres, centres, indexing="ij"))
    offset = resolution / 2.0 + _TIE_NUDGE
    size = resolution ** 2

    def nearest(sin):
        # rotation_y(az) @ p = (c x + s z, y, -s x + c z); viewer_rotation(az) flips the sign of s.
        i = tf.cast(tf.floor(c * x + sin * z + offset), tf.int32)  # [B, R^2]
        k = tf.cast(tf.floor(c * z - sin * x + offset), tf.int32)
        inside = (i >= 0) & (i < resolution) & (k >= 0) & (k < resolution)
        return tf.where(inside, i * resolution + k, size)

    inverse, forward = nearest(s), nearest(-s)  # [B, R^2] each
    # Lowest and highest source landing in each target column: segment b * (R^2 + 1) + target.
    batch = tf.shape(forward)[0]
    segments = forward + tf.range(batch)[:, None] * (size + 1)
    sources = tf.broadcast_to(tf.range(size)[None], tf.shape(forward))
    count = batch * (size + 1)
    low = tf.math.unsorted_segment_min(sources, segments, count)  # int32 max where none
    high = tf.math.unsorted_segment_max(sources, segments, count)  # int32 min where none
    low = tf.reshape(tf.where(low > size, size, low), [batch, size + 1])[:, :size]
    high = tf.reshape(tf.where(high < 0, size, high), [batch, size + 1])[:, :size]
    return tf.stack([inverse, low, high], axis=-1)


def gather_rotated(voxels, indices):
    """Resamples a batch of grids column by column: the max over each target column's sources.

    Args:
      voxels: `[B, R, R, R]` tensor (a numeric dtype; occupancy >= 0).
      indices: `[B, R^2, K]` int32 source columns from `rotation_indices` or a
        `ViewpointRotation` (R^2 = empty); `[B, R^2]` for one source each.

    Returns:
      `[B, R, R, R]` tensor of the same dtype.
    """
    import tensorflow as tf

    resolution = voxels.shape[-1]
    columns = tf.reshape(tf.transpose(voxels, [0, 1, 3, 2]), [-1, resolution ** 2, resolution])  # [B, X*Z, Y]
    columns = tf.concat([columns, tf.zeros_like(columns[:, :1])], axis=1)  # empty column at R^2
    moved = tf.gather(columns, indices, batch_dims=1)  # [B, X*Z, (K,) Y]
    if indices.shape.rank == 3:
        moved = tf.reduce_max(moved, axis=2)  # [B, X*Z, Y]: OR of the sources
    return tf.transpose(tf.reshape(moved, [-1, resolution, resolution, resolution]), [0, 1, 3, 2])


def gather_rotated_packed(packed, indices, resolution):
    """`gather_rotated` on packed grids: moves each Y column's bytes as one row.

    Args:
      packed: uint8 `[B, R * R * ceil(R / 8)]` (`records.pack_voxels`: Y columns in (x, z) order).
      indices: `[B, R^2, K]` (or `[B, R^2]`) int32 source columns (R^2 = empty), as for `gather_rotated`.
      resolution: R.

    Returns:
      uint8 `[B, R * R * ceil(R / 8)]`, still packed: the bitwise OR of each target column's sources.
    """
    import tensorflow as tf

    per_column = -(-resolution // 8)
    columns = tf.reshape(packed, [-1, resolution * resolution, per_column])  # [B, X*Z, Yb]
    columns = tf.pad(columns, [[0, 0], [0, 1], [0, 0]])  # empty column at R^2
    moved = tf.gather(columns, indices, batch_dims=1)  # [B, X*Z, (K,) Yb]
    if indices.shape.rank == 3:
        parts = tf.unstack(moved, axis=2)
        moved = parts[0]
        for part in parts[1:]:
            moved = tf.bitwise.bitwise_or(moved, part)  # [B, X*Z, Yb]
    return tf.reshape(moved, [-1, resolution * resolution * per_column])


def rotate_exact(voxels, turns):
    """Exact rotation by `turns` quarter turns (python int) of a `[B, X, Y, Z]` batch.

    With rotation_y(90) @ (x, y, z) = (z, y, -x): v'[i, j, k] = v[k, j, R-1-i].
    """
    import tensorflow as tf

    turns = int(turns) % 4
    for _ in range(turns):
        voxels = tf.reverse(tf.transpose(voxels, [0, 3, 2, 1]), axis=[1])
    return voxels


def rotate_voxels(voxels, azimuth_deg):
    """Rotates a batch into the viewer-centred frames of arbitrary azimuths.

    Quarter-turn azimuths are exact (nearest-neighbour resampling maps voxel
    centres onto voxel centres there, so the gather path gives the same grid);
    the indices are computed from the angles inside the graph.

    Args:
      voxels: `[B, R, R, R]`.
      azimuth_deg: `[B]` degrees.

    Returns:
      `[B, R, R, R]`.
    """
    resolution = int(voxels.shape[-1])
    return gather_rotated(voxels, rotation_indices(azimuth_deg, resolution))


def quarter_turn_indices(turns, resolution):
    """`[R^2]` int32 source columns of the exact quarter-turn rotation (a permutation).

    Built by applying `np.rot90` to the grid of column numbers, so gathering
    with it is `rotate_exact` without any floating-point arithmetic.
    """
    index = np.arange(resolution ** 2, dtype=np.int32).reshape(resolution, resolution)  # [X, Z]
    # v'[i, :, k] = v[k, :, R-1-i] per quarter turn: np.rot90 from +X towards +Z.
    return np.rot90(index, k=int(turns) % 4, axes=(0, 1)).reshape(-1).copy()


class ViewpointRotation:
    """Viewer-centred rotation for the fixed viewpoints of a dataset.

    One gather per batch with column indices precomputed per viewpoint
    (`[V, R^2, K]` int32, 12 KiB per view at R = 32): for quarter-turn azimuths the
    exact rotation permutation (`quarter_turn_indices`), for the others the
    union of the two nearest-neighbour maps (`rotation_indices_numpy`).

    Args:
      azimuths: sequence of V azimuths in degrees (`ViewpointSet.azimuths`).
      resolution: voxel resolution R.

    Call arguments:
      voxels: `[B, R, R, R]` tensor.
      view: `[B]` int view indices into `azimuths`.

    Returns:
      `[B, R, R, R]` tensor: each grid in its view's frame.
    """

    def __init__(self, azimuths, resolution=conventions.DEFAULT_RESOLUTION):
        if len(azimuths) == 0:
            raise ValueError("azimuths must name at least one viewpoint")
        self.azimuths = tuple(float(a) for a in azimuths)
        self.resolution = int(resolution)
        self.table = np.stack([
            rotation_indices_numpy(a, self.resolution) if quarter_turns(a) is None
            else np.repeat(quarter_turn_indices(quarter_turns(a), self.resolution)[:, None],
                           SOURCES_PER_COLUMN, axis=1) for a in self.azimuths])  # [V, R^2, K]

    def indices(self, view):
        """`[B, R^2, K]` int32 column indices of the views `view` (`[B]`)."""
        import tensorflow as tf

        return tf.gather(tf.constant(self.table), tf.cast(view, tf.int32))

    def __call__(self, voxels, view):
        return gather_rotated(voxels, self.indices(view))
