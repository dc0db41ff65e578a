"""`python -m pipelines.build shaded --out DIR`: shaded images with ground-truth depth, normals, light.

The data of Unsup3D-style photo-geometric autoencoding (`tf3d.tasks.unsup3d`):
each model (synthetic chairs and tables by default, bilaterally symmetric as
Unsup3D assumes; any meshes with `--meshes`) is normalized into the voxel
cube, given a smooth, left-right symmetric per-vertex albedo, and rendered
`--views` times near a front-facing view (azimuth 0 +- `--azimuth-jitter`,
elevation `--elevation` +- `--elevation-jitter`) under a directional light
drawn anew for every image plus ambient light, by Cycles set up as pure
Lambertian shading (`blender/render_lambertian.py --batch`: no shadows, no
interreflection). A flat wall of uniform albedo stands `--wall` behind the
object's centre (facing the front, +Z) and fills the frame, so that, as in
Unsup3D's tightly cropped faces, every pixel is lit surface: over a black
background, a reconstruction loss with confidence maps can be met by
predicting black everywhere. The ground truth of the same camera comes
from `tf3d.ops.rasterize` of the same scene: depth along the optical axis,
face normals in the camera frame turned towards the camera (the side Cycles
lights), the interpolated albedo, and the object's mask (the pixels whose
visible face is the object's). Record format: `tf3d.data.shaded_records`.

Lights (camera frame, as Unsup3D parameterizes them): direction towards the
light `normalize(x, y, -1)` with x, y uniform in [-`--light-spread`,
`--light-spread`] (-z points at the camera), ambient uniform in [0.2, 0.45],
diffuse uniform in [0.5, 0.7]; albedo `a + b * height` with a in [0.45, 0.75]
and b in [-0.25, 0.25] (height from 0 at the bottom to 1 at the top); the
wall's albedo uniform in [0.25, 0.45].

    python -m pipelines.build shaded --out data/shaded --num-chairs 200 --num-tables 200
    python -m pipelines.build shaded --out /tmp/s --num-chairs 4 --num-tables 4 --views 2 --workers 1

Models go to splits by model id (`pipelines.shards.split_for`), so every
image of a model is in the same split. Each shard of up to 64 models is
rendered in one Blender process; the build is not resumable (a few hundred
models take minutes).
"""

import json
import logging
import math
import multiprocessing
import os
import subprocess
import tempfile
import time

import numpy as np

from tf3d import cli, conventions
from tf3d.data import shaded_records

log = logging.getLogger("pipelines.shaded")
MODELS_PER_SHARD = 64
AMBIENT = (0.2, 0.45)
DIFFUSE = (0.5, 0.7)
ALBEDO_BASE = (0.45, 0.75)
ALBEDO_SLOPE = (-0.25, 0.25)
WALL_ALBEDO = (0.25, 0.45)
WALL_HALF_SIZE = 2.5  # fills a 30 degree view from 2.5 away at every jittered view


def add_arguments(parser):
    parser.add_argument("--num-chairs", type=int, default=200)
    parser.add_argument("--num-tables", type=int, default=200)
    parser.add_argument("--meshes", default=None,
                        help="directory of mesh files (OBJ, PLY, ...) to render instead of synthetic furniture; "
                             "the category is the file's parent directory name")
    parser.add_argument("--seed", type=int, default=0, help="generator, light and view seed")
    parser.add_argument("--views", type=int, default=4, help="images per model (each its own light and view)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--fov", type=float, default=30.0, help="field of view in degrees")
    parser.add_argument("--elevation", type=float, default=15.0, help="mean elevation in degrees")
    parser.add_argument("--elevation-jitter", type=float, default=10.0, help="+- degrees")
    parser.add_argument("--azimuth-jitter", type=float, default=20.0, help="+- degrees around the front")
    parser.add_argument("--light-spread", type=float, default=1.0,
                        help="light direction (x, y, -1) normalized, x and y uniform in +-spread")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel (anti-aliasing)")
    parser.add_argument("--wall", type=float, default=0.6,
                        help="distance of the wall behind the object's centre (normalized units); 0: no wall, "
                             "a black background")
    parser.add_argument("--renderer", choices=("auto", "bpy", "blender"), default="auto",
                        help="bpy module, blender binary, or auto (bpy if importable)")


def _viewpoints(args):
    return conventions.ViewpointSet(azimuths=(0.0,), elevation=args.elevation, distance=2.5, fov=args.fov,
                                    image_size=args.image_size)


def _sources(args):
    """`[(model_id, category, mesh path or ("generate", category, seed))]`."""
    if args.meshes:
        found = []
        for root, _, files in os.walk(args.meshes):
            for name in sorted(files):
                if os.path.splitext(name)[1].lower() in (".obj", ".ply", ".stl", ".off", ".glb"):
                    category = os.path.basename(root) or "object"
                    found.append((f"{category}-{os.path.splitext(name)[0]}", category, os.path.join(root, name)))
        if not found:
            raise cli.UserError(f"--meshes {args.meshes}: no mesh files found")
        return sorted(found)
    from pipelines import synthetic

    return [(f"{category}-{index:05d}", category, ("generate", category,
                                                   synthetic.model_seed(args.seed, category, index)))
            for category, count in (("chair", args.num_chairs), ("table", args.num_tables))
            for index in range(count)]


def _load(source):
    """Normalized (vertices `[V, 3]`, faces `[F, 3]`) of one source."""
    from pipelines import synthetic
    from pipelines.meshes import load_mesh

    if isinstance(source, tuple):
        mesh = synthetic.generate(source[1], source[2])
        vertices, faces = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
    else:
        vertices, faces = load_mesh(source)
    return conventions.normalize_vertices(vertices), faces


def _draw(rng, args):
    """One image's (azimuth, elevation, light [5] in the camera frame)."""
    azimuth = rng.uniform(-args.azimuth_jitter, args.azimuth_jitter)
    elevation = args.elevation + rng.uniform(-args.elevation_jitter, args.elevation_jitter)
    x, y = rng.uniform(-args.light_spread, args.light_spread, size=2)
    direction = np.array([x, y, -1.0]) / math.sqrt(x * x + y * y + 1.0)
    return azimuth, elevation, np.concatenate([[rng.uniform(*AMBIENT), rng.uniform(*DIFFUSE)], direction])


def ground_truth(vertices, faces, albedo, intrinsic, extrinsic, image_size, object_faces=None):
    """Depth `[S, S]`, camera-frame normals `[S, S, 3]`, albedo `[S, S]` (0 off the mesh) and the
    bool mask `[S, S]` of the pixels whose visible face is among the first `object_faces` (None: all).

    Normals are the faces' own (the synthetic meshes are flat parts, rendered
    flat), turned towards the camera as Cycles turns them to light a face.
    """
    import tensorflow as tf

    from tf3d.geometry import normals as geometry_normals
    from tf3d.ops import interpolate, rasterize

    v = tf.constant(vertices[None], tf.float32)
    f = tf.constant(faces, tf.int32)
    projection = conventions.projection_matrix(intrinsic, extrinsic)
    fragments = rasterize(v, f, tf.constant(projection[None], tf.float32), image_size)
    seen = fragments.face_ids[0].numpy() >= 0
    depth = np.where(seen, fragments.depth[0].numpy(), 0.0)
    face_normals = geometry_normals.face_normals(v, f)[0].numpy() @ extrinsic[:, :3].T  # [F, 3] camera frame
    normal = face_normals[np.maximum(fragments.face_ids[0].numpy(), 0)]  # [S, S, 3]
    # View rays in the camera frame, K^-1 (u, v, 1) through each pixel centre.
    s = image_size
    uv = np.stack(np.meshgrid(np.arange(s) + 0.5, np.arange(s) + 0.5, indexing="xy"), -1)  # [S, S, 2] (u, v)
    rays = np.concatenate([uv, np.ones_like(uv[..., :1])], -1) @ np.linalg.inv(intrinsic).T  # [S, S, 3]
    normal = np.where((np.sum(normal * rays, -1) > 0)[..., None], -normal, normal)
    normal = np.where(seen[..., None], normal, 0.0)
    albedo_map = interpolate(tf.constant(albedo[None, :, None], tf.float32), fragments)[0, ..., 0].numpy()
    face_ids = fragments.face_ids[0].numpy()
    mask = seen if object_faces is None else seen & (face_ids < object_faces)
    return (depth.astype(np.float32), normal.astype(np.float32), np.where(seen, albedo_map, 0.0).astype(np.float32),
            mask)


def _add_wall(vertices, faces, albedo, distance, wall_albedo):
    """The scene: the object's mesh with a square wall at z = -distance appended (its two faces last)."""
    h = WALL_HALF_SIZE
    wall = np.array([[-h, -h, -distance], [h, -h, -distance], [h, h, -distance], [-h, h, -distance]])
    n = len(vertices)
    wall_faces = np.array([[n, n + 1, n + 2], [n, n + 2, n + 3]])
    return (np.concatenate([vertices, wall]), np.concatenate([faces, wall_faces]),
            np.concatenate([albedo, np.full(4, wall_albedo)]))


def _albedo(vertices, rng):
    """`[V]` albedo: a linear ramp in height, the same on both sides of the symmetry plane x = 0."""
    height = vertices[:, conventions.UP_AXIS]
    t = (height - height.min()) / max(float(np.ptp(height)), 1e-9)
    return np.clip(rng.uniform(*ALBEDO_BASE) + rng.uniform(*ALBEDO_SLOPE) * t, 0.05, 1.0)


def _process_shard(job):
    """Renders and encodes one shard: returns (path, records written, models skipped)."""
    import tensorflow as tf

    from pipelines import render

    path, sources, args_dict = job
    args = _Args(args_dict)
    viewpoints = _viewpoints(args)
    k = viewpoints.intrinsics()
    skipped, prepared = [], []
    with tempfile.TemporaryDirectory(prefix="tf3d_shaded_") as tmp:
        models = []
        for index, (model_id, category, source) in enumerate(sources):
            # Seeded by the model id, so a model looks the same whatever its shard.
            rng = np.random.default_rng(list(model_id.encode()) + [args.seed])
            try:
                vertices, faces = _load(source)
            except (ValueError, OSError) as exc:
                skipped.append({"model_id": model_id, "reason": str(exc)})
                continue
            albedo = _albedo(vertices, rng)
            object_faces = len(faces)
            if args.wall > 0:
                vertices, faces, albedo = _add_wall(vertices, faces, albedo, args.wall, rng.uniform(*WALL_ALBEDO))
            views = []
            for _ in range(args.views):
                azimuth, elevation, light = _draw(rng, args)
                extrinsic = conventions.look_at_extrinsics(conventions.camera_position(azimuth, elevation,
                                                                                       viewpoints.distance))
                views.append({"azimuth": azimuth, "elevation": elevation, "light": light.tolist(),
                              "extrinsics": extrinsic.tolist(),
                              "light_direction": (extrinsic[:, :3].T @ light[2:]).tolist(),  # world
                              "ambient": float(light[0]), "diffuse": float(light[1])})
            mesh_path = os.path.join(tmp, f"{index:05d}.npz")
            np.savez(mesh_path, vertices=vertices, faces=faces, albedo=albedo)
            models.append({"mesh": mesh_path, "views": views, "out": os.path.join(tmp, f"{index:05d}.npy")})
            prepared.append((model_id, category, vertices, faces, albedo, views, object_faces))
        batch_path = os.path.join(tmp, "batch.json")
        with open(batch_path, "w") as fh:
            json.dump({"viewpoints": viewpoints.to_dict(), "samples": args.samples, "models": models}, fh)
        kind, executable = render.resolve_backend(args.renderer)
        script = os.path.join(os.path.dirname(render.SCRIPT), "render_lambertian.py")
        command = [executable, script, "--batch", batch_path] if kind == "bpy" else [
            executable, "--background", "--factory-startup", "-noaudio", "--python-exit-code", "3", "-P", script,
            "--", "--batch", batch_path]
        proc = subprocess.run(command, capture_output=True, text=True, errors="replace")
        if proc.returncode != 0:
            raise render.RenderError(f"Blender failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        count = 0
        with tf.io.TFRecordWriter(path + ".tmp") as writer:
            for model, (model_id, category, vertices, faces, albedo, views, object_faces) in zip(models, prepared):
                renders = np.load(model["out"])  # [K, S, S, 2]: premultiplied intensity, alpha
                for view_index, (view, rendered) in enumerate(zip(views, renders)):
                    extrinsic = np.asarray(view["extrinsics"])
                    depth, normal, albedo_map, mask = ground_truth(vertices, faces, albedo, k, extrinsic,
                                                                   viewpoints.image_size, object_faces)
                    to_u8 = lambda x: np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)  # noqa: E731
                    writer.write(shaded_records.encode_example(
                        model_id=model_id, category=category, view=view_index, image=to_u8(rendered[..., 0]),
                        mask=to_u8(mask), depth=depth, normal=normal, albedo=albedo_map,
                        light=view["light"], azimuth=view["azimuth"], elevation=view["elevation"],
                        intrinsics=k, extrinsics=extrinsic))
                    count += 1
        os.replace(path + ".tmp", path)
    return path, count, skipped


class _Args:
    """The build options a worker needs (argparse's Namespace, as a plain picklable dict)."""

    def __init__(self, values):
        self.__dict__.update(values)


_WORKER_KEYS = ("seed", "views", "image_size", "fov", "elevation", "elevation_jitter", "azimuth_jitter",
                "light_spread", "samples", "renderer", "wall")


def build(args):
    """Shaded grayscale images with ground-truth depth, normals, albedo and light (Unsup3D's data)."""
    from pipelines import shards

    if args.runner != "pool":
        raise cli.UserError("the shaded source runs on the process pool only (--runner pool)")
    if args.views < 1 or args.image_size < 4 or args.samples < 1:
        raise cli.UserError("--views and --samples must be >= 1 and --image-size >= 4")
    start = time.time()
    sources = _sources(args)
    name = args.name or "shaded"
    by_split = {}
    for source in sources:
        by_split.setdefault(shards.split_for(source[0]), []).append(source)
    os.makedirs(args.out, exist_ok=True)
    for old in os.listdir(args.out):
        if old.startswith(f"{name}-") and ".tfrecord-" in old:
            os.remove(os.path.join(args.out, old))
    jobs, worker_args = [], {k: getattr(args, k) for k in _WORKER_KEYS}
    for split in shaded_records.SPLITS:
        chunks = [by_split.get(split, [])[i:i + MODELS_PER_SHARD]
                  for i in range(0, len(by_split.get(split, [])), MODELS_PER_SHARD)]
        for index, chunk in enumerate(chunks):
            path = os.path.join(args.out, f"{name}-{split}.tfrecord-{index:05d}-of-{len(chunks):05d}")
            jobs.append((path, chunk, worker_args))
    results = []
    if args.workers <= 1 or len(jobs) <= 1:
        results = [_process_shard(job) for job in jobs]
    else:
        with multiprocessing.get_context("spawn").Pool(min(args.workers, len(jobs)),
                                                       initializer=cli.quiet_in_worker) as pool:
            results = list(pool.imap(_process_shard, jobs))
    splits = {split: {"num_records": 0, "num_models": 0} for split in shaded_records.SPLITS}
    categories, skipped = {}, []
    for (path, chunk, _), (_, count, bad) in zip(jobs, results):
        split = os.path.basename(path).split(f"{name}-", 1)[1].split(".tfrecord")[0]
        splits[split]["num_records"] += count
        splits[split]["num_models"] += len(chunk) - len(bad)
        skipped.extend(bad)
        for _, category, _ in chunk:
            categories[category] = categories.get(category, 0) + args.views
    info = {"name": name, "format": shaded_records.INFO_FORMAT, "image_size": args.image_size,
            "views_per_model": args.views, "viewpoints": _viewpoints(args).to_dict(),
            "jitter": {"azimuth": args.azimuth_jitter, "elevation": args.elevation_jitter},
            "light": {"ambient": list(AMBIENT), "diffuse": list(DIFFUSE), "spread": args.light_spread},
            "albedo": {"base": list(ALBEDO_BASE), "slope": list(ALBEDO_SLOPE),
                       "wall": list(WALL_ALBEDO) if args.wall > 0 else None},
            "wall": args.wall,
            "splits": splits, "categories": categories,
            "num_records": sum(e["num_records"] for e in splits.values()),
            "skipped": skipped, "num_skipped": len(skipped),
            "build_config": {k: getattr(args, k) for k in _WORKER_KEYS + ("num_chairs", "num_tables", "meshes")},
            "build_seconds": round(time.time() - start, 1)}
    with open(os.path.join(args.out, shaded_records.INFO_FILE), "w") as fh:
        json.dump(info, fh, indent=1)
    return info
