"""Tests of pipelines/shapenet.py on tiny ShapeNet-shaped trees of generated meshes.

`write_shapenet_tree` lays out v1 (`model.obj`) and v2
(`models/model_normalized.obj` + `.solid.binvox`) models the way ShapeNetCore
ships them, messy on purpose (materials and a missing texture, texture
coordinates and wrong normals, duplicate, degenerate and flipped faces, an
unreferenced far-away vertex), plus an unreadable mesh, an empty one and a
model folder without a mesh. The end-to-end test runs the real command line,
`pipelines.verify` and a few training steps on the result.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from pipelines import binvox, shapenet, synthetic
from pipelines.voxelize import surface_voxels
from tf3d import alignment, conventions
from tf3d.data import records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHAIR, TABLE = "03001627", "04379243"


def _messy_obj(vertices, faces, rng):
    """OBJ text of a mesh with the defects ShapeNet meshes have."""
    faces = np.asarray(faces)
    flip = rng.random(len(faces)) < 0.3
    faces = np.where(flip[:, None], faces[:, ::-1], faces)  # inconsistent winding
    extra = np.concatenate([faces[rng.choice(len(faces), len(faces) // 10)],  # duplicates
                            np.stack([faces[:5, 0], faces[:5, 0], faces[:5, 1]], 1)])  # degenerate
    faces = np.concatenate([faces, extra])
    lines = ["mtllib model.mtl", "o part0", "usemtl wood"]
    lines += [f"v {x:.7f} {y:.7f} {z:.7f}" for x, y, z in vertices]
    lines.append("v 50 50 50")  # referenced by no face
    lines += [f"vt {u:.3f} {v:.3f}" for u, v in rng.random((len(vertices), 2))]
    lines += [f"vn {x:.3f} {y:.3f} {z:.3f}" for x, y, z in rng.normal(size=(len(vertices), 3))]
    lines += ["f " + " ".join(f"{i + 1}/{i + 1}/{i + 1}" for i in face) for face in faces]
    return "\n".join(lines) + "\n"


def _write_model(path, vertices, faces, rng):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(_messy_obj(vertices, faces, rng))
    with open(os.path.join(os.path.dirname(path), "model.mtl"), "w") as fh:
        fh.write("newmtl wood\nKd 0.8 0.1 0.1\nmap_Kd ../images/texture0.jpg\n")  # texture missing


def _unit_diagonal(vertices):
    lo, hi = vertices.min(0), vertices.max(0)
    return (vertices - (lo + hi) / 2) / np.linalg.norm(hi - lo)  # ShapeNet's own normalization


# The releases' axes, written out from their READMEs rather than taken from pipelines/shapenet.py
# (the evidence is quoted there): +Y up in both, the front at +X in v1 and at -Z in v2, at +Z in
# tf3d. A point (x, y, z) of tf3d's frame is (z, y, -x) in v1 and (-x, y, -z) in v2; both are
# turns about +Y (determinant +1), and v1 -> v2 is (x, y, z) -> (z, y, -x).
def _to_v1(world):
    x, y, z = np.asarray(world, dtype=np.float64).T
    return np.stack([z, y, -x], axis=1)


def _to_v2(world):
    x, y, z = np.asarray(world, dtype=np.float64).T
    return np.stack([-x, y, -z], axis=1)


def _write_solid_binvox(mesh_path, vertices, faces):
    """`model_normalized.solid.binvox` beside a v2 mesh, 128^3 like ShapeNet's, in the mesh's
    coordinates, made the way binvox makes it: every voxel the surface touches, the inside filled."""
    scale, translation = conventions.normalization(vertices)
    solid = ndimage.binary_fill_holes(surface_voxels(vertices * scale + translation, faces, 128))
    binvox.write(os.path.join(os.path.dirname(mesh_path), "model_normalized.solid.binvox"), solid,
                 translate=(-conventions.CUBE_HALF - translation) / scale, scale=1.0 / scale)


def write_shapenet_tree(root, rng):
    """Six models: chair-v1, chair-v2 (the same chair), table-v2, broken-v1, empty-v2, nomesh."""
    chair = synthetic.generate("chair", 11)
    table = synthetic.generate("table", 12)
    world = _unit_diagonal(np.asarray(chair.vertices))  # tf3d's frame: front +Z
    _write_model(os.path.join(root, CHAIR, "chair-v1", "model.obj"), _to_v1(world), chair.faces, rng)
    v2 = os.path.join(root, CHAIR, "chair-v2", "models", "model_normalized.obj")
    _write_model(v2, _to_v2(world), chair.faces, rng)
    _write_solid_binvox(v2, _to_v2(world), chair.faces)
    _write_model(os.path.join(root, TABLE, "table-v2", "models", "model_normalized.obj"),
                 _to_v2(_unit_diagonal(np.asarray(table.vertices))), table.faces, rng)
    os.makedirs(os.path.join(root, CHAIR, "broken-v1"))
    with open(os.path.join(root, CHAIR, "broken-v1", "model.obj"), "wb") as fh:
        fh.write(b"v 0 0 0\nv 1 0 \x00\x00garbage\nf 1 2 9\n")
    os.makedirs(os.path.join(root, TABLE, "empty-v2", "models"))
    open(os.path.join(root, TABLE, "empty-v2", "models", "model_normalized.obj"), "w").close()
    os.makedirs(os.path.join(root, TABLE, "nomesh"))
    return root


def _asymmetric_chair():
    """A box chair in tf3d's frame, different front/back and left/right: `([V, 3], [F, 3])`.

    Seat, four legs, a back rest at the rear (-Z), a footrest bar sticking
    out at the front (+Z, low) and one arm rest, on the +X side only.
    """
    import trimesh

    boxes = [((-0.40, 0.40, -0.40), (0.40, 0.48, 0.40)),     # seat
             ((-0.40, 0.48, -0.40), (0.40, 1.20, -0.34)),    # back rest, rear
             ((-0.30, 0.10, 0.40), (0.30, 0.16, 0.56)),      # footrest, front
             ((0.34, 0.70, -0.34), (0.40, 0.76, 0.30)),      # arm rest, +X only
             ((0.34, 0.48, 0.24), (0.40, 0.70, 0.30))]       # its post
    boxes += [((x, 0.0, z), (x + 0.06, 0.40, z + 0.06)) for x in (-0.40, 0.34) for z in (-0.40, 0.34)]
    parts = [trimesh.creation.box(bounds=np.array(b)) for b in boxes]
    mesh = trimesh.util.concatenate(parts)
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def _iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


# ----------------------------------------------------------------------------- fast


def test_find_models_reads_both_layouts(tmp_path):
    root = write_shapenet_tree(str(tmp_path), np.random.default_rng(0))
    rows = {m: (s, layout, os.path.relpath(p, root), b and os.path.basename(b))
            for s, m, layout, p, b in shapenet.find_models(root)}
    assert rows == {
        "broken-v1": (CHAIR, "v1", f"{CHAIR}/broken-v1/model.obj", None),
        "chair-v1": (CHAIR, "v1", f"{CHAIR}/chair-v1/model.obj", None),
        "chair-v2": (CHAIR, "v2", f"{CHAIR}/chair-v2/models/model_normalized.obj",
                     "model_normalized.solid.binvox"),
        "empty-v2": (TABLE, "v2", f"{TABLE}/empty-v2/models/model_normalized.obj", None),
        "nomesh": (TABLE, None, f"{TABLE}/nomesh", None),
        "table-v2": (TABLE, "v2", f"{TABLE}/table-v2/models/model_normalized.obj", None)}
    assert [r[1] for r in shapenet.find_models(root, [TABLE], limit=2)] == ["empty-v2", "nomesh"]
    with pytest.raises(FileNotFoundError, match="synset 02691156 \\(airplane\\) is not under"):
        shapenet.find_models(root, ["02691156"])
    sources = shapenet.sources(root, [CHAIR])
    assert {s.category for s in sources} == {"chair"}
    assert all(s.split in records.SPLITS for s in sources)


def test_split_files(tmp_path):
    text = tmp_path / "split.txt"
    text.write_text("# R2N2 lists\ntrain 03001627/a\nval b\n\ntest 04379243/c  # a table\n")
    assign = shapenet.splitter(str(text))
    assert (assign(CHAIR, "a"), assign(TABLE, "b"), assign(TABLE, "c"), assign(CHAIR, "c")) == \
        ("train", "val", "test", None)
    pix2vox = tmp_path / "ShapeNet.json"
    pix2vox.write_text(json.dumps([{"taxonomy_id": CHAIR, "taxonomy_name": "chair",
                                    "train": ["a"], "val": ["b"], "test": ["c"]}]))
    assign = shapenet.splitter(str(pix2vox))
    assert (assign(CHAIR, "a"), assign(CHAIR, "b"), assign(CHAIR, "c"), assign(TABLE, "a")) == \
        ("train", "val", "test", None)
    bad = tmp_path / "bad.txt"
    bad.write_text("training a\n")
    with pytest.raises(ValueError, match="bad.txt:1: expected"):
        shapenet.read_split_file(str(bad))
    with pytest.raises(SystemExit, match="8-digit"):
        shapenet.parse_synsets("chair")
    assert shapenet.parse_synsets("03001627, 04379243") == [CHAIR, TABLE]


def test_split_option_puts_every_model_in_one_split(tmp_path):
    assign = shapenet.splitter(None, "test")
    assert {assign(CHAIR, model_id) for model_id in "abcdefgh"} == {"test"}
    hashed = shapenet.splitter(None, "hash")
    assert len({hashed(CHAIR, f"model-{i}") for i in range(50)}) == 3
    text = tmp_path / "split.txt"
    text.write_text("train a\n")
    with pytest.raises(SystemExit, match="--split test and --split-file"):
        shapenet.splitter(str(text), "test")


def test_binvox_to_grid_by_hand():
    # A 2 x 1 x 1 box with its minimum corner at the origin, voxelized at 16^3
    # over [0, 2]^3, placed in the cube by scale 1/2 and translation
    # (-0.5, -0.25, -0.25) (given by hand, not `conventions.normalization`, so
    # that the test does not depend on how meshes are normalized): the box
    # spans x in [-0.5, 0.5] and y, z in [-0.25, 0.25] = voxels 2..5 of 8.
    grid = np.zeros((16, 16, 16), bool)
    grid[:, :8, :8] = True
    box = binvox.Binvox(grid, np.zeros(3), 2.0)
    scale, translation = 0.5, np.array([-0.5, -0.25, -0.25])
    expected = np.zeros((8, 8, 8), bool)
    expected[:, 2:6, 2:6] = True
    np.testing.assert_array_equal(shapenet.binvox_to_grid(box, scale, translation, 8), expected)


def test_release_frames_agree_with_each_other_and_tf3d():
    # Fronts: v1 +X and v2 -Z both go to tf3d's +Z; up stays up; both are turns, not mirrors.
    np.testing.assert_array_equal(shapenet.V1_TO_WORLD @ [1, 0, 0], [0, 0, 1])
    np.testing.assert_array_equal(shapenet.V2_TO_WORLD @ [0, 0, -1], [0, 0, 1])
    for rotation in (shapenet.V1_TO_WORLD, shapenet.V2_TO_WORLD):
        np.testing.assert_array_equal(rotation @ [0, 1, 0], [0, 1, 0])
        assert np.linalg.det(rotation) == pytest.approx(1.0)
    # v1 -> v2 is rotation_y(+90), (x, y, z) -> (z, y, -x); going on to tf3d gives v1's own turn.
    v1_to_v2 = conventions.rotation_y(90.0).round()
    np.testing.assert_array_equal(v1_to_v2 @ [1, 2, 3], [3, 2, -1])
    np.testing.assert_array_equal(shapenet.V2_TO_WORLD @ v1_to_v2, shapenet.V1_TO_WORLD)
    # The azimuth-0 camera sits on +Z: it looks at the front.
    assert conventions.camera_position(0.0, 30.0, 2.5)[2] > 0


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_turn_grid_moves_voxel_centres_like_the_mesh(layout):
    rotation = shapenet.TO_WORLD[layout]
    rng = np.random.default_rng(3)
    grid = rng.random((5, 5, 5)) < 0.3
    turned = shapenet.turn_grid(grid, rotation)
    centre = conventions.voxel_centers(5)
    expected = np.zeros_like(grid)
    for index in np.argwhere(grid):
        moved = rotation @ centre[index]
        expected[tuple(np.argmin(np.abs(centre[:, None] - moved), axis=0))] = True
    np.testing.assert_array_equal(turned, expected)
    with pytest.raises(ValueError, match="map axes onto axes"):
        shapenet.turn_grid(grid, conventions.rotation_y(45.0))
    with pytest.raises(ValueError, match="voxels must have shape"):
        shapenet.turn_grid(np.zeros((4, 4)), rotation)


def test_v1_and_v2_copies_of_one_chair_import_identically_front_at_plus_z(tmp_path):
    """The same hand-made chair stored once as v1 (front +X), once as v2 (front -Z)."""
    from pipelines.meshes import load_mesh
    from pipelines.voxelize import voxelize

    world, faces = _asymmetric_chair()
    root = str(tmp_path / "ShapeNetCore")
    # Same messiness (flipped, duplicate, degenerate faces) in both files: one seed each.
    _write_model(os.path.join(root, CHAIR, "pair-v1", "model.obj"), _to_v1(world), faces,
                 np.random.default_rng(5))
    v2_path = os.path.join(root, CHAIR, "pair-v2", "models", "model_normalized.obj")
    _write_model(v2_path, _to_v2(world), faces, np.random.default_rng(5))
    _write_solid_binvox(v2_path, _to_v2(world), faces)

    got = {}
    for source in shapenet.sources(root):  # the importer's own path: find, turn, write, resample
        mesh_path, grid = shapenet.prepare_model(source, str(tmp_path / f"{source.model_id}.obj"),
                                                 resolution=32, voxel_source="binvox")
        vertices, mesh_faces = load_mesh(mesh_path)
        got[source.extra["layout"]] = (conventions.normalize_vertices(vertices), mesh_faces, grid)
    assert sorted(got) == ["v1", "v2"] and got["v1"][2] is None and got["v2"][2] is not None

    def triangles(vertices, faces):  # order-free: cleaning sorts vertices by their coordinates
        return sorted(tuple(sorted(map(tuple, np.round(vertices[f], 9)))) for f in faces)

    expected = triangles(conventions.normalize_vertices(world), faces)
    for layout in ("v1", "v2"):  # identical to each other and to the chair in tf3d's frame
        assert triangles(*got[layout][:2]) == expected, layout
    vertices, mesh_faces, binvox_grid = got["v1"][0], got["v1"][1], got["v2"][2]
    np.testing.assert_array_equal(voxelize(vertices, mesh_faces, 32), voxelize(*got["v2"][:2], 32))

    # Front at +Z, read off the output alone (scale-free): the front-most points are the low
    # footrest, the top of the back rest is at the rear, the arm rest on +X; the azimuth-0 camera
    # is nearer the footrest than the back rest.
    lo, hi = vertices.min(0), vertices.max(0)
    relative = (vertices - lo) / (hi - lo)  # [V, 3] in [0, 1] per axis
    front, top = relative[:, 2] > 0.99, relative[:, 1] > 0.99
    assert relative[front, 1].max() < 0.2 and relative[top, 2].max() < 0.1
    arm = (relative[:, 1] > 0.55) & (relative[:, 1] < 0.9) & (relative[:, 2] > 0.2)
    assert arm.any() and relative[arm, 0].min() > 0.9
    eye = conventions.camera_position(0.0, 30.0, 2.5)
    distance = np.linalg.norm(vertices - eye, axis=1)  # [V]
    assert distance[front].max() < distance[top].min()

    # v2's shipped solid binvox is turned like its mesh: it matches the voxelized v1 chair (a grid
    # left in v2's axes would not), and it has the arm rest on the +X side (a mirror would not).
    meshed = voxelize(vertices, mesh_faces, 32)
    assert _iou(binvox_grid, meshed) > 0.85, _iou(binvox_grid, meshed)
    assert _iou(binvox_grid[::-1, :, ::-1], meshed) < 0.5
    i, j, k = np.floor(conventions.world_to_voxel(vertices[arm].mean(0), 32)).astype(int)
    assert binvox_grid[i, j, k] and not binvox_grid[31 - i, j, k]


# ----------------------------------------------------------------------------- end to end


def _run(*args, timeout=600):
    result = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def check_verify_and_train(out, run_dir, min_iou):
    """`pipelines.verify --alignment` passes with mean IoU >= min_iou; a few training steps run."""
    printed = _run("-m", "pipelines.verify", out, "--alignment")
    mean = float(re.search(r"alignment mean IoU = ([0-9.]+)", printed).group(1))
    assert mean >= min_iou, printed
    _run("-m", "tf3d.train", "experiments/paired_local.yaml", "--set", f"data.dir={out}",
         "--set", f"run_dir={run_dir}", "--set", "train.epochs=1", "--set", "train.steps_per_epoch=2",
         "--set", "train.batch_size=2", "--set", "train.val_batches=1")
    assert os.path.exists(os.path.join(run_dir, "train_summary.json"))
    return mean


@pytest.mark.slow
def test_shapenet_command_end_to_end(tmp_path):
    root = write_shapenet_tree(str(tmp_path / "ShapeNetCore"), np.random.default_rng(1))
    split = tmp_path / "split.txt"
    split.write_text("train 03001627/chair-v1\ntrain 04379243/table-v2\nval 03001627/chair-v2\n"
                     "train 03001627/broken-v1\ntrain 04379243/empty-v2\ntrain 04379243/nomesh\n")
    out = str(tmp_path / "out")
    _run("-m", "pipelines.build", "shapenet", "--root", root, "--synsets", f"{CHAIR},{TABLE}",
         "--out", out, "--workers", "2", "--image-size", "64", "--split-file", str(split),
         "--voxels", "binvox", "--quiet")
    with open(os.path.join(out, records.INFO_FILE)) as fh:
        info = json.load(fh)
    assert info["num_records"] == 3 and info["categories"] == {"chair": 2, "table": 1}
    assert info["splits"]["val"]["num_records"] == 1 and info["image_size"] == 64
    skipped = {s["model_id"] if isinstance(s, dict) else str(s): s for s in info["skipped"]}
    assert info["num_skipped"] == 3, info["skipped"]
    assert all(any(m in json.dumps(s) for s in info["skipped"]) for m in ("broken-v1", "empty-v2", "nomesh")), \
        skipped
    from tests.test_tfds_info import assert_tfds_matches

    assert_tfds_matches(out)  # TFDS loads a ShapeNet build too

    import tensorflow as tf

    got = {}
    for name in sorted(os.listdir(out)):
        if records.parse_shard_name(name):
            for raw in tf.data.TFRecordDataset(os.path.join(out, name)):
                record = records.decode_example(raw.numpy())
                got[record["model_id"]] = record
    v1, v2 = got["chair-v1"], got["chair-v2"]
    # The v1 chair, turned into tf3d's frame, is the v2 chair: back at -Z, same renders.
    assert np.argwhere(v1["voxels"][:, 20:])[:, 2].mean() < 14
    same = np.logical_and(v1["voxels"], v2["voxels"]).sum() / np.logical_or(v1["voxels"], v2["voxels"]).sum()
    assert same > 0.9, same  # v1 voxelized from the mesh, v2 resampled from its solid binvox
    masks = [alignment.silhouette_iou(alignment.mask_from_alpha(a), alignment.mask_from_alpha(b))
             for a, b in zip(v1["masks"], v2["masks"])]
    assert min(masks) > 0.97, masks
    np.testing.assert_allclose(v1["extrinsics"], conventions.DEFAULT_VIEWPOINTS.extrinsics(), atol=1e-5)
    # Materials were ignored: grayscale renders, background white.
    assert v1["images"].shape == (8, 64, 64) and v1["images"][:, 0, 0].min() == 255

    check_verify_and_train(out, str(tmp_path / "run"), min_iou=0.85)
