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
import zlib

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


LIGHTS = ("camera", "random")
EDGES = ("none", "cavity")


@dataclasses.dataclass(frozen=True)
class Appearance:
    """How a build varies views and looks beyond its fixed `ViewpointSet`.

    Attributes:
      azimuth_jitter: degrees; each view's azimuth moves by U(-a, a).
      elevation_jitter: degrees; each model's elevation (shared by its views,
        as `ViewpointSet` wants) moves by U(-e, e).
      light: "camera" (Workbench's studio light turns with the camera, every
        view lit alike) or "random" (the light is fixed in the world, turned
        about +Y by U(0, 360) per model, so views see it from all sides).
      edges: "none" or "cavity" (Workbench's ridge/valley shading darkens creases
        and lightens ridges: line-drawing-like edges). Workbench's object
        outline was tried and left out: it barely shows at 64 px and it
        bleeds into the alpha mask, which must stay the geometry's.

    Draws are a function of the model id alone, so a rebuild renders the same
    views; the records carry each view's true azimuth, elevation and camera,
    so the pipeline's viewer-frame targets follow the camera exactly.
    """

    azimuth_jitter: float = 0.0
    elevation_jitter: float = 0.0
    light: str = "camera"
    edges: str = "none"

    def __post_init__(self):
        if not 0.0 <= self.azimuth_jitter <= 180.0:
            raise ValueError(f"azimuth_jitter must be in [0, 180] degrees, got {self.azimuth_jitter}")
        if not 0.0 <= self.elevation_jitter < 90.0:
            raise ValueError(f"elevation_jitter must be in [0, 90) degrees, got {self.elevation_jitter}")
        if self.light not in LIGHTS:
            raise ValueError(f"light must be one of {LIGHTS}, got {self.light!r}")
        if self.edges not in EDGES:
            raise ValueError(f"edges must be one of {EDGES}, got {self.edges!r}")

    @property
    def fixed_views(self):
        """Every model is seen from the viewpoint set's own views."""
        return self.azimuth_jitter == 0.0 and self.elevation_jitter == 0.0

    @property
    def is_default(self):
        return self == Appearance()

    def job_settings(self, viewpoints, model_id):
        """The `--list` JSON settings of one model (`blender/render_aligned.py`'s JOB_KEYS)."""
        rng = np.random.default_rng(zlib.crc32(f"appearance:{model_id}".encode()))
        draws = rng.uniform(-1.0, 1.0, size=viewpoints.num_views + 2)
        settings = {}
        if self.azimuth_jitter:
            settings["azimuths"] = [round((a + self.azimuth_jitter * d) % 360.0, 4)
                                    for a, d in zip(viewpoints.azimuths, draws)]
        if self.elevation_jitter:
            settings["elevation"] = round(viewpoints.elevation + self.elevation_jitter * draws[-2], 4)
        if self.light == "random":
            settings["light_rotation"] = round(180.0 * (draws[-1] + 1.0), 4)
        return settings

    def to_dict(self):
        return dataclasses.asdict(self)


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
                  engine="workbench", backend="auto", supersample=None, timeout=None, in_place=False,
                  edges="none"):
    """Render every mesh of a batch from every view, in one subprocess.

    Args:
      jobs: list of (mesh_path, out_dir) or (mesh_path, out_dir, settings);
        each out_dir receives `image_XX.png`, `mask_XX.png` and `cameras.json`
        (see `blender/render_aligned.py`); `settings` (e.g.
        `Appearance.job_settings`) gives the mesh its own azimuths, elevation
        and light rotation.
      viewpoints: a `conventions.ViewpointSet`.
      image_size: overrides `viewpoints.image_size` when given.
      engine: "workbench" (fast, default) or "cycles".
      backend: "auto" (bpy if importable, else the blender binary), "bpy" or "blender".
      supersample: KxK samples per pixel (default: the script's).
      timeout: seconds for the whole batch, or None.
      in_place: the meshes are already in tf3d's normalized frame; render them
        where they are (default: normalize each into the voxel cube).
      edges: line appearance, one of `EDGES` (Workbench only).

    Returns:
      list of (mesh_path, reason) for the meshes that failed (nothing was
      written for those); the others rendered.

    Raises:
      RenderError: no renderer is installed, or the renderer itself failed.
    """
    jobs = [(os.fspath(job[0]), os.fspath(job[1]), job[2] if len(job) > 2 else {}) for job in jobs]
    for mesh_path, out_dir, _ in jobs:
        if "\t" in mesh_path + out_dir or "\n" in mesh_path + out_dir:
            raise ValueError(f"job paths must not contain tabs or newlines: {(mesh_path, out_dir)!r}")
    if edges not in EDGES:
        raise ValueError(f"edges must be one of {EDGES}, got {edges!r}")
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
            f.writelines(f"{os.path.abspath(m)}\t{os.path.abspath(o)}"
                         + (f"\t{json.dumps(settings, separators=(',', ':'))}" if settings else "") + "\n"
                         for m, o, settings in jobs)
        views_path = os.path.join(tmp, "viewpoints.json")
        with open(views_path, "w") as f:
            json.dump(viewpoints.to_dict(), f)
        args = ["--list", list_path, "--viewpoints", views_path, "--engine", engine, "--edges", edges]
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
