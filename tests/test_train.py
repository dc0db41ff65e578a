"""End-to-end tests of tf3d.train, tf3d.evaluate and tf3d.predict on tiny real datasets."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from conftest import write_box_dataset
from tf3d import cli, config, evaluate, predict, runs, train
from tf3d.training.nan_guard import NonFiniteLossError, StopOnNonFiniteLoss

LOCAL = "experiments/paired_local.yaml"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cfg(data, run_dir, *extra):
    return config.resolve(os.path.join(REPO, LOCAL), [f"data.dir={data}", f"run_dir={run_dir}", *extra])


def _one_error_line(err):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Boxes with train/val/test splits (4 chairs + 4 tables each)."""
    return write_box_dataset(str(tmp_path_factory.mktemp("boxes3") / "boxes"), splits=("train", "val", "test"))


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    """(run_dir, summary) of a 2-epoch paired_local run on `dataset`."""
    run_dir = str(tmp_path_factory.mktemp("trained") / "run")
    return run_dir, train.train(_cfg(dataset, run_dir, "train.epochs=2"), verbose=0)


@pytest.mark.slow
def test_a_run_directory_is_self_sufficient(trained, dataset, tmp_path, capsys):
    run_dir, summary = trained
    run = runs.RunDir(run_dir)
    for path in (run.config, run.dataset, run.best, run.last, run.best_score, run.summary):
        assert os.path.exists(path), path
    assert sorted(os.listdir(run.previews)) == ["epoch_001.png", "epoch_002.png"]
    assert not os.path.exists(run.backup)  # removed once the run completes
    assert summary["task"] == "paired" and np.isfinite(summary["final"]["loss"])
    assert json.load(open(run.dataset))["voxel_resolution"] == 32

    # Scores of the run's own test split, then of the same data moved elsewhere: two files.
    assert evaluate.main([run_dir]) == 0
    out = capsys.readouterr().out
    assert "[test]" in out and "overall" in out and "category mean" in out
    own = run.eval_file(dataset, "test")
    scores = json.load(open(own))
    assert scores["count"] == 8 * 8 and set(scores["per_category"]) == {"chair", "table"}
    moved = str(tmp_path / "moved")
    shutil.copytree(dataset, moved)
    original = shutil.move(dataset, str(tmp_path / "away"))  # the run's data.dir no longer exists
    try:
        assert evaluate.main([run_dir, "--data", moved, "--categories", "table"]) == 0
        out = capsys.readouterr().out
        assert "table" in out and "chair" not in out.split("scores:")[0]
        assert run.eval_file(moved, "test", ["table"]) in out
        assert json.load(open(own)) == scores  # the run's own scores are untouched

        # Predict from a record-like picture: RGBA and not square, with the dataset gone.
        from PIL import Image

        picture = np.full((48, 64, 4), 255, np.uint8)
        picture[10:40, 20:44, :3] = 90
        picture[:, :8, 3] = 0  # a transparent strip
        image_path = str(tmp_path / "chair.png")
        Image.fromarray(picture, "RGBA").save(image_path)
        model, _ = runs.load_model(run_dir)
        probabilities = keras.ops.sigmoid(model(np.zeros((1, 32, 32, 1), np.float32)))
        threshold = float(np.max(keras.ops.convert_to_numpy(probabilities))) * 0.5
        for ext in ("obj", "ply"):
            out_path = str(tmp_path / f"chair.{ext}")
            assert predict.main([run_dir, image_path, "-o", out_path, "--threshold", f"{threshold:.4f}"]) == 0
            assert os.path.getsize(out_path) > 0
        assert np.load(str(tmp_path / "chair.npy")).shape == (32, 32, 32)
        assert os.path.exists(str(tmp_path / "chair.png"))
    finally:
        shutil.move(original, dataset)

    # Running the finished command again does not train again.
    before = os.path.getmtime(run.last)
    train.train(_cfg(dataset, run_dir, "train.epochs=2"), verbose=0)
    assert os.path.getmtime(run.last) == before


class _Killed(Exception):
    pass


class _KillAfterEpoch(keras.callbacks.Callback):
    """Runs after BackupAndRestore: stops the process's training as a kill would, recording the state."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.state = epoch, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            self.state = _state(self.model)
            raise _Killed()


class _Probe(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.start, self.epochs = None, []

    def on_train_begin(self, logs=None):
        self.start = _state(self.model)  # after BackupAndRestore has restored the backup

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def _state(model):
    return {"weights": [np.array(w) for w in model.weights],
            "step": int(model.optimizer.iterations.numpy()),
            "learning_rate": float(np.asarray(model.optimizer.learning_rate))}


@pytest.mark.slow
def test_resume_restores_weights_optimizer_step_and_learning_rate(dataset, tmp_path):
    run_dir = str(tmp_path / "run")
    cfg = _cfg(dataset, run_dir, "train.epochs=4")
    kill = _KillAfterEpoch(2)
    with pytest.raises(_Killed):
        train.train(cfg, verbose=0, callbacks=[kill])
    run = runs.RunDir(run_dir)
    assert os.path.exists(run.backup) and not os.path.exists(run.summary)
    assert kill.state["step"] == 2 * 4  # 4 steps per epoch (paired_local)

    probe = _Probe()
    train.train(cfg, verbose=0, callbacks=[probe])
    assert probe.epochs == [2, 3]
    assert probe.start["step"] == kill.state["step"]
    assert probe.start["learning_rate"] == pytest.approx(kill.state["learning_rate"], rel=1e-6)
    assert kill.state["learning_rate"] < cfg.train.learning_rate  # the cosine schedule had moved on
    assert len(probe.start["weights"]) == len(kill.state["weights"])
    for restored, saved in zip(probe.start["weights"], kill.state["weights"]):
        np.testing.assert_array_equal(restored, saved)
    assert json.load(open(run.summary))["epochs"] == 4


def test_resuming_with_another_config_is_refused(tmp_path):
    run_dir = str(tmp_path / "run")
    saved = _cfg(str(tmp_path / "data"), run_dir, "train.epochs=4")
    config.save(saved, run_dir)
    os.makedirs(runs.RunDir(run_dir).backup)
    changed = _cfg(str(tmp_path / "data"), run_dir, "train.epochs=5", "train.learning_rate=1e-4")
    with pytest.raises(cli.UserError, match=r"train.epochs: 4 -> 5; train.learning_rate: 0.001 -> 0.0001.*"
                                            r"--set run_dir=NEW_DIR"):
        train.train(changed, verbose=0)


@pytest.mark.slow
def test_init_from_copies_a_submodel(trained, dataset, tmp_path):
    source_dir, _ = trained
    source, _ = runs.load_model(source_dir)
    probe = _Probe()
    train.train(_cfg(dataset, str(tmp_path / "run"), "train.epochs=1", "train.steps_per_epoch=1",
                     f"init_from={source_dir}:encoder"), verbose=0, callbacks=[probe])
    model, _ = runs.load_model(str(tmp_path / "run"), "last")
    encoder = [np.array(w) for w in source.encoder.weights]
    started = probe.start["weights"][:len(encoder)]  # the encoder's weights come first
    for a, b in zip(started, encoder):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(model.decoder.get_weights(), source.decoder.get_weights()))
    with pytest.raises(cli.UserError, match="has no submodel 'trunk'.*decoder, encoder"):
        runs.init_from(model, f"{source_dir}:trunk")


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
    run = runs.RunDir(run_dir)
    assert not os.path.exists(run.summary)
    # The checkpoints of every finished epoch were written before the backup counted it.
    assert os.path.exists(run.last) and os.path.exists(run.best_score)

    resumed = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    epochs_run = [line for line in resumed.stdout.splitlines() if line.startswith("Epoch ")]
    assert epochs_run and epochs_run[0] != "Epoch 1/6", epochs_run
    assert epochs_run[-1] == "Epoch 6/6" and len(epochs_run) <= 6 - epoch
    assert os.path.exists(run.summary)


def test_previews_show_different_models_of_every_category(box_dataset):
    from tf3d.data import pipeline
    from tf3d.training.previews import pick_examples

    ds = pipeline.make_dataset(box_dataset, "val", batch_size=16, training=False, views="all",
                               image_size=32, with_metadata=True)
    chosen = pick_examples(ds, 4)
    assert chosen["image"].shape == (4, 32, 32, 1) and chosen["voxels"].shape == (4, 32, 32, 32)
    assert len(set(chosen["model_id"])) == 4  # the first batch alone holds two models' 16 views
    assert sorted(c.decode() for c in chosen["category"]) == ["chair", "chair", "table", "table"]


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
    assert "data.skip_bad_records=true" in err and "Traceback" not in err

    assert train.main([LOCAL, "--set", f"data.dir={directory}", "--set", f"run_dir={tmp_path / 'b'}",
                       "--set", "train.epochs=1", "--set", "data.skip_bad_records=true"]) == 0
    assert "skipping 2 bad record(s)" in capsys.readouterr().out
    summary = json.load(open(tmp_path / "b" / "train_summary.json"))
    assert len(summary["skipped_records"]) == 2


def test_missing_dataset_names_the_build_command(tmp_path, capsys):
    assert train.main([LOCAL, "--set", f"data.dir={tmp_path / 'none'}", "--set",
                       f"run_dir={tmp_path / 'run'}"]) == 1
    assert "python -m pipelines.build synthetic --out" in _one_error_line(capsys.readouterr().err)
    assert not os.path.exists(tmp_path / "run")  # nothing written before the inputs were found


@pytest.mark.parametrize("override, message", [
    ("train.learning_rate=fast", "train.learning_rate must be a number"),
    ("task.model.nme=x", "did you mean 'name'"),
])
def test_config_errors_are_one_line(override, message, tmp_path, capsys):
    assert train.main([LOCAL, "--set", override, "--set", f"run_dir={tmp_path / 'run'}"]) == 1
    assert message in _one_error_line(capsys.readouterr().err)
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.slow
def test_user_errors_of_predict_and_evaluate_are_one_line(trained, broken_dataset, tmp_path, capsys):
    run_dir, _ = trained
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    cases = [(str(tmp_path / "missing.png"), "does not exist"), (str(tmp_path), "is a directory"),
             (str(text), "is not an image")]
    for image, message in cases:
        assert predict.main([run_dir, image, "-o", str(tmp_path / "out.obj")]) == 1
        assert message in _one_error_line(capsys.readouterr().err)
    assert predict.main([str(tmp_path / "norun"), str(text), "-o", str(tmp_path / "o.obj")]) == 1
    assert "not a tf3d run directory" in _one_error_line(capsys.readouterr().err)

    directory, source = broken_dataset
    assert evaluate.main([run_dir, "--data", directory, "--split", "train"]) == 1
    err = capsys.readouterr().err
    assert f"{source.files[0]}: record 2" in err and "Traceback" not in err

    damaged = str(tmp_path / "damaged")
    shutil.copytree(run_dir, damaged)
    with open(runs.RunDir(damaged).best, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\0" * 2000)
    assert evaluate.main([damaged]) == 1
    assert "cannot be loaded" in _one_error_line(capsys.readouterr().err)


@pytest.mark.slow
def test_command_lines_hide_tensorflow_start_up_lines(trained):
    run_dir, _ = trained
    command = [sys.executable, "-m", "tf3d.evaluate", run_dir, "--max-batches", "1"]
    quiet = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.strip() == "", quiet.stderr
    loud = subprocess.run(command + ["--verbose"], cwd=REPO, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",)})
    assert loud.returncode == 0 and "cudart_stub" in loud.stderr + loud.stdout


@pytest.mark.slow
def test_predicted_mesh_agrees_with_the_records_mask(synthetic_dataset, tmp_path):
    """Train briefly on a real build, predict from a training record's rendering, and
    check the mesh's silhouette through the view's camera against the record's mask."""
    import tensorflow as tf

    from tf3d import alignment, conventions
    from tf3d.data import pipeline, records

    run_dir = str(tmp_path / "run")
    # Long enough to fit the ~10 training models; no batch norm, whose moving statistics
    # would still lag the weights after so few steps.
    train.train(_cfg(synthetic_dataset, run_dir, "train.epochs=1", "train.steps_per_epoch=800",
                     "train.learning_rate=0.003", "train.batch_size=16", "train.val_batches=1",
                     "task.model.norm=none", "task.model.latent_dim=64", "task.model.decoder_filters=[32,16,8]"),
                verbose=0)
    source = pipeline.resolve(synthetic_dataset, "train")
    examples = [records.decode_example(s.numpy()) for s in tf.data.TFRecordDataset(source.files[0]).take(2)]
    viewpoints = conventions.ViewpointSet.from_dict(source.info["viewpoints"])
    camera = viewpoints.projections()[0]  # azimuth 0: the viewer frame's camera
    size = viewpoints.image_size
    ious = []
    from PIL import Image
    import trimesh

    for index, record in enumerate(examples):
        image_path = str(tmp_path / f"record{index}.png")
        Image.fromarray(record["images"][0]).save(image_path)
        mesh_path = str(tmp_path / f"record{index}.obj")
        assert predict.main([run_dir, image_path, "-o", mesh_path]) == 0
        mesh = trimesh.load(mesh_path, process=False)
        seen = alignment.mesh_coverage(mesh.vertices, mesh.faces, camera, size) >= 0.5
        masks = [alignment.mask_from_alpha(r["masks"][0]) for r in examples]
        ious.append([alignment.silhouette_iou(seen, m) for m in masks])
    ious = np.array(ious)  # [prediction, mask]
    assert ious[0, 0] >= 0.5 and ious[1, 1] >= 0.5, ious
    assert ious[0, 0] > ious[0, 1] and ious[1, 1] > ious[1, 0], ious  # its own mask, not any mask


class _MoveAfterEpoch(keras.callbacks.Callback):
    def __init__(self, source, target):
        super().__init__()
        self.source, self.target = source, target

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            shutil.move(self.source, self.target)


@pytest.mark.slow
def test_data_that_goes_away_mid_run_is_one_line_and_the_run_resumes(tmp_path):
    data = write_box_dataset(str(tmp_path / "data"))
    run_dir = str(tmp_path / "run")
    cfg = _cfg(data, run_dir, "train.epochs=3")
    with pytest.raises(cli.UserError, match=r"No such file.*same command resumes"):
        train.train(cfg, verbose=0, callbacks=[_MoveAfterEpoch(data, str(tmp_path / "away"))])
    shutil.move(str(tmp_path / "away"), data)
    probe = _Probe()
    train.train(cfg, verbose=0, callbacks=[probe])
    assert probe.epochs[0] >= 1 and probe.epochs[-1] == 2
