"""Laplacian smoothing loss (PyTorch3D's `mesh_laplacian_smoothing`).

    L(mesh) = mean over the mesh's vertices of |delta_i|

with delta the uniform or cotangent Laplacian vector of `tf3d.geometry.mesh_laplacian`
(the norm, not its square, as PyTorch3D), then the mean over the batch. As
PyTorch3D, the cotangent weights are constants for the gradient ("a magic
constant matrix that is used to transform verts into normals"): the loss
moves each vertex toward its weighted neighbourhood mean without also
reshaping the triangles to change the weights.
"""

import tensorflow as tf

from tf3d.geometry import batching
from tf3d.geometry.laplacian import packed_laplacian
from tf3d.geometry.normals import unit_vectors


def laplacian_smoothing_loss(vertices, faces, vertex_counts=None, face_counts=None,
                             method="uniform", batch_reduction="mean"):
    """Mean Laplacian vector length.

    Args:
      vertices: `[B, V, 3]` or `[V, 3]` float.
      faces: `[F, 3]` (shared) or `[B, F, 3]` int vertex indices.
      vertex_counts, face_counts: optional `[B]` padded sizes (see `tf3d.geometry`);
        the mean runs over a mesh's valid vertices, isolated ones counting 0.
      method: "uniform" or "cotangent".
      batch_reduction: "mean", "sum" or None (`[B]` per-mesh values).

    Returns:
      Scalar (or `[B]`) in the vertices' dtype.

    Cost: O(F log F) time, O(V + F) memory.
    """
    batching.check_reduction(batch_reduction, "batch_reduction", allow_none=True)
    packed = batching.pack_meshes(vertices, faces, vertex_counts, face_counts)
    delta = packed_laplacian(packed, method, constant_weights=True)  # [B * V, 3]
    # |delta| as delta . stop_gradient(delta / |delta|): same value and gradient,
    # but a zero gradient (not NaN) where delta = 0
    length = tf.reduce_sum(delta * tf.stop_gradient(unit_vectors(delta)), axis=-1)
    mask = packed.vertex_mask
    per_mesh = packed.mean_per_mesh(tf.boolean_mask(length, mask),
                                    tf.boolean_mask(packed.vertex_to_mesh, mask))
    return batching.reduce_batch(per_mesh, batch_reduction)

