"""Chamfer distance between point sets (Fan et al. 2017), with an optional normal term.

For point sets X and Y of one batch element,

    d(X, Y) = mean_{x in X} min_{y in Y} |x - y|^2 + mean_{y in Y} min_{x in X} |x - y|^2

(squared distances, both directions; Fan et al. sum where PyTorch3D and tf3d
average), then the mean over the batch, as
PyTorch3D's `chamfer_distance` with its defaults (`point_reduction="mean"`,
`batch_reduction="mean"`). With normals, each point is also compared with the
normal of its nearest neighbour by `1 - |cos|` (orientation-free, as PyTorch3D),
reduced the same way and returned separately.

Cost: two nearest-neighbour searches (`tf3d.geometry.nearest_neighbors`), each
O(B N M) time and O(B C M) memory for C query rows per chunk (default
C = 2^22 / (B M), a 16 MiB float32 block), never the `[B, N, M]` matrix.
Measured on this repository's 2-core CPU with `python benchmarks/chamfer.py`
(B = 1, N = M = 10,000 uniform points, float32, value and gradient with
respect to both sets under `tf.function`, median of 5, three runs): peak
memory 94 MiB above the process's starting resident set (tracing included)
with the default chunk of 419 rows, against 1.6 GiB for the same code with
one `[10k, 10k]` block (`chunk_size=N`) and 1.3 GiB for the textbook dense
formulation compiled with XLA, 17x and 14x more. Time: 0.24-0.64 s chunked,
0.43-0.85 s one block, 0.55-0.86 s dense XLA (the machine was shared, so the
ranges overlap: chunking costs no speed).
"""

import tensorflow as tf

from tf3d.geometry import batching
from tf3d.geometry.nearest_neighbor import nearest_neighbors
from tf3d.geometry.normals import unit_vectors


def _one_direction(x, y, x_lengths, y_lengths, x_normals, y_normals, chunk_size):
    """`([B, N] squared distances, [B, N] normal term or None)`, zero when y is empty."""
    d2, index = nearest_neighbors(x, y, x_lengths, y_lengths, chunk_size)
    found = y_lengths[:, None] > 0
    d2 = tf.where(found, d2, tf.zeros_like(d2))
    if x_normals is None:
        return d2, None
    nearest = tf.gather(unit_vectors(y_normals), index, axis=1, batch_dims=1)
    cosine = tf.reduce_sum(unit_vectors(x_normals) * nearest, axis=-1)
    return d2, tf.where(found, 1.0 - tf.abs(cosine), tf.zeros_like(cosine))


def chamfer_distance(x, y, x_lengths=None, y_lengths=None, x_normals=None, y_normals=None,
                     point_reduction="mean", batch_reduction="mean", chunk_size=None):
    """Symmetric squared chamfer distance between batches of point sets.

    Args:
      x: `[B, N, D]` (or `[N, D]`) float points.
      y: `[B, M, D]` (or `[M, D]`) points, converted to x's dtype.
      x_lengths, y_lengths: optional `[B]` valid points per set (padded batches,
        see `tf3d.geometry`); an empty set contributes 0.
      x_normals, y_normals: optional normals shaped as x and y (any length,
        normalised here); give both or neither.
      point_reduction: "mean" (divide by the set's length) or "sum" over points.
      batch_reduction: "mean", "sum" or None (per-set `[B]` values).
      chunk_size: query rows per nearest-neighbour block (None: automatic).

    Returns:
      `(distance, normal_distance)`: scalars (or `[B]` with `batch_reduction=None`)
      in x's dtype; `normal_distance` is None without normals. Differentiable
      with respect to x, y and the normals.

    Raises:
      ValueError: a shape, a reduction or a lone normals argument is wrong.
    """
    batching.check_reduction(point_reduction, "point_reduction")
    batching.check_reduction(batch_reduction, "batch_reduction", allow_none=True)
    if (x_normals is None) != (y_normals is None):
        raise ValueError("x_normals and y_normals must be given together")
    x, y, batched = batching.check_point_pair(x, y)
    if x_normals is not None:
        x_normals = _normals_like(x_normals, x, batched, "x_normals")
        y_normals = _normals_like(y_normals, y, batched, "y_normals")
    x_lengths = batching.check_lengths(x_lengths, x, "x_lengths")
    y_lengths = batching.check_lengths(y_lengths, y, "y_lengths")
    d_x, n_x = _one_direction(x, y, x_lengths, y_lengths, x_normals, y_normals, chunk_size)
    d_y, n_y = _one_direction(y, x, y_lengths, x_lengths, y_normals, x_normals, chunk_size)
    distance = batching.reduce_batch(batching.reduce_points(d_x, x_lengths, point_reduction)
                                     + batching.reduce_points(d_y, y_lengths, point_reduction),
                                     batch_reduction)
    if x_normals is None:
        return distance, None
    normal_distance = batching.reduce_batch(
        batching.reduce_points(n_x, x_lengths, point_reduction)
        + batching.reduce_points(n_y, y_lengths, point_reduction), batch_reduction)
    return distance, normal_distance


def _normals_like(normals, points, batched, name):
    normals, normals_batched = batching.check_points(normals, name, dims=points.shape[-1],
                                                     dtype=points.dtype)
    if normals_batched != batched or (points.shape[1] is not None and normals.shape[1] is not None
                                      and points.shape[1] != normals.shape[1]):
        shape = points.shape if batched else points.shape[1:]
        raise ValueError(f"{name} must have the shape of its points {shape}, got "
                         f"{normals.shape if normals_batched else normals.shape[1:]}")
    return normals
