"""Golden test of the evaluation aggregation (tf3d.metrics.iou_report)."""

import numpy as np
import pytest

from tf3d.metrics.iou_report import IoUReport, format_table
from tf3d.metrics.voxel_iou import voxel_iou


def test_per_category_overall_and_category_mean_by_hand():
    report = IoUReport([0.3, 0.5])
    report.add([b"chair", b"chair", b"table"], {0.3: [0.2, 0.4, 0.9], 0.5: [0.1, 0.3, 0.8]})
    report.add(["chair"], {0.3: [0.6], 0.5: [0.5]})
    result = report.result()
    # chair: (0.2 + 0.4 + 0.6) / 3 = 0.4 at 0.3, (0.1 + 0.3 + 0.5) / 3 = 0.3 at 0.5; table: 0.9, 0.8.
    assert result["per_category"]["chair"] == pytest.approx({"count": 3, "iou_0.3": 0.4, "iou_0.5": 0.3})
    assert result["per_category"]["table"] == pytest.approx({"count": 1, "iou_0.3": 0.9, "iou_0.5": 0.8})
    # overall weights examples: (0.2 + 0.4 + 0.9 + 0.6) / 4 = 0.525, (0.1 + 0.3 + 0.8 + 0.5) / 4 = 0.425.
    assert result["overall"] == pytest.approx({"count": 4, "iou_0.3": 0.525, "iou_0.5": 0.425})
    # the category mean weights categories: (0.4 + 0.9) / 2 = 0.65, (0.3 + 0.8) / 2 = 0.55.
    assert result["category_mean"] == pytest.approx({"count": 2, "iou_0.3": 0.65, "iou_0.5": 0.55})
    table = format_table(result, [0.3, 0.5])
    assert "overall" in table and "(mean over examples)" in table and "0.525" in table
    assert "category mean" in table and "0.650" in table


def test_voxel_iou_of_known_grids_feeds_the_report():
    targets = np.zeros((2, 4, 4, 4), np.float32)
    targets[0, :2] = 1  # 32 voxels
    targets[1, 0, 0, 0] = 1
    logits = np.full((2, 4, 4, 4), -10.0, np.float32)
    logits[0, :1] = 10.0  # 16 of the 32: IoU 0.5
    logits[1, 0, 0, :2] = 10.0  # 1 of 2 predicted, 1 true: IoU 0.5
    ious = voxel_iou(targets, logits, 0.5).numpy()
    np.testing.assert_allclose(ious, [0.5, 0.5])
    report = IoUReport([0.5])
    report.add(["a", "b"], {0.5: ious})
    assert report.result()["overall"]["iou_0.5"] == pytest.approx(0.5)


def test_bad_inputs_are_named():
    report = IoUReport([0.4])
    with pytest.raises(ValueError, match="no entry for threshold 0.4"):
        report.add(["chair"], {0.5: [1.0]})
    with pytest.raises(ValueError, match="2 values for 1 categories"):
        report.add(["chair"], {0.4: [1.0, 0.5]})
    with pytest.raises(ValueError, match="no examples"):
        report.result()
