"""Voxel-to-image alignment check: project a voxel grid, compare with a mask.

The projection is plain NumPy so that any dataset can be checked without the
custom ops: the silhouette of the union of occupied voxel cubes is the union
of the projections of their exposed, camera-facing faces, so each such face is
rasterized exactly (edge functions at sub-pixel sample points) and coverage is
averaged per pixel, the same area averaging the Blender renderings get.
Conventions (voxel cube, camera matrices, pixel centres) are those of
`tf3d.conventions`.
"""

import numpy as np

from tf3d import conventions

# Corner offsets of a unit face in its two in-plane axes, in cyclic order.
_QUAD = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])


def exposed_faces(occupancy):
    """Faces between occupied and empty voxels of a bool `[R, R, R]` grid.

    Returns:
      (corners `[F, 4, 3]` in voxel-corner units (voxel i spans [i, i + 1]),
      in cyclic order; outward unit normals `[F, 3]`).
    """
    padded = np.pad(occupancy, 1)
    corners, normals = [], []
    for axis in range(3):
        u, v = [a for a in range(3) if a != axis]
        for sign in (-1, 1):
            neighbour = np.roll(padded, -sign, axis=axis)[1:-1, 1:-1, 1:-1]
            idx = np.argwhere(occupancy & ~neighbour)  # [N, 3]
            if len(idx) == 0:
                continue
            quad = np.repeat(idx[:, None, :], 4, axis=1).astype(np.float64)  # [N, 4, 3]
            quad[:, :, axis] += sign > 0
            quad[:, :, u] += _QUAD[:, 0]
            quad[:, :, v] += _QUAD[:, 1]
            normal = np.zeros((len(idx), 3))
            normal[:, axis] = sign
            corners.append(quad)
            normals.append(normal)
    if not corners:
        return np.zeros((0, 4, 3)), np.zeros((0, 3))
    return np.concatenate(corners), np.concatenate(normals)


def voxel_coverage(voxels, projection, image_size, perspective=True, supersample=4):
    """Fraction of each pixel covered by the projected voxel grid.

    Args:
      voxels: `[X, Y, Z]` occupancy (bool, or probabilities thresholded at 0.5).
      projection: `[3, 4]` camera matrix (`conventions.projection_matrix` or
        `conventions.orthographic_matrix`).
      image_size: side of the square image in pixels.
      perspective: whether `projection` divides by depth.
      supersample: sample points per pixel along each axis.

    Returns:
      `[h, w]` float array in [0, 1].
    """
    voxels = np.asarray(voxels)
    if voxels.ndim != 3 or len(set(voxels.shape)) != 1:
        raise ValueError(f"voxels must have shape [R, R, R], got {voxels.shape}")
    projection = np.asarray(projection, dtype=np.float64)
    if projection.shape != (3, 4) or not np.all(np.isfinite(projection)):
        raise ValueError(f"projection must be a finite [3, 4] matrix, got shape {projection.shape}")
    occupancy = voxels > 0.5 if voxels.dtype != bool else voxels
    resolution = occupancy.shape[0]
    size = int(image_size) * supersample
    covered = np.zeros((size, size), dtype=bool)

    corners, normals = exposed_faces(occupancy)
    if len(corners):
        world = -conventions.CUBE_HALF + corners * (2.0 * conventions.CUBE_HALF / resolution)
        centres = world.mean(axis=1)
        if perspective:
            eye = -np.linalg.solve(projection[:, :3], projection[:, 3])
            facing = np.einsum("fi,fi->f", eye - centres, normals) > 0
        else:
            facing = normals @ projection[2, :3] < 0
        world = world[facing]
        uv, depth = conventions.project(world.reshape(-1, 3), projection, perspective)
        if perspective and np.any(depth <= 0):
            raise ValueError("part of the voxel grid is behind the camera")
        covered = _rasterize_quads(uv.reshape(-1, 4, 2) * supersample, size)
    return covered.reshape(image_size, supersample, image_size, supersample).mean(axis=(1, 3))


def _rasterize_quads(quads, size):
    """Bool `[size, size]` image of the union of convex quads `[F, 4, 2]` (pixel units)."""
    covered = np.zeros((size, size), dtype=bool)
    if len(quads) == 0:
        return covered
    lo = np.floor(quads.min(axis=1)).astype(int)  # [F, 2]
    hi = np.ceil(quads.max(axis=1)).astype(int)
    window = int((hi - lo).max())
    # Faces are processed in chunks so memory stays bounded when faces are big.
    chunk = max(1, 2_000_000 // max(1, window * window))
    offsets = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="xy"), -1)
    offsets = offsets.reshape(-1, 2)  # [W*W, 2] (x, y)
    for start in range(0, len(quads), chunk):
        q = quads[start:start + chunk]  # [f, 4, 2]
        points = lo[start:start + chunk, None, :] + offsets[None] + 0.5  # [f, W*W, 2]
        edges = np.roll(q, -1, axis=1) - q  # [f, 4, 2]
        rel = points[:, None, :, :] - q[:, :, None, :]  # [f, 4, W*W, 2]
        cross = edges[:, :, None, 0] * rel[..., 1] - edges[:, :, None, 1] * rel[..., 0]
        inside = np.all(cross >= 0, axis=1) | np.all(cross <= 0, axis=1)  # [f, W*W]
        pix = points.astype(int)
        valid = inside & np.all((pix >= 0) & (pix < size), axis=-1)
        covered[pix[..., 1][valid], pix[..., 0][valid]] = True
    return covered


def mesh_coverage(vertices, faces, projection, image_size, perspective=True, supersample=4):
    """Fraction of each pixel covered by the projected triangles of a mesh.

    The reference a rendering's alpha is checked against: the union of the
    projected triangles is point-sampled at `supersample x supersample` pixel
    sub-centres (edge functions, edges inclusive, exactly as the voxel faces of
    `voxel_coverage`) and averaged per pixel.

    Args:
      vertices: `[V, 3]` world positions (already normalized into the cube).
      faces: `[F, 3]` vertex indices of triangles.
      projection: `[3, 4]` camera matrix (`conventions.projection_matrix` or
        `conventions.orthographic_matrix`).
      image_size: side of the square image in pixels.
      perspective: whether `projection` divides by depth.
      supersample: sample points per pixel along each axis.

    Returns:
      `[h, w]` float array in [0, 1].
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or not np.all(np.isfinite(vertices)):
        raise ValueError(f"vertices must be a finite [V, 3] array, got shape {vertices.shape}")
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"faces must be an integer [F, 3] array, got shape {faces.shape} ({faces.dtype})")
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(f"faces index vertices out of range [0, {len(vertices)})")
    projection = np.asarray(projection, dtype=np.float64)
    if projection.shape != (3, 4) or not np.all(np.isfinite(projection)):
        raise ValueError(f"projection must be a finite [3, 4] matrix, got shape {projection.shape}")
    size = int(image_size) * supersample
    covered = np.zeros((size, size), dtype=bool)
    if len(faces):
        uv, depth = conventions.project(vertices, projection, perspective)
        if perspective and np.any(depth[faces] <= 0):
            raise ValueError("part of the mesh is behind the camera")
        tri = uv[faces] * supersample  # [F, 3, 2]
        # A triangle is a quad with a repeated corner: its zero-length edge
        # passes every sample, so `_rasterize_quads` needs no change.
        quads = np.concatenate([tri, tri[:, 2:]], axis=1)  # [F, 4, 2]
        # `_rasterize_quads` tests every face on the window of the largest one,
        # so faces go in groups of similar size (powers of two).
        window = (np.ceil(tri.max(axis=1)) - np.floor(tri.min(axis=1))).max(axis=1)  # [F]
        group = np.ceil(np.log2(np.maximum(window, 1.0))).astype(int)
        for g in np.unique(group):
            covered |= _rasterize_quads(quads[group == g], size)
    return covered.reshape(image_size, supersample, image_size, supersample).mean(axis=(1, 3))


def voxel_silhouette(voxels, projection, image_size, perspective=True, supersample=4):
    """Bool `[h, w]` mask: pixels at least `MASK_THRESHOLD` covered by the voxel grid."""
    coverage = voxel_coverage(voxels, projection, image_size, perspective, supersample)
    return coverage >= conventions.MASK_THRESHOLD


def mask_from_alpha(alpha):
    """Bool `[h, w]` silhouette of a uint8 (0..255) or float (0..1) alpha image."""
    alpha = np.asarray(alpha)
    scale = 255.0 if alpha.dtype == np.uint8 else 1.0
    return alpha.astype(np.float64) / scale >= conventions.MASK_THRESHOLD


def silhouette_iou(mask_a, mask_b):
    """Intersection over union of two bool masks of the same shape (1 when both are empty)."""
    mask_a, mask_b = np.asarray(mask_a, bool), np.asarray(mask_b, bool)
    if mask_a.shape != mask_b.shape:
        raise ValueError(f"masks differ in shape: {mask_a.shape} vs {mask_b.shape}")
    union = np.logical_or(mask_a, mask_b).sum()
    return 1.0 if union == 0 else float(np.logical_and(mask_a, mask_b).sum() / union)


def view_ious(voxels, masks, intrinsics, extrinsics):
    """IoU of a record's voxel grid against each of its view masks.

    Args:
      voxels: `[X, Y, Z]` occupancy.
      masks: `[V, h, w]` alpha images (uint8 or float).
      intrinsics: `[V, 3, 3]`; extrinsics: `[V, 3, 4]`.

    Returns:
      `[V]` float array.
    """
    masks = np.asarray(masks)
    return np.array([
        silhouette_iou(voxel_silhouette(voxels, conventions.projection_matrix(k, e), masks.shape[-1]),
                       mask_from_alpha(m))
        for m, k, e in zip(masks, intrinsics, extrinsics)])
