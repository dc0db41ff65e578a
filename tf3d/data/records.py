"""The TFRecord format of tf3d datasets: one definition for writers and readers.

A dataset directory holds TFDS-style shards and two kinds of metadata:

    DIR/<name>-<split>.tfrecord-<i:05d>-of-<n:05d>   (split: train, val, test)
    DIR/tf3d_info.json                               tf3d's metadata (`INFO_FILE`, `read_info`)
    DIR/dataset_info.json, DIR/features.json         the same build described for TFDS
                                                     (`pipelines.tfds_info`), so that
                                                     `tfds.builder_from_directory(DIR)` loads it

Builds made before tf3d wrote TFDS metadata kept tf3d's metadata in
`dataset_info.json`; `read_info` still reads them, and
`python -m pipelines.tfds_info DIR` converts one in place.

Each record is a `tf.train.Example` for one model with these features
(V = number of views, R = voxel resolution; frames and cameras as defined in
`tf3d.conventions`):

    model_id          bytes             unique id of the model (ShapeNet id or synthetic name)
    category          bytes             category name, e.g. b"chair"
    voxel_resolution  int64             R
    voxels            bytes             the bool [X, Y, Z] = [R, R, R] grid, packed column
                                        by column (`pack_voxels`)
    num_views         int64             V
    image_size        int64             side of every image in pixels
    images            bytes x V         8-bit grayscale PNG: the object over white
    masks             bytes x V         8-bit grayscale PNG: alpha coverage (255 = covered)
    azimuths          float x V         degrees
    elevations        float x V         degrees
    intrinsics        float x V*9       row-major [V, 3, 3]
    extrinsics        float x V*12      row-major [V, 3, 4] world-to-camera, OpenCV axes

Voxel packing: for every (x, z) in C order, the Y column `grid[x, :, z]` as
ceil(R / 8) bytes (`np.packbits` along Y, most significant bit first, the
last byte zero-padded), so `R * R * ceil(R / 8)` bytes in all. A rotation
about +Y (the viewer-centred targets of `tf3d.data.rotation`) moves whole Y
columns, so the input pipeline rotates a packed grid by moving byte rows and
unpacks it once, straight into `[X, Y, Z]`.

`encode_example` writes a record and `decode_example` reads it back with NumPy
(for tools); `parse_spec` and `parse_record` read it inside a `tf.data`
pipeline. TensorFlow is imported lazily so that the module costs nothing until
a record is touched.
"""

import json
import re

import numpy as np

SPLITS = ("train", "val", "test")
INFO_FILE = "tf3d_info.json"
# Where builds before the TFDS metadata kept tf3d's metadata; TFDS's own file now.
LEGACY_INFO_FILE = "dataset_info.json"
SHARD_PATTERN = "{name}-{split}.tfrecord-{index:05d}-of-{count:05d}"
_SHARD_RE = re.compile(r"^(?P<name>.+)-(?P<split>[a-z]+)\.tfrecord-(?P<index>\d{5})-of-(?P<count>\d{5})$")

# Written to tf3d_info.json as "voxel_packing"; a dataset without it was
# built before voxels were packed by Y column and must be rebuilt.
VOXEL_PACKING = "y_columns"

FEATURES = {
    # name: (kind, per-view) -- kind in {"bytes", "int64", "float"}
    "model_id": ("bytes", False),
    "category": ("bytes", False),
    "voxel_resolution": ("int64", False),
    "voxels": ("bytes", False),
    "num_views": ("int64", False),
    "image_size": ("int64", False),
    "images": ("bytes", True),
    "masks": ("bytes", True),
    "azimuths": ("float", True),
    "elevations": ("float", True),
    "intrinsics": ("float", True),
    "extrinsics": ("float", True),
}
_PER_VIEW_LENGTH = {"images": 1, "masks": 1, "azimuths": 1, "elevations": 1,
                    "intrinsics": 9, "extrinsics": 12}


def shard_name(name, split, index, count):
    """File name of shard `index` of `count` of a split, TFDS style."""
    return SHARD_PATTERN.format(name=name, split=split, index=index, count=count)


def parse_shard_name(filename):
    """(name, split, index, count) of a shard file name, or None if it is not one."""
    match = _SHARD_RE.match(filename.rsplit("/", 1)[-1])
    if not match:
        return None
    return match["name"], match["split"], int(match["index"]), int(match["count"])


def pack_voxels(voxels):
    """Packs a bool `[R, R, R]` grid into bytes (see the module docstring)."""
    voxels = np.asarray(voxels)
    if voxels.ndim != 3 or len(set(voxels.shape)) != 1:
        raise ValueError(f"voxels must have shape [R, R, R], got {voxels.shape}")
    return np.packbits(voxels.astype(bool).transpose(0, 2, 1), axis=-1).tobytes()  # [X, Z, ceil(R/8)]


def packed_size(resolution):
    """Bytes of one packed `[R, R, R]` grid: `R * R * ceil(R / 8)`."""
    return resolution * resolution * -(-resolution // 8)


def unpack_voxels(data, resolution):
    """Inverse of `pack_voxels`: bytes -> bool `[R, R, R]`."""
    columns = np.frombuffer(data, dtype=np.uint8)
    if columns.size != packed_size(resolution):
        raise ValueError(f"packed voxels hold {columns.size} bytes, expected {packed_size(resolution)} "
                         f"for resolution {resolution}")
    columns = columns.reshape(resolution, resolution, -1)  # [X, Z, ceil(R/8)]
    bits = np.unpackbits(columns, axis=-1, count=resolution)  # [X, Z, Y]
    return bits.transpose(0, 2, 1).astype(bool)


def unpack_voxels_tf(packed, resolution, dtype=None):
    """`unpack_voxels` for a batch inside a TF graph.

    Args:
      packed: uint8 `[B, R * R * ceil(R / 8)]` (`pack_voxels`, e.g. from `tf.io.decode_raw`).
      resolution: R.
      dtype: output dtype (default float32).

    Returns:
      `[B, R, R, R]` of 0 and 1 in `[X, Y, Z]` order.
    """
    import tensorflow as tf

    r, per_column = resolution, -(-resolution // 8)
    columns = tf.reshape(packed, [-1, r, r, per_column])  # [B, X, Z, Yb]
    rows = tf.transpose(columns, [0, 1, 3, 2])[:, :, :, None, :]  # [B, X, Yb, 1, Z]: a small transpose
    shifts = tf.constant([7, 6, 5, 4, 3, 2, 1, 0], dtype=tf.uint8)[:, None]  # [8, 1]
    bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(rows, shifts), 1)  # [B, X, Yb, 8, Z]
    bits = tf.reshape(bits, [-1, r, per_column * 8, r])[:, :, :r, :]  # [B, X, Y, Z]
    return tf.cast(bits, dtype or tf.float32)


def encode_example(*, model_id, category, voxels, images, masks, azimuths, elevations,
                   intrinsics, extrinsics):
    """Serializes one model into a `tf.train.Example` string.

    Args:
      model_id: str.
      category: str.
      voxels: bool `[R, R, R]`.
      images, masks: V PNG byte strings each.
      azimuths, elevations: `[V]` degrees.
      intrinsics: `[V, 3, 3]`; extrinsics: `[V, 3, 4]`.
    """
    import tensorflow as tf

    voxels = np.asarray(voxels)
    num_views = len(images)
    if len(masks) != num_views:
        raise ValueError(f"masks has {len(masks)} entries, images has {num_views}")
    intrinsics = np.asarray(intrinsics, dtype=np.float32).reshape(num_views, 3, 3)
    extrinsics = np.asarray(extrinsics, dtype=np.float32).reshape(num_views, 3, 4)
    image_size = _png_size(images[0])

    def b(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))

    def i(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    def f(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(values).tolist()))

    feature = {
        "model_id": b([model_id.encode()]),
        "category": b([category.encode()]),
        "voxel_resolution": i(voxels.shape[0]),
        "voxels": b([pack_voxels(voxels)]),
        "num_views": i(num_views),
        "image_size": i(image_size),
        "images": b(images),
        "masks": b(masks),
        "azimuths": f(np.asarray(azimuths, dtype=np.float32).reshape(num_views)),
        "elevations": f(np.asarray(elevations, dtype=np.float32).reshape(num_views)),
        "intrinsics": f(intrinsics),
        "extrinsics": f(extrinsics),
    }
    # deterministic: map entries sorted by name, so the same model gives the same bytes in every
    # process (the default order of protobuf map entries varies between processes).
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def decode_example(serialized):
    """Reads a record with NumPy: dict of the features, decoded.

    Returns a dict with `model_id`, `category` (str), `voxels` (bool
    `[R, R, R]`), `images`, `masks` (uint8 `[V, S, S]`), `azimuths`,
    `elevations` (`[V]`), `intrinsics` (`[V, 3, 3]`), `extrinsics`
    (`[V, 3, 4]`). Raises ValueError naming the first missing or malformed
    feature.
    """
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    feats = example.features.feature
    out = {}
    for name, (kind, _) in FEATURES.items():
        if name not in feats:
            raise ValueError(f"record has no feature {name!r}")
        values = getattr(feats[name], f"{kind}_list").value
        out[name] = list(values)
    num_views = out["num_views"][0]
    for name, per in _PER_VIEW_LENGTH.items():
        if len(out[name]) != num_views * per:
            raise ValueError(f"feature {name!r} has {len(out[name])} values, "
                             f"expected {num_views * per} for {num_views} views")
    resolution = out["voxel_resolution"][0]
    return {
        "model_id": out["model_id"][0].decode(),
        "category": out["category"][0].decode(),
        "voxels": unpack_voxels(out["voxels"][0], resolution),
        "images": np.stack([_decode_png(p) for p in out["images"]]),
        "masks": np.stack([_decode_png(p) for p in out["masks"]]),
        "azimuths": np.asarray(out["azimuths"], dtype=np.float32),
        "elevations": np.asarray(out["elevations"], dtype=np.float32),
        "intrinsics": np.asarray(out["intrinsics"], dtype=np.float32).reshape(num_views, 3, 3),
        "extrinsics": np.asarray(out["extrinsics"], dtype=np.float32).reshape(num_views, 3, 4),
    }


def parse_spec(num_views):
    """The `tf.io.parse_single_example` spec for records with `num_views` views."""
    import tensorflow as tf

    kinds = {"bytes": tf.string, "int64": tf.int64, "float": tf.float32}
    spec = {}
    for name, (kind, per_view) in FEATURES.items():
        shape = [num_views * _PER_VIEW_LENGTH[name]] if per_view else []
        spec[name] = tf.io.FixedLenFeature(shape, kinds[kind])
    return spec


def parse_record(serialized, num_views, resolution):
    """Parses one serialized record inside a TF graph (images stay PNG-encoded).

    Returns a dict of tensors: `voxels` float32 `[R, R, R]`, `images` and
    `masks` string `[V]`, `azimuths`/`elevations` `[V]`, `intrinsics`
    `[V, 3, 3]`, `extrinsics` `[V, 3, 4]`, `model_id`, `category` strings.
    """
    import tensorflow as tf

    ex = tf.io.parse_single_example(serialized, parse_spec(num_views))
    packed = tf.io.decode_raw(ex["voxels"], tf.uint8)
    return {
        "model_id": ex["model_id"],
        "category": ex["category"],
        "voxels": unpack_voxels_tf(packed[None], resolution)[0],
        "images": ex["images"],
        "masks": ex["masks"],
        "azimuths": ex["azimuths"],
        "elevations": ex["elevations"],
        "intrinsics": tf.reshape(ex["intrinsics"], [num_views, 3, 3]),
        "extrinsics": tf.reshape(ex["extrinsics"], [num_views, 3, 4]),
    }


def info_path(directory):
    """Path of the tf3d metadata of the build in `directory`, or None if there is none.

    `INFO_FILE`, or a `LEGACY_INFO_FILE` written by tf3d before it wrote TFDS
    metadata (recognised by its `format` or `voxel_packing` key).
    """
    import tensorflow as tf

    directory = directory.rstrip("/")
    path = f"{directory}/{INFO_FILE}"
    if tf.io.gfile.exists(path):
        return path
    legacy = f"{directory}/{LEGACY_INFO_FILE}"
    if tf.io.gfile.exists(legacy):
        with tf.io.gfile.GFile(legacy) as fh:
            info = json.load(fh)
        if "voxel_packing" in info or info.get("format") == "tf3d.data.records":
            return legacy
    return None


def read_info(directory):
    """Loads the tf3d metadata (`INFO_FILE`) from a local path, a Drive mount or `gs://`.

    Raises FileNotFoundError naming the command that builds a dataset when
    there is none.
    """
    import tensorflow as tf

    path = info_path(directory)
    if path is None:
        raise FileNotFoundError(
            f"no tf3d dataset at {directory} ({INFO_FILE} is missing). Build the default one "
            f"with `make data`, or `python -m pipelines.build synthetic --out {directory}`.")
    with tf.io.gfile.GFile(path, "r") as fh:
        info = json.load(fh)
    if info.get("voxel_packing") != VOXEL_PACKING:
        raise ValueError(
            f"{path} was written by an older tf3d whose voxel packing differs (voxel_packing = "
            f"{info.get('voxel_packing')!r}, expected {VOXEL_PACKING!r}); rebuild the dataset with the "
            f"same `python -m pipelines.build ...` command into an empty directory.")
    return info


def _png_size(png):
    # Width and height sit at fixed offsets of the IHDR chunk of every PNG.
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("image is not a PNG")
    return int.from_bytes(png[16:20], "big")


def _decode_png(png):
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("L"))
