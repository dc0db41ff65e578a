"""Camera helpers shared by the reference renderers and the op wrappers.

The camera model is `tf3d.conventions`': `projection [B, 3, 4]` is
`P = K [R | t]` (perspective) or `conventions.orthographic_matrix`
(orthographic, no division), pixel (row, col) has its centre at
`(col + 0.5, row + 0.5)`, and the third homogeneous coordinate is the depth.
"""

import numbers

import tensorflow as tf


def image_size_pair(image_size):
    """`(h, w)` from an int or a pair, checked positive."""
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        size = (image_size, image_size)
    else:
        try:
            size = tuple(int(s) for s in image_size)
        except TypeError:
            raise ValueError(f"image_size must be an int or (h, w), got {image_size!r}") from None
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"image_size must be a positive int or (h, w), got {image_size!r}")
    return size


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


def project_points(points, projection, perspective):
    """`[B, N, 3]` world points -> (`[B, N, 2]` image coordinates, `[B, N]` depths)."""
    homo = tf.einsum("bij,bnj->bni", projection[:, :, :3], points) + projection[:, None, :, 3]
    depth = homo[..., 2]
    uv = homo[..., :2] / depth[..., None] if perspective else homo[..., :2]
    return uv, depth
