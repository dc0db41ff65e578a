"""Voxel-only datasets as a tf3d source: `python -m pipelines.build voxels --root DIR --format binvox ...`.

Each grid (binvox, `.npy` or `.mat`, cubic, any resolution) is turned into
tf3d's axes (`--up`, `--front`: the grid axes that point up and to the
object's front; ShapeNetVox32 is `--up +Y --front +X`), made into a closed
mesh, rendered through the same Blender path as every mesh source
(`pipelines.build.render_prepared`) and written to the same shards.

Meshes (`grid_mesh`):

* `cubes` (default): the grid's own boundary, one closed surface of the
  voxel faces that separate an occupied voxel from an empty one (two
  triangles each, on the shared lattice of voxel corners, wound outward).
  Every edge borders two faces, or four where voxels touch along an edge
  only; hidden faces between occupied voxels are not made, so the mesh has
  about a sixth of the faces of a box per surface voxel. The voxelizer's
  flood fill gives the grid back exactly and the renderings show the blocky
  shape the target holds.
* `smooth`: scikit-image's marching cubes at level 1/2 (the surface halfway
  between occupied and empty voxel centres) and a few steps of Taubin
  smoothing (trimesh), which rounds the staircase without shrinking the solid.

Frames (`--frame`):

* `tf3d` (default): the mesh is normalized like every mesh source
  (`conventions.normalize_vertices`) and voxelized by `pipelines.voxelize`,
  so the records follow the synthetic data's normalization: a model trained on
  it meets these shapes at the scale it learned. The target is the grid
  resampled by the voxelizer (equal to it, to within one voxel, when the
  normalization leaves the scale alone: `tests/test_voxel_source.py`).
* `grid`: the grid itself is the target, unchanged, and the mesh is rendered
  where the grid lies in the voxel cube (Blender's `--in-place`); models keep
  the scale their dataset gave them (ShapeNetVox32 fits the largest side to
  the grid), which tf3d's normalization does not.
"""

import os

import numpy as np

from tf3d import conventions

FORMATS = {"binvox": ".binvox", "npy": ".npy", "mat": ".mat"}
MESHES = ("cubes", "smooth")
FRAMES = ("tf3d", "grid")
_AXES = {"+X": (0, 1.0), "-X": (0, -1.0), "+Y": (1, 1.0), "-Y": (1, -1.0), "+Z": (2, 1.0), "-Z": (2, -1.0)}


# ----------------------------------------------------------------------------- grids


def read_grid(path, fmt, mat_key=None):
    """Bool `[R, R, R]` grid of a file in the file's own axes.

    Args:
      fmt: "binvox", "npy" (any numeric or bool array, nonzero = occupied) or
        "mat" (MATLAB; the variable `mat_key`, or the file's only 3-D array).

    Raises:
      ValueError naming the file for an unknown format, a non-cubic grid or an ambiguous .mat.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {sorted(FORMATS)}, got {fmt!r}")
    if fmt == "binvox":
        from pipelines import binvox

        grid = binvox.read(path).voxels
    elif fmt == "npy":
        grid = np.load(path, allow_pickle=False)
    else:
        from scipy import io

        arrays = {k: v for k, v in io.loadmat(path).items() if not k.startswith("__")}
        if mat_key is None:
            cubes = [k for k, v in arrays.items() if np.ndim(v) == 3]
            if len(cubes) != 1:
                raise ValueError(f"{path}: holds {len(cubes)} 3-D arrays ({cubes}); name one with --mat-key")
            mat_key = cubes[0]
        if mat_key not in arrays:
            raise ValueError(f"{path}: no variable {mat_key!r} (has {sorted(arrays)})")
        grid = arrays[mat_key]
    grid = np.asarray(grid)
    if grid.ndim != 3 or len(set(grid.shape)) != 1:
        raise ValueError(f"{path}: expected a cubic [R, R, R] grid, got shape {grid.shape}")
    return grid != 0


def axes_rotation(up="+Y", front="+Z"):
    """`[3, 3]` rotation taking a grid's axes to tf3d's: rows are the grid's right, up and front axes.

    Raises:
      ValueError: `up` or `front` is not one of +X..-Z, or they are parallel.
    """
    for name, value in (("up", up), ("front", front)):
        if value not in _AXES:
            raise ValueError(f"{name} must be one of {sorted(_AXES)}, got {value!r}")
    rows = np.zeros((3, 3))
    for row, (axis, sign) in ((1, _AXES[up]), (2, _AXES[front])):
        rows[row, axis] = sign
    if abs(np.dot(rows[1], rows[2])) > 0:
        raise ValueError(f"up and front must be different axes, got up={up!r}, front={front!r}")
    rows[0] = np.cross(rows[1], rows[2])  # tf3d's +X = +Y x +Z: a right-handed turn, never a mirror
    return rows


def to_world(grid, up="+Y", front="+Z"):
    """The grid turned into tf3d's axes (+Y up, +Z front), exactly (`shapenet.turn_grid`)."""
    from pipelines import shapenet

    return shapenet.turn_grid(grid, axes_rotation(up, front))


# ----------------------------------------------------------------------------- meshes


def grid_mesh(grid, mesh="cubes", smoothing=10):
    """Closed mesh of a bool `[R, R, R]` grid in the voxel cube (voxel i spans -1/2 + [i, i + 1] / R).

    Returns:
      (vertices float64 `[V, 3]`, faces int64 `[F, 3]`), outward.
    """
    import trimesh

    grid = np.asarray(grid, dtype=bool)
    if grid.ndim != 3 or len(set(grid.shape)) != 1:
        raise ValueError(f"grid must have shape [R, R, R], got {grid.shape}")
    if not grid.any():
        raise ValueError("grid holds no occupied voxel")
    if mesh not in MESHES:
        raise ValueError(f"mesh must be one of {MESHES}, got {mesh!r}")
    resolution = grid.shape[0]
    pitch, first = 2.0 * conventions.CUBE_HALF / resolution, -conventions.CUBE_HALF
    if mesh == "cubes":
        vertices, faces = boundary_faces(grid)
        return first + pitch * vertices, faces
    from skimage import measure

    padded = np.pad(grid.astype(np.float32), 1)
    vertices, faces, _, _ = measure.marching_cubes(padded, level=0.5)
    vertices = first + (vertices - 1.0 + 0.5) * pitch  # padded index -> cube coordinates of voxel centres
    # skimage winds faces towards increasing values (the inside): flip them outward.
    surface = trimesh.Trimesh(vertices, faces[:, ::-1], process=True)
    if smoothing:
        trimesh.smoothing.filter_taubin(surface, iterations=smoothing)
    return np.asarray(surface.vertices, np.float64), np.asarray(surface.faces, np.int64)


def boundary_faces(grid):
    """The faces between occupied and empty voxels of a bool `[R, R, R]` grid, as one closed mesh.

    Neither trimesh (`VoxelGrid.as_boxes` makes a closed box per voxel,
    hidden faces included; marching cubes cuts corners) nor scikit-image makes
    the exact blocky boundary: the faces are `tf3d.alignment.exposed_faces`,
    welded on the lattice of voxel corners and wound outward here.

    Returns:
      (vertices float64 `[V, 3]` in voxel-corner units, 0..R; faces int64
      `[F, 3]`, wound outward).
    """
    from tf3d import alignment

    grid = np.asarray(grid, dtype=bool)
    corners, normals = alignment.exposed_faces(grid)  # [Q, 4, 3], [Q, 3]
    corners = np.rint(corners).astype(np.int64)
    turn = np.cross(corners[:, 1] - corners[:, 0], corners[:, 3] - corners[:, 0])
    corners = np.where((np.einsum("qi,qi->q", turn, normals) < 0)[:, None, None], corners[:, ::-1], corners)
    side = grid.shape[0] + 1
    keys = (corners[..., 0] * side + corners[..., 1]) * side + corners[..., 2]
    unique, index = np.unique(keys.ravel(), return_inverse=True)
    index = index.reshape(-1, 4)
    vertices = np.stack(np.unravel_index(unique, (side,) * 3), axis=1).astype(np.float64)
    faces = np.concatenate([index[:, [0, 1, 2]], index[:, [0, 2, 3]]]).astype(np.int64)
    return vertices, faces


# ----------------------------------------------------------------------------- the build source


def prepare(grid, mesh, frame, resolution=conventions.DEFAULT_RESOLUTION):
    """(vertices, faces, target voxels) of a grid in tf3d's axes, for `frame` (see the module docstring)."""
    from pipelines.voxelize import voxelize

    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {FRAMES}, got {frame!r}")
    vertices, faces = grid_mesh(grid, mesh)
    if frame == "grid":
        if grid.shape[0] != resolution:
            raise ValueError(f"--frame grid keeps the grid: its resolution {grid.shape[0]} must be "
                             f"--resolution {resolution}")
        return vertices, faces, np.asarray(grid, dtype=bool)
    vertices = conventions.normalize_vertices(vertices)
    return vertices, faces, voxelize(vertices, faces, resolution)


def process_voxel_shard(sources, work_dir, *, viewpoints, resolution, mesh, frame, engine="workbench",
                        backend="auto", appearance=None):
    """`shards.build_dataset` worker: grid -> mesh -> Blender -> record, per source."""
    from pipelines import build, shards
    from pipelines.meshes import save_obj

    prepared = []
    for index, source in enumerate(sources):
        try:
            grid = to_world(read_grid(source.path, source.extra["format"], source.extra.get("mat_key")),
                            source.extra["up"], source.extra["front"])
            vertices, faces, voxels = prepare(grid, mesh, frame, resolution)
            if not voxels.any():
                raise ValueError("voxelizes to an empty grid")
        except (ValueError, OSError) as exc:
            yield source, shards.SkipModel(str(exc))
            continue
        mesh_path = os.path.abspath(os.path.join(work_dir, f"{index:05d}.obj"))
        save_obj(mesh_path, vertices, faces)
        prepared.append((source, voxels, mesh_path, os.path.join(work_dir, f"{index:05d}")))
    yield from build.render_prepared(prepared, viewpoints=viewpoints, engine=engine, backend=backend,
                                     in_place=frame == "grid", appearance=appearance)


def find_grids(root, fmt, limit=None):
    """(model_id, path) of every grid file of format `fmt` under `root`, sorted.

    A file named `model.<ext>` (ShapeNetVox32's layout) takes its folder's name
    as its id; others their own name; nested folders join with '-'.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"--root {root} is not a directory")
    ext = FORMATS[fmt]
    rows = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(ext):
                parts = os.path.relpath(os.path.join(folder, name), root)[:-len(ext)].split(os.sep)
                if parts[-1] == "model" and len(parts) > 1:
                    parts = parts[:-1]
                rows.append(("-".join(parts), os.path.join(folder, name)))
    rows.sort()
    return rows[:limit] if limit else rows


def add_arguments(parser):
    """Options of `python -m pipelines.build voxels` (`--out`, `--workers`... come from pipelines.build)."""
    parser.add_argument("--root", required=True, help="directory searched recursively for grid files")
    parser.add_argument("--format", choices=sorted(FORMATS), required=True, help="grid file format")
    parser.add_argument("--category", required=True, help="category name of every model (e.g. chair)")
    parser.add_argument("--up", choices=sorted(_AXES), default="+Y", help="the grid axis pointing up")
    parser.add_argument("--front", choices=sorted(_AXES), default="+Z",
                        help="the grid axis pointing to the object's front (ShapeNetVox32: +X)")
    parser.add_argument("--mesh", choices=MESHES, default="cubes", help="cube faces or smoothed marching cubes")
    parser.add_argument("--frame", choices=FRAMES, default="tf3d",
                        help="tf3d: normalize and re-voxelize like every mesh source; grid: keep the grid")
    parser.add_argument("--mat-key", default=None, help=".mat variable holding the grid (default: the only 3-D one)")
    parser.add_argument("--limit", type=int, default=None, help="at most N grids (sorted by id)")
    from pipelines import shards

    shards.add_split_argument(parser)


def build(args):
    """Voxel grids (binvox, npy, mat) made into meshes and rendered like every mesh source."""
    import functools

    from pipelines import build as builder
    from pipelines import shards

    viewpoints = builder._viewpoints(args)
    axes_rotation(args.up, args.front)  # bad axes fail before any work
    found = find_grids(args.root, args.format, args.limit)
    if not found:
        raise SystemExit(f"no {FORMATS[args.format]} files under {args.root}")
    extra = {"format": args.format, "up": args.up, "front": args.front, "mat_key": args.mat_key}
    sources = [shards.ModelSource(model_id=model_id, category=args.category, path=path, extra=extra,
                                  split=shards.split_for(model_id) if args.split == "hash" else args.split)
               for model_id, path in found]
    config = {"source": "voxels", "root": os.path.abspath(args.root), "format": args.format,
              "category": args.category, "up": args.up, "front": args.front, "mesh": args.mesh,
              "frame": args.frame, "limit": args.limit, "split": args.split, **builder.mesh_build_config(args, viewpoints)}
    processor = functools.partial(process_voxel_shard, viewpoints=viewpoints, resolution=args.resolution,
                                  mesh=args.mesh, frame=args.frame, engine=args.engine, backend=args.renderer,
                                  appearance=builder.appearance_of(args))
    return shards.build_dataset(args.out, args.name or "voxels", sources, processor, workers=args.workers,
                                build_config=config, viewpoints=builder.recorded_viewpoints(args, viewpoints),
                                progress=not args.quiet)
