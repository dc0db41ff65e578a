"""Differentiable voxel silhouette projection (custom op with a registered gradient).

Each pixel casts a ray through its centre and turns the occupancy grid along
it into a silhouette value in one of two ways:

* `"drc"`, Differentiable Ray Consistency (Tulsiani et al. 2017) as volume
  rendering: voxel v holds the density `sigma_v = -log(1 - p_v)` per voxel
  length, interpolated trilinearly between voxel centres, and the silhouette
  is the probability that the ray does not escape between `near` and `far`,
  `1 - exp(-integral sigma dl)` with the path length measured in voxels
  (Max 1995; the quadrature of NeRF, Mildenhall et al. 2020, eq. 3). The
  integral is the midpoint rule over `num_samples` samples, each sample's
  opacity scaled by its step, so the result is a function of the grid that
  converges as the samples grow. Along a grid axis through voxel centres it
  equals DRC's `1 - prod_v (1 - p_v)` over the voxels crossed. A voxel with
  `p = 1` is opaque: rays whose samples give it positive weight are
  saturated at exactly 1 (with zero gradient).
* `"max"`, Perspective Transformer Nets (Yan et al. 2016): the largest
  trilinear occupancy among the samples.

Gradients reach the occupancies and the cameras. Kernels:
`csrc/voxel_silhouette/` (the header derives the formulas).
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
        In `"drc"` mode p is the probability that a ray crossing the voxel
        along a grid axis (one voxel length) stops in it.
      projection: `[B, 3, 4]` cameras, `K [R | t]` or
        `conventions.orthographic_matrix`, with an invertible left 3x3 block.
      image_size: `h` (square) or `(h, w)`; at most `2**31 - 1` pixels
        (B * h * w) per call.
      num_samples: S, the quadrature points per ray, at depths
        `near + (i + 0.5) (far - near) / S`. More samples approximate the
        same integral better (a few per voxel crossed is plenty); they no
        longer saturate the silhouette.
      near, far: finite depth range integrated (depth = third homogeneous
        coordinate); the grid should lie within it.
      perspective: whether `projection` divides by depth.
      mode: `"drc"` or `"max"` (the gradient goes to the first maximum).

    Returns:
      `[B, h, w]` float32 silhouettes in [0, 1], differentiable with respect
      to `occupancy` and `projection`.

    Raises:
      ValueError: a static shape or argument is wrong (names it).
      tf.errors.InvalidArgumentError: an occupancy is outside [0, 1] or NaN,
        a camera is not finite or not invertible, or B * h * w is too large.
    """
    if backend.use_reference():
        return voxel_silhouette_reference(occupancy, projection, image_size,
                                          num_samples=num_samples, near=near, far=far,
                                          perspective=perspective, mode=mode)
    occupancy, projection, height, width, num_samples, near, far = check_arguments(
        occupancy, projection, image_size, num_samples, near, far, mode)
    return build.load_library().voxel_silhouette(
        tf.cast(occupancy, tf.float32), tf.cast(projection, tf.float32), height=height,
        width=width, num_samples=num_samples, near=near, far=far,
        perspective=bool(perspective), mode=mode)


@tf.RegisterGradient("VoxelSilhouette")
def _voxel_silhouette_grad(op, grad):
    return build.load_library().voxel_silhouette_grad(
        grad, op.inputs[0], op.inputs[1], num_samples=op.get_attr("num_samples"),
        near=op.get_attr("near"), far=op.get_attr("far"),
        perspective=op.get_attr("perspective"), mode=op.get_attr("mode"))
