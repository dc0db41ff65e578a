"""Tests of tf3d.ops.preview: rendering through a dataset record's camera."""

import numpy as np
import pytest

from tf3d import alignment, conventions
from tf3d.ops import primitives, render_mesh, render_voxels


@pytest.mark.parametrize("perspective", [True, False])
def test_mesh_and_voxels_line_up_through_a_record_camera(perspective):
    views = conventions.ViewpointSet(image_size=48)
    intrinsics, extrinsics = views.intrinsics(), views.extrinsics()[3]  # azimuth 135
    # An L-shaped solid as voxels and as the normalized mesh of its two boxes.
    centres = conventions.voxel_centers(8)
    x, y, z = np.meshgrid(centres, centres, centres, indexing="ij")
    voxels = (y < 0.0) | (x < -0.25)
    cube, faces = primitives.box(0.5)
    low = cube * [1.0, 0.5, 1.0] + [0.0, -0.25, 0.0]  # y in [-0.5, 0]
    post = cube * [0.25, 1.0, 1.0] + [-0.375, 0.0, 0.0]  # x in [-0.5, -0.25]
    vertices = np.concatenate([low, post])
    faces = np.concatenate([faces, faces + 8])
    mesh = render_mesh(vertices, faces, intrinsics, extrinsics, 48, perspective=perspective) > 0.5
    grid = render_voxels(voxels, intrinsics, extrinsics, 48, perspective=perspective,
                         mode="max") > 0.5
    projection = (conventions.projection_matrix(intrinsics, extrinsics) if perspective else
                  conventions.orthographic_matrix(extrinsics, 0.6, 48))
    exact = alignment.voxel_coverage(voxels, projection, 48, perspective=perspective) > 0.5
    assert mesh.shape == grid.shape == (48, 48)
    assert np.mean(mesh != exact) < 0.01
    assert (grid & exact).sum() / (grid | exact).sum() > 0.9


def test_rejects_bad_camera_shapes():
    vertices, faces = primitives.box()
    with pytest.raises(ValueError, match="extrinsics"):
        render_mesh(vertices, faces, np.eye(3), np.eye(3), 16)
    with pytest.raises(ValueError, match="intrinsics"):
        render_voxels(np.ones((2, 2, 2)), np.eye(4), np.zeros((3, 4)), 16)
