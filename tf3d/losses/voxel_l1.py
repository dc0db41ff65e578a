"""Voxel-wise L1 distance between occupancy probabilities and targets.

`mean_v |sigmoid(x_v) - y_v|`: bounded and less dominated by confident
mistakes than cross-entropy; the "L1 option" for the paired model.
"""

import keras

from tf3d.losses.inputs import voxel_targets_and_logits


def voxel_l1(targets, logits):
    """Per-example L1.

    Args:
      targets: `[B, X, Y, Z]` occupancy in [0, 1].
      logits: `[B, X, Y, Z]` logits.

    Returns:
      `[B]` mean absolute difference.
    """
    import tensorflow as tf

    targets, logits = voxel_targets_and_logits(targets, logits)
    return tf.reduce_mean(tf.abs(tf.sigmoid(logits) - targets), axis=[1, 2, 3])


@keras.saving.register_keras_serializable(package="tf3d")
class VoxelL1(keras.losses.Loss):
    """Keras loss wrapping `voxel_l1` (y_pred are logits)."""

    def __init__(self, name="voxel_l1", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return voxel_l1(y_true, y_pred)
