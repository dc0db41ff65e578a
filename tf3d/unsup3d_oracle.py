"""`python -m tf3d.unsup3d_oracle DATA`: what Unsup3D's photometric objective prefers, given the true albedo and light.

Each image gets a free per-pixel depth map (no network), started flat, and
Adam fits it to the image through the model's renderer
(`tf3d.models.photo_renderer`: depth -> normals -> Lambertian shading) with
the image's *true* albedo and light, so that the depth alone is unknown:

    L = mean |albedo * shading(d) - I| + flip_weight * mean |flip(albedo) * shading(flip(d)) - I|
        + smoothness * mean |grad d|

over the image without its two-pixel border. It prints SIDE and MAD on the
object's pixels before and after, next to the true depth's loss and normals
(the floor). If the objective is minimized by a depth far from the truth
here, no network trained on it can do better: this separates "the
objective is ambiguous" from "the networks do not learn". `--max-azimuth`
keeps the images seen within that many degrees of the front, where the
left-right flip of the image is the flip of the object (Unsup3D's symmetry);
selecting by the true azimuth is the oracle's privilege, not a training
recipe. `--normals one_sided` swaps the renderer's central differences for
one-sided ones that take, per pixel and axis, the side with the smaller depth
step, so that a normal does not straddle a depth edge (a candidate change to
the renderer, measured here first).
"""

import sys

import numpy as np

from tf3d import cli


def one_sided_normals(depth, intrinsics):
    """`[B, H, W, 3]` unit normals facing the camera, from one-sided differences of `[B, H, W]` depth: per
    pixel and axis the neighbour with the smaller depth step (border pixels copy their inner neighbour's)."""
    import tensorflow as tf

    from tf3d.geometry import normals as geometry_normals
    from tf3d.models import photo_renderer

    depth = tf.convert_to_tensor(depth)
    points = depth[..., None] * photo_renderer._pixel_rays(intrinsics, depth.shape[1], depth.shape[2], depth.dtype)

    def pick(forward, backward):
        return tf.where(tf.abs(forward[..., 2:]) <= tf.abs(backward[..., 2:]), forward, backward)

    du = pick(points[:, 1:-1, 2:] - points[:, 1:-1, 1:-1], points[:, 1:-1, 1:-1] - points[:, 1:-1, :-2])
    dv = pick(points[:, 2:, 1:-1] - points[:, 1:-1, 1:-1], points[:, 1:-1, 1:-1] - points[:, :-2, 1:-1])
    normal = geometry_normals.unit_vectors(tf.linalg.cross(dv, du))
    return tf.pad(normal, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")


def fit_free_depth(image, albedo, light, intrinsics, start, *, steps=400, learning_rate=1e-3, flip_weight=0.0,
                   smoothness=0.0, normals=None):
    """Fits per-pixel depth maps to images with their albedo and light given.

    Args:
      image, albedo: `[B, S, S]`.
      light: `[B, 5]` ambient, diffuse, unit direction towards the light (camera frame).
      intrinsics: `[3, 3]`.
      start: `[B, S, S]` the starting depth (> 0).
      steps, learning_rate: Adam on the log depth.
      flip_weight: weight of the flipped branch (Unsup3D's symmetry, eq. 6).
      smoothness: weight of the depth's total variation.
      normals: `(depth, intrinsics) -> [B, H, W, 3]`; None: the renderer's `depth_normals`.

    Returns:
      `(depth [B, S, S], normals [B, S, S, 3], first loss, last loss)`.
    """
    import keras
    import tensorflow as tf

    from tf3d.models import photo_renderer

    image, albedo, light = (tf.constant(np.asarray(x, np.float32)) for x in (image, albedo, light))
    if image.shape.rank != 3 or albedo.shape != image.shape or light.shape != (image.shape[0], 5):
        raise ValueError(f"image and albedo must be [B, S, S] and light [B, 5], got {image.shape}, "
                         f"{albedo.shape}, {light.shape}")
    normals = normals or photo_renderer.depth_normals
    log_depth = tf.Variable(np.log(np.asarray(start, np.float32)))
    optimizer = keras.optimizers.Adam(learning_rate)

    def loss_of(depth):
        def error(d, a):
            shading = photo_renderer.lambertian(normals(d, intrinsics), light[:, 0],
                                                light[:, 1], light[:, 2:])
            return tf.reduce_mean(tf.abs(a * shading - image)[:, 2:-2, 2:-2])

        loss = error(depth, albedo)
        if flip_weight:
            loss += flip_weight * error(tf.reverse(depth, [2]), tf.reverse(albedo, [2]))
        tv = tf.reduce_mean(tf.abs(depth[:, 1:] - depth[:, :-1])) + tf.reduce_mean(
            tf.abs(depth[:, :, 1:] - depth[:, :, :-1]))
        return loss + smoothness * tv

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_of(tf.exp(log_depth))
        optimizer.apply_gradients([(tape.gradient(loss, log_depth), log_depth)])
        return loss

    first = float(loss_of(tf.exp(log_depth)))
    for _ in range(steps):
        step()
    depth = tf.exp(log_depth)
    return (depth.numpy(), normals(depth, intrinsics).numpy(), first,
            float(loss_of(depth)))


def main(argv=None):
    parser = cli.parser("python -m tf3d.unsup3d_oracle", __doc__.split("\n")[0])
    parser.add_argument("data", help="a shaded dataset (python -m pipelines.build shaded)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--count", type=int, default=16, help="images (the first of the split that qualify)")
    parser.add_argument("--max-azimuth", type=float, default=90.0, help="keep images within this of the front")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--flip-weight", type=float, default=0.0)
    parser.add_argument("--smoothness", type=float, default=0.0)
    parser.add_argument("--start-depth", type=float, default=2.9, help="the flat start's depth")
    parser.add_argument("--normals", choices=("central", "one_sided"), default="central",
                        help="the renderer's central differences, or one-sided ones (see the module docstring)")

    def body(a):
        import tensorflow as tf

        from tf3d.data import shaded_records
        from tf3d.metrics import shape_errors
        from tf3d.models import photo_renderer

        try:
            info = shaded_records.read_info(a.data)
            files = shaded_records.split_files(a.data, a.split)
        except (FileNotFoundError, ValueError) as error:
            raise cli.UserError(str(error)) from None
        ds = tf.data.TFRecordDataset(files).map(lambda r: shaded_records.parse_record(r, info["image_size"]))
        ds = ds.filter(lambda e: tf.abs(e["azimuth"]) <= a.max_azimuth).batch(a.count)
        batch = next(iter(ds), None)
        if batch is None:
            raise cli.UserError(f"no {a.split} image of {a.data} is within {a.max_azimuth} degrees of the front")
        k = batch["intrinsics"][0].numpy()
        truth = batch["depth"].numpy()
        mask = (batch["mask"].numpy()[..., 0] > 0.5).astype(np.float32)
        start = np.full_like(truth, a.start_depth)
        normals = one_sided_normals if a.normals == "one_sided" else photo_renderer.depth_normals
        kwargs = dict(learning_rate=a.learning_rate, flip_weight=a.flip_weight, smoothness=a.smoothness,
                      normals=normals)
        args = (batch["image"].numpy()[..., 0], batch["albedo"].numpy(), batch["light"].numpy(), k)
        depth, normal, first, last = fit_free_depth(*args, start, steps=a.steps, **kwargs)
        _, _, true_loss, _ = fit_free_depth(*args, np.where(truth > 0, truth, a.start_depth), steps=0, **kwargs)

        def scores(d, n):
            return (100 * float(np.mean(shape_errors.side(d, truth, mask))),
                    float(np.mean(shape_errors.mad(n, batch["normal"].numpy(), mask))))

        flat = np.broadcast_to(np.array([0.0, 0.0, -1.0], np.float32), normal.shape)
        rows = [("flat start (constant)", first, scores(start, flat)), (f"fitted ({a.steps} steps)", last,
                                                                        scores(depth, normal)),
                ("true depth (floor)", true_loss,
                 scores(np.where(truth > 0, truth, 1.0), normals(
                     np.where(truth > 0, truth, a.start_depth), k).numpy()))]
        print(f"{len(truth)} {a.split} images, |azimuth| <= {a.max_azimuth:g}; flip weight {a.flip_weight:g}, "
              f"smoothness {a.smoothness:g}, {a.normals} normals; object pixels")
        print(f"{'':24s} {'loss':>8s} {'SIDE x1e-2':>11s} {'MAD deg':>8s}")
        for label, loss, (side, mad) in rows:
            print(f"{label:24s} {loss:8.4f} {side:11.2f} {mad:8.2f}")

    return cli.run(body, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
