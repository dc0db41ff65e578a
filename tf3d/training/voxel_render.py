"""Shaded pictures of voxel grids for previews (NumPy, no custom ops).

`render_voxels` draws the occupied voxels as seen by the azimuth-0 camera of a
viewpoint set, which is how a viewer-centred grid lines up with its input
image. Each occupied voxel is splatted as a square the size of its projection
into a z-buffer (farthest first, so nearer voxels win), and shaded with a
Lambert term from the occupancy gradient (light at the camera).
"""

import numpy as np

from tf3d import conventions


def render_voxels(voxels, elevation=30.0, distance=2.5, fov=41.0, image_size=128, threshold=0.5):
    """Grayscale picture of a grid on a white background.

    Args:
      voxels: `[X, Y, Z]` occupancy or probabilities.
      elevation, distance, fov: the azimuth-0 camera (degrees, normalized units).
      image_size: side of the output in pixels.
      threshold: occupancy level drawn.

    Returns:
      uint8 `[h, w]`.
    """
    from scipy import ndimage

    voxels = np.asarray(voxels, dtype=np.float32)
    if voxels.ndim != 3 or len(set(voxels.shape)) != 1:
        raise ValueError(f"voxels must have shape [R, R, R], got {voxels.shape}")
    image = np.full((image_size, image_size), 255, dtype=np.uint8)
    occupied = np.argwhere(voxels >= threshold)  # [N, 3]
    if len(occupied) == 0:
        return image
    resolution = voxels.shape[0]
    centres = conventions.voxel_centers(resolution)[occupied]  # [N, 3] world
    eye = conventions.camera_position(0.0, elevation, distance)
    projection = conventions.projection_matrix(conventions.intrinsics(fov, image_size),
                                               conventions.look_at_extrinsics(eye))
    uv, depth = conventions.project(centres, projection)
    # Outward normal: minus the gradient of the smoothed occupancy.
    smooth = ndimage.gaussian_filter((voxels >= threshold).astype(np.float32), 1.0)
    grad = np.stack(np.gradient(smooth), -1)[tuple(occupied.T)]  # [N, 3]
    normals = -grad / np.maximum(np.linalg.norm(grad, axis=-1, keepdims=True), 1e-6)
    to_eye = eye - centres
    to_eye /= np.linalg.norm(to_eye, axis=-1, keepdims=True)
    shade = 0.25 + 0.65 * np.clip(np.einsum("ni,ni->n", normals, to_eye), 0.0, 1.0)
    focal = 0.5 * image_size / np.tan(np.radians(fov) / 2.0)
    half = np.maximum(0.5, 0.65 * focal / (resolution * depth))  # splat half-size in pixels
    radius = int(np.ceil(half.max()))
    rows, cols, depths, shades = [], [], [], []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            keep = (abs(dx) <= half + 0.5) & (abs(dy) <= half + 0.5)
            rows.append(np.floor(uv[keep, 1] + dy).astype(int))
            cols.append(np.floor(uv[keep, 0] + dx).astype(int))
            depths.append(depth[keep])
            shades.append(shade[keep])
    rows, cols, depths, shades = (np.concatenate(a) for a in (rows, cols, depths, shades))
    valid = (cols >= 0) & (cols < image_size) & (rows >= 0) & (rows < image_size)
    order = np.argsort(-depths[valid], kind="stable")  # far to near
    # With repeated indices the last write wins: the nearest fragment of each pixel.
    image[rows[valid][order], cols[valid][order]] = (255 * shades[valid][order]).astype(np.uint8)
    return image
