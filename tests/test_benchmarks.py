"""Smoke tests of benchmarks/: the quick modes run and print the ratios the README quotes."""

import re

import pytest

from benchmarks import render_ops
from tf3d.ops import backend


@pytest.mark.slow  # ~10 s: traces and compiles a dozen small steps
def test_render_ops_quick(capsys, monkeypatch):
    monkeypatch.setattr(backend, "_chosen", backend._chosen)  # main() picks "native"; undo it after
    ratios = render_ops.main(["--quick"])
    out = capsys.readouterr().out
    assert re.search(r"^ratio voxel = \d+\.\d$", out, re.M), out
    assert re.search(r"^ratio mesh 80 faces 16\^2 = \d+\.\d$", out, re.M), out
    assert all(speedup > 0 for speedup in ratios.values())
