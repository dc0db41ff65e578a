"""`python -m tf3d.gan2shape_samples RUN_DIR -o docs/gan2shape_samples.png`: what a gan2shape GAN draws.

Rows of the picture (2x scaled tiles at the GAN's size):

    real    the first `--columns` images of `--split`, area-resized to the GAN's size
    inverted  the GAN's reconstruction of each by `tf3d.models.gan2shape.invert_styles`
    samples   `--rows` rows of random samples `G(z)`

The mean |inverted - real| is printed: how well the GAN covers test images (the first thing
GAN2Shape's stages rely on).
"""

import sys

import numpy as np

from tf3d import cli


def figure(run_dir, data, split="test", columns=8, rows=4, checkpoint="last", inversion_steps=300, seed=0):
    """`(picture uint8 [H, W, 3], inversion L1)` (see the module docstring)."""
    import tensorflow as tf

    from tf3d import plots, runs
    from tf3d.data import shaded_records
    from tf3d.models import gan2shape

    gan, _ = runs.load_model(run_dir, checkpoint)
    batch = next(iter(shaded_records.make_dataset(data, split, batch_size=columns, training=False)))
    real = gan2shape.to_gan_size(batch["image"], gan.image_size)
    styles, _ = gan2shape.invert_styles(gan, real, inversion_steps)
    inverted = gan.synthesis(styles)
    fakes = gan(tf.random.stateless_normal([rows * columns, gan.z_dim], seed=[seed, 1]))

    def tile(x):
        x = np.clip(np.rint(np.asarray(x)[..., 0] * 255.0), 0, 255).astype(np.uint8)
        return np.kron(x, np.ones((2, 2), np.uint8))

    grid = [[tile(x) for x in real.numpy()], [tile(x) for x in inverted.numpy()]]
    grid += [[tile(x) for x in fakes.numpy()[r * columns:(r + 1) * columns]] for r in range(rows)]
    labels = ["real", "inverted"] + ["samples"] * rows
    l1 = float(tf.reduce_mean(tf.abs(inverted - real)))
    return plots.grid(grid, row_labels=labels, label_width=60), l1


def main(argv=None):
    parser = cli.parser("python -m tf3d.gan2shape_samples", __doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--data", required=True, help="shaded build the real row comes from")
    parser.add_argument("-o", "--out", default="docs/gan2shape_samples.png", help="PNG to write")
    parser.add_argument("--split", default="test")
    parser.add_argument("--checkpoint", default="last")

    def body(args):
        from tf3d import plots

        picture, l1 = figure(args.run_dir, args.data, args.split, checkpoint=args.checkpoint)
        plots.save_png(args.out, picture)
        print(f"wrote {args.out}; inversion of the real row: mean |G(w) - image| = {l1:.4f} (images in [0, 1])")

    return cli.run(body, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
