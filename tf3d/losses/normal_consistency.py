"""Normal consistency between faces that share an edge (PyTorch3D's `mesh_normal_consistency`).

For an edge (v0, v1) shared by faces (v0, v1, a) and (v1, v0, b),

        a
       / \\
      / f0\\          n0 = (v1 - v0) x (a - v0)
    v0-----v1        n1 = (b - v0) x (v1 - v0)
      \\ f1/          loss = 1 - cos(n0, n1)
       \\ /
        b

so 0 when the two faces are coplanar, 1 when folded at a right angle, 2 when
folded flat onto each other. The normals are built from the edge and the two
far corners, not from the faces' windings, so the loss does not care how the
faces are oriented. Every pair of faces on an edge counts (k (k - 1) / 2
pairs for k faces, `tf3d.geometry.face_adjacency`); the loss is the mean over
a mesh's pairs, then over the batch.
"""

import tensorflow as tf

from tf3d.geometry import batching
from tf3d.geometry.normals import unit_vectors
from tf3d.geometry.topology import face_adjacency


def normal_consistency_loss(vertices, faces, vertex_counts=None, face_counts=None,
                            batch_reduction="mean"):
    """Mean `1 - cos` between the normals of adjacent faces.

    Args:
      vertices: `[B, V, 3]` or `[V, 3]` float.
      faces: `[F, 3]` (shared) or `[B, F, 3]` int vertex indices.
      vertex_counts, face_counts: optional `[B]` padded sizes (see `tf3d.geometry`).
      batch_reduction: "mean", "sum" or None (`[B]` per-mesh values).

    Returns:
      Scalar (or `[B]`) in the vertices' dtype; a mesh without adjacent faces gives 0.

    Cost: O(F log F + P) time and memory for P adjacent pairs (P = 3F / 2 on a
    closed manifold).
    """
    batching.check_reduction(batch_reduction, "batch_reduction", allow_none=True)
    packed = batching.pack_meshes(vertices, faces, vertex_counts, face_counts)
    pairs = face_adjacency(packed.faces)
    v0 = tf.gather(packed.vertices, pairs.edges[:, 0])  # [P, 3]
    along = tf.gather(packed.vertices, pairs.edges[:, 1]) - v0
    n0 = tf.linalg.cross(along, tf.gather(packed.vertices, pairs.opposite[:, 0]) - v0)
    n1 = tf.linalg.cross(tf.gather(packed.vertices, pairs.opposite[:, 1]) - v0, along)
    per_pair = 1.0 - tf.reduce_sum(unit_vectors(n0) * unit_vectors(n1), axis=-1)
    per_mesh = packed.mean_per_mesh(per_pair, tf.gather(packed.vertex_to_mesh, pairs.edges[:, 0]))
    return batching.reduce_batch(per_mesh, batch_reduction)
