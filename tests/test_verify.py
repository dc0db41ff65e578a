"""`python -m pipelines.verify DIR --rotation`: kept fractions of a dataset's viewer-centred targets."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from pipelines import shards, verify
from tf3d import conventions
from tf3d.data import records, rotation_kept

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY = re.compile(r"^rotation kept mean = ([0-9.]+), min = ([0-9.]+)$", re.M)
ROW = re.compile(r"^\s*(\d+)" + r"\s+(-?[0-9.]+)" * 7 + "$", re.M)


class _GridProcessor:
    """`process_shard` writing every model with the same voxel grid and blank 8 px views."""

    def __init__(self, grid):
        self.grid = grid

    def __call__(self, sources, work_dir):
        vp = conventions.ViewpointSet(image_size=8)
        png = shards.encode_png(np.zeros((8, 8), np.uint8))
        for source in sources:
            yield source, records.encode_example(
                model_id=source.model_id, category=source.category, voxels=self.grid,
                images=[png] * vp.num_views, masks=[png] * vp.num_views, azimuths=vp.azimuths,
                elevations=[vp.elevation] * vp.num_views, intrinsics=[vp.intrinsics()] * vp.num_views,
                extrinsics=vp.extrinsics())


def _grid_dataset(directory, grid):
    sources = [shards.ModelSource(f"m{i}", "chair", "train", "") for i in range(2)]
    shards.build_dataset(str(directory), "g", sources, _GridProcessor(grid), workers=1, build_config={},
                         viewpoints=conventions.ViewpointSet(image_size=8), progress=False)
    return str(directory)


def _main(capsys, *argv):
    status = verify.main(list(argv))
    return status, capsys.readouterr().out


def test_rotation_fails_when_corners_leave_the_grid(tmp_path, capsys):
    slab = np.zeros((32, 32, 32), bool)
    slab[:, :2, :] = True  # a footprint filling the cube: its corners turn out of it at 45 degrees
    status, out = _main(capsys, _grid_dataset(tmp_path / "slab", slab), "--rotation")
    assert status == 1, out
    mean, low = (float(v) for v in SUMMARY.search(out).groups())
    azimuths = conventions.DEFAULT_VIEWPOINTS.azimuths
    rotated = rotation_kept.rotated_targets(slab, rotation_kept.viewpoint_indices(azimuths, 32))
    expected = rotation_kept.kept_fraction(slab, rotated, azimuths)
    assert (mean, low) == (round(expected.mean(), 4), round(expected.min(), 4))
    rows = {int(r[0]): [float(v) for v in r[1:]] for r in ROW.findall(out)}
    assert sorted(rows) == list(range(8))
    assert rows[1][0] == 45.0 and rows[1][2] < 0.9 and rows[1][4] > 0.1  # azimuth, kept min, out max
    assert "below the bar" in out


def test_rotation_passes_a_grid_inside_the_footprint_disc(tmp_path, capsys):
    grid = np.zeros((32, 32, 32), bool)
    grid[8:24, 4:20, 8:24] = True  # a solid 16^3 block: nothing near the cube's corners
    status, out = _main(capsys, _grid_dataset(tmp_path / "block", grid), "--rotation")
    assert status == 0, out
    mean, low = (float(v) for v in SUMMARY.search(out).groups())
    assert mean >= 0.99 and low >= 0.95


@pytest.fixture(scope="module")
def synthetic_rotation(synthetic_dataset):
    result = subprocess.run([sys.executable, "-m", "pipelines.verify", synthetic_dataset, "--rotation"],
                            cwd=REPO, capture_output=True, text=True)
    assert SUMMARY.search(result.stdout), result.stdout + result.stderr[-2000:]
    return result


@pytest.mark.slow
def test_rotation_cli_on_a_synthetic_build(synthetic_rotation):
    out = synthetic_rotation.stdout
    assert "oneDNN" not in synthetic_rotation.stderr  # tf3d.cli hides TensorFlow's start-up lines
    rows = {int(r[0]): [float(v) for v in r[1:]] for r in ROW.findall(out)}
    assert [rows[v][0] for v in range(8)] == list(conventions.DEFAULT_VIEWPOINTS.azimuths)
    for view, (_, kept_mean, kept_min, out_mean, out_max, added_mean, added_max) in rows.items():
        assert out_max == 0.0, (view, out)  # the normalization keeps every footprint inside the grid
        assert kept_min == 1.0, (view, out)  # nothing turns out, and the resampling drops nothing
        if view % 2 == 0:
            assert added_max == 0.0, (view, out)  # quarter turns are exact permutations
        else:
            assert 0.0 < added_mean < 0.1, (view, out)  # the diagonal views' thickening stays small
    mean, low = (float(v) for v in SUMMARY.search(out).groups())
    assert mean >= 0.99 and low >= 0.95 and synthetic_rotation.returncode == 0, out


CAMERA = re.compile(r"^camera alignment mean IoU = ([0-9.]+), min view IoU = ([0-9.]+)", re.M)
FIDELITY = re.compile(r"^voxel fidelity per model: mean = ([0-9.]+), min = ([0-9.]+); (\d+) below", re.M)


def test_alignment_without_meshes_reports_fidelity_only(tmp_path, capsys):
    grid = np.zeros((32, 32, 32), bool)
    grid[8:24, 4:20, 8:24] = True
    status, out = _main(capsys, _grid_dataset(tmp_path / "block", grid), "--alignment")
    assert status == 0, out  # blank masks: fidelity is 0, but it is a figure to watch, not a floor
    assert "camera alignment: not measured" in out
    mean, low, below = FIDELITY.search(out).groups()
    assert float(mean) == 0.0 and int(below) == 2 and "m0 (chair)" in out


@pytest.mark.slow
def test_camera_alignment_meets_its_floor_and_sets_the_exit_status(synthetic_dataset, capsys, monkeypatch):
    status, out = _main(capsys, synthetic_dataset, "--alignment")
    mean, low = (float(v) for v in CAMERA.search(out).groups())
    assert status == 0 and low >= verify.CAMERA_FLOOR, out  # every view of every model
    assert "12 of 12 models measured" in out and FIDELITY.search(out)
    monkeypatch.setattr(verify, "CAMERA_FLOOR", 1.0 + 1e-9)  # no view can meet it
    status, out = _main(capsys, synthetic_dataset, "--alignment")
    assert status == 1 and "camera alignment below" in out
