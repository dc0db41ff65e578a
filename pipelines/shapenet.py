"""ShapeNetCore (v1 and v2) as a tf3d dataset.

Input layouts (both may be mixed under one root):

    v1: ROOT/<synset>/<model>/model.obj
    v2: ROOT/<synset>/<model>/models/model_normalized.obj
        (with model_normalized.solid.binvox / .surface.binvox beside it)

Frames. Both releases have +Y up but put the front elsewhere: v1 at +X, v2
at -Z (their READMEs; the evidence is quoted at `V1_TO_WORLD` below). tf3d's
front is +Z, so every mesh is turned about +Y before anything else: v1 by a
quarter turn (`V1_TO_WORLD`, +X -> +Z), v2 by a half turn (`V2_TO_WORLD`,
-Z -> +Z). Azimuth 0 then looks at the object's front for either release, as
it does for the synthetic data. Normalization, voxelization and
rendering are then the synthetic data's (`pipelines.build.process_mesh_shard`):
materials and textures are dropped, duplicate and degenerate faces removed
(`pipelines.meshes`), the voxelizer fills closed parts and keeps thin ones,
and Blender renders the cleaned mesh grayscale and untextured.

Voxels. `--voxels mesh` (default) voxelizes every mesh. `--voxels binvox`
takes a v2 model's shipped `model_normalized.solid.binvox` instead (v1 models
have none and are voxelized): the grid is resampled into the project's frame
and resolution (`binvox_to_grid`: the volume fraction of each target voxel,
then the voxelizer's own thresholding that keeps thin parts), then turned
into tf3d's frame like the mesh (`turn_grid`, exact).

A model that cannot be processed (unreadable or empty mesh, nothing left
after cleaning, an empty grid, a Blender failure) is skipped with its reason in
`tf3d_info.json` (`skipped`, `num_skipped`); the build goes on.

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

# Where each release puts an object's front, and the evidence (issue 17):
#
# * ShapeNetCore v1's README (http://shapenet.cs.stanford.edu/shapenet/obj-zip/ShapeNetCore.v1/README.txt):
#   "The OBJ files have been pre-aligned so that the up direction is the +Y axis, and the front is
#   the +X axis. [...] The X-Y plane is the bilateral symmetry plane for most categories."
# * v2's README (https://shapenet.org/resources/releases/shapenetcorev2/README.txt, also on
#   https://www.graviti.cn/open-datasets/ShapeNet): "The OBJ files are now pre-aligned so that the up
#   direction is the +Y axis, and the front is the -Z axis (this fixes the mirroring issue in
#   ShapeNetCore v1). The Y-Z plane is the bilateral symmetry plane for most categories."
# * v1 -> v2 is a proper turn about +Y, p_v2 = rotation_y(+90) @ p_v1, i.e. (x, y, z) -> (z, y, -x):
#   `shapenet_to_srn.py` (Jianfei Guo, Shanghai AI Lab; code that lines meshes of both releases up
#   with the SRN ShapeNet renderings) maps v1 by [[0, 0, 1], [1, 0, 0], [0, 1, 0]] and v2 by
#   [[1, 0, 0], [0, 0, -1], [0, 1, 0]] onto the same frame, and the two compose to that turn
#   (determinant +1, so no mirror between the releases). It sends v1's front +X to v2's -Z and v1's
#   symmetry plane z = 0 to v2's x = 0, as the two READMEs say.
# * The 3D-R2N2 release (v1 models): its 32^3 grids have the chairs' back rests at -X
#   (tests/test_r2n2.py, on real R2N2 chairs), and PyTorch3D's R2N2 loader
#   (facebookresearch/pytorch3d, pytorch3d/datasets/r2n2/utils.py `compute_extrinsic_matrix`, from
#   Mesh R-CNN) puts the camera of azimuth 0, elevation 0 on v1's +X axis once Blender's OBJ-import
#   turn is undone: R2N2's azimuth 0 looks at the front.
#
# tf3d's front is +Z (conventions.py; azimuth 0 puts the camera on +Z), so:
#   v1: rotation_y(-90), (x, y, z) -> (-z, y, x), front +X -> +Z. The opposite quarter turn,
#       rotation_y(+90), is v1 -> v2 and would put the front at -Z (the back towards azimuth 0).
#   v2: rotation_y(180), (x, y, z) -> (-x, y, -z), front -Z -> +Z.
# They agree: V2_TO_WORLD @ rotation_y(90) = rotation_y(270) = V1_TO_WORLD (pinned in tests).
# The "mirroring issue" is not a mirror between the releases' axes (the map above is a turn);
# https://shapenet.org/annotations lists "right-left flipping" among the problems of v1's
# Blender-based OBJ conversion, which no turn can undo, so v1 models are taken as shipped.
V1_TO_WORLD = conventions.rotation_y(-90.0).round()  # p_world = V1_TO_WORLD @ p_v1
V2_TO_WORLD = conventions.rotation_y(180.0).round()  # p_world = V2_TO_WORLD @ p_v2
TO_WORLD = {"v1": V1_TO_WORLD, "v2": V2_TO_WORLD}
V1_MESH = "model.obj"
V2_MESH = os.path.join("models", "model_normalized.obj")
V2_SOLID_BINVOX = os.path.join("models", "model_normalized.solid.binvox")
VOXEL_SOURCES = ("mesh", "binvox")


def category_name(synset):
    """tf3d category name of a ShapeNet synset id (the id itself if tf3d has no name for it)."""
    return conventions.SYNSETS.get(synset, synset)


def turn_grid(voxels, rotation):
    """Bool `[R, R, R]` grid turned by an axis-permuting rotation, exactly.

    Args:
      voxels: `[R, R, R]` grid in the source frame.
      rotation: `[3, 3]` rotation whose entries are 0 and +-1 (a turn that
        maps axes onto axes, such as `V1_TO_WORLD` or `V2_TO_WORLD`).

    Returns:
      the grid whose voxel centred at `rotation @ c` is the input's voxel
      centred at `c` (voxel centres are symmetric about 0, so none is lost).
    """
    voxels = np.asarray(voxels)
    if voxels.ndim != 3 or len(set(voxels.shape)) != 1:
        raise ValueError(f"voxels must have shape [R, R, R], got {voxels.shape}")
    rotation = np.asarray(rotation)
    source = np.abs(rotation).argmax(axis=1)  # output axis a reads input axis source[a]
    if not (np.array_equal(np.abs(rotation), np.eye(3)[source]) and sorted(source) == [0, 1, 2]):
        raise ValueError(f"rotation must map axes onto axes (entries 0 and +-1), got {rotation.tolist()}")
    turned = voxels.transpose(source)
    flips = tuple(a for a in range(3) if rotation[a, source[a]] < 0)
    return np.ascontiguousarray(np.flip(turned, axis=flips) if flips else turned)


def v1_grid_to_world(voxels):
    """Bool `[R, R, R]` grid in ShapeNet v1 axes -> the same solid in tf3d axes (exact).

    `V1_TO_WORLD` sends (x, y, z) to (-z, y, x), so voxel (i, j, k) of the
    result is voxel (k, j, R - 1 - i) of the input.
    """
    return turn_grid(voxels, V1_TO_WORLD)


def load_world_mesh(path, layout):
    """A ShapeNet mesh, cleaned (`pipelines.meshes.load_mesh`) and turned into tf3d's frame.

    Args:
      path: the model's mesh file.
      layout: "v1" or "v2" (see `find_models`).

    Returns:
      (vertices, faces): float64 `[V, 3]` with the front at +Z, int64 `[F, 3]`.
    """
    from pipelines.meshes import load_mesh

    if layout not in TO_WORLD:
        raise ValueError(f"layout must be one of {sorted(TO_WORLD)}, got {layout!r}")
    vertices, faces = load_mesh(path)
    return vertices @ TO_WORLD[layout].T, faces  # proper turn: face winding unchanged


def solid_grid(binvox_path, layout, world_vertices, resolution):
    """A shipped solid binvox resampled into tf3d's voxel cube and frame.

    Args:
      binvox_path: the model's `.solid.binvox`, in the coordinates of its mesh file.
      layout: the release whose axes that file uses ("v2"; "v1" works alike).
      world_vertices: `[V, 3]` the mesh from `load_world_mesh`, which the
        grid must line up with after normalization.
      resolution: R of the result.

    Returns:
      bool `[R, R, R]` in tf3d's frame.
    """
    rotation = TO_WORLD[layout]
    scale, translation = conventions.normalization(world_vertices)
    # Normalization commutes with these turns about +Y (bounding box centre and footprint turn
    # with the mesh, the scale stays), so resampling in the file's frame with the turned-back
    # translation and then turning the grid is exact.
    raw = binvox_to_grid(binvox.read(binvox_path), scale, rotation.T @ translation, resolution)
    return turn_grid(raw, rotation)


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


def splitter(split_file=None, split="hash"):
    """A function (synset, model_id) -> split; None for a model the split file leaves out.

    Without a file the split is `pipelines.shards.split_for(model_id)`, the
    hash split every tf3d source uses, or every model in `split` when it is
    "train", "val" or "test" (a check set kept whole, e.g. a few real shapes).
    """
    from pipelines import shards

    if split_file is not None and split != "hash":
        raise SystemExit(f"--split {split} and --split-file both say where models go; give one")
    if split_file is None:
        if split != "hash":
            return lambda synset, model_id: split
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
    from pipelines import shards

    shards.add_split_argument(parser)


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


def sources(root, synsets=None, limit=None, split_file=None, split="hash"):
    """`shards.ModelSource`s of a ShapeNetCore copy (`extra`: layout, solid_binvox)."""
    from pipelines.shards import ModelSource

    assign = splitter(split_file, split)
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
    return example.SerializeToString(deterministic=True)  # as records.encode_example


def prepare_model(source, mesh_path, *, resolution, voxel_source="mesh"):
    """One ShapeNet model in tf3d's frame: its turned mesh written to `mesh_path`, and its grid.

    Args:
      source: a `ModelSource` of `sources` (`extra`: layout, solid_binvox).
      mesh_path: where to write the cleaned, turned mesh (OBJ).
      resolution: R of the grid.
      voxel_source: "binvox" resamples the model's solid binvox when it has one.

    Returns:
      (mesh_path, grid): grid a bool `[R, R, R]` from the binvox, or None
      when the mesh is to be voxelized.

    Raises:
      SkipModel, BadMesh, ValueError, OSError: the model cannot be used.
    """
    from pipelines.meshes import save_obj
    from pipelines.shards import SkipModel

    layout = source.extra.get("layout")
    if layout is None:
        raise SkipModel(f"{source.path} holds neither {V1_MESH} (v1) nor {V2_MESH} (v2)")
    vertices, faces = load_world_mesh(source.path, layout)
    save_obj(mesh_path, vertices, faces)
    solid = source.extra.get("solid_binvox")
    if voxel_source != "binvox" or not solid:
        return mesh_path, None
    grid = solid_grid(solid, layout, vertices, resolution)
    if not grid.any():
        raise SkipModel(f"{solid}: resamples to an empty grid")
    return mesh_path, grid


def process_shapenet_shard(sources, work_dir, *, viewpoints, resolution, engine="workbench",
                           backend="auto", voxel_source="mesh", appearance=None):
    """`shards.build_dataset` worker: ShapeNet models -> (source, record bytes or `SkipModel`).

    Each mesh is turned into tf3d's frame and saved (cleaned) in `work_dir`
    (`prepare_model`); everything then goes through
    `pipelines.build.process_mesh_shard`. With `voxel_source="binvox"` a v2
    model's solid binvox replaces the voxelized grid.
    """
    from pipelines import build as mesh_build
    from pipelines.meshes import BadMesh
    from pipelines.shards import SkipModel

    if voxel_source not in VOXEL_SOURCES:
        raise ValueError(f"voxel_source must be one of {VOXEL_SOURCES}, got {voxel_source!r}")
    ready, originals, grids = [], {}, {}
    for index, source in enumerate(sources):
        try:
            path, grid = prepare_model(source, os.path.join(work_dir, f"shapenet-{index:05d}.obj"),
                                       resolution=resolution, voxel_source=voxel_source)
        except (SkipModel, BadMesh, ValueError, OSError) as exc:
            yield source, exc if isinstance(exc, SkipModel) else SkipModel(str(exc))
            continue
        if grid is not None:
            grids[source.model_id] = grid
        originals[source.model_id] = source
        ready.append(dataclasses.replace(source, path=path))
    if not ready:
        return
    for prepared, result in mesh_build.process_mesh_shard(
            ready, work_dir, viewpoints=viewpoints, resolution=resolution, engine=engine, backend=backend,
            appearance=appearance):
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
    models = sources(args.root, synsets, args.limit, args.split_file, args.split)
    if not models:
        raise SystemExit(f"no models to build under {args.root}"
                         + (f" (all left out by {args.split_file})" if args.split_file else ""))
    viewpoints = dataclasses.replace(conventions.DEFAULT_VIEWPOINTS, image_size=args.image_size)
    config = {"source": "shapenet", "root": os.path.abspath(args.root), "synsets": synsets,
              "limit": args.limit, "split_file": args.split_file and os.path.abspath(args.split_file), "split": args.split,
              "voxels": args.voxels, **mesh_build.mesh_build_config(args, viewpoints)}
    process = functools.partial(process_shapenet_shard, viewpoints=viewpoints, resolution=args.resolution,
                                engine=args.engine, backend=args.renderer, voxel_source=args.voxels,
                                appearance=mesh_build.appearance_of(args))
    return shards.build_dataset(args.out, args.name or "shapenet", models, process, workers=args.workers,
                                build_config=config, viewpoints=mesh_build.recorded_viewpoints(args, viewpoints),
                                progress=not args.quiet,
                                runner=mesh_build.runner_for(args))
