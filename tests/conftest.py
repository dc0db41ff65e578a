"""Shared test fixtures: small, real tf3d datasets written with `records.encode_example`.

`synthetic_dataset` is a tiny real build (`python -m pipelines.build synthetic`,
6 chairs + 6 tables rendered with Blender). `write_box_dataset` builds furniture-like box models (a "chair" has a seat,
back rest and legs; a "table" a top and legs), projects each grid through the
dataset cameras with `tf3d.alignment.voxel_coverage` for the masks, shades the
images from the masks, and writes TFDS-style shards plus `dataset_info.json`
in the layout `pipelines.build` produces.
"""

import hashlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tf3d import alignment, conventions
from tf3d.data import records

TEST_IMAGE_SIZE = 64  # small renders keep the fixtures fast; the pipeline resizes anyway


def _box(grid, lo, hi):
    grid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True


def box_model(category, rng, resolution=32):
    """A random chair- or table-like bool `[R, R, R]` grid (asymmetric front/back)."""
    r = resolution
    grid = np.zeros((r, r, r), dtype=bool)
    half_w = int(rng.integers(r // 4, r // 2 - 1))
    half_d = int(rng.integers(r // 5, r // 2 - 2))
    lo_x, hi_x, lo_z, hi_z = r // 2 - half_w, r // 2 + half_w, r // 2 - half_d, r // 2 + half_d
    leg = max(1, r // 16)
    top = int(rng.integers(r // 3, r // 2)) if category == "chair" else int(rng.integers(r // 2, 3 * r // 4))
    for x in (lo_x, hi_x - leg):
        for z in (lo_z, hi_z - leg):
            _box(grid, (x, 2, z), (x + leg, top, z + leg))
    _box(grid, (lo_x, top, lo_z), (hi_x, top + max(1, r // 16), hi_z))
    if category == "chair":  # back rest at -Z (conventions: the seat faces +Z)
        _box(grid, (lo_x, top, lo_z), (hi_x, min(r - 2, top + r // 2), lo_z + leg))
    return grid


def _png(array):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def encode_box_record(model_id, category, voxels, viewpoints):
    """Serialized record of `voxels` seen from every view of `viewpoints`."""
    images, masks = [], []
    for projection in viewpoints.projections():
        coverage = alignment.voxel_coverage(voxels, projection, viewpoints.image_size)
        masks.append(_png(np.round(coverage * 255)))
        images.append(_png(np.round(255 - 150 * coverage)))
    num = viewpoints.num_views
    return records.encode_example(
        model_id=model_id, category=category, voxels=voxels, images=images, masks=masks,
        azimuths=viewpoints.azimuths, elevations=[viewpoints.elevation] * num,
        intrinsics=np.repeat(viewpoints.intrinsics()[None], num, axis=0),
        extrinsics=viewpoints.extrinsics())


def write_box_dataset(directory, per_category=(("chair", 4), ("table", 4)), splits=("train", "val"),
                      shards=2, seed=0, viewpoints=None, name="boxes"):
    """Writes a small dataset; returns `directory`. Records alternate categories."""
    import tensorflow as tf

    viewpoints = viewpoints or conventions.ViewpointSet(image_size=TEST_IMAGE_SIZE)
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    info = {"name": name, "num_views": viewpoints.num_views, "voxel_resolution": 32,
            "voxel_packing": records.VOXEL_PACKING,
            "image_size": viewpoints.image_size, "viewpoints": viewpoints.to_dict(),
            "splits": {}, "features": sorted(records.FEATURES)}
    occupancy = []
    for split in splits:
        models = [(c, i) for c, n in per_category for i in range(n)]
        paths = [os.path.join(directory, records.shard_name(name, split, s, shards)) for s in range(shards)]
        writers = [tf.io.TFRecordWriter(p) for p in paths]
        counts = [0] * shards
        categories = {}
        for number, (category, i) in enumerate(models):
            voxels = box_model(category, rng)
            if split == "train":
                occupancy.append(voxels.mean())
            writers[number % shards].write(encode_box_record(
                f"{split}-{category}-{i}", category, voxels, viewpoints))
            counts[number % shards] += 1
            categories[category] = categories.get(category, 0) + 1
        for writer in writers:
            writer.close()
        info["splits"][split] = {
            "num_records": len(models), "categories": categories,
            "shards": [{"file": os.path.basename(p), "num_records": n,
                        "sha256": hashlib.sha256(open(p, "rb").read()).hexdigest()}
                       for p, n in zip(paths, counts)]}
    info["occupancy_rate"] = float(np.mean(occupancy)) if occupancy else 0.05
    with open(os.path.join(directory, records.INFO_FILE), "w") as fh:
        json.dump(info, fh, indent=1)
    return str(directory)


@pytest.fixture(scope="session")
def box_dataset(tmp_path_factory):
    """A 2-shard train/val dataset of 4 chairs + 4 tables per split, 8 views at 64 px."""
    return write_box_dataset(tmp_path_factory.mktemp("boxes"))


@pytest.fixture()
def broken_dataset(tmp_path):
    """(directory, DatasetSource) of a 6-record train split whose first shard is
    truncated inside its last record (2) and whose second shard's record 1
    holds an undecodable PNG (valid TFRecord framing)."""
    import tensorflow as tf

    from tf3d.data import pipeline

    directory = write_box_dataset(str(tmp_path / "broken"), per_category=(("chair", 3), ("table", 3)),
                                  splits=("train", "val"), shards=2)
    source = pipeline.resolve(directory, "train")
    truncated = source.files[0]
    with open(truncated, "rb") as fh:
        data = fh.read()
    with open(truncated, "wb") as fh:
        fh.write(data[: len(data) - 100])
    serialized = [s.numpy() for s in tf.data.TFRecordDataset(source.files[1])]
    example = tf.train.Example.FromString(serialized[1])
    example.features.feature["images"].bytes_list.value[0] = b"\x89PNG\r\n\x1a\nnot really"
    serialized[1] = example.SerializeToString()
    with tf.io.TFRecordWriter(source.files[1]) as writer:
        for s in serialized:
            writer.write(s)
    return directory, source


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory):
    """Directory of a tiny real synthetic build: 6 chairs + 6 tables, 8 views at 128 px."""
    out = str(tmp_path_factory.mktemp("synthetic") / "data")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = [sys.executable, "-m", "pipelines.build", "synthetic", "--out", out, "--num-chairs", "6",
               "--num-tables", "6", "--seed", "1", "--workers", "2", "--quiet"]
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return out


@pytest.fixture(scope="session")
def shaded_dataset(tmp_path_factory):
    """Directory of a tiny real shaded build (`pipelines.build shaded`): 6 chairs + 6 tables, 2 images each,
    64 px, 4 Cycles samples; every split has models."""
    out = str(tmp_path_factory.mktemp("shaded") / "data")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = [sys.executable, "-m", "pipelines.build", "shaded", "--out", out, "--num-chairs", "6",
               "--num-tables", "6", "--views", "2", "--samples", "4", "--workers", "1", "--quiet"]
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return out
