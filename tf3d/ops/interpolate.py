"""Per-pixel interpolation of vertex attributes over rasterized faces (pure TensorFlow).

nvdiffrast's `interpolate` (Laine et al. 2020, sec. 3.2): a pixel that sees
face f with barycentrics b gets `sum_k b_k a[f_k]`, and 0 where it sees no
face. Gradients reach the attributes (through the weights b) and, through
`Fragments.barycentrics`, the vertex positions and cameras that `rasterize`
was given.
"""

import tensorflow as tf

from tf3d.ops import _checks
from tf3d.ops.rasterize_reference import Fragments, visible_corners


def interpolate(attributes, fragments):
    """Interpolates vertex attributes at every pixel of rasterized meshes.

    Args:
      attributes: `[B, V, C]` per-mesh or `[V, C]` shared float attributes
        (colours, normals, UVs, ...) of the vertices `rasterize` saw.
      fragments: the `Fragments` that `tf3d.ops.rasterize` (or its reference)
        returned for those vertices.

    Returns:
      `[B, h, w, C]` in the barycentrics' dtype: the attributes of the visible
      face's corners weighted by its barycentrics, 0 where no face is seen.

    Raises:
      ValueError: `attributes` is not `[B, V, C]` / `[V, C]` with the
        fragments' B, or `fragments` is not `Fragments`.
      tf.errors.InvalidArgumentError: the faces index vertices beyond V.
    """
    if not isinstance(fragments, Fragments):
        raise ValueError(f"fragments must be the Fragments that rasterize returns, got "
                         f"{type(fragments).__name__}")
    bary = fragments.barycentrics
    attributes = tf.convert_to_tensor(attributes)
    if not (attributes.dtype.is_floating or attributes.dtype.is_integer):
        raise ValueError(f"attributes must hold numbers, got dtype {attributes.dtype.name}")
    attributes = tf.cast(attributes, bary.dtype)
    batch = bary.shape[0]
    if attributes.shape.rank not in (2, 3) or attributes.shape[-1] is None or (
            attributes.shape.rank == 3 and None not in (batch, attributes.shape[0])
            and attributes.shape[0] != batch):
        raise ValueError(f"attributes must have shape [B, V, C] with B = {batch} or [V, C], got "
                         f"{attributes.shape}")
    faces = fragments.faces
    num_vertices = tf.shape(attributes)[-2]
    attributes = _checks.with_checks(attributes, [
        (tf.reduce_any(faces >= num_vertices, axis=-1),
         "fragments.faces{index} holds a vertex index beyond the V of attributes [B, V, C]")])
    # Background pixels (zero barycentrics) read a zero vertex appended to the attributes.
    corners = visible_corners(fragments.face_ids, faces, num_vertices)  # [B, h, w, 3]
    pad = [[0, 1], [0, 0]] if attributes.shape.rank == 2 else [[0, 0], [0, 1], [0, 0]]
    attributes = tf.pad(attributes, pad)
    if attributes.shape.rank == 2:
        values = tf.gather(attributes, corners)  # [B, h, w, 3, C]
    else:
        values = tf.gather(attributes, corners, batch_dims=1)
    return tf.einsum("bhwk,bhwkc->bhwc", bary, values)
