"""`pipelines.shaded` and `tf3d.data.shaded_records`: a tiny real build (Blender) and its ground truth."""

import json
import os

import numpy as np
import pytest

from tf3d.data import shaded_records


def _all(directory, split):
    ds = shaded_records.make_dataset(directory, split, batch_size=256, training=False)
    return {k: v.numpy() for k, v in next(iter(ds)).items()}


def test_build_writes_every_split_and_info(shaded_dataset):
    info = shaded_records.read_info(shaded_dataset)
    assert info["num_records"] == 24 and info["image_size"] == 64
    assert all(info["splits"][s]["num_records"] > 0 for s in shaded_records.SPLITS)
    batch = _all(shaded_dataset, "train")
    assert batch["image"].shape[1:] == (64, 64, 1) and batch["normal"].shape[1:] == (64, 64, 3)
    # Views are jittered around the front: azimuth within +-20, elevation 15 +- 10.
    assert np.all(np.abs(batch["azimuth"]) <= 20) and np.all(np.abs(batch["elevation"] - 15) <= 10)


def test_image_is_lambert_of_the_ground_truth(shaded_dataset):
    """Blender's pixels = albedo (ambient + diffuse max(0, n . l)) with tf3d's GT normals and albedo."""
    b = _all(shaded_dataset, "train")
    light = b["light"]
    lambert = np.maximum(0.0, np.einsum("bhwc,bc->bhw", b["normal"], light[:, 2:]))
    predicted = b["albedo"] * (light[:, 0, None, None] + light[:, 1, None, None] * lambert)
    inner = b["depth"] > 0  # object and wall
    error = np.abs(predicted - b["image"][..., 0])[inner]
    assert inner.mean() > 0.99  # the wall fills the frame
    # The object's mask: its share of the frame, where the depth is nearer than the wall's.
    mask = b["mask"][..., 0] > 0.5
    assert 0.05 < mask.mean() < 0.6
    for depth, seen in zip(b["depth"], mask):
        assert depth[seen].mean() < depth[~seen].mean() - 0.3
    # 8-bit quantization and anti-aliased edges between faces: most pixels agree to a few levels.
    assert np.median(error) < 0.01 and error.mean() < 0.03
    # The shading matters: a wrong light (mirrored in x) disagrees much more.
    mirrored = light[:, 2:] * np.array([-1.0, 1.0, 1.0])
    wrong = b["albedo"] * (light[:, 0, None, None] + light[:, 1, None, None] * np.maximum(
        0.0, np.einsum("bhwc,bc->bhw", b["normal"], mirrored)))
    assert np.abs(wrong - b["image"][..., 0])[inner].mean() > 2 * error.mean()


def test_normals_agree_with_depth(shaded_dataset):
    """Normals from the GT depth map's back-projected points match the GT normal map inside faces."""
    b = _all(shaded_dataset, "val")
    k_inv = np.linalg.inv(b["intrinsics"][0])
    s = b["depth"].shape[1]
    uv = np.stack(np.meshgrid(np.arange(s) + 0.5, np.arange(s) + 0.5, indexing="xy"), -1)
    rays = np.concatenate([uv, np.ones_like(uv[..., :1])], -1) @ k_inv.T
    points = b["depth"][..., None] * rays  # [B, S, S, 3] camera frame
    du = points[:, 1:-1, 2:] - points[:, 1:-1, :-2]
    dv = points[:, 2:, 1:-1] - points[:, :-2, 1:-1]
    from_depth = np.cross(dv, du)  # x right, y down: dv x du points at the camera
    from_depth /= np.maximum(np.linalg.norm(from_depth, axis=-1, keepdims=True), 1e-12)
    gt = b["normal"][:, 1:-1, 1:-1]
    # Pixels whose four neighbours carry the same normal lie inside one flat face.
    same = np.ones(gt.shape[:-1], bool)
    for shifted in (b["normal"][:, 1:-1, 2:], b["normal"][:, 1:-1, :-2], b["normal"][:, 2:, 1:-1],
                    b["normal"][:, :-2, 1:-1]):
        same &= np.all(np.abs(shifted - gt) < 1e-4, axis=-1)
    same &= np.linalg.norm(gt, axis=-1) > 0.5
    cos = np.sum(from_depth * gt, -1)[same]
    assert same.sum() > 2000
    # Both face the camera (the same sign convention) and agree to a degree or two.
    assert np.median(np.degrees(np.arccos(np.clip(cos, -1, 1)))) < 2.0
    assert np.all(gt[same][:, 2] < 0.5)  # turned towards the camera (-z)


def test_missing_dataset_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="pipelines.build shaded"):
        shaded_records.read_info(str(tmp_path))
    (tmp_path / "tf3d_info.json").write_text(json.dumps({"format": "tf3d.data.records"}))
    with pytest.raises(ValueError, match="not a shaded dataset"):
        shaded_records.read_info(str(tmp_path))
    assert os.path.isdir(tmp_path)
