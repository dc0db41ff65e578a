"""3D-R2N2's ShapeNet release (ShapeNetRendering + ShapeNetVox32) as a tf3d dataset.

Input trees, as 3D-R2N2 (Choy et al., ECCV 2016) ships them:

    RENDERINGS/<synset>/<model>/rendering/{00..23}.png       137x137 RGBA
    RENDERINGS/<synset>/<model>/rendering/rendering_metadata.txt
    VOXELS/<synset>/<model>/model.binvox                      32^3, see pipelines.binvox

Each line of `rendering_metadata.txt` is one view: azimuth, elevation,
in-plane rotation (degrees), distance ratio, field of view (the last is not
what the renderer used, see below).

How the release lines up (measured on `../shared/r2n2-sample`, six chairs,
mean silhouette IoU >= 0.85 over all 144 views; see tests/test_r2n2.py):

* Frame. Voxels and renderings come from ShapeNetCore v1 meshes, whose front
  is +X; tf3d's world has the front at +Z, so grids are turned by
  `shapenet.V1_TO_WORLD` (a quarter turn about +Y: exact on voxels).
* Object. The renderings were made of the mesh normalized the ShapeNet v1 way:
  bounding box centred on the origin, diagonal 1. The voxel grid's header
  (translate/scale) does not reproduce that for most models; the bounding box
  of the occupied voxel cubes, centred and scaled to unit diagonal, does.
* Camera. 3D-R2N2's Blender setup: the camera at distance `ratio * 1.75`,
  looking at the origin with +Y up, a 35 mm lens on a 32 mm sensor (a
  49.1 degree field of view whatever the metadata says). With the quarter turn
  above, an R2N2 azimuth `a` is the tf3d azimuth `-a` and elevations are
  equal. The in-plane rotation `r` rolls the camera by `r` about the viewing
  axis (image content turns clockwise by `r`); every view of the public
  release has `r = 0`, so only the generated-data test exercises it.

Choice of frame for the records. The 32^3 grid is kept as it is (no
resampling, so no voxel is lost or invented) and the cameras are expressed in
the frame where that grid spans the voxel cube `[-0.5, 0.5]^3`: the unit-
diagonal frame above is a similarity of that one (`grid_similarity`), and a
pinhole projection is unchanged when camera coordinates are scaled, so each
camera is moved and its extrinsics scaled instead of the voxels. The cameras
then look at the centre of the occupied voxels' bounding box, which binvox put
within half a voxel of the grid centre; azimuths and elevations stored in the
records are the true directions of the cameras, so the pipeline's viewer-
centred rotation about +Y applies unchanged.

Images are converted to the tf3d format: luminance (ITU-R 601) composited
over white, and the alpha channel as the mask. R2N2 renderings are textured;
their texture survives as shading in the grayscale image (it cannot be
removed from a rendering).
"""

import io
import math
import os

import numpy as np

from pipelines import binvox, shapenet
from tf3d import conventions

NUM_VIEWS = 24
IMAGE_SIZE = 137
DISTANCE_SCALE = 1.75  # 3D-R2N2's renderer: camera distance = distance ratio * 1.75
LENS_MM = 35.0
SENSOR_MM = 32.0
FOV_DEG = 2.0 * math.degrees(math.atan(0.5 * SENSOR_MM / LENS_MM))
METADATA_FILE = "rendering_metadata.txt"
VOXEL_FILE = "model.binvox"


# ----------------------------------------------------------------------------- cameras


def read_metadata(path):
    """`[V, 5]` float array of a `rendering_metadata.txt`: (azimuth, elevation, in-plane, ratio, fov)."""
    with open(path) as fh:
        return parse_metadata(fh.read(), name=path)


def parse_metadata(text, name="<metadata>"):
    """Parses the text of a `rendering_metadata.txt` (see `read_metadata`)."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            values = [float(v) for v in line.split()]
        except ValueError:
            values = []
        if len(values) != 5 or not all(math.isfinite(v) for v in values):
            raise ValueError(f"{name}:{number}: expected 5 numbers (azimuth elevation in-plane "
                             f"distance-ratio fov), got {line.strip()!r}")
        if values[3] <= 0.0:
            raise ValueError(f"{name}:{number}: distance ratio must be positive, got {values[3]}")
        rows.append(values)
    if not rows:
        raise ValueError(f"{name}: no views")
    return np.asarray(rows, dtype=np.float64)


def _roll(degrees):
    """`[3, 3]` rotation about the camera's optical axis (OpenCV z)."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def view_cameras(metadata):
    """tf3d cameras of R2N2 views in the unit-diagonal object frame (tf3d axes).

    Args:
      metadata: `[V, 5]` rows of `read_metadata`.

    Returns:
      (azimuths `[V]`, elevations `[V]`, intrinsics `[V, 3, 3]`,
      extrinsics `[V, 3, 4]`), angles in degrees in tf3d's convention.
    """
    metadata = np.asarray(metadata, dtype=np.float64)
    if metadata.ndim != 2 or metadata.shape[1] != 5:
        raise ValueError(f"metadata must have shape [V, 5], got {metadata.shape}")
    azimuths = np.mod(-metadata[:, 0], 360.0)
    elevations = metadata[:, 1]
    extrinsics = []
    for azimuth, elevation, in_plane, ratio in zip(azimuths, elevations, metadata[:, 2], metadata[:, 3]):
        eye = conventions.camera_position(azimuth, elevation, ratio * DISTANCE_SCALE)
        extrinsics.append(_roll(in_plane) @ conventions.look_at_extrinsics(eye))
    intrinsic = conventions.intrinsics(FOV_DEG, IMAGE_SIZE)
    return (azimuths, elevations, np.repeat(intrinsic[None], len(metadata), axis=0),
            np.stack(extrinsics))


def grid_similarity(voxels):
    """How the unit-diagonal object frame sits in the voxel cube of `voxels`.

    Args:
      voxels: bool `[R, R, R]` grid in tf3d axes, not empty.

    Returns:
      (scale, centre): a point `w` of the voxel cube (tf3d units) is the point
      `scale * (w - centre)` of the unit-diagonal frame, `centre` `[3]` being
      the centre of the occupied voxels' bounding box.
    """
    voxels = np.asarray(voxels, dtype=bool)
    occupied = np.argwhere(voxels)
    if len(occupied) == 0:
        raise ValueError("the voxel grid is empty")
    resolution = voxels.shape[0]
    lo, hi = occupied.min(axis=0), occupied.max(axis=0) + 1.0  # voxel cubes, voxel units
    cube = 2.0 * conventions.CUBE_HALF
    scale = resolution / (cube * np.linalg.norm(hi - lo))
    centre = -conventions.CUBE_HALF + 0.5 * (lo + hi) * (cube / resolution)
    return float(scale), centre


def to_grid_frame(extrinsics, scale, centre):
    """Extrinsics `[V, 3, 4]` of the unit-diagonal frame -> the voxel cube's frame.

    With `p = scale * (w - centre)`, `R p + t = scale * (R w + t / scale - R centre)`;
    dropping the common factor leaves the projection unchanged.
    """
    extrinsics = np.asarray(extrinsics, dtype=np.float64)
    rotation, translation = extrinsics[..., :3], extrinsics[..., 3]
    moved = translation / scale - rotation @ np.asarray(centre, dtype=np.float64)
    return np.concatenate([rotation, moved[..., None]], axis=-1)


def model_cameras(voxels, metadata):
    """(azimuths, elevations, intrinsics, extrinsics) of every view, for a grid in tf3d axes."""
    azimuths, elevations, intrinsics, extrinsics = view_cameras(metadata)
    scale, centre = grid_similarity(voxels)
    return azimuths, elevations, intrinsics, to_grid_frame(extrinsics, scale, centre)


def read_voxels(path):
    """Bool `[R, R, R]` grid of an R2N2 `model.binvox`, turned into tf3d's axes and frame."""
    return shapenet.v1_grid_to_world(binvox.read(path).voxels)


# ----------------------------------------------------------------------------- images


def convert_image(rgba_png):
    """R2N2 RGBA PNG bytes -> (grayscale-over-white PNG bytes, alpha PNG bytes)."""
    from PIL import Image

    with Image.open(io.BytesIO(rgba_png)) as im:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float64)
    luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])  # [h, w]
    alpha = rgba[..., 3] / 255.0
    gray = luminance * alpha + 255.0 * (1.0 - alpha)
    return _png(np.round(gray)), _png(rgba[..., 3])


def _png(array):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


# ----------------------------------------------------------------------------- models


def encode_model(model_id, category, rendering_dir, voxel_path):
    """Serialized tf3d record of one R2N2 model.

    Raises:
      ValueError (with the file at fault) for missing or malformed inputs and
      for an empty grid.
    """
    from tf3d.data import records

    metadata_path = os.path.join(rendering_dir, METADATA_FILE)
    if not os.path.isfile(metadata_path):
        raise ValueError(f"no {METADATA_FILE} in {rendering_dir}")
    if not os.path.isfile(voxel_path):
        raise ValueError(f"no voxel grid {voxel_path}")
    metadata = read_metadata(metadata_path)
    voxels = read_voxels(voxel_path)
    if not voxels.any():
        raise ValueError(f"{voxel_path}: the voxel grid is empty")
    images, masks = [], []
    for view in range(len(metadata)):
        path = os.path.join(rendering_dir, f"{view:02d}.png")
        if not os.path.isfile(path):
            raise ValueError(f"{path} is missing ({len(metadata)} views in {METADATA_FILE})")
        with open(path, "rb") as fh:
            image, mask = convert_image(fh.read())
        images.append(image)
        masks.append(mask)
    sizes = {records._png_size(m) for m in masks}
    if sizes != {IMAGE_SIZE}:
        raise ValueError(f"{rendering_dir}: renderings are {sorted(sizes)} px, R2N2's are {IMAGE_SIZE}")
    azimuths, elevations, intrinsics, extrinsics = model_cameras(voxels, metadata)
    return records.encode_example(
        model_id=model_id, category=category, voxels=voxels, images=images, masks=masks,
        azimuths=azimuths, elevations=elevations, intrinsics=intrinsics, extrinsics=extrinsics)


def process_r2n2_shard(sources, work_dir):
    """`shards.build_dataset` worker: yields (source, record bytes or `SkipModel`).

    `source.path` is the model's rendering directory and
    `source.extra["voxels"]` its `model.binvox`.
    """
    from pipelines.shards import SkipModel

    del work_dir  # nothing to render: R2N2 ships its images
    for source in sources:
        try:
            yield source, encode_model(source.model_id, source.category, source.path,
                                       source.extra["voxels"])
        except (ValueError, OSError) as error:
            yield source, SkipModel(str(error))


def find_models(renderings, voxels, synsets=None, limit=None):
    """(synset, model_id, rendering_dir, voxel_path) of the models in either tree.

    A model present in one tree only is listed (its missing half makes it a
    skipped model with a reason rather than vanish silently).

    Args:
      renderings: the ShapeNetRendering directory (holding synset folders).
      voxels: the ShapeNetVox32 directory.
      synsets: synset ids to take, or None for every synset folder found.
      limit: at most this many models per synset (the first in sorted order).
    """
    for root, what in ((renderings, "--renderings"), (voxels, "--voxels")):
        if not os.path.isdir(root):
            raise FileNotFoundError(f"{what} {root} is not a directory")
    if synsets is None:
        synsets = sorted(d for d in set(os.listdir(renderings)) | set(os.listdir(voxels))
                         if os.path.isdir(os.path.join(renderings, d)) or os.path.isdir(os.path.join(voxels, d)))
    rows = []
    for synset in synsets:
        found = set()
        for root in (renderings, voxels):
            folder = os.path.join(root, synset)
            if os.path.isdir(folder):
                found.update(m for m in os.listdir(folder) if os.path.isdir(os.path.join(folder, m)))
        if not found:
            raise FileNotFoundError(f"synset {synset} is in neither {renderings} nor {voxels}")
        for model_id in sorted(found)[:limit]:
            rows.append((synset, model_id, os.path.join(renderings, synset, model_id, "rendering"),
                         os.path.join(voxels, synset, model_id, VOXEL_FILE)))
    return rows


def sources(renderings, voxels, synsets=None, limit=None, split_file=None, split="hash"):
    """`shards.ModelSource`s of an R2N2 copy, split by `split_file` or by model id."""
    from pipelines.shards import ModelSource

    assign = shapenet.splitter(split_file, split)
    out = []
    for synset, model_id, rendering_dir, voxel_path in find_models(renderings, voxels, synsets, limit):
        split = assign(synset, model_id)
        if split is not None:
            out.append(ModelSource(model_id=model_id, category=shapenet.category_name(synset),
                                   split=split, path=rendering_dir, extra={"voxels": voxel_path}))
    return out


def add_arguments(parser):
    """Options of `python -m pipelines.build r2n2` (`--out`, `--workers`... come from pipelines.build)."""
    parser.add_argument("--renderings", required=True, help="the ShapeNetRendering directory")
    parser.add_argument("--voxels", required=True, help="the ShapeNetVox32 directory")
    shapenet.add_selection_arguments(parser)


def build(args):
    """3D-R2N2's renderings and 32^3 voxels (ShapeNetRendering + ShapeNetVox32), views kept."""
    from pipelines import shards

    synsets = shapenet.parse_synsets(args.synsets)
    models = sources(args.renderings, args.voxels, synsets, args.limit, args.split_file, args.split)
    if not models:
        raise SystemExit(f"no models to build from {args.renderings} and {args.voxels}"
                         + (f" (all left out by {args.split_file})" if args.split_file else ""))
    config = {"source": "r2n2", "renderings": os.path.abspath(args.renderings),
              "voxels": os.path.abspath(args.voxels), "synsets": synsets, "limit": args.limit,
              "split_file": args.split_file and os.path.abspath(args.split_file), "split": args.split,
              "camera": {"distance_scale": DISTANCE_SCALE, "fov": FOV_DEG, "image_size": IMAGE_SIZE,
                         "frame": "grid spans the voxel cube; cameras moved (see pipelines/r2n2.py)"}}
    from pipelines import build

    return shards.build_dataset(args.out, args.name or "r2n2", models, process_r2n2_shard,
                                workers=args.workers, build_config=config, viewpoints=None,
                                progress=not args.quiet, runner=build.runner_for(args))
