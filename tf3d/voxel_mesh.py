"""`voxels_to_mesh`: the surface of an occupancy grid as a triangle mesh (marching cubes)."""

import numpy as np

from tf3d import conventions


def voxels_to_mesh(probabilities, threshold=0.4):
    """Marching cubes (scikit-image) at `threshold`, in world units.

    Args:
      probabilities: `[X, Y, Z]` occupancy probabilities, grid axes as in
        `tf3d.conventions` (voxel centres at `-0.5 + (i + 0.5) / R`).
      threshold: level of the surface.

    Returns:
      vertices `[V, 3]` float, faces `[F, 3]` int.
    """
    from skimage import measure

    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.ndim != 3:
        raise ValueError(f"probabilities must have shape [X, Y, Z], got {probabilities.shape}")
    if probabilities.max() < threshold:
        raise ValueError(f"no voxel reaches the threshold {threshold} (max probability "
                         f"{probabilities.max():.3f}); try a lower --threshold")
    resolution = probabilities.shape[0]
    padded = np.pad(probabilities, 1)  # closes surfaces that touch the cube's faces
    vertices, faces, _, _ = measure.marching_cubes(padded, level=threshold)
    # Padded index p is voxel p - 1, whose centre is at -0.5 + (p - 0.5) / R.
    vertices = -conventions.CUBE_HALF + (vertices - 0.5) * (2.0 * conventions.CUBE_HALF / resolution)
    return vertices, faces
