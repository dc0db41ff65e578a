"""Training-time augmentation of (image, viewer-frame voxels) pairs that keeps them aligned.

* Mirror: the viewer frame's camera sits in the plane x = 0 (azimuth 0, see
  `tf3d.conventions`), so mirroring the world in x leaves it in place and
  turns image columns left for right: reversing the image's columns and the
  grid's X axis together gives another exact pair (voxel centres are
  symmetric about x = 0; `tests/test_augment.py` checks it through the
  camera). Furniture is nearly always mirror-symmetric, but a model seen from
  an azimuth a becomes the mirrored model seen from -a, which the fixed views
  of a build do not otherwise pair with that shape.
* Photometric: a per-image contrast factor and gamma on the inverted image
  (background 0, object up to 1), so the background stays 0 and the
  silhouette is unchanged: shading varies as it would under other lights and
  materials; the target does not move.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """What `augment_batch` does.

    Attributes:
      mirror: mirror half of the pairs (image columns and voxel X together).
      photometric: strength s in [0, 1): contrast factor U(1 - s, 1 + s) and
        gamma exp(U(-s, s)) per image; 0 turns it off.
    """

    mirror: bool = False
    photometric: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.photometric < 1.0:
            raise ValueError(f"photometric must be in [0, 1), got {self.photometric}")

    @property
    def active(self):
        return self.mirror or self.photometric > 0.0


def mirror_pair(images, voxels):
    """Mirrors pairs in the viewer frame's x.

    Args:
      images: `[B, h, w, C]`.
      voxels: `[B, X, Y, Z]` (tf3d's grid axes).

    Returns:
      (images with columns reversed, voxels with X reversed), same shapes.
    """
    import tensorflow as tf

    return tf.reverse(images, axis=[2]), tf.reverse(voxels, axis=[1])


def augment_batch(images, voxels, augmentation, seed=None):
    """One batch augmented per example.

    Args:
      images: float `[B, h, w, 1]`, inverted (background 0, object up to 1).
      voxels: `[B, R, R, R]` targets in the view's frame.
      augmentation: an `Augmentation`.
      seed: op seed (None: random).

    Returns:
      (images, voxels), the same shapes and dtypes.
    """
    import tensorflow as tf

    batch = tf.shape(images)[0]
    if augmentation.mirror:
        flip = tf.random.uniform([batch], seed=seed) < 0.5
        mirrored_images, mirrored_voxels = mirror_pair(images, voxels)
        images = tf.where(flip[:, None, None, None], mirrored_images, images)
        voxels = tf.where(flip[:, None, None, None], mirrored_voxels, voxels)
    s = augmentation.photometric
    if s > 0.0:
        contrast = tf.random.uniform([batch, 1, 1, 1], 1.0 - s, 1.0 + s, seed=seed)
        gamma = tf.exp(tf.random.uniform([batch, 1, 1, 1], -s, s, seed=seed))
        images = tf.clip_by_value(contrast * tf.pow(tf.clip_by_value(images, 0.0, 1.0), gamma), 0.0, 1.0)
    return images, voxels


def apply(dataset, augmentation, seed=None):
    """`dataset` of `(images, voxels)` batches, augmented when `augmentation.active`."""
    if not augmentation.active:
        return dataset
    import tensorflow as tf

    return dataset.map(lambda images, voxels: augment_batch(images, voxels, augmentation, seed),
                       num_parallel_calls=tf.data.AUTOTUNE)
