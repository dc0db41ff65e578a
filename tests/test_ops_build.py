"""Tests of tf3d.ops.build and tf3d.ops.backend: compiling, caching, selecting."""

import ctypes
import os
import pathlib
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from tf3d.ops import testing as ops_testing
from tf3d.ops import backend, build

ROOT = pathlib.Path(__file__).resolve().parent.parent
_TINY = 'extern "C" int tf3d_answer() { return 42; }\n'


def _run(code, **env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, text=True,
                          capture_output=True, env=dict(os.environ, **env), timeout=600)


@pytest.mark.slow
def test_import_builds_and_loads_nothing(tmp_path):
    result = _run("""
        import sys, tf3d.ops
        from tf3d.ops import build
        assert build._loaded is None
        assert "tensorflow" in sys.modules  # the wrappers need it; the library is not loaded
        print("ok")
    """, TF3D_CACHE_DIR=str(tmp_path))
    assert result.stdout.strip().endswith("ok"), result.stderr
    assert not any(tmp_path.iterdir())  # nothing compiled


def test_key_depends_on_sources_and_tensorflow(tmp_path):
    source = tmp_path / "tiny.cc"
    source.write_text(_TINY)
    compiler = build.find_compiler()
    key = build.build_key([source], compiler, ["-DA"], [], "2.21.0")
    assert key == build.build_key([source], compiler, ["-DA"], [], "2.21.0")
    assert key != build.build_key([source], compiler, ["-DA"], [], "2.22.0")
    assert key != build.build_key([source], compiler, ["-DB"], [], "2.21.0")
    source.write_text(_TINY + "// changed\n")
    assert key != build.build_key([source], compiler, ["-DA"], [], "2.21.0")


@pytest.mark.slow
def test_concurrent_builds_share_one_intact_library(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "tiny.cc").write_text(_TINY)
    code = f"""
        from tf3d.ops import build
        print(build.build_library([{str(tmp_path / "src" / "tiny.cc")!r}], {str(tmp_path / "cache")!r}))
    """
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    paths = set()
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        paths.add(out.strip().splitlines()[-1])
    assert len(paths) == 1
    library = pathlib.Path(paths.pop())
    assert ctypes.CDLL(str(library)).tf3d_answer() == 42
    leftovers = [p.name for p in library.parent.iterdir() if p.name not in (library.name, ".lock")]
    assert leftovers == []  # temporary build directories are gone


def test_missing_compiler_names_the_package(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-tf3d")
    with pytest.raises(build.CompilerNotFoundError, match="g\\+\\+"):
        build.build_library()


@pytest.mark.slow
def test_module_build_command_prints_library_path():
    result = subprocess.run([sys.executable, "-m", "tf3d.ops", "build"], cwd=ROOT, text=True,
                            capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr
    path = pathlib.Path(result.stdout.strip().splitlines()[-1])
    assert path.name == build.LIBRARY_NAME and path.is_file()


def test_reference_switch_warns_once(monkeypatch):
    from tf3d.ops import mesh_silhouette, primitives, voxel_silhouette
    monkeypatch.setattr(backend, "_warned", False)
    monkeypatch.setenv("TF3D_OPS", "reference")
    assert backend.implementation() == "reference"
    vertices, faces = primitives.icosphere(0, radius=0.4)
    projection = ops_testing.cameras(1, 6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mesh_silhouette(vertices[None], faces, projection, 6, sigma=1e-3)
        voxel_silhouette(np.zeros((1, 2, 2, 2), np.float32), projection, 6, num_samples=4,
                         near=2.0, far=3.0)
    assert sum("pure-TensorFlow reference" in str(w.message) for w in caught) == 1
    backend.set_implementation("native")  # an explicit choice wins over the variable
    try:
        assert backend.implementation() == "native"
    finally:
        backend.set_implementation(None)
    monkeypatch.setenv("TF3D_OPS", "fast")
    with pytest.raises(ValueError, match="TF3D_OPS"):
        backend.implementation()
