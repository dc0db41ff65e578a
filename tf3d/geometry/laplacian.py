"""Mesh Laplacian vectors: each vertex's offset from a weighted mean of its neighbours.

    delta_i = sum_j w_ij v_j / sum_j w_ij - v_i

over the neighbours j of vertex i (PyTorch3D's `mesh_laplacian_smoothing`
normalisation, after Desbrun et al. 1999 and Nealen et al. 2006):

  uniform    w_ij = 1 per unique edge: delta_i points from v_i to the centroid of
             its neighbours (PyTorch3D's `laplacian`, L[i, j] = 1 / deg(i), L[i, i] = -1).
  cotangent  w_ij = cot(alpha_ij) + cot(beta_ij), the angles opposite edge ij in its
             two faces (PyTorch3D's `cot_laplacian`); a flat neighbourhood gives
             delta = 0 for any triangulation, and delta approximates the mean
             curvature normal scaled by the local area.

A vertex on no edge (padding included), or whose cotangent weights do not
sum to a positive number (degenerate or very obtuse fans), gets delta = 0;
PyTorch3D gives such a vertex -v_i (its L[i, i] = -1 stays).
"""

import tensorflow as tf

from tf3d.geometry import batching
from tf3d.geometry.topology import unique_edges

METHODS = ("uniform", "cotangent")


def _cotangent_weights(vertices, faces):
    """`(rows, cols, weights)`: the directed pairs (i, j) of every face side and cot of the
    angle opposite that side, each side listed in both directions."""
    corners = tf.gather(vertices, faces)  # [P, 3, 3]
    a = corners
    b = tf.gather(corners, [1, 2, 0], axis=1)
    c = tf.gather(corners, [2, 0, 1], axis=1)
    dot = tf.reduce_sum((b - a) * (c - a), axis=-1)  # [P, 3], at corner k
    cross = tf.norm(tf.linalg.cross(b - a, c - a), axis=-1)
    cot = tf.math.divide_no_nan(dot, cross)  # the angle at corner k, opposite side k
    i = tf.reshape(tf.gather(faces, [1, 2, 0], axis=1), [-1])
    j = tf.reshape(tf.gather(faces, [2, 0, 1], axis=1), [-1])
    cot = tf.reshape(cot, [-1])
    return tf.concat([i, j], 0), tf.concat([j, i], 0), tf.concat([cot, cot], 0)


def mesh_laplacian(vertices, faces, method="uniform", vertex_counts=None, face_counts=None,
                   constant_weights=False):
    """Laplacian vector of every vertex.

    Args:
      vertices: `[B, V, 3]` or `[V, 3]` float.
      faces: `[F, 3]` (shared) or `[B, F, 3]` int vertex indices.
      method: "uniform" or "cotangent".
      vertex_counts, face_counts: optional `[B]` padded sizes (see `tf3d.geometry`).
      constant_weights: treat the cotangent weights as constants for gradients
        (PyTorch3D computes them under `torch.no_grad()`); uniform weights do
        not depend on the vertices anyway.

    Returns:
      `[B, V, 3]` (`[V, 3]` unbatched) delta vectors in the vertices' dtype.

    Cost: O(F log F) time (the unique edges) and O(V + F) memory.
    """
    packed = batching.pack_meshes(vertices, faces, vertex_counts, face_counts)
    return packed.unpack(packed_laplacian(packed, method, constant_weights))


def packed_laplacian(packed, method="uniform", constant_weights=False):
    """`mesh_laplacian` of a `batching.PackedMeshes`: `[B * V, 3]` in packed vertex order."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    if method == "uniform":
        edges = unique_edges(packed.faces)
        rows = tf.concat([edges[:, 0], edges[:, 1]], 0)
        cols = tf.concat([edges[:, 1], edges[:, 0]], 0)
        weights = tf.ones(tf.shape(rows), packed.vertices.dtype)
    else:
        rows, cols, weights = _cotangent_weights(packed.vertices, packed.faces)
        if constant_weights:
            weights = tf.stop_gradient(weights)
    num = tf.shape(packed.vertices)[0]
    total = tf.math.unsorted_segment_sum(weights, rows, num)  # [B * V]
    mean = tf.math.unsorted_segment_sum(weights[:, None] * tf.gather(packed.vertices, cols),
                                        rows, num) / tf.where(total > 0, total, 1.0)[:, None]
    return tf.where((total > 0)[:, None], mean - packed.vertices, 0.0)  # [B * V, 3]
