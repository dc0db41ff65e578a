"""Silhouette losses between soft rendered masks and target masks.

`soft_iou`: `1 - sum(s t) / sum(s + t - s t)` per example, the IoU of the
masks with products for intersections (Kato et al. 2018's silhouette loss).
Unlike a per-pixel L1 or L2, it does not shrink when the object covers a
small part of the picture: a blob over mostly-background pictures scores a
small L1 but a large IoU loss.
"""


def soft_iou(predicted, target, axis=(1, 2)):
    """Per-example `1 - soft IoU`.

    Args:
      predicted: float `[B, h, w]` soft silhouettes in [0, 1].
      target: float `[B, h, w]` target masks in [0, 1], same shape.
      axis: the pixel axes.

    Returns:
      `[B]` losses in [0, 1] (1 when both masks are empty: their IoU counts as 0).
    """
    import tensorflow as tf

    predicted = tf.convert_to_tensor(predicted, tf.float32)
    target = tf.convert_to_tensor(target, tf.float32)
    if predicted.shape.rank is not None and target.shape.rank is not None and \
            not predicted.shape.is_compatible_with(target.shape):
        raise ValueError(f"predicted and target must have one shape, got {predicted.shape} and {target.shape}")
    intersection = tf.reduce_sum(predicted * target, axis)
    union = tf.reduce_sum(predicted + target - predicted * target, axis)
    return 1.0 - tf.math.divide_no_nan(intersection, union)
