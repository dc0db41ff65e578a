"""Tests of tf3d.losses: golden values, gradients, and that the loss can be optimised."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tf3d.losses import registry
from tf3d.losses.voxel_l1 import voxel_l1
from tf3d.losses.weighted_bce import WeightedBinaryCrossentropy, default_pos_weight, weighted_binary_crossentropy


def test_weighted_bce_golden_values():
    targets = np.zeros((1, 2, 1, 1), np.float32)
    targets[0, 0] = 1.0
    logits = np.zeros((1, 2, 1, 1), np.float32)
    # sigmoid(0) = 1/2: occupied voxel -w*log(1/2), empty one -log(1/2); mean of the two.
    expected = (3.0 * math.log(2.0) + math.log(2.0)) / 2.0
    assert float(weighted_binary_crossentropy(targets, logits, 3.0)[0]) == pytest.approx(expected, rel=1e-6)
    # A confident right answer costs almost nothing.
    good = np.where(targets > 0, 20.0, -20.0).astype(np.float32)
    assert float(weighted_binary_crossentropy(targets, good, 3.0)[0]) < 1e-6


def test_default_pos_weight_from_occupancy():
    assert default_pos_weight(0.2) == pytest.approx(2.0 ** 0.5)  # (0.8 / 0.2) ** (1/4)
    assert default_pos_weight(0.05) > default_pos_weight(0.2) > 1.0  # rarer occupancy, larger weight
    with pytest.raises(ValueError, match="occupancy_rate"):
        default_pos_weight(0.0)


def test_weighted_bce_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    targets = tf.constant((rng.random((2, 3, 3, 3)) < 0.3).astype(np.float64))
    logits = tf.constant(rng.normal(size=(2, 3, 3, 3)))
    theoretical, numerical = tf.test.compute_gradient(
        lambda x: weighted_binary_crossentropy(targets, x, 4.0), [logits])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


def test_l1_golden_and_shape_check():
    targets = np.ones((1, 2, 2, 2), np.float32)
    assert float(voxel_l1(targets, np.zeros_like(targets))[0]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"\[B, X, Y, Z\]"):
        voxel_l1(targets[0], targets[0])
    with pytest.raises(ValueError, match=r"\[B, X, Y, Z\]"):
        weighted_binary_crossentropy(targets[0], targets[0])


@pytest.mark.parametrize("name", ["weighted_bce", "l1"])
def test_losses_can_optimise(name):
    rng = np.random.default_rng(1)
    targets = tf.constant((rng.random((2, 4, 4, 4)) < 0.2).astype(np.float32))
    logits = tf.Variable(rng.normal(size=(2, 4, 4, 4)).astype(np.float32))
    loss = registry.build(name, occupancy_rate=0.2)
    values = []
    for _ in range(20):
        with tf.GradientTape() as tape:
            value = loss(targets, logits)
        logits.assign_sub(100.0 * tape.gradient(value, logits))  # per-voxel gradients are 1/128 small
        values.append(float(value))
    assert values[-1] < 0.7 * values[0]


def test_registry_errors_name_the_choices():
    with pytest.raises(ValueError, match="registered losses: l1, weighted_bce"):
        registry.build("dice")
    with pytest.raises(ValueError, match="occupancy_rate"):
        registry.build("weighted_bce")
    assert registry.build("weighted_bce", pos_weight=2.5).pos_weight == 2.5


def test_keras_loss_config_round_trip():
    loss = WeightedBinaryCrossentropy(3.5)
    assert WeightedBinaryCrossentropy.from_config(loss.get_config()).pos_weight == 3.5


def test_soft_iou_is_the_iou_of_binary_masks_and_scale_free():
    from tf3d.losses.silhouette import soft_iou

    target = np.zeros([2, 8, 8], np.float32)
    target[:, 2:6, 2:6] = 1.0  # 16 pixels
    predicted = np.zeros_like(target)
    predicted[0, 2:6, 4:8] = 1.0  # overlaps 8 of 16: IoU 8 / 24
    predicted[1] = 0.5 * target[1]  # soft: intersection 8, union 16
    np.testing.assert_allclose(soft_iou(predicted, target).numpy(), [1 - 8 / 24, 0.5], rtol=1e-6)
    # The same blob on a 4x larger canvas: L1 per pixel shrinks 4x, the IoU loss does not.
    wide_t, wide_p = np.pad(target, [(0, 0), (0, 8), (0, 8)]), np.pad(predicted, [(0, 0), (0, 8), (0, 8)])
    np.testing.assert_allclose(soft_iou(wide_p, wide_t).numpy(), soft_iou(predicted, target).numpy(), rtol=1e-6)
    assert float(soft_iou(np.zeros([1, 4, 4]), np.zeros([1, 4, 4]))[0]) == 1.0  # empty masks: IoU 0
    with pytest.raises(ValueError, match="one shape"):
        soft_iou(np.zeros([1, 4, 4]), np.zeros([1, 4, 5]))
