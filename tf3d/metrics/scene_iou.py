"""Per-class intersection over union of label grids, summed over a dataset.

For class c with predicted voxels P_c (the argmax of the probabilities) and
true voxels T_c over all scenes of a split:

    IoU_c = |P_c & T_c| / |P_c | T_c|          (true IoU, Jaccard)

3D-FCR-alphaGAN's code reported instead `|P_c & T_c| / (|P_c| + |T_c|)`, a
Dice score halved, which cannot exceed 0.5 (`paper_iou`); it is computed
from the same counts for comparison with the paper's tables only. The mean
IoU is over the classes other than "empty" (id 0), which would otherwise
dominate it. A class absent from both prediction and truth has IoU NaN and is
left out of means.
"""

import numpy as np

import keras


def confusion_counts(targets, predictions, num_classes):
    """`(intersection, predicted, true)`: int64 `[C]` voxel counts of each class.

    Args:
      targets, predictions: integer class ids of the same shape (`[B, X, Y, Z]` or any).
    """
    targets, predictions = np.asarray(targets).ravel(), np.asarray(predictions).ravel()
    if targets.shape != predictions.shape:
        raise ValueError(f"targets and predictions must have one shape, got {targets.shape}, {predictions.shape}")
    hit = targets == predictions
    return (np.bincount(targets[hit], minlength=num_classes).astype(np.int64),
            np.bincount(predictions, minlength=num_classes).astype(np.int64),
            np.bincount(targets, minlength=num_classes).astype(np.int64))


def iou(intersection, predicted, true):
    """float64 `[C]`: true IoU of each class from counts (NaN where the union is empty)."""
    union = np.asarray(predicted) + np.asarray(true) - np.asarray(intersection)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, np.asarray(intersection) / np.maximum(union, 1), np.nan)


def paper_iou(intersection, predicted, true):
    """float64 `[C]`: the original code's `|P & T| / (|P| + |T|)` (at most 0.5; NaN where both are empty)."""
    total = np.asarray(predicted) + np.asarray(true)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.asarray(intersection) / np.maximum(total, 1), np.nan)


def mean_without_empty(values):
    """Mean of `values[1:]` (classes other than empty), ignoring NaN."""
    rest = np.asarray(values, dtype=np.float64)[1:]
    return float(np.nanmean(rest)) if np.isfinite(rest).any() else float("nan")


@keras.saving.register_keras_serializable(package="tf3d")
class SceneMeanIoU(keras.metrics.Metric):
    """Streaming mean true IoU over the non-empty classes, from argmax predictions.

    Args:
      num_classes: C.

    Update arguments:
      targets: int `[B, X, Y, Z]` class ids.
      probabilities: float `[B, X, Y, Z, C]`.
    """

    def __init__(self, num_classes, name="miou", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.counts = self.add_variable(shape=(3, self.num_classes), initializer="zeros", name="counts",
                                        dtype="float64")

    def update_state(self, targets, probabilities, sample_weight=None):
        import tensorflow as tf

        c = self.num_classes
        targets = tf.reshape(tf.cast(targets, tf.int32), [-1])
        predictions = tf.reshape(tf.argmax(probabilities, axis=-1, output_type=tf.int32), [-1])
        hit = tf.boolean_mask(targets, tf.equal(targets, predictions))
        counts = tf.stack([tf.math.bincount(hit, minlength=c, maxlength=c, dtype=tf.float64),
                           tf.math.bincount(predictions, minlength=c, maxlength=c, dtype=tf.float64),
                           tf.math.bincount(targets, minlength=c, maxlength=c, dtype=tf.float64)])
        self.counts.assign_add(counts)

    def result(self):
        import tensorflow as tf

        inter, pred, true = self.counts[0], self.counts[1], self.counts[2]
        union = pred + true - inter
        values = (inter / tf.maximum(union, 1.0))[1:]
        present = tf.cast(union[1:] > 0, tf.float64)
        return tf.cast(tf.reduce_sum(values * present) / tf.maximum(tf.reduce_sum(present), 1.0), tf.float32)

    def reset_state(self):
        self.counts.assign(keras.ops.zeros_like(self.counts))

    def get_config(self):
        return dict(super().get_config(), num_classes=self.num_classes)
