"""ShapeNetCore (v1 and v2) as a tf3d dataset.

Input layouts (both may be mixed under one root):

    v1: ROOT/<synset>/<model>/model.obj
    v2: ROOT/<synset>/<model>/models/model_normalized.obj
        (with model_normalized.solid.binvox / .surface.binvox beside it)

Frames. ShapeNetCore v2 meshes are in tf3d's world frame already (+Y up, the
front at +Z). v1 meshes have +Y up with the front at +X (measured on the
3D-R2N2 sample, whose grids are voxelized v1 meshes: chairs are symmetric
about z and their backs are at -X), so they are turned by `V1_TO_WORLD`, a
quarter turn about +Y, before anything else. Normalization, voxelization and
rendering are then the synthetic data's (`pipelines.build.process_mesh_shard`):
materials and textures are dropped, duplicate and degenerate faces removed
(`pipelines.meshes`), the voxelizer fills closed parts and keeps thin ones,
and Blender renders the cleaned mesh grayscale and untextured.

Voxels. `--voxels mesh` (default) voxelizes every mesh. `--voxels binvox`
takes a v2 model's shipped `model_normalized.solid.binvox` instead (v1 models
have none and are voxelized): the grid is resampled into the project's frame
and resolution (`binvox_to_grid`: the volume fraction of each target voxel,
then the voxelizer's own thresholding that keeps thin parts).

A model that cannot be processed (unreadable or empty mesh, nothing left
after cleaning, an empty grid, a Blender failure) is skipped with its reason in
`dataset_info.json` (`skipped`, `num_skipped`); the build goes on.

    python -m pipelines.build shapenet --root ~/ShapeNetCore.v2 --synsets 03001627,04379243 \
        --out data/shapenet --workers 8 [--limit 100] [--split-file ShapeNet.json] [--voxels binvox]
"""

import dataclasses
import functools
import json
import os
import re

import numpy as np

from pipelines import binvox
from tf3d import conventions

# Front +X (ShapeNetCore v1) -> front +Z (tf3d): p_world = V1_TO_WORLD @ p_v1.
V1_TO_WORLD = conventions.rotation_y(-90.0).round()
V1_MESH = "model.obj"
V2_MESH = os.path.join("models", "model_normalized.obj")
V2_SOLID_BINVOX = os.path.join("models", "model_normalized.solid.binvox")
VOXEL_SOURCES = ("mesh", "binvox")


def category_name(synset):
    """tf3d category name of a ShapeNet synset id (the id itself if tf3d has no name for it)."""
    return conventions.SYNSETS.get(synset, synset)


def v1_grid_to_world(voxels):
    """Bool `[R, R, R]` grid in ShapeNet v1 axes -> the same solid in tf3d axes (exact).

    `V1_TO_WORLD` sends (x, y, z) to (-z, y, x), so voxel (i, j, k) of the
    result is voxel (k, j, R - 1 - i) of the input.
    """
    voxels = np.asarray(voxels)
    if voxels.ndim != 3 or len(set(voxels.shape)) != 1:
        raise ValueError(f"voxels must have shape [R, R, R], got {voxels.shape}")
    return np.ascontiguousarray(np.flip(voxels, axis=2).transpose(2, 1, 0))


# ----------------------------------------------------------------------------- splits


def read_split_file(path):
    """Model -> split from a split list file.

    Two formats:
      * JSON as the common 3D-R2N2 ports ship it (Pix2Vox's `ShapeNet.json`):
        a list of `{"taxonomy_id": "03001627", "train": [ids], "val": [ids],
        "test": [ids]}` entries;
      * text, one model per line: `<split> <synset>/<model_id>` or
        `<split> <model_id>`; `#` starts a comment.

    Returns:
      dict mapping `(synset, model_id)` (synset None when the file gives none)
      to "train", "val" or "test".
    """
    with open(path) as fh:
        text = fh.read()
    table = {}
    if text.lstrip().startswith(("[", "{")):
        entries = json.loads(text)
        for entry in [entries] if isinstance(entries, dict) else entries:
            synset = entry.get("taxonomy_id")
            for split in ("train", "val", "test"):
                for model_id in entry.get(split, []):
                    table[(synset, model_id)] = split
        return table
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("train", "val", "test"):
            raise ValueError(f"{path}:{number}: expected `<train|val|test> [<synset>/]<model_id>`, "
                             f"got {line!r}")
        synset, _, model_id = parts[1].rpartition("/")
        table[(synset or None, model_id)] = parts[0]
    return table


def splitter(split_file=None):
    """A function (synset, model_id) -> split; None for a model the split file leaves out.

    Without a file the split is `pipelines.shards.split_for(model_id)`, the
    hash split every tf3d source uses.
    """
    from pipelines import shards

    if split_file is None:
        return lambda synset, model_id: shards.split_for(model_id)
    table = read_split_file(split_file)

    def assign(synset, model_id):
        return table.get((synset, model_id), table.get((None, model_id)))

    return assign


def parse_synsets(text):
    """`"03001627,04379243"` -> `["03001627", "04379243"]`; None stays None (every synset)."""
    if text is None:
        return None
    synsets = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in synsets if not re.fullmatch(r"\d{8}", s)]
    if bad or not synsets:
        raise SystemExit(f"--synsets takes comma-separated 8-digit ShapeNet synset ids "
                         f"(e.g. 03001627 for chairs), got {text!r}")
    return synsets


def add_selection_arguments(parser):
    """Options shared by the shapenet and r2n2 sources."""
    parser.add_argument("--synsets", default=None,
                        help="comma-separated synset ids (default: every synset folder found)")
    parser.add_argument("--limit", type=int, default=None, help="at most N models per synset")
    parser.add_argument("--split-file", default=None,
                        help="train/val/test lists (ShapeNet.json or `<split> <synset>/<id>` lines); "
                             "default: a hash split by model id")


# ----------------------------------------------------------------------------- models


def find_models(root, synsets=None, limit=None):
    """`(synset, model_id, layout, path, solid_binvox)` of every model folder under `root`.

    `layout` is "v2" when `models/model_normalized.obj` exists, "v1" for
    `model.obj`, None for a folder with neither (it becomes a skipped model);
    `path` is the mesh file (or the folder); `solid_binvox` the v2 solid
    voxelization when there is one, else None.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"--root {root} is not a directory (the ShapeNetCore v1 or v2 folder "
                                f"holding <synset>/<model>/...)")
    if synsets is None:
        synsets = sorted(d for d in os.listdir(root) if re.fullmatch(r"\d{8}", d)
                         and os.path.isdir(os.path.join(root, d)))
    rows = []
    for synset in synsets:
        folder = os.path.join(root, synset)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"synset {synset} ({category_name(synset)}) is not under {root}")
        models = sorted(m for m in os.listdir(folder) if os.path.isdir(os.path.join(folder, m)))
        for model_id in models[:limit]:
            model_dir = os.path.join(folder, model_id)
            solid = os.path.join(model_dir, V2_SOLID_BINVOX)
            if os.path.isfile(os.path.join(model_dir, V2_MESH)):
                rows.append((synset, model_id, "v2", os.path.join(model_dir, V2_MESH),
                             solid if os.path.isfile(solid) else None))
            elif os.path.isfile(os.path.join(model_dir, V1_MESH)):
                rows.append((synset, model_id, "v1", os.path.join(model_dir, V1_MESH), None))
            else:
                rows.append((synset, model_id, None, model_dir, None))
    return rows


def sources(root, synsets=None, limit=None, split_file=None):
    """`shards.ModelSource`s of a ShapeNetCore copy (`extra`: layout, solid_binvox)."""
    from pipelines.shards import ModelSource

    assign = splitter(split_file)
    out = []
    for synset, model_id, layout, path, solid in find_models(root, synsets, limit):
        split = assign(synset, model_id)
        if split is not None:
            out.append(ModelSource(model_id=model_id, category=category_name(synset), split=split,
                                   path=path, extra={"layout": layout, "solid_binvox": solid}))
    return out


def binvox_to_grid(grid, scale, translation, resolution, supersample=4):
    """Resamples a binvox grid into tf3d's voxel cube.

    Args:
      grid: a `pipelines.binvox.Binvox` in the mesh's coordinates.
      scale, translation: the mesh's `conventions.normalization`.
      resolution: R of the result.
      supersample: sample points per target voxel along each axis.

    Returns:
      bool `[R, R, R]`: each voxel's volume fraction thresholded the way the
      voxelizer does (`pipelines.voxelize.occupancy_from_fraction`). The
      fraction is the mean over the voxel's sample points of the source
      voxel they fall in, counting source voxels on the solid's boundary as
      half inside: binvox marks every voxel the surface touches, so counting
      them whole would fatten each part by half a source voxel per side (the
      voxelizer treats its own fine surface voxels the same way).
    """
    from scipy import ndimage

    from pipelines.voxelize import occupancy_from_fraction

    fine = resolution * supersample
    cube = 2.0 * conventions.CUBE_HALF
    centres = -conventions.CUBE_HALF + (np.arange(fine) + 0.5) * (cube / fine)  # [n]
    index, valid = [], []
    for axis in range(3):
        mesh = (centres - translation[axis]) / scale  # back to the mesh's coordinates
        i = np.floor((mesh - grid.translate[axis]) / grid.scale * grid.resolution).astype(np.int64)
        valid.append((i >= 0) & (i < grid.resolution))
        index.append(np.clip(i, 0, grid.resolution - 1))
    solid = grid.voxels.astype(bool)
    interior = ndimage.binary_erosion(solid, ndimage.generate_binary_structure(3, 1), border_value=0)
    weight = np.where(interior, 1.0, np.where(solid, 0.5, 0.0))  # [S, S, S]
    inside = valid[0][:, None, None] & valid[1][None, :, None] & valid[2][None, None, :]  # [n, n, n]
    samples = weight[np.ix_(*index)] * inside
    fraction = samples.reshape(resolution, supersample, resolution, supersample,
                               resolution, supersample).mean(axis=(1, 3, 5))
    return occupancy_from_fraction(fraction)


def _replace_voxels(record, voxels):
    import tensorflow as tf

    from tf3d.data import records

    example = tf.train.Example.FromString(record)
    feature = example.features.feature
    feature["voxels"].bytes_list.value[:] = [records.pack_voxels(voxels)]
    feature["voxel_resolution"].int64_list.value[:] = [voxels.shape[0]]
    return example.SerializeToString()


def process_shapenet_shard(sources, work_dir, *, viewpoints, resolution, engine="workbench",
                           backend="auto", voxel_source="mesh"):
    """`shards.build_dataset` worker: ShapeNet models -> (source, record bytes or `SkipModel`).

    v1 meshes are turned into tf3d's frame and saved (cleaned) in `work_dir`;
    everything then goes through `pipelines.build.process_mesh_shard`. With
    `voxel_source="binvox"` a v2 model's solid binvox replaces the voxelized grid.
    """
    from pipelines import build as mesh_build
    from pipelines.meshes import BadMesh, load_mesh, save_obj
    from pipelines.shards import SkipModel

    if voxel_source not in VOXEL_SOURCES:
        raise ValueError(f"voxel_source must be one of {VOXEL_SOURCES}, got {voxel_source!r}")
    ready, originals, grids = [], {}, {}
    for index, source in enumerate(sources):
        layout = source.extra.get("layout")
        try:
            if layout is None:
                raise SkipModel(f"{source.path} holds neither {V1_MESH} (v1) nor {V2_MESH} (v2)")
            path = source.path
            if layout == "v1":
                vertices, faces = load_mesh(path)
                path = os.path.join(work_dir, f"v1-{index:05d}.obj")
                save_obj(path, vertices @ V1_TO_WORLD.T, faces)
            solid = source.extra.get("solid_binvox")
            if voxel_source == "binvox" and solid:
                vertices, _ = load_mesh(path)
                scale, translation = conventions.normalization(vertices)
                grid = binvox_to_grid(binvox.read(solid), scale, translation, resolution)
                if not grid.any():
                    raise SkipModel(f"{solid}: resamples to an empty grid")
                grids[source.model_id] = grid
        except (SkipModel, BadMesh, ValueError, OSError) as exc:
            yield source, exc if isinstance(exc, SkipModel) else SkipModel(str(exc))
            continue
        originals[source.model_id] = source
        ready.append(dataclasses.replace(source, path=path))
    if not ready:
        return
    for prepared, result in mesh_build.process_mesh_shard(
            ready, work_dir, viewpoints=viewpoints, resolution=resolution, engine=engine, backend=backend):
        source = originals[prepared.model_id]
        if isinstance(result, bytes) and source.model_id in grids:
            result = _replace_voxels(result, grids[source.model_id])
        yield source, result


# ----------------------------------------------------------------------------- command line


def add_arguments(parser):
    """Options of `python -m pipelines.build shapenet` (mesh options come from pipelines.build)."""
    parser.add_argument("--root", required=True,
                        help="ShapeNetCore v1 or v2 folder (holding <synset>/<model>/...)")
    add_selection_arguments(parser)
    parser.add_argument("--voxels", choices=VOXEL_SOURCES, default="mesh",
                        help="voxelize the meshes, or resample v2's shipped solid binvox")


def build(args):
    """ShapeNetCore v1/v2 meshes, normalized, voxelized and rendered like the synthetic data."""
    from pipelines import build as mesh_build
    from pipelines import shards

    synsets = parse_synsets(args.synsets)
    models = sources(args.root, synsets, args.limit, args.split_file)
    if not models:
        raise SystemExit(f"no models to build under {args.root}"
                         + (f" (all left out by {args.split_file})" if args.split_file else ""))
    viewpoints = dataclasses.replace(conventions.DEFAULT_VIEWPOINTS, image_size=args.image_size)
    config = {"source": "shapenet", "root": os.path.abspath(args.root), "synsets": synsets,
              "limit": args.limit, "split_file": args.split_file and os.path.abspath(args.split_file),
              "voxels": args.voxels, **mesh_build.mesh_build_config(args, viewpoints)}
    process = functools.partial(process_shapenet_shard, viewpoints=viewpoints, resolution=args.resolution,
                                engine=args.engine, backend=args.renderer, voxel_source=args.voxels)
    return shards.build_dataset(args.out, args.name or "shapenet", models, process, workers=args.workers,
                                build_config=config, viewpoints=viewpoints, progress=not args.quiet)
