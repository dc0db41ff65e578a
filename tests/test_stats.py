"""Tests for `pipelines.stats`: features of hand-made grids, the distance, and the command line."""

import re

import numpy as np
import pytest

from pipelines import shards, stats
from tf3d import conventions
from tf3d.data import records


def _box(lo, hi, resolution=32):
    grid = np.zeros((resolution,) * 3, bool)
    grid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True
    return grid


def test_features_of_a_solid_box():
    # 10 wide (X), 16 high (Y), 5 deep (Z), anywhere in the grid: every feature follows from the sizes.
    f = stats.shape_features(_box((3, 7, 20), (13, 23, 25)))
    assert f["fill"] == 1.0 and f["thin"] == 0.0
    assert f["height/width"] == pytest.approx(1.6) and f["depth/width"] == pytest.approx(0.5)
    assert f["grid"] == pytest.approx(10 * 16 * 5 / 32 ** 3)
    np.testing.assert_allclose(f["profile"], np.full(8, 1 / 8))  # 16 slices: two per bin


def test_features_of_a_stool_and_a_plate():
    # A 8x8 seat board 2 voxels thick on four 1-voxel legs 14 high: the legs are thin, the board is not.
    grid = _box((0, 14, 0), (8, 16, 8))
    for x, z in ((0, 0), (7, 0), (0, 7), (7, 7)):
        grid[x, 0:14, z] = True
    f = stats.shape_features(grid)
    assert f["thin"] == pytest.approx(56 / (128 + 56))
    assert f["fill"] == pytest.approx((128 + 56) / (8 * 16 * 8))
    # Bins of 2 slices: seven bins of legs (8 voxels each), the top bin holds the board.
    np.testing.assert_allclose(f["profile"], np.r_[np.full(7, 8.0), 128.0] / 184)
    plate = stats.shape_features(_box((0, 5, 0), (20, 6, 20)))
    assert plate["thin"] == 1.0 and plate["height/width"] == pytest.approx(1 / 20)


def test_distance_is_zero_for_the_same_shapes_and_grows_with_the_difference():
    rng = np.random.default_rng(0)
    boxes = [stats.shape_features(_box((0, 0, 0), (10, h, 10))) for h in rng.integers(8, 30, 20)]
    same = [stats.shape_features(_box((5, 2, 1), (15, 2 + h, 11))) for h in
            [round(b["height/width"] * 10) for b in boxes]]  # moved, same sizes
    assert stats.distance(boxes, same) == pytest.approx(0.0, abs=1e-12)
    wider = [stats.shape_features(_box((0, 0, 0), (14, round(b["height/width"] * 10), 10))) for b in boxes]
    widest = [stats.shape_features(_box((0, 0, 0), (20, round(b["height/width"] * 10), 10))) for b in boxes]
    assert 0 < stats.distance(boxes, wider) < stats.distance(boxes, widest)
    assert stats.distance(boxes, wider) == pytest.approx(stats.distance(wider, boxes))


def test_errors_name_the_bad_argument():
    with pytest.raises(ValueError, match="voxels"):
        stats.shape_features(np.zeros((4, 4, 4), bool))
    with pytest.raises(ValueError, match="voxels"):
        stats.shape_features(np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="both builds"):
        stats.distance([], [stats.shape_features(_box((0, 0, 0), (2, 2, 2)))])


class _Grids:
    """`process_shard` writing each model's grid (from `extra`) with blank 8 px views."""

    def __call__(self, sources, work_dir):
        vp = conventions.ViewpointSet(image_size=8)
        png = shards.encode_png(np.zeros((8, 8), np.uint8))
        for source in sources:
            yield source, records.encode_example(
                model_id=source.model_id, category=source.category, voxels=source.extra["grid"],
                images=[png] * vp.num_views, masks=[png] * vp.num_views, azimuths=vp.azimuths,
                elevations=[vp.elevation] * vp.num_views, intrinsics=[vp.intrinsics()] * vp.num_views,
                extrinsics=vp.extrinsics())


def _build(directory, grids):
    sources = [shards.ModelSource(f"m{i}", category, "train", "", {"grid": grid})
               for i, (category, grid) in enumerate(grids)]
    shards.build_dataset(str(directory), "g", sources, _Grids(), workers=1, build_config={},
                         viewpoints=conventions.ViewpointSet(image_size=8), progress=False)
    return str(directory)


def test_command_line_compares_two_builds(tmp_path, capsys):
    tall = [("chair", _box((0, 0, 0), (10, h, 10))) for h in (20, 24, 28)] + [("table", _box((0, 0, 0), (20, 8, 12)))]
    flat = [("chair", _box((0, 0, 0), (10, h, 10))) for h in (6, 8, 10)]
    a, b = _build(tmp_path / "a", tall), _build(tmp_path / "b", flat)
    assert stats.main([a, "--reference", b]) == 0
    out = capsys.readouterr().out
    line = re.search(r"^stats distance \(.*\): all = ([0-9.]+), chair = ([0-9.]+)$", out, re.M)
    assert line, out
    features = stats.load_features(a)
    assert sorted(features) == ["chair", "table"] and len(features["chair"]) == 3
    assert float(line.group(2)) == pytest.approx(stats.distance(features["chair"], stats.load_features(b)["chair"]),
                                                 abs=1e-3)
    assert stats.main([a]) == 0 and "stats distance" not in capsys.readouterr().out
