"""Tests of debugging check 4, task `unconditional_gan` (and `tf3d.metrics.sample_quality`), on tiny box data."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import write_box_dataset
from tf3d import cli, config, evaluate, tasks, train
from tf3d.metrics import sample_quality
from tf3d.models.cyclegan import CycleGAN
from tf3d.models.unconditional_gan import UnconditionalGAN

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCAL = os.path.join(REPO, "experiments/debug/check4_gan_alone_local.yaml")
CHECK1 = os.path.join(REPO, "experiments/debug/check1_critics_local.yaml")


def test_generator_and_critic_are_the_cyclegans():
    cyclegan = CycleGAN(image_size=32, latent_dim=16, dec2d_filters=[8, 4], dec3d_filters=[8, 4, 4],
                        critic2d_filters=[4, 8], critic3d_filters=[4, 8])
    cyclegan.build((None, 32, 32, 1))
    for domain, generator, critic, size, widths in (("voxels", "dec3d", "critic3d", 32, ([8, 4, 4], [4, 8])),
                                                     ("image", "dec2d", "critic2d", 32, ([8, 4], [4, 8]))):
        gan = UnconditionalGAN(domain, size, 16, widths[0], "none", widths[1], "instance")
        gan.build()
        for name in (generator, critic):
            shapes = lambda m: [(w.path.split("/", 1)[1], tuple(w.shape)) for w in getattr(m, name).weights]
            assert shapes(gan) == shapes(cyclegan), name
        samples = gan.sample(5, seed=3, batch_size=2)
        assert samples.shape == (5,) + tuple(gan.sample_shape[1:]) and 0 <= samples.min() <= samples.max() <= 1
        np.testing.assert_array_equal(samples, gan.sample(5, seed=3, batch_size=2))  # fixed noise


def test_a_few_steps_move_the_critic_apart():
    gan = UnconditionalGAN("voxels", 16, 8, [8, 4], "none", [4, 8], "none", n_critic=2)
    gan.build()
    gan.compile(keras.optimizers.Adam(1e-3, 0.5, 0.9), keras.optimizers.Adam(1e-3, 0.5, 0.9))
    real = tf.cast(tf.random.stateless_uniform([8, 16, 16, 16], [0, 1]) > 0.8, tf.float32)
    logs = [gan.train_step(real) for _ in range(6)]
    assert all(np.isfinite(float(v)) for log in logs for v in log.values())
    assert float(logs[-1]["wasserstein"]) > float(logs[0]["wasserstein"])  # the critic learns to tell them apart


def test_sample_scores_by_hand():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(4, 3))
    row = sample_quality.scores(features, [0.95, 0.5, 0.05, 0.6], features)
    assert row == {"fd": pytest.approx(0, abs=1e-9), "confident": 0.5, "second": 0.75, "count": 4}


@pytest.mark.slow
def test_the_local_check_trains_and_prints_its_verdict(tmp_path, capsys):
    data = write_box_dataset(str(tmp_path / "boxes"), per_category=(("chair", 3), ("table", 3)),
                             splits=("train", "val", "test"))
    classifier = str(tmp_path / "check1")
    train.train(config.resolve(CHECK1, [f"data.dir={data}", f"run_dir={classifier}", "train.epochs=1"]), verbose=0)
    run_dir = str(tmp_path / "run")
    cfg = config.resolve(LOCAL, [f"data.dir={data}", f"run_dir={run_dir}", f"task.classifier={classifier}"])
    summary = train.train(cfg, verbose=0)
    assert summary["monitor"] == "val_fd" and np.isfinite(summary["best"])
    assert evaluate.main([run_dir, "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "check 4 (voxels GAN alone): FD" in out and ("-> PASS" in out or "-> FAIL" in out)
    _, report, _ = evaluate.evaluate_run(run_dir)
    rows = report["rows"]
    assert [r["count"] for r in rows.values()] == [6 * 8] * 3 and report["reference_count"] == 6 * 8
    fd_mean, fd_real = rows["mean shape per view"]["fd"], rows["real test set"]["fd"]
    assert report["need_fd"] == pytest.approx((fd_mean + fd_real) / 2)
    assert report["passed"] == (rows["generated"]["fd"] <= report["need_fd"])
    assert [os.path.basename(p).split("_", 1)[1] for p in report["figures"]] == ["test_samples.png"]
    # A classifier of the other domain is refused, naming the part it needs.
    image_cfg = config.resolve(LOCAL, [f"data.dir={data}", f"run_dir={run_dir}_image", "task.domain=image",
                                       f"task.classifier={classifier}"])
    with pytest.raises(cli.UserError, match="part critic2d"):
        tasks.build(image_cfg).classifier()
