"""Image to voxels and mesh: `python -m tf3d.predict RUN_DIR image.png -o chair.obj`.

Writes, next to the `-o` path (OBJ or PLY, chosen by its extension):

    chair.obj / chair.ply   marching-cubes mesh of the predicted occupancy
    chair.npy               float32 [X, Y, Z] occupancy probabilities
    chair.png               preview: input | predicted voxels

The image should show one object roughly centred and filling the frame as in
the training renders; transparent pixels are composited over white, colour is
converted to gray. The shape comes out in the viewer-centred frame
(`tf3d.conventions`): as the azimuth-0 camera at the training elevation sees
it, +Y up, the viewer looking down -Z.
"""

import argparse
import os
import sys

import numpy as np

from tf3d import conventions


def load_image(path, image_size):
    """Model input `[1, h, w, 1]` float32 (0 = white background) from an image file."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        gray = Image.alpha_composite(white, im).convert("L")
        if gray.size[0] != gray.size[1]:
            side = max(gray.size)
            canvas = Image.new("L", (side, side), 255)
            canvas.paste(gray, ((side - gray.size[0]) // 2, (side - gray.size[1]) // 2))
            gray = canvas
        gray = gray.resize((image_size, image_size), Image.BOX)
    return (1.0 - np.asarray(gray, dtype=np.float32) / 255.0)[None, :, :, None]


def voxels_to_mesh(probabilities, threshold=0.4):
    """Marching cubes at `threshold`: (vertices `[V, 3]` world units, faces `[F, 3]`)."""
    from skimage import measure

    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.ndim != 3:
        raise ValueError(f"probabilities must have shape [X, Y, Z], got {probabilities.shape}")
    if probabilities.max() < threshold:
        raise ValueError(f"no voxel reaches the threshold {threshold} (max probability "
                         f"{probabilities.max():.3f}); try a lower --threshold")
    resolution = probabilities.shape[0]
    padded = np.pad(probabilities, 1)  # closes surfaces that touch the cube's faces
    vertices, faces, _, _ = measure.marching_cubes(padded, level=threshold)
    # Padded index p is voxel p - 1, whose centre is at -0.5 + (p - 0.5) / R.
    vertices = -conventions.CUBE_HALF + (vertices - 0.5) * (2.0 * conventions.CUBE_HALF / resolution)
    return vertices, faces


def predict(model, image):
    """`[1, h, w, 1]` image -> `[X, Y, Z]` occupancy probabilities."""
    import tensorflow as tf

    return tf.sigmoid(model(image, training=False))[0].numpy()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tf3d.predict", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("image")
    parser.add_argument("-o", "--output", required=True, help="mesh path ending in .obj or .ply")
    parser.add_argument("--threshold", type=float, default=0.4, help="occupancy level of the surface")
    parser.add_argument("--checkpoint", default="best")
    args = parser.parse_args(argv)
    stem, ext = os.path.splitext(args.output)
    if ext.lower() not in (".obj", ".ply"):
        print(f"error: --output must end in .obj or .ply, got {args.output}", file=sys.stderr)
        return 1
    try:
        import trimesh
        from PIL import Image

        from tf3d.evaluate import load_model
        from tf3d.training.previews import preview_strip

        model, cfg = load_model(args.run_dir, args.checkpoint)
        if not os.path.exists(args.image):
            raise FileNotFoundError(f"image {args.image} does not exist")
        image = load_image(args.image, cfg.data.image_size)
        probabilities = predict(model, image)
        vertices, faces = voxels_to_mesh(probabilities, args.threshold)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    trimesh.Trimesh(vertices, faces, process=False).export(args.output)
    np.save(stem + ".npy", probabilities)
    strip = preview_strip(image, probabilities[None], probabilities[None])[:, :256]
    Image.fromarray(strip).save(stem + ".png")
    print(f"{int((probabilities >= args.threshold).sum())} occupied voxels; mesh {args.output} "
          f"({len(vertices)} vertices, {len(faces)} faces), voxels {stem}.npy, preview {stem}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
