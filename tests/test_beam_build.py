"""`pipelines.build --runner direct`: the Beam builder writes what the process pool writes."""

import json
import os
import subprocess
import sys

import pytest

from pipelines import shards
from tf3d.data import records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _records_by_id(directory):
    import tensorflow as tf

    out = {}
    for name in sorted(os.listdir(directory)):
        if records.parse_shard_name(name):
            for raw in tf.data.TFRecordDataset(os.path.join(directory, name)):
                raw = raw.numpy()
                out[tf.train.Example.FromString(raw).features.feature["model_id"].bytes_list.value[0]] = raw
    return out


@pytest.mark.slow
def test_beam_direct_runner_writes_the_pool_builds_records(synthetic_dataset, tmp_path):
    """The conftest build (6 chairs + 6 tables, seed 1, pool of 2) again on Beam's DirectRunner."""
    out = str(tmp_path / "beam")
    command = [sys.executable, "-m", "pipelines.build", "synthetic", "--out", out, "--num-chairs", "6",
               "--num-tables", "6", "--seed", "1", "--workers", "2", "--runner", "direct", "--bundle-size", "4",
               "--quiet"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    pool, beam = _records_by_id(synthetic_dataset), _records_by_id(out)
    assert len(pool) == 12 and sorted(pool) == sorted(beam)
    for model_id in pool:
        assert pool[model_id] == beam[model_id], f"{model_id!r}: the record bytes differ"
    ours, theirs = records.read_info(out), records.read_info(synthetic_dataset)
    for key in ("splits", "categories", "num_records", "occupancy_rate", "skipped", "build_config"):
        assert ours[key] == theirs[key], key  # shards too: same plan, same order, same bytes
    with open(os.path.join(out, records.LEGACY_INFO_FILE)) as fh:
        assert json.load(fh)["fileFormat"] == "tfrecord"  # TFDS's metadata, as the pool writes


def test_beam_runner_writes_shards_in_plan_order_whatever_the_bundles(tmp_path):
    """Bundles processed in any order, a skipped model among them: the same shard and manifest as the pool."""
    pytest.importorskip("apache_beam")
    from pipelines import beam_build

    sources = [shards.ModelSource(f"m{i}", "chair", "train", path=f"/nowhere/m{i}") for i in range(7)]
    process = _FakeProcess()
    pool_dir, beam_dir = str(tmp_path / "pool"), str(tmp_path / "beam")
    common = dict(workers=1, build_config={"test": 1}, models_per_shard=4, progress=False)
    shards.build_dataset(pool_dir, "t", sources, process, **common)
    shards.build_dataset(beam_dir, "t", sources, process, runner=beam_build.BeamRunner(workers=1, bundle_size=2), **common)
    names = sorted(n for n in os.listdir(pool_dir) if records.parse_shard_name(n))
    assert names == sorted(n for n in os.listdir(beam_dir) if records.parse_shard_name(n)) and len(names) == 2
    for name in names:
        with open(os.path.join(pool_dir, name), "rb") as a, open(os.path.join(beam_dir, name), "rb") as b:
            assert a.read() == b.read(), name
        with open(os.path.join(pool_dir, name + ".manifest.json")) as a, \
                open(os.path.join(beam_dir, name + ".manifest.json")) as b:
            assert json.load(a) == json.load(b)
    assert records.read_info(beam_dir)["skipped"] == records.read_info(pool_dir)["skipped"] != []


def test_beam_options_need_a_beam_runner():
    result = subprocess.run([sys.executable, "-m", "pipelines.build", "synthetic", "--out", "/tmp/unused",
                             "--project", "p"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    assert "unrecognized arguments: --project p (Beam pipeline options need --runner)" in result.stderr


class _FakeProcess:
    """A picklable shard processor: tiny real records, model m3 skipped."""

    def __call__(self, sources, work_dir):
        import numpy as np

        from tests.conftest import encode_box_record, box_model
        from tf3d import conventions

        viewpoints = conventions.ViewpointSet(image_size=16)
        for source in sources:
            if source.model_id == "m3":
                yield source, shards.SkipModel("m3 is broken")
                continue
            rng = np.random.default_rng(int(source.model_id[1:]))
            yield source, encode_box_record(source.model_id, source.category, box_model("chair", rng), viewpoints)
