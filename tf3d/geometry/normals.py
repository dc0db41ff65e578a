"""Face normals, face areas and area-weighted vertex normals.

A face `(v0, v1, v2)` has the normal `n = cross(v1 - v0, v2 - v0)`, whose
length is twice its area: faces are counter-clockwise seen from the side the
normal points to (outward for `icosphere`). Unit vectors come from
`unit_vectors`, so a degenerate face gets a zero normal and a finite gradient
rather than NaN.
"""

import tensorflow as tf

from tf3d.geometry import batching


def unit_vectors(x, axis=-1):
    """`x / |x|` along `axis`, 0 (with a finite gradient) where `x` is 0.

    `tf.math.l2_normalize` with an epsilon far below any real squared length
    (its default 1e-12 would shrink the normals of faces smaller than about
    1e-6 in area).
    """
    x = tf.convert_to_tensor(x)
    return tf.math.l2_normalize(x, axis=axis, epsilon=1e-60 if x.dtype == tf.float64 else 1e-30)


def _face_cross(vertices, faces, names):
    vertices, batched = batching.check_vertices(vertices, names[0])
    faces = batching.check_faces(faces, vertices, batched, names[1])
    corners = batching.gather_face_vertices(vertices, faces)  # [B, F, 3, 3]
    cross = tf.linalg.cross(corners[..., 1, :] - corners[..., 0, :],
                            corners[..., 2, :] - corners[..., 0, :])  # [B, F, 3]
    return cross if batched else cross[0]


def face_normals(vertices, faces, unit=True):
    """Normals of the faces of one mesh or a padded batch.

    Args:
      vertices: `[B, V, 3]` or `[V, 3]` float.
      faces: `[F, 3]` (shared) or `[B, F, 3]` int vertex indices.
      unit: unit length (True) or length = twice the face area (False).

    Returns:
      `[B, F, 3]` (`[F, 3]` for unbatched input) in the vertices' dtype.
    """
    cross = _face_cross(vertices, faces, ("vertices", "faces"))
    return unit_vectors(cross) if unit else cross


def face_areas(vertices, faces):
    """Areas of the faces: `[B, F]` (`[F]` unbatched); arguments as `face_normals`."""
    cross = _face_cross(vertices, faces, ("vertices", "faces"))
    # |c| as c . (c / |c|): exact, and a zero-area face gets a zero gradient, not NaN
    return 0.5 * tf.reduce_sum(cross * unit_vectors(cross), axis=-1)


def vertex_normals(vertices, faces, vertex_counts=None, face_counts=None):
    """Area-weighted unit vertex normals: each vertex gets the sum of its faces' `cross`.

    As PyTorch3D's `Meshes.verts_normals_packed` (its three per-corner cross
    products are the same vector for a flat triangle): a face of twice the
    area pulls twice as hard. Vertices on no face get a zero normal.

    Args:
      vertices: `[B, V, 3]` or `[V, 3]` float.
      faces: `[F, 3]` (shared) or `[B, F, 3]` int vertex indices.
      vertex_counts, face_counts: optional `[B]` padded sizes (see `tf3d.geometry`).

    Returns:
      `[B, V, 3]` (`[V, 3]` for unbatched input) unit normals, vertices' dtype.
    """
    packed = batching.pack_meshes(vertices, faces, vertex_counts, face_counts)
    corners = tf.gather(packed.vertices, packed.faces)  # [P, 3, 3]
    cross = tf.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    summed = tf.math.unsorted_segment_sum(
        tf.repeat(cross, 3, axis=0), tf.reshape(packed.faces, [-1]),
        tf.shape(packed.vertices)[0])  # [B * V, 3]
    return packed.unpack(unit_vectors(summed))
