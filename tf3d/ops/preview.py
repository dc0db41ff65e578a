"""Render one normalized mesh or voxel grid through a dataset record's camera.

For previews and figures: NumPy in, NumPy `[h, w]` silhouette out, using the
record's `intrinsics [3, 3]` and `extrinsics [3, 4]` (`tf3d.data.records`) in
the camera model of `tf3d.conventions`, so the result lines up with the
record's Blender mask.
"""

import math

import numpy as np

from tf3d import conventions


def _camera(intrinsics, extrinsics, image_size, perspective, half_extent):
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    extrinsics = np.asarray(extrinsics, dtype=np.float64)
    if intrinsics.shape != (3, 3):
        raise ValueError(f"intrinsics must have shape [3, 3], got {intrinsics.shape}")
    if extrinsics.shape != (3, 4):
        raise ValueError(f"extrinsics must have shape [3, 4], got {extrinsics.shape}")
    if perspective:
        projection = conventions.projection_matrix(intrinsics, extrinsics)
    else:
        projection = conventions.orthographic_matrix(extrinsics, half_extent, image_size)
    return projection[None].astype(np.float32)


def _depth_range(extrinsics):
    # The cube's bounding sphere (radius sqrt(3)/2) around the origin, whose
    # depth is t_z: every voxel lies in [t_z - r, t_z + r].
    radius = math.sqrt(3.0) * conventions.CUBE_HALF
    depth = float(np.asarray(extrinsics)[2, 3])
    return max(depth - radius, 1e-3), depth + radius


def render_mesh(vertices, faces, intrinsics, extrinsics, image_size, sigma=1e-5,
                perspective=True, half_extent=0.6):
    """Soft silhouette of a mesh through one camera.

    Args:
      vertices: `[V, 3]` normalized vertices (`conventions.normalize_vertices`).
      faces: `[F, 3]` integer indices.
      intrinsics: `[3, 3]`; extrinsics: `[3, 4]` (one view of a record).
      image_size: side of the square image.
      sigma: SoftRas sharpness (1e-5 is close to a hard silhouette).
      perspective: False renders orthographically with the same extrinsics.
      half_extent: orthographic half width of the image, world units.

    Returns:
      `[h, w]` float32 array in [0, 1].
    """
    from tf3d.ops.mesh_silhouette import mesh_silhouette
    vertices = np.asarray(vertices, dtype=np.float32)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must have shape [V, 3], got {vertices.shape}")
    projection = _camera(intrinsics, extrinsics, image_size, perspective, half_extent)
    out = mesh_silhouette(vertices[None], np.asarray(faces, dtype=np.int32), projection,
                          int(image_size), sigma=sigma, perspective=perspective)
    return out.numpy()[0]


def render_voxels(voxels, intrinsics, extrinsics, image_size, num_samples=128,
                  perspective=True, half_extent=0.6, mode="drc"):
    """Silhouette of an `[X, Y, Z]` occupancy grid through one camera.

    Args:
      voxels: `[X, Y, Z]` occupancy (bool or probabilities), `tf3d.conventions` axes.
      intrinsics: `[3, 3]`; extrinsics: `[3, 4]` (one view of a record).
      image_size: side of the square image.
      num_samples: samples per ray across the cube's bounding sphere.
      perspective: False renders orthographically with the same extrinsics.
      half_extent: orthographic half width of the image, world units.
      mode: `"drc"` or `"max"`.

    Returns:
      `[h, w]` float32 array in [0, 1].
    """
    from tf3d.ops.voxel_silhouette import voxel_silhouette
    voxels = np.asarray(voxels, dtype=np.float32)
    if voxels.ndim != 3:
        raise ValueError(f"voxels must have shape [X, Y, Z], got {voxels.shape}")
    projection = _camera(intrinsics, extrinsics, image_size, perspective, half_extent)
    near, far = _depth_range(extrinsics)
    out = voxel_silhouette(voxels[None], projection, int(image_size), num_samples=num_samples,
                           near=near, far=far, perspective=perspective, mode=mode)
    return out.numpy()[0]
