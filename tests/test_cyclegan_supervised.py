"""Tests of debugging check 3, task `cyclegan_supervised`, on a tiny box dataset."""

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import write_box_dataset
from tf3d import config, evaluate, tasks, train
from tf3d.losses.weighted_bce import WeightedBinaryCrossentropy
from tf3d.tasks.cyclegan import CycleGANConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCAL = os.path.join(REPO, "experiments/debug/check3_supervised_local.yaml")
INFO = {"voxel_resolution": 32, "occupancy_rate": 0.1, "viewpoints": {"elevation": 30.0}}


def _cfg(*overrides):
    return config.resolve(LOCAL, list(overrides))


def test_the_generators_are_the_cyclegans():
    cfg = _cfg()
    model = tasks.build(cfg).build_model(INFO)
    fields = {f.name: getattr(cfg.task, f.name) for f in dataclasses.fields(CycleGANConfig) if f.name != "name"}
    cyclegan = tasks.build(dataclasses.replace(cfg, task=CycleGANConfig(**fields))).build_model(INFO)
    for part in ("enc2d", "dec3d", "enc3d", "dec2d"):
        shapes = lambda m: [(w.path.split("/", 1)[1], tuple(w.shape)) for w in getattr(m, part).weights]
        assert shapes(model) == shapes(cyclegan), part
    with pytest.raises(config.ConfigError, match="task.mode must be learned"):
        _cfg("task.mode=render")


def test_one_step_trains_the_generators_and_leaves_the_critics():
    import keras

    model = tasks.build(_cfg()).build_model(INFO)
    model.compile(keras.optimizers.Adam(1e-3), voxel_loss=WeightedBinaryCrossentropy(2.0), image_weight=3.0,
                  image_loss="bce")
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((2, 32, 32, 1)), tf.float32)
    voxels = tf.constant(rng.random((2, 32, 32, 32)) > 0.9, tf.float32)
    before = {v.path: np.array(v) for v in model.weights}
    logs = {k: float(v) for k, v in model.train_step((images, voxels)).items()}
    assert logs["loss"] == pytest.approx(logs["voxel_loss"] + 3.0 * logs["image_loss"], rel=1e-5)
    assert logs["image_loss"] > np.log(2) - 0.1  # the cross-entropy of gray levels against logits near 0
    for part in ("enc2d", "dec3d", "enc3d", "dec2d", "critic2d", "critic3d"):
        moved = [not np.array_equal(before[v.path], np.array(v)) for v in getattr(model, part).trainable_variables]
        assert all(moved) if part.startswith(("enc", "dec")) else not any(moved), part


@pytest.mark.slow
def test_the_local_check_trains_and_prints_its_verdict(tmp_path, capsys):
    data = write_box_dataset(str(tmp_path / "boxes"), per_category=(("chair", 3), ("table", 3)),
                             splits=("train", "val", "test"))
    run_dir = str(tmp_path / "run")
    summary = train.train(_cfg(f"data.dir={data}", f"run_dir={run_dir}", "train.epochs=1"), verbose=0)
    assert np.isfinite(summary["final"]["loss"]) and "val_silhouette_iou" in summary["final"]
    assert evaluate.main([run_dir, "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "check 3, image -> voxels (Dec3D o Enc2D): IoU@0.4" in out and "criterion: >= 0.551" in out
    assert "check 3, voxels -> image (Dec2D o Enc3D): silhouette IoU" in out
    _, report, _ = evaluate.evaluate_run(run_dir)
    v = report["verdict"]
    assert report["count"] == 6 * 8 and v["iou"] == report["overall"]["iou_0.4"]
    assert v["passed"] == (v["iou"] >= 0.551 - 1e-9 and v["silhouette_iou"] >= 0.8)
