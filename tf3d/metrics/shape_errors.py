"""Unsup3D's two scores of a depth map against ground truth (Wu et al. 2020, sec. 4.1).

Scale-invariant depth error (SIDE, Eigen et al. 2014), per image over the
mask M:

    delta = log d - log d*,   SIDE = sqrt( mean_M (delta - mean_M delta)^2 ),

so a depth map off by a global scale scores 0; mean angle deviation (MAD),
per image: the mean over M of the angle between predicted and true normals,
in degrees. Unsup3D reports both averaged over images, as here.
"""

import math

import tensorflow as tf


def _check(name, value, rank):
    value = tf.convert_to_tensor(value)
    if value.shape.rank != rank:
        raise ValueError(f"{name} must have rank {rank}, got shape {value.shape}")
    return tf.cast(value, tf.float64)


def side(depth, true_depth, mask):
    """`[B]` scale-invariant depth errors of `[B, H, W]` positive depths over the `[B, H, W]` mask
    (NaN for an image whose mask is empty)."""
    depth, true_depth = _check("depth", depth, 3), _check("true_depth", true_depth, 3)
    mask = _check("mask", mask, 3)
    safe = lambda d: tf.math.log(tf.where(mask > 0, d, 1.0))  # noqa: E731  (no log 0 off the mask)
    delta = (safe(depth) - safe(true_depth)) * mask
    count = tf.reduce_sum(mask, axis=[1, 2])
    mean = tf.reduce_sum(delta, axis=[1, 2]) / count
    variance = tf.reduce_sum(tf.square(delta - mean[:, None, None]) * mask, axis=[1, 2]) / count
    return tf.sqrt(variance)


def mad(normal, true_normal, mask):
    """`[B]` mean angles in degrees between `[B, H, W, 3]` normals over the `[B, H, W]` mask
    (both normalized here; NaN for an empty mask)."""
    normal, true_normal = _check("normal", normal, 4), _check("true_normal", true_normal, 4)
    mask = _check("mask", mask, 3)
    cos = tf.reduce_sum(tf.math.l2_normalize(normal, -1) * tf.math.l2_normalize(true_normal, -1), -1)
    angle = tf.acos(tf.clip_by_value(cos, -1.0, 1.0)) * (180.0 / math.pi)
    return tf.reduce_sum(angle * mask, axis=[1, 2]) / tf.reduce_sum(mask, axis=[1, 2])
