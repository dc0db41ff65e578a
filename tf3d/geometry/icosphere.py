"""`icosphere(level)`: the icosahedron subdivided `level` times, on the unit sphere.

The construction (a regular icosahedron, each triangle split into four at
its edge midpoints, new vertices pushed onto the sphere) is
`tf3d.ops.primitives.icosphere`'s; this module gives it as tensors in the
dtype asked for, re-projected onto the sphere in that dtype.
"""

import functools

import numpy as np
import tensorflow as tf


@functools.lru_cache(maxsize=8)
def _icosphere_numpy(level):
    from tf3d.ops import primitives

    vertices, faces = primitives.icosphere(level)
    vertices = vertices.astype(np.float64)
    vertices /= np.linalg.norm(vertices, axis=1, keepdims=True)
    vertices.flags.writeable = False
    faces.flags.writeable = False
    return vertices, faces


def icosphere(level, radius=1.0, dtype=tf.float32):
    """Icosphere of subdivision `level`.

    Args:
      level: L >= 0; V = 10 * 4**L + 2 vertices, F = 20 * 4**L faces,
        E = 30 * 4**L edges (L = 4: 2562 vertices, 5120 faces).
      radius: sphere radius.
      dtype: float dtype of the vertices.

    Returns:
      `(vertices, faces)`: `[V, 3]` `dtype` points at distance `radius` from the
      origin and `[F, 3]` int32 faces, counter-clockwise seen from outside
      (`cross(v1 - v0, v2 - v0)` points away from the centre).

    Raises:
      ValueError: `level` is not a non-negative integer.
    """
    if isinstance(level, bool) or int(level) != level or level < 0:
        raise ValueError(f"level must be an integer >= 0, got {level!r}")
    vertices, faces = _icosphere_numpy(int(level))
    return (tf.constant(vertices * float(radius), dtype=dtype),
            tf.constant(faces, dtype=tf.int32))
