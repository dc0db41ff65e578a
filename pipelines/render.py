"""Python-side driver of `blender/render_aligned.py` for the dataset builders.

`render_meshes` renders a whole batch in ONE subprocess (Blender's start-up
costs about a second, a view about 15 ms), with the venv's Python when the
`bpy` module is importable there and with a `blender` binary otherwise.
`load_rendering` reads one mesh's output back:

    failures = render_meshes([("chair.obj", "renders/chair")])
    images, masks, cameras = load_rendering("renders/chair")  # [V, S, S] uint8 twice

File layout and conventions: see `blender/render_aligned.py` and
`tf3d.conventions`.
"""

import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from tf3d import conventions

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "blender", "render_aligned.py")
BACKENDS = ("auto", "bpy", "blender")
ENGINES = ("workbench", "cycles")
# The binary is found on PATH unless this names it.
BLENDER_ENV = "TF3D_BLENDER"

_INSTALL_HINT = ("install one of: the bpy module (`pip install -e '.[render]'`, Python 3.11 only) "
                 "or Blender with NumPy (`apt-get install blender python3-numpy`, or set "
                 f"{BLENDER_ENV}=/path/to/blender)")
_FAILED = re.compile(r"^render_aligned: FAILED (.*?): (.*)$")


class RenderError(RuntimeError):
    """The renderer could not run at all (not: one mesh failed)."""


def _blender_binary():
    return os.environ.get(BLENDER_ENV) or shutil.which("blender")


def resolve_backend(backend="auto"):
    """("bpy", python) or ("blender", binary) for `backend` in BACKENDS."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend in ("auto", "bpy") and importlib.util.find_spec("bpy") is not None:
        return "bpy", sys.executable
    if backend == "bpy":
        raise RenderError(f"backend 'bpy': the bpy module is not importable from {sys.executable}; "
                          "`pip install -e '.[render]'` (Python 3.11 only)")
    binary = _blender_binary()
    if binary is None:
        raise RenderError(f"no renderer found: neither the bpy module nor a blender binary; {_INSTALL_HINT}")
    return "blender", binary


def _command(backend, executable, args):
    if backend == "bpy":
        return [executable, SCRIPT] + args
    return [executable, "--background", "--factory-startup", "-noaudio",
            "--python-exit-code", "3", "-P", SCRIPT, "--"] + args


def render_meshes(jobs, viewpoints=conventions.DEFAULT_VIEWPOINTS, image_size=None,
                  engine="workbench", backend="auto", supersample=None, timeout=None, in_place=False):
    """Render every mesh of a batch from every view, in one subprocess.

    Args:
      jobs: list of (mesh_path, out_dir); each out_dir receives `image_XX.png`,
        `mask_XX.png` and `cameras.json` (see `blender/render_aligned.py`).
      viewpoints: a `conventions.ViewpointSet`.
      image_size: overrides `viewpoints.image_size` when given.
      engine: "workbench" (fast, default) or "cycles".
      backend: "auto" (bpy if importable, else the blender binary), "bpy" or "blender".
      supersample: KxK samples per pixel (default: the script's).
      timeout: seconds for the whole batch, or None.
      in_place: the meshes are already in tf3d's normalized frame; render them
        where they are (default: normalize each into the voxel cube).

    Returns:
      list of (mesh_path, reason) for the meshes that failed (nothing was
      written for those); the others rendered.

    Raises:
      RenderError: no renderer is installed, or the renderer itself failed.
    """
    jobs = [(os.fspath(m), os.fspath(o)) for m, o in jobs]
    for mesh_path, out_dir in jobs:
        if "\t" in mesh_path + out_dir or "\n" in mesh_path + out_dir:
            raise ValueError(f"job paths must not contain tabs or newlines: {(mesh_path, out_dir)!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if not jobs:
        return []
    if image_size is not None:
        viewpoints = dataclasses.replace(viewpoints, image_size=int(image_size))
    kind, executable = resolve_backend(backend)
    with tempfile.TemporaryDirectory(prefix="tf3d_render_jobs_") as tmp:
        list_path = os.path.join(tmp, "jobs.tsv")
        with open(list_path, "w") as f:
            f.writelines(f"{os.path.abspath(m)}\t{os.path.abspath(o)}\n" for m, o in jobs)
        views_path = os.path.join(tmp, "viewpoints.json")
        with open(views_path, "w") as f:
            json.dump(viewpoints.to_dict(), f)
        args = ["--list", list_path, "--viewpoints", views_path, "--engine", engine]
        if supersample is not None:
            args += ["--supersample", str(int(supersample))]
        if in_place:
            args.append("--in-place")
        try:
            proc = subprocess.run(_command(kind, executable, args), capture_output=True, text=True, errors="replace",
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RenderError(f"rendering {len(jobs)} meshes took more than {timeout} s") from None
    failures = [m.groups() for line in proc.stderr.splitlines() if (m := _FAILED.match(line))]
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not failures):
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        if "No module named 'numpy'" in tail:
            tail += "\n(the blender binary's Python lacks NumPy: apt-get install python3-numpy)"
        raise RenderError(f"{kind} renderer ({executable}) exited with status {proc.returncode}:\n{tail}")
    return failures


def load_rendering(out_dir):
    """Read back one mesh's rendering.

    Returns:
      (images `[V, S, S]` uint8, masks `[V, S, S]` uint8, cameras dict from
      `cameras.json`).
    """
    from PIL import Image

    path = os.path.join(out_dir, "cameras.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: render the mesh first, e.g. `python "
                                f"blender/render_aligned.py --mesh MESH --out {out_dir}`")
    with open(path) as f:
        cameras = json.load(f)
    size = cameras["viewpoints"]["image_size"]
    images, masks = [], []
    for v in range(len(cameras["views"])):
        for prefix, out in (("image", images), ("mask", masks)):
            with Image.open(os.path.join(out_dir, f"{prefix}_{v:02d}.png")) as im:
                array = np.asarray(im)
            if array.shape != (size, size) or array.dtype != np.uint8:
                raise ValueError(f"{out_dir}/{prefix}_{v:02d}.png: expected uint8 [{size}, {size}], "
                                 f"got {array.dtype} {list(array.shape)}")
            out.append(array)
    return np.stack(images), np.stack(masks), cameras
