"""`VoxelPreviews`: input | predicted voxels | ground truth, after every epoch.

`pick_examples` chooses the examples: one each of different models, the
categories taken in turn, so that the previews show the variety of the
validation split rather than one model from several angles. Each row is one
fixed validation example: the input image, the predicted
grid and the target grid both rendered with `render_voxels` through the
azimuth-0 camera (where a viewer-centred grid lines up with its image). The
strip goes to TensorBoard (`images/previews`) and to `previews/epoch_XXX.png`.
"""

import os

import keras
import numpy as np

from tf3d.training.voxel_render import render_voxels


def pick_examples(dataset, num, max_examples=20000):
    """`num` examples of distinct models, the categories taken in turn.

    Args:
      dataset: batches as dicts with `image`, `voxels`, `category` and
        `model_id` (`make_dataset(..., with_metadata=True)`); read until every
        category has `num` models or `max_examples` examples were seen.
      num: examples to pick.

    Returns:
      dict of NumPy arrays `image [N, h, w, 1]`, `voxels [N, R, R, R]`,
      `category [N]`, `model_id [N]`, N = min(num, models seen).
    """
    if num <= 0:
        raise ValueError(f"num must be positive, got {num}")
    by_category, seen, scanned = {}, set(), 0
    for batch in dataset:
        batch = {k: v.numpy() for k, v in batch.items()}
        for i, model_id in enumerate(batch["model_id"]):
            scanned += 1
            if model_id in seen:
                continue
            seen.add(model_id)
            bucket = by_category.setdefault(batch["category"][i], [])
            if len(bucket) < num:
                bucket.append({k: v[i] for k, v in batch.items()})
        if scanned >= max_examples or (by_category and all(len(b) >= num for b in by_category.values())
                                       and len(by_category) > 1):
            break
    if not by_category:
        raise ValueError("the dataset holds no examples to preview")
    chosen, buckets = [], [by_category[c] for c in sorted(by_category)]
    for rank in range(num):  # round robin: chair, table, chair, table, ...
        chosen.extend(b[rank] for b in buckets if rank < len(b))
    chosen = chosen[:num]
    return {k: np.stack([example[k] for example in chosen]) for k in chosen[0]}


def preview_strip(images, probabilities, targets, elevation=30.0, size=128):
    """uint8 `[N * size, 3 * size]` picture.

    Args:
      images: `[N, h, w, 1]` model inputs (0 = background).
      probabilities, targets: `[N, R, R, R]`.
      elevation: camera elevation of the dataset's views (degrees).
      size: side of each panel in pixels.
    """
    from PIL import Image

    rows = []
    for image, prob, target in zip(images, probabilities, targets):
        inp = np.asarray(Image.fromarray((255 * (1 - np.clip(image[..., 0], 0, 1))).astype(np.uint8))
                         .resize((size, size), Image.BILINEAR))
        rows.append(np.concatenate([inp, render_voxels(prob, elevation, image_size=size),
                                    render_voxels(target, elevation, image_size=size)], axis=1))
    return np.concatenate(rows, axis=0)


class VoxelPreviews(keras.callbacks.Callback):
    """Writes preview strips of fixed examples at the end of every epoch.

    Args:
      images: `[N, h, w, 1]` inputs; targets: `[N, R, R, R]`.
      log_dir: TensorBoard directory for the image summaries.
      out_dir: directory for the PNG files.
      elevation: camera elevation of the dataset's views.
    """

    def __init__(self, images, targets, log_dir, out_dir, elevation=30.0):
        super().__init__()
        self.images = np.asarray(images)
        self.targets = np.asarray(targets)
        self.log_dir = log_dir
        self.out_dir = out_dir
        self.elevation = float(elevation)
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf
        from PIL import Image

        logits = self.model.predict_on_batch(self.images)
        strip = preview_strip(self.images, tf.sigmoid(logits).numpy(), self.targets, self.elevation)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.image("previews/input|predicted|target", strip[None, :, :, None], step=epoch)
        self._writer.flush()
        tf.io.gfile.makedirs(self.out_dir)
        with tf.io.gfile.GFile(os.path.join(self.out_dir, f"epoch_{epoch + 1:03d}.png"), "wb") as fh:
            Image.fromarray(strip).save(fh, format="PNG")
