"""Procedural chairs and tables: tf3d's built-in dataset for users without ShapeNet.

Every model is a triangle soup of closed convex primitives (boxes, n-gon
prisms and frustums, rounded slabs) that overlap where the real object's parts
join, so no boolean union is needed: the voxelizer flood-fills the outside of a
conservative surface voxelization, and every part being closed and every joint
overlapping is what makes that fill come out solid and in one piece.

Models are in metres in the world frame of `tf3d.conventions` (+Y up, +X the
object's right, +Z its front: a chair's seat faces +Z and its back is at -Z),
standing on the floor y = 0 and centred on x = z = 0; normalization into the
voxel cube happens later, like for ShapeNet meshes.

Thin parts are deliberate. Thicknesses are sampled in units of one voxel at
the default resolution: 1/32 of the size `conventions.normalization` scales
to 1 (the larger of the model's height and its footprint's diameter), so that
a good share of models has legs, tubes or slats at most one voxel thick: those
are the parts a 32^3 pipeline loses, and the dataset must exercise that
failure. That size depends on the model, which depends on the voxel, so
`sample_params` samples a model with a guessed voxel, measures the voxel its
parts give, and samples again from the same random state with that voxel
until the two agree (`_voxel_size`).

Usage (about 3 ms per model, 36 to ~1500 faces):

    from pipelines import synthetic
    mesh = synthetic.generate("chair", seed=12)      # trimesh.Trimesh
    params = synthetic.sample_params("table", np.random.default_rng(3))
    rows = synthetic.generate_to_dir("data/synthetic/meshes", 1000, 1000, seed=0)
    # rows: [("chair-00000", "chair", ".../chair/chair-00000.obj"), ...]
"""

import dataclasses
import functools
import math
import os

import numpy as np
import trimesh

from tf3d import conventions


def generator_version():
    """A short hash naming this generator: same hash, same meshes for the same seeds.

    Caches of generated meshes (`pipelines.build`'s `OUT/meshes/<version>-seed<seed>/`)
    and build fingerprints are keyed by it. It hashes this file's source
    rather than being a number bumped by hand, because a forgotten bump would
    silently reuse stale meshes, while a needless change (a comment edited)
    only regenerates meshes, which costs ~3 ms each. It also covers what the
    sampling depends on outside this file: the conventions it reads and
    NumPy's version (`Generator` streams may change between NumPy releases).
    """
    import hashlib

    digest = hashlib.sha256()
    with open(os.path.abspath(__file__), "rb") as fh:
        digest.update(fh.read())
    digest.update(repr((conventions.DEFAULT_RESOLUTION, tuple(conventions.CATEGORIES),
                        conventions.NORMALIZATION_VERSION, np.__version__)).encode())
    return digest.hexdigest()[:12]


_X, _Y, _Z = np.eye(3)
_SQUARE = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])  # CCW
_ROD_SIDES = 12  # round legs, tubes and spindles
_DISC_SIDES = 40  # round tops, seats and bases
_EMBED = 0.5  # fraction of a seat or top thickness that supports reach into it


@dataclasses.dataclass(frozen=True)
class Part:
    """One closed convex primitive: `vertices` `[V, 3]` float64, `faces` `[F, 3]` int64, outward."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray


# ----------------------------------------------------------------------------- primitives


def _polygon(n):
    angle = np.arange(n) * (2.0 * np.pi / n)  # n % 4 == 0 puts vertices on both axes: exact extents
    return np.stack([np.cos(angle), np.sin(angle)], axis=1)  # [n, 2], CCW


def _rounded_rect(a, b, r, steps=5):
    """CCW outline `[4 * (steps + 1), 2]` of `[-a, a] x [-b, b]` with corner radius `r`."""
    r = min(r, 0.95 * a, 0.95 * b)
    if r <= 1e-4:
        return _SQUARE * (a, b)
    corners = []
    for k, (sx, sy) in enumerate(((1, 1), (-1, 1), (-1, -1), (1, -1))):
        angle = (k + np.linspace(0.0, 1.0, steps + 1)) * (np.pi / 2)
        corners.append(np.stack([sx * (a - r) + r * np.cos(angle), sy * (b - r) + r * np.sin(angle)], 1))
    return np.concatenate(corners)


def _outline(shape, a, b, r=0.0):
    """CCW outline of a seat, top or cross-section with half sizes (a, b)."""
    if shape in ("square", "rect"):
        return _SQUARE * (a, b)
    if shape == "rounded":
        return _rounded_rect(a, b, r)
    sides = _ROD_SIDES if shape == "round" and max(a, b) < 0.05 else _DISC_SIDES
    return _polygon(sides) * (a, b)  # "round" and "oval"


def _half_depth(shape, a, b, r, x):
    """Half depth (z) of an outline of half sizes (a, b) at abscissa `x`, for placing parts inside it."""
    x = min(abs(x), a)
    if shape in ("round", "oval"):
        return b * math.sqrt(max(1.0 - (x / a) ** 2, 0.0))
    if shape == "rounded" and x > a - r:
        return b - r + math.sqrt(max(r * r - (x - (a - r)) ** 2, 0.0))
    return b


def _prism(name, outline, c0, c1, u, v, s0=1.0, s1=1.0):
    """Closed prism (frustum if s0 != s1) of a convex CCW `outline` `[P, 2]` in the (u, v) plane.

    The two rings are centred at `c0` and `c1`; they need not lie on a normal
    of the plane (a sheared prism keeps horizontal caps on a splayed leg).
    """
    c0, c1 = np.asarray(c0, dtype=np.float64), np.asarray(c1, dtype=np.float64)
    plane = outline[:, :1] * u + outline[:, 1:] * v  # [P, 3]
    vertices = np.concatenate([c0 + s0 * plane, c1 + s1 * plane])
    # The winding is outward when (u, v, c1 - c0) is right-handed.
    faces = _prism_faces(len(outline), bool(np.dot(_cross(u, v), c1 - c0) < 0))
    return Part(name, vertices, faces.copy())


@functools.lru_cache(maxsize=None)
def _prism_faces(p, flip):
    """`[4P - 4, 3]` int64 faces of a prism of two P-gon rings (side quads, then the two fans)."""
    i = np.arange(p)
    j = (i + 1) % p
    k = np.arange(1, p - 1)
    faces = np.concatenate([
        np.stack([i, j, j + p], 1), np.stack([i, j + p, i + p], 1),
        np.stack([np.zeros_like(k), k + 1, k], 1), np.stack([np.full_like(k, p), k + p, k + p + 1], 1)])
    return (faces[:, ::-1] if flip else faces).astype(np.int64)


def _cross(a, b):
    """`np.cross` of two 3-vectors, same arithmetic, without its per-call overhead (sampling builds
    every model several times, see `sample_params`)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _box(name, lo, hi):
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    return _prism(name, _SQUARE * (h[0], h[2]), (c[0], lo[1], c[2]), (c[0], hi[1], c[2]), _X, _Z)


def _post(name, profile, bottom, top, half, taper=1.0):
    """Vertical or sheared post with horizontal caps; its bottom is `taper` times as thick as its top."""
    return _prism(name, _outline(profile, half, half), bottom, top, _X, _Z, s0=taper)


def _rod(name, profile, p0, p1, half_u, half_v=None):
    """Prism along the segment p0 -> p1; `half_u` is its horizontal half size, `half_v` its other one."""
    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    d = (p1 - p0) / np.linalg.norm(p1 - p0)
    u = _cross(d, _Y if abs(d[1]) < 0.9 else _X)
    u /= np.linalg.norm(u)
    v = _cross(u, d)
    return _prism(name, _outline(profile, half_u, half_v or half_u), p0, p1, u, v)


def _tilt(parts, degrees, pivot_y, pivot_z):
    """Rotate parts about the X axis through (pivot_y, pivot_z) so that their tops lean towards -Z."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    out = []
    for part in parts:
        v = part.vertices.copy()
        dy, dz = v[:, 1] - pivot_y, v[:, 2] - pivot_z
        v[:, 1], v[:, 2] = pivot_y + c * dy + s * dz, pivot_z - s * dy + c * dz
        out.append(Part(part.name, v, part.faces))
    return out


# ----------------------------------------------------------------------------- parameters


def _check(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class _SupportParams:
    """Leg-frame fields shared by chairs and tables (lengths in metres, angles in degrees)."""

    base: str = "legs"  # chair: legs|pedestal|sled; table: legs|pedestal|trestle|panel
    leg_count: int = 4  # floor supports: legs, pedestal feet (1 = disc base), sled runners or table ends (2)
    leg_profile: str = "square"  # square|round cross-section of legs, posts, stretchers
    leg_thickness: float = 0.04  # side or diameter at the top of a leg; tube diameter of a sled
    leg_taper: float = 1.0  # bottom/top thickness of a leg (1 = straight)
    leg_inset: float = 0.02  # gap between a leg's outer face and the seat or top edge
    leg_splay: float = 0.0  # outward lean of the legs from vertical
    stretchers: str = "none"  # none|box (ring between neighbouring legs)|h (two sides and a cross)
    stretcher_height: float = 0.15  # above the floor
    stretcher_thickness: float = 0.02  # side or diameter
    apron_height: float = 0.0  # skirt boards under the seat or top between legs; 0 = none
    apron_thickness: float = 0.02
    column_radius: float = 0.03  # pedestal column
    base_style: str = "disc"  # pedestal foot: disc|star (raised spokes on casters)|cross (feet on the floor)
    base_radius: float = 0.25  # pedestal foot reach

    def _check_support(self, bases):
        _check("base", self.base, bases)
        _check("leg_profile", self.leg_profile, ("square", "round"))
        _check("stretchers", self.stretchers, ("none", "box", "h"))
        _check("base_style", self.base_style, ("disc", "star", "cross"))
        if self.base == "legs" and self.leg_count not in (3, 4, 6):
            raise ValueError(f"leg_count must be 3, 4 or 6 for base='legs', got {self.leg_count}")
        if self.leg_thickness <= 0 or not 0 < self.leg_taper <= 1:
            raise ValueError(f"leg_thickness must be > 0 and leg_taper in (0, 1], got "
                             f"{self.leg_thickness}, {self.leg_taper}")


@dataclasses.dataclass(frozen=True)
class ChairParams(_SupportParams):
    """Everything `build_mesh` needs to build one chair."""

    kind: str = "dining"  # dining|bar|lounge|office: the proportions it was sampled with
    seat_height: float = 0.45  # floor to the top of the seat
    seat_width: float = 0.45  # along X
    seat_depth: float = 0.42  # along Z
    seat_thickness: float = 0.04
    seat_shape: str = "rect"  # rect|rounded|round
    seat_corner: float = 0.0  # corner radius of a rounded seat
    back: str = "solid"  # solid|vertical_slats|horizontal_slats|spindles
    back_height: float = 0.45  # above the seat, before tilting
    back_width: float = 0.42
    back_thickness: float = 0.03  # of a solid back
    back_tilt: float = 8.0  # backwards lean
    back_gap: float = 0.0  # gap between seat and a solid back, bridged by a spine
    back_corner: float = 0.0  # corner radius of a solid back
    post_thickness: float = 0.03  # back posts of slatted and spindle backs
    rail_height: float = 0.06  # top rail of vertical-slat and spindle backs
    slat_count: int = 3  # slats, ladder rails or spindles
    slat_width: float = 0.05  # of a vertical slat, or height of a ladder rail
    slat_thickness: float = 0.015  # of slats and rails; diameter of spindles
    arms: str = "none"  # none|bar (rail on a front post)|panel (solid side)
    arm_height: float = 0.22  # above the seat
    arm_width: float = 0.05

    def __post_init__(self):
        self._check_support(("legs", "pedestal", "sled"))
        _check("seat_shape", self.seat_shape, ("rect", "rounded", "round"))
        _check("back", self.back, ("solid", "vertical_slats", "horizontal_slats", "spindles"))
        _check("arms", self.arms, ("none", "bar", "panel"))
        if self.arms != "none" and self.seat_shape == "round":
            raise ValueError("arms need a rect or rounded seat, got seat_shape='round'")
        if min(self.seat_height, self.seat_width, self.seat_depth, self.seat_thickness, self.back_height) <= 0:
            raise ValueError("seat and back sizes must be positive")


@dataclasses.dataclass(frozen=True)
class TableParams(_SupportParams):
    """Everything `build_mesh` needs to build one table."""

    kind: str = "dining"  # dining|coffee|side|bar|desk: the proportions it was sampled with
    height: float = 0.75  # floor to the top surface
    width: float = 1.4  # along X, the long side
    depth: float = 0.85  # along Z
    top_thickness: float = 0.035
    top_shape: str = "rect"  # rect|rounded|round|oval
    top_corner: float = 0.0  # corner radius of a rounded top
    pedestal_count: int = 1  # 2 = one pedestal at each end of a long top, joined by a stretcher
    support_thickness: float = 0.05  # trestle post or end panel thickness along X
    support_depth: float = 0.12  # trestle post depth along Z
    foot_height: float = 0.05  # trestle feet
    shelf_height: float = 0.0  # lower shelf between four legs or two panels; 0 = none
    shelf_thickness: float = 0.02
    modesty_panel: bool = False  # back panel between two end panels (desks)

    def __post_init__(self):
        self._check_support(("legs", "pedestal", "trestle", "panel"))
        _check("top_shape", self.top_shape, ("rect", "rounded", "round", "oval"))
        if min(self.height, self.width, self.depth, self.top_thickness) <= 0:
            raise ValueError("table sizes must be positive")
        if self.pedestal_count not in (1, 2):
            raise ValueError(f"pedestal_count must be 1 or 2, got {self.pedestal_count}")


# ----------------------------------------------------------------------------- shared supports


def _leg_tops(shape, a, b, count, margin):
    """`[N, 2]` (x, z) leg centres under an outline, in cyclic order."""
    if shape in ("round", "oval"):
        start = math.pi / 2 if count == 3 else math.pi / 4
        angle = start + np.arange(count) * (2.0 * math.pi / count)
        return np.stack([(a - margin) * np.cos(angle), (b - margin) * np.sin(angle)], 1)
    x, z = a - margin, b - margin
    if count == 6:
        return np.array([[x, z], [0, z], [-x, z], [-x, -z], [0, -z], [x, -z]])
    return np.array([[x, z], [-x, z], [-x, -z], [x, -z]])


def _legs(p, shape, a, b, r, y_under):
    """Legs, stretchers and aprons under an outline whose underside is at `y_under`.

    Returns (parts, centre): `centre(i, y)` is leg i's axis point `[3]` at height y.
    """
    half = 0.5 * p.leg_thickness
    # Leg centres are kept far enough from the edge that a square leg's corner stays inside a rounded corner.
    margin = half * (1.5 if shape in ("round", "oval") else 1.0) + max(p.leg_inset, 0.3 * r)
    top_xz = _leg_tops(shape, a, b, p.leg_count, margin)
    y_top = y_under + _EMBED * (p.seat_thickness if hasattr(p, "seat_thickness") else p.top_thickness)
    direction = top_xz / np.maximum(np.linalg.norm(top_xz, axis=1, keepdims=True), 1e-9)
    foot_xz = top_xz + direction * (y_top * math.tan(math.radians(p.leg_splay)))

    def centre(i, y):
        xz = foot_xz[i] + (top_xz[i] - foot_xz[i]) * (y / y_top)
        return np.array([xz[0], y, xz[1]])

    n = len(top_xz)
    parts = [_post(f"leg{i}", p.leg_profile, centre(i, 0.0), centre(i, y_top), half, p.leg_taper)
             for i in range(n)]
    ring = [(i, (i + 1) % n) for i in range(n)]
    hs, sh = p.stretcher_height, 0.5 * p.stretcher_thickness
    if p.stretchers == "box":
        parts += [_rod("stretcher", p.leg_profile, centre(i, hs), centre(j, hs), sh) for i, j in ring]
    elif p.stretchers == "h":
        left, right = (0, n - 1), (n // 2 - 1, n // 2)  # the +X and -X sides, front to back
        parts += [_rod("stretcher", p.leg_profile, centre(i, hs), centre(j, hs), sh) for i, j in (left, right)]
        mid = [0.5 * (centre(i, hs) + centre(j, hs)) for i, j in (left, right)]
        parts.append(_rod("stretcher", p.leg_profile, mid[0], mid[1], sh))
    if p.apron_height > 0:
        ya = y_under - 0.5 * p.apron_height + 0.005  # overlaps the underside by 5 mm
        parts += [_rod("apron", "square", centre(i, ya), centre(j, ya), 0.5 * p.apron_thickness,
                       0.5 * p.apron_height) for i, j in ring]
    return parts, centre


def _pedestal(p, x, y_top):
    """Column from the floor to `y_top` at (x, 0) on a disc, a raised star on casters, or floor feet."""
    cr, reach = p.column_radius, p.base_radius
    parts = []
    if p.base_style == "disc":
        parts.append(_prism("base", _polygon(_DISC_SIDES) * reach, (x, 0, 0), (x, 0.05, 0), _X, _Z, s1=0.85))
        y_column = 0.02
    else:
        raised = p.base_style == "star"
        hub_r, y_feet = 1.7 * cr, (0.10 if raised else 0.025)
        parts.append(_post("hub", "round", (x, y_feet - 0.025, 0), (x, y_feet + 0.04, 0), hub_r))
        y_column = y_feet
        for k in range(p.leg_count):
            angle = math.pi / 2 + k * 2.0 * math.pi / p.leg_count  # first foot points to the front
            tip = np.array([x + reach * math.cos(angle), y_feet - (0.03 if raised else 0.0), reach * math.sin(angle)])
            parts.append(_rod(f"foot{k}", "square", (x, y_feet, 0), tip, 0.022, 0.018 if raised else 0.025))
            if raised:
                parts.append(_post(f"caster{k}", "round", tip - (0, tip[1], 0), tip + (0, 0.01, 0), 0.022))
    parts.append(_post("column", "round", (x, y_column, 0), (x, y_top, 0), cr))
    return parts


# ----------------------------------------------------------------------------- chairs


def _chair_back(p, a, b, r, y_seat):
    """Back parts before tilting, and the z of the back's mid-plane."""
    hw = 0.5 * p.back_width
    t = p.back_thickness if p.back == "solid" else p.post_thickness
    z = -_half_depth(p.seat_shape, a, b, r, hw) + 0.5 * t + 0.004  # the back's rear corners stay on the seat
    y0, y1 = y_seat - _EMBED * p.seat_thickness, y_seat + p.back_height
    if p.back == "solid":
        yb = y_seat + p.back_gap if p.back_gap > 0 else y0
        panel = _rounded_rect(hw, 0.5 * (y1 - yb), p.back_corner)
        parts = [_prism("back", panel, (0, 0.5 * (yb + y1), z - 0.5 * t), (0, 0.5 * (yb + y1), z + 0.5 * t), _X, _Y)]
        if p.back_gap > 0:
            parts.append(_box("spine", (-0.03, y0, z - 0.5 * t), (0.03, yb + 0.3 * (y1 - yb), z + 0.5 * t)))
        return parts, z
    xp = hw - 0.5 * p.post_thickness
    parts = [_post(f"post{k}", p.leg_profile, (s * xp, y0, z), (s * xp, y1, z), 0.5 * p.post_thickness)
             for k, s in enumerate((-1, 1))]
    st = 0.5 * min(p.slat_thickness, 0.8 * p.post_thickness)  # rails are thinner than the posts they enter
    if p.back == "horizontal_slats":
        for k, y in enumerate(np.linspace(y_seat + 0.3 * p.back_height, y1 - 0.5 * p.slat_width, p.slat_count)):
            parts.append(_rod(f"rail{k}", "square", (-xp, y, z), (xp, y, z), st, 0.5 * p.slat_width))
        return parts, z
    yr = y1 - 0.5 * p.rail_height
    parts.append(_rod("top_rail", "square", (-xp, yr, z), (xp, yr, z), max(st, 0.3 * p.post_thickness),
                      0.5 * p.rail_height))
    inner = hw - p.post_thickness
    for k, x in enumerate(np.linspace(-inner, inner, p.slat_count + 2)[1:-1]):
        if p.back == "vertical_slats":
            parts.append(_box(f"slat{k}", (x - 0.5 * p.slat_width, y0, z - st), (x + 0.5 * p.slat_width, yr, z + st)))
        else:
            parts.append(_post(f"spindle{k}", "round", (x, y0, z), (x, yr, z), st))
    return parts, z


def _chair_arms(p, a, b, r, y_seat, z_back):
    y0, y_arm = y_seat - _EMBED * p.seat_thickness, y_seat + p.arm_height
    rail = min(p.arm_width, 0.04)
    z_rear = z_back - (p.arm_height - 0.5 * rail) * math.tan(math.radians(p.back_tilt))  # back mid-plane there
    z_front = _half_depth(p.seat_shape, a, b, r, a - p.arm_width)
    parts = []
    for s in (-1, 1):
        x = s * (a - 0.5 * p.arm_width)
        lo_x, hi_x = x - 0.5 * p.arm_width, x + 0.5 * p.arm_width
        if p.arms == "panel":
            parts.append(_box("arm", (lo_x, y0 - 0.03, z_rear), (hi_x, y_arm, z_front)))
            continue
        half = 0.5 * min(p.arm_width, p.post_thickness)
        zs = _half_depth(p.seat_shape, a, b, r, abs(x) + half) - half - 0.005
        parts.append(_box("arm", (lo_x, y_arm - rail, z_rear), (hi_x, y_arm, zs + 0.03)))
        parts.append(_post("arm_support", p.leg_profile, (x, y0, zs), (x, y_arm - 0.5 * rail, zs), half))
    return parts


def _build_chair(p):
    a, b, r = 0.5 * p.seat_width, 0.5 * p.seat_depth, p.seat_corner
    y_seat, y_under = p.seat_height, p.seat_height - p.seat_thickness
    parts = [_prism("seat", _outline(p.seat_shape, a, b, r), (0, y_under, 0), (0, y_seat, 0), _X, _Z)]
    if p.base == "legs":
        parts += _legs(p, p.seat_shape, a, b, r, y_under)[0]
    elif p.base == "pedestal":
        parts += _pedestal(p, 0.0, y_under + _EMBED * p.seat_thickness)
    else:  # sled: two floor runners, each with a front and a rear upright
        tube = 0.5 * p.leg_thickness
        x = (a if p.seat_shape != "round" else 0.7 * a) - tube - p.leg_inset
        zf = _half_depth(p.seat_shape, a, b, r, x + tube) - tube - 0.01
        zr = -zf + 0.02
        for s in (-1, 1):
            parts.append(_rod("runner", "round", (s * x, tube, zf + 0.04), (s * x, tube, zr - 0.06), tube))
            for z in (zf, zr):
                parts.append(_rod("upright", "round", (s * x, tube, z),
                                  (s * x, y_under + _EMBED * p.seat_thickness, z - 0.02), 0.9 * tube))
    back, z_back = _chair_back(p, a, b, r, y_seat)
    parts += _tilt(back, p.back_tilt, y_seat, z_back)
    if p.arms != "none":
        parts += _chair_arms(p, a, b, r, y_seat, z_back)
    return parts


# ----------------------------------------------------------------------------- tables


def _build_table(p):
    a, b, r = 0.5 * p.width, 0.5 * p.depth, p.top_corner
    y_under = p.height - p.top_thickness
    y_embed = y_under + _EMBED * p.top_thickness
    parts = [_prism("top", _outline(p.top_shape, a, b, r), (0, y_under, 0), (0, p.height, 0), _X, _Z)]
    if p.base == "legs":
        legs, centre = _legs(p, p.top_shape, a, b, r, y_under)
        parts += legs
        if p.shelf_height > 0:  # spans the leg axes of the four corner legs
            lo = centre(2 if p.leg_count == 4 else 3, p.shelf_height)
            hi = centre(0, p.shelf_height + p.shelf_thickness)
            parts.append(_box("shelf", lo, hi))
    elif p.base == "pedestal":
        xs = (0.0,) if p.pedestal_count == 1 else (-0.55 * a, 0.55 * a)
        for x in xs:
            parts += _pedestal(p, x, y_embed)
        if p.pedestal_count == 2:
            parts.append(_rod("stretcher", "round", (xs[0], p.stretcher_height, 0), (xs[1], p.stretcher_height, 0),
                              0.5 * p.stretcher_thickness))
    else:
        ht, hd = 0.5 * p.support_thickness, 0.5 * p.support_depth
        x = a - p.leg_inset - ht
        zb = _half_depth(p.top_shape, a, b, r, x + ht) - 0.02
        for s in (-1, 1):
            if p.base == "panel":
                parts.append(_box("panel", (s * x - ht, 0, -zb), (s * x + ht, y_embed, zb)))
            else:
                parts.append(_box("post", (s * x - ht, 0.5 * p.foot_height, -hd), (s * x + ht, y_embed, hd)))
                parts.append(_box("foot", (s * x - 1.2 * ht, 0, -0.9 * zb),
                                  (s * x + 1.2 * ht, p.foot_height, 0.9 * zb)))
                parts.append(_box("cleat", (s * x - ht, y_under - 0.04, -0.8 * zb), (s * x + ht, y_embed, 0.8 * zb)))
        if p.base == "trestle":
            parts.append(_rod("stretcher", "square", (-x, p.stretcher_height, 0), (x, p.stretcher_height, 0),
                              0.5 * p.stretcher_thickness, p.stretcher_thickness))
        if p.shelf_height > 0:
            parts.append(_box("shelf", (-x, p.shelf_height, -0.9 * zb),
                              (x, p.shelf_height + p.shelf_thickness, 0.9 * zb)))
        if p.modesty_panel:
            zp = -zb + 0.1
            parts.append(_box("modesty", (-x, 0.35 * p.height, zp - 0.01), (x, y_embed, zp + 0.01)))
    return parts


# ----------------------------------------------------------------------------- sampling


_CHAIR_KINDS = {  # kind: probability, (seat height, seat width, seat depth, back height) ranges in metres
    "dining": (0.45, ((0.42, 0.48), (0.40, 0.50), (0.38, 0.48), (0.35, 0.55))),
    "bar": (0.20, ((0.62, 0.80), (0.36, 0.46), (0.34, 0.42), (0.18, 0.35))),
    "lounge": (0.15, ((0.36, 0.42), (0.55, 0.72), (0.48, 0.58), (0.40, 0.55))),
    "office": (0.20, ((0.44, 0.52), (0.45, 0.52), (0.42, 0.48), (0.40, 0.60))),
}
_TABLE_KINDS = {  # kind: probability, (height, width, depth) ranges in metres
    "dining": (0.35, ((0.72, 0.78), (1.20, 2.00), (0.75, 1.00))),
    "coffee": (0.20, ((0.35, 0.48), (0.80, 1.30), (0.45, 0.80))),
    "side": (0.15, ((0.50, 0.65), (0.40, 0.60), (0.40, 0.60))),
    "bar": (0.10, ((0.95, 1.08), (0.60, 1.00), (0.55, 0.80))),
    "desk": (0.20, ((0.72, 0.76), (1.00, 1.60), (0.50, 0.75))),
}
_THIN_SHARE = 0.15 # share of models with metal-rod legs at most one voxel thick


def _pick(rng, weights):
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=np.float64)
    return names[rng.choice(len(names), p=p / p.sum())]


def _sample_supports(rng, voxel, thin, height, stretcher_range=(0.2, 0.45), apron_skip=0.55):
    """Leg-frame fields, thicknesses in voxels of the normalized model (`voxel` metres)."""
    profile = _pick(rng, {"square": 0.2, "round": 0.8} if thin else {"square": 0.5, "round": 0.5})
    leg = voxel * (rng.uniform(0.8, 1.0) if thin else rng.uniform(1.8, 3.0))
    taper = 1.0 if thin or rng.random() < 0.6 else rng.uniform(0.55, 0.85)
    fraction = rng.uniform(*stretcher_range)
    leg_there = leg * (taper + (1.0 - taper) * fraction)  # a stretcher is thinner than the leg it enters
    return dict(
        leg_profile=profile, leg_thickness=leg, leg_taper=taper,
        leg_inset=rng.uniform(0.0, 0.04), leg_splay=0.0 if thin or rng.random() < 0.5 else rng.uniform(2.0, 8.0),
        stretcher_height=fraction * height, stretcher_thickness=leg_there * rng.uniform(0.8, 1.0),
        apron_height=0.0 if thin or rng.random() < apron_skip else rng.uniform(0.04, 0.09),
        apron_thickness=voxel * rng.uniform(0.7, 1.0))  # skirt boards one voxel thick or thinner


def _sample_chair(rng, voxel=None):
    kind = _pick(rng, {k: v[0] for k, v in _CHAIR_KINDS.items()})
    seat_height, seat_width, seat_depth, back_height = (rng.uniform(*r) for r in _CHAIR_KINDS[kind][1])
    if voxel is None:  # first guess: the height, or the seat's diagonal plus the back's lean
        voxel = max(seat_height + back_height, math.hypot(seat_width, seat_depth + 0.1)) / \
            conventions.DEFAULT_RESOLUTION
    thin = rng.random() < _THIN_SHARE
    f = _sample_supports(rng, voxel, thin, seat_height, (0.3, 0.45) if kind == "bar" else (0.2, 0.45))
    base = _pick(rng, {"office": {"pedestal": 0.85, "legs": 0.15}, "bar": {"legs": 0.75, "pedestal": 0.25},
                       "dining": {"legs": 0.8, "sled": 0.2}, "lounge": {"legs": 0.75, "sled": 0.25}}[kind])
    f.update(base=base, leg_count={"legs": 4, "pedestal": 1, "sled": 2}[base], stretchers="none")
    if base == "legs":
        f["leg_count"] = 3 if rng.random() < (0.3 if kind == "bar" else 0.05) else 4
        if kind == "bar":
            f["stretchers"] = _pick(rng, {"box": 0.8, "h": 0.2})
        else:
            f["stretchers"] = _pick(rng, {"none": 0.45, "box": 0.25, "h": 0.3})
        if f["leg_count"] == 3 and f["stretchers"] == "h":
            f["stretchers"] = "box"
    elif base == "pedestal":
        star = kind == "office" and rng.random() < 0.8
        f.update(base_style="star" if star else "disc", leg_count=(5 if rng.random() < 0.7 else 4) if star else 1,
                 column_radius=rng.uniform(0.022, 0.035) if star else rng.uniform(0.03, 0.05),
                 base_radius=rng.uniform(0.26, 0.33) if star else rng.uniform(0.18, 0.25))
    seat_shape = "round" if f["leg_count"] == 3 else _pick(rng, {"rect": 0.5, "rounded": 0.35, "round": 0.15})
    arms = "none"
    if seat_shape != "round" and rng.random() < {"dining": 0.15, "bar": 0.1, "lounge": 0.6, "office": 0.6}[kind]:
        arms = _pick(rng, {"bar": 0.7, "panel": 0.3})
    back = _pick(rng, {"solid": 0.85, "vertical_slats": 0.15} if kind == "office" else
                 {"solid": 0.35, "vertical_slats": 0.2, "horizontal_slats": 0.25, "spindles": 0.2})
    corner = rng.uniform(0.15, 0.4) * min(seat_width, seat_depth) / 2 if seat_shape == "rounded" else 0.0
    if arms != "none":
        back_width = seat_width - 2 * 0.3 * corner
    else:
        back_width = seat_width * (rng.uniform(0.55, 0.75) if seat_shape == "round" else rng.uniform(0.8, 1.0))
    post = voxel * rng.uniform(1.2, 1.8)  # back posts carry the rails: never thinner than a voxel
    slat_width = rng.uniform(0.03, 0.08)
    slat_count = int(rng.integers(2, 7)) if back == "vertical_slats" else \
        int(rng.integers(2, 6)) if back == "horizontal_slats" else int(rng.integers(3, 9))
    # Gaps between slats and spindles stay at least two voxels wide: a narrower gap closes in the 32^3 grid,
    # and the rendering (which shows it) and the voxels would then disagree about the back.
    slat_width = max(slat_width, 1.5 * voxel)
    span = back_width - 2 * post  # between the posts
    if back == "vertical_slats":  # and at least as much air as wood
        slat_count = min(slat_count, int(0.5 * span / slat_width), int(span / (slat_width + 2 * voxel)) - 1)
    elif back == "spindles":
        slat_count = min(slat_count, int(span / (3 * voxel)) - 1)
    elif back == "horizontal_slats":
        span = 0.7 * back_height - 0.5 * slat_width
        slat_count = min(slat_count, int(span / (slat_width + 2 * voxel)) + 1)
    slat_count = max(1, slat_count)
    arm_width = rng.uniform(0.05, 0.12) if arms == "panel" else rng.uniform(0.04, 0.08)
    return ChairParams(
        kind=kind, seat_height=seat_height, seat_width=seat_width, seat_depth=seat_depth,
        seat_thickness=rng.uniform(0.08, 0.14) if kind == "lounge" else rng.uniform(0.04, 0.07),
        seat_shape=seat_shape, seat_corner=corner, back=back, back_height=back_height, back_width=back_width,
        back_thickness=rng.uniform(0.06, 0.12) if kind == "lounge" else rng.uniform(0.035, 0.07),
        back_tilt=rng.uniform(*{"dining": (3, 12), "bar": (0, 8), "lounge": (8, 18), "office": (5, 15)}[kind]),
        back_gap=rng.uniform(0.04, 0.12) if kind == "office" and back == "solid" and rng.random() < 0.6 else 0.0,
        back_corner=rng.uniform(0.0, 0.45) * min(back_width, back_height) / 2, post_thickness=post,
        rail_height=rng.uniform(0.04, 0.10), slat_count=slat_count, slat_width=slat_width,
        slat_thickness=voxel * rng.uniform(0.8, 1.0), arms=arms,
        arm_height=min(rng.uniform(0.18, 0.28), 0.75 * back_height), arm_width=arm_width, **f)


def _sample_table(rng, voxel=None):
    kind = _pick(rng, {k: v[0] for k, v in _TABLE_KINDS.items()})
    height, width, depth = (rng.uniform(*r) for r in _TABLE_KINDS[kind][1])
    width, depth = max(width, depth), min(width, depth)  # X is the long side
    top_shape = _pick(rng, {"rect": 0.45, "rounded": 0.2, "round": 0.2, "oval": 0.15} if kind != "desk" else
                      {"rect": 0.7, "rounded": 0.3})
    if top_shape == "round":
        width = depth = rng.uniform(0.9, 1.3) if kind == "dining" else depth
    elif top_shape == "oval":
        depth = width * rng.uniform(0.55, 0.75)
    if voxel is None:  # first guess: the height, or the top's diagonal
        voxel = max(height, math.hypot(width, depth)) / conventions.DEFAULT_RESOLUTION
    thin = rng.random() < _THIN_SHARE
    f = _sample_supports(rng, voxel, thin, height, apron_skip=0.2)
    if top_shape in ("round", "oval"):
        base = _pick(rng, {"legs": 0.45, "pedestal": 0.55})
    else:
        base = _pick(rng, {"legs": 0.5, "trestle": 0.0 if kind in ("side", "bar") else 0.2,
                           "panel": 0.0 if kind == "bar" else 0.15, "pedestal": 0.15})
    leg_count = 4
    if base == "legs" and top_shape == "round":
        leg_count = 3 if rng.random() < 0.4 else 4
    elif base == "legs" and kind == "dining" and width > 1.7 and rng.random() < 0.4:
        leg_count = 6
    # Splayed feet stay under the top: a table's legs lean out from further in.
    f["leg_inset"] += f["leg_thickness"] + height * math.tan(math.radians(f["leg_splay"]))
    f.update(base=base, leg_count=2 if base in ("trestle", "panel") else leg_count, stretchers="none")
    if base == "legs":
        f["stretchers"] = _pick(rng, {"none": 0.6, "box": 0.2, "h": 0.2 if leg_count != 3 else 0.0})
    elif base == "pedestal":
        f.update(leg_count=1, base_style="disc", column_radius=rng.uniform(0.035, 0.08),
                 base_radius=min(0.45 * depth, 0.2 * width if width / depth > 1.6 and width > 1.2 else 0.45 * width,
                                 rng.uniform(0.18, 0.32)))
        if rng.random() < 0.45:
            f.update(base_style="cross", leg_count=int(rng.integers(3, 5)))
    elif base == "trestle":
        f.update(stretcher_height=rng.uniform(0.25, 0.5) * height,
                 stretcher_thickness=voxel * (rng.uniform(0.7, 1.0) if thin else rng.uniform(1.0, 1.8)))
    support_depth = rng.uniform(0.06, 0.2)
    if base == "trestle":  # the stretcher is tenoned into the posts
        f["stretcher_thickness"] = min(f["stretcher_thickness"], 0.8 * support_depth)
    shelf = kind in ("coffee", "side") and rng.random() < 0.35 and (
        base == "panel" or (base == "legs" and leg_count == 4 and f["leg_splay"] == 0.0))
    support = voxel * (rng.uniform(0.8, 1.0) if thin else rng.uniform(1.8, 3.0))
    return TableParams(
        kind=kind, height=height, width=width, depth=depth,
        top_thickness=voxel * rng.uniform(2.0, 3.0), top_shape=top_shape,
        top_corner=rng.uniform(0.1, 0.45) * min(width, depth) / 2 if top_shape == "rounded" else 0.0,
        pedestal_count=2 if base == "pedestal" and width / depth > 1.6 and width > 1.2 else 1,
        support_thickness=support, support_depth=support_depth,
        foot_height=rng.uniform(0.04, 0.08),
        shelf_height=rng.uniform(0.08, 0.2) * height if shelf else 0.0,
        shelf_thickness=voxel * rng.uniform(0.7, 1.0),
        modesty_panel=base == "panel" and kind == "desk" and rng.random() < 0.6, **f)


_SAMPLERS = {"chair": _sample_chair, "table": _sample_table}
_BUILDERS = {ChairParams: _build_chair, TableParams: _build_table}
# Voxel-sized parts barely move the footprint (a splayed foot, a back post's lean), so the voxel a
# model's parts give settles to round-off within two or three samplings; the cap only bounds the loop.
_VOXEL_PASSES = 6
_VOXEL_TOLERANCE = 1e-6  # relative: far below anything a size test or the grid can see


def _voxel_size(params):
    """One voxel of the default grid in metres, for the model `params` builds (`conventions.normalization`)."""
    vertices = np.concatenate([p.vertices for p in build_parts(params)])
    return 1.0 / (conventions.normalization(vertices)[0] * conventions.DEFAULT_RESOLUTION)


# ----------------------------------------------------------------------------- public API


def sample_params(category, rng):
    """Random `ChairParams` or `TableParams` for `category` ('chair' or 'table') from a NumPy Generator.

    Sizes drawn in voxels are voxels of the finished model once normalized
    (`conventions.normalization`): the model is sampled again from the same
    random state with the voxel size its previous sample measured until the
    two agree to `_VOXEL_TOLERANCE` (one to four times; tables, whose top
    decides their footprint, once). `rng` ends in the same state either way.
    """
    if category not in _SAMPLERS:
        raise ValueError(f"category must be one of {sorted(_SAMPLERS)}, got {category!r}")
    start = rng.bit_generator.state
    voxel = _voxel_size(_SAMPLERS[category](rng))  # from a model sampled with the sampler's guess
    for _ in range(_VOXEL_PASSES):
        rng.bit_generator.state = start  # the same draws, so only voxel-sized fields change
        params = _SAMPLERS[category](rng, voxel)
        measured = _voxel_size(params)
        if abs(measured - voxel) <= _VOXEL_TOLERANCE * voxel:
            break
        voxel = measured
    return params


def build_parts(params):
    """The closed convex parts of a model: list of `Part` (vertices `[V, 3]`, faces `[F, 3]`)."""
    if type(params) not in _BUILDERS:
        raise ValueError(f"params must be a ChairParams or TableParams, got {type(params).__name__}")
    return _BUILDERS[type(params)](params)


def build_mesh(params):
    """One `trimesh.Trimesh` of all parts of a model (vertices not merged: each part stays closed)."""
    parts = build_parts(params)
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts[:-1]])
    vertices = np.concatenate([p.vertices for p in parts])
    faces = np.concatenate([p.faces + o for p, o in zip(parts, offsets)])
    return trimesh.Trimesh(vertices=vertices, faces=faces, process=False)


def generate(category, seed):
    """The model of `category` for integer `seed`: same seed, identical vertices and faces."""
    return build_mesh(sample_params(category, np.random.default_rng(seed)))


def model_seed(seed, category, index):
    """Seed of model `index` of `category` in a dataset of seed `seed`; independent of the dataset size."""
    if category not in _SAMPLERS:
        raise ValueError(f"category must be one of {sorted(_SAMPLERS)}, got {category!r}")
    sequence = np.random.SeedSequence([int(seed), conventions.CATEGORIES.index(category), int(index)])
    return int(sequence.generate_state(1)[0])


def write_mesh(mesh, path):
    """Write `mesh` to `path` as OBJ or PLY (by extension), creating the parent folder."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".obj", ".ply"):
        raise ValueError(f"path must end in .obj or .ply, got {path!r}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if ext == ".obj":
        data = trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_color=False,
                                               include_texture=False, header=None)
        with open(path, "w") as f:
            f.write(data)
    else:
        mesh.export(path, file_type="ply")


def generate_to_dir(out_dir, num_chairs, num_tables, seed=0, ext=".obj"):
    """Write `num_chairs` chairs and `num_tables` tables under `out_dir/<category>/<model_id><ext>`.

    Model ids are `chair-00012`-style and each model's seed depends only on
    (seed, category, index), so a larger dataset keeps the smaller one's models.

    Returns:
      list of (model_id, category, path).
    """
    if num_chairs < 0 or num_tables < 0:
        raise ValueError(f"num_chairs and num_tables must be >= 0, got {num_chairs}, {num_tables}")
    rows = []
    for category, count in (("chair", num_chairs), ("table", num_tables)):
        for index in range(count):
            model_id = f"{category}-{index:05d}"
            path = os.path.join(out_dir, category, model_id + ext)
            write_mesh(generate(category, model_seed(seed, category, index)), path)
            rows.append((model_id, category, path))
    return rows
