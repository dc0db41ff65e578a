"""Supports shared by chairs and tables: leg frames, pedestals and folding X-frames.

Every support reaches into the seat or top it carries (`parts.EMBED` of its
thickness) so that the parts overlap and the voxelizer's flood fill makes one
solid of them.
"""

import math

import numpy as np

from pipelines.synthetic import parts as P


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


def _thickness(p):
    return p.seat_thickness if hasattr(p, "seat_thickness") else p.top_thickness


def legs(p, shape, a, b, r, y_under, drop=0.0):
    """Legs, stretchers and aprons under an outline whose underside is at `y_under`.

    `drop` is how far the underside falls per metre towards the rear (-Z): a
    seat tilted back by `t` degrees has `drop = tan(t)`, and each leg ends
    under it at its own height.

    Returns (parts, centre): `centre(i, y)` is leg i's axis point `[3]` at height y.
    """
    half = 0.5 * p.leg_thickness
    # Leg centres are kept far enough from the edge that a square leg's corner stays inside a rounded corner.
    margin = half * (1.5 if shape in ("round", "oval") else 1.0) + max(p.leg_inset, 0.3 * r)
    top_xz = _leg_tops(shape, a, b, p.leg_count, margin)
    y_tops = y_under + P.EMBED * _thickness(p) - drop * (b - top_xz[:, 1])
    direction = top_xz / np.maximum(np.linalg.norm(top_xz, axis=1, keepdims=True), 1e-9)
    foot_xz = top_xz + direction * (y_tops[:, None] * math.tan(math.radians(p.leg_splay)))

    def centre(i, y):
        xz = foot_xz[i] + (top_xz[i] - foot_xz[i]) * (y / y_tops[i])
        return np.array([xz[0], y, xz[1]])

    n = len(top_xz)
    out = [P.post(f"leg{i}", p.leg_profile, centre(i, 0.0), centre(i, y_tops[i]), half, p.leg_taper)
           for i in range(n)]
    ring = [(i, (i + 1) % n) for i in range(n)]
    hs, sh = p.stretcher_height, 0.5 * p.stretcher_thickness
    if p.stretchers == "box":
        out += [P.rod("stretcher", p.leg_profile, centre(i, hs), centre(j, hs), sh) for i, j in ring]
    elif p.stretchers == "h":
        left, right = (0, n - 1), (n // 2 - 1, n // 2)  # the +X and -X sides, front to back
        out += [P.rod("stretcher", p.leg_profile, centre(i, hs), centre(j, hs), sh) for i, j in (left, right)]
        mid = [0.5 * (centre(i, hs) + centre(j, hs)) for i, j in (left, right)]
        out.append(P.rod("stretcher", p.leg_profile, mid[0], mid[1], sh))
    if p.apron_height > 0:
        # Overlaps the underside by 5 mm, following it down a tilted seat.
        ya = y_tops - P.EMBED * _thickness(p) - 0.5 * p.apron_height + 0.005
        out += [P.rod("apron", "square", centre(i, ya[i]), centre(j, ya[j]), 0.5 * p.apron_thickness,
                      0.5 * p.apron_height) for i, j in ring]
    return out, centre


def pedestal(p, x, y_top):
    """Column from the floor to `y_top` at (x, 0) on a disc, a raised star on casters, or floor feet."""
    cr, reach = p.column_radius, p.base_radius
    out = []
    if p.base_style == "disc":
        out.append(P.prism("base", P.polygon(P.DISC_SIDES) * reach, (x, 0, 0), (x, 0.05, 0), P.X, P.Z, s1=0.85))
        y_column = 0.02
    else:
        raised = p.base_style == "star"
        hub_r, y_feet = 1.7 * cr, (0.10 if raised else 0.025)
        out.append(P.post("hub", "round", (x, y_feet - 0.025, 0), (x, y_feet + 0.04, 0), hub_r))
        y_column = y_feet
        for k in range(p.leg_count):
            angle = math.pi / 2 + k * 2.0 * math.pi / p.leg_count  # first foot points to the front
            tip = np.array([x + reach * math.cos(angle), y_feet - (0.03 if raised else 0.0), reach * math.sin(angle)])
            out.append(P.rod(f"foot{k}", "square", (x, y_feet, 0), tip, 0.022, 0.018 if raised else 0.025))
            if raised:
                out.append(P.post(f"caster{k}", "round", tip - (0, tip[1], 0), tip + (0, 0.01, 0), 0.022))
    out.append(P.post("column", "round", (x, y_column, 0), (x, y_top, 0), cr))
    return out


def x_frame(p, xs, z_reach, y_top, bar_height):
    """Folding X-frames: on each side x in `xs`, two crossed tubes from the floor at z = -/+z_reach
    up to y_top at z = +/-0.85 z_reach, and bars joining the sides' rear tubes at the floor and at
    `bar_height` (0 = floor only).

    Tubes are sheared posts (horizontal ends, so the feet stand flat on the floor)
    `p.leg_thickness` across, round or square (`p.leg_profile`).
    """
    half = 0.5 * p.leg_thickness
    out = []
    for x in xs:
        for s in (-1.0, 1.0):
            out.append(P.post("x_leg", p.leg_profile, (x, 0.0, s * z_reach), (x, y_top, -s * 0.85 * z_reach), half))
    for y in (half, bar_height) if bar_height > 0 else (half,):
        z = -z_reach + 1.85 * z_reach * (y / y_top)  # on the axis of each side's rear tube
        out.append(P.rod("x_bar", p.leg_profile, (xs[0], y, z), (xs[-1], y, z), 0.8 * half))
    return out
