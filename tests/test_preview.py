"""Tests for `pipelines.preview`'s contact sheet of the synthetic families."""

import importlib.util

import numpy as np
import pytest

from pipelines import preview, synthetic

HAS_BPY = importlib.util.find_spec("bpy") is not None


def test_families_figure_checks_its_arguments():
    with pytest.raises(ValueError, match="seeds"):
        preview.families_figure(seeds=())
    with pytest.raises(ValueError, match="size"):
        preview.families_figure(size=8)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_BPY, reason="bpy module not installed (pip install -e '.[render]')")
def test_families_figure_has_a_rendered_tile_per_family():
    size, columns = 48, 6
    sheet = preview.families_figure(seeds=(0,), size=size, columns=columns)
    count = sum(len(f) for f in synthetic.FAMILIES.values())
    assert sheet.shape == (-(-count // columns) * size, columns * size) and sheet.dtype == np.uint8
    tiles = [sheet[(k // columns) * size:(k // columns + 1) * size, (k % columns) * size:(k % columns + 1) * size]
             for k in range(count)]
    # Below the label, every tile shows a model: dark pixels on the white background.
    assert all((tile[12:] < 200).mean() > 0.02 for tile in tiles)
