"""The one camera/voxel convention: checked against hand-derived values."""

import math

import numpy as np
import pytest

from tf3d import conventions as c


def test_normalization_centres_and_scales():
    v = np.array([[10, 20, 30], [14, 22, 31]], float)
    n = c.normalize_vertices(v)
    assert np.allclose(n.min(0) + n.max(0), 0)
    assert np.isclose(np.ptp(n, axis=0).max(), 1.0)
    assert np.allclose(np.ptp(n, axis=0), [1.0, 0.5, 0.25])


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
