"""`CyclePreviews`: both directions and both cycles of a CycleGAN, after every epoch.

Each row is one fixed validation example (an image x and its own grid v,
which the unpaired training never saw together):

    x | G(x) | F(G(x))  ||  v | F(v) | G(F(v))

G = image -> voxels, F = voxels -> image (the learned Dec2D o Enc3D, or the
silhouette renderer in `render` mode). Grids are drawn with `render_voxels`
through the azimuth-0 camera, where a viewer-frame grid lines up with its
image. The strip goes to TensorBoard (`images/cycles`) and to
`previews/epoch_XXX.png`.
"""

import os

import keras
import numpy as np

from tf3d.training.voxel_render import render_voxels


def image_panel(image, size=128):
    """uint8 `[size, size]` picture of a model-convention image `[h, w]` or `[h, w, 1]` (0 = white)."""
    from PIL import Image

    image = np.asarray(image, np.float32)
    image = image[..., 0] if image.ndim == 3 else image
    return np.asarray(Image.fromarray((255 * (1 - np.clip(image, 0, 1))).astype(np.uint8))
                      .resize((size, size), Image.BILINEAR))


def cycle_strip(model, images, voxels, elevation=30.0, size=128):
    """uint8 `[N * size, 6 * size]`: the six panels above for `images [N, h, w, 1]`, `voxels [N, R, R, R]`."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    voxels = tf.convert_to_tensor(voxels, tf.float32)
    forward = tf.sigmoid(model(images, training=False))  # G(x)
    cycled_image = model.to_image(forward)  # F(G(x))
    backward = model.to_image(voxels)  # F(v)
    cycled_voxels = tf.sigmoid(model(backward, training=False))  # G(F(v))
    draw = lambda grid: render_voxels(grid, elevation, image_size=size)  # noqa: E731
    rows = []
    for i in range(images.shape[0]):
        rows.append(np.concatenate([image_panel(images[i], size), draw(forward[i].numpy()),
                                    image_panel(cycled_image[i], size), draw(voxels[i].numpy()),
                                    image_panel(backward[i], size), draw(cycled_voxels[i].numpy())], axis=1))
    return np.concatenate(rows, axis=0)


class CyclePreviews(keras.callbacks.Callback):
    """Writes `cycle_strip`s of fixed examples at the end of every epoch.

    Args:
      images: `[N, h, w, 1]`; voxels: `[N, R, R, R]` (the images' own grids).
      log_dir: TensorBoard directory for the image summaries.
      out_dir: directory for the PNG files.
      elevation: camera elevation of the dataset's views.
    """

    def __init__(self, images, voxels, log_dir, out_dir, elevation=30.0):
        super().__init__()
        self.images, self.voxels = np.asarray(images), np.asarray(voxels)
        self.log_dir, self.out_dir, self.elevation = log_dir, out_dir, float(elevation)
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf
        from PIL import Image

        strip = cycle_strip(self.model, self.images, self.voxels, self.elevation)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.image("cycles/x|G(x)|F(G(x))||v|F(v)|G(F(v))", strip[None, :, :, None], step=epoch)
        self._writer.flush()
        tf.io.gfile.makedirs(self.out_dir)
        with tf.io.gfile.GFile(os.path.join(self.out_dir, f"epoch_{epoch + 1:03d}.png"), "wb") as fh:
            Image.fromarray(strip).save(fh, format="PNG")
