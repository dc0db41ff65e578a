"""Area-weighted random points on mesh surfaces, differentiable with respect to the vertices.

A sample picks a face with probability proportional to its area, then a
point uniform on that triangle through Osada et al.'s square-root trick
("Shape distributions", 2002): with u, v ~ U(0, 1),

    p = (1 - sqrt(u)) v0 + sqrt(u) (1 - v) v1 + sqrt(u) v v2.

The face choice is discrete and gets no gradient; the barycentric weights are
drawn independently of the vertices (the reparameterization), so `p` is a
linear function of its face's corners and gradients reach them, as in
PyTorch3D's `sample_points_from_meshes`.
"""

import tensorflow as tf

from tf3d.geometry import batching
from tf3d.geometry.normals import unit_vectors


def _check_seed(seed):
    if seed is None:
        return tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32)
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise ValueError(f"seed must be an integer or a [2] integer tensor, got dtype "
                         f"{seed.dtype.name}")
    seed = tf.cast(seed, tf.int64)  # int32 and int64 seeds would give different streams
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.constant(0, tf.int64)])
    if seed.shape != (2,):
        raise ValueError(f"seed must be an integer or have shape [2], got {seed.shape}")
    return seed


def sample_points(vertices, faces, num_samples, face_counts=None, seed=None,
                  return_normals=False):
    """Samples points uniformly (by area) on the surface of each mesh.

    Args:
      vertices: `[B, V, 3]` or `[V, 3]` float.
      faces: `[F, 3]` (shared) or `[B, F, 3]` int vertex indices.
      num_samples: S > 0 points per mesh.
      face_counts: optional `[B]` valid faces per mesh (padded faces are never picked).
      seed: an int or a `[2]` int tensor for `tf.random.stateless_*` (`s` is
        `[s, 0]`): the same seed and vertices give the same samples, eagerly
        and under `tf.function` (XLA-compiled code draws other numbers from
        the same seed). None draws a fresh seed at every call.
      return_normals: also return the unit normal of each sample's face.

    Returns:
      points `[B, S, 3]` (`[S, 3]` for unbatched input), vertices' dtype; with
      `return_normals`, `(points, normals)` of the same shape.

    Raises:
      ValueError: a static shape or `num_samples` is wrong.
      tf.errors.InvalidArgumentError: a mesh has no area to sample from.
    """
    if isinstance(num_samples, bool) or int(num_samples) != num_samples or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    vertices, batched = batching.check_vertices(vertices)
    faces = batching.check_faces(faces, vertices, batched)
    seed = _check_seed(seed)
    valid = None
    if face_counts is not None:  # padding faces may hold any index: point them at vertex 0
        num_faces = tf.shape(faces)[-2]
        face_counts = batching.check_counts(face_counts, vertices, num_faces, "face_counts")
        valid = batching.lengths_mask(face_counts, num_faces)  # [B, F]
        faces = tf.where(valid[..., None], faces, 0)  # [B, F, 3]
    corners = batching.gather_face_vertices(vertices, faces)  # [B, F, 3, 3]
    cross = tf.linalg.cross(corners[..., 1, :] - corners[..., 0, :],
                            corners[..., 2, :] - corners[..., 0, :])  # [B, F, 3]
    areas = tf.stop_gradient(tf.norm(cross, axis=-1))  # twice the area; scale is irrelevant
    if valid is not None:
        areas = tf.where(valid, areas, tf.zeros_like(areas))
    tf.debugging.assert_positive(tf.reduce_sum(areas, axis=1),
                                 message="sample_points: a mesh has zero surface area")
    face_seed, weight_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    # inverse-CDF draw of faces by area (XLA compiles it, unlike stateless_categorical);
    # a zero-area face spans an empty interval of the CDF and is never picked
    cdf = tf.cumsum(areas, axis=1)  # [B, F]
    draw = tf.random.stateless_uniform([tf.shape(areas)[0], int(num_samples)], face_seed,
                                       dtype=areas.dtype) * cdf[:, -1:]
    chosen = tf.minimum(tf.searchsorted(cdf, draw, side="right", out_type=tf.int32),
                        tf.shape(areas)[1] - 1)  # [B, S]
    picked = tf.gather(corners, chosen, axis=1, batch_dims=1)  # [B, S, 3, 3]
    u, v = tf.unstack(tf.random.stateless_uniform(
        tf.concat([[2], tf.shape(chosen)], 0), weight_seed, dtype=vertices.dtype))
    root = tf.sqrt(u)
    weights = tf.stack([1.0 - root, root * (1.0 - v), root * v], axis=-1)  # [B, S, 3]
    points = tf.reduce_sum(weights[..., None] * picked, axis=-2)  # [B, S, 3]
    if not batched:
        points = points[0]
    if not return_normals:
        return points
    normals = unit_vectors(tf.gather(cross, chosen, axis=1, batch_dims=1))  # [B, S, 3]
    return points, (normals if batched else normals[0])
