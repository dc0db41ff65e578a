"""Tests of the `part_classifier` task (debugging checks 1 and 2) on a tiny box dataset."""

import os

import numpy as np
import pytest

from conftest import write_box_dataset
from tf3d import config, evaluate, train
from tf3d.models.part_classifier import PartClassifier

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_part_gives_one_logit_per_example():
    for part, shape in (("critic2d", (2, 16, 16, 1)), ("critic3d", (2, 16, 16, 16)), ("enc2d", (2, 16, 16, 1)),
                        ("enc3d", (2, 16, 16, 16))):
        model = PartClassifier(part, 16, [4, 8], latent_dim=8, norm="none")
        model.build(model.batch_shape)
        assert model(np.zeros(shape, np.float32)).shape == (2,), part
    with pytest.raises(ValueError, match="part must be one of"):
        PartClassifier("dec3d")


@pytest.mark.slow
@pytest.mark.parametrize("experiment, part", [("experiments/debug/check1_critics_local.yaml", "critic3d"),
                                              ("experiments/debug/check2_encoders_local.yaml", "enc2d")])
def test_a_check_trains_and_prints_its_verdict(experiment, part, tmp_path, capsys):
    data = write_box_dataset(str(tmp_path / "boxes"), per_category=(("chair", 3), ("table", 3)),
                             splits=("train", "val", "test"))
    run_dir = str(tmp_path / "run")
    cfg = config.resolve(os.path.join(REPO, experiment), [f"data.dir={data}", f"run_dir={run_dir}",
                                                          f"task.part={part}", "train.epochs=1"])
    assert 0 <= train.train(cfg, verbose=0)["best"] <= 1
    assert evaluate.main([run_dir, "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert f"{part} as a classifier: accuracy" in out and ("-> PASS" in out or "-> FAIL" in out)
    _, report, _ = evaluate.evaluate_run(run_dir)
    assert {c: r["count"] for c, r in report["per_category"].items()} == {"chair": 3 * 8, "table": 3 * 8}
    assert report["passed"] == (report["accuracy"] >= 0.9)
