"""`python -m pipelines.build SOURCE --out DIR ...`: build a tf3d dataset.

Sources are registered by name; each turns its inputs into `ModelSource`s and
a shard processor, and `pipelines.shards.build_dataset` writes the shards and
`tf3d_info.json` (format: `tf3d.data.records`).

    python -m pipelines.build synthetic --out data/synthetic            # the default data
    python -m pipelines.build synthetic --out /tmp/x --num-chairs 20 --num-tables 20 --workers 2
    python -m pipelines.build shapenet --root PATH --synsets 03001627,04379243 --out DIR
    python -m pipelines.build r2n2 --renderings PATH --voxels PATH --out DIR
    python -m pipelines.build voxels --root PATH --format binvox --category chair --front +X --out DIR
    python -m pipelines.build synthetic --out DIR --runner direct --workers 2   # on Apache Beam
    python -m pipelines.build rooms --out data/rooms --num-scenes 1000   # 12-class room scenes (pipelines.rooms)
    python -m pipelines.build shaded --out data/shaded     # lit images + GT depth/normals (pipelines.shaded)

Mesh sources (synthetic, ShapeNet) go through one path, `process_mesh_shard`
(voxel-only datasets, `pipelines.voxel_source`, make a mesh of each grid and
join it at the rendering step, `render_prepared`):
load and clean the mesh, normalize it into the voxel cube, voxelize it, render
the whole shard in one Blender process with `blender/render_aligned.py`, and
encode one record per model. A model that fails any step is skipped, logged
and counted in `tf3d_info.json`; the build goes on.

Synthetic meshes are cached under `OUT/meshes/<generator version>-seed<seed>/
<category>/<model id>.obj` (`synthetic_mesh_dir`), so a build with another
seed or a changed generator never reuses meshes made for a different one; a
synthetic build removes the mesh caches of other seeds and versions in OUT
(and those of the older `OUT/meshes/<category>/` layout), since its shards
are rebuilt anyway and meshes take ~3 ms each to regenerate.
"""

import argparse
import functools
import importlib
import logging
import os
import re
import shutil
import sys

from pipelines import shards
from pipelines.meshes import BadMesh, load_mesh, save_obj
from tf3d import cli, conventions

log = logging.getLogger("pipelines.build")

# name -> module providing `add_arguments(parser)` and `build(args)`.
SOURCES = {
    "synthetic": "pipelines.build",
    "shapenet": "pipelines.shapenet",
    "r2n2": "pipelines.r2n2",
    "voxels": "pipelines.voxel_source",
    "rooms": "pipelines.rooms.build",
    "shaded": "pipelines.shaded",
}
DEFAULT_CHAIRS = 1000
DEFAULT_TABLES = 1000
# `--runner` values besides "pool" (pipelines.beam_build.RUNNERS; kept here so
# that the CLI does not import Apache Beam unless a build uses it).
BEAM_RUNNERS = ("direct", "DataflowRunner", "FlinkRunner", "SparkRunner")


def process_mesh_shard(sources, work_dir, *, viewpoints, resolution, engine="workbench",
                       supersample=None, backend="auto", appearance=None):
    """Turns mesh files into records: `(source, record bytes or SkipModel)` per source.

    A source whose `extra` holds `generate=(category, seed)` and whose mesh
    file is missing is generated first (synthetic furniture).
    """
    from pipelines.voxelize import voxelize

    prepared = []
    for index, source in enumerate(sources):
        try:
            if "generate" in source.extra and not os.path.exists(source.path):
                _generate(source)
            vertices, faces = load_mesh(source.path)
            vertices = conventions.normalize_vertices(vertices)
            voxels = voxelize(vertices, faces, resolution)
            if not voxels.any():
                raise BadMesh("voxelizes to an empty grid")
        except (BadMesh, ValueError, OSError) as exc:
            yield source, shards.SkipModel(str(exc))
            continue
        # Blender renders the cleaned, normalized copy, so both see identical geometry.
        mesh_path = os.path.abspath(os.path.join(work_dir, f"{index:05d}.obj"))
        save_obj(mesh_path, vertices, faces)
        prepared.append((source, voxels, mesh_path, os.path.join(work_dir, f"{index:05d}")))
    yield from render_prepared(prepared, viewpoints=viewpoints, engine=engine, supersample=supersample,
                               backend=backend, appearance=appearance)


def render_prepared(prepared, *, viewpoints, engine="workbench", supersample=None, backend="auto",
                    in_place=False, appearance=None):
    """Renders prepared meshes in one Blender process: `(source, record bytes or SkipModel)` each.

    Args:
      prepared: list of (source, voxels `[R, R, R]`, mesh path, output directory).
      in_place: the meshes are already where the voxels say (see `render.render_meshes`).
      appearance: a `render.Appearance` (view jitter, light, edges); None: fixed views, camera light.
    """
    from pipelines import render

    if not prepared:
        return
    appearance = appearance or render.Appearance()
    jobs = [(m, o, appearance.job_settings(viewpoints, source.model_id)) for source, _, m, o in prepared]
    failures = dict(render.render_meshes(jobs, viewpoints, engine=engine, backend=backend,
                                         supersample=supersample, in_place=in_place, edges=appearance.edges))
    for source, voxels, mesh_path, out_dir in prepared:
        if mesh_path in failures:
            yield source, shards.SkipModel(f"Blender could not render it: {failures[mesh_path]}")
            continue
        yield source, encode_rendered(source, voxels, out_dir)


def encode_rendered(source, voxels, out_dir):
    """One record from a voxel grid and the Blender output directory of the same mesh."""
    from pipelines import render
    from tf3d.data import records

    images, masks, cameras = render.load_rendering(out_dir)
    views = cameras["views"]
    return records.encode_example(
        model_id=source.model_id, category=source.category, voxels=voxels,
        images=[shards.encode_png(i) for i in images], masks=[shards.encode_png(m) for m in masks],
        azimuths=[v["azimuth"] for v in views], elevations=[v["elevation"] for v in views],
        intrinsics=[v["intrinsics"] for v in views], extrinsics=[v["extrinsics"] for v in views])


def _generate(source):
    from pipelines import synthetic

    category, seed = source.extra["generate"]
    os.makedirs(os.path.dirname(source.path), exist_ok=True)
    tmp = f"{source.path}.tmp-{os.getpid()}{os.path.splitext(source.path)[1]}"
    synthetic.write_mesh(synthetic.generate(category, seed), tmp)
    os.replace(tmp, source.path)


# ----------------------------------------------------------------------------- synthetic


def add_arguments(parser):
    parser.add_argument("--num-chairs", type=_non_negative, default=DEFAULT_CHAIRS)
    parser.add_argument("--num-tables", type=_non_negative, default=DEFAULT_TABLES)
    parser.add_argument("--seed", type=int, default=0, help="base seed of the generator")


def synthetic_mesh_dir(out_dir, seed, version):
    """Where a synthetic build keeps its generated meshes: `OUT/meshes/<version>-seed<seed>`.

    Args:
      out_dir: the dataset directory.
      seed: the build's base seed (`--seed`).
      version: `pipelines.synthetic.generator_version()` at build time (a
        dataset records it as `build_config["generator_version"]`).
    """
    return os.path.join(out_dir, "meshes", f"{version}-seed{int(seed)}")


# Mesh caches a synthetic build may delete: other seeds or versions, and the
# pre-versioned layout OUT/meshes/<category>/. Anything else under meshes/ is
# not ours and is left alone.
_MESH_CACHE_RE = re.compile(r"^[0-9a-f]{12}-seed-?\d+$")


def _remove_other_mesh_caches(out_dir, keep):
    meshes = os.path.join(out_dir, "meshes")
    if not os.path.isdir(meshes):
        return
    for entry in sorted(os.listdir(meshes)):
        path = os.path.join(meshes, entry)
        if path == keep or not os.path.isdir(path):
            continue
        if _MESH_CACHE_RE.match(entry) or entry in conventions.CATEGORIES:
            log.info("removing %s: meshes of another seed or generator version", path)
            shutil.rmtree(path, ignore_errors=True)


def build(args):
    """The synthetic furniture dataset (meshes kept under OUT/meshes/<version>-seed<seed>/)."""
    from pipelines import synthetic

    viewpoints = _viewpoints(args)
    version = synthetic.generator_version()
    mesh_dir = os.path.abspath(synthetic_mesh_dir(args.out, args.seed, version))
    sources = []
    for category, count in (("chair", args.num_chairs), ("table", args.num_tables)):
        for index in range(count):
            model_id = f"{category}-{index:05d}"
            sources.append(shards.ModelSource(
                model_id=model_id, category=category, split=shards.split_for(model_id),
                path=os.path.join(mesh_dir, category, model_id + ".obj"),
                extra={"generate": (category, synthetic.model_seed(args.seed, category, index))}))
    _remove_other_mesh_caches(os.path.abspath(args.out), mesh_dir)
    # The generator version is part of the config, hence of the shards'
    # fingerprint: records made from an older generator's meshes are rebuilt.
    config = {"source": "synthetic", "num_chairs": args.num_chairs, "num_tables": args.num_tables,
              "seed": args.seed, "generator_version": version, **mesh_build_config(args, viewpoints)}
    return shards.build_dataset(
        args.out, args.name or "synthetic", sources, mesh_shard_processor(args, viewpoints),
        workers=args.workers, build_config=config, viewpoints=recorded_viewpoints(args, viewpoints),
        progress=not args.quiet,
        runner=runner_for(args))


# ----------------------------------------------------------------------------- shared by mesh sources


def add_mesh_arguments(parser):
    """Options of every source rendered from meshes (synthetic, shapenet)."""
    parser.add_argument("--resolution", type=int, default=conventions.DEFAULT_RESOLUTION,
                        help="voxels per side (32 default; 64 works)")
    parser.add_argument("--image-size", type=int, default=conventions.DEFAULT_VIEWPOINTS.image_size)
    parser.add_argument("--engine", choices=("workbench", "cycles"), default="workbench")
    parser.add_argument("--renderer", choices=("auto", "bpy", "blender"), default="auto",
                        help="bpy module, blender binary, or auto (bpy if importable)")
    parser.add_argument("--azimuth-jitter", type=float, default=0.0,
                        help="degrees: each view's azimuth moves by U(-a, a) (default 0: the fixed views)")
    parser.add_argument("--elevation-jitter", type=float, default=0.0,
                        help="degrees: each model's elevation moves by U(-e, e) (default 0)")
    parser.add_argument("--light", choices=("camera", "random"), default="camera",
                        help="camera: the light turns with the camera; random: fixed in the world, "
                             "turned about +Y per model")
    parser.add_argument("--edges", choices=("none", "cavity"), default="none",
                        help="line appearance (Workbench): none or cavity (ridge/valley) shading")


def _viewpoints(args):
    import dataclasses

    return dataclasses.replace(conventions.DEFAULT_VIEWPOINTS, image_size=args.image_size)


def appearance_of(args):
    """The `render.Appearance` of a build's command line (a bad value exits with one line)."""
    from pipelines import render

    try:
        return render.Appearance(azimuth_jitter=args.azimuth_jitter, elevation_jitter=args.elevation_jitter,
                                 light=args.light, edges=args.edges)
    except ValueError as e:
        raise SystemExit(f"--{str(e).split()[0].replace('_', '-')}: {e}") from None


def mesh_build_config(args, viewpoints):
    config = {"resolution": args.resolution, "engine": args.engine, "viewpoints": viewpoints.to_dict()}
    appearance = appearance_of(args)
    if not appearance.is_default:  # so that default builds keep their fingerprint
        config["appearance"] = appearance.to_dict()
    return config


def recorded_viewpoints(args, viewpoints):
    """The fixed viewpoint set for tf3d_info.json, or None when views are jittered per model
    (the records' own azimuths then drive the pipeline's rotation, as for R2N2)."""
    return viewpoints if appearance_of(args).fixed_views else None


def mesh_shard_processor(args, viewpoints):
    """The picklable shard processor for mesh sources built with `args`."""
    return functools.partial(process_mesh_shard, viewpoints=viewpoints, resolution=args.resolution,
                             engine=args.engine, backend=args.renderer, appearance=appearance_of(args))


# ----------------------------------------------------------------------------- command line


def runner_for(args):
    """What runs the shard jobs of `args`: None (the process pool) or a `beam_build.BeamRunner`."""
    if args.runner == "pool":
        return None
    from pipelines import beam_build

    return beam_build.BeamRunner(args.runner, args.beam_options, workers=args.workers,
                                 bundle_size=args.bundle_size)


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _parser():
    parser = cli.parser("python -m pipelines.build", __doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="source", required=True, metavar="SOURCE")
    for name, module_name in SOURCES.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=(module.build.__doc__ or "").split("\n")[0])
        sub.add_argument("--out", required=True, help="output directory (created)")
        sub.add_argument("--workers", type=_non_negative, default=os.cpu_count() or 1,
                         help="parallel worker processes (default: all cores)")
        sub.add_argument("--name", default=None, help="shard file prefix (default: the source name)")
        sub.add_argument("--quiet", action="store_true", help="no progress bar")
        sub.add_argument("--runner", choices=("pool",) + BEAM_RUNNERS, default="pool",
                         help="pool: worker processes on this machine (default); otherwise an Apache "
                              "Beam runner (direct: Beam's DirectRunner with --workers processes); "
                              "unknown --flag=value arguments become Beam pipeline options")
        sub.add_argument("--bundle-size", type=_positive, default=32,
                         help="Beam runners: models per Blender process (default 32)")
        # Also after SOURCE (`build synthetic --out X --verbose`). SUPPRESS keeps a
        # flag given before SOURCE: a subparser's defaults would overwrite it.
        sub.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="show TensorFlow's start-up and C++ log lines")
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show the traceback of an error")
        if name not in ("r2n2", "rooms", "shaded"):  # rooms and shaded have their own options
            add_mesh_arguments(sub)
        module.add_arguments(sub)
    return parser


def _build(args):
    info = importlib.import_module(SOURCES[args.source]).build(args)
    counts = ", ".join(f"{split}: {entry['num_records']}" for split, entry in info["splits"].items())
    print(f"wrote {info['num_records']} records ({counts}) to {args.out}; "
          f"{info['num_skipped']} models skipped; categories {info['categories']}")


def main(argv=None):
    """Runs the command line; returns the exit status (0, or 1 after a user error).

    Bad arguments end it through argparse (`SystemExit(2)`), as for every CLI.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.runner == "pool":
        parser.error(f"unrecognized arguments: {' '.join(unknown)} (Beam pipeline options need --runner)")
    args.beam_options = unknown
    return cli.run(_build, args)


if __name__ == "__main__":
    sys.exit(main())
