"""`python -m pipelines.preview DIR -o docs/dataset_samples.png`: a picture of a dataset.

One row per record (from the validation split): the Blender rendering of view
0, the record's voxel grid drawn through the same camera, the rendering of a
second view, and the alignment of that view (white: mask and projected voxels
agree, red: mask only, blue: voxels only).

For a room-scene dataset (`python -m pipelines.build rooms`, or a directory
of `.npy`/`.npz` label grids) the picture is instead a grid of coloured
cut-away renderings of its scenes (`scene_grid`, `tf3d.training.scene_render`),
three per row, with the class colours as a legend underneath:

    python -m pipelines.preview data/rooms -o docs/rooms_samples.png --num 6

`python -m pipelines.preview --families -o docs/synthetic_families.png` draws
instead a contact sheet of the synthetic generator: every family of
`pipelines.synthetic.FAMILIES` for a few seeds, rendered through the dataset's
Blender path from a three-quarter front view.
"""

import os
import sys

import numpy as np

from tf3d import cli


def _split_files(directory, split):
    """Shard paths of `split` from `tf3d_info.json`; FileNotFoundError if it has none."""
    from tf3d.data import records

    info = records.read_info(directory)
    shards = info.get("splits", {}).get(split, {}).get("shards", [])
    if not shards:
        raise FileNotFoundError(f"{directory} has no {split!r} records (splits: "
                                f"{sorted(info.get('splits', {}))}); pick one with --split")
    return [directory.rstrip("/") + "/" + s["file"] for s in shards]


def sample_grid(directory, num=6, split="val", view=1):
    """uint8 `[num * S, 4 * S, 3]` image of `num` records of `split`."""
    import tensorflow as tf

    from tf3d import alignment, conventions
    from tf3d.data import records
    from tf3d.training.voxel_render import render_voxels

    if num <= 0:
        raise ValueError(f"num must be positive, got {num}")
    files = _split_files(directory, split)
    rows = []
    for raw in tf.data.TFRecordDataset(files).take(num):
        r = records.decode_example(raw.numpy())
        size = r["images"].shape[-1]
        gray = lambda a: np.repeat(a[..., None], 3, axis=-1)  # noqa: E731
        voxels = render_voxels(r["voxels"], elevation=float(r["elevations"][0]),
                               distance=float(np.linalg.norm(-r["extrinsics"][0][:, :3].T @ r["extrinsics"][0][:, 3])),
                               fov=float(np.degrees(2 * np.arctan(0.5 * size / r["intrinsics"][0][0, 0]))),
                               image_size=size) if abs(r["azimuths"][0]) < 1e-6 else np.full((size, size), 255, np.uint8)
        projection = conventions.projection_matrix(r["intrinsics"][view], r["extrinsics"][view])
        vox_mask = alignment.voxel_silhouette(r["voxels"], projection, size)
        img_mask = alignment.mask_from_alpha(r["masks"][view])
        overlay = np.zeros((size, size, 3), np.uint8)
        overlay[img_mask & vox_mask] = 255
        overlay[img_mask & ~vox_mask] = (230, 40, 40)
        overlay[~img_mask & vox_mask] = (40, 110, 230)
        rows.append(np.concatenate([gray(r["images"][0]), gray(voxels), gray(r["images"][view]), overlay], 1))
    if not rows:
        raise ValueError(f"split {split!r} of {directory} has no records")
    return np.concatenate(rows, 0)


def ops_figure(directory, split="train", view=1):
    """uint8 `[S, 5 * S]`: Blender image and mask of one synthetic record's view, next to
    the custom ops' mesh silhouette (from the record's mesh file), voxel silhouette, and
    their difference with the Blender mask (white agree, gray differ)."""
    import tensorflow as tf

    from pipelines.build import synthetic_mesh_dir
    from pipelines.meshes import load_mesh
    from tf3d import conventions
    from tf3d.data import records
    from tf3d.ops.preview import render_mesh, render_voxels

    files = _split_files(directory, split)
    r = records.decode_example(next(iter(tf.data.TFRecordDataset(files).take(1))).numpy())
    config = records.read_info(directory).get("build_config", {})
    if "generator_version" in config:
        mesh_dir = synthetic_mesh_dir(directory, config["seed"], config["generator_version"])
    else:  # built before the mesh cache was keyed by seed and generator version
        mesh_dir = os.path.join(directory, "meshes")
    mesh_path = os.path.join(mesh_dir, r["category"], r["model_id"] + ".obj")
    if not os.path.exists(mesh_path):
        raise FileNotFoundError(f"--ops needs the meshes of a synthetic build, and {mesh_path} is "
                                f"missing; rebuild with `python -m pipelines.build synthetic --out {directory}`")
    vertices, faces = load_mesh(mesh_path)
    vertices = conventions.normalize_vertices(vertices)
    k, e, size = r["intrinsics"][view], r["extrinsics"][view], r["images"].shape[-1]
    mesh = render_mesh(vertices, faces, k, e, size)
    voxels = render_voxels(r["voxels"], k, e, size)
    mask = r["masks"][view] >= 128
    diff = np.where((mesh >= 0.5) == mask, 255, 128).astype(np.uint8)
    tiles = [r["images"][view], r["masks"][view], (255 * (1 - mesh)).astype(np.uint8),
             (255 * (1 - voxels)).astype(np.uint8), diff]
    return np.concatenate(tiles, axis=1)


def families_figure(seeds=(0, 1), size=160, columns=8):
    """uint8 `[rows * size, columns * size]` contact sheet: one tile per (family, seed), labelled.

    Tiles run family by family (chairs, then tables), the seeds of a family
    side by side; each is the generated mesh rendered by `render.render_meshes`
    at azimuth 35 degrees, elevation 20 degrees.
    """
    import tempfile

    from PIL import Image, ImageDraw

    from pipelines import render, synthetic
    from tf3d import conventions

    if not seeds or size < 32 or columns < 1:
        raise ValueError(f"seeds must be non-empty, size >= 32 and columns >= 1, got {seeds}, {size}, {columns}")
    views = conventions.ViewpointSet(azimuths=(35.0,), elevation=20.0, image_size=size)
    tiles = [(c, f, s) for c in synthetic.FAMILIES for f in synthetic.FAMILIES[c] for s in seeds]
    with tempfile.TemporaryDirectory(prefix="tf3d_families_") as tmp:
        jobs = []
        for k, (category, family, seed) in enumerate(tiles):
            path = os.path.join(tmp, f"{k:03d}.obj")
            synthetic.write_mesh(synthetic.generate(category, seed, family), path)
            jobs.append((path, os.path.join(tmp, f"{k:03d}")))
        failures = render.render_meshes(jobs, views)
        if failures:
            raise RuntimeError(f"Blender could not render {failures}")
        images = [render.load_rendering(out)[0][0] for _, out in jobs]
    rows = -(-len(tiles) // columns)
    sheet = Image.new("L", (columns * size, rows * size), 255)
    draw = ImageDraw.Draw(sheet)
    for k, ((category, family, seed), image) in enumerate(zip(tiles, images)):
        x, y = (k % columns) * size, (k // columns) * size
        sheet.paste(Image.fromarray(image), (x, y))
        draw.text((x + 3, y + 2), f"{category}: {family} #{seed}", fill=0)
    return np.asarray(sheet)


def is_scene_dataset(directory):
    """True for a room-scene dataset (`tf3d.data.scenes`) or a directory of label grids."""
    from tf3d.data import scenes

    try:
        scenes.read_info(directory)
    except FileNotFoundError:
        return False
    return True


def scene_grid(directory, num=6, split="val", columns=3, size=256):
    """uint8 RGB picture of `num` scenes of `split`, `columns` per row, with a class legend."""
    from PIL import Image, ImageDraw

    from tf3d.data import scenes
    from tf3d.data.scene_classes import CLASSES, COLOURS
    from tf3d.training.scene_render import render_scene

    if num <= 0:
        raise ValueError(f"num must be positive, got {num}")
    grids = []
    for batch in scenes.make_dataset(directory, split, num, training=False):
        grids.extend(batch.numpy())
        break
    rows = -(-len(grids) // columns)
    legend = 20
    sheet = Image.new("RGB", (columns * size, rows * size + legend), "white")
    for index, grid in enumerate(grids):
        sheet.paste(Image.fromarray(render_scene(grid, image_size=size)),
                    ((index % columns) * size, (index // columns) * size))
    draw = ImageDraw.Draw(sheet)
    step = columns * size // (len(CLASSES) - 1)
    for index, name in enumerate(CLASSES[1:]):
        x, y = index * step + 4, rows * size + 4
        draw.rectangle([x, y, x + 10, y + 10], fill=tuple(int(c) for c in COLOURS[index + 1]))
        draw.text((x + 13, y), name, fill=(0, 0, 0))
    return np.asarray(sheet)


def _preview(args):
    from PIL import Image

    if args.families:
        picture = families_figure()
    elif args.directory is None:
        raise ValueError("give a dataset DIR, or --families for the generator's contact sheet")
    elif is_scene_dataset(args.directory):
        picture = scene_grid(args.directory, args.num, args.split)
    else:
        picture = ops_figure(args.directory, args.split) if args.ops else sample_grid(args.directory, args.num,
                                                                                      args.split)
    Image.fromarray(picture).save(args.output)
    print(f"wrote {args.output}")


def main(argv=None):
    """Runs the command line; returns the exit status (0, or 1 after a user error)."""
    parser = cli.parser("python -m pipelines.preview", __doc__.split("\n")[0])
    parser.add_argument("directory", nargs="?", help="a built dataset (not needed with --families)")
    parser.add_argument("-o", "--output", required=True, help="PNG to write")
    parser.add_argument("--num", type=int, default=6, help="records (rows)")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument("--ops", action="store_true",
                        help="instead: the custom ops' silhouettes next to Blender's (synthetic data)")
    parser.add_argument("--families", action="store_true",
                        help="instead: a contact sheet of the synthetic generator's families (no dataset needed)")
    args = parser.parse_args(argv)
    return cli.run(_preview, args)


if __name__ == "__main__":
    sys.exit(main())
