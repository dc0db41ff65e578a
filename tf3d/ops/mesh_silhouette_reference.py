"""Pure-TensorFlow reference for `mesh_silhouette` (same signature).

Evaluates every (pixel, face) pair: memory grows as B * h * w * F, so
`chunk_rows` renders that many image rows at a time, each chunk under
`tf.recompute_grad` so that a gradient tape keeps only one chunk's
intermediates alive. Tests hold the C++ op to it.
"""

import math

import tensorflow as tf

from tf3d.ops import _camera, _checks, _mesh_checks

# Faces farther than this (in x = d^2 / sigma) contribute D < 1e-5 and are
# skipped; the kernel uses the same constant (csrc/mesh_silhouette/mesh_silhouette.h).
CUTOFF = math.log((1.0 - 1e-5) / 1e-5)
MIN_DEPTH = 1e-6


def check_arguments(vertices, faces, projection, image_size, sigma):
    """Converts and checks the arguments shared by the op and the reference.

    `_mesh_checks.check_mesh_arguments` (static problems raise `ValueError`,
    values `tf.errors.InvalidArgumentError` when the tensors are computed),
    plus `sigma`.
    """
    sigma = _checks.finite_scalar(sigma, "sigma")
    if not sigma > 0.0:
        raise ValueError(f"sigma must be positive and finite, got {sigma}")
    vertices, faces, projection, height, width = _mesh_checks.check_mesh_arguments(
        vertices, faces, projection, image_size)
    return vertices, faces, projection, height, width, sigma


def _chunk(tri, valid, pixels, scale2, sigma):
    """Silhouette of `[N, 2]` pixels against `[B, F, 3, 2]` triangles -> `[B, N]`."""
    p = pixels[None, :, None, :]  # [1, N, 1, 2]
    d2, cross = [], []
    for k in range(3):
        a = tri[:, None, :, k, :]  # [B, 1, F, 2]
        edge = tri[:, None, :, (k + 1) % 3, :] - a
        w = p - a  # [B, N, F, 2]
        len2 = tf.reduce_sum(edge * edge, -1)
        t = tf.math.divide_no_nan(tf.reduce_sum(w * edge, -1), len2)
        t = tf.clip_by_value(t, 0.0, 1.0)
        r = w - t[..., None] * edge
        d2.append(tf.reduce_sum(r * r, -1))
        cross.append(edge[..., 0] * w[..., 1] - edge[..., 1] * w[..., 0])
    d2 = tf.reduce_min(tf.stack(d2, -1), -1)  # [B, N, F]
    cross = tf.stack(cross, -1)
    inside = ~(tf.reduce_any(cross < 0, -1) & tf.reduce_any(cross > 0, -1))
    x = d2 * (scale2 / sigma)
    q = tf.where(inside, tf.sigmoid(-x), tf.sigmoid(x))  # 1 - D (SoftRas eq. 1)
    keep = valid[:, None, :] & (inside | (x < CUTOFF))
    q = tf.where(keep, q, tf.ones_like(q))
    return 1.0 - tf.reduce_prod(q, axis=-1)  # SoftRas silhouette aggregation


def mesh_silhouette_reference(vertices, faces, projection, image_size, *, sigma,
                              perspective=True, chunk_rows=None):
    """Soft silhouettes of triangle meshes (see `mesh_silhouette`).

    Args:
      vertices: `[B, V, 3]` float32 or float64 world positions.
      faces: `[F, 3]` integer vertex indices.
      projection: `[B, 3, 4]` cameras.
      image_size: `h` (square) or `(h, w)`.
      sigma: SoftRas sharpness, in normalized image units squared (the longer
        image side spans 2).
      perspective: whether `projection` divides by depth.
      chunk_rows: render this many rows at a time (None: the whole image).

    Returns:
      `[B, h, w]` silhouettes in the dtype of `vertices`, differentiable with
      respect to `vertices` and `projection`.
    """
    vertices, faces, projection, height, width, sigma = check_arguments(
        vertices, faces, projection, image_size, sigma)
    uv, depth = _camera.project_points(vertices, projection, perspective,
                                       min_depth=MIN_DEPTH)  # [B, V, 2], [B, V]
    tri = tf.gather(uv, faces, axis=1)  # [B, F, 3, 2]
    valid = tf.reduce_all(tf.gather(depth, faces, axis=1) > MIN_DEPTH, -1) if perspective else \
        tf.ones(tf.shape(tri)[:2], tf.bool)  # [B, F]: faces crossing the near plane are dropped
    e = tri[:, :, 1] - tri[:, :, 0]
    f = tri[:, :, 2] - tri[:, :, 0]
    valid &= tf.not_equal(e[..., 0] * f[..., 1] - e[..., 1] * f[..., 0], 0.0)  # drop degenerate faces
    scale2 = (2.0 / max(height, width)) ** 2
    pixels = tf.reshape(_camera.pixel_centres(height, width, vertices.dtype), [-1, 2])
    rows = chunk_rows or height
    outputs = []
    for start in range(0, height, rows):
        chunk = pixels[start * width:min(height, start + rows) * width]
        if chunk_rows is None:
            outputs.append(_chunk(tri, valid, chunk, scale2, sigma))
        else:
            render = tf.recompute_grad(lambda t, c=chunk: _chunk(t, valid, c, scale2, sigma))
            outputs.append(render(tri))
    return tf.reshape(tf.concat(outputs, axis=1), [-1, height, width])
