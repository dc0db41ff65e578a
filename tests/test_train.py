"""End-to-end tests of tf3d.train, tf3d.evaluate and tf3d.predict on tiny real datasets."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from tf3d import config, evaluate, predict, train
from tf3d.training.nan_guard import NonFiniteLossError, StopOnNonFiniteLoss

LOCAL = "experiments/paired_local.yaml"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cfg(data, run_dir, *extra):
    return config.resolve(os.path.join(REPO, LOCAL), [f"data.dir={data}", f"run_dir={run_dir}", *extra])


@pytest.mark.slow
def test_train_evaluate_predict_end_to_end(box_dataset, tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    summary = train.train(_cfg(box_dataset, run_dir, "train.epochs=2"), verbose=0)
    p = train.paths(run_dir)
    for key in ("config", "best", "last", "summary"):
        assert os.path.exists(p[key]), key
    assert sorted(os.listdir(p["previews"])) == ["epoch_001.png", "epoch_002.png"]
    assert os.path.exists(os.path.join(p["logs"], "previews"))
    assert not os.path.exists(p["backup"])  # removed once the run completes
    assert np.isfinite(summary["final"]["loss"]) and summary["train_steps_per_second"] > 0
    assert config.load(run_dir).train.epochs == 2

    assert evaluate.main([run_dir, "--categories", "table"]) == 0
    out = capsys.readouterr().out
    assert "IoU@0.3" in out and "IoU@0.5" in out and "table" in out and "chair" not in out.split("scores:")[0]
    assert evaluate.main([run_dir]) == 0
    out = capsys.readouterr().out
    scores = json.load(open(os.path.join(run_dir, "eval_val.json")))
    assert set(scores["per_category"]) == {"chair", "table"}
    assert scores["count"] == 8 * 8  # every view of every val model
    assert all(0.0 <= v <= 1.0 for v in scores["mean"].values())

    # Predict from a record's image written as a PNG file.
    from PIL import Image

    image_path = str(tmp_path / "chair.png")
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(image_path)
    model, cfg = evaluate.load_model(run_dir)
    probabilities = predict.predict(model, predict.load_image(image_path, cfg.data.image_size))
    threshold = float(probabilities.max()) * 0.9
    for ext in ("obj", "ply"):
        out_path = str(tmp_path / f"chair.{ext}")
        assert predict.main([run_dir, image_path, "-o", out_path, "--threshold", str(threshold)]) == 0
        assert os.path.getsize(out_path) > 0
    assert np.load(str(tmp_path / "chair.npy")).shape == (32, 32, 32)
    assert os.path.exists(str(tmp_path / "chair.png"))

    # Running the finished command again does not train again.
    before = os.path.getmtime(p["last"])
    train.train(_cfg(box_dataset, run_dir, "train.epochs=2"), verbose=0)
    assert os.path.getmtime(p["last"]) == before


@pytest.mark.slow
def test_a_few_training_steps_on_a_real_build(synthetic_dataset, tmp_path, capsys):
    run_dir = str(tmp_path / "real")
    assert train.main([LOCAL, "--set", f"data.dir={synthetic_dataset}", "--set", f"run_dir={run_dir}",
                       "--set", "train.epochs=1"]) == 0
    assert evaluate.main([run_dir, "--split", "test"]) == 0
    assert "IoU@0.4" in capsys.readouterr().out
    assert os.path.exists(os.path.join(run_dir, "previews", "epoch_001.png"))


def test_marching_cubes_mesh_sits_in_the_voxel_cube():
    grid = np.zeros((32, 32, 32), np.float32)
    grid[8:24, 0:16, 8:24] = 1.0
    vertices, faces = predict.voxels_to_mesh(grid, 0.5)
    assert len(faces) > 0
    np.testing.assert_allclose(vertices.min(axis=0), [-0.25, -0.5, -0.25], atol=1e-6)
    np.testing.assert_allclose(vertices.max(axis=0), [0.25, 0.0, 0.25], atol=1e-6)
    with pytest.raises(ValueError, match="lower --threshold"):
        predict.voxels_to_mesh(grid * 0.1, 0.5)


@pytest.mark.slow
def test_killed_run_resumes_where_it_stopped(box_dataset, tmp_path):
    run_dir = str(tmp_path / "run")
    command = [sys.executable, "-m", "tf3d.train", LOCAL, "--set", f"data.dir={box_dataset}",
               "--set", f"run_dir={run_dir}", "--set", "train.epochs=6"]
    metadata = os.path.join(run_dir, "backup", "training_metadata.json")
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    epoch = 0
    while time.time() < deadline and process.poll() is None:
        if os.path.exists(metadata):
            try:
                epoch = json.load(open(metadata))["epoch"]
            except (ValueError, KeyError):
                epoch = 0
            if epoch >= 2:
                break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # like a Colab runtime going away: no cleanup
    process.wait()
    assert 2 <= epoch < 6, f"run was not interrupted mid-way (epoch {epoch})"
    assert not os.path.exists(os.path.join(run_dir, train.SUMMARY_FILE))

    resumed = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    epochs_run = [line for line in resumed.stdout.splitlines() if line.startswith("Epoch ")]
    assert epochs_run and epochs_run[0] != "Epoch 1/6", epochs_run
    assert epochs_run[-1] == "Epoch 6/6" and len(epochs_run) <= 6 - epoch
    assert os.path.exists(os.path.join(run_dir, train.SUMMARY_FILE))


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path):
    x = np.random.rand(8, 4).astype(np.float32)
    y = np.random.rand(8, 1).astype(np.float32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    last = str(tmp_path / "last.weights.h5")
    callbacks = [StopOnNonFiniteLoss(f"last good weights: {last}"),
                 keras.callbacks.ModelCheckpoint(last, save_weights_only=True)]
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, callbacks=callbacks)
    digest = hashlib.sha256(open(last, "rb").read()).hexdigest()
    y_bad = y.copy()
    y_bad[5] = np.nan  # the third batch of the next epoch
    with pytest.raises(NonFiniteLossError, match=r"at step 7 \(batch 2 of the epoch\).*last good weights"):
        model.fit(x, y_bad, batch_size=2, epochs=1, verbose=0, callbacks=callbacks, shuffle=False)
    assert hashlib.sha256(open(last, "rb").read()).hexdigest() == digest


@pytest.mark.slow
def test_corrupt_shards_stop_the_run_or_are_skipped(broken_dataset, tmp_path, capsys):
    directory, source = broken_dataset
    assert train.main([LOCAL, "--set", f"data.dir={directory}", "--set", f"run_dir={tmp_path / 'a'}",
                       "--set", "train.epochs=1"]) == 1
    err = capsys.readouterr().err
    assert f"{source.files[0]}: record 2" in err and f"{source.files[1]}: record 1" in err
    assert "data.skip_bad_records=true" in err

    assert train.main([LOCAL, "--set", f"data.dir={directory}", "--set", f"run_dir={tmp_path / 'b'}",
                       "--set", "train.epochs=1", "--set", "data.skip_bad_records=true"]) == 0
    assert "skipping 2 bad record(s)" in capsys.readouterr().out
    summary = json.load(open(tmp_path / "b" / train.SUMMARY_FILE))
    assert len(summary["skipped_records"]) == 2


def test_missing_dataset_names_the_build_command(tmp_path, capsys):
    assert train.main([LOCAL, "--set", f"data.dir={tmp_path / 'none'}", "--set",
                       f"run_dir={tmp_path / 'run'}"]) == 1
    assert "python -m pipelines.build synthetic --out" in capsys.readouterr().err
