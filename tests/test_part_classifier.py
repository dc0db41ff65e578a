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


def test_penultimate_features_of_critics_and_encoders():
    critic = PartClassifier("critic3d", 16, [4, 8], norm="none")
    critic.build(critic.batch_shape)
    grids = np.random.default_rng(0).random((3, 16, 16, 16)).astype(np.float32)
    flat = np.asarray(critic.features(grids, pooled=False))
    assert flat.shape == (3, 4 * 4 * 4 * 8)  # two stride-2 convs: 16^3 -> 4^3, 8 channels
    pooled = np.asarray(critic.features(grids))
    np.testing.assert_allclose(pooled, flat.reshape(3, 64, 8).mean(axis=1), rtol=1e-5, atol=1e-6)  # channels last
    encoder = PartClassifier("enc2d", 16, [4, 8], latent_dim=8, norm="none")
    encoder.build(encoder.batch_shape)
    assert np.asarray(encoder.features(np.zeros((3, 16, 16, 1), np.float32))).shape == (3, 8)  # the code


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
