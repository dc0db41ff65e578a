"""Pure-TensorFlow reference for `voxel_silhouette` (same signature).

Obviously correct rather than fast: it materializes every sample of every
ray (`[B, h, w, S, 3]`) and lets TensorFlow differentiate the trilinear
gathers, the density integral and the cameras. Tests hold the C++ op to it;
`check_arguments` is the one argument check of both implementations.
"""

import tensorflow as tf

from tf3d.ops import _camera, _checks

MODES = ("drc", "max")


def check_arguments(occupancy, projection, image_size, num_samples, near, far, mode):
    """Converts and checks the arguments shared by the op and the reference.

    Static problems raise `ValueError` here; values (probabilities, cameras,
    the pixel count with a dynamic batch) are checked when the returned
    tensors are computed, raising `tf.errors.InvalidArgumentError`.

    Returns:
      (occupancy, projection, height, width, num_samples, near, far).
    """
    occupancy = tf.convert_to_tensor(occupancy)
    if not occupancy.dtype.is_floating:
        occupancy = tf.cast(occupancy, tf.float32)
    if occupancy.shape.rank != 4:
        raise ValueError(f"occupancy must have shape [B, X, Y, Z], got {occupancy.shape}")
    projection = tf.cast(_camera.check_projection(projection, occupancy.shape[0]), occupancy.dtype)
    height, width = _camera.image_size_pair(image_size)
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    near, far = _checks.finite_scalar(near, "near"), _checks.finite_scalar(far, "far")
    if not near < far:
        raise ValueError(f"near must be less than far, got near={near}, far={far}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    occupancy = _checks.with_checks(occupancy, [
        (~((occupancy >= 0.0) & (occupancy <= 1.0)),  # NaN is bad too
         "occupancy must hold probabilities in [0, 1]; occupancy{index} does not"),
        _checks.pixel_count_check(tf.shape(occupancy)[0], height, width)])
    projection = _checks.with_checks(projection, _camera.projection_checks(projection, True))
    return occupancy, projection, height, width, int(num_samples), near, far


def _trilinear(grid, points):
    """Samples `[B, X, Y, Z, C]` at world `[B, N, 3]` points -> `[B, N, C]`; zero outside."""
    dims = tf.shape(grid)[1:4]
    dims_f = tf.cast(dims, points.dtype)
    g = (points + 0.5) * dims_f - 0.5  # integer g = voxel centre
    # Samples a whole voxel or more outside read nothing; clamping them first
    # keeps the int32 cast in range.
    g = tf.clip_by_value(g, -2.0, tf.cast(tf.reduce_max(dims), points.dtype) + 1.0)
    lo = tf.floor(g)
    frac = g - lo
    lo = tf.cast(lo, tf.int32)
    batch = tf.broadcast_to(tf.range(tf.shape(grid)[0])[:, None], tf.shape(lo)[:2])
    value = tf.zeros(tf.concat([tf.shape(points)[:2], tf.shape(grid)[4:]], 0), points.dtype)
    for corner in range(8):
        offset = tf.constant([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1], tf.int32)
        index = lo + offset
        inside = tf.reduce_all((index >= 0) & (index < dims), axis=-1)
        weight = tf.reduce_prod(tf.where(offset == 1, frac, 1.0 - frac), axis=-1)
        safe = tf.clip_by_value(index, 0, dims - 1)
        gathered = tf.gather_nd(grid, tf.concat([batch[..., None], safe], -1))  # [B, N, C]
        value += tf.where(inside, weight, tf.zeros_like(weight))[..., None] * gathered
    return value


def voxel_silhouette_reference(occupancy, projection, image_size, *, num_samples, near, far,
                               perspective=True, mode="drc"):
    """Silhouettes of occupancy grids by ray sampling (see `voxel_silhouette`).

    Args:
      occupancy: `[B, X, Y, Z]` probabilities in [0, 1], float32 or float64.
      projection: `[B, 3, 4]` cameras.
      image_size: `h` (square) or `(h, w)`.
      num_samples: S midpoint samples per ray at depths `near + (i + 0.5) (far - near) / S`.
      near, far: finite depth range integrated.
      perspective: whether `projection` divides by depth.
      mode: `"drc"` (density integral, `1 - exp(-integral sigma dl)`) or `"max"`.

    Returns:
      `[B, h, w]` silhouettes in the dtype of `occupancy`, differentiable with
      respect to `occupancy` and `projection`.
    """
    occupancy, projection, height, width, num_samples, near, far = check_arguments(
        occupancy, projection, image_size, num_samples, near, far, mode)
    return render_checked(occupancy, projection, height, width, num_samples, near, far,
                          perspective, mode)


def render_checked(occupancy, projection, height, width, num_samples, near, far, perspective, mode,
                   trilinear=_trilinear):
    """The reference's body on `check_arguments`' outputs (no checks: XLA-compilable).

    `trilinear(grid [B, X, Y, Z, C], points [B, N, 3]) -> [B, N, C]` samples
    the grid; `voxel_silhouette_xla` passes one that gathers all eight
    corners at once.
    """
    dtype = occupancy.dtype
    origin, direction = _camera.pixel_rays(projection, height, width, perspective)  # [B, h, w, 3]
    step = (far - near) / num_samples
    depths = tf.constant([near + (i + 0.5) * step for i in range(num_samples)], dtype)  # [S]
    points = origin[:, :, :, None, :] + depths[:, None] * direction[:, :, :, None, :]  # [B, h, w, S, 3]
    batch = tf.shape(occupancy)[0]
    points = tf.reshape(points, [batch, -1, 3])
    if mode == "max":
        samples = trilinear(occupancy[..., None], points)[..., 0]
        samples = tf.reshape(samples, [batch, height, width, num_samples])
        # First maximum, as the kernel picks it, so that gradients agree on ties.
        first = tf.argmax(samples, axis=-1)
        return tf.gather(samples, first, axis=-1, batch_dims=3)
    # Density per voxel length, sigma = -log(1 - p), so that one voxel crossed
    # along an axis lets a ray escape with DRC's probability 1 - p. Opaque
    # voxels (p = 1, infinite density) are a separate flag: any positive
    # interpolation weight on one blocks the ray.
    opaque = occupancy >= 1.0
    sigma = -tf.math.log1p(-tf.where(opaque, tf.zeros_like(occupancy), occupancy))
    fields = tf.stack([sigma, tf.cast(opaque, dtype)], axis=-1)  # [B, X, Y, Z, 2]
    samples = tf.reshape(trilinear(fields, points), [batch, height, width, num_samples, 2])
    density_sum = tf.reduce_sum(samples[..., 0], axis=-1)  # [B, h, w]
    blocked = tf.reduce_any(samples[..., 1] > 0.0, axis=-1)
    dims = tf.cast(tf.shape(occupancy)[1:4], dtype)
    step_voxels = step * tf.norm(direction * dims, axis=-1)  # each step's length in voxels
    return tf.where(blocked, tf.ones_like(density_sum), -tf.math.expm1(-step_voxels * density_sum))
