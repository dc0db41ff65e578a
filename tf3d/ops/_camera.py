"""Camera helpers shared by the reference renderers and the op wrappers.

The camera model is `tf3d.conventions`': `projection [B, 3, 4]` is
`P = K [R | t]` (perspective) or `conventions.orthographic_matrix`
(orthographic, no division), pixel (row, col) has its centre at
`(col + 0.5, row + 0.5)`, and the third homogeneous coordinate is the depth.
"""

import numbers

import tensorflow as tf

from tf3d.ops._checks import MAX_PIXELS


def image_size_pair(image_size):
    """`(h, w)` from an int or a pair, checked positive and at most MAX_PIXELS pixels."""
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        size = (image_size, image_size)
    else:
        try:
            size = tuple(int(s) for s in image_size)
        except TypeError:
            raise ValueError(f"image_size must be an int or (h, w), got {image_size!r}") from None
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"image_size must be a positive int or (h, w), got {image_size!r}")
    if size[0] * size[1] > MAX_PIXELS:
        raise ValueError(f"image_size {size} has {size[0] * size[1]} pixels, more than the "
                         f"{MAX_PIXELS} one call renders")
    return size


def projection_checks(projection, need_inverse):
    """`(bad, message)` pairs: every camera finite, and with `need_inverse` its left
    3x3 block invertible, as the kernels require (csrc/common/camera.h's MakeCamera)."""
    finite = tf.reduce_all(tf.math.is_finite(projection), axis=[1, 2])  # [B]
    if not need_inverse:
        return [(~finite, "projection{index} must be finite")]
    m = tf.cast(projection[:, :, :3], tf.float64)
    # The kernels' cofactor expansion, so that both call the same matrices singular.
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    g, h, k = m[:, 2, 0], m[:, 2, 1], m[:, 2, 2]
    det = a * (e * k - f * h) + b * (f * g - d * k) + c * (d * h - e * g)
    invertible = tf.math.is_finite(det) & tf.not_equal(det, 0.0)
    return [(~(finite & invertible),
             "projection{index} must be finite with an invertible left 3x3 block")]


def check_projection(projection, batch, name="projection"):
    """Converts to float and checks the static shape `[B, 3, 4]`."""
    projection = tf.convert_to_tensor(projection)
    if not projection.dtype.is_floating:
        projection = tf.cast(projection, tf.float32)
    shape = projection.shape
    if shape.rank != 3 or shape[1:] != (3, 4) or (
            batch is not None and shape[0] is not None and shape[0] != batch):
        raise ValueError(f"{name} must have shape [B, 3, 4] with B = {batch}, got {shape}")
    return projection


def pixel_centres(height, width, dtype):
    """`[h, w, 2]` image coordinates (u, v) = (col + 0.5, row + 0.5)."""
    v, u = tf.meshgrid(tf.range(height, dtype=dtype) + 0.5, tf.range(width, dtype=dtype) + 0.5,
                       indexing="ij")
    return tf.stack([u, v], axis=-1)


def pixel_rays(projection, height, width, perspective):
    """Rays X(t) = origin + t * direction, t the depth, through every pixel centre.

    Args:
      projection: `[B, 3, 4]`.
      height, width: image size.
      perspective: bool.

    Returns:
      (origin, direction): `[B, h, w, 3]` each (perspective origins are the
      camera centre broadcast over pixels).
    """
    m, p4 = projection[:, :, :3], projection[:, :, 3]
    m_inv = tf.linalg.inv(m)  # [B, 3, 3]
    uv = pixel_centres(height, width, projection.dtype)  # [h, w, 2]
    ones = tf.ones_like(uv[..., :1])
    if perspective:
        direction = tf.einsum("bij,hwj->bhwi", m_inv, tf.concat([uv, ones], -1))
        centre = -tf.einsum("bij,bj->bi", m_inv, p4)  # [B, 3]
        origin = tf.broadcast_to(centre[:, None, None, :], tf.shape(direction))
    else:
        uv0 = tf.concat([uv, tf.zeros_like(ones)], -1)[None] - p4[:, None, None, :]  # [B, h, w, 3]
        origin = tf.einsum("bij,bhwj->bhwi", m_inv, uv0)
        direction = tf.broadcast_to(m_inv[:, None, None, :, 2], tf.shape(origin))
    return origin, direction


def project_points(points, projection, perspective, min_depth=None):
    """`[B, N, 3]` world points -> (`[B, N, 2]` image coordinates, `[B, N]` depths).

    With `min_depth`, perspective points at or behind it (whose faces the
    renderers drop) divide by 1 instead of their depth, so that their
    coordinates, and the gradients through the dropped faces, stay finite.
    """
    homo = tf.einsum("bij,bnj->bni", projection[:, :, :3], points) + projection[:, None, :, 3]
    depth = homo[..., 2]
    if not perspective:
        return homo[..., :2], depth
    if min_depth is not None:
        safe = tf.where(depth > min_depth, depth, tf.ones_like(depth))
        return homo[..., :2] / safe[..., None], depth
    return homo[..., :2] / depth[..., None], depth
