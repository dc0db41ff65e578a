"""The argument check shared by the mesh ops (`mesh_silhouette`, `rasterize`) and their references.

Both implementations of each op run it (through the op's `check_arguments`),
so they accept and reject the same meshes: static shapes raise `ValueError`
naming the argument; face indices, finite vertices and cameras and the pixel
count raise `tf.errors.InvalidArgumentError` when the returned tensors are
computed (`_checks.with_checks`). Face indices are range-checked in their own
dtype before the cast to int32, so that int64 indices cannot wrap.
"""

import tensorflow as tf

from tf3d.ops import _camera, _checks


def check_mesh_arguments(vertices, faces, projection, image_size, need_inverse=False):
    """Converts and checks a batch of meshes, their shared faces and their cameras.

    Args:
      vertices: `[B, V, 3]` world positions (integers become float32).
      faces: `[F, 3]` integer vertex indices in [0, V).
      projection: `[B, 3, 4]` cameras (cast to the vertices' dtype).
      image_size: `h` or `(h, w)`.
      need_inverse: also require each camera's left 3x3 block to be invertible.

    Returns:
      (vertices, faces int32, projection, height, width).
    """
    vertices = tf.convert_to_tensor(vertices)
    if not vertices.dtype.is_floating:
        vertices = tf.cast(vertices, tf.float32)
    if vertices.shape.rank != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must have shape [B, V, 3], got {vertices.shape}")
    faces = tf.convert_to_tensor(faces)
    if not faces.dtype.is_integer:
        raise ValueError(f"faces must hold integer vertex indices, got dtype {faces.dtype.name}")
    if faces.shape.rank != 2 or faces.shape[-1] != 3:
        raise ValueError(f"faces must have shape [F, 3], got {faces.shape}")
    projection = tf.cast(_camera.check_projection(projection, vertices.shape[0]), vertices.dtype)
    height, width = _camera.image_size_pair(image_size)
    num_vertices = tf.cast(tf.shape(vertices, out_type=tf.int64)[1], faces.dtype)
    faces = _checks.with_checks(faces, [
        (tf.reduce_any((faces < 0) | (faces >= num_vertices), axis=-1),
         "faces{index} holds a vertex index outside [0, V) for vertices [B, V, 3]")])
    faces = tf.cast(faces, tf.int32)
    vertices = _checks.with_checks(vertices, [
        (~tf.reduce_all(tf.math.is_finite(vertices), axis=-1), "vertices{index} must be finite"),
        _checks.pixel_count_check(tf.shape(vertices)[0], height, width)])
    projection = _checks.with_checks(projection,
                                     _camera.projection_checks(projection, need_inverse))
    return vertices, faces, projection, height, width
