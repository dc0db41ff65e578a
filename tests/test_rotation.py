"""Tests of tf3d.data.rotation against the NumPy reference and the camera convention."""

import numpy as np
import pytest
import tensorflow as tf

from tf3d import alignment, conventions
from tf3d.data import rotation


def _random_grid(resolution=16, seed=0):
    return (np.random.default_rng(seed).random((resolution,) * 3) < 0.3).astype(np.float32)


@pytest.mark.parametrize("azimuth", [0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0,
                                     17.3, -90.0, 400.0, 200.5])
def test_angle_path_matches_reference(azimuth):
    grid = _random_grid()
    expected = rotation.rotate_voxels_reference(grid, azimuth)
    got = rotation.rotate_voxels(tf.constant(grid[None]), tf.constant([azimuth]))[0].numpy()
    np.testing.assert_array_equal(got, expected)


def test_viewpoint_table_matches_reference_for_every_view():
    azimuths = conventions.DEFAULT_VIEWPOINTS.azimuths + (10.0,)
    grid = _random_grid(seed=1)
    rotate = rotation.ViewpointRotation(azimuths, 16)
    batch = tf.constant(np.stack([grid] * len(azimuths)))
    got = rotate(batch, tf.range(len(azimuths))).numpy()
    for view, azimuth in enumerate(azimuths):
        np.testing.assert_array_equal(got[view], rotation.rotate_voxels_reference(grid, azimuth),
                                      err_msg=f"view {view} (azimuth {azimuth})")


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_quarter_turns_are_exact_permutations(turns):
    grid = _random_grid(seed=turns)
    exact = rotation.rotate_exact(tf.constant(grid[None]), turns)[0].numpy()
    np.testing.assert_array_equal(exact, rotation.rotate_voxels_reference(grid, 90.0 * turns))
    index = rotation.quarter_turn_indices(turns, 16)
    assert sorted(index.tolist()) == list(range(16 ** 2))  # nothing resampled or lost
    columns = np.transpose(grid, (0, 2, 1)).reshape(256, 16)[index]  # [X*Z, Y]
    np.testing.assert_array_equal(np.transpose(columns.reshape(16, 16, 16), (0, 2, 1)), exact)
    assert exact.sum() == grid.sum()


def test_quarter_turns_detection():
    assert rotation.quarter_turns(270.0) == 3
    assert rotation.quarter_turns(-90.0) == 3
    assert rotation.quarter_turns(45.0) is None


def test_rotation_direction_follows_the_camera_convention():
    # A grid rotated for azimuth 90 seen by the azimuth-0 camera must look like
    # the original seen from azimuth 90 (conventions: viewer-centred frame).
    grid = np.zeros((32, 32, 32), bool)
    grid[4:28, 2:10, 4:28] = True
    grid[4:28, 10:28, 4:8] = True  # a back rest at -Z makes the views differ
    views = conventions.ViewpointSet(azimuths=(0.0, 90.0, 270.0), image_size=48)
    masks = [alignment.voxel_silhouette(grid, p, 48) for p in views.projections()]
    turned = rotation.rotate_voxels_reference(grid, 90.0)
    seen = alignment.voxel_silhouette(turned, views.projections()[0], 48)
    assert alignment.silhouette_iou(seen, masks[1]) == pytest.approx(1.0)
    assert alignment.silhouette_iou(seen, masks[2]) < 0.9  # the opposite direction is visibly wrong


def test_reference_rejects_non_cubic_grids():
    with pytest.raises(ValueError, match="voxels must have shape"):
        rotation.rotate_voxels_reference(np.zeros((4, 4, 5)), 45.0)


def test_viewpoint_rotation_needs_azimuths():
    with pytest.raises(ValueError, match="azimuths"):
        rotation.ViewpointRotation([], 16)


def test_rotating_packed_grids_matches_unpack_then_rotate():
    from tf3d.data import records

    azimuths = conventions.DEFAULT_VIEWPOINTS.azimuths + (10.0,)
    rotate = rotation.ViewpointRotation(azimuths, 16)
    grids = [_random_grid(seed=s) > 0.5 for s in range(len(azimuths))]
    packed = tf.constant(np.stack([np.frombuffer(records.pack_voxels(g), np.uint8) for g in grids]))
    view = tf.range(len(azimuths))
    expected = rotate(records.unpack_voxels_tf(packed, 16, tf.uint8), view).numpy()
    moved = rotation.gather_rotated_packed(packed, rotate.indices(view), 16)
    got = records.unpack_voxels_tf(moved, 16, tf.uint8).numpy()
    assert got.dtype == np.uint8 and got.shape == (len(azimuths), 16, 16, 16)
    np.testing.assert_array_equal(got, expected)
    assert got.sum() > 0 and not np.array_equal(got[1], got[0])


@pytest.mark.parametrize("azimuth", [45.0, 135.0, 17.3, 200.5])
def test_no_occupied_voxel_is_dropped_and_none_is_invented(azimuth):
    """Every occupied voxel lands where its centre turns (plain nearest-neighbour resampling
    drops ~17% of the columns at 45 degrees), and every target voxel has an occupied source
    within one voxel of where it turns back to."""
    r = 16
    grid = _random_grid(r, seed=3) * (np.random.default_rng(9).random((r, r, r)) < 0.2)  # sparse
    got = rotation.rotate_voxels(tf.constant(grid[None]), tf.constant([azimuth]))[0].numpy()
    centres = conventions.voxel_centers(r)
    points = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), -1)  # [R, R, R, 3]
    turned = conventions.world_to_voxel(points[grid > 0] @ conventions.viewer_rotation(azimuth).T, r)
    turned = np.floor(turned + rotation._TIE_NUDGE).astype(int)  # ties on voxel faces broken as the library does
    inside = np.all((turned >= 0) & (turned < r), axis=1)
    assert inside.mean() > 0.8
    assert got[tuple(turned[inside].T)].all()  # nothing dropped
    back = conventions.world_to_voxel(points[got > 0] @ conventions.rotation_y(azimuth).T, r) - 0.5
    sources = np.argwhere(grid > 0)
    gap = np.abs(back[:, None, [0, 2]] - sources[None, :, [0, 2]]).max(-1)  # [occupied target, source]
    same_row = np.round(back[:, None, 1]) == sources[None, :, 1]
    assert (np.where(same_row, gap, np.inf).min(axis=1) <= 1.0).all()  # nothing invented
    assert got.sum() <= 1.5 * grid.sum()


def test_a_one_voxel_leg_survives_every_angle():
    for azimuth in np.arange(0.0, 360.0, 7.5):
        for i, k in ((3, 5), (10, 2), (8, 8), (12, 13)):
            grid = np.zeros((16, 16, 16), np.float32)
            grid[i, :, k] = 1.0
            got = rotation.rotate_voxels(tf.constant(grid[None]), tf.constant([azimuth]))[0].numpy()
            assert got.sum() >= 16, (azimuth, i, k)  # a whole column, never lost
            assert got.sum() <= 2 * 16, (azimuth, i, k)


def test_at_most_two_source_columns_land_in_a_target_column():
    for azimuth in (45.0, 30.0, 17.3, 60.0):
        forward = rotation._nearest_columns_numpy(conventions.viewer_rotation(azimuth), 32)
        counts = np.bincount(forward[forward < 32 ** 2])
        assert counts.max() <= 2, azimuth
