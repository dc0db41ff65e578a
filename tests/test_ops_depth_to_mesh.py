"""Tests of tf3d.ops.depth_to_mesh: depth maps lifted into grid meshes."""

import numpy as np
import pytest
import tensorflow as tf

from tf3d.geometry import normals
from tf3d.ops import depth_to_mesh, rasterize
from tf3d.ops import testing as ops_testing
from tf3d.ops.depth_to_mesh import grid_faces


def test_grid_faces_by_hand():
    # 2 x 3 vertices 0 1 2 / 3 4 5: quads (0, 1, 3, 4) and (1, 2, 4, 5), each
    # split into (top-left, bottom-left, top-right) and (top-right, bottom-left,
    # bottom-right).
    np.testing.assert_array_equal(grid_faces(2, 3),
                                  [[0, 3, 1], [1, 3, 4], [1, 4, 2], [2, 4, 5]])


def _depth_maps(size, seed=0):
    # Tilted, slightly rough surfaces in front of the cameras (distance 2.5).
    rows, cols = np.mgrid[0:size, 0:size] / size
    rough = np.random.default_rng(seed).normal(0, 0.01, (2, size, size))
    return (2.4 + 0.3 * rows - 0.2 * cols + rough).astype(np.float32)


@pytest.mark.parametrize("perspective", [True, False])
def test_a_depth_map_renders_back_through_its_camera(perspective):
    size = 16
    depth = _depth_maps(size)
    projection = ops_testing.cameras(2, size, perspective)
    vertices, faces = depth_to_mesh(depth, projection, perspective)
    assert vertices.shape == (2, size * size, 3) and faces.shape == (2 * 15 * 15, 3)
    fragments = rasterize(vertices, faces, projection, size, perspective=perspective)
    # Interior pixel centres sit on the mesh's vertices and edges (watertight);
    # the outermost ones lie on its boundary and rounding decides them.
    inner = (slice(None), slice(1, -1), slice(1, -1))
    assert np.all(fragments.face_ids.numpy()[inner] >= 0)
    np.testing.assert_allclose(fragments.depth.numpy()[inner], depth[inner], atol=1e-5)
    # The triangles face the camera that saw them: their normals point against
    # its forward axis M^-1 (0, 0, 1), the direction of growing depth.
    face_normals = normals.face_normals(vertices, faces).numpy()
    forward = np.linalg.inv(projection[:, :, :3].astype(np.float64))[:, :, 2]  # [B, 3]
    assert np.all(np.einsum("bfi,bi->bf", face_normals, forward) < 0)


def test_another_view_sees_the_same_plane():
    # A plane's depth map lifted from camera 0 and rendered through camera 1
    # gives camera 1's depth of the plane wherever the lifted patch is seen.
    size = 24
    projection = ops_testing.cameras(2, size, elevation=20.0)
    quad = np.array([[-2.0, -2.0, 0.1], [2.0, -2.0, 0.1], [-2.0, 2.0, -0.1], [2.0, 2.0, -0.1]],
                    np.float32)  # a plane through the origin, tilted about X
    plane = rasterize(np.stack([quad] * 2), [[0, 1, 3], [0, 3, 2]], projection, size)
    assert np.all(plane.face_ids.numpy() >= 0)
    vertices, faces = depth_to_mesh(plane.depth[:1], projection[:1])
    moved = rasterize(vertices, faces, projection[1:], size)
    seen = moved.face_ids.numpy()[0] >= 0
    assert seen.mean() > 0.3
    np.testing.assert_allclose(moved.depth.numpy()[0][seen], plane.depth.numpy()[1][seen],
                               atol=1e-4)


def test_jacobian_float64():
    depth = _depth_maps(4).astype(np.float64)[:1]
    projection = ops_testing.cameras(1, 4).astype(np.float64)
    ops_testing.assert_jacobians_match(lambda d, p: depth_to_mesh(d, p)[0], [depth, projection])


def test_argument_errors():
    projection = ops_testing.cameras(1, 4)
    with pytest.raises(ValueError, match="depth"):
        depth_to_mesh(np.ones((1, 1, 4)), projection)
    with pytest.raises(ValueError, match="depth"):
        depth_to_mesh(np.ones((4, 4)), projection)
    with pytest.raises(ValueError, match="projection"):
        depth_to_mesh(np.ones((2, 4, 4)), projection)
    singular = projection.copy()
    singular[0, 2, :3] = 0.0
    with pytest.raises(tf.errors.InvalidArgumentError, match="projection"):
        depth_to_mesh(np.ones((1, 4, 4)), singular)
