"""The room generator's invariants, the built scene dataset, its loader and its pictures."""

import json
import os

import numpy as np
import pytest

from pipelines.rooms import objects
from pipelines.rooms.rooms import generate_scene
from pipelines.rooms.scene import ROOM_TYPES
from tf3d.data import scenes
from tf3d.data.scene_classes import CLASS_ID, CLASSES, NUM_CLASSES

SHAPE = (40, 24, 40)


@pytest.mark.parametrize("room_type", ROOM_TYPES)
def test_objects_never_overlap_and_stay_inside_the_room(room_type):
    for seed in range(3):
        scene = generate_scene(seed, room_type, SHAPE)
        assert scene.labels.shape == SHAPE and scene.labels.dtype == np.uint8
        assert scene.items, "a room gets furniture"
        ix0, ix1, iz0, iz1 = scene.inner
        for index, (item, (x, y, z)) in enumerate(scene.items, start=1):
            w, h, d = item.mask.shape
            # Every voxel of every object is still its own: nothing was placed over it.
            assert (scene.instances[x:x + w, y:y + h, z:z + d][item.mask] == index).all(), item.name
            assert (scene.labels[x:x + w, y:y + h, z:z + d][item.mask] == item.label).all(), item.name
            assert ix0 <= x and x + w <= ix1 and iz0 <= z and z + d <= iz1, item.name
            assert scene.floor_top <= y and y + h <= scene.ceiling, item.name
        assert (scene.instances > 0).sum() == sum(int(it.mask.sum()) for it, _ in scene.items)


def test_scenes_are_reproducible_and_have_a_shell():
    a, b = generate_scene(5, "bedroom", SHAPE), generate_scene(5, "bedroom", SHAPE)
    np.testing.assert_array_equal(a.labels, b.labels)
    for name in ("floor", "ceiling", "wall", "window", "bed"):
        assert (a.labels == CLASS_ID[name]).any(), name
    with pytest.raises(ValueError, match="room_type"):
        generate_scene(0, "garage", SHAPE)


def test_rotate_turns_the_front_towards_the_facing():
    mask = np.zeros((3, 1, 3), bool)
    mask[1, 0, 2] = True  # the front (+Z) end
    item = objects.Item(1, mask, "probe")
    fronts = {f: tuple(np.argwhere(objects.rotate(item, f).mask)[0]) for f in objects.FACINGS}
    assert fronts == {"+z": (1, 0, 2), "+x": (2, 0, 1), "-z": (1, 0, 0), "-x": (0, 0, 1)}


def test_synthetic_chairs_keep_their_thin_legs_at_room_scale():
    chair = objects.synthetic_item("chair", "dining", 3, 0.06)
    assert chair.label == CLASS_ID["chair"]
    lowest = chair.mask[:, 0, :]  # the floor layer: only the legs touch it
    assert 2 <= lowest.sum() < 0.2 * lowest.size


@pytest.fixture(scope="module")
def rooms_dir(tmp_path_factory):
    from pipelines import build

    out = str(tmp_path_factory.mktemp("rooms"))
    assert build.main(["rooms", "--out", out, "--num-scenes", "12", "--shape", *map(str, SHAPE), "--workers", "0",
                       "--quiet", "--scenes-per-shard", "4"]) == 0
    return out


def test_built_dataset_has_every_class_and_its_frequencies(rooms_dir):
    with open(os.path.join(rooms_dir, scenes.INFO_FILE)) as fh:
        info = json.load(fh)
    assert info["classes"] == list(CLASSES) and info["shape"] == list(SHAPE)
    total = np.sum([e["class_counts"] for e in info["splits"].values()], axis=0)
    assert (total > 0).all(), dict(zip(CLASSES, total))  # every class turns up somewhere
    assert sum(info["class_frequencies"].values()) == pytest.approx(1.0)
    assert info["class_frequencies"]["empty"] > 0.5
    assert sum(e["num_records"] for e in info["splits"].values()) == 12


def test_records_decode_to_label_grids(rooms_dir):
    import tensorflow as tf

    info = scenes.read_info(rooms_dir)
    shard = os.path.join(rooms_dir, info["splits"]["train"]["shards"][0]["file"])
    raw = next(iter(tf.data.TFRecordDataset(shard, compression_type=scenes.COMPRESSION)))
    record = scenes.decode_scene(raw.numpy())
    assert record["labels"].shape == SHAPE and record["labels"].dtype == np.uint8
    assert record["room_type"] in ROOM_TYPES and record["scene_id"].startswith(record["room_type"])
    batch = next(iter(scenes.make_dataset(rooms_dir, "train", 2, training=True)))
    assert batch.shape == (2, *SHAPE) and batch.dtype == tf.uint8
    assert int(tf.reduce_max(batch)) < NUM_CLASSES


def test_a_directory_of_npy_and_npz_grids_is_a_dataset(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        os.makedirs(tmp_path / split)
    np.save(tmp_path / "train" / "a.npy", rng.integers(0, NUM_CLASSES, SHAPE).astype(np.uint8))
    np.savez(tmp_path / "train" / "b.npz", labels=rng.integers(0, NUM_CLASSES, SHAPE))
    np.save(tmp_path / "val" / "c.npy", np.zeros(SHAPE, np.uint8))
    info = scenes.read_info(str(tmp_path))
    assert info["shape"] == list(SHAPE) and scenes.num_scenes(info, "train") == 2
    batch = next(iter(scenes.make_dataset(str(tmp_path), "train", 2, training=False)))
    assert batch.shape == (2, *SHAPE)
    np.save(tmp_path / "val" / "bad.npy", np.full(SHAPE, 12, np.uint8))
    with pytest.raises(ValueError, match="class ids outside"):
        scenes.load_grid(str(tmp_path / "val" / "bad.npy"))
    with pytest.raises(FileNotFoundError, match="pipelines.build rooms"):
        scenes.read_info(str(tmp_path / "train" / "nothing"))


def test_preview_draws_coloured_scenes(rooms_dir, tmp_path):
    from PIL import Image

    from pipelines import preview

    out = str(tmp_path / "rooms.png")
    assert preview.main([rooms_dir, "-o", out, "--num", "2", "--split", "train"]) == 0
    picture = np.asarray(Image.open(out).convert("RGB"))
    bed_or_chair = [tuple(c) for c in picture.reshape(-1, 3)[::7]]
    assert picture.shape[0] > 200 and len(set(bed_or_chair)) > 20  # shaded class colours, not a blank sheet


def test_downsampling_keeps_thin_parts():
    labels = np.zeros((4, 2, 4), np.uint8)
    labels[0, 0, 0] = CLASS_ID["chair"]  # a lone leg voxel: its block becomes chair, not empty
    labels[2:4, 0:2, 0:2] = CLASS_ID["wall"]
    labels[2, 0, 0] = CLASS_ID["objs"]  # outvoted by 7 wall voxels
    small = scenes.downsample_labels(labels, 2).numpy()
    assert small.shape == (2, 1, 2) and small.dtype == np.uint8
    np.testing.assert_array_equal(small[:, 0, :], [[CLASS_ID["chair"], 0], [CLASS_ID["wall"], 0]])
