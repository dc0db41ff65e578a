"""Class-weighted reconstruction loss of label grids, with gamma for false negatives vs false positives.

3D-FCR-alphaGAN's reconstruction term extends Brock et al. (2016, Sec. 3.1)
to C classes: every class is a one-vs-rest occupancy with its own weight
w_c from the training data's class frequencies, and gamma balances missing a
class's voxel (false negative) against predicting it where it is not (false
positive):

    loss = mean_v sum_c w_c * [ -gamma * y_vc * log p_vc - (1 - gamma) * (1 - y_vc) * log(1 - p_vc) ]

with y the one-hot targets and p the predicted probabilities. `class_weights`
turns class frequencies into weights with the fourth root of the
inverse-frequency ratio that tf3d's binary voxel loss uses
(`tf3d.losses.weighted_bce.default_pos_weight`): most voxels are empty, and
the full inverse ratio (~1400 for small objects here) would make the
network paint them everywhere.
"""

import numpy as np
import tensorflow as tf

_EPSILON = 1e-6


def class_weights(frequencies, floor=1e-4):
    """float32 `[C]`: `((1 - f_c) / f_c) ** (1/4)` of each class's voxel frequency (at least `floor`)."""
    f = np.clip(np.asarray(frequencies, dtype=np.float64), floor, 1.0 - floor)
    if f.ndim != 1:
        raise ValueError(f"frequencies must have shape [C], got {f.shape}")
    return (((1.0 - f) / f) ** 0.25).astype(np.float32)


def scene_reconstruction_loss(targets, probabilities, weights, gamma=0.9):
    """Per-example loss (see the module docstring).

    Args:
      targets: `[B, X, Y, Z]` integer class ids, or `[B, X, Y, Z, C]` one-hot.
      probabilities: `[B, X, Y, Z, C]` predicted class probabilities.
      weights: `[C]` class weights.
      gamma: in (0, 1); weight of the false-negative term.

    Returns:
      `[B]` mean over voxels.
    """
    probabilities = tf.convert_to_tensor(probabilities)
    if probabilities.shape.rank != 5:
        raise ValueError(f"probabilities must have shape [B, X, Y, Z, C], got {probabilities.shape}")
    num_classes = probabilities.shape[-1]
    targets = tf.convert_to_tensor(targets)
    if targets.shape.rank == 4:
        targets = tf.one_hot(tf.cast(targets, tf.int32), num_classes, dtype=probabilities.dtype)
    if targets.shape[1:] != probabilities.shape[1:]:
        raise ValueError(f"targets {targets.shape} do not match probabilities {probabilities.shape}")
    if not 0.0 < gamma < 1.0:
        raise ValueError(f"gamma must be in (0, 1), got {gamma}")
    targets = tf.cast(targets, probabilities.dtype)
    weights = tf.cast(tf.reshape(weights, [num_classes]), probabilities.dtype)
    p = tf.clip_by_value(probabilities, _EPSILON, 1.0 - _EPSILON)
    per_class = -gamma * targets * tf.math.log(p) - (1.0 - gamma) * (1.0 - targets) * tf.math.log(1.0 - p)
    return tf.reduce_mean(tf.reduce_sum(per_class * weights, axis=-1), axis=[1, 2, 3])
