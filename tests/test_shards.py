"""pipelines.shards: leftovers of killed workers, duplicate model ids, empty splits.

The end-to-end builds (resume, corrupt shards) are in test_build.py; these use its
small record-writing processor and run in this process (workers=1).
"""

import logging
import os
import subprocess
import sys

import pytest

from pipelines import shards
from test_build import _CountingProcessor


def _sources(count, split=None):
    return [shards.ModelSource(f"m{i}", "chair", split or shards.split_for(f"m{i}"), f"/meshes/m{i}.obj")
            for i in range(count)]


def _build(out, sources, process):
    return shards.build_dataset(out, "s", sources, process, workers=1, build_config={"a": 1},
                                models_per_shard=3, progress=False)


def _dead_pid():
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_leftovers_of_killed_workers_are_removed_and_live_ones_kept(tmp_path):
    out = str(tmp_path / "ds")
    process = _CountingProcessor(str(tmp_path / "calls"))
    _build(out, _sources(12), process)
    shard = sorted(f for f in os.listdir(out) if ".tfrecord-" in f and not f.endswith(".json"))[0]
    dead = _dead_pid()
    # What a SIGKILLed worker leaves: its scratch directory (with a file) and unfinished shard.
    os.makedirs(os.path.join(out, f"{shard}.work-{dead}", "00000"))
    open(os.path.join(out, f"{shard}.work-{dead}", "00000.obj"), "w").write("v 0 0 0\n")
    open(os.path.join(out, f"{shard}.tmp-{dead}"), "w").write("half-written")
    # A live process's may be a concurrent build's worker: kept.
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.makedirs(os.path.join(out, f"{shard}.work-{live.pid}"))
        open(os.path.join(out, f"{shard}.tmp-{live.pid}"), "w").write("being written")
        before = process.count()
        _build(out, _sources(12), process)
        left = set(os.listdir(out))
        assert f"{shard}.work-{dead}" not in left and f"{shard}.tmp-{dead}" not in left
        assert f"{shard}.work-{live.pid}" in left and f"{shard}.tmp-{live.pid}" in left
        assert process.count() == before  # finished shards were kept, nothing rebuilt
    finally:
        live.kill()
        live.wait()
    _build(out, _sources(12), process)  # once its process is gone, the next build removes it
    assert not any(".work-" in f or ".tmp-" in f for f in os.listdir(out))


def test_duplicate_model_ids_fail_before_any_work(tmp_path):
    out = str(tmp_path / "ds")
    process = _CountingProcessor(str(tmp_path / "calls"))
    sources = _sources(4) + _sources(2) + _sources(1)  # m0 x3, m1 x2
    with pytest.raises(ValueError, match=r"2 model ids occur more than once among the 7 sources: "
                                         r"m0 \(x3\), m1 \(x2\); e\.g\. m0 comes from /meshes/m0\.obj"):
        _build(out, sources, process)
    assert process.count() == 0 and not os.path.exists(out)


def test_many_duplicates_are_counted_not_all_listed():
    with pytest.raises(ValueError, match=r"^8 model ids .*: m0 \(x2\), m1 \(x2\), m2 \(x2\), m3 \(x2\), "
                                         r"m4 \(x2\) and 3 more;"):
        shards.check_unique_ids(_sources(8) * 2)
    shards.check_unique_ids(_sources(8))  # unique: no error


def test_a_split_without_models_is_warned_about_before_the_build(tmp_path, caplog):
    process = _CountingProcessor(str(tmp_path / "calls"))
    with caplog.at_level(logging.WARNING, logger="pipelines.shards"):
        info = _build(str(tmp_path / "ds"), _sources(3, split="train"), process)
    assert set(info["splits"]) == {"train"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "no 'val' or 'test' models: 3 models in all are too few for an 80/10/10 split" in warnings[0]


def test_no_warning_when_every_split_has_models(tmp_path, caplog):
    sources = [shards.ModelSource(f"m{i}", "chair", split, "") for i, split in
               enumerate(("train", "train", "val", "test"))]
    with caplog.at_level(logging.WARNING, logger="pipelines.shards"):
        _build(str(tmp_path / "ds"), sources, _CountingProcessor(str(tmp_path / "calls")))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
