"""`tf3d.data.augment`: augmented pairs stay aligned through the camera."""

import numpy as np
import pytest
import tensorflow as tf

from tf3d import config as config_lib
from tf3d import conventions
from tf3d.data import augment


def test_mirrored_grid_projects_to_the_mirrored_image():
    # The viewer frame's camera (azimuth 0) at any elevation: voxel X reversed <-> image columns reversed.
    size, resolution = 64, 8
    for elevation in (0.0, 30.0, -20.0):
        projection = conventions.projection_matrix(
            conventions.intrinsics(41.0, size),
            conventions.look_at_extrinsics(conventions.camera_position(0.0, elevation, 2.5)))
        axis = conventions.voxel_centers(resolution)
        centres = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)  # [R, R, R, 3], voxel (i, j, k)
        uv, _ = conventions.project(centres.reshape(-1, 3), projection)
        uv_mirrored, _ = conventions.project(centres[::-1].reshape(-1, 3), projection)
        np.testing.assert_allclose(uv_mirrored[:, 0], size - uv[:, 0], atol=1e-9)
        np.testing.assert_allclose(uv_mirrored[:, 1], uv[:, 1], atol=1e-9)


def _batch(batch=8, size=16, resolution=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.2, 1.0, (batch, size, size, 1)).astype(np.float32)
    images[:, :4] = 0.0  # background rows
    voxels = (rng.uniform(size=(batch, resolution, resolution, resolution)) > 0.7).astype(np.float32)
    return images, voxels


def test_mirror_flips_image_and_grid_together_for_about_half_the_batch():
    images, voxels = _batch(batch=64)
    out_images, out_voxels = (t.numpy() for t in augment.augment_batch(
        tf.constant(images), tf.constant(voxels), augment.Augmentation(mirror=True), seed=3))
    flipped = 0
    for i in range(len(images)):
        same = np.array_equal(out_images[i], images[i]) and np.array_equal(out_voxels[i], voxels[i])
        mirrored = (np.array_equal(out_images[i], images[i][:, ::-1])
                    and np.array_equal(out_voxels[i], voxels[i][::-1]))
        assert same != mirrored, i  # one or the other, never a mixed pair
        flipped += mirrored
    assert 16 <= flipped <= 48


def test_photometric_keeps_background_and_silhouette():
    images, voxels = _batch()
    out_images, out_voxels = (t.numpy() for t in augment.augment_batch(
        tf.constant(images), tf.constant(voxels), augment.Augmentation(photometric=0.3), seed=1))
    np.testing.assert_array_equal(out_voxels, voxels)
    assert out_images.min() >= 0.0 and out_images.max() <= 1.0
    np.testing.assert_array_equal(out_images == 0.0, images == 0.0)
    assert np.abs(out_images - images).max() > 0.05


def test_photometric_strength_is_checked_by_name():
    with pytest.raises(ValueError, match="photometric"):
        augment.Augmentation(photometric=1.0)
    experiment = config_lib.ExperimentConfig()
    experiment.data.augment_photometric = 1.5
    with pytest.raises(config_lib.ConfigError, match="data.augment_photometric"):
        config_lib.validate(experiment)


def test_the_paired_task_augments_its_training_batches(box_dataset):
    import hashlib
    import itertools

    from tf3d import tasks

    def batches(*overrides, count=4):
        experiment = config_lib.resolve(None, [f"data.dir={box_dataset}", "train.batch_size=8",
                                               "data.train_views=first", *overrides])
        inputs = tasks.build(experiment).build_inputs()
        pairs = [(i.numpy(), v.numpy()) for images, voxels in itertools.islice(inputs.train, count)
                 for i, v in zip(images, voxels)]
        return [(image, hashlib.sha1(v.tobytes()).hexdigest()) for image, v in pairs]

    # Records come in any order (parallel reads, repeat): pair them by their grid (the box
    # models are mirror-symmetric, so mirroring is checked above, not here).
    image_of = dict((key, image) for image, key in batches())
    changed = batches("data.augment_photometric=0.3", count=1)
    assert all(key in image_of for _, key in changed), "the targets must not change"
    for image, key in changed:
        np.testing.assert_array_equal(image == 0.0, image_of[key] == 0.0)
        assert not np.array_equal(image, image_of[key])
