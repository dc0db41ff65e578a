"""The metadata TFDS reads, written beside every tf3d build.

`tfds.builder_from_directory(DIR)` needs two files in TFDS's own layout:

    DIR/dataset_info.json   a `tfds.core.DatasetInfo` proto as JSON: name, version,
                            file format, and per split its shard lengths, bytes and
                            file name template
    DIR/features.json       the `tfds.features.FeaturesDict` of one record

tf3d's shards already follow TFDS's naming (`<name>-<split>.tfrecord-<i>-of-<n>`,
`records.SHARD_PATTERN`), so these two files are all TFDS lacks. The features
describe the very records `tf3d.data.records` defines, feature by feature
(V views, S pixels a side):

    model_id, category                     Text
    voxel_resolution, num_views, image_size Scalar int64
    voxels                                 Tensor((), string): packed (`records.pack_voxels`)
    images, masks                          Sequence(Image((S, S, 1), png), length=V)
    azimuths, elevations                   Tensor((V,), float32)
    intrinsics, extrinsics                 Tensor((V, 3, 3)), Tensor((V, 3, 4)), float32

so that

    ds = tfds.builder_from_directory("data/synthetic").as_dataset(split="train")

yields dicts with these keys, images decoded to uint8 `[V, S, S, 1]` (pass
`decoders={"images": tfds.decode.SkipDecoding()}` for the PNG bytes tf3d's
pipeline reads). The files are plain JSON written without TFDS installed;
`tests/test_tfds_info.py` loads builds with TFDS itself. tf3d's own
pipeline (`tf3d.data.pipeline`) stays the fast path.

    python -m pipelines.tfds_info DIR   # adds them to a build made before tf3d wrote them
"""

import json
import os
import sys

from tf3d import cli
from tf3d.data import records

VERSION = "1.0.0"
FILEPATH_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"
FEATURES_FILE = "features.json"
_PY = "tensorflow_datasets.core.features."


def _text():
    return {"pythonClassName": _PY + "text_feature.Text", "text": {}}


def _tensor(shape, dtype, scalar=False):
    kind = "scalar.Scalar" if scalar else "tensor_feature.Tensor"
    return {"pythonClassName": _PY + kind,
            "tensor": {"dtype": dtype, "encoding": "none",
                       "shape": {"dimensions": [str(d) for d in shape]} if shape else {}}}


def _png_sequence(num_views, image_size):
    image = {"pythonClassName": _PY + "image_feature.Image",
             "image": {"dtype": "uint8", "encodingFormat": "png",
                       "shape": {"dimensions": [str(image_size), str(image_size), "1"]}}}
    return {"pythonClassName": _PY + "sequence_feature.Sequence",
            "sequence": {"feature": image, "length": str(num_views)}}


def features(num_views, image_size):
    """features.json content for records with `num_views` views of `image_size` pixels."""
    v = num_views
    spec = {
        "model_id": _text(),
        "category": _text(),
        "voxel_resolution": _tensor((), "int64", scalar=True),
        "voxels": _tensor((), "string"),
        "num_views": _tensor((), "int64", scalar=True),
        "image_size": _tensor((), "int64", scalar=True),
        "images": _png_sequence(v, image_size),
        "masks": _png_sequence(v, image_size),
        "azimuths": _tensor((v,), "float32"),
        "elevations": _tensor((v,), "float32"),
        "intrinsics": _tensor((v, 3, 3), "float32"),
        "extrinsics": _tensor((v, 3, 4), "float32"),
    }
    if set(spec) != set(records.FEATURES):  # one format: records.FEATURES is the definition
        raise AssertionError(f"TFDS features {sorted(spec)} differ from records.FEATURES {sorted(records.FEATURES)}")
    return {"pythonClassName": _PY + "features_dict.FeaturesDict",
            "featuresDict": {"features": {k: spec[k] for k in sorted(spec)}}}


def dataset_info(info):
    """TFDS's dataset_info.json content for tf3d metadata `info` (`records.read_info`)."""
    splits = []
    for split, entry in info["splits"].items():
        shards = entry.get("shards", [])
        if not shards:
            continue
        splits.append({"name": split, "filepathTemplate": FILEPATH_TEMPLATE,
                       "shardLengths": [str(s["num_records"]) for s in shards],
                       "numBytes": str(sum(int(s.get("num_bytes", 0)) for s in shards))})
    source = (info.get("build_config") or {}).get("source", info["name"])
    return {
        "name": info["name"],
        "version": VERSION,
        "fileFormat": "tfrecord",
        "description": (f"tf3d build of {source}: one record per model, {info['num_views']} views of "
                        f"{info['image_size']} px and a packed {info['voxel_resolution']}^3 voxel grid "
                        f"(format: tf3d.data.records; tf3d's metadata: {records.INFO_FILE})."),
        "moduleName": "tf3d.data.records",
        "splits": splits,
    }


def write(directory, info):
    """Writes dataset_info.json and features.json for the build in `directory` (local or gs://)."""
    import tensorflow as tf

    directory = directory.rstrip("/")
    for filename, content in ((records.LEGACY_INFO_FILE, dataset_info(info)),
                              (FEATURES_FILE, features(info["num_views"], info["image_size"]))):
        tmp = f"{directory}/{filename}.tmp"
        with tf.io.gfile.GFile(tmp, "w") as fh:
            json.dump(content, fh, indent=1)
        tf.io.gfile.rename(tmp, f"{directory}/{filename}", overwrite=True)


def convert(directory):
    """Adds TFDS metadata to a build in `directory`; returns a one-line description.

    A build from before tf3d wrote TFDS metadata keeps tf3d's metadata in
    dataset_info.json: it moves to `records.INFO_FILE` first. Shards without
    a byte count in the metadata are measured.
    """
    import tensorflow as tf

    directory = directory.rstrip("/")
    path = records.info_path(directory)
    info = records.read_info(directory)
    for split, entry in info["splits"].items():
        for shard in entry.get("shards", []):
            shard.setdefault("num_bytes", tf.io.gfile.stat(f"{directory}/{shard['file']}").length)
    target = f"{directory}/{records.INFO_FILE}"
    with tf.io.gfile.GFile(target + ".tmp", "w") as fh:
        json.dump(info, fh, indent=1)
    tf.io.gfile.rename(target + ".tmp", target, overwrite=True)
    write(directory, info)
    moved = f"; moved tf3d's metadata from {os.path.basename(path)}" if path != target else ""
    return (f"wrote {directory}/{records.LEGACY_INFO_FILE} and {FEATURES_FILE} for TFDS{moved}; "
            f"load with tfds.builder_from_directory({directory!r})")


def main(argv=None):
    parser = cli.parser("python -m pipelines.tfds_info", "Adds TFDS metadata to an existing tf3d build.")
    parser.add_argument("directory", help="a tf3d dataset directory (local, Drive mount or gs://)")
    args = parser.parse_args(argv)
    return cli.run(lambda a: print(convert(a.directory)), args)


if __name__ == "__main__":
    sys.exit(main())
