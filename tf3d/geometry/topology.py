"""Mesh connectivity: unique edges and pairs of faces that share an edge.

Both take the faces of one mesh, or of a packed batch
(`batching.PackedMeshes.faces`, whose indices are global), and work in
TensorFlow so that they run under `tf.function` on faces known only at run
time. Faces are numbered `f`, their corners `k = 0, 1, 2`; edge k of face f
is the side opposite corner k, joining `faces[f, (k + 1) % 3]` and
`faces[f, (k + 2) % 3]`.
"""

from typing import NamedTuple

import tensorflow as tf


def _check_faces(faces, name="faces"):
    faces = tf.convert_to_tensor(faces)
    if not faces.dtype.is_integer:
        raise ValueError(f"{name} must hold integer vertex indices, got dtype {faces.dtype.name}")
    if faces.shape.rank != 2 or faces.shape[-1] != 3:
        raise ValueError(f"{name} must have shape [F, 3], got {faces.shape}")
    return tf.cast(faces, tf.int32)


def unique_edges(faces, return_face_edges=False):
    """The undirected edges of a triangle mesh, each once.

    Args:
      faces: `[F, 3]` integer vertex indices.
      return_face_edges: also return which edge each side of each face is.

    Returns:
      edges: `[E, 2]` int32 vertex pairs with `edges[:, 0] < edges[:, 1]`,
        sorted lexicographically.
      face_edges (if asked): `[F, 3]` int32, `face_edges[f, k]` the row of
        `edges` holding the side of face f opposite its corner k.

    Cost: O(F log F) time (one sort of the 3F sides), O(F) memory.
    """
    faces = _check_faces(faces)
    first = tf.gather(faces, [1, 2, 0], axis=1)  # side k joins corners k + 1 and k + 2
    second = tf.gather(faces, [2, 0, 1], axis=1)
    lo = tf.reshape(tf.minimum(first, second), [-1])  # [3F]
    hi = tf.reshape(tf.maximum(first, second), [-1])
    base = tf.cast(tf.maximum(tf.reduce_max(tf.concat([hi, [0]], 0)) + 1, 1), tf.int64)
    keys = tf.cast(lo, tf.int64) * base + tf.cast(hi, tf.int64)  # one int64 per side
    order = tf.argsort(keys, stable=True)
    unique_keys, sorted_index = tf.unique(tf.gather(keys, order))  # ascending, as sorted
    edges = tf.cast(tf.stack([unique_keys // base, unique_keys % base], axis=1), tf.int32)
    if not return_face_edges:
        return edges
    side_edge = tf.scatter_nd(order[:, None], sorted_index, tf.shape(keys))  # undo the sort
    return edges, tf.reshape(side_edge, [-1, 3])


class FaceAdjacency(NamedTuple):
    """Pairs of faces that share an edge (see `face_adjacency`).

    Attributes:
      faces: `[P, 2]` int32 face indices, `faces[p, 0] < faces[p, 1]` (equal
        only for a degenerate face that holds the edge twice).
      edges: `[P, 2]` int32 shared edge `(v0, v1)`, `v0 < v1`.
      opposite: `[P, 2]` int32 the vertex of each face that is not on the edge.
    """

    faces: tf.Tensor
    edges: tf.Tensor
    opposite: tf.Tensor


def face_adjacency(faces):
    """All pairs of faces sharing an edge, with the shared edge and the two far corners.

    An edge shared by k faces gives every one of its k (k - 1) / 2 pairs,
    once each: 1 on a closed manifold, 0 on a boundary, 3 where three faces
    meet. PyTorch3D's `mesh_normal_consistency` also discovers "all the faces
    sharing e", but its pair loop lists some pairs twice when k >= 4; here
    each unordered pair appears exactly once.

    Args:
      faces: `[F, 3]` integer vertex indices.

    Returns:
      `FaceAdjacency` of P pairs, grouped by edge in `unique_edges` order.

    Cost: O(F log F + P) time and memory.
    """
    faces = _check_faces(faces)
    edges, face_edges = unique_edges(faces, return_face_edges=True)
    side_edge = tf.reshape(face_edges, [-1])  # [3F], side s = 3 f + k
    order = tf.argsort(side_edge, stable=True)  # sides grouped by edge, face order kept
    grouped = tf.gather(side_edge, order)
    counts = tf.math.bincount(grouped, minlength=tf.shape(edges)[0], dtype=tf.int32)
    starts = tf.cumsum(counts, exclusive=True)
    rank = tf.range(tf.size(grouped)) - tf.gather(starts, grouped)  # position within the edge
    later = tf.gather(counts, grouped) - 1 - rank  # sides after this one on the same edge
    first = tf.repeat(tf.range(tf.size(grouped)), later)  # [P] positions in `grouped`
    step = tf.range(tf.size(first)) - tf.repeat(tf.cumsum(later, exclusive=True), later)
    second = first + 1 + step  # the 1st, 2nd, ... later side of the same edge
    side0, side1 = tf.gather(order, first), tf.gather(order, second)
    corners = tf.reshape(faces, [-1])  # corner k of face f is the vertex opposite side 3 f + k
    return FaceAdjacency(
        faces=tf.stack([side0 // 3, side1 // 3], axis=1),
        edges=tf.gather(edges, tf.gather(grouped, first)),
        opposite=tf.stack([tf.gather(corners, side0), tf.gather(corners, side1)], axis=1))
