"""Render meshes from a viewpoint set, pixel-aligned with tf3d's cameras.

Every mesh is normalized into the voxel cube and seen through exactly the
cameras of `tf3d.conventions` (world frame, normalization, pinhole model,
`ViewpointSet`), so a rendering's mask lines up with the voxel grid or mesh
projected by `tf3d.alignment` through the same `[3, 4]` matrix.

Run it with a Blender binary (3.4 and newer) or with the `bpy` module:

    blender --background --factory-startup -P blender/render_aligned.py -- \
        --mesh chair.obj --out renders/chair
    .venv/bin/python blender/render_aligned.py --list jobs.tsv --supersample 2

Both print one line per mesh and, at the end, the images/s reached. Measured
on 2 cores at 128 px, 60 meshes x 8 views, Workbench: bpy 4.5 gives 166 / 73 /
13 images/s at --supersample 1 / 2 / 4; Blender 3.4's binary 94 / 31 / 18.
Supersample 2 is the default: coverage in quarter steps for thin parts at
well above the ~25 images/s the dataset build needs. Debian's blender runs
the system Python and needs `python3-numpy`.

Options:
  --mesh PATH --out DIR   repeatable, paired in order (one DIR per mesh).
  --list FILE             lines `MESH_PATH<TAB>OUT_DIR[<TAB>JSON]` (blank and # lines skipped);
                          the optional JSON object sets this mesh's own `azimuths` (list),
                          `elevation` and `light_rotation` (degrees about +Y, world-fixed
                          studio light), over the viewpoint set (jittered views).
  --viewpoints JSON       `ViewpointSet.to_dict()`; default `DEFAULT_VIEWPOINTS`.
  --image-size S          overrides the viewpoint set's image size.
  --engine NAME           `workbench` (default) or `cycles`.
  --supersample K         render at K*S and average KxK blocks (default 2).
  --edges NAME            `none` (default) or `cavity` (Workbench's ridge/valley shading,
                          creases darkened): the line appearance option.
  --in-place              the meshes are already normalized: render them where they are.

Inputs: OBJ, PLY, STL, OFF, GLB/glTF. File coordinates are taken to be in
tf3d's world frame (+Y up, ShapeNet's), glTF's own Y-up frame included.
Materials and textures are ignored: one neutral gray, grayscale output.

Outputs, per mesh in its DIR (written only once every view has rendered):
  image_XX.png  8-bit grayscale `[S, S]`: the shaded object over white.
  mask_XX.png   8-bit alpha coverage `[S, S]` (255 = pixel fully covered).
  cameras.json  the viewpoint set, per view azimuth, elevation, intrinsics
                `[3, 3]`, extrinsics `[3, 4]`, projection `[3, 4]`, plus the
                normalization applied, engine, supersample, Blender version.

Exit status: 0 when every mesh rendered; 1 when at least one mesh failed (each
failure is one stderr line `render_aligned: FAILED <path>: <reason>`, nothing
is written for it, and the other meshes are still rendered); 2 for a bad
command line or environment.

Frames. Blender is Z-up, tf3d is Y-up. Importers are asked for no axis change
where they take axis options (glTF always converts Y-up to Z-up, and that is
undone), so the imported vertices read back in tf3d's frame; normalization is
computed there in float64, and the scene is then laid out in Blender's frame
by `_TF3D_TO_BLENDER` (the 90 degree turn about X that Blender's own OBJ
importer applies). Cameras go through the same map: the OpenCV axes of
`look_at_extrinsics` (x right, y down, z forward) become Blender's camera axes
(x right, y up, looking down -z).

Anti-aliasing. Each pixel's alpha is the fraction of its KxK point samples
(Workbench's own anti-aliasing turned off) that hit the mesh, the same area
averaging `tf3d.alignment` uses, so sub-pixel parts keep a nonzero coverage.
"""

import argparse
import dataclasses
import json
import math
import os
import struct
import sys
import tempfile
import time
import zlib

try:
    import numpy as np
except ImportError:  # Debian's blender runs the system Python, which may lack NumPy
    sys.stderr.write(f"render_aligned: NumPy is not importable from {sys.executable}; for a "
                     "Debian/Ubuntu blender: apt-get install python3-numpy\n")
    sys.exit(2)

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tf3d import conventions  # noqa: E402  (needs the repo root on sys.path)

# tf3d world (x right, y up, z front) -> Blender world (x right, y back, z up).
_TF3D_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

# Engine identifiers differ between Blender versions; the first that exists wins.
ENGINES = {
    "workbench": ("BLENDER_WORKBENCH", "BLENDER_WORKBENCH_NEXT"),
    "cycles": ("CYCLES",),
}
DEFAULT_ENGINE = "workbench"
DEFAULT_SUPERSAMPLE = 2
GRAY = 0.8  # linear albedo of the single neutral material
EDGES = ("none", "cavity")
JOB_KEYS = ("azimuths", "elevation", "light_rotation")

_IDENTITY_AXES = {"forward_axis": "Y", "up_axis": "Z"}
_LEGACY_IDENTITY_AXES = {"axis_forward": "Y", "axis_up": "Z"}
# Per extension: importer candidates (operator, keyword arguments, frame) in
# order of preference; frame "tf3d" means the imported coordinates are the
# file's, frame "yup" that the importer turned the file's Y-up into Z-up.
_IMPORTERS = {
    ".obj": (("wm.obj_import", _IDENTITY_AXES, "tf3d"),
             ("import_scene.obj", dict(_LEGACY_IDENTITY_AXES, split_mode="OFF"), "tf3d")),
    ".ply": (("wm.ply_import", _IDENTITY_AXES, "tf3d"), ("import_mesh.ply", {}, "tf3d")),
    ".stl": (("wm.stl_import", _IDENTITY_AXES, "tf3d"),
             ("import_mesh.stl", _LEGACY_IDENTITY_AXES, "tf3d")),
    ".glb": (("import_scene.gltf", {}, "yup"),),
    ".gltf": (("import_scene.gltf", {}, "yup"),),
    ".off": (("off", {}, "tf3d"),),
}


class MeshError(Exception):
    """A mesh that cannot be rendered; the batch goes on without it."""


# ----------------------------------------------------------------------------
# Command line


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"render_aligned: error: {message}\n")
        sys.exit(2)


def _parser():
    parser = _Parser(prog="render_aligned.py", allow_abbrev=False,
                     description="Render meshes aligned with tf3d's cameras (see the module docstring).")
    parser.add_argument("--mesh", action="append", default=[], help="mesh file; repeatable")
    parser.add_argument("--out", action="append", default=[], help="output directory, one per --mesh")
    parser.add_argument("--list", help="file of MESH_PATH<TAB>OUT_DIR[<TAB>JSON] lines")
    parser.add_argument("--viewpoints", help="JSON file in ViewpointSet.to_dict() format")
    parser.add_argument("--image-size", type=int, help="image side in pixels (default: the viewpoint set's)")
    parser.add_argument("--engine", choices=sorted(ENGINES), default=DEFAULT_ENGINE)
    parser.add_argument("--supersample", type=int, default=DEFAULT_SUPERSAMPLE,
                        help="render at K x size and area-average KxK blocks")
    parser.add_argument("--edges", choices=EDGES, default="none",
                        help="line appearance (Workbench): none or cavity (ridge/valley) shading")
    parser.add_argument("--in-place", action="store_true",
                        help="meshes are already in tf3d's normalized frame: render them where they are "
                             "instead of normalizing them into the voxel cube")
    return parser


def _script_argv(argv):
    """Arguments meant for this script: those after `--` when present (Blender's way)."""
    return argv[argv.index("--") + 1:] if "--" in argv else argv[1:]


def parse_args(args):
    """(jobs [(mesh, out_dir, settings)], viewpoints, engine, supersample, in_place, edges) from script arguments.

    `settings` is a job's own dict of `JOB_KEYS` (empty: the viewpoint set as it is).
    """
    parser = _parser()
    ns = parser.parse_args(args)
    if len(ns.mesh) != len(ns.out):
        parser.error(f"--mesh and --out must be paired: got {len(ns.mesh)} --mesh and {len(ns.out)} --out")
    jobs = [(mesh, out, {}) for mesh, out in zip(ns.mesh, ns.out)]
    if ns.list:
        try:
            with open(ns.list) as f:
                lines = f.read().splitlines()
        except OSError as e:
            parser.error(f"--list {ns.list}: {e.strerror}")
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) not in (2, 3) or not all(fields):
                parser.error(f"--list {ns.list} line {number}: expected MESH_PATH<TAB>OUT_DIR[<TAB>JSON], "
                             f"got {line!r}")
            try:
                settings = _job_settings(fields[2]) if len(fields) == 3 else {}
            except ValueError as e:
                parser.error(f"--list {ns.list} line {number}: {e}")
            jobs.append((fields[0], fields[1], settings))
    if not jobs:
        parser.error("nothing to render: give --mesh PATH --out DIR or --list FILE")
    viewpoints = conventions.DEFAULT_VIEWPOINTS
    if ns.viewpoints:
        try:
            with open(ns.viewpoints) as f:
                viewpoints = conventions.ViewpointSet.from_dict(json.load(f))
        except (OSError, ValueError, TypeError) as e:
            parser.error(f"--viewpoints {ns.viewpoints}: {e}")
    if ns.image_size is not None:
        if ns.image_size <= 0:
            parser.error(f"--image-size must be positive, got {ns.image_size}")
        viewpoints = dataclasses.replace(viewpoints, image_size=ns.image_size)
    if ns.supersample < 1:
        parser.error(f"--supersample must be >= 1, got {ns.supersample}")
    if ns.engine != "workbench" and (ns.edges != "none" or any("light_rotation" in j[2] for j in jobs)):
        parser.error("--edges and a job's light_rotation are Workbench options; use --engine workbench")
    return jobs, viewpoints, ns.engine, ns.supersample, ns.in_place, ns.edges


def _job_settings(text):
    """A job's settings from its JSON column, checked; raises ValueError."""
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"the third column is not JSON ({e})") from None
    if not isinstance(settings, dict) or set(settings) - set(JOB_KEYS):
        raise ValueError(f"the third column must be a JSON object with keys among {JOB_KEYS}, got {text!r}")
    if "azimuths" in settings and (not isinstance(settings["azimuths"], list) or not settings["azimuths"]):
        raise ValueError(f"azimuths must be a non-empty list of degrees, got {settings['azimuths']!r}")
    return settings


def job_viewpoints(viewpoints, settings):
    """The viewpoint set of one job: `viewpoints` with the job's azimuths and elevation."""
    return dataclasses.replace(viewpoints, **{k: settings[k] for k in ("azimuths", "elevation") if k in settings})


# ----------------------------------------------------------------------------
# Image files (no PIL in Blender's Python)


def write_png_gray(path, image):
    """Write a `[h, w]` uint8 array as an 8-bit grayscale PNG."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = image.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), image], axis=1)  # filter byte 0 per row

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def _read_tga_rgba(path):
    """`[h, w, 4]` uint8 RGBA, top row first, from an uncompressed 32-bit TGA."""
    data = np.fromfile(path, dtype=np.uint8)
    id_length, image_type = int(data[0]), int(data[2])
    width, height = struct.unpack("<HH", data[12:16].tobytes())
    if image_type != 2 or data[16] != 32:
        raise RuntimeError(f"{path}: expected an uncompressed 32-bit TGA")
    start = 18 + id_length
    bgra = data[start:start + width * height * 4].reshape(height, width, 4)
    rgba = bgra[..., [2, 1, 0, 3]]
    return rgba if data[17] & 0x20 else rgba[::-1]  # bit 5 set: stored top row first


def shade_and_mask(rgba, supersample):
    """Grayscale image and alpha of a supersampled render, both `[S, S]` uint8.

    `rgba` is `[K*S, K*S, 4]` uint8 with straight alpha. Premultiplied gray and
    alpha are averaged over KxK blocks (area averaging), then composited over
    white.
    """
    rgba = rgba.astype(np.float32) / 255.0
    gray = rgba[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    alpha = rgba[..., 3]
    size = rgba.shape[0] // supersample
    blocks = (size, supersample, size, supersample)
    coverage = alpha.reshape(blocks).mean(axis=(1, 3))  # [S, S]
    premultiplied = (gray * alpha).reshape(blocks).mean(axis=(1, 3))
    image = premultiplied + (1.0 - coverage)
    to_u8 = lambda x: np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)  # noqa: E731
    return to_u8(image), to_u8(coverage)


# ----------------------------------------------------------------------------
# Blender scene


def _operator(path):
    import bpy

    module, name = path.split(".")
    op = getattr(getattr(bpy.ops, module), name)
    try:
        op.get_rna_type()
    except (KeyError, AttributeError):
        return None
    return op


def _engine_id(name):
    import bpy

    for candidate in ENGINES[name]:
        try:
            bpy.context.scene.render.engine = candidate
            return candidate
        except TypeError:
            continue
    raise RuntimeError(f"Blender {bpy.app.version_string} has none of the engines {ENGINES[name]}")


def setup_scene(viewpoints, engine, supersample, edges="none"):
    """Empty scene with one camera and the render settings; returns (camera, engine id)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    engine_id = _engine_id(engine)
    render = scene.render
    render.resolution_x = render.resolution_y = viewpoints.image_size * supersample
    render.resolution_percentage = 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0
    render.film_transparent = True
    render.use_compositing = False
    render.use_sequencer = False
    render.image_settings.file_format = "TARGA_RAW"
    render.image_settings.color_mode = "RGBA"
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0

    data = bpy.data.cameras.new("tf3d_camera")
    data.type = "PERSP"
    data.sensor_fit = "HORIZONTAL"
    data.lens_unit = "FOV"
    data.angle = math.radians(viewpoints.fov)
    data.shift_x = data.shift_y = 0.0
    data.clip_start = 0.01
    data.clip_end = 100.0 * viewpoints.distance
    camera = bpy.data.objects.new("tf3d_camera", data)
    scene.collection.objects.link(camera)
    scene.camera = camera

    if engine == "workbench":
        # Point samples only: supersampling does the (exact, box-filtered) anti-aliasing.
        scene.display.render_aa = "OFF"
        shading = scene.display.shading
        shading.light = "STUDIO"
        shading.color_type = "SINGLE"
        shading.single_color = (GRAY, GRAY, GRAY)
        shading.show_cavity = edges == "cavity"
        if edges == "cavity":
            shading.cavity_type = "WORLD"  # ridges and valleys from the geometry, not screen-space
        shading.show_shadows = False
        shading.show_object_outline = False
        shading.show_xray = False
        shading.show_backface_culling = False
        shading.use_dof = False
    else:
        _setup_cycles(scene, camera)
    return camera, engine_id


def _setup_cycles(scene, camera):
    import bpy

    scene.cycles.device = "CPU"
    scene.cycles.samples = 32
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.cycles.pixel_filter_type = "BOX"
    scene.cycles.filter_width = 1.0
    material = bpy.data.materials.new("tf3d_gray")
    material.diffuse_color = (GRAY, GRAY, GRAY, 1.0)
    material.use_nodes = True
    bsdf = material.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (GRAY, GRAY, GRAY, 1.0)
        bsdf.inputs["Roughness"].default_value = 0.8
    bpy.context.view_layer.material_override = material
    world = bpy.data.worlds.new("tf3d_world")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.3, 0.3, 0.3, 1.0)
    scene.world = world
    # A key light that follows the camera, so every view is lit alike.
    light = bpy.data.objects.new("tf3d_key", bpy.data.lights.new("tf3d_key", "SUN"))
    light.data.energy = 3.0
    light.parent = camera
    light.rotation_euler = (math.radians(-30.0), math.radians(30.0), 0.0)
    scene.collection.objects.link(light)


def _read_off(path):
    """(vertices `[V, 3]`, polygons list) of an OFF file."""
    with open(path) as f:
        tokens = [line.split("#", 1)[0].split() for line in f]
    tokens = [t for t in tokens if t]
    if not tokens or not tokens[0][0].endswith("OFF"):
        raise MeshError("not an OFF file (no OFF header)")
    header = tokens[0][1:] or tokens[1]
    body = tokens[1:] if tokens[0][1:] else tokens[2:]
    try:
        num_vertices, num_faces = int(header[0]), int(header[1])
        vertices = np.array([[float(x) for x in t[:3]] for t in body[:num_vertices]])
        faces = [[int(i) for i in t[1:1 + int(t[0])]] for t in body[num_vertices:num_vertices + num_faces]]
    except (IndexError, ValueError) as e:
        raise MeshError(f"malformed OFF file ({e})") from None
    if len(vertices) != num_vertices or len(faces) != num_faces:
        raise MeshError("OFF file is truncated")
    if faces and (min(min(f) for f in faces) < 0 or max(max(f) for f in faces) >= num_vertices):
        raise MeshError("OFF face index out of range")
    return vertices.reshape(-1, 3), faces


def _import(path):
    """Import a mesh file; returns (new objects, `[3, 3]` map from Blender world to tf3d)."""
    import bpy

    ext = os.path.splitext(path)[1].lower()
    if ext not in _IMPORTERS:
        raise MeshError(f"unsupported format {ext!r} (supported: {', '.join(sorted(_IMPORTERS))})")
    if not os.path.isfile(path):
        raise MeshError("no such file")
    before = set(bpy.data.objects)
    for op_path, kwargs, frame in _IMPORTERS[ext]:
        if op_path == "off":
            vertices, faces = _read_off(path)
            mesh = bpy.data.meshes.new(os.path.basename(path))
            mesh.from_pydata(vertices.tolist(), [], faces)
            obj = bpy.data.objects.new(mesh.name, mesh)
            bpy.context.scene.collection.objects.link(obj)
            break
        op = _operator(op_path)
        if op is None:
            continue
        try:
            result = op(filepath=path, **kwargs)
        except (RuntimeError, UnicodeDecodeError, ValueError) as e:
            lines = [line for line in str(e).strip().splitlines() if not line.startswith("Location:")]
            reason = lines[-1].strip()[:200] if lines else type(e).__name__
            raise MeshError(f"import failed: {reason}") from None
        if "FINISHED" not in result:
            raise MeshError(f"import failed: {op_path} returned {sorted(result)}")
        break
    else:
        raise MeshError(f"this Blender ({bpy.app.version_string}) has no importer for {ext}")
    to_tf3d = _TF3D_TO_BLENDER.T if frame == "yup" else np.eye(3)
    return [o for o in bpy.data.objects if o not in before], to_tf3d


def _matrix(obj):
    return np.array([list(row) for row in obj.matrix_world], dtype=np.float64)


def place_mesh(objects, to_tf3d, in_place=False):
    """Normalize the imported objects into the voxel cube, laid out in Blender's frame.

    With `in_place` the mesh is taken as already normalized (scale 1, no
    translation): meshes that tf3d itself made in that frame (a fitted mesh)
    render where they are.

    Returns (scale, translation) of `conventions.normalization`, in tf3d's frame.
    """
    import bpy
    from mathutils import Matrix

    meshes = [o for o in objects if o.type == "MESH"]
    worlds, points, num_faces = [], [], 0
    for obj in meshes:
        world = _matrix(obj)  # [4, 4], Blender world of the import
        count = len(obj.data.vertices)
        local = np.empty(count * 3, dtype=np.float32)
        obj.data.vertices.foreach_get("co", local)
        local = local.reshape(count, 3).astype(np.float64)
        worlds.append(world)
        points.append((local @ world[:3, :3].T + world[:3, 3]) @ to_tf3d.T)  # [V, 3] tf3d
        num_faces += len(obj.data.polygons)
    if num_faces == 0:
        raise MeshError("the file has no faces" if not meshes else "the mesh has no faces")
    try:
        scale, translation = conventions.normalization(np.concatenate(points))
    except ValueError as e:
        raise MeshError(str(e)) from None
    if in_place:
        scale, translation = 1.0, np.zeros(3)
    # Blender world <- tf3d normalized <- tf3d as imported <- Blender world of the import.
    to_tf3d4 = np.eye(4)
    to_tf3d4[:3, :3] = to_tf3d
    normalize = np.diag([scale, scale, scale, 1.0])
    normalize[:3, 3] = translation
    to_blender = np.eye(4)
    to_blender[:3, :3] = _TF3D_TO_BLENDER
    placement = to_blender @ normalize @ to_tf3d4
    for obj, world in zip(meshes, worlds):
        obj.parent = None
        obj.matrix_world = Matrix((placement @ world).tolist())
    others = [o for o in objects if o.type != "MESH"]
    if others:
        bpy.data.batch_remove(others)
    return scale, translation


def camera_matrix_world(extrinsic):
    """`[4, 4]` Blender camera-to-world matrix of a tf3d `[3, 4]` extrinsic."""
    rotation, t = extrinsic[:, :3], extrinsic[:, 3]
    eye = -rotation.T @ t
    right, down, forward = rotation  # camera axes in tf3d world coordinates
    axes = np.stack([right, -down, -forward], axis=1)  # Blender camera x, y, z as columns
    matrix = np.eye(4)
    matrix[:3, :3] = _TF3D_TO_BLENDER @ axes
    matrix[:3, 3] = _TF3D_TO_BLENDER @ eye
    return matrix


class _Quiet:
    """Silence Blender's per-frame stdout chatter at the file-descriptor level."""

    def __enter__(self):
        sys.stdout.flush()
        self._saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)

    def __exit__(self, *exc):
        sys.stdout.flush()
        os.dup2(self._saved, 1)
        os.close(self._saved)


def render_views(camera, viewpoints, supersample, scratch):
    """Render every view; returns (images, masks), each `[V, S, S]` uint8."""
    import bpy
    from mathutils import Matrix

    scene = bpy.context.scene
    scene.render.filepath = os.path.join(scratch, "view.tga")
    images, masks = [], []
    for extrinsic in viewpoints.extrinsics():
        camera.matrix_world = Matrix(camera_matrix_world(extrinsic).tolist())
        with _Quiet():
            bpy.ops.render.render(write_still=True)
        image, mask = shade_and_mask(_read_tga_rgba(scene.render.filepath), supersample)
        images.append(image)
        masks.append(mask)
    return np.stack(images), np.stack(masks)


def set_light(settings):
    """Workbench studio light: fixed to the camera (default) or turned about +Y in the world."""
    import bpy

    shading = bpy.context.scene.display.shading
    rotation = settings.get("light_rotation")
    shading.use_world_space_lighting = rotation is not None
    if rotation is not None:
        # Blender's world +Z is tf3d's +Y; the property takes radians in [-pi, pi].
        shading.studiolight_rotate_z = math.radians((float(rotation) + 180.0) % 360.0 - 180.0)


def cameras_record(viewpoints, mesh_path, engine_id, supersample, scale, translation, settings=None, edges="none"):
    import bpy

    k = viewpoints.intrinsics()
    views = [{"azimuth": az, "elevation": viewpoints.elevation, "intrinsics": k.tolist(),
              "extrinsics": e.tolist(), "projection": p.tolist()}
             for az, e, p in zip(viewpoints.azimuths, viewpoints.extrinsics(), viewpoints.projections())]
    return {"viewpoints": viewpoints.to_dict(), "views": views, "mesh": os.path.abspath(mesh_path),
            "normalization": {"scale": float(scale), "translation": [float(x) for x in translation]},
            "engine": engine_id, "supersample": supersample, "blender_version": bpy.app.version_string,
            "light_rotation": (settings or {}).get("light_rotation"), "edges": edges}


def _clear_mesh_data():
    """Remove everything an import created, keeping the camera, lights and tf3d_ data."""
    import bpy

    created = [o for o in bpy.data.objects if not o.name.startswith("tf3d_")]
    created += list(bpy.data.collections)  # tf3d's own objects live in the scene's master collection
    if created:
        bpy.data.batch_remove(created)
    orphans = [d for collection in (bpy.data.meshes, bpy.data.materials, bpy.data.images,
                                    bpy.data.textures)
               for d in collection if d.users == 0 and not d.name.startswith("tf3d_")]
    if orphans:
        bpy.data.batch_remove(orphans)


def render_one(mesh_path, out_dir, camera, viewpoints, engine_id, supersample, scratch, in_place=False,
               settings=None, edges="none"):
    """Render one mesh into `out_dir`; raises MeshError and writes nothing if it cannot.

    `settings`: the job's own azimuths, elevation and light rotation (`JOB_KEYS`).
    """
    settings = settings or {}
    try:
        viewpoints = job_viewpoints(viewpoints, settings)
    except ValueError as e:
        raise MeshError(f"bad job viewpoints: {e}") from None
    if engine_id in ENGINES["workbench"]:
        set_light(settings)
    try:
        objects, to_tf3d = _import(mesh_path)
        scale, translation = place_mesh(objects, to_tf3d, in_place)
        images, masks = render_views(camera, viewpoints, supersample, scratch)
    finally:
        _clear_mesh_data()
    os.makedirs(out_dir, exist_ok=True)
    for v, (image, mask) in enumerate(zip(images, masks)):
        write_png_gray(os.path.join(out_dir, f"image_{v:02d}.png"), image)
        write_png_gray(os.path.join(out_dir, f"mask_{v:02d}.png"), mask)
    record = cameras_record(viewpoints, mesh_path, engine_id, supersample, scale, translation, settings, edges)
    with open(os.path.join(out_dir, "cameras.json"), "w") as f:
        json.dump(record, f, indent=1)


def main(argv):
    jobs, viewpoints, engine, supersample, in_place, edges = parse_args(_script_argv(argv))
    try:
        import bpy
    except ImportError:
        sys.stderr.write("render_aligned: needs Blender: run it with `blender --background -P "
                         "blender/render_aligned.py -- ...` or install the bpy module "
                         "(pip install 'bpy==4.5.*' on Python 3.11)\n")
        return 2
    camera, engine_id = setup_scene(viewpoints, engine, supersample, edges)
    failed, start = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tf3d_render_", dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as scratch:
        for mesh_path, out_dir, settings in jobs:
            try:
                render_one(mesh_path, out_dir, camera, viewpoints, engine_id, supersample, scratch, in_place,
                           settings, edges)
            except MeshError as e:
                failed.append(mesh_path)
                sys.stderr.write(f"render_aligned: FAILED {mesh_path}: {e}\n")
                sys.stderr.flush()
                continue
            print(f"render_aligned: {mesh_path} -> {out_dir}", flush=True)
    seconds = time.perf_counter() - start
    rendered = sum(len(s.get("azimuths", viewpoints.azimuths)) for m, _, s in jobs if m not in failed)
    print(f"render_aligned: {len(jobs) - len(failed)}/{len(jobs)} meshes, {rendered} images in {seconds:.2f} s "
          f"({rendered / max(seconds, 1e-9):.1f} images/s, {engine_id}, supersample {supersample}, "
          f"{viewpoints.image_size} px, Blender {bpy.app.version_string})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
