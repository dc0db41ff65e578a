"""Hard z-buffer rasterization of triangle meshes, differentiable through the barycentrics.

The nvdiffrast / TF Graphics split: which face each pixel sees is a discrete
choice made by a native kernel (`csrc/rasterize/`, tile-binned, no
gradient), and the continuous part, the perspective-correct barycentrics and
depth of that face at the pixel centre, is recomputed here in TensorFlow
from the projected vertices, so gradients reach `vertices` and `projection`
(Laine et al. 2020, "Modular Primitives for High-Performance Differentiable
Rendering", sec. 3.1: the rasterizer's output is differentiable in the
barycentrics, not in coverage). The values returned are the kernel's, which
computes in double; the recomputation only supplies the gradient. Coverage
itself has no gradient: for silhouettes use `mesh_silhouette`, or
`tf3d.ops.shading`, which anti-aliases edges with it.
"""

import tensorflow as tf

from tf3d.ops import _camera, backend, build
from tf3d.ops.rasterize_reference import (MIN_DEPTH, Fragments, harmless_faces, check_arguments,
                                          pixel_barycentrics, rasterize_reference,
                                          visible_corners)

tf.no_gradient("Rasterize")


def rasterize(vertices, faces, projection, image_size, *, perspective=True):
    """Rasterizes triangle meshes: per pixel, the visible face, its barycentrics and depth.

    Pixel (row, col) samples its centre, image point (col + 0.5, row + 0.5)
    (`tf3d.conventions`). A pixel sees the nearest face whose projection
    contains it, edges included (shared edges are watertight), either winding
    (no culling); at equal depths the lower face id wins. Faces are not
    clipped: in perspective a face with a vertex at or behind depth 1e-6 is
    dropped whole, as in `mesh_silhouette`; orthographic cameras keep every
    face, at any depth.

    Args:
      vertices: `[B, V, 3]` float32 world positions.
      faces: `[F, 3]` integer vertex indices in [0, V), shared by the batch.
      projection: `[B, 3, 4]` finite cameras, `K [R | t]` or
        `conventions.orthographic_matrix`.
      image_size: `h` (square) or `(h, w)`; at most `2**31 - 1` pixels
        (B * h * w) per call.
      perspective: whether `projection` divides by depth.

    Returns:
      `Fragments(face_ids [B, h, w] int32, barycentrics [B, h, w, 3] float32,
      depth [B, h, w] float32, faces [F, 3] int32)`: -1, 0 and 0 where no face
      is seen. Barycentrics and depth are differentiable with respect to
      `vertices` and `projection`.

    Raises:
      ValueError: a static shape or argument is wrong (names it).
      tf.errors.InvalidArgumentError: a face index is out of range, a camera
        or vertex is not finite, or B * h * w is too large.
    """
    if backend.use_reference():
        return rasterize_reference(vertices, faces, projection, image_size,
                                   perspective=perspective)
    vertices, faces, projection, height, width = check_arguments(vertices, faces, projection,
                                                                 image_size)
    vertices = tf.cast(vertices, tf.float32)
    projection = tf.cast(projection, tf.float32)
    face_ids, bary, depth = build.load_library().rasterize(
        vertices, faces, projection, height=height, width=width, perspective=bool(perspective))
    bary_tf, depth_tf = _differentiable_part(vertices, faces, projection, face_ids, perspective)
    # Values from the kernel (double precision), gradients from TensorFlow's formula.
    bary = bary_tf + tf.stop_gradient(bary - bary_tf)
    depth = depth_tf + tf.stop_gradient(depth - depth_tf)
    return Fragments(face_ids, bary, depth, faces)


def _differentiable_part(vertices, faces, projection, face_ids, perspective):
    """Barycentrics `[B, h, w, 3]` and depth `[B, h, w]` of the faces `face_ids` names,
    recomputed at the pixel centres from the projected vertices (0 on the background)."""
    height, width = face_ids.shape[1], face_ids.shape[2]
    seen = face_ids >= 0  # [B, h, w]
    corners = visible_corners(face_ids, faces, tf.shape(vertices)[1])  # [B, h, w, 3]
    uv, depth = _camera.project_points(vertices, projection, perspective, min_depth=MIN_DEPTH)
    uv = tf.pad(uv, [[0, 0], [0, 1], [0, 0]])  # [B, V + 1, 2]
    depth = tf.pad(depth, [[0, 0], [0, 1]], constant_values=1.0)
    tri = tf.gather(uv, corners, batch_dims=1)  # [B, h, w, 3, 2]
    tri_depth = tf.gather(depth, corners, batch_dims=1)  # [B, h, w, 3]
    # Background pixels evaluate a harmless triangle instead of the dummy
    # face's point, so that no inf meets the zero gradient there.
    tri, tri_depth = harmless_faces(tri, tri_depth, seen)
    pixels = _camera.pixel_centres(height, width, vertices.dtype)[None]  # [1, h, w, 2]
    _, bary, depth = pixel_barycentrics(tri, tri_depth, corners, pixels, perspective)
    zero = tf.zeros([], vertices.dtype)
    return tf.where(seen[..., None], bary, zero), tf.where(seen, depth, zero)
