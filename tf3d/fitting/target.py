"""What a fit is fitted to: the target mesh, its views and their Blender masks.

`load_target(spec)` gives the normalized target mesh (`tf3d.conventions`:
inside the voxel cube, +Y up, front at +Z). `fit_views` and `held_out_views`
give the cameras: the fitting views on two elevation rings around the object
(or the dataset's 8 views), and a few held-out views between their azimuths
at another elevation, used only for the silhouette IoU metric.
`render_masks` renders the target's masks with Blender
(`pipelines.render`, Workbench), so a silhouette fit is scored against
ground truth independent of `tf3d.ops.mesh_silhouette`; renderings are
cached by a hash of the mesh and the views under
`$TF3D_CACHE_DIR/fit_targets` (default `~/.cache/tf3d/fit_targets`).
"""

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np

from tf3d import conventions
from tf3d.fitting.config import parse_target

@dataclasses.dataclass(frozen=True)
class Target:
    """A normalized target mesh: `vertices [V, 3]` float64, `faces [F, 3]` int64, and its name."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray

    def diagonal(self):
        """Length of the bounding box's diagonal (F-score thresholds are fractions of it)."""
        return float(np.linalg.norm(self.vertices.max(axis=0) - self.vertices.min(axis=0)))


def load_target(spec):
    """The normalized `Target` named by `spec` (`synthetic:CATEGORY:SEED` or a mesh path)."""
    from pipelines import meshes

    kind, what, seed = parse_target(spec)
    if kind == "synthetic":
        from pipelines import synthetic

        mesh = synthetic.generate(what, seed)
        vertices, faces = meshes.clean_mesh(mesh.vertices, mesh.faces)
        name = f"{what}-{seed}"
    else:
        try:
            vertices, faces = meshes.load_mesh(what)
        except meshes.BadMesh as error:
            raise ValueError(f"target {what}: {error}") from None
        name = os.path.splitext(os.path.basename(what))[0]
    return Target(name, conventions.normalize_vertices(vertices), np.asarray(faces, np.int64))


def ring_azimuths(count, offset=0.0):
    """`count` azimuths evenly spaced around the object, starting at `offset` degrees."""
    return tuple(float((offset + k * 360.0 / count) % 360.0) for k in range(count))


def fit_views(views):
    """`ViewpointSet`s of the fitting views of a `ViewsConfig` (one per elevation).

    "rings": `count` views, half (rounded up) on the first elevation ring and
    the rest on the second, the second ring turned by half a step so that
    together they see the object from evenly spread directions. "dataset":
    the dataset's views (`conventions.DEFAULT_VIEWPOINTS`: 8 azimuths at 30
    degrees), as in a record, at `image_size`.
    """
    base = dict(distance=conventions.DEFAULT_VIEWPOINTS.distance, fov=conventions.DEFAULT_VIEWPOINTS.fov,
                image_size=views.image_size)
    if views.layout == "dataset":
        return [dataclasses.replace(conventions.DEFAULT_VIEWPOINTS, image_size=views.image_size)]
    upper = (views.count + 1) // 2
    lower = views.count - upper
    rings = [conventions.ViewpointSet(azimuths=ring_azimuths(upper), elevation=views.elevations[0], **base)]
    if lower:
        rings.append(conventions.ViewpointSet(azimuths=ring_azimuths(lower, 180.0 / lower),
                                              elevation=views.elevations[1], **base))
    return rings


def held_out_views(views):
    """`ViewpointSet` of the held-out views: azimuths 45 + k 360 / n at their own elevation."""
    return conventions.ViewpointSet(azimuths=ring_azimuths(views.held_out, 45.0),
                                    elevation=views.held_out_elevation,
                                    distance=conventions.DEFAULT_VIEWPOINTS.distance,
                                    fov=conventions.DEFAULT_VIEWPOINTS.fov, image_size=views.image_size)


def projections(viewpoint_sets):
    """`[N, 3, 4]` float32 cameras of a list of `ViewpointSet`s, in order."""
    return np.concatenate([v.projections() for v in viewpoint_sets]).astype(np.float32)


def cache_dir():
    root = os.environ.get("TF3D_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tf3d")
    return os.path.join(root, "fit_targets")


def render_masks(target, viewpoint_sets, supersample=2):
    """Blender masks of `target` from every view of `viewpoint_sets`: `[N, S, S]` float32 in [0, 1].

    Cached: the same mesh and views are rendered once.
    """
    from pipelines import meshes, render

    key = hashlib.sha256()
    key.update(np.ascontiguousarray(target.vertices, np.float64).tobytes())
    key.update(np.ascontiguousarray(target.faces, np.int64).tobytes())
    key.update(json.dumps([v.to_dict() for v in viewpoint_sets] + [supersample]).encode())
    directory = os.path.join(cache_dir(), key.hexdigest()[:20])
    done = os.path.join(directory, "masks.npy")
    if not os.path.exists(done):
        os.makedirs(cache_dir(), exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            mesh_path = os.path.join(tmp, "target.obj")
            meshes.save_obj(mesh_path, target.vertices, target.faces)
            masks = []
            for i, viewpoints in enumerate(viewpoint_sets):
                out = os.path.join(tmp, f"views{i}")
                failures = render.render_meshes([(mesh_path, out)], viewpoints, supersample=supersample,
                                                in_place=True)
                if failures:
                    raise ValueError(f"Blender could not render the target {target.name}: {failures[0][1]}")
                masks.append(render.load_rendering(out)[1])
            os.makedirs(directory, exist_ok=True)
            np.save(os.path.join(tmp, "masks.npy"), np.concatenate(masks))
            os.replace(os.path.join(tmp, "masks.npy"), done)
    return np.load(done).astype(np.float32) / 255.0


def render_pictures(meshes_list, out_dir, azimuth=35.0, elevation=25.0, image_size=128):
    """Blender renderings (shaded, over white) of normalized meshes, drawn in place.

    Args:
      meshes_list: list of `(vertices [V, 3], faces [F, 3])`.
      out_dir: scratch directory for the OBJ files (removed afterwards).

    Returns:
      `[N, S, S]` uint8 grayscale images, one per mesh.
    """
    from pipelines import meshes, render

    viewpoints = conventions.ViewpointSet(azimuths=(azimuth,), elevation=elevation,
                                          image_size=image_size)
    scratch = tempfile.mkdtemp(dir=out_dir)
    try:
        jobs = []
        for i, (vertices, faces) in enumerate(meshes_list):
            path = os.path.join(scratch, f"mesh{i}.obj")
            meshes.save_obj(path, np.asarray(vertices, np.float64), np.asarray(faces, np.int64))
            jobs.append((path, os.path.join(scratch, f"render{i}")))
        failures = render.render_meshes(jobs, viewpoints, in_place=True)
        if failures:
            raise ValueError(f"Blender could not render {failures[0][0]}: {failures[0][1]}")
        return np.stack([render.load_rendering(out)[0][0] for _, out in jobs])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
