"""Average precision of voxel scores, scikit-learn's definition, exact and streaming.

For one class, every voxel of every scene is a sample with a score (its
predicted probability of the class) and a label (is it that class?).
Average precision is scikit-learn's `average_precision_score`:

    AP = sum_n (R_n - R_{n-1}) * P_n

over the distinct score thresholds n in decreasing order, P_n and R_n the
precision and recall of the samples scored at least the n-th threshold
(R_0 = 0): the area under the step-wise precision-recall curve, without
interpolation. 3D-FCR-alphaGAN's code divided its sum by the number of all
samples instead, which is not AP.

A split of 80 x 48 x 80 grids has millions of voxels per class, so
`ScoreHistogram` accumulates the counts of positive and negative voxels per
score bin (`bins` levels, 65536 by default) and computes the same formula
over the bins: exactly scikit-learn's AP of the scores rounded down to a
multiple of 1/bins (tied scores form one threshold, as in scikit-learn).
`average_precision` is the exact reference on unrounded scores.
"""

import numpy as np


def average_precision(labels, scores):
    """scikit-learn's average precision of one class.

    Args:
      labels: `[N]` bool or {0, 1} (positive = 1).
      scores: `[N]` float, higher = more likely positive.

    Returns:
      float; NaN when there is no positive.
    """
    labels = np.asarray(labels).ravel().astype(bool)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores must have one shape, got {labels.shape}, {scores.shape}")
    if not labels.any():
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # last index of each distinct score
    tp = np.cumsum(labels)[last]
    return _ap_from_cumulative(tp, last + 1 - tp)


def _ap_from_cumulative(tp, fp):
    tp, fp = np.asarray(tp, dtype=np.float64), np.asarray(fp, dtype=np.float64)
    if not len(tp) or tp[-1] == 0:
        return float("nan")
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


class ScoreHistogram:
    """Streaming per-class AP over many voxels (see the module docstring).

    Args:
      num_classes: C.
      bins: score levels; a score s falls in bin `min(floor(s * bins), bins - 1)`.
    """

    def __init__(self, num_classes, bins=65536):
        self.num_classes, self.bins = int(num_classes), int(bins)
        self.positive = np.zeros((self.num_classes, self.bins), dtype=np.int64)
        self.negative = np.zeros((self.num_classes, self.bins), dtype=np.int64)

    def add(self, targets, probabilities):
        """Counts a batch: int `[..., ]` class ids and float `[..., C]` probabilities."""
        probabilities = np.asarray(probabilities, dtype=np.float32)
        c = self.num_classes
        if probabilities.shape[-1] != c or probabilities.shape[:-1] != np.shape(targets):
            raise ValueError(f"probabilities must have shape {np.shape(targets) + (c,)}, got {probabilities.shape}")
        targets = np.asarray(targets).ravel()
        levels = np.minimum((probabilities.reshape(-1, c) * self.bins).astype(np.int64), self.bins - 1)
        for k in range(c):
            positive = targets == k
            self.positive[k] += np.bincount(levels[positive, k], minlength=self.bins)
            self.negative[k] += np.bincount(levels[~positive, k], minlength=self.bins)

    def average_precision(self):
        """float64 `[C]` AP of each class (NaN for a class without positives)."""
        result = np.full(self.num_classes, np.nan)
        for k in range(self.num_classes):
            pos, neg = self.positive[k, ::-1], self.negative[k, ::-1]  # high scores first
            used = (pos + neg) > 0
            result[k] = _ap_from_cumulative(np.cumsum(pos)[used], np.cumsum(neg)[used])
        return result
