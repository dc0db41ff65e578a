"""Pure-TensorFlow reference for `voxel_silhouette` (same signature).

Obviously correct rather than fast: it materializes every sample of every
ray (`[B, h, w, S, 3]`) and lets TensorFlow differentiate the trilinear
gathers and the product. Tests hold the C++ op to it.
"""

import tensorflow as tf

from tf3d.ops import _camera

MODES = ("drc", "max")


def check_arguments(occupancy, projection, image_size, num_samples, near, far, mode):
    """Converts and checks the arguments shared by the op and the reference."""
    occupancy = tf.convert_to_tensor(occupancy)
    if not occupancy.dtype.is_floating:
        occupancy = tf.cast(occupancy, tf.float32)
    if occupancy.shape.rank != 4:
        raise ValueError(f"occupancy must have shape [B, X, Y, Z], got {occupancy.shape}")
    projection = tf.cast(_camera.check_projection(projection, occupancy.shape[0]), occupancy.dtype)
    height, width = _camera.image_size_pair(image_size)
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if not float(near) < float(far):
        raise ValueError(f"near must be less than far, got near={near}, far={far}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return occupancy, projection, height, width


def _trilinear(grid, points):
    """Samples `[B, X, Y, Z]` at world `[B, N, 3]` points -> `[B, N]`; zero outside."""
    dims = tf.shape(grid)[1:]
    dims_f = tf.cast(dims, points.dtype)
    g = (points + 0.5) * dims_f - 0.5  # integer g = voxel centre
    # Samples a whole voxel or more outside read nothing; clamping them first
    # keeps the int32 cast in range.
    g = tf.clip_by_value(g, -2.0, tf.cast(tf.reduce_max(dims), points.dtype) + 1.0)
    lo = tf.floor(g)
    frac = g - lo
    lo = tf.cast(lo, tf.int32)
    batch = tf.broadcast_to(tf.range(tf.shape(grid)[0])[:, None], tf.shape(lo)[:2])
    value = tf.zeros_like(points[..., 0])
    for corner in range(8):
        offset = tf.constant([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1], tf.int32)
        index = lo + offset
        inside = tf.reduce_all((index >= 0) & (index < dims), axis=-1)
        weight = tf.reduce_prod(tf.where(offset == 1, frac, 1.0 - frac), axis=-1)
        safe = tf.clip_by_value(index, 0, dims - 1)
        gathered = tf.gather_nd(grid, tf.concat([batch[..., None], safe], -1))
        value += tf.where(inside, weight * gathered, tf.zeros_like(weight))
    return value


def voxel_silhouette_reference(occupancy, projection, image_size, *, num_samples, near, far,
                               perspective=True, mode="drc"):
    """Silhouettes of occupancy grids by ray sampling (see `voxel_silhouette`).

    Args:
      occupancy: `[B, X, Y, Z]` probabilities, float32 or float64.
      projection: `[B, 3, 4]` cameras.
      image_size: `h` (square) or `(h, w)`.
      num_samples: S samples per ray at depths `near + (i + 0.5) (far - near) / S`.
      near, far: depth range sampled.
      perspective: whether `projection` divides by depth.
      mode: `"drc"` (1 - prod(1 - p)) or `"max"`.

    Returns:
      `[B, h, w]` silhouettes in the dtype of `occupancy`.
    """
    occupancy, projection, height, width = check_arguments(
        occupancy, projection, image_size, num_samples, near, far, mode)
    dtype = occupancy.dtype
    origin, direction = _camera.pixel_rays(projection, height, width, perspective)  # [B, h, w, 3]
    step = (float(far) - float(near)) / num_samples
    depths = tf.constant([near + (i + 0.5) * step for i in range(num_samples)], dtype)  # [S]
    points = origin[:, :, :, None, :] + depths[:, None] * direction[:, :, :, None, :]  # [B, h, w, S, 3]
    batch = tf.shape(occupancy)[0]
    samples = _trilinear(occupancy, tf.reshape(points, [batch, -1, 3]))
    samples = tf.reshape(samples, [batch, height, width, num_samples])
    if mode == "max":
        # First maximum, as the kernel picks it, so that gradients agree on ties.
        first = tf.argmax(samples, axis=-1)
        return tf.gather(samples, first, axis=-1, batch_dims=3)
    return 1.0 - tf.reduce_prod(1.0 - samples, axis=-1)
