"""Tests of tf3d.ops.build and tf3d.ops.backend: compiling, caching, selecting."""

import ctypes
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import time
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


def test_key_depends_on_sources_tensorflow_and_flags(tmp_path):
    source = tmp_path / "tiny.cc"
    source.write_text(_TINY)
    key = build.build_key([source], ["-DA"], [], "2.21.0")
    assert key == build.build_key([source], ["-DA"], [], "2.21.0")
    assert key != build.build_key([source], ["-DA"], [], "2.22.0")
    assert key != build.build_key([source], ["-DB"], [], "2.21.0")
    assert key != build.build_key([source], ["-DA"], ["-lB"], "2.21.0")
    source.write_text(_TINY + "// changed\n")
    assert key != build.build_key([source], ["-DA"], [], "2.21.0")


def _no_compiler(monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("CXX", "no-such-compiler-tf3d")
    monkeypatch.setenv("PATH", str(empty))


def test_cached_library_is_found_without_a_compiler(tmp_path, monkeypatch):
    (tmp_path / "tiny.cc").write_text(_TINY)
    library = build.build_library([tmp_path / "tiny.cc"], tmp_path / "cache")
    manifest = json.loads((library.parent / build.MANIFEST_NAME).read_text())
    assert manifest["key"] == library.parent.name
    assert manifest["compiler"] == build.find_compiler() and manifest["compiler_version"]
    assert manifest["sources"] == {"tiny.cc": hashlib.sha256(_TINY.encode()).hexdigest()}
    _no_compiler(monkeypatch, tmp_path)
    assert build.build_library([tmp_path / "tiny.cc"], tmp_path / "cache") == library
    (tmp_path / "tiny.cc").write_text(_TINY + "// changed\n")  # a miss does need one
    with pytest.raises(build.CompilerNotFoundError):
        build.build_library([tmp_path / "tiny.cc"], tmp_path / "cache")


def test_ops_library_variable_loads_without_building(tmp_path, monkeypatch):
    library = build.build_library()
    _no_compiler(monkeypatch, tmp_path)
    monkeypatch.setattr(build, "_loaded", None)
    monkeypatch.setenv("TF3D_CACHE_DIR", str(tmp_path / "unused-cache"))
    monkeypatch.setenv(build.LIBRARY_ENV_VAR, str(library))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its manifest matches these sources: no warning
        assert build.library_path() == library
        assert hasattr(build.load_library(), "mesh_silhouette")
    assert not (tmp_path / "unused-cache").exists()
    monkeypatch.setenv(build.LIBRARY_ENV_VAR, str(tmp_path / "missing.so"))
    with pytest.raises(FileNotFoundError, match=build.LIBRARY_ENV_VAR):
        build.library_path()


def test_failed_compile_stops_the_other_compilers(tmp_path, monkeypatch):
    # A fake compiler: bad.cc fails at once, slow.cc would finish (and leave a
    # marker) two seconds later unless it is killed first.
    marker = tmp_path / "slow-finished"
    compiler = tmp_path / "fake-cxx"
    compiler.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        case "$*" in
          *--version*) echo "fake 1.0" ;;
          *bad.cc*) echo "bad.cc:1: error: no"; exit 1 ;;
          *slow.cc*) sleep 2; touch {marker} ;;
        esac
    """))
    compiler.chmod(0o755)
    for name in ("bad.cc", "slow.cc"):
        (tmp_path / name).write_text(_TINY)
    monkeypatch.setenv("CXX", str(compiler))
    with pytest.raises(RuntimeError, match="bad.cc:1: error"):
        build.build_library([tmp_path / "bad.cc", tmp_path / "slow.cc"], tmp_path / "cache")
    time.sleep(3)
    assert not marker.exists()
    (key_dir,) = (tmp_path / "cache").iterdir()
    assert [p.name for p in key_dir.iterdir()] == [".lock"]  # no scratch directory left


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
    leftovers = [p.name for p in library.parent.iterdir()
                 if p.name not in (library.name, build.MANIFEST_NAME, ".lock")]
    assert leftovers == []  # temporary build directories are gone


def test_missing_compiler_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "no-such-compiler-tf3d")
    with pytest.raises(build.CompilerNotFoundError, match="g\\+\\+"):
        build.build_library(root=tmp_path)  # an empty cache: it must compile


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
    monkeypatch.setattr(backend, "_chosen", None)
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
