"""Room-scene datasets: the record format, the metadata and the `tf.data` input of the `alphagan` task.

A built dataset (`python -m pipelines.build rooms`) is a directory of
GZIP-compressed TFRecord shards and one metadata file:

    DIR/rooms-<split>.tfrecord-<i:05d>-of-<n:05d>   (split: train, val, test; `records.SHARD_PATTERN`)
    DIR/dataset_info.json                           `INFO_FILE`: classes, grid shape, per-class voxel
                                                    frequencies, shards and record counts per split

Each record is a `tf.train.Example` of one scene:

    scene_id    bytes       unique id, e.g. b"living-00012"
    room_type   bytes       living, dining, bedroom or office
    shape       int64 x 3   [X, Y, Z] of the grid (+Y up, `tf3d.conventions`)
    labels      bytes       the uint8 class ids (`tf3d.data.scene_classes.CLASSES`) in C order

A directory of `.npy` / `.npz` label grids (any names; an `.npz` holds the
array `labels` or a single array) is read as well, so that scenes voxelized
elsewhere (an old SUNCG export) train the same model: files in `DIR/<split>/`
make that split; without such subdirectories, every file of DIR is assigned
a split by a hash of its name (80/10/10, as the shard builders do). All grids
of a dataset have one shape.
"""

import json
import os
import zlib

import numpy as np

from tf3d.data import records
from tf3d.data.scene_classes import CLASSES, NUM_CLASSES, check_labels

INFO_FILE = "dataset_info.json"
FORMAT = "tf3d.data.scenes"
COMPRESSION = "GZIP"
SPLIT_FRACTIONS = (("train", 0.8), ("val", 0.1), ("test", 0.1))


def encode_scene(scene_id, room_type, labels):
    """Serialized `tf.train.Example` of one scene (`labels`: uint8 `[X, Y, Z]`)."""
    import tensorflow as tf

    labels = check_labels(labels)
    feature = {
        "scene_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[scene_id.encode()])),
        "room_type": tf.train.Feature(bytes_list=tf.train.BytesList(value=[room_type.encode()])),
        "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=list(labels.shape))),
        "labels": tf.train.Feature(bytes_list=tf.train.BytesList(value=[np.ascontiguousarray(labels).tobytes()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def decode_scene(serialized):
    """`{"scene_id", "room_type", "labels" uint8 [X, Y, Z]}` of a serialized record (NumPy, for tools)."""
    import tensorflow as tf

    feats = tf.train.Example.FromString(serialized).features.feature
    shape = tuple(feats["shape"].int64_list.value)
    labels = np.frombuffer(feats["labels"].bytes_list.value[0], dtype=np.uint8).reshape(shape)
    return {"scene_id": feats["scene_id"].bytes_list.value[0].decode(),
            "room_type": feats["room_type"].bytes_list.value[0].decode(), "labels": labels}


def read_info(directory):
    """The `dataset_info.json` of a built scene dataset, or the description of a `.npy`/`.npz` directory."""
    import tensorflow as tf

    path = f"{directory.rstrip('/')}/{INFO_FILE}"
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as fh:
            info = json.load(fh)
        if info.get("format") == FORMAT:
            return info
    files = grid_files(directory)
    if not any(files.values()):
        raise FileNotFoundError(f"{directory} holds no scene dataset ({INFO_FILE} of format {FORMAT}, or "
                                f".npy/.npz label grids); build one with `python -m pipelines.build rooms "
                                f"--out {directory}`")
    first = load_grid(next(f for fs in files.values() for f in fs))
    return {"format": "label grids", "shape": list(first.shape), "classes": list(CLASSES),
            "splits": {s: {"num_records": len(f), "files": f} for s, f in files.items()},
            "class_frequencies": None}


def split_of(name):
    """Deterministic split of a file or scene name (a stable hash, as `pipelines.shards.split_for`)."""
    u = (zlib.crc32(name.encode()) & 0xFFFFFFFF) / 2.0 ** 32
    total = 0.0
    for split, fraction in SPLIT_FRACTIONS:
        total += fraction
        if u < total:
            return split
    return SPLIT_FRACTIONS[-1][0]


def grid_files(directory):
    """`{split: [path, ...]}` of the `.npy`/`.npz` grids of a directory (see the module docstring)."""
    def listed(folder):
        if not os.path.isdir(folder):
            return []
        return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith((".npy", ".npz")))

    by_split = {split: listed(os.path.join(directory, split)) for split in records.SPLITS}
    if any(by_split.values()):
        return by_split
    for path in listed(directory):
        by_split[split_of(os.path.basename(path))].append(path)
    return by_split


def load_grid(path):
    """uint8 `[X, Y, Z]` labels of one `.npy` or `.npz` file (array `labels`, or its only array)."""
    data = np.load(path)
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if "labels" in data.files:
                array = data["labels"]
            elif len(data.files) == 1:
                array = data[data.files[0]]
            else:
                raise ValueError(f"{path} holds arrays {data.files}; name the label grid 'labels'")
    else:
        array = data
    return check_labels(array, name=path)


def num_scenes(info, split):
    return int(info.get("splits", {}).get(split, {}).get("num_records", 0))


def downsample_labels(labels, factor):
    """uint8 `[X/f, Y/f, Z/f]` labels of `[X, Y, Z]` ones, keeping thin parts (TensorFlow).

    A block of f^3 voxels takes its most frequent non-empty class, or empty
    if all of it is empty: like max-pooling occupancy, so a one-voxel leg,
    wall or floor slab survives (objects grow by up to a block instead).
    """
    import tensorflow as tf

    if factor == 1:
        return labels
    x, y, z = (int(s) for s in labels.shape)
    if x % factor or y % factor or z % factor:
        raise ValueError(f"labels of shape {labels.shape} cannot be downsampled by {factor}")
    counts = tf.one_hot(tf.cast(labels, tf.int32), NUM_CLASSES, dtype=tf.int32)
    counts = tf.reshape(counts, [x // factor, factor, y // factor, factor, z // factor, factor, NUM_CLASSES])
    counts = tf.reduce_sum(counts, axis=[1, 3, 5])[..., 1:]  # [x, y, z, C - 1]: non-empty classes
    best = tf.argmax(counts, axis=-1, output_type=tf.int32) + 1
    return tf.cast(tf.where(tf.reduce_sum(counts, -1) > 0, best, 0), tf.uint8)


def make_dataset(directory, split, batch_size, *, training, shuffle_buffer=64, repeat=False, seed=0,
                 drop_remainder=None, downsample=1):
    """Batches of uint8 label grids `[B, X, Y, Z]` of `split`.

    Args:
      directory: a built scene dataset or a directory of `.npy`/`.npz` grids.
      split: "train", "val" or "test".
      batch_size: scenes per batch.
      training: shuffle (with `shuffle_buffer`, `seed`) and drop the last partial batch.
      repeat: repeat forever.
      drop_remainder: override of the partial-batch rule (default: `training`).
      downsample: f: grids `[X/f, Y/f, Z/f]` (`downsample_labels`).
    """
    import tensorflow as tf

    info = read_info(directory)
    shape = tuple(info["shape"])
    entry = info.get("splits", {}).get(split)
    if not entry or not entry.get("num_records"):
        raise FileNotFoundError(f"{directory} has no {split!r} scenes (splits: "
                                f"{sorted(s for s, e in info.get('splits', {}).items() if e.get('num_records'))})")
    if info["format"] == FORMAT:
        files = [f"{directory.rstrip('/')}/{s['file']}" for s in entry["shards"]]
        ds = tf.data.Dataset.from_tensor_slices(files)
        if training:
            ds = ds.shuffle(len(files), seed=seed)
        ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type=COMPRESSION),
                           cycle_length=min(4, len(files)), num_parallel_calls=tf.data.AUTOTUNE)
        spec = {"labels": tf.io.FixedLenFeature([], tf.string)}
        ds = ds.map(lambda r: tf.reshape(tf.io.decode_raw(tf.io.parse_single_example(r, spec)["labels"], tf.uint8),
                                         shape), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        paths = entry["files"]

        def load(path):
            grid = tf.numpy_function(lambda p: load_grid(p.decode()), [path], tf.uint8)
            return tf.ensure_shape(grid, shape)

        ds = tf.data.Dataset.from_tensor_slices(paths)
        if training:
            ds = ds.shuffle(len(paths), seed=seed)
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if downsample != 1:
        ds = ds.map(lambda labels: downsample_labels(labels, downsample), num_parallel_calls=tf.data.AUTOTUNE)
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed)
    if repeat:
        ds = ds.repeat()
    drop = training if drop_remainder is None else drop_remainder
    return ds.batch(batch_size, drop_remainder=drop).prefetch(tf.data.AUTOTUNE)


def class_counts(labels):
    """int64 `[NUM_CLASSES]` voxel counts of a label grid (or a batch of them)."""
    return np.bincount(np.asarray(labels).ravel(), minlength=NUM_CLASSES).astype(np.int64)
