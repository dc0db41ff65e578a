"""The TFRecord format of shaded datasets (`pipelines.shaded`): one definition for writer and readers.

A shaded dataset holds single grayscale images of objects under a random
directional light plus ambient, seen from near the front, each with its
ground truth: the depth map, the normal map, the albedo map, the light and
the camera. It is what Unsup3D-style photo-geometric autoencoders
(`tf3d.tasks.unsup3d`) train on, with no 3D supervision, and are scored
against. Layout:

    DIR/<name>-<split>.tfrecord-<i:05d>-of-<n:05d>   (split: train, val, test; by model id)
    DIR/tf3d_info.json                               `INFO_FORMAT`, counts, light and view ranges

One record per image (S = image side; frames as in `tf3d.conventions`; the
camera frame is OpenCV's: x right, y down, z forward, away from the camera):

    model_id      bytes        the model the image shows (several images per model)
    category      bytes        e.g. b"chair"
    view          int64        index of the image among its model's
    image_size    int64        S
    image         bytes        8-bit grayscale PNG: linear intensity (object, the wall behind it
                               if the build has one, black where nothing is seen)
    mask          bytes        8-bit grayscale PNG: 255 where the object (not the wall) is seen
    depth         bytes        float32 [S, S] raw: depth along the optical axis of the surface seen
                               (object or wall), 0 where nothing is
    normal        bytes        float32 [S, S, 3] raw: unit normals in the camera frame, turned
                               towards the camera (n . p < 0 for the point p seen), 0 where nothing is
    albedo        bytes        float32 [S, S] raw: the reflectance the image was rendered with
    light         float x 5    ambient, diffuse, unit direction towards the light (camera frame)
    azimuth       float        degrees (`conventions`: 0 looks at the front from +Z)
    elevation     float        degrees
    intrinsics    float x 9    row-major [3, 3]
    extrinsics    float x 12   row-major [3, 4] world-to-camera

The image is Lambert's law with an ambient term, no shadows:
`image = albedo * (ambient + diffuse * max(0, normal . direction))`
(`blender/render_lambertian.py`), which `tests/test_shaded.py` checks on
every pixel the ground truth covers. Scores of shape (SIDE, MAD) are taken
on the object's mask.
"""

import glob
import json
import os

import numpy as np

INFO_FORMAT = "tf3d.data.shaded_records"
INFO_FILE = "tf3d_info.json"
SPLITS = ("train", "val", "test")


def encode_example(*, model_id, category, view, image, mask, depth, normal, albedo, light, azimuth,
                   elevation, intrinsics, extrinsics):
    """Serialized `tf.train.Example` of one image (see the module docstring).

    Args:
      image, mask: uint8 `[S, S]`.
      depth, albedo: float `[S, S]`; normal: float `[S, S, 3]`.
      light: `[5]` ambient, diffuse, direction (camera frame).
      intrinsics: `[3, 3]`; extrinsics: `[3, 4]`.
    """
    import tensorflow as tf

    from pipelines.shards import encode_png

    size = image.shape[0]
    for name, value, shape in (("image", image, (size, size)), ("mask", mask, (size, size)),
                               ("depth", depth, (size, size)), ("albedo", albedo, (size, size)),
                               ("normal", normal, (size, size, 3)), ("light", light, (5,))):
        if np.shape(value) != shape:
            raise ValueError(f"{name} must have shape {list(shape)}, got {list(np.shape(value))}")

    def b(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    def f(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(values).astype(float).tolist()))

    def i(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    raw = lambda x: np.ascontiguousarray(x, np.float32).tobytes()  # noqa: E731
    feature = {"model_id": b([model_id.encode()]), "category": b([category.encode()]), "view": i(view),
               "image_size": i(size), "image": b([encode_png(image)]), "mask": b([encode_png(mask)]),
               "depth": b([raw(depth)]), "normal": b([raw(normal)]), "albedo": b([raw(albedo)]),
               "light": f(light), "azimuth": f([azimuth]), "elevation": f([elevation]),
               "intrinsics": f(intrinsics), "extrinsics": f(extrinsics)}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_record(serialized, image_size):
    """Parses one record inside `tf.data`: a dict of float32 tensors.

    Returns:
      {"image" [S, S, 1] in [0, 1], "mask" [S, S, 1] in [0, 1], "depth" [S, S],
      "normal" [S, S, 3], "albedo" [S, S], "light" [5], "azimuth", "elevation" [],
      "intrinsics" [3, 3], "extrinsics" [3, 4], "model_id", "category"}.
    """
    import tensorflow as tf

    s = int(image_size)
    spec = {"model_id": tf.io.FixedLenFeature([], tf.string), "category": tf.io.FixedLenFeature([], tf.string),
            "image": tf.io.FixedLenFeature([], tf.string), "mask": tf.io.FixedLenFeature([], tf.string),
            "depth": tf.io.FixedLenFeature([], tf.string), "normal": tf.io.FixedLenFeature([], tf.string),
            "albedo": tf.io.FixedLenFeature([], tf.string), "light": tf.io.FixedLenFeature([5], tf.float32),
            "azimuth": tf.io.FixedLenFeature([], tf.float32), "elevation": tf.io.FixedLenFeature([], tf.float32),
            "intrinsics": tf.io.FixedLenFeature([9], tf.float32),
            "extrinsics": tf.io.FixedLenFeature([12], tf.float32)}
    ex = tf.io.parse_single_example(serialized, spec)

    def png(data):
        return tf.cast(tf.ensure_shape(tf.io.decode_png(data, channels=1), [s, s, 1]), tf.float32) / 255.0

    def floats(data, shape):
        return tf.reshape(tf.io.decode_raw(data, tf.float32), shape)

    return {"image": png(ex["image"]), "mask": png(ex["mask"]), "depth": floats(ex["depth"], [s, s]),
            "normal": floats(ex["normal"], [s, s, 3]), "albedo": floats(ex["albedo"], [s, s]),
            "light": ex["light"], "azimuth": ex["azimuth"], "elevation": ex["elevation"],
            "intrinsics": tf.reshape(ex["intrinsics"], [3, 3]),
            "extrinsics": tf.reshape(ex["extrinsics"], [3, 4]),
            "model_id": ex["model_id"], "category": ex["category"]}


def read_info(directory):
    """The `tf3d_info.json` of a shaded dataset; a one-line error naming the build command otherwise."""
    path = os.path.join(directory, INFO_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{directory} holds no shaded dataset ({INFO_FILE} is missing); build one "
                                f"with `python -m pipelines.build shaded --out {directory}`")
    with open(path) as fh:
        info = json.load(fh)
    if info.get("format") != INFO_FORMAT:
        raise ValueError(f"{directory} is not a shaded dataset (format {info.get('format')!r}); build one "
                         f"with `python -m pipelines.build shaded --out DIR`")
    return info


def split_files(directory, split):
    """Sorted shard files of `split`; a one-line error when there are none."""
    info = read_info(directory)
    files = sorted(glob.glob(os.path.join(directory, f"{info['name']}-{split}.tfrecord-*-of-*")))
    files = [f for f in files if not f.endswith(".tmp")]
    if not files:
        raise FileNotFoundError(f"{directory} has no {split!r} shards (splits: "
                                f"{', '.join(s for s, e in info['splits'].items() if e['num_records'])})")
    return files


def fit_datasets(info, data, train, evaluation):
    """What a task on a shaded build feeds `fit()`: `(train, val, steps_per_epoch, val_steps)`.

    Args:
      info: the build's `read_info`.
      data, train, evaluation: the experiment's `data`, `train` and `eval` config sections.

    Returns:
      the repeating shuffled training batches, the validation batches (all of
      them, or `train.val_batches`), the steps of an epoch (`train.steps_per_epoch`
      or one pass) and the validation steps.
    """
    import math

    def count(split):
        return info["splits"].get(split, {}).get("num_records", 0)

    train_ds = make_dataset(data.dir, data.train_split, batch_size=train.batch_size, training=True,
                            seed=train.seed, shuffle_buffer=data.shuffle_buffer)
    val_ds = make_dataset(data.dir, data.val_split, batch_size=evaluation.batch_size, training=False)
    val_steps = math.ceil(count(data.val_split) / evaluation.batch_size)
    if train.val_batches:
        val_steps = min(val_steps, train.val_batches)
    steps = train.steps_per_epoch or max(1, count(data.train_split) // train.batch_size)
    return train_ds, val_ds.take(val_steps), steps, val_steps


def make_dataset(directory, split, *, batch_size, training, seed=None, shuffle_buffer=512):
    """Batched parsed records of one split: repeated and shuffled when `training`."""
    import tensorflow as tf

    info = read_info(directory)
    ds = tf.data.TFRecordDataset(split_files(directory, split))
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.map(lambda r: parse_record(r, info["image_size"]), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)
