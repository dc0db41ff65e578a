"""Tests of tf3d.metrics.voxel_iou."""

import numpy as np
import pytest

from tf3d.metrics.voxel_iou import VoxelIoU, voxel_iou


def _logit(p):
    return np.log(p / (1 - p)).astype(np.float32)


def test_golden_values_at_each_threshold():
    targets = np.zeros((1, 2, 2, 1), np.float32)
    targets[0, :, 0, 0] = 1.0  # 2 occupied voxels
    probs = np.array([0.9, 0.45, 0.35, 0.1], np.float32).reshape(1, 2, 2, 1)
    # Voxel order: (0,0)=0.9 occupied, (0,1)=0.45 empty, (1,0)=0.35 occupied, (1,1)=0.1 empty.
    logits = _logit(probs)
    assert float(voxel_iou(targets, logits, 0.3)[0]) == pytest.approx(2 / 3)  # 0.9, 0.45, 0.35 predicted
    assert float(voxel_iou(targets, logits, 0.4)[0]) == pytest.approx(1 / 3)  # 0.9, 0.45
    assert float(voxel_iou(targets, logits, 0.5)[0]) == pytest.approx(1 / 2)  # 0.9


def test_both_empty_scores_one_and_mean_is_per_example():
    targets = np.zeros((2, 2, 2, 2), np.float32)
    targets[1, 0, 0, 0] = 1
    logits = np.full((2, 2, 2, 2), -5.0, np.float32)
    metric = VoxelIoU(0.5)
    metric.update_state(targets, logits)
    assert float(metric.result()) == pytest.approx(0.5)  # (1 + 0) / 2
    assert metric.name == "iou_0.5"
