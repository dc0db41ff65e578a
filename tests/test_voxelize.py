"""Voxelizer: the cases the dataset depends on (thin plates, thin legs, filled boxes)."""

import numpy as np
import pytest
import trimesh
from scipy import ndimage

from pipelines import voxelize
from tf3d import conventions

R = 32
VOXEL = 1.0 / R


def _normalized(mesh):
    return conventions.normalize_vertices(mesh.vertices), mesh.faces


def _box(extents, centre=(0, 0, 0)):
    return trimesh.creation.box(extents, trimesh.transformations.translation_matrix(centre))


def _voxel_aligned_box():
    """(vertices, faces) of a box spanning exactly 32 x 16 x 8 voxels, its faces on voxel boundaries.

    It already spans the cube, so it is not normalized: the normalization fits its footprint's
    diagonal, not its length, into the cube (`conventions.normalization`).
    """
    box = _box([1.0, 0.5, 0.25])
    return box.vertices, box.faces


def test_closed_box_is_filled_exactly():
    v, f = _voxel_aligned_box()
    grid = voxelize.voxelize(v, f)
    assert grid.sum() == 32 * 16 * 8
    assert grid[:, 8:24, 12:20].all()  # interior filled, not a shell


def test_plate_thinner_than_a_voxel_is_one_continuous_layer():
    # 0.4 voxel thick, placed across a voxel boundary so no voxel holds half of it.
    plate = _box([0.9, 0.4 * VOXEL, 0.8], centre=(0.013, 0.5 * VOXEL - 0.2 * VOXEL + 0.001, 0.007))
    grid = voxelize.voxelize(plate.vertices, plate.faces)
    layers = np.nonzero(grid.any(axis=(0, 2)))[0]
    assert len(layers) == 1, f"plate occupies layers {layers}"
    layer = grid[:, layers[0], :]
    # Continuous: every column of the plate's footprint is occupied.
    assert layer[3:29, 5:27].all()


def test_thin_leg_stays_connected_to_the_seat():
    seat = _box([0.6, 0.1, 0.6], centre=(0, 0.0, 0))
    leg = _box([0.6 * VOXEL, 0.45, 0.6 * VOXEL], centre=(0.213, -0.27, 0.187))
    v, f = _normalized(trimesh.util.concatenate([seat, leg]))
    grid = voxelize.voxelize(v, f)
    labels, count = ndimage.label(grid, np.ones((3, 3, 3)))
    assert count == 1, "the leg is cut off from the seat"
    below = grid[:, :8, :]  # the leg's lower part, under the seat
    assert below.any()
    # One voxel wide, not two: a sub-voxel rod is represented by one column.
    assert below.sum(axis=(0, 2)).max() == 1


def test_thin_rod_straddling_two_voxels_is_one_wide():
    rod = _box([0.9 * VOXEL, 1.0, 0.5 * VOXEL], centre=(0.0, 0.0, 0.25 * VOXEL))
    grid = voxelize.voxelize(rod.vertices, rod.faces)
    assert grid.sum() == R  # one voxel per layer, every layer
    assert grid.sum(axis=(0, 2)).min() == 1


def test_unbiased_boundaries_for_boxes_off_the_grid():
    # Boxes whose sides fall at random sub-voxel positions: each within half a
    # voxel per side, and no systematic growth or shrinkage over several.
    rng = np.random.default_rng(0)
    voxelized, exact = 0, 0.0
    for _ in range(6):
        ext = rng.uniform(0.3, 0.7, size=3)
        ext[0] = 1.0
        box = _box(ext, centre=(0, *rng.uniform(-0.1, 0.1, size=2)))
        grid = voxelize.voxelize(box.vertices, box.faces)
        assert grid.sum() == pytest.approx(np.prod(ext) * R ** 3, rel=0.1)
        voxelized += grid.sum()
        exact += np.prod(ext) * R ** 3
    assert voxelized == pytest.approx(exact, rel=0.04)


def test_resolution_64():
    v, f = _voxel_aligned_box()
    grid = voxelize.voxelize(v, f, resolution=64)
    assert grid.shape == (64, 64, 64) and grid.sum() == 64 * 32 * 16


def test_axis_order_is_x_y_z():
    # A box that is long in X, tall in Y, short in Z.
    v, f = _voxel_aligned_box()
    grid = voxelize.voxelize(v, f)
    extent = [np.ptp(np.nonzero(grid.any(axis=tuple(a for a in range(3) if a != ax)))[0]) + 1
              for ax in range(3)]
    assert extent == [32, 16, 8]


def test_rejects_unnormalized_vertices():
    box = _box([2.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="normalize"):
        voxelize.voxelize(box.vertices, box.faces)


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match="vertices"):
        voxelize.voxelize(np.zeros((3, 2)), np.zeros((1, 3), int))
    with pytest.raises(ValueError, match="faces"):
        voxelize.voxelize(np.zeros((3, 3)), np.zeros((0, 3), int))
