"""Compiling and loading the custom ops' shared library.

The C++ sources under `csrc/<op>/` are compiled on first use with the flags
TensorFlow reports (`tf.sysconfig.get_compile_flags()` / `get_link_flags()`;
with TF 2.21 they already carry `--std=c++17` and the C++11 ABI, so no `-std`
is added: one placed after them would override TensorFlow's). The library is
cached under `<cache root>/<key>/tf3d_ops.so`, where the cache root is
`$TF3D_CACHE_DIR` or `~/.cache/tf3d/ops` (`$XDG_CACHE_HOME/tf3d/ops` when that
is set) and the key hashes the sources, the TensorFlow version and the flags,
so a change to any of them rebuilds. The key leaves the compiler out on
purpose: finding a cached library must not need one (a runtime image may ship
the cache without g++). The compiler that built a library is recorded next to
it in `manifest.json`, with the key's ingredients; to rebuild with another
compiler, remove the key's directory.

`$TF3D_OPS_LIBRARY=/path/to/tf3d_ops.so` loads that library and builds
nothing, for images that carry a library built elsewhere (with the same
sources and TensorFlow version: `python -m tf3d.ops build` prints the path).

Concurrent builds are safe: each process compiles into its own temporary
directory and publishes the library with an atomic `os.replace`; an advisory
lock only saves the second process the duplicate work. Translation units
compile in parallel; when one fails, the others are killed before their
temporary directory is removed.

`python -m tf3d.ops build` builds ahead of time and prints the path.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import warnings

SOURCE_DIR = pathlib.Path(__file__).resolve().parent / "csrc"
LIBRARY_NAME = "tf3d_ops.so"
MANIFEST_NAME = "manifest.json"
LIBRARY_ENV_VAR = "TF3D_OPS_LIBRARY"
# -O3 for the kernels; the rest comes from TensorFlow, after these.
# -fno-trapping-math lets GCC turn the selects of the mesh kernel's row loop
# into vector blends (csrc/mesh_silhouette/mesh_silhouette.h, EvaluateRow);
# it changes no result, only assumes that floating-point operations do not
# trap, which TensorFlow never enables (clang assumes it by default).
_OWN_FLAGS = ("-O3", "-fno-trapping-math", "-fPIC", "-DNDEBUG", "-Wno-deprecated-declarations")
_COMPILERS = ("g++", "c++", "clang++")

_loaded = None


class CompilerNotFoundError(RuntimeError):
    """No C++ compiler on PATH to build the custom ops."""


def sources(source_dir=SOURCE_DIR):
    """Sorted `.cc` files to compile and every header they may include."""
    source_dir = pathlib.Path(source_dir)
    return sorted(p for p in source_dir.rglob("*") if p.suffix in (".cc", ".h"))


def find_compiler():
    """Path of the C++ compiler: `$CXX`, else the first of g++, c++, clang++ on PATH."""
    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else list(_COMPILERS)
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    raise CompilerNotFoundError(
        "no C++ compiler found to build tf3d's custom ops (looked for "
        f"{', '.join(candidates)}): install the Debian package g++ "
        "(`sudo apt-get install g++`), or set TF3D_OPS=reference to use the slow "
        "pure-TensorFlow reference implementation")


def cache_root():
    """Directory holding one subdirectory per build key."""
    if os.environ.get("TF3D_CACHE_DIR"):
        return pathlib.Path(os.environ["TF3D_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "tf3d" / "ops"


def _tf_flags():
    import tensorflow as tf  # here, not at import: `tf3d.ops.build` stays cheap to import
    return list(tf.sysconfig.get_compile_flags()), list(tf.sysconfig.get_link_flags()), tf.__version__


def _compiler_version(compiler):
    out = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else compiler


def _label(path):
    # Names matter (a renamed header changes the includes), but not where the
    # checkout lives.
    path = pathlib.Path(path)
    return str(path.relative_to(SOURCE_DIR) if SOURCE_DIR in path.parents else path.name)


def build_key(source_files, compile_flags, link_flags, tf_version):
    """Hex digest naming one build: sources (names and bytes), TensorFlow version, flags.

    No compiler is asked anything, so a cached library is found on a machine
    without one.
    """
    digest = hashlib.sha256()
    for path in map(pathlib.Path, source_files):
        digest.update(_label(path).encode() + b"\0" + path.read_bytes())
    for part in (tf_version, *_OWN_FLAGS, *compile_flags, *link_flags):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:16]


def _manifest(key, source_files, compiler, compile_flags, link_flags, tf_version):
    return {"key": key, "tensorflow": tf_version, "compiler": compiler,
            "compiler_version": _compiler_version(compiler),
            "flags": [*_OWN_FLAGS, *compile_flags], "link_flags": list(link_flags),
            "sources": {_label(p): hashlib.sha256(pathlib.Path(p).read_bytes()).hexdigest()
                        for p in source_files}}


@contextlib.contextmanager
def _lock(path):
    try:
        import fcntl
    except ImportError:  # no advisory locks: the atomic rename alone keeps the cache sound
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_library(source_files=None, root=None, verbose=False):
    """Compile the sources into a shared library unless the cache holds it.

    Args:
      source_files: `.cc`/`.h` paths (default: everything under `csrc/`).
      root: cache root (default: `cache_root()`).
      verbose: print the compiler commands.

    Returns:
      `pathlib.Path` of the library (`manifest.json` beside it names the
      compiler, flags, TensorFlow version and source digests).

    Raises:
      CompilerNotFoundError: the library is not cached and there is no C++
        compiler (names the package to install).
      RuntimeError: compilation failed (with the compiler's output).
    """
    source_files = [pathlib.Path(p) for p in (source_files or sources())]
    if not any(p.suffix == ".cc" for p in source_files):
        raise ValueError(f"source_files must contain at least one .cc file, got {source_files}")
    compile_flags, link_flags, tf_version = _tf_flags()
    key = build_key(source_files, compile_flags, link_flags, tf_version)
    directory = pathlib.Path(root or cache_root()) / key
    library = directory / LIBRARY_NAME
    if library.exists():
        return library
    compiler = find_compiler()  # only now: a cache hit needs no compiler
    directory.mkdir(parents=True, exist_ok=True)
    with _lock(directory / ".lock"):
        if library.exists():  # another process finished while we waited
            return library
        with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as scratch:
            objects, jobs = [], []
            try:
                for i, source in enumerate(p for p in source_files if p.suffix == ".cc"):
                    obj = pathlib.Path(scratch) / f"{i}_{source.stem}.o"
                    cmd = [compiler, *_OWN_FLAGS, "-c", str(source), "-o", str(obj), *compile_flags]
                    objects.append(obj)
                    jobs.append((cmd, _start(cmd, verbose)))
                for cmd, job in jobs:  # compile units in parallel: TF's headers dominate
                    _finish(cmd, job)
            finally:
                # A failure (or Ctrl-C) must not leave compilers writing into
                # the directory that the `with` is about to remove.
                for _, job in jobs:
                    _stop(job)
            staged = pathlib.Path(scratch) / LIBRARY_NAME
            cmd = [compiler, "-shared", *map(str, objects), "-o", str(staged), *link_flags]
            _finish(cmd, _start(cmd, verbose))
            manifest = pathlib.Path(scratch) / MANIFEST_NAME
            manifest.write_text(json.dumps(_manifest(key, source_files, compiler, compile_flags,
                                                     link_flags, tf_version), indent=1))
            os.replace(manifest, directory / MANIFEST_NAME)
            os.replace(staged, library)  # atomic: readers see no library or a whole one
    return library


def _start(cmd, verbose):
    if verbose:
        print(" ".join(cmd), flush=True)
    # Its own process group, so that `_stop` also ends the compiler's children (cc1plus, as).
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _finish(cmd, job):
    output, _ = job.communicate()
    if job.returncode != 0:
        raise RuntimeError(f"building tf3d's custom ops failed:\n{' '.join(cmd)}\n{output}")


def _stop(job):
    """Kills a compiler that is still running and reaps it."""
    if job.poll() is None:
        try:
            os.killpg(job.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            job.kill()
    if job.stdout is not None and not job.stdout.closed:
        job.communicate()


def library_path(verbose=False):
    """`$TF3D_OPS_LIBRARY` when set (nothing is built), else `build_library()`."""
    given = os.environ.get(LIBRARY_ENV_VAR)
    if not given:
        return build_library(verbose=verbose)
    path = pathlib.Path(given).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"${LIBRARY_ENV_VAR}={given} is not a file: point it at a "
                                f"{LIBRARY_NAME} that `python -m tf3d.ops build` printed, or "
                                "unset it to build the ops here")
    manifest = path.parent / MANIFEST_NAME
    if manifest.is_file():
        compile_flags, link_flags, tf_version = _tf_flags()
        built = json.loads(manifest.read_text()).get("key")
        expected = build_key(sources(), compile_flags, link_flags, tf_version)
        if built != expected:
            warnings.warn(f"${LIBRARY_ENV_VAR}={given} was built from other sources, TensorFlow "
                          f"or flags (key {built}, these sources give {expected}); its ops may "
                          "not match tf3d's wrappers", RuntimeWarning, stacklevel=2)
    return path


def load_library():
    """The loaded op library (`library_path()`: built first if needed), loaded once per process."""
    global _loaded
    if _loaded is None:
        import tensorflow as tf
        _loaded = tf.load_op_library(str(library_path()))
    return _loaded
