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


def write_shapenet_tree(root, rng):
    """Six models: chair-v1, chair-v2 (the same chair), table-v2, broken-v1, empty-v2, nomesh."""
    chair = synthetic.generate("chair", 11)
    table = synthetic.generate("table", 12)
    world = _unit_diagonal(np.asarray(chair.vertices))
    # v1 stores the chair with its front at +X: p_v1 = V1_TO_WORLD.T @ p_world.
    _write_model(os.path.join(root, CHAIR, "chair-v1", "model.obj"), world @ shapenet.V1_TO_WORLD,
                 chair.faces, rng)
    v2 = os.path.join(root, CHAIR, "chair-v2", "models", "model_normalized.obj")
    _write_model(v2, world, chair.faces, rng)
    # The solid binvox beside it, 128^3 like ShapeNet's, in the mesh's coordinates, made the
    # way binvox makes it: every voxel the surface touches, the inside filled.
    scale, translation = conventions.normalization(world)
    solid = ndimage.binary_fill_holes(surface_voxels(world * scale + translation, chair.faces, 128))
    binvox.write(os.path.join(os.path.dirname(v2), "model_normalized.solid.binvox"), solid,
                 translate=(-conventions.CUBE_HALF - translation) / scale, scale=1.0 / scale)
    _write_model(os.path.join(root, TABLE, "table-v2", "models", "model_normalized.obj"),
                 _unit_diagonal(np.asarray(table.vertices)), table.faces, rng)
    os.makedirs(os.path.join(root, CHAIR, "broken-v1"))
    with open(os.path.join(root, CHAIR, "broken-v1", "model.obj"), "wb") as fh:
        fh.write(b"v 0 0 0\nv 1 0 \x00\x00garbage\nf 1 2 9\n")
    os.makedirs(os.path.join(root, TABLE, "empty-v2", "models"))
    open(os.path.join(root, TABLE, "empty-v2", "models", "model_normalized.obj"), "w").close()
    os.makedirs(os.path.join(root, TABLE, "nomesh"))
    return root


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


def test_binvox_to_grid_by_hand():
    # A 2 x 1 x 1 box with its minimum corner at the origin, voxelized at 16^3
    # over [0, 2]^3. Normalization: scale 1/2, translation (-0.5, -0.25, -0.25),
    # so the box spans y, z in [-0.25, 0.25] = voxels 2..5 of 8 in the cube.
    grid = np.zeros((16, 16, 16), bool)
    grid[:, :8, :8] = True
    box = binvox.Binvox(grid, np.zeros(3), 2.0)
    scale, translation = conventions.normalization(np.array([[0, 0, 0], [2, 1, 1.0]]))
    expected = np.zeros((8, 8, 8), bool)
    expected[:, 2:6, 2:6] = True
    np.testing.assert_array_equal(shapenet.binvox_to_grid(box, scale, translation, 8), expected)


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
