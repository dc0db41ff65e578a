"""`voxel_silhouette` in XLA-compiled TensorFlow: the fair pure-TF baseline for benchmarks.

The reference (`voxel_silhouette_reference`) is written to be obviously
correct: eight `gather_nd`s, one per trilinear corner, run op by op. A
TensorFlow user after speed would instead gather all eight corners of every
sample at once from the flattened grid and compile the whole forward and
backward pass with XLA (`tf.function(jit_compile=True)`), which fuses the
per-sample arithmetic and the reductions. That is this module: the
reference's density integral (`render_checked`) with `_trilinear_gather`
for its sampler. Same values and gradients as the reference, to float
rounding (`tests/test_ops_voxel_silhouette_xla.py`).

The argument checks raise through `tf.debugging.Assert` with formatted
strings, which XLA cannot compile, so `voxel_silhouette_xla` runs them first
(eagerly, or as ordinary graph ops) and compiles only the rendering;
`render_xla` is the compiled part, for callers (benchmarks) that compile a
larger step around it.
"""

import tensorflow as tf

from tf3d.ops.voxel_silhouette_reference import check_arguments, render_checked

# The eight corners of a voxel cell, (dx, dy, dz) in {0, 1}^3, in the reference's order.
_CORNERS = tuple(((c >> 2) & 1, (c >> 1) & 1, c & 1) for c in range(8))


def _trilinear_gather(grid, points):
    """Samples `[B, X, Y, Z, C]` at world `[B, N, 3]` points -> `[B, N, C]`; zero outside.

    The reference's `_trilinear` with one `tf.gather` of `[B, N, 8]` flat
    indices instead of eight `gather_nd`s.
    """
    corners = tf.constant(_CORNERS, tf.int32)  # [8, 3]
    shape = tf.shape(grid)
    dims = shape[1:4]
    dims_f = tf.cast(dims, points.dtype)
    g = (points + 0.5) * dims_f - 0.5  # integer g = voxel centre
    g = tf.clip_by_value(g, -2.0, tf.cast(tf.reduce_max(dims), points.dtype) + 1.0)
    lo = tf.floor(g)
    frac = (g - lo)[:, :, None, :]  # [B, N, 1, 3]
    index = tf.cast(lo, tf.int32)[:, :, None, :] + corners  # [B, N, 8, 3]
    inside = tf.reduce_all((index >= 0) & (index < dims), axis=-1)  # [B, N, 8]
    weight = tf.reduce_prod(tf.where(corners == 1, frac, 1.0 - frac), axis=-1)  # [B, N, 8]
    weight = tf.where(inside, weight, tf.zeros_like(weight))
    safe = tf.clip_by_value(index, 0, dims - 1)
    batch = tf.range(shape[0])[:, None, None]  # [B, 1, 1]
    flat = ((batch * dims[0] + safe[..., 0]) * dims[1] + safe[..., 1]) * dims[2] + safe[..., 2]
    values = tf.gather(tf.reshape(grid, [-1, shape[4]]), flat)  # [B, N, 8, C]
    return tf.einsum("bnk,bnkc->bnc", weight, values)


def render_xla(occupancy, projection, height, width, num_samples, near, far, perspective, mode):
    """The unchecked rendering (`render_checked` with the one-gather sampler); compiles under XLA."""
    return render_checked(occupancy, projection, height, width, num_samples, near, far,
                          perspective, mode, trilinear=_trilinear_gather)


_render_compiled = tf.function(render_xla, jit_compile=True)


def voxel_silhouette_xla(occupancy, projection, image_size, *, num_samples, near, far,
                         perspective=True, mode="drc"):
    """Silhouettes of occupancy grids, XLA-compiled pure TensorFlow.

    Takes and returns what `voxel_silhouette_reference` does: `[B, X, Y, Z]`
    occupancy probabilities and `[B, 3, 4]` cameras in, `[B, h, w]`
    silhouettes out (occupancy's dtype), differentiable with respect to both.
    """
    occupancy, projection, height, width, num_samples, near, far = check_arguments(
        occupancy, projection, image_size, num_samples, near, far, mode)
    return _render_compiled(occupancy, projection, height, width, num_samples, near, far,
                            bool(perspective), mode)
