"""The one place that defines tf3d's geometric conventions.

Every producer (the voxelizer, `blender/render_aligned.py`, the dataset
builders) and every consumer (the input pipeline, the renderer ops, the
alignment check) imports this module instead of restating a convention. It
imports only NumPy so that Blender's bundled Python (3.10 in Blender 3.4) can
import it too; keep it free of TensorFlow and of Python-3.11-only syntax.

World frame
    Right-handed, ShapeNet's: +Y is up, +X is the object's right and +Z its
    front (a chair's seat faces +Z, its back rest is at -Z). Units are those
    of the normalized object below.

Normalization into the voxel cube
    A mesh is translated so that the centre of its axis-aligned bounding box is
    the origin, then scaled uniformly by the largest factor that makes

        height <= NORMALIZED_EXTENT (= 1)  and  2 * footprint radius <= FOOTPRINT_DIAMETER (= 0.98)

    where the height is the bounding box's extent along +Y and the footprint
    radius the largest horizontal distance of any vertex from the vertical
    axis through the centre (the Y axis once centred). The object then stays
    inside the cube `[-CUBE_HALF, CUBE_HALF]^3` (`CUBE_HALF` = 0.5) under
    every rotation about +Y, which the viewer-centred targets need (below,
    and `tf3d.data.rotation`): its footprint lies in a disc that every
    rotated copy of the cube's square cross-section contains. Scaling the
    longest bounding-box side to 1 instead pushed the corners of a wide
    footprint out of the grid in the 45-degree views. The 2% margin is for
    the voxels: the voxel holding a footprint's outermost point has its
    centre up to half a voxel diagonal further out, and a column whose centre
    turns out of the cube is lost (with a diameter of 1, a square box lost its
    4 corner columns at 45 degrees and 2 of 100 synthetic models up to 0.3%
    of their voxels; with 0.98 none, `tf3d.data.rotation_kept`). The price is
    a smaller object when the footprint decides: a square footprint spans
    0.98 / sqrt(2) of the cube's side instead of all of it; an object taller
    than its footprint is wide keeps its height of 1. `NORMALIZATION_VERSION`
    names this definition (2; 1 was "longest bounding-box side = 1") so that
    dataset builds made under another one are rebuilt. See
    `normalization(vertices)`.

Voxel grids
    A grid of resolution R is a NumPy/TF array of shape `[X, Y, Z]` = `[R, R, R]`
    indexed `grid[i, j, k]`, with i along +X, j along +Y (up) and k along +Z
    (front). Voxel (i, j, k) is the cube of side 1/R centred at
    `-0.5 + (index + 0.5) / R` on each axis (`voxel_centers`). In batches the
    shape is `[B, X, Y, Z]`. Occupancy is 1 inside the solid, 0 outside.

Camera model
    A pinhole camera looking at the origin. Extrinsics map world points to
    camera coordinates in the OpenCV axes: x right, y down, z forward (depth
    along the optical axis). Intrinsics `K = [[f, 0, c], [0, f, c], [0, 0, 1]]`
    with `f = (size / 2) / tan(fov / 2)` and `c = size / 2`. Image coordinates
    (u, v) are continuous: u grows to the right along columns, v downwards
    along rows, and pixel (row, col) covers `[col, col + 1) x [row, row + 1)`,
    so its centre is at `(col + 0.5, row + 0.5)`. The 3x4 projection matrix is
    `P = K @ [R | t]`; a world point `p` projects to
    `(u, v) = (P @ [p, 1])[:2] / (P @ [p, 1])[2]`, and that third coordinate is
    the point's depth along the optical axis.

    An orthographic camera uses the same extrinsics and the matrix
    `P = [[s, 0, 0, c], [0, s, 0, c], [0, 0, 1, 0]] @ [[R | t], [0, 0, 0, 1]]`
    with no division: rows 0-1 give (u, v) directly and row 2 the depth.

Viewpoints
    A view is (azimuth, elevation) in degrees with the camera at
    `distance * (cos(el) sin(az), sin(el), cos(el) cos(az))`: azimuth 0 looks
    at the object's front from +Z, azimuth grows counter-clockwise seen from
    above (+90 looks from +X, the object's right), elevation grows upwards.
    Camera "up" is world +Y. `ViewpointSet` holds the fixed set a dataset is
    rendered with; `DEFAULT_VIEWPOINTS` is the built-in one: 8 azimuths 45
    degrees apart at 30 degrees elevation. Its field of view is chosen so
    that the whole voxel cube's bounding sphere stays inside the image from
    every view.

Viewer-centred frame
    The camera of azimuth `az` sees `p` exactly as the azimuth-0 camera (same
    elevation) sees `rotation_y(az).T @ p`. So a grid rotated by
    `viewer_rotation(az)` (= `rotation_y(az).T`) is aligned with the image of
    view `az` through the azimuth-0 camera. For azimuths that are multiples of
    90 degrees this maps voxel centres onto voxel centres exactly.

Images
    Renderings are grayscale, untextured, `size x size`, stored as two 8-bit
    PNGs per view: the shaded object composited over a white background, and
    its alpha (coverage) mask. A pixel of the mask is "inside" the silhouette
    when its coverage is at least `MASK_THRESHOLD`.
"""

import dataclasses
import math

import numpy as np

CUBE_HALF = 0.5
NORMALIZED_EXTENT = 2.0 * CUBE_HALF  # the largest height of a normalized mesh
FOOTPRINT_DIAMETER = 0.98 * NORMALIZED_EXTENT  # the largest diameter of its footprint about the Y axis
NORMALIZATION_VERSION = 2  # bumped whenever `normalization` changes: builds keyed on it are redone
DEFAULT_RESOLUTION = 32
MASK_THRESHOLD = 0.5
VOXEL_AXES = ("x", "y", "z")
UP_AXIS = 1  # index of world +Y in a point or voxel index triple

CATEGORIES = ("chair", "table")

# ShapeNet synset ids of the categories tf3d knows by name.
SYNSETS = {"03001627": "chair", "04379243": "table", "02691156": "airplane",
           "02828884": "bench", "02933112": "cabinet", "02958343": "car",
           "03211117": "display", "03636649": "lamp", "03691459": "speaker",
           "04090263": "rifle", "04256520": "sofa", "04401088": "telephone",
           "04530566": "watercraft"}


def normalization(vertices):
    """Scale and translation that normalize a mesh into the voxel cube.

    See the module docstring: the bounding box is centred, and the scale is
    the largest that keeps the height within `NORMALIZED_EXTENT` and the
    footprint's diameter about the vertical axis through the centre within
    `FOOTPRINT_DIAMETER`, so that every rotation about +Y keeps the object
    inside the cube.

    Args:
      vertices: `[V, 3]` array of world-frame positions, V >= 1.

    Returns:
      (scale, translation): a float and a `[3]` array such that
      `vertices * scale + translation` has its bounding box centred at the
      origin, height <= `NORMALIZED_EXTENT` and `2 * max(hypot(x, z))` <=
      `FOOTPRINT_DIAMETER`, one of the two with equality.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) == 0:
        raise ValueError(f"vertices must have shape [V, 3] with V >= 1, got {vertices.shape}")
    if not np.all(np.isfinite(vertices)):
        raise ValueError("vertices contain NaN or infinite coordinates")
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    centre = 0.5 * (lo + hi)
    horizontal = [axis for axis in range(3) if axis != UP_AXIS]
    radius = float(np.sqrt(np.square(vertices[:, horizontal] - centre[horizontal]).sum(axis=1).max()))
    height = float(hi[UP_AXIS] - lo[UP_AXIS])
    extent = max(height / NORMALIZED_EXTENT, 2.0 * radius / FOOTPRINT_DIAMETER)  # in units of the bounds
    if extent <= 0.0:
        raise ValueError("vertices are all at one point: the mesh has no extent")
    scale = 1.0 / extent
    return scale, -centre * scale


def normalize_vertices(vertices):
    """`[V, 3]` vertices moved and scaled into the voxel cube (see `normalization`)."""
    scale, translation = normalization(vertices)
    return np.asarray(vertices, dtype=np.float64) * scale + translation


def voxel_centers(resolution=DEFAULT_RESOLUTION):
    """World coordinates of voxel centres along one axis: `[R]` array."""
    return -CUBE_HALF + (np.arange(resolution) + 0.5) * (2.0 * CUBE_HALF / resolution)


def world_to_voxel(points, resolution=DEFAULT_RESOLUTION):
    """Continuous voxel coordinates of world points: `[..., 3]` -> `[..., 3]`.

    Voxel (i, j, k) spans `[i, i + 1) x [j, j + 1) x [k, k + 1)` in these
    coordinates; `floor` gives the index of the voxel containing the point.
    """
    return (np.asarray(points, dtype=np.float64) + CUBE_HALF) * (resolution / (2.0 * CUBE_HALF))


def rotation_y(azimuth_deg):
    """`[3, 3]` right-handed rotation about world +Y by `azimuth_deg` degrees."""
    a = math.radians(azimuth_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def viewer_rotation(azimuth_deg):
    """`[3, 3]` rotation taking the object frame into the viewer-centred frame of a view."""
    return rotation_y(azimuth_deg).T


def camera_position(azimuth_deg, elevation_deg, distance):
    """`[3]` world position of the camera of a view."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return distance * np.array([math.cos(el) * math.sin(az), math.sin(el),
                                math.cos(el) * math.cos(az)])


def look_at_extrinsics(eye, target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0)):
    """`[3, 4]` world-to-camera matrix `[R | t]` in OpenCV axes (x right, y down, z forward)."""
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    norm = np.linalg.norm(right)
    if norm < 1e-9:
        raise ValueError("the camera looks straight along `up`; its roll is undefined")
    right /= norm
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    return np.concatenate([rotation, -rotation @ eye[:, None]], axis=1)


def intrinsics(fov_deg, size):
    """`[3, 3]` pinhole intrinsics for a square `size x size` image and field of view `fov_deg`."""
    f = 0.5 * size / math.tan(math.radians(fov_deg) / 2.0)
    c = 0.5 * size
    return np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])


def projection_matrix(intrinsic, extrinsic):
    """`[3, 4]` perspective projection `K @ [R | t]`."""
    return np.asarray(intrinsic, dtype=np.float64) @ np.asarray(extrinsic, dtype=np.float64)


def orthographic_matrix(extrinsic, half_extent, size):
    """`[3, 4]` orthographic projection: a square of side `2 * half_extent` fills the image."""
    s = 0.5 * size / half_extent
    c = 0.5 * size
    ortho = np.array([[s, 0.0, 0.0, c], [0.0, s, 0.0, c], [0.0, 0.0, 1.0, 0.0]])
    return ortho @ np.vstack([np.asarray(extrinsic, dtype=np.float64), [0.0, 0.0, 0.0, 1.0]])


def project(points, projection, perspective=True):
    """Project world points to continuous pixel coordinates.

    Args:
      points: `[N, 3]` world positions.
      projection: `[3, 4]` matrix from `projection_matrix` or `orthographic_matrix`.
      perspective: divide by depth (True) or not (orthographic).

    Returns:
      (uv, depth): `[N, 2]` pixel coordinates and `[N]` depths.
    """
    points = np.asarray(points, dtype=np.float64)
    homo = np.concatenate([points, np.ones_like(points[:, :1])], axis=1) @ np.asarray(projection).T
    depth = homo[:, 2]
    uv = homo[:, :2] / depth[:, None] if perspective else homo[:, :2]
    return uv, depth


@dataclasses.dataclass(frozen=True)
class ViewpointSet:
    """The fixed set of views a dataset is rendered from.

    Attributes:
      azimuths: degrees, one per view (see the module docstring).
      elevation: degrees, shared by all views so that the viewer-centred
        target of a view is the grid rotated about +Y only.
      distance: camera distance from the origin (normalized units).
      fov: full field of view in degrees (square images).
      image_size: rendered image side in pixels.
    """

    azimuths: tuple = (0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0)
    elevation: float = 30.0
    distance: float = 2.5
    fov: float = 41.0
    image_size: int = 128

    def __post_init__(self):
        if len(self.azimuths) == 0:
            raise ValueError("azimuths must name at least one view")
        if not 0.0 < self.fov < 180.0:
            raise ValueError(f"fov must be in (0, 180) degrees, got {self.fov}")
        if self.distance <= math.sqrt(3.0) * CUBE_HALF:
            raise ValueError(f"distance must put the camera outside the voxel cube, got {self.distance}")
        if int(self.image_size) <= 0:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        object.__setattr__(self, "azimuths", tuple(float(a) for a in self.azimuths))

    @property
    def num_views(self):
        return len(self.azimuths)

    def intrinsics(self):
        """`[3, 3]` intrinsics shared by every view."""
        return intrinsics(self.fov, self.image_size)

    def extrinsics(self):
        """`[V, 3, 4]` world-to-camera matrices, one per view."""
        return np.stack([look_at_extrinsics(camera_position(a, self.elevation, self.distance))
                         for a in self.azimuths])

    def projections(self):
        """`[V, 3, 4]` perspective projection matrices, one per view."""
        return np.einsum("ij,vjk->vik", self.intrinsics(), self.extrinsics())

    def to_dict(self):
        return {"azimuths": list(self.azimuths), "elevation": self.elevation,
                "distance": self.distance, "fov": self.fov, "image_size": self.image_size}

    @classmethod
    def from_dict(cls, values):
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown viewpoint keys {sorted(unknown)}")
        return cls(**{k: tuple(v) if k == "azimuths" else v for k, v in values.items()})


DEFAULT_VIEWPOINTS = ViewpointSet()
