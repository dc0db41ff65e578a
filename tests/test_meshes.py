"""Mesh loading and cleaning."""

import numpy as np
import pytest
import trimesh

from pipelines import meshes


def test_cleaning_drops_degenerate_duplicate_and_unused():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [5, 5, 5], [1, 0, 0]], float)
    f = np.array([[0, 1, 2], [0, 1, 2], [2, 1, 0], [0, 1, 1], [0, 1, 5], [0, 2, 3]])
    v2, f2 = meshes.clean_mesh(v, f)
    assert len(f2) == 2  # one of the three copies of (0,1,2), and (0,2,3)
    assert len(v2) == 4  # (5,5,5) unused, duplicate (1,0,0) merged


def test_load_round_trip(tmp_path):
    box = trimesh.creation.box([1, 2, 3])
    path = tmp_path / "box.obj"
    meshes.save_obj(path, box.vertices, box.faces)
    v, f = meshes.load_mesh(path)
    assert len(f) == 12 and np.allclose(np.ptp(v, axis=0), [1, 2, 3])


@pytest.mark.parametrize("content, reason", [
    ("", "no faces"),
    ("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n", "degenerate"),
    ("v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n", "NaN"),
])
def test_bad_meshes_raise_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "bad.obj"
    path.write_text(content)
    with pytest.raises(meshes.BadMesh, match=reason):
        meshes.load_mesh(path)


def test_unreadable_file(tmp_path):
    path = tmp_path / "bad.ply"
    path.write_bytes(b"ply\nformat nonsense\n")
    with pytest.raises(meshes.BadMesh):
        meshes.load_mesh(path)
