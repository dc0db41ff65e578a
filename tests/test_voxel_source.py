"""Tests for `pipelines.voxel_source`: reading grids, turning them, meshing them, and the `voxels` build."""

import glob
import importlib.util
import os

import numpy as np
import pytest
import trimesh
from scipy import io, ndimage

from pipelines import binvox, build, r2n2, shapenet, synthetic
from pipelines import voxel_source as vs
from pipelines.voxelize import voxelize
from tf3d import conventions

SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "r2n2-sample")
HAS_BPY = importlib.util.find_spec("bpy") is not None


def _grid(category="chair", seed=3, scale=0.9):
    """A synthetic model's 32^3 grid, kept off the cube's faces (`scale`) so meshes stay inside the cube."""
    mesh = synthetic.generate(category, seed)
    return voxelize(scale * conventions.normalize_vertices(mesh.vertices), mesh.faces)


def _within_one_voxel(a, b):
    near = np.ones((3, 3, 3), bool)
    return not (a & ~ndimage.binary_dilation(b, near)).any() and not (b & ~ndimage.binary_dilation(a, near)).any()


@pytest.mark.parametrize("category,seed", [("chair", 3), ("table", 5)])
def test_cube_mesh_round_trips_exactly(category, seed):
    grid = _grid(category, seed)
    vertices, faces = vs.grid_mesh(grid, "cubes")
    # One closed surface: every directed edge is matched by its reverse (consistent outward
    # winding; an edge where voxels touch only along it borders four faces).
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    forward, backward = (np.unique(e, axis=0, return_counts=True) for e in (directed, directed[:, ::-1]))
    np.testing.assert_array_equal(forward[0], backward[0])
    np.testing.assert_array_equal(forward[1], backward[1])
    # Enclosed volume = the occupied voxels' (no hidden faces, nothing doubled).
    pitch = 2.0 * conventions.CUBE_HALF / grid.shape[0]
    np.testing.assert_allclose(trimesh.Trimesh(vertices, faces, process=False).volume, grid.sum() * pitch ** 3,
                               rtol=1e-9)
    # Two triangles per exposed voxel face, none between two occupied voxels.
    exposed = sum((np.diff(np.pad(grid, 1).astype(np.int8), axis=a) != 0).sum() for a in range(3))
    assert len(faces) == 2 * exposed
    np.testing.assert_array_equal(voxelize(vertices, faces), grid)


def test_boundary_faces_of_one_voxel_is_a_unit_cube():
    grid = np.zeros((3, 3, 3), bool)
    grid[1, 2, 0] = True
    vertices, faces = vs.boundary_faces(grid)
    assert len(vertices) == 8 and len(faces) == 12
    cube = trimesh.Trimesh(vertices, faces, process=False)
    assert cube.is_watertight and cube.is_winding_consistent
    np.testing.assert_allclose(cube.volume, 1.0)
    np.testing.assert_array_equal(cube.bounds, [[1, 2, 0], [2, 3, 1]])


@pytest.mark.parametrize("category,seed", [("chair", 3), ("table", 5)])
def test_smooth_mesh_is_watertight_and_round_trips_within_one_voxel(category, seed):
    grid = _grid(category, seed)
    vertices, faces = vs.grid_mesh(grid, "smooth")
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    assert mesh.is_watertight and mesh.volume > 0
    back = voxelize(vertices, faces)
    assert _within_one_voxel(back, grid)
    assert (back & grid).sum() / (back | grid).sum() > 0.95


def test_formats_read_the_same_grid(tmp_path):
    grid = _grid()
    binvox.write(tmp_path / "a.binvox", grid)
    np.save(tmp_path / "b.npy", grid.astype(np.uint8))
    io.savemat(tmp_path / "c.mat", {"voxel": grid.astype(np.uint8), "label": np.ones(3)})
    for path, fmt in (("a.binvox", "binvox"), ("b.npy", "npy"), ("c.mat", "mat")):
        np.testing.assert_array_equal(vs.read_grid(str(tmp_path / path), fmt), grid)
    io.savemat(tmp_path / "d.mat", {"a": grid.astype(np.uint8), "b": grid.astype(np.uint8)})
    with pytest.raises(ValueError, match="--mat-key"):
        vs.read_grid(str(tmp_path / "d.mat"), "mat")
    np.save(tmp_path / "e.npy", np.zeros((4, 4, 5)))
    with pytest.raises(ValueError, match="cubic"):
        vs.read_grid(str(tmp_path / "e.npy"), "npy")


def test_axes_follow_up_and_front():
    np.testing.assert_array_equal(vs.axes_rotation("+Y", "+X"), shapenet.V1_TO_WORLD)  # ShapeNet v1's axes
    np.testing.assert_array_equal(vs.axes_rotation("+Y", "+Z"), np.eye(3))
    # A Z-up grid whose front is -Y: a voxel at the grid's top ends up at tf3d's top.
    grid = np.zeros((4, 4, 4), bool)
    grid[1, 0, 3] = True  # z = 3 is up, y = 0 is the front (-Y)
    turned = vs.to_world(grid, "+Z", "-Y")
    assert tuple(np.argwhere(turned)[0]) == (1, 3, 3)  # up (y = 3) and at the front (z = 3)
    with pytest.raises(ValueError, match="up and front"):
        vs.axes_rotation("+Y", "-Y")
    with pytest.raises(ValueError, match="front"):
        vs.axes_rotation("+Y", "Z")


@pytest.mark.skipif(not glob.glob(os.path.join(SAMPLE, "ShapeNetVox32", "*", "*", "model.binvox")),
                    reason="../shared/r2n2-sample not present")
def test_shapenetvox32_reads_like_the_r2n2_importer():
    rows = vs.find_grids(os.path.join(SAMPLE, "ShapeNetVox32"), "binvox")
    assert len(rows) == 6 and all(model_id.startswith("03001627-") for model_id, _ in rows)
    for _, path in rows[:2]:
        np.testing.assert_array_equal(vs.to_world(vs.read_grid(path, "binvox"), "+Y", "+X"), r2n2.read_voxels(path))


@pytest.mark.slow
@pytest.mark.skipif(not HAS_BPY, reason="bpy module not installed (pip install -e '.[render]')")
@pytest.mark.parametrize("frame", ["grid", "tf3d"])
def test_voxels_build_writes_the_grids_as_targets(tmp_path, frame):
    from tf3d.data import records

    root = tmp_path / "grids"
    (root / "sub").mkdir(parents=True)
    grids = {"chair-a": _grid("chair", 3, 1.0), "sub-chair-b": _grid("chair", 4, 1.0)}
    np.save(root / "chair-a.npy", grids["chair-a"])
    np.save(root / "sub" / "chair-b.npy", grids["sub-chair-b"])
    out = str(tmp_path / "out")
    assert build.main(["voxels", "--root", str(root), "--format", "npy", "--category", "chair", "--frame", frame,
                       "--split", "test", "--out", out, "--workers", "1", "--quiet", "--image-size", "32"]) == 0
    info = records.read_info(out)
    assert info["num_records"] == 2 and list(info["splits"]) == ["test"]
    import tensorflow as tf

    files = [os.path.join(out, s["file"]) for s in info["splits"]["test"]["shards"]]
    for raw in tf.data.TFRecordDataset(files):
        record = records.decode_example(raw.numpy())
        grid = grids[record["model_id"]]
        if frame == "grid":
            np.testing.assert_array_equal(record["voxels"], grid)
        else:  # the grid already has tf3d's normalization, so re-voxelizing gives it back
            assert _within_one_voxel(record["voxels"], grid)
        assert (record["masks"] > 0).any(axis=(1, 2)).all()  # every view shows the model
