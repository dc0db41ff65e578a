"""Tests of tf3d.runs: layout, atomic writes, evaluation file names, init_from parsing."""

import os

import pytest

from tf3d import runs


def test_write_json_leaves_no_temporary_file(tmp_path):
    path = str(tmp_path / "a" / "summary.json")
    runs.write_json(path, {"x": 1.5})
    runs.write_json(path, {"x": 2.5})  # replaces
    assert runs.RunDir(str(tmp_path)).read_json(path) == {"x": 2.5}
    assert os.listdir(tmp_path / "a") == ["summary.json"]


def test_eval_files_differ_by_dataset_split_and_categories(tmp_path):
    run = runs.RunDir(str(tmp_path / "run"))
    own = run.eval_file("data/synthetic", "test")
    other = run.eval_file("/elsewhere/synthetic", "test")
    assert own != other and os.path.basename(own).startswith("synthetic-") and own.endswith("_test.json")
    assert run.eval_file("data/synthetic", "val") != own
    assert run.eval_file("data/synthetic", "test", ["table"]).endswith("_test_table.json")
    assert run.eval_file("gs://b/ds/synthetic-{split}.tfrecord-*", "test").startswith(run.eval)


@pytest.mark.parametrize("spec, expected", [
    ("runs/ae", ("runs/ae", None)),
    ("runs/ae:encoder", ("runs/ae", "encoder")),
    ("gs://bucket/runs/ae", ("gs://bucket/runs/ae", None)),
    ("gs://bucket/runs/ae:decoder", ("gs://bucket/runs/ae", "decoder")),
])
def test_init_from_parsing(spec, expected):
    assert runs.parse_init_from(spec) == expected


def test_missing_checkpoints_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a tf3d run directory"):
        runs.RunDir(str(tmp_path)).checkpoint("best")
    (tmp_path / "config.yaml").write_text("name: x\n")
    with pytest.raises(FileNotFoundError, match="finished an epoch"):
        runs.RunDir(str(tmp_path)).checkpoint("best")
    with pytest.raises(ValueError, match="run_dir"):
        runs.RunDir("")
