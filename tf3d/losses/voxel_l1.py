"""Voxel-wise L1 distance between occupancy probabilities and targets.

`mean_v |sigmoid(x_v) - y_v|`: bounded and less dominated by confident
mistakes than cross-entropy; the "L1 option" for the paired model.
"""

import keras


def voxel_l1(targets, logits):
    """Per-example L1.

    Args:
      targets: `[B, X, Y, Z]` occupancy in [0, 1].
      logits: `[B, X, Y, Z]` logits.

    Returns:
      `[B]` mean absolute difference.
    """
    import tensorflow as tf

    logits = tf.convert_to_tensor(logits)
    targets = tf.cast(targets, logits.dtype)
    if targets.shape.rank != 4 or logits.shape.rank != 4:
        raise ValueError(f"targets and logits must have shape [B, X, Y, Z], got "
                         f"{targets.shape} and {logits.shape}")
    return tf.reduce_mean(tf.abs(tf.sigmoid(logits) - targets), axis=[1, 2, 3])


@keras.saving.register_keras_serializable(package="tf3d")
class VoxelL1(keras.losses.Loss):
    """Keras loss wrapping `voxel_l1` (y_pred are logits)."""

    def __init__(self, name="voxel_l1", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return voxel_l1(y_true, y_pred)
