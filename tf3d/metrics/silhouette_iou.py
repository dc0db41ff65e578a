"""Silhouette intersection-over-union: how well a 3D -> 2D prediction covers the rendered mask.

Per example, `|pred & gt| / |pred | gt|` with both masks thresholded at 0.5,
averaged over examples as `voxel_iou` is; an example where both are empty
scores 1.
"""


def silhouette_iou(target, predicted, threshold=0.5):
    """Per-example IoU.

    Args:
      target, predicted: `[B, h, w]` masks in [0, 1].
      threshold: level at which a pixel counts as covered.

    Returns:
      `[B]` float32 IoU.
    """
    import tensorflow as tf

    target, predicted = tf.convert_to_tensor(target), tf.convert_to_tensor(predicted)
    if target.shape.rank != 3 or predicted.shape.rank != 3:
        raise ValueError(f"target and predicted must have shape [B, h, w], got {target.shape} and {predicted.shape}")
    a, b = target >= threshold, predicted >= threshold
    inter = tf.reduce_sum(tf.cast(a & b, tf.float32), axis=[1, 2])
    union = tf.reduce_sum(tf.cast(a | b, tf.float32), axis=[1, 2])
    return tf.where(union > 0, inter / tf.maximum(union, 1.0), 1.0)
