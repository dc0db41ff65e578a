"""Tests of `tf3d.data.records`: voxel packing (NumPy and TF agree), encode/decode round trip."""

import numpy as np
import pytest
import tensorflow as tf

from tf3d.data import records


@pytest.mark.parametrize("resolution", [8, 20, 32])
def test_packing_round_trips_in_numpy_and_tf(resolution):
    grid = np.random.default_rng(resolution).random((resolution,) * 3) < 0.3
    packed = records.pack_voxels(grid)
    assert len(packed) == records.packed_size(resolution) == resolution ** 2 * -(-resolution // 8)
    np.testing.assert_array_equal(records.unpack_voxels(packed, resolution), grid)
    batch = tf.constant(np.frombuffer(packed, np.uint8)[None])
    np.testing.assert_array_equal(records.unpack_voxels_tf(batch, resolution, tf.uint8)[0].numpy(),
                                  grid.astype(np.uint8))


def test_a_y_column_is_stored_contiguously():
    grid = np.zeros((16, 16, 16), bool)
    grid[3, :, 5] = True  # one full column along Y
    packed = np.frombuffer(records.pack_voxels(grid), np.uint8).reshape(16, 16, 2)  # [X, Z, Yb]
    assert (packed[3, 5] == 255).all() and packed.sum() == 2 * 255


def test_wrong_size_is_named():
    with pytest.raises(ValueError, match="expected 4096"):
        records.unpack_voxels(b"\0" * 100, 32)


def test_a_dataset_with_the_old_packing_is_refused(tmp_path):
    (tmp_path / records.INFO_FILE).write_text('{"name": "old", "voxel_resolution": 32}')
    with pytest.raises(ValueError, match="rebuild the dataset"):
        records.read_info(str(tmp_path))
