"""Unsup3D's reconstruction losses with confidence maps (Wu et al. 2020, eq. 5 and 7).

`photometric_loss` is the negative log-likelihood of a Laplacian with
per-pixel scale `sigma` (the confidence map),

    L = mean over the mask of  sqrt(2) |I - Î| / sigma + log sigma,

and `perceptual_loss` the same with a Gaussian on features,

    L = mean over the mask of  (f - f^)^2 / (2 sigma^2) + log sigma,

where `f` are VGG16 relu3_3 features (`vgg16_relu3_3`). Unsup3D uses
ImageNet weights for them; this machine cannot download those, so the
features are built with `weights=None` (random, fixed) unless a weights file
is given, and the perceptual term is off by default (`task.loss.perceptual`).
"""

import math

import tensorflow as tf

EPS = 1e-7


def _masked_mean(values, mask):
    mask = tf.cast(tf.broadcast_to(mask, tf.shape(values)), values.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(values * mask), tf.reduce_sum(mask))


def photometric_loss(image, target, mask, sigma=None):
    """Confidence-weighted L1 between `[B, H, W, C]` images over `[B, H, W, 1]` mask; `sigma`
    `[B, H, W, 1]` (None: plain masked L1). Returns a scalar."""
    loss = tf.abs(image - target)
    if sigma is not None:
        loss = loss * math.sqrt(2.0) / (sigma + EPS) + tf.math.log(sigma + EPS)
    return _masked_mean(loss, mask)


def perceptual_loss(features, target_features, mask, sigma=None):
    """Confidence-weighted squared error of `[B, h, w, C]` features; `mask` `[B, H, W, 1]` is
    area-resized to h x w (a feature counts where its whole footprint is masked); `sigma` `[B, h, w, 1]`."""
    loss = tf.square(features - target_features)
    if sigma is not None:
        loss = loss / (2.0 * tf.square(sigma) + EPS) + tf.math.log(sigma + EPS)
    size = tf.shape(features)[1:3]
    small = tf.image.resize(tf.cast(mask, features.dtype), size, method="area") > 0.99
    return _masked_mean(loss, small)


def vgg16_relu3_3(image_size, weights=None):
    """Frozen VGG16 up to relu3_3: `[B, S, S, 1]` in [0, 1] -> `[B, S/4, S/4, 256]`.

    Args:
      image_size: S.
      weights: None (random, as this machine has no ImageNet weights) or a
        path to Keras' `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`.
    """
    import keras

    vgg = keras.applications.VGG16(include_top=False, weights=weights, input_shape=(image_size, image_size, 3))
    vgg.trainable = False
    images = keras.Input((image_size, image_size, 1))
    # VGG's "caffe" preprocessing: BGR, 0..255, ImageNet mean subtracted.
    rgb = keras.ops.repeat(images * 255.0, 3, axis=-1) - keras.ops.convert_to_tensor([103.939, 116.779, 123.68])
    truncated = keras.Model(vgg.input, vgg.get_layer("block3_conv3").output)
    return keras.Model(images, truncated(rgb), name="vgg16_relu3_3")
