"""Voxel intersection-over-union at a probability threshold (Pix2Vox's metric).

Per example, `|pred & gt| / |pred | gt|` with `pred = sigmoid(logits) >= t`;
averaged over examples (not pooled over voxels), as Pix2Vox (Xie et al.,
2019, Sec. 4.2) reports it at t = 0.3, 0.4 and 0.5. An example where both
grids are empty scores 1.
"""

import keras


def voxel_iou(targets, logits, threshold=0.4):
    """Per-example IoU.

    Args:
      targets: `[B, X, Y, Z]` occupancy (>= 0.5 counts as occupied).
      logits: `[B, X, Y, Z]` logits.
      threshold: probability at which a voxel is predicted occupied.

    Returns:
      `[B]` float32 IoU.
    """
    import tensorflow as tf

    logits = tf.convert_to_tensor(logits)
    if logits.shape.rank != 4:
        raise ValueError(f"logits must have shape [B, X, Y, Z], got {logits.shape}")
    pred = tf.sigmoid(tf.cast(logits, tf.float32)) >= threshold
    gt = tf.cast(targets, tf.float32) >= 0.5
    inter = tf.reduce_sum(tf.cast(pred & gt, tf.float32), axis=[1, 2, 3])
    union = tf.reduce_sum(tf.cast(pred | gt, tf.float32), axis=[1, 2, 3])
    return tf.where(union > 0, inter / tf.maximum(union, 1.0), 1.0)


@keras.saving.register_keras_serializable(package="tf3d")
class VoxelIoU(keras.metrics.Mean):
    """Mean per-example voxel IoU at one threshold, from logits.

    Args:
      threshold: probability threshold; the default name is `iou_<threshold>`.
    """

    def __init__(self, threshold=0.4, name=None, **kwargs):
        super().__init__(name=name or f"iou_{threshold:g}", **kwargs)
        self.threshold = float(threshold)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(voxel_iou(y_true, y_pred, self.threshold), sample_weight)

    def get_config(self):
        return dict(super().get_config(), threshold=self.threshold)
