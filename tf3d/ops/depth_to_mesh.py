"""A depth map as a triangle mesh, to render it from other views (Unsup3D's depth -> mesh step).

Every pixel centre (col + 0.5, row + 0.5) is lifted along its camera ray to
its depth (`tf3d.conventions`: the depth along the optical axis), and every
2 x 2 block of neighbouring pixels becomes two triangles, so that the mesh
seen through the same camera covers the image from the first pixel centre
to the last and rasterizes back to the depth map at the pixel centres
(Wu et al. 2020, "Unsupervised Learning of Probably Symmetric Deformable 3D
Objects from Images in the Wild", sec. 3.2: depth -> mesh -> reprojection).
Differentiable with respect to the depth and the cameras.
"""

import numpy as np
import tensorflow as tf

from tf3d.ops import _camera, _checks


def grid_faces(height, width):
    """`[2 (h - 1) (w - 1), 3]` int32 faces of an `h x w` grid of row-major vertices.

    Each quad (r, c), (r, c + 1), (r + 1, c), (r + 1, c + 1) is split along
    the same diagonal, wound so that with image v pointing down, a surface
    facing the camera gets normals towards it.
    """
    index = np.arange(height * width).reshape(height, width)
    a, b = index[:-1, :-1].ravel(), index[:-1, 1:].ravel()  # (r, c), (r, c + 1)
    c, d = index[1:, :-1].ravel(), index[1:, 1:].ravel()  # (r + 1, c), (r + 1, c + 1)
    faces = np.stack([np.stack([a, c, b], -1), np.stack([b, c, d], -1)], axis=1)  # [Q, 2, 3]
    return faces.reshape(-1, 3).astype(np.int32)


def depth_to_mesh(depth, projection, perspective=True):
    """Lifts depth maps into grid meshes in world coordinates.

    Args:
      depth: `[B, H, W]` depth along each camera's optical axis, H, W >= 2.
      projection: `[B, 3, 4]` cameras the depth maps were seen through
        (`K [R | t]` or `conventions.orthographic_matrix`), with an invertible
        left 3x3 block.
      perspective: whether `projection` divides by depth.

    Returns:
      (vertices `[B, H * W, 3]` in the depth's dtype, row-major over the
      pixels; faces `[2 (H - 1) (W - 1), 3]` int32 from `grid_faces`).

    Raises:
      ValueError: a static shape is wrong (names it).
      tf.errors.InvalidArgumentError: a camera is not finite or singular.
    """
    depth = tf.convert_to_tensor(depth)
    if not depth.dtype.is_floating:
        depth = tf.cast(depth, tf.float32)
    if depth.shape.rank != 3 or None in depth.shape[1:] or min(depth.shape[1:]) < 2:
        raise ValueError(f"depth must have shape [B, H, W] with H, W >= 2 known, got {depth.shape}")
    projection = tf.cast(_camera.check_projection(projection, depth.shape[0]), depth.dtype)
    projection = _checks.with_checks(projection, _camera.projection_checks(projection, True))
    height, width = depth.shape[1], depth.shape[2]
    origin, direction = _camera.pixel_rays(projection, height, width, perspective)  # [B, H, W, 3]
    points = origin + depth[..., None] * direction  # the ray's point at its depth
    return tf.reshape(points, [-1, height * width, 3]), tf.constant(grid_faces(height, width))
