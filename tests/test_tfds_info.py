"""TFDS metadata (`pipelines.tfds_info`): `tfds.builder_from_directory` loads tf3d builds.

`assert_tfds_matches(DIR)` is also called on the ShapeNet and 3D-R2N2 builds of
`tests/test_shapenet.py` and `tests/test_r2n2.py`, so every source is covered.
"""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import write_box_dataset
from pipelines import tfds_info
from tf3d.data import records


def _tf3d_records(directory):
    import tensorflow as tf

    out = {}
    for name in sorted(os.listdir(directory)):
        if records.parse_shard_name(name):
            for raw in tf.data.TFRecordDataset(os.path.join(directory, name)):
                feats = tf.train.Example.FromString(raw.numpy()).features.feature
                out[records.decode_example(raw.numpy())["model_id"]] = (records.decode_example(raw.numpy()),
                                                                         feats["voxels"].bytes_list.value[0])
    return out


def assert_tfds_matches(directory):
    """Every split of the build loads through TFDS with tf3d's features and values."""
    import tensorflow_datasets as tfds

    info = records.read_info(directory)
    builder = tfds.builder_from_directory(directory)
    ours = _tf3d_records(directory)
    seen = set()
    for split, entry in info["splits"].items():
        if not entry["num_records"]:
            continue
        assert builder.info.splits[split].num_examples == entry["num_records"]
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            model_id = example["model_id"].decode()
            record, packed = ours[model_id]
            seen.add(model_id)
            assert example["category"].decode() == record["category"]
            assert example["voxels"] == packed
            np.testing.assert_array_equal(example["images"][..., 0], record["images"])  # [V, S, S]
            np.testing.assert_array_equal(example["masks"][..., 0], record["masks"])
            for name in ("azimuths", "elevations", "intrinsics", "extrinsics"):
                np.testing.assert_array_equal(example[name], record[name])
            assert example["num_views"] == len(record["images"]) == info["num_views"]
    assert seen == set(ours)


@pytest.mark.slow
def test_tfds_loads_a_synthetic_build(synthetic_dataset):
    for name in (records.INFO_FILE, records.LEGACY_INFO_FILE, tfds_info.FEATURES_FILE):
        assert os.path.exists(os.path.join(synthetic_dataset, name)), name
    assert_tfds_matches(synthetic_dataset)


def test_an_older_build_is_converted_in_place(tmp_path, capsys):
    directory = write_box_dataset(str(tmp_path / "old"), shards=2)
    # Before TFDS metadata, tf3d's own lived in dataset_info.json: still read, then converted.
    os.rename(os.path.join(directory, records.INFO_FILE), os.path.join(directory, records.LEGACY_INFO_FILE))
    assert records.read_info(directory)["name"] == "boxes"
    assert tfds_info.main([directory]) == 0
    assert "moved tf3d's metadata from dataset_info.json" in capsys.readouterr().out
    with open(os.path.join(directory, records.LEGACY_INFO_FILE)) as fh:
        assert json.load(fh)["fileFormat"] == "tfrecord"  # TFDS's now
    assert records.read_info(directory)["splits"]["train"]["shards"][0]["num_bytes"] > 0
    assert_tfds_matches(directory)


def test_features_describe_every_record_feature():
    spec = tfds_info.features(8, 128)["featuresDict"]["features"]
    assert set(spec) == set(records.FEATURES)
    assert spec["images"]["sequence"]["length"] == "8"
    assert spec["extrinsics"]["tensor"]["shape"]["dimensions"] == ["8", "3", "4"]


def test_a_directory_without_a_build_is_named(tmp_path, capsys):
    assert tfds_info.main([str(tmp_path)]) == 1
    assert "no tf3d dataset at" in capsys.readouterr().err


def test_missing_tf3d_metadata_is_not_confused_with_tfds_metadata(tmp_path):
    directory = write_box_dataset(str(tmp_path / "ds"), shards=1)
    tfds_info.convert(directory)
    shutil.move(os.path.join(directory, records.INFO_FILE), str(tmp_path / "away.json"))
    with pytest.raises(FileNotFoundError, match="tf3d_info.json is missing"):
        records.read_info(directory)  # TFDS's dataset_info.json is not tf3d's
