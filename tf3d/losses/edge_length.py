"""Edge-length regulariser for deformed meshes (Wang et al. 2018, "Pixel2Mesh", sec. 3.4).

    L(mesh) = mean over unique edges (i, j) of (|v_i - v_j| - target_length)^2

then the mean over the batch, as PyTorch3D's `mesh_edge_loss`: every mesh
weighs the same whatever its number of edges. With `target_length=0` it is
Pixel2Mesh's squared edge length, which keeps vertices from flying apart.
"""

import tensorflow as tf

from tf3d.geometry import batching
from tf3d.geometry.topology import unique_edges


def edge_length_loss(vertices, faces, vertex_counts=None, face_counts=None, target_length=0.0,
                     batch_reduction="mean"):
    """Squared deviation of edge lengths from `target_length`.

    Args:
      vertices: `[B, V, 3]` or `[V, 3]` float.
      faces: `[F, 3]` (shared) or `[B, F, 3]` int vertex indices.
      vertex_counts, face_counts: optional `[B]` padded sizes (see `tf3d.geometry`).
      target_length: resting length of an edge.
      batch_reduction: "mean", "sum" or None (`[B]` per-mesh values).

    Returns:
      Scalar (or `[B]`) in the vertices' dtype; a mesh without faces gives 0.

    Cost: O(F log F) time (unique edges), O(V + F) memory.
    """
    batching.check_reduction(batch_reduction, "batch_reduction", allow_none=True)
    packed = batching.pack_meshes(vertices, faces, vertex_counts, face_counts)
    edges = unique_edges(packed.faces)  # [E, 2] rows of the packed vertices
    ends = tf.gather(packed.vertices, edges)  # [E, 2, 3]
    length = tf.norm(ends[:, 0] - ends[:, 1], axis=-1)
    per_edge = tf.square(length - tf.cast(target_length, length.dtype))
    per_mesh = packed.mean_per_mesh(per_edge, tf.gather(packed.vertex_to_mesh, edges[:, 0]))
    return batching.reduce_batch(per_mesh, batch_reduction)
