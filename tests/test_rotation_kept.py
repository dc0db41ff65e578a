"""`tf3d.data.rotation_kept`: the occupied voxels a view's rotated target keeps."""

import math

import numpy as np
import pytest
import trimesh

from tf3d import conventions
from tf3d.data import records, rotation, rotation_kept

R = conventions.DEFAULT_RESOLUTION
AZIMUTHS = conventions.DEFAULT_VIEWPOINTS.azimuths  # 0, 45, ..., 315
TABLE = rotation_kept.viewpoint_indices(AZIMUTHS, R)
QUARTER = [0, 2, 4, 6]  # views at multiples of 90 degrees
DIAGONAL = [1, 3, 5, 7]  # views at 45 + k * 90 degrees


def _kept(voxels, indices=TABLE):
    return rotation_kept.kept_fraction(voxels, rotation_kept.rotated_targets(voxels, indices), AZIMUTHS)


def test_a_footprint_filling_the_cube_loses_its_corners_at_45_degrees():
    slab = np.zeros((R, R, R), bool)
    slab[:, :2, :] = True
    kept = _kept(slab)
    outside = rotation_kept.outside_fraction(slab, AZIMUTHS)
    np.testing.assert_array_equal(kept[QUARTER], 1.0)  # exact permutations
    np.testing.assert_array_equal(outside[QUARTER], 0.0)
    # The unit square turned by 45 degrees overlaps the unit square in a regular octagon of area
    # 2 (sqrt(2) - 1) = 0.828: the four corner triangles, 0.172 of the voxels, have nowhere to go.
    octagon = 2.0 * (math.sqrt(2.0) - 1.0)
    np.testing.assert_allclose(kept[DIAGONAL], octagon, atol=0.01)
    np.testing.assert_allclose(kept + outside, 1.0)  # everything inside the grid is kept
    assert not rotation_kept.meets_bar(kept)


def test_a_normalized_square_footprint_keeps_its_voxels():
    from pipelines.voxelize import voxelize

    box = trimesh.creation.box([2.0, 1.0, 2.0])
    box.apply_translation([5.0, 3.0, -7.0])
    vertices = conventions.normalize_vertices(box.vertices)
    np.testing.assert_allclose(np.hypot(vertices[:, 0], vertices[:, 2]).max(), 0.49)
    voxels = voxelize(vertices, box.faces, R)
    np.testing.assert_array_equal(rotation_kept.outside_fraction(voxels, AZIMUTHS), 0.0)
    np.testing.assert_array_equal(_kept(voxels), 1.0)
    added = rotation_kept.added_fraction(voxels, rotation_kept.rotated_targets(voxels, TABLE))
    np.testing.assert_array_equal(added[QUARTER], 0.0)
    # Two voxels can land in one target voxel, and the inverse map adds a few at the edges:
    # measured -0.8% here (a solid square turned by 45 degrees is a bijection nowhere).
    assert np.abs(added[DIAGONAL]).max() < 0.05


def test_plain_nearest_neighbour_resampling_would_fail_the_bar():
    """One-voxel legs in the columns that inverse nearest-neighbour resampling never reads
    vanish from its 45-degree targets: the measure sees it (so the bar can fail)."""
    legs = np.zeros((R, R, R), bool)
    legs[5:27:3, 2:20, 5:27:3] = True  # 64 one-voxel legs on a grid of every third column
    inverse_only = TABLE[..., :1]  # column 0: the inverse map alone
    kept = _kept(legs, inverse_only)
    np.testing.assert_array_equal(kept[QUARTER], 1.0)
    assert kept[DIAGONAL].max() < 0.95 and not rotation_kept.meets_bar(kept)
    np.testing.assert_array_equal(_kept(legs), 1.0)  # the union of both maps keeps every leg


def test_record_indices_are_the_angle_mode_indices():
    indices = rotation_kept.record_indices(AZIMUTHS, R)
    assert indices.shape == (len(AZIMUTHS), R * R, rotation.SOURCES_PER_COLUMN)
    grid = np.random.default_rng(0).random((R, R, R)) < 0.05
    np.testing.assert_array_equal(rotation_kept.rotated_targets(grid, indices),
                                  rotation_kept.rotated_targets(grid, TABLE))


def test_empty_grid():
    voxels = np.zeros((4, 4, 4), bool)
    rotated = np.zeros((2, 4, 4, 4), bool)
    np.testing.assert_array_equal(rotation_kept.kept_fraction(voxels, rotated, [0.0, 45.0]), 1.0)
    np.testing.assert_array_equal(rotation_kept.added_fraction(voxels, rotated), 0.0)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="voxels must have shape"):
        rotation_kept.rotated_targets(np.zeros((4, 4, 3)), np.zeros((1, 16), int))
    with pytest.raises(ValueError, match=r"indices must have shape \[V, 16, K\]"):
        rotation_kept.rotated_targets(np.zeros((4, 4, 4)), np.zeros((1, 15), int))
    with pytest.raises(ValueError, match="indices must lie in"):
        rotation_kept.rotated_targets(np.zeros((4, 4, 4)), np.full((1, 16), 17))
    with pytest.raises(ValueError, match=r"rotated must have shape"):
        rotation_kept.kept_fraction(np.zeros((4, 4, 4)), np.zeros((1, 4, 4, 4)), [0.0, 45.0])
    with pytest.raises(ValueError, match="voxels must have shape"):
        rotation_kept.outside_fraction(np.zeros((4, 4)), [0.0])


def test_meets_bar():
    assert rotation_kept.meets_bar([1.0, 0.995, 0.99])
    assert not rotation_kept.meets_bar([1.0, 1.0, 0.94])  # min below 0.95
    assert not rotation_kept.meets_bar([0.96, 0.98])  # mean below 0.99
    assert not rotation_kept.meets_bar([])
