"""Tables from `TableParams`: a top (solid, bevelled, or a glass sheet in a frame) on one of six bases.

The top's upper face is at `height`, its outline centred on x = z = 0 with the
long side along X; every support reaches `parts.EMBED` of the top's
thickness into it.
"""

import numpy as np

from pipelines.synthetic import parts as P
from pipelines.synthetic import supports


def _top(p, a, b, r, y_under):
    if not p.glass_top:
        return [P.slab("top", p.top_shape, a, b, r, y_under, p.height, p.top_bevel)]
    # A sheet one voxel thick or thinner lying in a frame: the frame is what a 32^3 grid can keep.
    sheet = max(0.25 * p.top_thickness, 0.004)
    inner_a, inner_b = a - p.frame_width, b - p.frame_width
    out = [P.prism("glass", P.outline(p.top_shape, inner_a + 0.005, inner_b + 0.005, max(r - p.frame_width, 0.0)),
                   (0, p.height - sheet, 0), (0, p.height, 0), P.X, P.Z)]
    if p.top_shape in ("round", "oval"):
        # One segment past a full turn: the last overlaps the first, so their square ends leave no wedge.
        angles = np.arange(26) * (2.0 * np.pi / 24)
        mid_a, mid_b = a - 0.5 * p.frame_width, b - 0.5 * p.frame_width
        path = np.stack([mid_a * np.cos(angles), np.full(26, y_under + 0.5 * p.top_thickness),
                         mid_b * np.sin(angles)], 1)
        section = P.SQUARE * (0.5 * p.frame_width, 0.5 * p.top_thickness)
        ring = P.sweep("frame", section, path, up=P.Y)
        # Mitre rings stretch across the bends: scale the polygonal ring back inside the outline.
        reach = np.max([np.abs(part.vertices).max(axis=0) for part in ring], axis=0)
        scale = np.array([a / reach[0], 1.0, b / reach[2]])
        out += [P.Part(part.name, part.vertices * scale, part.faces) for part in ring]
    else:
        w = p.frame_width
        out += [P.box("frame", (-a, y_under, b - w), (a, p.height, b)), P.box("frame", (-a, y_under, -b), (a, p.height, -b + w)),
                P.box("frame", (-a, y_under, -b), (-a + w, p.height, b)), P.box("frame", (a - w, y_under, -b), (a, p.height, b))]
    return out


def _drawer_block(name, x0, x1, z0, z1, y0, y1, drawers, proud=0.006):
    """A closed carcass with `drawers` fronts standing `proud` of its +Z face, 8 mm apart."""
    out = [P.box(name, (x0, y0, z0), (x1, y1, z1))]
    if drawers:
        gap, height = 0.008, (y1 - y0) / drawers
        for k in range(drawers):
            lo = y0 + k * height + 0.5 * gap
            out.append(P.box("drawer", (x0 + gap, lo, z1 - 0.01), (x1 - gap, lo + height - gap, z1 + proud)))
    return out


def _ends(p, a, b, r, y_under, y_embed):
    """Trestle or panel ends (and what joins them): `p.base` in (trestle, panel)."""
    out = []
    ht, hd = 0.5 * p.support_thickness, 0.5 * p.support_depth
    x = a - p.leg_inset - ht
    zb = P.half_depth(p.top_shape, a, b, r, x + ht) - 0.02
    for s in (-1, 1):
        if p.base == "panel":
            out.append(P.box("panel", (s * x - ht, 0, -zb), (s * x + ht, y_embed, zb)))
        else:
            out.append(P.box("post", (s * x - ht, 0.5 * p.foot_height, -hd), (s * x + ht, y_embed, hd)))
            out.append(P.box("foot", (s * x - 1.2 * ht, 0, -0.9 * zb), (s * x + 1.2 * ht, p.foot_height, 0.9 * zb)))
            out.append(P.box("cleat", (s * x - ht, y_under - 0.04, -0.8 * zb), (s * x + ht, y_embed, 0.8 * zb)))
    if p.base == "trestle":
        out.append(P.rod("stretcher", "square", (-x, p.stretcher_height, 0), (x, p.stretcher_height, 0),
                         0.5 * p.stretcher_thickness, p.stretcher_thickness))
    if p.shelf_height > 0:
        out.append(P.box("shelf", (-x, p.shelf_height, -0.9 * zb), (x, p.shelf_height + p.shelf_thickness, 0.9 * zb)))
    if p.modesty_panel:
        zp = -zb + 0.1
        out.append(P.box("modesty", (-x, 0.35 * p.height, zp - 0.01), (x, y_embed, zp + 0.01)))
    return out


def _cabinet(p, a, b, y_embed):
    """A night table's carcass: side, back and bottom boards round an open niche, drawers above it,
    on short legs (`foot_height`)."""
    w, inset = p.support_thickness, p.leg_inset
    x, zf = a - inset, b - max(inset, 0.01)  # drawer fronts stand 6 mm proud: they stay under the top
    zr = -zf
    y0 = p.foot_height
    niche = p.shelf_height > 0  # the niche's top: the drawers' bottom
    y_drawers = y0 + p.shelf_height if niche else y0
    out = []
    if niche:
        out += [P.box("side", (-x, y0, zr), (-x + w, y_drawers + 0.01, zf)),
                P.box("side", (x - w, y0, zr), (x, y_drawers + 0.01, zf)),
                P.box("back_board", (-x, y0, zr), (x, y_drawers + 0.01, zr + w)),
                P.box("bottom", (-x, y0, zr), (x, y0 + w, zf))]
    out += _drawer_block("carcass", -x, x, zr, zf, y_drawers, y_embed, p.drawers)
    if y0 > 0:
        half = 0.5 * p.leg_thickness
        for sx in (-1, 1):
            for sz in (-1, 1):
                c = (sx * (x - half), 0.0, sz * (zf - half))  # zr = -zf
                out.append(P.post("leg", p.leg_profile, c, (c[0], y0 + 0.02, c[2]), half, p.leg_taper))
    return out


def build_table(p):
    """The closed convex parts of the table `p` (a `TableParams`)."""
    a, b, r = 0.5 * p.width, 0.5 * p.depth, p.top_corner
    y_under = p.height - p.top_thickness
    y_embed = y_under + P.EMBED * p.top_thickness
    out = _top(p, a, b, r, y_under)
    if p.base == "legs":
        legs, centre = supports.legs(p, p.top_shape, a, b, r, y_under)
        out += legs
        if p.shelf_height > 0:  # spans the leg axes of the four corner legs
            lo = centre(2 if p.leg_count == 4 else 3, p.shelf_height)
            hi = centre(0, p.shelf_height + p.shelf_thickness)
            out.append(P.box("shelf", lo, hi))
    elif p.base == "pedestal":
        xs = (0.0,) if p.pedestal_count == 1 else (-0.55 * a, 0.55 * a)
        for x in xs:
            out += supports.pedestal(p, x, y_embed)
        if p.pedestal_count == 2:
            out.append(P.rod("stretcher", "round", (xs[0], p.stretcher_height, 0), (xs[1], p.stretcher_height, 0),
                             0.5 * p.stretcher_thickness))
    elif p.base in ("trestle", "panel"):
        out += _ends(p, a, b, r, y_under, y_embed)
    elif p.base == "cabinet":
        out += _cabinet(p, a, b, y_embed)
    else:  # folding: X-frames under the two short ends
        x = a - 0.5 * p.leg_thickness - p.leg_inset - 0.03
        out += supports.x_frame(p, (-x, x), b - 0.5 * p.leg_thickness - p.leg_inset, y_embed, p.stretcher_height)
    if p.drawer_side:  # a desk's drawer pedestal, from the floor (or shelf) to the top
        width = min(0.42, 0.35 * p.width)
        for s in ((-1, 1) if p.drawer_side == 2 else (p.drawer_side,)):
            # Against an end panel's inner face, or under the top's end, swallowing that side's legs.
            x_out = s * (a - p.leg_inset - p.support_thickness if p.base == "panel" else a - 0.03)
            x0, x1 = sorted((x_out, x_out - s * width))
            out += _drawer_block("pedestal", x0, x1, -b + 0.06, b - 0.05, 0.0, y_embed, p.drawers)
    return out
