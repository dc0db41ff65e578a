"""The one camera/voxel convention: checked against hand-derived values."""

import math

import numpy as np
import pytest

from tf3d import conventions as c


def test_normalization_centres_and_scales_the_footprint():
    v = np.array([[10, 20, 30], [14, 22, 31]], float)
    n = c.normalize_vertices(v)
    assert np.allclose(n.min(0) + n.max(0), 0)
    # Centre (12, 21, 30.5): both vertices lie sqrt(2^2 + 0.5^2) = sqrt(17) / 2 from the vertical axis, so
    # the footprint's diameter sqrt(17) beats the height 2 and becomes 0.98.
    scale = 0.98 / math.sqrt(17.0)
    assert np.allclose(np.ptp(n, axis=0), np.array([4.0, 2.0, 1.0]) * scale)
    assert np.isclose(2 * np.hypot(n[:, 0], n[:, 2]).max(), c.FOOTPRINT_DIAMETER)


def test_normalization_of_a_tall_mesh_fills_the_height():
    # Footprint 0.2 x 0.2 (diameter 0.2 sqrt(2) ~ 0.28) under a height of 3: the height becomes 1.
    v = np.array([[0, 0, 0], [0.2, 3, 0.2], [0.2, 0, 0], [0, 3, 0.2]], float) + [5, -1, 7]
    scale, translation = c.normalization(v)
    assert np.isclose(scale, 1.0 / 3.0)
    n = c.normalize_vertices(v)
    assert np.allclose(n[:, 1].min(), -0.5) and np.allclose(n[:, 1].max(), 0.5)
    assert np.allclose(n[:, [0, 2]].max(axis=0), [0.2 / 6, 0.2 / 6])


def test_normalized_square_footprint_fits_the_cube_at_every_azimuth():
    # A 2 x 1 x 2 box: footprint diameter 2 sqrt(2) > height 1, so its corners end up at radius 0.49
    # (0.98 / 2) and stay inside the cube's cross-section turned by any angle.
    corners = np.array([[x, y, z] for x in (0, 2) for y in (0, 1) for z in (0, 2)], float) + [3, 4, -9]
    n = c.normalize_vertices(corners)
    assert np.allclose(np.hypot(n[:, 0], n[:, 2]), 0.49)
    assert np.allclose(np.abs(n), [0.49 / math.sqrt(2), 0.49 / math.sqrt(8), 0.49 / math.sqrt(2)])
    for azimuth in np.arange(0.0, 360.0, 7.5):
        assert np.abs(n @ c.viewer_rotation(azimuth).T).max() <= c.CUBE_HALF, azimuth
    # The old normalization (longest side 1) puts the corners at radius 0.5 sqrt(2): out at 45 degrees.
    old = (corners - corners.mean(axis=0)) / 2.0
    assert np.abs(old @ c.viewer_rotation(45.0).T).max() > 0.7


def test_normalization_is_idempotent():
    v = np.random.default_rng(0).normal(size=(50, 3)) * [3, 1, 0.5] + [1, 2, 3]
    n = c.normalize_vertices(v)
    scale, translation = c.normalization(n)
    assert np.isclose(scale, 1.0) and np.allclose(translation, 0.0, atol=1e-12)


def test_normalization_rejects_bad_vertices():
    with pytest.raises(ValueError, match="vertices must have shape"):
        c.normalization(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="no extent"):
        c.normalization(np.ones((3, 3)))


def test_camera_of_azimuth_zero_looks_at_the_front():
    vp = c.DEFAULT_VIEWPOINTS
    e = vp.extrinsics()[0]
    eye = c.camera_position(0, vp.elevation, vp.distance)
    # The eye maps to the camera origin; the origin lies straight ahead at depth = distance.
    assert np.allclose(e[:, :3] @ eye + e[:, 3], 0)
    uv, depth = c.project(np.zeros((1, 3)), vp.projections()[0])
    assert np.allclose(uv, vp.image_size / 2) and np.isclose(depth[0], vp.distance)
    # +Y (up) projects upwards in the image (smaller v); +X to the right at azimuth 0.
    up, _ = c.project(np.array([[0, 0.3, 0]]), vp.projections()[0])
    right, _ = c.project(np.array([[0.3, 0, 0]]), vp.projections()[0])
    assert up[0, 1] < vp.image_size / 2
    assert right[0, 0] > vp.image_size / 2


def test_azimuth_90_looks_from_the_right():
    eye = c.camera_position(90, 0, 2.0)
    assert np.allclose(eye, [2.0, 0, 0])


def test_focal_length_from_fov():
    k = c.intrinsics(90.0, 128)
    assert np.isclose(k[0, 0], 64.0) and np.isclose(k[0, 2], 64.0)


def test_viewer_rotation_maps_views_onto_the_front_camera():
    vp = c.DEFAULT_VIEWPOINTS
    p = np.random.default_rng(0).uniform(-0.5, 0.5, (10, 3))
    for az, proj in zip(vp.azimuths, vp.projections()):
        seen = c.project(p, proj)[0]
        rotated = (c.viewer_rotation(az) @ p.T).T
        assert np.allclose(c.project(rotated, vp.projections()[0])[0], seen)


def test_whole_cube_fits_every_view():
    vp = c.DEFAULT_VIEWPOINTS
    corners = np.array([[x, y, z] for x in (-.5, .5) for y in (-.5, .5) for z in (-.5, .5)])
    for proj in vp.projections():
        uv, _ = c.project(corners, proj)
        assert uv.min() >= 0 and uv.max() <= vp.image_size


def test_orthographic_matrix():
    e = c.look_at_extrinsics([0, 0, 3.0])
    p = c.orthographic_matrix(e, 0.5, 64)
    uv, depth = c.project(np.array([[0.5, 0.5, 0.0]]), p, perspective=False)
    assert np.allclose(uv, [[64, 0]]) and np.isclose(depth[0], 3.0)


def test_viewpoint_set_checks_arguments():
    with pytest.raises(ValueError, match="fov"):
        c.ViewpointSet(fov=0)
    with pytest.raises(ValueError, match="distance"):
        c.ViewpointSet(distance=0.5)
    with pytest.raises(ValueError, match="unknown viewpoint keys"):
        c.ViewpointSet.from_dict({"azimuth": [0]})
    assert c.ViewpointSet.from_dict(c.DEFAULT_VIEWPOINTS.to_dict()) == c.DEFAULT_VIEWPOINTS


def test_voxel_centres():
    centres = c.voxel_centers(4)
    assert np.allclose(centres, [-0.375, -0.125, 0.125, 0.375])
    assert np.allclose(c.world_to_voxel([[-0.5, 0, 0.5]], 4), [[0, 2, 4]])
    assert math.isclose(c.CUBE_HALF * 2, c.NORMALIZED_EXTENT)
    assert c.FOOTPRINT_DIAMETER <= c.NORMALIZED_EXTENT
