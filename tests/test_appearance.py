"""Build options beyond the fixed views: view jitter, world-fixed light, edge appearance."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipelines import render
from tf3d import conventions
from tf3d.data import pipeline, records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_job_settings_are_bounded_deterministic_and_empty_by_default():
    views = conventions.DEFAULT_VIEWPOINTS
    assert render.Appearance().job_settings(views, "chair-00001") == {}
    appearance = render.Appearance(azimuth_jitter=20.0, elevation_jitter=10.0, light="random")
    first = appearance.job_settings(views, "chair-00001")
    assert first == appearance.job_settings(views, "chair-00001")
    assert first != appearance.job_settings(views, "chair-00002")
    offsets = (np.array(first["azimuths"]) - np.array(views.azimuths) + 180.0) % 360.0 - 180.0
    assert np.all(np.abs(offsets) <= 20.0) and np.any(np.abs(offsets) > 1.0)
    assert abs(first["elevation"] - views.elevation) <= 10.0
    assert 0.0 <= first["light_rotation"] <= 360.0
    # Over many models the draws spread over the whole range.
    spread = [appearance.job_settings(views, f"m{i}")["elevation"] - views.elevation for i in range(200)]
    assert min(spread) < -8.0 and max(spread) > 8.0


@pytest.mark.parametrize("kwargs, word", [({"azimuth_jitter": -1.0}, "azimuth_jitter"),
                                          ({"elevation_jitter": 90.0}, "elevation_jitter"),
                                          ({"light": "sun"}, "light"), ({"edges": "ink"}, "edges")])
def test_bad_appearance_names_the_option(kwargs, word):
    with pytest.raises(ValueError, match=word):
        render.Appearance(**kwargs)


def test_bad_jitter_on_the_command_line_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipelines.build", "synthetic", "--out", str(tmp_path / "x"),
                             "--num-chairs", "1", "--num-tables", "0", "--elevation-jitter", "95"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0
    assert "--elevation-jitter" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_jittered_build_keeps_cameras_aligned_and_targets_follow_the_camera(tmp_path):
    out = tmp_path / "jit"
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.build", "synthetic", "--out", str(out), "--num-chairs", "4",
         "--num-tables", "4", "--workers", "2", "--quiet", "--azimuth-jitter", "22.5",
         "--elevation-jitter", "10", "--light", "random", "--edges", "cavity"],
        cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads((out / records.INFO_FILE).read_text())
    # No fixed viewpoint set: the pipeline turns targets by each record's own azimuth.
    assert info["viewpoints"] is None
    assert info["build_config"]["appearance"] == {"azimuth_jitter": 22.5, "elevation_jitter": 10.0,
                                                  "light": "random", "edges": "cavity"}
    source = pipeline.resolve(str(out), "train")
    assert source.azimuths is None
    example = records.decode_example(next(iter(tf.data.TFRecordDataset(source.files))).numpy())
    fixed = np.array(conventions.DEFAULT_VIEWPOINTS.azimuths)
    assert not np.allclose(example["azimuths"], fixed)
    assert len(set(np.round(example["elevations"], 3))) == 1  # one elevation per model
    # Blender's masks agree with the mesh seen through the records' (jittered) cameras.
    result = subprocess.run([sys.executable, "-m", "pipelines.verify", str(out), "--alignment"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    line = [l for l in result.stdout.splitlines() if l.startswith("camera alignment mean IoU")][0]
    assert float(line.split("min view IoU = ")[1].split()[0]) >= 0.98, line
    # The pipeline reads it (angle mode) and yields targets in each view's frame.
    images, voxels = next(iter(pipeline.make_dataset(str(out), "train", batch_size=4, training=False)))
    assert images.shape == (4, 64, 64, 1) and voxels.shape == (4, 32, 32, 32)
    assert float(voxels.numpy().sum()) > 0
