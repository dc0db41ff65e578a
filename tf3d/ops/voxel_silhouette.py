"""Differentiable voxel silhouette projection (custom op with a registered gradient).

Each pixel casts a ray through its centre, samples the occupancy grid
trilinearly at S depths between `near` and `far`, and aggregates the samples
p_i as in Differentiable Ray Consistency (Tulsiani et al. 2017):
`1 - prod_i (1 - p_i)`, or as in Perspective Transformer Nets (Yan et al.
2016): `max_i p_i`. The gradient with respect to the occupancies costs O(S)
per ray (prefix and suffix products). Kernels: `csrc/voxel_silhouette/`.
"""

import tensorflow as tf

from tf3d.ops import backend, build
from tf3d.ops.voxel_silhouette_reference import check_arguments, voxel_silhouette_reference


def voxel_silhouette(occupancy, projection, image_size, *, num_samples, near, far,
                     perspective=True, mode="drc"):
    """Renders silhouettes of occupancy grids.

    Args:
      occupancy: `[B, X, Y, Z]` float32 occupancy probabilities in [0, 1],
        axes and cube as in `tf3d.conventions` (the grid fills
        [-0.5, 0.5]^3, voxel centres at -0.5 + (i + 0.5) / R, zero outside).
      projection: `[B, 3, 4]` cameras, `K [R | t]` or
        `conventions.orthographic_matrix`.
      image_size: `h` (square) or `(h, w)`.
      num_samples: S samples per ray, at depths
        `near + (i + 0.5) (far - near) / S`.
      near, far: depth range sampled (depth = third homogeneous coordinate).
      perspective: whether `projection` divides by depth.
      mode: `"drc"` or `"max"` (the gradient goes to the first maximum).

    Returns:
      `[B, h, w]` float32 silhouettes. Differentiable with respect to
      `occupancy` (the cameras get no gradient).

    Raises:
      ValueError: a static shape or argument is wrong (names it).
      tf.errors.InvalidArgumentError: a camera is not finite or invertible.
    """
    if backend.use_reference():
        return voxel_silhouette_reference(occupancy, projection, image_size,
                                          num_samples=num_samples, near=near, far=far,
                                          perspective=perspective, mode=mode)
    occupancy, projection, height, width = check_arguments(
        occupancy, projection, image_size, num_samples, near, far, mode)
    return build.load_library().voxel_silhouette(
        tf.cast(occupancy, tf.float32), tf.cast(projection, tf.float32), height=height,
        width=width, num_samples=int(num_samples), near=float(near), far=float(far),
        perspective=bool(perspective), mode=mode)


@tf.RegisterGradient("VoxelSilhouette")
def _voxel_silhouette_grad(op, grad):
    grad_occupancy = build.load_library().voxel_silhouette_grad(
        grad, op.inputs[0], op.inputs[1], num_samples=op.get_attr("num_samples"),
        near=op.get_attr("near"), far=op.get_attr("far"),
        perspective=op.get_attr("perspective"), mode=op.get_attr("mode"))
    return grad_occupancy, None
