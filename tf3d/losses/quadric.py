"""Quadric loss (Agarwal, Yoon and Gopi 2019, "Learning embedding of 3D models with
quadric loss", BMVC; the plane quadrics of Garland and Heckbert 1997,
"Surface simplification using quadric error metrics").

Every target face f lies in a plane `n . x + d = 0` (unit n); its quadric is
`K_f = p p^T` with `p = [n, d]`, so that `[x, 1] K_f [x, 1]^T` is the squared
distance of x from that plane. Each target vertex v sums the quadrics of its
incident faces, `Q_v = sum_{f ∋ v} K_f`, and a predicted point x is charged
`[x, 1] Q_v [x, 1]^T` against its nearest target vertex v: the sum of its
squared distances to the planes of v's faces. Unlike chamfer, a point may
slide along the target's flat parts for free, so sharp edges and corners,
where several planes meet, are what holds it. PyTorch3D has no such loss.

It is zero at the target vertices, zero on a flat patch of the target, and
grows as the square of the distance off it (with as many planes as v has faces).
"""

import tensorflow as tf

from tf3d.geometry import batching
from tf3d.geometry.nearest_neighbor import nearest_neighbors
from tf3d.geometry.normals import unit_vectors


def _packed_quadrics(packed):
    """`[B * V, 4, 4]` vertex quadrics of a `batching.PackedMeshes`."""
    corners = tf.gather(packed.vertices, packed.faces)  # [P, 3, 3]
    normal = unit_vectors(tf.linalg.cross(corners[:, 1] - corners[:, 0],
                                          corners[:, 2] - corners[:, 0]))  # 0 if degenerate
    plane = tf.concat([normal, -tf.reduce_sum(normal * corners[:, 0], -1, keepdims=True)], -1)
    face_quadric = plane[:, :, None] * plane[:, None, :]  # [P, 4, 4]
    return tf.math.unsorted_segment_sum(tf.repeat(face_quadric, 3, axis=0),
                                        tf.reshape(packed.faces, [-1]),
                                        tf.shape(packed.vertices)[0])


def vertex_quadrics(vertices, faces, vertex_counts=None, face_counts=None):
    """Per-vertex sums of the plane quadrics of the incident faces.

    Args:
      vertices: `[B, V, 3]` or `[V, 3]` float.
      faces: `[F, 3]` (shared) or `[B, F, 3]` int vertex indices.
      vertex_counts, face_counts: optional `[B]` padded sizes (see `tf3d.geometry`).

    Returns:
      `[B, V, 4, 4]` (`[V, 4, 4]` unbatched) symmetric positive semi-definite
      matrices; zero for a vertex on no face.
    """
    packed = batching.pack_meshes(vertices, faces, vertex_counts, face_counts)
    return packed.unpack(_packed_quadrics(packed))


def quadric_loss(points, target_vertices, target_faces, points_lengths=None,
                 target_vertex_counts=None, target_face_counts=None, point_reduction="mean",
                 batch_reduction="mean", chunk_size=None):
    """Quadric error of predicted points against their nearest target vertices.

    Args:
      points: `[B, N, 3]` or `[N, 3]` predicted points (a mesh's vertices or
        surface samples).
      target_vertices: `[B, V, 3]` or `[V, 3]` (as `points`), converted to the
        points' dtype.
      target_faces: `[F, 3]` (shared) or `[B, F, 3]` int vertex indices.
      points_lengths: optional `[B]` valid points per set.
      target_vertex_counts, target_face_counts: optional `[B]` padded sizes of the
        targets (see `tf3d.geometry`); padding vertices are never nearest.
      point_reduction: "mean" or "sum" over a set's points.
      batch_reduction: "mean", "sum" or None (`[B]` values).
      chunk_size: query rows per nearest-neighbour block (see `nearest_neighbors`).

    Returns:
      Scalar (or `[B]`) in the points' dtype, differentiable with respect to
      the points and the target vertices (not through the choice of nearest vertex).

    Cost: the nearest-neighbour search (O(B N V) time, O(B C V) memory for
    chunks of C rows) plus O(B (V + F)) for the quadrics.
    """
    batching.check_reduction(point_reduction, "point_reduction")
    batching.check_reduction(batch_reduction, "batch_reduction", allow_none=True)
    points, _, _ = batching.check_point_pair(points, target_vertices,
                                             ("points", "target_vertices"), y_dims=3)
    packed = batching.pack_meshes(
        target_vertices, target_faces, target_vertex_counts, target_face_counts,
        dtype=points.dtype, names=("target_vertices", "target_faces", "target_vertex_counts",
                                   "target_face_counts"))
    quadrics = tf.reshape(_packed_quadrics(packed),
                          [packed.batch_size, packed.num_vertices, 4, 4])  # [B, V, 4, 4]
    targets = tf.reshape(packed.vertices, [packed.batch_size, packed.num_vertices, 3])
    points_lengths = batching.check_lengths(points_lengths, points, "points_lengths")
    _, index = nearest_neighbors(points, targets, points_lengths, target_vertex_counts,
                                 chunk_size)  # [B, N]
    q = tf.gather(quadrics, index, axis=1, batch_dims=1)  # [B, N, 4, 4]
    homogeneous = tf.concat([points, tf.ones_like(points[..., :1])], -1)  # [B, N, 4]
    error = tf.einsum("bni,bnij,bnj->bn", homogeneous, q, homogeneous)
    return batching.reduce_batch(batching.reduce_points(error, points_lengths, point_reduction),
                                 batch_reduction)
