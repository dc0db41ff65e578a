"""Exact nearest neighbours between point sets, a chunk of query rows at a time.

For every query point x_i the nearest reference point y_j by Euclidean
distance. A chunk of C query rows is compared with all M reference points as
`|x|^2 - 2 x.y + |y|^2` (one batched matmul), so the search holds a
`[B, C, M]` block, never the whole `[B, N, M]` matrix: memory
O(B * C * M + B * (N + M)), time O(B * N * M). The squared distances that
come back are recomputed from the chosen pairs as `|x_i - y_j|^2`, which is
exact (no cancellation in the expansion) and differentiable with respect to
both point sets; the choice itself gets no gradient, as in PyTorch3D's
`knn_points`. In float32 the expansion may pick, among neighbours whose
squared distances differ by less than about 1e-7 times `|x|^2 + |y|^2`, a
different one than exact arithmetic would.
"""

import tensorflow as tf

from tf3d.geometry import batching

# Default chunk: rows such that one [B, C, M] block holds about 2^22 entries
# (16 MiB in float32); below that, per-chunk overhead starts to show.
BLOCK_ENTRIES = 1 << 22


def _chunk_rows(chunk_size, batch, num_ref):
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
        return tf.constant(int(chunk_size), tf.int32)
    return tf.maximum(1, BLOCK_ENTRIES // tf.maximum(batch * num_ref, 1))


def _search(x, y, y_valid, rows):
    """`[B, N]` int32 index into y of each row of x; no gradient."""
    batch, num = tf.shape(x)[0], tf.shape(x)[1]
    rows = tf.minimum(rows, tf.maximum(num, 1))
    num_chunks = (num + rows - 1) // rows
    padded = tf.pad(x, [[0, 0], [0, num_chunks * rows - num], [0, 0]])
    chunks = tf.transpose(tf.reshape(padded, [batch, num_chunks, rows, -1]),
                          [1, 0, 2, 3])  # [n_chunks, B, C, D]
    y_norm = tf.reduce_sum(tf.square(y), axis=-1)[:, None, :]  # [B, 1, M]
    far = tf.constant(float("inf"), x.dtype)

    def nearest(chunk):  # [B, C, D] -> [B, C]
        d2 = (tf.reduce_sum(tf.square(chunk), axis=-1)[..., None] + y_norm
              - 2.0 * tf.matmul(chunk, y, transpose_b=True))  # [B, C, M]
        return tf.argmin(tf.where(y_valid[:, None, :], d2, far), axis=-1, output_type=tf.int32)

    index = tf.map_fn(nearest, chunks, fn_output_signature=tf.TensorSpec(None, tf.int32),
                      parallel_iterations=1)  # one block alive at a time
    return tf.reshape(tf.transpose(index, [1, 0, 2]), [batch, -1])[:, :num]


def nearest_neighbors(x, y, x_lengths=None, y_lengths=None, chunk_size=None):
    """Nearest point of `y` for every point of `x`.

    Args:
      x: `[B, N, D]` or `[N, D]` query points.
      y: `[B, M, D]` or `[M, D]` reference points (same batchedness and D as x),
        converted to x's dtype.
      x_lengths: optional `[B]` valid rows of x; the others get an answer too,
        which callers mask.
      y_lengths: optional `[B]` valid rows of y; padding rows are never chosen.
        A set with no valid point gives index 0 and an infinite distance.
      chunk_size: query rows per block (None: about 2^22 / (B * M)); memory is
        O(B * chunk_size * M).

    Returns:
      `(squared_distances, indices)`: `[B, N]` (`[N]` unbatched) in x's dtype,
      differentiable with respect to x and y, and int32 rows of y.

    10k x 10k points cost about 94 MiB and half a second for a chamfer
    distance and its gradient on this repository's 2-core CPU, against
    1.6 GiB for one dense block (`tf3d.losses.chamfer` gives the measurement).
    """
    x, y, batched = batching.check_point_pair(x, y)
    batching.check_counts(x_lengths, x, tf.shape(x)[1], "x_lengths")
    y_lengths = batching.check_counts(y_lengths, y, tf.shape(y)[1], "y_lengths")
    tf.debugging.assert_equal(tf.shape(x)[0], tf.shape(y)[0],
                              message="x and y must have the same batch size")
    y_valid = (batching.lengths_mask(y_lengths, tf.shape(y)[1]) if y_lengths is not None
               else tf.ones(tf.shape(y)[:2], tf.bool))
    rows = _chunk_rows(chunk_size, tf.shape(x)[0], tf.shape(y)[1])
    index = _search(tf.stop_gradient(x), tf.stop_gradient(y), y_valid, rows)
    nearest = tf.gather(y, index, axis=1, batch_dims=1)  # [B, N, D]
    d2 = tf.reduce_sum(tf.square(x - nearest), axis=-1)
    if y_lengths is not None:
        d2 = tf.where(y_lengths[:, None] > 0, d2, tf.constant(float("inf"), x.dtype))
    return (d2, index) if batched else (d2[0], index[0])
