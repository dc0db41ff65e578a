"""Argument checks and the packed form of padded mesh batches (see `tf3d.geometry`).

Every public function in `tf3d.geometry` and the mesh losses converts its
inputs here, so that a wrong shape fails on entry with a `ValueError` naming
the argument, the expected shape and the received one. Only static shapes are
checked this way; index ranges and counts are checked when the graph runs
(`tf.errors.InvalidArgumentError`).
"""

from typing import NamedTuple

import tensorflow as tf

REDUCTIONS = ("mean", "sum")


def _shape_error(name, expected, tensor):
    return ValueError(f"{name} must have shape {expected}, got {tensor.shape}")


def as_float(value, name, dtype=None):
    """`value` as a floating tensor: `dtype` if given, else its own (float32 for integers)."""
    tensor = tf.convert_to_tensor(value)
    if dtype is not None and tensor.dtype != dtype:
        if not (tensor.dtype.is_floating or tensor.dtype.is_integer):
            raise ValueError(f"{name} must hold numbers, got dtype {tensor.dtype.name}")
        return tf.cast(tensor, dtype)
    if not tensor.dtype.is_floating:
        if not tensor.dtype.is_integer:
            raise ValueError(f"{name} must hold numbers, got dtype {tensor.dtype.name}")
        tensor = tf.cast(tensor, tf.float32)
    return tensor


def check_points(points, name, dims=3, dtype=None, size="N"):
    """`(points [B, N, D], batched)`: `[N, D]` becomes a batch of one.

    Args:
      points: `[B, N, D]` or `[N, D]` coordinates.
      name: the argument's name, for errors.
      dims: the required D, or None for any (static) D.
      dtype: convert to this dtype (None: keep a float dtype, float32 for integers).
      size: what errors call N.
    """
    points = as_float(points, name, dtype)
    d = dims if dims else "D"
    expected = f"[B, {size}, {d}] or [{size}, {d}]"
    if points.shape.rank not in (2, 3) or points.shape[-1] is None or \
            (dims is not None and points.shape[-1] != dims):
        raise _shape_error(name, expected, points)
    batched = points.shape.rank == 3
    return (points if batched else points[None]), batched


def check_point_pair(x, y, names=("x", "y"), y_dims="same"):
    """`(x [B, N, D], y [B, M, D'], batched)`, y in x's dtype, both batched or both not.

    `y_dims="same"` requires D' = D; an int requires that D' (and D = 3).
    """
    x, batched = check_points(x, names[0], dims=None if y_dims == "same" else 3)
    y, y_batched = check_points(y, names[1], dims=x.shape[-1] if y_dims == "same" else y_dims,
                                dtype=x.dtype)
    if y_batched != batched:
        raise ValueError(f"{names[0]} and {names[1]} must both be batched ([B, N, D]) or both "
                         f"not ([N, D]), got {x.shape if batched else x.shape[1:]} and "
                         f"{y.shape if y_batched else y.shape[1:]}")
    if None not in (x.shape[0], y.shape[0]) and x.shape[0] != y.shape[0]:
        raise ValueError(f"{names[0]} and {names[1]} must have the same batch size B, got "
                         f"{x.shape} and {y.shape}")
    return x, y, batched


def check_vertices(vertices, name="vertices", dtype=None):
    """`(vertices [B, V, 3], batched)`: `[V, 3]` becomes a batch of one."""
    return check_points(vertices, name, dims=3, dtype=dtype, size="V")


def check_faces(faces, vertices, batched, name="faces"):
    """`faces` as int32 `[F, 3]` or `[B, F, 3]` matching `vertices [B, V, 3]`."""
    faces = tf.convert_to_tensor(faces)
    if not faces.dtype.is_integer:
        raise ValueError(f"{name} must hold integer vertex indices, got dtype {faces.dtype.name}")
    expected = "[F, 3] or [B, F, 3]" if batched else "[F, 3]"
    if faces.shape.rank not in ((2, 3) if batched else (2,)) or faces.shape[-1] != 3:
        raise _shape_error(name, expected, faces)
    if faces.shape.rank == 3 and None not in (faces.shape[0], vertices.shape[0]) and \
            faces.shape[0] != vertices.shape[0]:
        raise ValueError(f"{name} must have shape [F, 3] or [B, F, 3] with B = "
                         f"{vertices.shape[0]} as in the vertices, got {faces.shape}")
    return tf.cast(faces, tf.int32)


def check_counts(counts, batch_like, limit, name):
    """`counts` as int32 `[B]` in `[0, limit]`, B from `batch_like [B, ...]`; None stays None."""
    if counts is None:
        return None
    counts = tf.convert_to_tensor(counts)
    if not counts.dtype.is_integer:
        raise ValueError(f"{name} must hold integer counts, got dtype {counts.dtype.name}")
    batch = batch_like.shape[0]
    if counts.shape.rank != 1 or (None not in (batch, counts.shape[0])
                                  and counts.shape[0] != batch):
        raise ValueError(f"{name} must have shape [B] = [{batch}], got {counts.shape}")
    counts = tf.cast(counts, tf.int32)
    tf.debugging.assert_equal(tf.size(counts), tf.shape(batch_like)[0],
                              message=f"{name} must hold one count per batch element")
    tf.debugging.assert_non_negative(counts, message=f"{name} must not be negative")
    tf.debugging.assert_less_equal(counts, tf.cast(limit, tf.int32),
                                   message=f"{name} must not exceed the padded size")
    return counts


def check_lengths(lengths, points, name):
    """`[B]` int32 valid points per set of `points [B, N, D]`: N for all when `lengths` is None."""
    checked = check_counts(lengths, points, tf.shape(points)[1], name)
    return tf.fill(tf.shape(points)[:1], tf.shape(points)[1]) if checked is None else checked


def check_reduction(value, name, allow_none=False):
    """Raises ValueError unless `value` is "mean" or "sum" (or None when allowed)."""
    if value is None and allow_none:
        return
    if value not in REDUCTIONS:
        options = ", ".join(repr(r) for r in REDUCTIONS) + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be one of {options}, got {value!r}")


def gather_face_vertices(vertices, faces):
    """`[B, F, 3, 3]` corners of each face (or `[F, 3, 3]` for one unbatched mesh).

    Args:
      vertices: `[B, V, 3]` (or `[V, 3]`).
      faces: `[F, 3]` shared or `[B, F, 3]` per mesh (`[F, 3]` when unbatched), int32.
    """
    if faces.shape.rank == 3:
        return tf.gather(vertices, faces, axis=1, batch_dims=1)
    return tf.gather(vertices, faces, axis=vertices.shape.rank - 2)


def lengths_mask(lengths, size):
    """`[B, size]` bool, True where the index is below `lengths [B]`."""
    return tf.range(size)[None, :] < lengths[:, None]


def mean_per_mesh(values, mesh_ids, batch_size):
    """`[B]` mean of `values [N]` grouped by `mesh_ids [N]`; 0 for a mesh with none."""
    total = tf.math.unsorted_segment_sum(values, mesh_ids, batch_size)
    count = tf.math.unsorted_segment_sum(tf.ones_like(values), mesh_ids, batch_size)
    return tf.math.divide_no_nan(total, count)


def reduce_points(values, lengths, reduction):
    """`[B]` "mean" or "sum" over the first `lengths [B]` entries of each row of `values [B, N]`.

    Padding entries are ignored (even if NaN or infinite); an empty set gives 0.
    """
    values = tf.where(lengths_mask(lengths, tf.shape(values)[1]), values, tf.zeros_like(values))
    total = tf.reduce_sum(values, axis=1)
    if reduction == "sum":
        return total
    return tf.math.divide_no_nan(total, tf.cast(lengths, values.dtype))


def reduce_batch(per_mesh, reduction):
    """`per_mesh [B]` reduced over the batch: "mean", "sum" or None (kept as `[B]`)."""
    if reduction is None:
        return per_mesh
    total = tf.reduce_sum(per_mesh)
    return total if reduction == "sum" else total / tf.cast(tf.size(per_mesh), per_mesh.dtype)


class PackedMeshes(NamedTuple):
    """A padded batch flattened into one mesh (PyTorch3D's "packed" representation).

    Attributes:
      vertices: `[B * V, 3]`; vertex i of mesh b is row `b * V + i` (padding included).
      faces: `[P, 3]` int32 rows of `vertices`, the valid faces only (P = sum of F_b).
      face_to_mesh: `[P]` int32 mesh of each face.
      vertex_to_mesh: `[B * V]` int32 mesh of each vertex row.
      vertex_mask: `[B * V]` bool, False for padding rows.
      batch_size: scalar int32 B.
      num_vertices: scalar int32 V (padded).
      batched: whether the caller passed a batch (else B = 1 and outputs drop it).
    """

    vertices: tf.Tensor
    faces: tf.Tensor
    face_to_mesh: tf.Tensor
    vertex_to_mesh: tf.Tensor
    vertex_mask: tf.Tensor
    batch_size: tf.Tensor
    num_vertices: tf.Tensor
    batched: bool

    def unpack(self, values):
        """Per-vertex `values [B * V, ...]` back to `[B, V, ...]` (`[V, ...]` unbatched)."""
        shape = tf.concat([[self.batch_size, self.num_vertices], tf.shape(values)[1:]], 0)
        values = tf.reshape(values, shape)
        return values if self.batched else values[0]

    def mean_per_mesh(self, values, mesh_ids):
        """`[B]` mean of `values [N]` grouped by `mesh_ids [N]` (see `mean_per_mesh`)."""
        return mean_per_mesh(values, mesh_ids, self.batch_size)


def pack_meshes(vertices, faces, vertex_counts=None, face_counts=None, dtype=None,
                names=("vertices", "faces", "vertex_counts", "face_counts")):
    """Checks a padded batch of meshes and flattens it (see `PackedMeshes`).

    Args:
      vertices: `[B, V, 3]` float (or `[V, 3]`, one mesh).
      faces: `[F, 3]` shared or `[B, F, 3]` per mesh, integer indices local to each mesh.
      vertex_counts: optional `[B]` valid vertices per mesh (default: V).
      face_counts: optional `[B]` valid faces per mesh (default: F).
      dtype: convert the vertices to this dtype (default: theirs).
      names: the four arguments' names as the caller calls them, for errors.

    Returns:
      `PackedMeshes`.

    Raises:
      ValueError: a static shape is wrong (names the argument).
      tf.errors.InvalidArgumentError: a valid face indexes a vertex outside its mesh,
        or a count is out of range.
    """
    vertices, batched = check_vertices(vertices, names[0], dtype)
    faces = check_faces(faces, vertices, batched, names[1])
    batch, num_v = tf.shape(vertices)[0], tf.shape(vertices)[1]
    if faces.shape.rank == 2:
        faces = tf.broadcast_to(faces[None], tf.concat([[batch], tf.shape(faces)], 0))
    num_f = tf.shape(faces)[1]
    vertex_counts = check_counts(vertex_counts, vertices, num_v, names[2])
    face_counts = check_counts(face_counts, vertices, num_f, names[3])
    face_mesh = tf.broadcast_to(tf.range(batch)[:, None], [batch, num_f])  # [B, F]
    face_mask = (lengths_mask(face_counts, num_f) if face_counts is not None
                 else tf.ones([batch, num_f], tf.bool))
    local = tf.boolean_mask(faces, face_mask)  # [P, 3]
    face_to_mesh = tf.boolean_mask(face_mesh, face_mask)  # [P]
    limit = num_v if vertex_counts is None else tf.gather(vertex_counts, face_to_mesh)[:, None]
    tf.debugging.assert_non_negative(local, message=f"{names[1]} hold a negative vertex index")
    tf.debugging.assert_less(local, limit, message=f"{names[1]} index a vertex beyond its "
                             f"mesh's vertex count")
    vertex_mask = (lengths_mask(vertex_counts, num_v) if vertex_counts is not None
                   else tf.ones([batch, num_v], tf.bool))
    return PackedMeshes(
        vertices=tf.reshape(vertices, [-1, 3]),  # [B * V, 3]
        faces=local + face_to_mesh[:, None] * num_v,
        face_to_mesh=face_to_mesh,
        vertex_to_mesh=tf.repeat(tf.range(batch), num_v),
        vertex_mask=tf.reshape(vertex_mask, [-1]),
        batch_size=batch, num_vertices=num_v, batched=batched)
