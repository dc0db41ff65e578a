"""Small meshes for tests, benchmarks and optimisation demos.

Returned as NumPy (`vertices [V, 3]` float32, `faces [F, 3]` int32) with
outward, counter-clockwise (seen from outside) faces.
"""

import numpy as np


def icosphere(subdivisions=0, radius=1.0):
    """Icosphere with `10 * 4**n + 2` vertices and `20 * 4**n` faces.

    Args:
      subdivisions: n >= 0 (n = 4 gives 2562 vertices / 5120 faces).
      radius: sphere radius.
    """
    if int(subdivisions) < 0:
        raise ValueError(f"subdivisions must be >= 0, got {subdivisions}")
    t = (1.0 + 5.0 ** 0.5) / 2.0
    vertices = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t),
                (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
             (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8),
             (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    vertices = [np.array(v, dtype=np.float64) / np.linalg.norm(v) for v in vertices]
    for _ in range(int(subdivisions)):
        midpoint = {}

        def middle(i, j):
            key = (min(i, j), max(i, j))
            if key not in midpoint:
                m = vertices[i] + vertices[j]
                vertices.append(m / np.linalg.norm(m))
                midpoint[key] = len(vertices) - 1
            return midpoint[key]

        refined = []
        for a, b, c in faces:
            ab, bc, ca = middle(a, b), middle(b, c), middle(c, a)
            refined += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = refined
    return (np.stack(vertices) * radius).astype(np.float32), np.asarray(faces, dtype=np.int32)


def box(half_extent=0.5):
    """Axis-aligned cube `[-h, h]^3`: 8 vertices, 12 faces."""
    h = float(half_extent)
    vertices = np.array([[x, y, z] for x in (-h, h) for y in (-h, h) for z in (-h, h)],
                        dtype=np.float32)
    faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]],
                     dtype=np.int32)
    return vertices, faces
