"""Scene IoU and average precision against hand-computed values."""

import os

import numpy as np
import pytest

from tf3d.losses.scene_reconstruction import class_weights, scene_reconstruction_loss
from tf3d.metrics import scene_iou
from tf3d.metrics.average_precision import ScoreHistogram, average_precision


def test_iou_true_and_paper_by_hand():
    # class 1: truth at 0,1,2; prediction at 1,2,3 -> |P&T| = 2, |P|+|T| = 6, union 4
    targets = np.array([1, 1, 1, 0, 2, 0])
    predictions = np.array([0, 1, 1, 1, 2, 0])
    inter, pred, true = scene_iou.confusion_counts(targets, predictions, 4)
    np.testing.assert_array_equal(inter, [1, 2, 1, 0])
    iou = scene_iou.iou(inter, pred, true)
    assert iou[1] == pytest.approx(2 / 4)
    assert iou[0] == pytest.approx(1 / 3)  # class 0: truth {3, 5}, prediction {0, 5}
    assert iou[2] == 1.0 and np.isnan(iou[3])  # class 3 absent from both: left out of means
    paper = scene_iou.paper_iou(inter, pred, true)
    assert paper[1] == pytest.approx(2 / 6) and paper[2] == 0.5  # a perfect class scores 0.5 there
    assert scene_iou.mean_without_empty(iou) == pytest.approx((0.5 + 1.0) / 2)


def test_streaming_miou_matches_the_counts():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 4, (2, 4, 3, 4))
    probabilities = rng.random((2, 4, 3, 4, 4)).astype("float32")
    metric = scene_iou.SceneMeanIoU(4)
    metric.update_state(targets[:1], probabilities[:1])
    metric.update_state(targets[1:], probabilities[1:])
    counts = scene_iou.confusion_counts(targets, probabilities.argmax(-1), 4)
    assert float(metric.result()) == pytest.approx(scene_iou.mean_without_empty(scene_iou.iou(*counts)), rel=1e-6)


def test_average_precision_by_hand():
    # scikit-learn's docstring example: y = [0, 0, 1, 1], s = [0.1, 0.4, 0.35, 0.8]
    # thresholds 0.8: P=1, R=0.5; 0.4: P=1/2, R=0.5; 0.35: P=2/3, R=1; 0.1: P=1/2, R=1
    # AP = 0.5 * 1 + 0 * 1/2 + 0.5 * 2/3 + 0 = 0.8333...
    assert average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5 + 0.5 * 2 / 3)
    # ties form one threshold: both samples at 0.5 -> P = 1/2 at R = 1
    assert average_precision([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert np.isnan(average_precision([0, 0], [0.2, 0.3]))


def test_histogram_ap_equals_the_exact_ap_of_rounded_scores():
    rng = np.random.default_rng(1)
    targets = rng.integers(0, 3, 500)
    probabilities = rng.dirichlet(np.ones(3), 500).astype("float32")
    probabilities[targets == 2, 2] += 0.3  # class 2 is easier
    bins = 64
    histogram = ScoreHistogram(3, bins)
    histogram.add(targets[:200], probabilities[:200])
    histogram.add(targets[200:], probabilities[200:])
    levels = np.minimum((probabilities * bins).astype(int), bins - 1)
    for k in range(3):
        assert histogram.average_precision()[k] == pytest.approx(average_precision(targets == k, levels[:, k]))
    assert histogram.average_precision()[2] > histogram.average_precision()[0]
    with pytest.raises(ValueError, match="probabilities must have shape"):
        histogram.add(targets, probabilities[:, :2])


def test_reconstruction_loss_by_hand():
    # one voxel, two classes, truth class 0, p = (0.8, 0.2), weights (1, 3), gamma 0.75:
    # class 0: -0.75 * log 0.8; class 1: -0.25 * log(1 - 0.2) -> 1 * 0.75 * -log 0.8 + 3 * 0.25 * -log 0.8
    p = np.array([0.8, 0.2], "float32").reshape(1, 1, 1, 1, 2)
    loss = scene_reconstruction_loss(np.zeros((1, 1, 1, 1)), p, [1.0, 3.0], gamma=0.75)
    assert float(loss[0]) == pytest.approx(1.5 * -np.log(0.8), rel=1e-5)
    with pytest.raises(ValueError, match="gamma"):
        scene_reconstruction_loss(np.zeros((1, 1, 1, 1)), p, [1.0, 3.0], gamma=1.0)
    # rarer classes weigh more: ((1 - f) / f) ** 0.25
    np.testing.assert_allclose(class_weights([0.5, 1 / 17]), [1.0, 2.0], rtol=1e-6)


def test_scene_mode_baseline_scores_a_constant_layout_perfectly(tmp_path):
    from tf3d import baselines

    shape = (8, 4, 8)
    layout = np.zeros(shape, np.uint8)
    layout[:, 0] = 2  # floor
    layout[0] = 3  # a wall
    for split, n in (("train", 3), ("test", 2)):
        os.makedirs(tmp_path / split)
        for i in range(n):
            grid = layout.copy()
            if split == "train" and i == 0:
                grid[4, 2, 4] = 5  # one stray chair voxel: outvoted by the other two scenes
            np.save(tmp_path / split / f"{split}{i}.npy", grid)
    report = baselines.score_scene_mode(str(tmp_path), "test")
    iou = dict(zip(report["classes"], report["iou"]))
    assert iou["floor"] == 1.0 and iou["wall"] == 1.0 and iou["empty"] == 1.0
    ap = dict(zip(report["classes"], report["ap"]))
    assert ap["floor"] == pytest.approx(1.0) and ap["wall"] == pytest.approx(1.0)
