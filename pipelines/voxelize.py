"""Solid voxelization that keeps thin parts.

A mesh normalized into the voxel cube (`tf3d.conventions`) becomes a bool
`[X, Y, Z]` occupancy grid in three steps:

1. Conservative surface voxelization at `supersample` times the resolution:
   every fine voxel a triangle touches (open3d's exact triangle-box test, so
   nothing thinner than a voxel slips between samples).
2. Interior filling by flood fill from outside (`scipy.ndimage`): closed
   parts become solid, and overlapping closed parts need no boolean union.
3. Each coarse voxel's volume fraction is estimated from its fine voxels, with
   fine surface voxels counted as half inside (they straddle the surface), and
   thresholded at 1/2 so boundaries are unbiased. Parts thinner than a voxel
   never reach 1/2, so they are kept as one-voxel ridges: voxels whose
   fraction is a strict local maximum across some axis. Ridge voxels that
   touch the bulk are kept only where they bridge a ridge to the bulk (a leg
   meeting a seat), not along the ragged rim of a plate.

No library does step 3 (open3d and trimesh give surface or parity-filled
grids that either fatten every boundary by half a voxel or drop thin parts),
hence the code here.
"""

import numpy as np
import open3d as o3d
from scipy import ndimage

from tf3d import conventions

_FACE_NEIGHBOURS = ndimage.generate_binary_structure(3, 1)


def surface_voxels(vertices, faces, resolution):
    """Bool `[R, R, R]`: voxels of the cube touched by any triangle (conservative)."""
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(vertices, np.float64)),
                                     o3d.utility.Vector3iVector(np.asarray(faces, np.int32)))
    half = conventions.CUBE_HALF
    grid = o3d.geometry.VoxelGrid.create_from_triangle_mesh_within_bounds(
        mesh, 2.0 * half / resolution, np.full(3, -half), np.full(3, half))
    occupied = np.zeros((resolution,) * 3, dtype=bool)
    voxels = grid.get_voxels()
    if voxels:
        index = np.clip(np.array([v.grid_index for v in voxels]), 0, resolution - 1)
        occupied[index[:, 0], index[:, 1], index[:, 2]] = True
    return occupied


def volume_fraction(vertices, faces, resolution=conventions.DEFAULT_RESOLUTION, supersample=4):
    """Estimated fraction of each voxel inside the mesh: float32 `[R, R, R]`."""
    fine = resolution * supersample
    surface = surface_voxels(vertices, faces, fine)
    solid = ndimage.binary_fill_holes(surface)
    weight = solid.astype(np.float64) - 0.5 * surface
    k = supersample
    return weight.reshape(resolution, k, resolution, k, resolution, k).mean(axis=(1, 3, 5))


def occupancy_from_fraction(fraction, threshold=0.5, min_fraction=0.05):
    """Bool occupancy from volume fractions, keeping sub-voxel parts as ridges.

    Args:
      fraction: `[R, R, R]` volume fractions in [0, 1].
      threshold: fraction at which a voxel counts as inside.
      min_fraction: ridge voxels must hold at least this much of the mesh.

    Returns:
      bool `[R, R, R]`.
    """
    # Fractions are sums of 1/(k^3) steps: compare with a tolerance, not bit-exactly.
    fraction = np.round(np.asarray(fraction, dtype=np.float64), 9)
    bulk = fraction >= threshold
    ridge = np.zeros_like(bulk)
    padded = np.pad(fraction, 1)
    inner = (slice(1, -1),) * 3
    for axis in range(3):
        below = np.roll(padded, 1, axis)[inner]
        above = np.roll(padded, -1, axis)[inner]
        # Strict on one side so that a part split evenly over two voxels keeps one.
        ridge |= (fraction > below) & (fraction >= above) & (below < threshold) & (above < threshold)
    ridge &= (fraction > min_fraction) & ~bulk
    ridge = _thin_pairs(ridge, fraction)
    near_bulk = ndimage.binary_dilation(bulk, _FACE_NEIGHBOURS)
    free = ridge & ~near_bulk
    bridges = ridge & near_bulk & ndimage.binary_dilation(free, _FACE_NEIGHBOURS)
    return bulk | free | bridges


def _thin_pairs(ridge, fraction):
    """Keeps one voxel of every run of exactly two ridge voxels along an axis.

    A rod thinner than a voxel that straddles two voxels is a ridge in both
    (each is a maximum across the rod's other axis); keeping the fuller one
    (the lower index on ties) keeps the rod one voxel wide. Longer runs are
    plates seen edge-on and stay.
    """
    keep = ridge.copy()
    for axis in range(3):
        r = np.pad(ridge, 2)
        f = np.pad(fraction, 2)
        inner = tuple(slice(2, -2) for _ in range(3))

        def shifted(array, step):
            return np.roll(array, step, axis)[inner]

        # v and its neighbour at +1 form a run of exactly two along this axis.
        pair_first = ridge & shifted(r, -1) & ~shifted(r, 1) & ~shifted(r, -2)
        pair_second = ridge & shifted(r, 1) & ~shifted(r, -1) & ~shifted(r, 2)
        keep &= ~(pair_first & (shifted(f, -1) > fraction))
        keep &= ~(pair_second & (shifted(f, 1) >= fraction))
    return keep


def voxelize(vertices, faces, resolution=conventions.DEFAULT_RESOLUTION, supersample=4):
    """Solid occupancy grid of a normalized mesh.

    Args:
      vertices: `[V, 3]` positions already normalized into the voxel cube
        (`conventions.normalize_vertices`).
      faces: `[F, 3]` vertex indices.
      resolution: R, voxels per side (32 default; 64 works).
      supersample: fine voxels per coarse voxel along each axis.

    Returns:
      bool `[X, Y, Z]` = `[R, R, R]` grid in the axes of `tf3d.conventions`.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must have shape [V, 3], got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise ValueError(f"faces must have shape [F, 3] with F >= 1, got {faces.shape}")
    limit = conventions.CUBE_HALF * (1.0 + 1e-6)
    if np.abs(vertices).max() > limit:
        raise ValueError("vertices lie outside the voxel cube: normalize them first "
                         "with tf3d.conventions.normalize_vertices")
    if resolution < 2 or supersample < 1:
        raise ValueError(f"resolution must be >= 2 and supersample >= 1, got {resolution}, {supersample}")
    return occupancy_from_fraction(volume_fraction(vertices, faces, resolution, supersample))
