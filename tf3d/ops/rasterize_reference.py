"""Pure-TensorFlow reference for `rasterize` (same signature), and what both share.

Brute force: every (pixel, face) pair is tested, so memory grows as
B * h * w * F; tests hold the C++ op to it. The geometry (edge functions in
a canonical order for watertight shared edges, perspective-correct
barycentrics, the z-test with ties to the lower face id) is the kernel's,
`csrc/rasterize/rasterize.h`, expression for expression. `Fragments` and
`check_arguments` are shared with `tf3d.ops.rasterize`.
"""

from typing import NamedTuple

import tensorflow as tf

from tf3d.ops import _camera, _mesh_checks

# Faces with a vertex at or behind this depth are dropped in perspective (the
# kernel's kRasterMinDepth, and mesh_silhouette's MIN_DEPTH).
MIN_DEPTH = 1e-6


class Fragments(NamedTuple):
    """What a rasterized image holds per pixel (`tf3d.ops.rasterize`'s result).

    Attributes:
      face_ids: `[B, h, w]` int32 index into `faces` of the face each pixel
        sees, -1 where it sees none (no gradient: a discrete choice).
      barycentrics: `[B, h, w, 3]` perspective-correct weights of that face's
        corners, 0 where no face; differentiable w.r.t. vertices and cameras.
      depth: `[B, h, w]` depth of the visible surface along the optical axis
        (`tf3d.conventions`), 0 where no face; differentiable likewise.
      faces: `[F, 3]` int32, the faces `face_ids` index (for `interpolate`).
    """

    face_ids: tf.Tensor
    barycentrics: tf.Tensor
    depth: tf.Tensor
    faces: tf.Tensor

    @property
    def mask(self):
        """`[B, h, w]` bool: where a face is seen."""
        return self.face_ids >= 0


def check_arguments(vertices, faces, projection, image_size):
    """Converts and checks the arguments shared by the op and the reference
    (`_mesh_checks.check_mesh_arguments`)."""
    return _mesh_checks.check_mesh_arguments(vertices, faces, projection, image_size)


def _edge(a, b, p):
    """Twice the signed area of (a, b, p); `[..., 2]` points -> `[...]`."""
    return (b[..., 0] - a[..., 0]) * (p[..., 1] - a[..., 1]) - \
        (b[..., 1] - a[..., 1]) * (p[..., 0] - a[..., 0])


def _watertight_edge(tri, corners, i, j, p):
    # Endpoints in canonical order (lower vertex index first), negated when
    # the face lists them the other way, so that the two faces of a shared
    # edge agree bit for bit on which side of it p lies.
    swap = (corners[..., i] > corners[..., j])[..., None]
    lo = tf.where(swap, tri[..., j, :], tri[..., i, :])
    hi = tf.where(swap, tri[..., i, :], tri[..., j, :])
    e = _edge(lo, hi, p)
    return tf.where(swap[..., 0], -e, e)


def face_area(tri):
    """`E(v0, v1, v2)` of `[..., 3, 2]` projected triangles -> `[...]` (the kernel's `area`)."""
    return (tri[..., 1, 0] - tri[..., 0, 0]) * (tri[..., 2, 1] - tri[..., 0, 1]) - \
        (tri[..., 1, 1] - tri[..., 0, 1]) * (tri[..., 2, 0] - tri[..., 0, 0])


def pixel_barycentrics(tri, tri_depth, corners, pixels, perspective):
    """Inside test, barycentrics and depth of pixels against projected faces (broadcasting).

    Args:
      tri: `[..., 3, 2]` image coordinates of the corners, with a nonzero
        `face_area`; tri_depth: `[..., 3]` their depths, > 0 in perspective.
      corners: `[..., 3]` vertex indices (for the watertight edge order).
      pixels: `[..., 2]` image points.
      perspective: bool.

    Returns:
      (inside `[...]` bool, barycentrics `[..., 3]`, depth `[...]`), finite
      with finite gradients everywhere, meaningful where inside.
    """
    area = face_area(tri)
    l0 = _watertight_edge(tri, corners, 1, 2, pixels) / area
    l1 = _watertight_edge(tri, corners, 2, 0, pixels) / area
    l2 = _watertight_edge(tri, corners, 0, 1, pixels) / area
    inside = (l0 >= 0.0) & (l1 >= 0.0) & (l2 >= 0.0)
    if not perspective:
        depth = l0 * tri_depth[..., 0] + l1 * tri_depth[..., 1] + l2 * tri_depth[..., 2]
        return inside, tf.stack([l0, l1, l2], axis=-1), depth
    q0, q1, q2 = l0 / tri_depth[..., 0], l1 / tri_depth[..., 1], l2 / tri_depth[..., 2]
    s = q0 + q1 + q2  # 1 / depth: perspective-correct interpolation runs in 1 / z
    s = tf.where(inside, s, tf.ones_like(s))  # outside, s may be 0: keep gradients finite
    return inside, tf.stack([q0 / s, q1 / s, q2 / s], axis=-1), 1.0 / s


def project_faces(vertices, faces, projection, perspective):
    """Projected faces with dropped ones made harmless.

    Returns:
      (tri `[B, F, 3, 2]`, tri_depth `[B, F, 3]`, valid `[B, F]` bool): faces
      that are degenerate, or in perspective have a vertex at or behind
      MIN_DEPTH, are not valid and are replaced by a unit triangle at depth 1,
      so that formulas over every face stay finite.
    """
    uv, depth = _camera.project_points(vertices, projection, perspective,
                                       min_depth=MIN_DEPTH)  # [B, V, 2], [B, V]
    tri = tf.gather(uv, faces, axis=1)  # [B, F, 3, 2]
    tri_depth = tf.gather(depth, faces, axis=1)  # [B, F, 3]
    valid = tf.not_equal(face_area(tri), 0.0)
    if perspective:
        valid &= tf.reduce_all(tri_depth > MIN_DEPTH, axis=-1)
    return harmless_faces(tri, tri_depth, valid) + (valid,)


def harmless_faces(tri, tri_depth, keep):
    unit = tf.constant([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], tri.dtype)
    tri = tf.where(keep[..., None, None], tri, unit)
    return tri, tf.where(keep[..., None], tri_depth, tf.ones_like(tri_depth))


def visible_corners(face_ids, faces, num_vertices):
    """`[B, h, w, 3]` vertex indices of the face each pixel sees, V (one past the
    last vertex) on the background: callers append a dummy vertex, so that the
    gathers also work for empty meshes."""
    padded = tf.concat([faces, tf.fill([1, 3], num_vertices)], axis=0)
    return tf.gather(padded, tf.where(face_ids >= 0, face_ids, tf.shape(faces)[0]))


def rasterize_reference(vertices, faces, projection, image_size, *, perspective=True):
    """Hard z-buffer rasterization of triangle meshes (see `tf3d.ops.rasterize`).

    Args:
      vertices: `[B, V, 3]` float32 or float64 world positions.
      faces: `[F, 3]` integer vertex indices.
      projection: `[B, 3, 4]` cameras.
      image_size: `h` (square) or `(h, w)`.
      perspective: whether `projection` divides by depth.

    Returns:
      `Fragments`, barycentrics and depth in the dtype of `vertices`,
      differentiable with respect to `vertices` and `projection`.
    """
    vertices, faces, projection, height, width = check_arguments(vertices, faces, projection,
                                                                 image_size)
    dtype = vertices.dtype
    tri, tri_depth, valid = project_faces(vertices, faces, projection, perspective)
    pixels = tf.reshape(_camera.pixel_centres(height, width, dtype), [-1, 2])  # [N, 2]
    inside, bary, depth = pixel_barycentrics(
        tri[:, None], tri_depth[:, None], faces[None, None], pixels[None, :, None], perspective)
    hit = inside & valid[:, None]  # [B, N, F]
    depth = tf.where(hit, depth, tf.constant(float("inf"), dtype))
    nearest = tf.reduce_min(depth, axis=-1, keepdims=True)  # [B, N, 1]
    num_faces = tf.shape(faces)[0]
    index = tf.range(num_faces)
    # The lowest face id among the nearest (tf.argmin leaves ties unspecified).
    face_ids = tf.reduce_min(tf.where(hit & (depth == nearest), index, num_faces), axis=-1)
    chosen = tf.equal(index, face_ids[..., None])  # [B, N, F], no face where face_ids == F
    zero = tf.zeros([], dtype)
    bary = tf.reduce_sum(tf.where(chosen[..., None], bary, zero), axis=-2)  # [B, N, 3]
    depth = tf.reduce_sum(tf.where(chosen, depth, zero), axis=-1)
    face_ids = tf.where(face_ids < num_faces, face_ids, -1)
    shape = tf.stack([tf.shape(vertices)[0], height, width])
    return Fragments(tf.reshape(face_ids, shape), tf.reshape(bary, tf.concat([shape, [3]], 0)),
                     tf.reshape(depth, shape), faces)
