"""Loading and cleaning triangle meshes from disk (OBJ, PLY, OFF, GLB, STL).

ShapeNet meshes are messy: duplicate and degenerate faces, unreferenced
vertices, materials and textures. tf3d only needs geometry, so a mesh is
reduced to clean `(vertices [V, 3], faces [F, 3])` arrays here, once, and
every later stage (normalization, voxelization, Blender) sees the same thing.
"""

import numpy as np
import trimesh


class BadMesh(ValueError):
    """A mesh that cannot be used: the message says why."""


def load_mesh(path):
    """Reads a mesh file and returns its cleaned geometry.

    Materials and textures are ignored; a multi-object file is merged.

    Args:
      path: mesh file path.

    Returns:
      (vertices, faces): float64 `[V, 3]` and int64 `[F, 3]`.

    Raises:
      BadMesh: the file cannot be read, or holds no usable triangle.
    """
    try:
        mesh = trimesh.load(str(path), force="mesh", skip_materials=True, process=False)
    except Exception as exc:  # trimesh raises many unrelated types for bad files
        raise BadMesh(f"cannot be read: {type(exc).__name__}: {exc}") from exc
    vertices = np.asarray(getattr(mesh, "vertices", np.zeros((0, 3))), dtype=np.float64)
    faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), dtype=np.int64)
    return clean_mesh(vertices, faces)


def clean_mesh(vertices, faces):
    """Drops degenerate, duplicate and out-of-range faces and unused vertices.

    Args:
      vertices: `[V, 3]` positions.
      faces: `[F, 3]` vertex indices.

    Returns:
      (vertices, faces): float64 `[V', 3]`, int64 `[F', 3]`.

    Raises:
      BadMesh: non-finite coordinates, or no triangle with area left.
    """
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0 or len(vertices) == 0:
        raise BadMesh("has no faces")
    if not np.all(np.isfinite(vertices)):
        raise BadMesh("has NaN or infinite vertex coordinates")
    faces = faces[np.all((faces >= 0) & (faces < len(vertices)), axis=1)]
    # Merge coincident vertices so that duplicate faces and slivers show up as such.
    scale = float(np.ptp(vertices, axis=0).max()) or 1.0
    keys = np.round(vertices / (scale * 1e-9)).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    faces = inverse.reshape(-1)[faces]
    vertices = vertices[first]
    tri = vertices[faces]
    area2 = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    faces = faces[area2 > (scale * 1e-7) ** 2]
    if len(faces) == 0:
        raise BadMesh("has only degenerate faces")
    _, unique = np.unique(np.sort(faces, axis=1), axis=0, return_index=True)
    faces = faces[np.sort(unique)]
    used, faces = np.unique(faces, return_inverse=True)
    return vertices[used], faces.reshape(-1, 3)


def save_obj(path, vertices, faces):
    """Writes geometry only (`v` and `f` lines) as OBJ, the format every Blender imports fast."""
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64) + 1
    with open(path, "w") as fh:
        fh.write("".join(f"v {x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in vertices))
        fh.write("".join(f"f {a} {b} {c}\n" for a, b, c in faces))
