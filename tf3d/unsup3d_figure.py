"""`python -m tf3d.unsup3d_figure RUN_DIR -o docs/unsup3d_maps.png`: what an unsup3d run sees in test images.

One row per image of the split (the first `--count` of it), columns:

    input | reconstruction | true depth | depth | true normals | normals |
    albedo | shading | relit from the left, above, the right | turned -30 / +30 degrees

Depths are the ones seen in the input view, each tile stretched to its own
object pixels' range (the object's mask; the wall is left dark) (near = bright; the model's over the pixels the true
mask covers); normals as RGB `(1 - n) / 2` in the camera frame; albedo and
shading are the canonical maps; relit images keep the predicted view and
albedo under a sun from the named side (ambient 0.3, diffuse 0.7); turned
images rotate the predicted view about the vertical axis through the
rotation centre, under the predicted light.
"""

import math
import sys

import numpy as np

from tf3d import cli

COLUMNS = ("input", "recon", "true depth", "depth", "true normal", "normal", "albedo", "shading",
           "lit left", "lit above", "lit right", "turn -30", "turn +30")
LIGHTS = {"lit left": (-1.0, 0.0), "lit above": (0.0, -1.0), "lit right": (1.0, 0.0)}


def _gray(x):
    return np.clip(np.rint(np.asarray(x) * 255.0), 0, 255).astype(np.uint8)


def _depth_tile(depth, mask):
    if not mask.any():
        return _gray(np.zeros_like(depth))
    lo, hi = depth[mask].min(), depth[mask].max()
    return _gray(np.where(mask, 0.15 + 0.85 * (hi - depth) / max(hi - lo, 1e-6), 0.0))


def _normal_tile(normal, mask):
    return _gray(np.where(mask[..., None], (1.0 - normal) / 2.0, 1.0))


def figure(run_dir, split="test", count=6, scale=2):
    """uint8 `[H, W, 3]` picture (see the module docstring) and the list of model ids shown."""
    import tensorflow as tf

    from tf3d import plots, runs
    from tf3d.data import shaded_records
    from tf3d.models import photo_renderer

    model, cfg = runs.load_model(run_dir)
    batch = next(iter(shaded_records.make_dataset(cfg.data.dir, split, batch_size=count, training=False)))
    images = batch["image"]
    factors = model.decompose(images)
    rendered = model.render(factors)
    b = images.shape[0]
    extra = {}
    for name, (x, y) in LIGHTS.items():
        light = (tf.fill([b], 0.3), tf.fill([b], 0.7), photo_renderer.light_direction(tf.constant([[x, y]] * b)))
        extra[name] = model.render(factors, light=light)["image"]
    for name, degrees in (("turn -30", -30.0), ("turn +30", 30.0)):
        turn = photo_renderer.rotation_matrix(tf.constant([[0.0, math.radians(degrees), 0.0]] * b))
        extra[name] = model.render(dict(factors, rotation=turn @ factors["rotation"]))["image"]
    rows = []
    for i in range(b):
        true_mask = batch["mask"][i, ..., 0].numpy() > 0.5
        seen = rendered["mask"][i].numpy()
        tiles = [_gray(images[i, ..., 0]), _gray(rendered["image"][i, ..., 0]),
                 _depth_tile(batch["depth"][i].numpy(), true_mask),
                 _depth_tile(rendered["depth"][i].numpy(), true_mask & seen),
                 _normal_tile(batch["normal"][i].numpy(), true_mask),
                 _normal_tile(rendered["normal"][i].numpy(), seen),
                 _gray(factors["albedo"][i]), _gray(rendered["shading"][i] / 1.5)]
        tiles += [_gray(extra[name][i, ..., 0]) for name in COLUMNS[8:]]
        rows.append([np.kron(t, np.ones((scale, scale) + (1,) * (t.ndim - 2), np.uint8)) for t in tiles])
    ids = [m.decode() for m in batch["model_id"].numpy()]
    return plots.grid(rows, row_labels=ids, column_labels=COLUMNS, label_width=80), ids


def main(argv=None):
    parser = cli.parser("python -m tf3d.unsup3d_figure", __doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("-o", "--out", default="docs/unsup3d_maps.png", help="PNG to write")
    parser.add_argument("--split", default="test")
    parser.add_argument("--count", type=int, default=6, help="images (rows)")

    def body(args):
        from tf3d import plots

        picture, ids = figure(args.run_dir, args.split, args.count)
        plots.save_png(args.out, picture)
        print(f"wrote {args.out} ({len(ids)} {args.split} images: {', '.join(ids)})")

    return cli.run(body, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
