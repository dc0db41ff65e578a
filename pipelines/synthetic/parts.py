"""Closed convex primitives the furniture is assembled from.

Every function returns `Part`s: closed, outward-wound convex polyhedra. Curved
members stay convex piecewise: `sweep` cuts a swept profile into mitred
segments whose end rings coincide (the rings of a bend lie in the bisector
planes of neighbouring segments, so no wedge opens on the outside of a bend),
and `slab` rounds a seat's or cushion's edges by lofting rings of a rounded
outline whose inset follows a quarter circle (a convex profile keeps the loft
convex). Convexity is what lets the voxelizer's flood fill and the tests treat
every part alike.

Coordinates are metres in tf3d's world frame (+Y up, +Z the object's front).
"""

import dataclasses
import functools
import math

import numpy as np

X, Y, Z = np.eye(3)
SQUARE = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])  # CCW
ROD_SIDES = 12  # round legs, tubes and spindles
DISC_SIDES = 40  # round tops, seats and bases
EMBED = 0.5  # fraction of a seat or top thickness that supports reach into it


@dataclasses.dataclass(frozen=True)
class Part:
    """One closed convex primitive: `vertices` `[V, 3]` float64, `faces` `[F, 3]` int64, outward."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray


# ----------------------------------------------------------------------------- outlines


def polygon(n):
    angle = np.arange(n) * (2.0 * np.pi / n)  # n % 4 == 0 puts vertices on both axes: exact extents
    return np.stack([np.cos(angle), np.sin(angle)], axis=1)  # [n, 2], CCW


def rounded_rect(a, b, r, steps=5, always_round=False):
    """CCW outline `[4 * (steps + 1), 2]` of `[-a, a] x [-b, b]` with corner radius `r`.

    A radius below 0.1 mm gives the 4-point rectangle, unless `always_round`
    (lofts need the same vertex count on every ring, so they keep a tiny radius).
    """
    r = min(r, 0.95 * a, 0.95 * b)
    if r <= 1e-4:
        if not always_round:
            return SQUARE * (a, b)
        r = 1e-4
    cos, sin, sx, sy = _corner_arcs(steps)
    return np.stack([sx * (a - r) + r * cos, sy * (b - r) + r * sin], 1)


@functools.lru_cache(maxsize=None)
def _corner_arcs(steps):
    """cos, sin of the corner arcs' angles and the corners' signs, `[4 * (steps + 1)]` each (CCW from +x+y)."""
    angle = (np.arange(4)[:, None] + np.linspace(0.0, 1.0, steps + 1)[None]) * (np.pi / 2)  # [4, steps + 1]
    signs = np.array([(1, 1), (-1, 1), (-1, -1), (1, -1)], dtype=np.float64)
    sx, sy = (np.repeat(signs[:, k], steps + 1) for k in (0, 1))
    return np.cos(angle).ravel(), np.sin(angle).ravel(), sx, sy


def outline(shape, a, b, r=0.0):
    """CCW outline of a seat, top or cross-section with half sizes (a, b)."""
    if shape in ("square", "rect"):
        return SQUARE * (a, b)
    if shape == "rounded":
        return rounded_rect(a, b, r)
    sides = ROD_SIDES if shape == "round" and max(a, b) < 0.05 else DISC_SIDES
    return polygon(sides) * (a, b)  # "round" and "oval"


def half_depth(shape, a, b, r, x):
    """Half depth (z) of an outline of half sizes (a, b) at abscissa `x`, for placing parts inside it."""
    x = min(abs(x), a)
    if shape in ("round", "oval"):
        return b * math.sqrt(max(1.0 - (x / a) ** 2, 0.0))
    if shape == "rounded" and x > a - r:
        return b - r + math.sqrt(max(r * r - (x - (a - r)) ** 2, 0.0))
    return b


# ----------------------------------------------------------------------------- solids


def cross(a, b):
    """`np.cross` of two 3-vectors, same arithmetic, without its per-call overhead (sampling builds
    every model several times, see `sampling.sample_params`)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


@functools.lru_cache(maxsize=None)
def _loft_faces(p, rings, flip):
    """`[2P(K-1) + 2(P-2), 3]` int64 faces of K rings of P vertices (side quads, then the two end fans)."""
    i = np.arange(p)
    j = (i + 1) % p
    k = np.arange(1, p - 1)
    sides = [np.concatenate([np.stack([i, j, j + p], 1), np.stack([i, j + p, i + p], 1)]) + r * p
             for r in range(rings - 1)]
    last = (rings - 1) * p
    faces = np.concatenate(sides + [np.stack([np.zeros_like(k), k + 1, k], 1),
                                    np.stack([np.full_like(k, last), k + last, k + last + 1], 1)])
    return (faces[:, ::-1] if flip else faces).astype(np.int64)


def loft(name, rings, u, v, axis):
    """Closed solid through K rings `[K, P, 3]` that wind CCW in the (u, v) plane, stacked along `axis`.

    It is convex when the rings are (outlines whose size along `axis` follows
    a concave profile); the winding is outward when (u, v, axis) is right-handed.
    """
    rings = np.asarray(rings, dtype=np.float64)
    faces = _loft_faces(rings.shape[1], rings.shape[0], bool(np.dot(cross(u, v), axis) < 0))
    return Part(name, rings.reshape(-1, 3), faces.copy())


def prism(name, ring, c0, c1, u, v, s0=1.0, s1=1.0):
    """Closed prism (frustum if s0 != s1) of a convex CCW outline `ring` `[P, 2]` in the (u, v) plane.

    The two rings are centred at `c0` and `c1`; they need not lie on a normal
    of the plane (a sheared prism keeps horizontal caps on a splayed leg).
    """
    c0, c1 = np.asarray(c0, dtype=np.float64), np.asarray(c1, dtype=np.float64)
    plane = ring[:, :1] * u + ring[:, 1:] * v  # [P, 3]
    return loft(name, [c0 + s0 * plane, c1 + s1 * plane], u, v, c1 - c0)


def box(name, lo, hi):
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    return prism(name, SQUARE * (h[0], h[2]), (c[0], lo[1], c[2]), (c[0], hi[1], c[2]), X, Z)


def post(name, profile, bottom, top, half, taper=1.0):
    """Vertical or sheared post with horizontal caps; its bottom is `taper` times as thick as its top."""
    return prism(name, outline(profile, half, half), bottom, top, X, Z, s0=taper)


def _frame(d):
    """Unit vectors (u, v) across direction `d`, u horizontal unless `d` is nearly vertical."""
    u = cross(d, Y if abs(d[1]) < 0.9 else X)
    u /= np.linalg.norm(u)
    return u, cross(u, d)


def rod(name, profile, p0, p1, half_u, half_v=None):
    """Prism along the segment p0 -> p1; `half_u` is its horizontal half size, `half_v` its other one."""
    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    u, v = _frame((p1 - p0) / np.linalg.norm(p1 - p0))
    return prism(name, outline(profile, half_u, half_v or half_u), p0, p1, u, v)


def slab(name, shape, a, b, corner, y0, y1, bevel, centre=(0.0, 0.0), steps=3):
    """Horizontal slab of outline `shape` (half sizes a, b) from y0 to y1, centred at `centre` (x, z).

    `corner` rounds a 'rounded' outline in plan and `bevel` the top and
    bottom edges (a cushion's, a padded arm's or a table top's profile);
    bevel 0 gives a plain prism.
    """
    cx, cz = centre
    bevel = min(bevel, 0.49 * (y1 - y0), 0.9 * a, 0.9 * b)
    if bevel <= 1e-4:
        return prism(name, outline(shape, a, b, corner), (cx, y0, cz), (cx, y1, cz), X, Z)
    rings = []
    angles = np.linspace(0.0, 0.5 * np.pi, steps + 1)
    for end, sign in ((y0, 1.0), (y1, -1.0)):
        for phi in (angles if sign > 0 else angles[::-1]):
            inset = bevel * (1.0 - math.sin(phi))  # quarter circle: full inset at the face, none at mid-height
            y = end + sign * bevel * (1.0 - math.cos(phi))
            if shape in ("rect", "rounded", "square"):
                flat = rounded_rect(a - inset, b - inset, max(corner - inset, 0.0), always_round=True)
            else:
                flat = outline(shape, a - inset, b - inset)
            rings.append(np.stack([cx + flat[:, 0], np.full(len(flat), y), cz + flat[:, 1]], 1))
    return loft(name, rings, X, Z, Y)


def rotate_x(points, degrees, pivot_y, pivot_z):
    """Points `[N, 3]` rotated about the X axis through (pivot_y, pivot_z), +degrees leaning +Y towards -Z."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    v = np.array(points, dtype=np.float64)
    dy, dz = v[:, 1] - pivot_y, v[:, 2] - pivot_z
    v[:, 1], v[:, 2] = pivot_y + c * dy + s * dz, pivot_z - s * dy + c * dz
    return v


def tilt(parts, degrees, pivot_y, pivot_z):
    """Rotate parts about the X axis through (pivot_y, pivot_z) so that their tops lean towards -Z."""
    return [Part(p.name, rotate_x(p.vertices, degrees, pivot_y, pivot_z), p.faces) for p in parts]


# ----------------------------------------------------------------------------- swept members


def sweep(name, ring, points, up=Y):
    """Mitred convex segments of the convex CCW outline `ring` `[P, 2]` swept along a polyline.

    The outline's first axis starts perpendicular to the path and to `up`; the
    frame is carried along by parallel transport (the rotation taking one
    segment's direction to the next), so a mitre ring computed from either
    neighbouring segment is the same and neighbours share it exactly. Bends
    must be gentler than the profile is thick (see `fillet`), else a
    segment's two mitres would cross inside it.

    Args:
      points: `[K, 3]` path, K >= 2, no repeated points.

    Returns:
      K - 1 `Part`s named `name`.
    """
    points = np.asarray(points, dtype=np.float64)
    d = np.diff(points, axis=0)
    d /= np.linalg.norm(d, axis=1, keepdims=True)  # [K-1, 3]
    u = cross(d[0], up)
    if np.linalg.norm(u) < 1e-9:
        u = cross(d[0], X)
    u /= np.linalg.norm(u)
    frames, rings = [], []
    for k in range(len(d)):
        if k:
            u = _transport(u, d[k - 1], d[k])
        frames.append((u, cross(d[k], u)))
    for i, p in enumerate(points):
        if 0 < i < len(d):  # interior joint: the incoming segment's ring, pushed onto the bisector plane
            u, v = frames[i - 1]
            n = d[i - 1] + d[i]
            offsets = ring[:, :1] * u + ring[:, 1:] * v
            along = -(offsets @ n) / np.dot(d[i - 1], n)
            rings.append(p + offsets + along[:, None] * d[i - 1])
        else:  # the path's ends: square to their segment
            u, v = frames[0] if i == 0 else frames[-1]
            rings.append(p + ring[:, :1] * u + ring[:, 1:] * v)
    return [loft(name, rings[k:k + 2], *frames[k], d[k]) for k in range(len(d))]


def _transport(u, d0, d1):
    """`u` rotated by the rotation that takes unit `d0` to unit `d1` about their common normal."""
    axis = cross(d0, d1)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        return u
    axis /= s
    c = float(np.dot(d0, d1))
    return u * c + cross(axis, u) * s + axis * np.dot(axis, u) * (1.0 - c)


def fillet(points, radius, steps=4):
    """The polyline `[K, 3]` with every interior corner replaced by a circular arc of `radius`.

    The radius shrinks where the neighbouring legs are too short for it. Used
    for bent tubes (cantilever and sled frames) and rounded backs.
    """
    points = np.asarray(points, dtype=np.float64)
    out = [points[0]]
    for i in range(1, len(points) - 1):
        a, b = points[i - 1] - points[i], points[i + 1] - points[i]
        la, lb = np.linalg.norm(a), np.linalg.norm(b)
        a, b = a / la, b / lb
        angle = math.acos(float(np.clip(np.dot(a, b), -1.0, 1.0)))  # interior angle
        if angle > math.pi - 1e-6:
            out.append(points[i])
            continue
        t = radius / math.tan(0.5 * angle)  # tangent length
        t = min(t, 0.45 * la, 0.45 * lb)
        r = t * math.tan(0.5 * angle)
        bisector = (a + b) / np.linalg.norm(a + b)
        centre = points[i] + bisector * (r / math.sin(0.5 * angle))
        p0, p1 = points[i] + a * t, points[i] + b * t
        e0, e1 = p0 - centre, p1 - centre
        sweep_angle = math.pi - angle
        normal = cross(e0, e1)
        normal /= np.linalg.norm(normal)
        for s in np.linspace(0.0, 1.0, steps + 1):
            theta = s * sweep_angle
            out.append(centre + e0 * math.cos(theta) + cross(normal, e0) * math.sin(theta))
    out.append(points[-1])
    return np.array(out)


def arc(centre, radius, start, stop, steps, y=0.0):
    """`[steps + 1, 3]` points of a horizontal arc about (centre_x, y, centre_z) from angle `start` to `stop`
    (radians from +X towards +Z)."""
    angle = np.linspace(start, stop, steps + 1)
    return np.stack([centre[0] + radius * np.cos(angle), np.full(len(angle), y),
                     centre[1] + radius * np.sin(angle)], 1)
