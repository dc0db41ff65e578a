"""Chairs, stools and benches from `ChairParams`: seat, back, arms and one of seven bases.

A chair is built around its seat: the seat's top front edge is at
`seat_height`, its outline is centred on x = z = 0, and the back stands on
its rear edge (-Z). The back is built upright and then leaned back by
`back_tilt` about its foot; a tilted seat (`seat_tilt`) then turns seat and
back together about the seat's front edge, and the supports reach up to the
tilted underside.
"""

import math

import numpy as np

from pipelines.synthetic import parts as P
from pipelines.synthetic import supports


def _seat(p, a, b, r, y_seat):
    y_under = y_seat - p.seat_thickness
    if p.seat_style == "slats":
        # Boards across X with gaps between them; the seat frame (aprons) under them joins them.
        count = p.seat_slats
        width = (2 * b - (count - 1) * p.seat_slat_gap) / count
        out = [P.box("seat_slat", (-a, y_under, z - 0.5 * width), (a, y_seat, z + 0.5 * width))
               for z in np.linspace(-b + 0.5 * width, b - 0.5 * width, count)]
        # Side rails under the boards' ends, reaching in over the supports' axes: a support under a
        # gap still holds them.
        inner = a - p.leg_inset - 1.1 * p.leg_thickness
        return out + [P.box("seat_rail", (min(s * a, s * inner), y_under - 0.05, -b),
                            (max(s * a, s * inner), y_under + 0.005, b)) for s in (-1, 1)]
    bevel = p.seat_bevel if p.seat_style == "cushion" else 0.0
    return [P.slab("seat", p.seat_shape, a, b, r, y_under, y_seat, bevel)]


def _curved_panel(name, p, hw, y0, y1, z, thickness, bevel):
    """A back panel from y0 to y1, `thickness` deep, whose sides come forward by `p.back_curve`."""
    section = P.rounded_rect(0.5 * thickness, 0.5 * (y1 - y0), bevel)  # (depth, height): the sweep's (u, v)
    xs = np.linspace(-hw, hw, 9)
    path = np.stack([xs, np.full(len(xs), 0.5 * (y0 + y1)), z + p.back_curve * (xs / hw) ** 2], 1)
    return P.sweep(name, section, path, up=P.Y)


def _back(p, a, b, r, y_seat):
    """Back parts before tilting, and the z of the back's mid-plane."""
    hw = 0.5 * p.back_width
    t = p.back_thickness if p.back in ("solid", "upholstered") else p.post_thickness
    z = -P.half_depth(p.seat_shape, a, b, r, hw) + 0.5 * t + 0.004  # the back's rear corners stay on the seat
    y0, y1 = y_seat - P.EMBED * p.seat_thickness, y_seat + p.back_height
    if p.back == "none":
        return [], z
    if p.back in ("solid", "upholstered"):
        yb = y_seat + p.back_gap if p.back_gap > 0 else y0
        bevel = 0.45 * t if p.back == "upholstered" else 0.0
        yc, hh = 0.5 * (yb + y1), 0.5 * (y1 - yb)
        if p.back_curve > 0:
            parts = _curved_panel("back", p, hw, yb, y1, z, t, bevel)
        elif bevel > 0:  # an upholstered back is a cushion standing on its edge
            parts = [P.loft("back", _rotated_slab(hw, yc, hh, z, t, bevel), P.X, P.Y, P.Z)]
        else:
            panel = P.rounded_rect(hw, hh, p.back_corner)
            parts = [P.prism("back", panel, (0, yc, z - 0.5 * t), (0, yc, z + 0.5 * t), P.X, P.Y)]
        if p.back_gap > 0:
            parts.append(P.box("spine", (-0.03, y0, z - 0.5 * t), (0.03, yb + 0.3 * (y1 - yb), z + 0.5 * t)))
        if p.wings > 0:  # wingback: side panels from above the arms to the top, reaching forward
            for side in (-1, 1):
                parts.append(_wing(side * (hw - 0.3 * t), z - 0.5 * t, z + p.back_curve + p.wings,
                                   y_seat + 0.3 * p.back_height, y1, 0.6 * t))
        return parts, z
    xp = hw - 0.5 * p.post_thickness
    parts = [P.post(f"post{k}", p.leg_profile, (s * xp, y0, z), (s * xp, y1, z), 0.5 * p.post_thickness)
             for k, s in enumerate((-1, 1))]
    st = 0.5 * min(p.slat_thickness, 0.8 * p.post_thickness)  # rails are thinner than the posts they enter
    if p.back == "horizontal_slats":
        for k, y in enumerate(np.linspace(y_seat + 0.3 * p.back_height, y1 - 0.5 * p.slat_width, p.slat_count)):
            parts.append(P.rod(f"rail{k}", "square", (-xp, y, z), (xp, y, z), st, 0.5 * p.slat_width))
        return parts, z
    yr = y1 - 0.5 * p.rail_height
    flare = p.back_flare  # a fanned back: slats spread towards a wider top rail
    parts.append(P.rod("top_rail", "square", (-xp - flare, yr, z), (xp + flare, yr, z),
                       max(st, 0.3 * p.post_thickness), 0.5 * p.rail_height))
    if flare > 0:  # the posts lean out to the rail's ends
        parts[:2] = [P.post(f"post{k}", p.leg_profile, (s * xp, y0, z), (s * (xp + flare), y1, z),
                            0.5 * p.post_thickness) for k, s in enumerate((-1, 1))]
    inner = hw - p.post_thickness
    for k, x in enumerate(np.linspace(-inner, inner, p.slat_count + 2)[1:-1]):
        top_x = x * (1.0 + flare / inner)
        if p.back == "vertical_slats":
            ring = P.SQUARE * (0.5 * p.slat_width, st)
            parts.append(P.prism(f"slat{k}", ring, (x, y0, z), (top_x, yr, z), P.X, P.Z))
        else:
            parts.append(P.post(f"spindle{k}", "round", (x, y0, z), (top_x, yr, z), st))
    return parts, z


def _rotated_slab(hw, yc, hh, z, t, bevel, steps=3):
    """Rings `[K, P, 3]` of a cushion standing upright: outline in (x, y), rounded edges along z."""
    rings = []
    angles = np.linspace(0.0, 0.5 * np.pi, steps + 1)
    for end, sign in ((z - 0.5 * t, 1.0), (z + 0.5 * t, -1.0)):
        for phi in (angles if sign > 0 else angles[::-1]):
            inset = bevel * (1.0 - math.sin(phi))
            flat = P.rounded_rect(hw - inset, hh - inset, max(bevel - inset, 0.0), always_round=True)
            rings.append(np.stack([flat[:, 0], yc + flat[:, 1], np.full(len(flat), end + sign * bevel *
                                                                         (1.0 - math.cos(phi)))], 1))
    return rings


def _wing(x, z_rear, z_front, y0, y1, thickness):
    """A wingback's side panel in the plane x: rounded at its front top corner."""
    depth, height = z_front - z_rear, y1 - y0
    ring = P.rounded_rect(0.5 * depth, 0.5 * height, 0.45 * min(depth, height))  # (z, y)
    c = np.array([x, 0.5 * (y0 + y1), 0.5 * (z_rear + z_front)])
    return P.prism("wing", ring, c - (0.5 * thickness, 0, 0), c + (0.5 * thickness, 0, 0), P.Z, P.Y)


def _arms(p, a, b, r, y_seat, y_bottom, z_back_at):
    """Arm parts; `z_back_at(y)` is the z of the (tilted) back's mid-plane at height y."""
    y0, y_arm = y_seat - P.EMBED * p.seat_thickness, y_seat + p.arm_height
    rail = min(p.arm_width, 0.04)
    z_rear = z_back_at(y_arm - 0.5 * rail) if p.back != "none" else -b
    z_front = P.half_depth(p.seat_shape, a, b, r, a - p.arm_width)
    out = []
    for s in (-1, 1):
        x = s * (a - 0.5 * p.arm_width)
        lo_x, hi_x = x - 0.5 * p.arm_width, x + 0.5 * p.arm_width
        if p.arms == "panel":
            out.append(P.box("arm", (lo_x, y0 - 0.03, z_rear), (hi_x, y_arm, z_front)))
            continue
        if p.arms == "padded":  # an upholstered block from the body's bottom, rolled over the top
            out.append(P.slab("arm", "rounded", 0.5 * p.arm_width, 0.5 * (z_front + 0.02 - z_rear), 0.0,
                              y_bottom, y_arm, 0.45 * p.arm_width, centre=(x, 0.5 * (z_front + 0.02 + z_rear))))
            continue
        half = 0.5 * min(p.arm_width, p.post_thickness)
        zs = P.half_depth(p.seat_shape, a, b, r, abs(x) + half) - half - 0.005
        over = 0.12 if p.arms == "plank" else 0.03  # an Adirondack's flat arm runs well past its post
        out.append(P.box("arm", (lo_x, y_arm - rail, z_rear), (hi_x, y_arm, zs + over)))
        out.append(P.post("arm_support", p.leg_profile, (x, y0 if p.arms == "bar" else 0.0, zs),
                          (x, y_arm - 0.5 * rail, zs), half))
    return out


def _sled(p, a, b, r, y_under):
    """Two floor runners, each with a front and a rear upright."""
    tube = 0.5 * p.leg_thickness
    x = (a if p.seat_shape != "round" else 0.7 * a) - tube - p.leg_inset
    zf = P.half_depth(p.seat_shape, a, b, r, x + tube) - tube - 0.01
    zr = -zf + 0.02
    out = []
    for s in (-1, 1):
        out.append(P.rod("runner", "round", (s * x, tube, zf + 0.04), (s * x, tube, zr - 0.06), tube))
        for z in (zf, zr):
            out.append(P.rod("upright", "round", (s * x, tube, z),
                             (s * x, y_under + P.EMBED * p.seat_thickness, z - 0.02), 0.9 * tube))
    return out


def _cantilever(p, a, b, y_under, back_top):
    """A bent tube per side: along the floor, up at the front, back under the seat, up the back."""
    tube = 0.5 * p.leg_thickness
    x = a - tube - p.leg_inset
    y_seat_tube = y_under - tube + 0.3 * p.seat_thickness  # the tube runs into the seat's underside
    ring = P.polygon(P.ROD_SIDES) * tube
    out = []
    for s in (-1, 1):
        corners = [(s * x, tube, -0.9 * b), (s * x, tube, b + 0.04), (s * x, y_seat_tube, 0.75 * b),
                   (s * x, y_seat_tube, -b + tube + 0.01), (s * x, back_top[0], back_top[1])]
        out += P.sweep("frame", ring, P.fillet(corners, 3.0 * tube, steps=3))
    out.append(P.rod("frame_bar", "round", (-x, tube, -0.9 * b + tube), (x, tube, -0.9 * b + tube), 0.8 * tube))
    return out


def _rockers(p, a, b, y_under, drop):
    """Four legs standing on two runners curved about a centre `rocker_radius` above the floor."""
    t, half, big_r = p.leg_thickness, 0.5 * p.leg_thickness, p.rocker_radius
    x = a - half - p.leg_inset
    z_leg = b - half - p.leg_inset
    reach = min(b + 0.18, 0.8 * big_r)
    centre_y = big_r + 0.5 * t  # the runner's axis is the circle of radius R about (y = R + t/2, z = 0)
    out = []
    for s in (-1, 1):
        angles = np.linspace(-math.asin(reach / big_r), math.asin(reach / big_r), 9)
        path = np.stack([np.full(len(angles), s * x), centre_y - big_r * np.cos(angles), big_r * np.sin(angles)], 1)
        runner = P.sweep("rocker", P.SQUARE * (0.5 * t, 0.6 * t), path, up=P.X)  # wider than the legs
        # Mitre rings are stretched across the bend, so the polygonal runner dips a little below the
        # circle it follows: lift it back onto the floor.
        lift = -min(part.vertices[:, 1].min() for part in runner)
        out += [P.Part(part.name, part.vertices + (0.0, lift, 0.0), part.faces) for part in runner]
        for z in (z_leg, -z_leg):
            y_foot = centre_y - math.sqrt(big_r ** 2 - z ** 2)  # on the runner's axis
            y_top = y_under + P.EMBED * p.seat_thickness - drop * (b - z)
            out.append(P.post("leg", p.leg_profile, (s * x, y_foot, z), (s * x, y_top, z), half))
    return out


def _skirt(p, a, b, r, y_under):
    """An upholstered body from `skirt_height` up into the seat, on short legs when it is raised."""
    y_top = y_under + P.EMBED * p.seat_thickness
    out = [P.slab("body", p.seat_shape, a, b, r, p.skirt_height, y_top, 0.02)]
    if p.skirt_height > 0:
        out += supports.legs(p, p.seat_shape, a, b, r, p.skirt_height + 0.02 - P.EMBED * p.seat_thickness)[0]
    return out


def build_chair(p):
    """The closed convex parts of the chair `p` (a `ChairParams`)."""
    a, b, r = 0.5 * p.seat_width, 0.5 * p.seat_depth, p.seat_corner
    y_seat, y_under = p.seat_height, p.seat_height - p.seat_thickness
    drop = math.tan(math.radians(p.seat_tilt))
    back, z_back = _back(p, a, b, r, y_seat)
    back = P.tilt(back, p.back_tilt, y_seat, z_back)
    top = P.rotate_x(np.array([[0.0, y_seat, z_back], [0.0, y_seat + p.back_height, z_back]]), p.back_tilt,
                     y_seat, z_back)
    top = P.rotate_x(top, p.seat_tilt, y_seat, b)  # the back's mid-line: its foot and its top, [2, 3]

    def z_back_at(y):
        f = (y - top[0, 1]) / (top[1, 1] - top[0, 1])
        return top[0, 2] + f * (top[1, 2] - top[0, 2])

    out = P.tilt(_seat(p, a, b, r, y_seat) + back, p.seat_tilt, y_seat, b)
    base = p.base
    if base == "legs":
        out += supports.legs(p, p.seat_shape, a, b, r, y_under, drop)[0]
    elif base == "pedestal":
        out += supports.pedestal(p, 0.0, y_under + P.EMBED * p.seat_thickness)
    elif base == "sled":
        out += _sled(p, a, b, r, y_under)
    elif base == "skirt":
        out += _skirt(p, a, b, r, y_under)
    elif base == "rockers":
        out += _rockers(p, a, b, y_under, drop)
    elif base == "cantilever":
        y_post = top[1, 1] - 0.15 * p.back_height  # the tube's end, behind the back's upper part
        out += _cantilever(p, a, b, y_under, (y_post, z_back_at(y_post) - 0.5 * p.back_thickness))
    else:  # folding
        x = a - 0.5 * p.leg_thickness - p.leg_inset
        out += supports.x_frame(p, (-x, x), 0.9 * b, y_under + P.EMBED * p.seat_thickness, p.stretcher_height)
    if p.arms != "none":
        out += _arms(p, a, b, r, y_seat, p.skirt_height if base == "skirt" else y_under, z_back_at)
    if p.footrest > 0:  # a recliner's leg rest, raised in front of the body and touching it
        y_rest = 0.75 * y_seat
        out.append(P.slab("footrest", "rounded", a - 0.03, 0.5 * p.footrest + 0.01, 0.03, y_rest - 0.12, y_rest,
                          0.04, centre=(0.0, b + 0.5 * p.footrest - 0.01)))
    return out
