"""Random `ChairParams` and `TableParams`: a family, then continuous proportions within it.

A family (`CHAIR_FAMILIES`, `TABLE_FAMILIES`) fixes the structure a real
collection has for it (an armchair: short legs, a cushion, padded arms and an
upholstered back; a club chair: the same body down to the floor) and ranges of
its proportions; every length within a family is drawn uniformly from its
range, so the sampled models spread over the proportions rather than sitting
on a few presets.

Thicknesses that decide what a 32^3 grid keeps are drawn in voxels of the
finished model (see `sample_params`): a share of models gets legs, tubes or
slats one voxel thick or thinner, and gaps between slats stay at least two
voxels wide so that the grid can show them.
"""

import math

import numpy as np

from pipelines.synthetic.params import ChairParams, TableParams
from tf3d import conventions

# family: weight, (seat height, seat width, seat depth, back height) ranges in metres; back height 0 = no back
CHAIR_FAMILIES = {
    "dining": (0.16, ((0.42, 0.48), (0.40, 0.50), (0.38, 0.48), (0.35, 0.55))),
    "bar": (0.07, ((0.62, 0.80), (0.36, 0.46), (0.34, 0.42), (0.18, 0.35))),
    "stool": (0.06, ((0.42, 0.80), (0.30, 0.42), (0.30, 0.42), (0.0, 0.0))),
    "office": (0.09, ((0.44, 0.52), (0.45, 0.52), (0.42, 0.48), (0.40, 0.60))),
    "lounge": (0.05, ((0.36, 0.42), (0.55, 0.72), (0.48, 0.58), (0.40, 0.55))),
    "armchair": (0.10, ((0.40, 0.46), (0.55, 0.75), (0.50, 0.60), (0.35, 0.50))),
    "club": (0.08, ((0.38, 0.45), (0.70, 0.95), (0.60, 0.75), (0.28, 0.45))),
    "wingback": (0.05, ((0.40, 0.46), (0.65, 0.85), (0.55, 0.65), (0.60, 0.80))),
    "recliner": (0.04, ((0.40, 0.48), (0.70, 0.90), (0.60, 0.75), (0.45, 0.65))),
    "rocking": (0.05, ((0.40, 0.46), (0.45, 0.60), (0.42, 0.52), (0.50, 0.75))),
    "folding": (0.05, ((0.42, 0.47), (0.38, 0.45), (0.36, 0.42), (0.30, 0.42))),
    "cantilever": (0.06, ((0.43, 0.48), (0.42, 0.50), (0.40, 0.47), (0.35, 0.50))),
    "bench": (0.05, ((0.40, 0.48), (0.90, 1.80), (0.32, 0.50), (0.35, 0.50))),
    "adirondack": (0.04, ((0.30, 0.40), (0.55, 0.70), (0.50, 0.62), (0.55, 0.75))),
    "garden": (0.05, ((0.40, 0.46), (0.45, 0.58), (0.42, 0.52), (0.35, 0.50))),
}
# family: weight, (height, width, depth) ranges in metres
TABLE_FAMILIES = {
    "dining": (0.28, ((0.72, 0.78), (1.20, 2.00), (0.75, 1.00))),
    "coffee": (0.15, ((0.35, 0.48), (0.80, 1.30), (0.45, 0.80))),
    "side": (0.10, ((0.50, 0.65), (0.40, 0.60), (0.40, 0.60))),
    "night": (0.08, ((0.45, 0.65), (0.40, 0.60), (0.35, 0.50))),
    "bar": (0.07, ((0.95, 1.08), (0.60, 1.00), (0.55, 0.80))),
    "desk": (0.14, ((0.72, 0.76), (1.00, 1.60), (0.50, 0.75))),
    "console": (0.08, ((0.72, 0.85), (0.90, 1.60), (0.28, 0.45))),
    "card": (0.05, ((0.68, 0.74), (0.75, 0.90), (0.75, 0.90))),
    "glass": (0.05, ((0.40, 0.76), (0.50, 1.40), (0.45, 0.90))),
}
UPHOLSTERED = ("club", "wingback", "recliner")  # bodies down to the floor (base 'skirt')
THIN_SHARE = 0.15  # share of models with metal-rod legs at most one voxel thick


def pick(rng, weights):
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=np.float64)
    return names[rng.choice(len(names), p=p / p.sum())]


def sample_supports(rng, voxel, thin, height, stretcher_range=(0.2, 0.45), apron_skip=0.55):
    """Leg-frame fields, thicknesses in voxels of the normalized model (`voxel` metres)."""
    profile = pick(rng, {"square": 0.2, "round": 0.8} if thin else {"square": 0.5, "round": 0.5})
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


def _chair_base(rng, family, f, voxel):
    """The base fields of a chair of `family` (updates the support fields `f`)."""
    base = {"office": pick(rng, {"pedestal": 0.85, "legs": 0.15}), "bar": pick(rng, {"legs": 0.75, "pedestal": 0.25}),
            "stool": pick(rng, {"legs": 0.75, "pedestal": 0.25}), "dining": pick(rng, {"legs": 0.8, "sled": 0.2}),
            "lounge": pick(rng, {"legs": 0.75, "sled": 0.25}), "bench": pick(rng, {"legs": 0.8, "sled": 0.2}),
            "rocking": "rockers", "folding": "folding", "cantilever": "cantilever"}.get(family, "legs")
    if family in UPHOLSTERED:
        base = "skirt"
    f.update(base=base, leg_count={"legs": 4, "pedestal": 1, "sled": 2}.get(base, 4), stretchers="none")
    if base == "legs":
        three = {"bar": 0.3, "stool": 0.3, "dining": 0.05, "lounge": 0.05, "office": 0.05}.get(family, 0.0)
        f["leg_count"] = 3 if rng.random() < three else 4
        if family in ("bar", "stool"):
            f["stretchers"] = pick(rng, {"box": 0.8, "h": 0.2})
        elif family in ("armchair", "adirondack"):
            f["stretchers"] = "none"
        else:
            f["stretchers"] = pick(rng, {"none": 0.45, "box": 0.25, "h": 0.3})
        if f["leg_count"] == 3 and f["stretchers"] == "h":
            f["stretchers"] = "box"
    elif base == "pedestal":
        star = family == "office" and rng.random() < 0.8
        f.update(base_style="star" if star else "disc", leg_count=(5 if rng.random() < 0.7 else 4) if star else 1,
                 column_radius=rng.uniform(0.022, 0.035) if star else rng.uniform(0.03, 0.05),
                 base_radius=rng.uniform(0.26, 0.33) if star else rng.uniform(0.18, 0.25))
    elif base in ("cantilever", "folding", "rockers"):
        # Bent tubes and folding frames are metal tubes one to two voxels thick; rockers are boards.
        f.update(leg_thickness=voxel * (rng.uniform(2.0, 3.0) if base == "rockers" else rng.uniform(1.0, 2.0)),
                 leg_taper=1.0, leg_splay=0.0, apron_height=0.0,
                 stretcher_height=rng.uniform(0.1, 0.25) if base == "folding" else 0.15)
    if base == "skirt" or family in ("armchair", "adirondack"):
        f.update(leg_splay=0.0, apron_height=0.0)
    if family == "adirondack":  # plank legs
        f.update(leg_profile="square", leg_taper=1.0, leg_thickness=voxel * rng.uniform(2.0, 3.0))
    return base


def _chair(rng, family, voxel=None):
    seat_height, seat_width, seat_depth, back_height = (rng.uniform(*r) for r in CHAIR_FAMILIES[family][1])
    if voxel is None:  # first guess: the height, or the seat's diagonal plus the back's lean
        voxel = max(seat_height + back_height, math.hypot(seat_width, seat_depth + 0.1)) / \
            conventions.DEFAULT_RESOLUTION
    thin = family not in UPHOLSTERED + ("armchair", "adirondack") and rng.random() < THIN_SHARE
    f = sample_supports(rng, voxel, thin, seat_height,
                        (0.3, 0.45) if family in ("bar", "stool") else (0.2, 0.45),
                        apron_skip=0.3 if family in ("bench", "garden") else 0.55)
    base = _chair_base(rng, family, f, voxel)
    round_ok = base in ("legs", "pedestal", "sled") and family in ("dining", "bar", "stool", "office", "lounge")
    seat_shape = "round" if f["leg_count"] == 3 else pick(
        rng, {"rect": 0.5, "rounded": 0.35, "round": 0.15 if round_ok else 0.0} if family != "stool" else
        {"rect": 0.25, "rounded": 0.15, "round": 0.6})
    soft = family in ("armchair", "club", "wingback", "recliner", "lounge")
    seat_style = pick(rng, {"slats": 0.5, "board": 0.5} if family in ("bench", "garden") else
                      {"slats": 1.0} if family == "adirondack" else
                      {"cushion": 1.0} if soft or family == "office" else {"board": 0.7, "cushion": 0.3})
    if seat_style == "slats" or family == "bench":
        seat_shape = "rect"
        if family == "bench" and base == "legs" and seat_width > 1.3:
            f["leg_count"] = 6
        f["apron_height"] = max(f["apron_height"], 0.05) if base == "legs" else f["apron_height"]
    # Arms: none, a rail on a post, a solid panel, a padded block, or an Adirondack's plank.
    arm_odds = {"dining": 0.15, "bar": 0.1, "lounge": 0.6, "office": 0.6, "rocking": 0.6, "garden": 0.5,
                "bench": 0.2, "armchair": 1.0, "club": 1.0, "wingback": 1.0, "recliner": 1.0,
                "adirondack": 1.0}.get(family, 0.0)
    arms = "none"
    if seat_shape != "round" and rng.random() < arm_odds:
        arms = ("padded" if family in UPHOLSTERED else "plank" if family == "adirondack" else
                pick(rng, {"padded": 0.6, "panel": 0.2, "bar": 0.2}) if family == "armchair" else
                pick(rng, {"bar": 0.7, "panel": 0.3}))
    backs = {"office": {"upholstered": 0.6, "solid": 0.25, "vertical_slats": 0.15},
             "stool": {"none": 1.0}, "adirondack": {"vertical_slats": 1.0},
             "bench": {"none": 0.5, "horizontal_slats": 0.2, "vertical_slats": 0.15, "solid": 0.15},
             "garden": {"horizontal_slats": 0.6, "vertical_slats": 0.4},
             "cantilever": {"solid": 0.5, "upholstered": 0.5}, "folding": {"solid": 0.6, "horizontal_slats": 0.4},
             "rocking": {"spindles": 0.4, "vertical_slats": 0.3, "horizontal_slats": 0.3},
             "lounge": {"solid": 0.5, "upholstered": 0.5}}
    back = pick(rng, backs.get(family, {"upholstered": 1.0} if soft else
                               {"solid": 0.35, "vertical_slats": 0.2, "horizontal_slats": 0.25, "spindles": 0.2}))
    corner = rng.uniform(0.15, 0.4) * min(seat_width, seat_depth) / 2 if seat_shape == "rounded" else 0.0
    if arms != "none":
        back_width = seat_width - 2 * 0.3 * corner
    else:
        back_width = seat_width * (rng.uniform(0.55, 0.75) if seat_shape == "round" else rng.uniform(0.8, 1.0))
    if base == "cantilever":
        back_width = seat_width  # the frame's tubes run up the back's sides
    post = voxel * rng.uniform(1.2, 1.8)  # back posts carry the rails: never thinner than a voxel
    slat_width = max(rng.uniform(0.03, 0.08) if family != "adirondack" else rng.uniform(0.06, 0.09), 1.5 * voxel)
    slat_count = int(rng.integers(2, 7)) if back == "vertical_slats" else \
        int(rng.integers(2, 6)) if back == "horizontal_slats" else int(rng.integers(3, 9))
    # Gaps between slats and spindles stay at least two voxels wide: a narrower gap closes in the 32^3 grid,
    # and the rendering (which shows it) and the voxels would then disagree about the back.
    span = back_width - 2 * post  # between the posts
    if back == "vertical_slats":  # and at least as much air as wood
        slat_count = min(slat_count, int(0.5 * span / slat_width), int(span / (slat_width + 2 * voxel)) - 1)
    elif back == "spindles":
        slat_count = min(slat_count, int(span / (3 * voxel)) - 1)
    elif back == "horizontal_slats":
        span = 0.7 * back_height - 0.5 * slat_width
        slat_count = min(slat_count, int(span / (slat_width + 2 * voxel)) + 1)
    if slat_count < 1 and back in ("vertical_slats", "spindles"):
        back = "solid"  # too narrow for one slat with two-voxel gaps beside it
    seat_slat = rng.uniform(0.05, 0.10)
    seat_gap = max(2.0 * voxel, 0.3 * seat_slat)
    cushion = {"armchair": (0.10, 0.16), "club": (0.12, 0.20), "wingback": (0.10, 0.16), "recliner": (0.12, 0.20),
               "lounge": (0.08, 0.14), "office": (0.06, 0.10)}.get(family, (0.04, 0.07))
    seat_thickness = rng.uniform(*cushion) if seat_style != "slats" else rng.uniform(0.025, 0.04)
    back_thickness = {"club": (0.15, 0.25), "recliner": (0.18, 0.28), "wingback": (0.10, 0.16),
                      "armchair": (0.10, 0.18), "lounge": (0.06, 0.12), "office": (0.05, 0.09)}.get(
        family, (0.035, 0.07))
    tilt = {"bar": (0, 8), "stool": (0, 0), "lounge": (8, 18), "office": (5, 15), "recliner": (12, 28),
            "adirondack": (15, 25), "club": (5, 12), "armchair": (5, 14)}.get(family, (3, 12))
    arm_width = {"padded": (0.08, 0.16) if family != "club" else (0.12, 0.22), "panel": (0.05, 0.12),
                 "plank": (0.10, 0.16)}.get(arms, (0.04, 0.08))
    curve_odds = {"office": 0.6, "armchair": 0.5, "club": 0.6, "cantilever": 0.5, "dining": 0.2}.get(family, 0.0)
    curved = back in ("solid", "upholstered") and rng.random() < curve_odds
    back_curve = rng.uniform(0.02, 0.25 if family == "club" else 0.08) * back_width if curved else 0.0
    return ChairParams(
        kind=family, seat_height=seat_height, seat_width=seat_width, seat_depth=seat_depth,
        seat_thickness=seat_thickness, seat_shape=seat_shape, seat_corner=corner, seat_style=seat_style,
        seat_bevel=rng.uniform(0.25, 0.45) * seat_thickness if seat_style == "cushion" else 0.0,
        seat_tilt=rng.uniform(8, 15) if family == "adirondack" else rng.uniform(2, 8) if family == "lounge" else 0.0,
        seat_slats=max(2, int((seat_depth + seat_gap) / (seat_slat + seat_gap))), seat_slat_gap=seat_gap,
        back=back, back_height=back_height if back != "none" else 0.0, back_width=back_width,
        back_thickness=rng.uniform(*back_thickness), back_tilt=rng.uniform(*tilt),
        back_gap=rng.uniform(0.04, 0.12) if family == "office" and back != "vertical_slats" and rng.random() < 0.6
        else 0.0,
        back_corner=rng.uniform(0.0, 0.45) * min(back_width, max(back_height, 0.1)) / 2, back_curve=back_curve,
        back_flare=rng.uniform(0.04, 0.12) if family == "adirondack" else 0.0,
        wings=rng.uniform(0.12, 0.25) if family == "wingback" else 0.0, post_thickness=post,
        rail_height=rng.uniform(0.04, 0.10), slat_count=max(1, slat_count), slat_width=slat_width,
        slat_thickness=voxel * rng.uniform(0.8, 1.0), arms=arms,
        arm_height=min(rng.uniform(0.18, 0.28), 0.75 * back_height) if back != "none" else rng.uniform(0.18, 0.25),
        arm_width=rng.uniform(*arm_width),
        skirt_height=(0.0 if rng.random() < 0.6 else rng.uniform(0.05, 0.12)) if family == "club" else
        rng.uniform(0.08, 0.18) if family == "wingback" else 0.0,
        footrest=rng.uniform(0.3, 0.5) if family == "recliner" and rng.random() < 0.5 else 0.0,
        rocker_radius=rng.uniform(0.9, 1.4), **f)


def _table(rng, family, voxel=None):
    height, width, depth = (rng.uniform(*r) for r in TABLE_FAMILIES[family][1])
    width, depth = max(width, depth), min(width, depth)  # X is the long side
    boxy = family in ("desk", "night", "console", "card")
    top_shape = pick(rng, {"rect": 0.7, "rounded": 0.3} if boxy else
                     {"rect": 0.45, "rounded": 0.2, "round": 0.2, "oval": 0.15})
    if top_shape == "round":
        width = depth = rng.uniform(0.9, 1.3) if family == "dining" else depth
    elif top_shape == "oval":
        depth = width * rng.uniform(0.55, 0.75)
    if voxel is None:  # first guess: the height, or the top's diagonal
        voxel = max(height, math.hypot(width, depth)) / conventions.DEFAULT_RESOLUTION
    thin = rng.random() < (0.5 if family in ("glass", "card") else THIN_SHARE)
    f = sample_supports(rng, voxel, thin, height, apron_skip=0.2)
    if family == "night":
        base = "cabinet"
    elif family == "card":
        base = pick(rng, {"folding": 0.5, "legs": 0.5})
    elif family == "glass":
        base = "legs"  # a glass sheet rests on its frame, and only legs reach the frame
    elif top_shape in ("round", "oval"):
        base = pick(rng, {"legs": 0.45, "pedestal": 0.55})
    else:
        base = pick(rng, {"legs": 0.5, "trestle": 0.0 if family in ("side", "bar", "console", "glass") else 0.2,
                          "panel": 0.0 if family in ("bar", "glass") else 0.15 if family != "desk" else 0.4,
                          "pedestal": 0.15 if family not in ("desk", "console") else 0.0})
    leg_count = 4
    if base == "legs" and top_shape == "round":
        leg_count = 3 if rng.random() < 0.4 else 4
    elif base == "legs" and family == "dining" and width > 1.7 and rng.random() < 0.4:
        leg_count = 6
    if family == "console":
        f["leg_splay"] = 0.0  # a narrow top has no room for splayed legs
    # Splayed feet stay under the top: a table's legs lean out from further in.
    reach = f["leg_thickness"] + height * math.tan(math.radians(f["leg_splay"]))
    f["leg_inset"] = reach + min(f["leg_inset"], max(0.25 * depth - reach, 0.0))  # legs stay apart when narrow
    f.update(base=base, leg_count=2 if base in ("trestle", "panel") else leg_count, stretchers="none")
    if base == "legs":
        f["stretchers"] = pick(rng, {"none": 0.6, "box": 0.2, "h": 0.2 if leg_count != 3 else 0.0})
    elif base == "pedestal":
        f.update(leg_count=1, base_style="disc", column_radius=rng.uniform(0.035, 0.08),
                 base_radius=min(0.45 * depth, 0.2 * width if width / depth > 1.6 and width > 1.2 else 0.45 * width,
                                 rng.uniform(0.18, 0.32)))
        if rng.random() < 0.45:
            f.update(base_style="cross", leg_count=int(rng.integers(3, 5)))
    elif base == "trestle":
        f.update(stretcher_height=rng.uniform(0.25, 0.5) * height,
                 stretcher_thickness=voxel * (rng.uniform(0.7, 1.0) if thin else rng.uniform(1.0, 1.8)))
    elif base in ("folding", "cabinet"):
        f.update(leg_splay=0.0, apron_height=0.0, leg_inset=rng.uniform(0.0, 0.03),
                 stretcher_height=rng.uniform(0.1, 0.3) * height if base == "folding" else f["stretcher_height"])
    if family == "card" and base == "legs":
        f["apron_height"] = 0.0  # card tables fold their legs flat under a bare top
    support_depth = rng.uniform(0.06, 0.2)
    if base == "trestle":  # the stretcher is tenoned into the posts
        f["stretcher_thickness"] = min(f["stretcher_thickness"], 0.8 * support_depth)
    plain_legs = base == "legs" and leg_count == 4 and f["leg_splay"] == 0.0
    shelf = family in ("coffee", "side", "console") and rng.random() < 0.4 and (base == "panel" or plain_legs)
    if family == "night":
        shelf = rng.random() < 0.5  # here: the open niche under the drawers
    support = voxel * (rng.uniform(0.8, 1.0) if thin else rng.uniform(1.8, 3.0))
    drawer_side = 0
    if family == "desk":
        drawer_side = pick(rng, {0: 0.35, 1: 0.25, -1: 0.25, 2: 0.15})
    glass = family == "glass"
    return TableParams(
        kind=family, height=height, width=width, depth=depth,
        top_thickness=voxel * rng.uniform(2.0, 3.0), top_shape=top_shape,
        top_corner=rng.uniform(0.1, 0.45) * min(width, depth) / 2 if top_shape == "rounded" else 0.0,
        top_bevel=voxel * rng.uniform(0.5, 1.0) if not glass and rng.random() < 0.3 else 0.0,
        glass_top=glass,  # the frame reaches over the legs (1.5: how far round tops keep legs in)
        frame_width=min(max(rng.uniform(0.02, 0.05), f["leg_inset"] + 1.5 * f["leg_thickness"] + 0.005),
                        0.4 * depth),
        pedestal_count=2 if base == "pedestal" and width / depth > 1.6 and width > 1.2 else 1,
        support_thickness=support if base != "cabinet" else rng.uniform(0.015, 0.025),
        support_depth=support_depth,
        foot_height=rng.uniform(0.04, 0.08) if base != "cabinet" else
        (0.0 if rng.random() < 0.4 else rng.uniform(0.05, 0.15)),
        shelf_height=(rng.uniform(0.25, 0.45) if family == "night" else rng.uniform(0.08, 0.2)) * height
        if shelf else 0.0,
        shelf_thickness=voxel * rng.uniform(0.7, 1.0),
        modesty_panel=base == "panel" and family == "desk" and rng.random() < 0.6,
        drawers=int(rng.integers(1, 4)) if family in ("night", "desk") else 0, drawer_side=drawer_side, **f)


SAMPLERS = {"chair": (_chair, CHAIR_FAMILIES), "table": (_table, TABLE_FAMILIES)}


def sample_family(category, rng, voxel=None, family=None):
    """Params of one model of `category`; the family is drawn by weight unless given."""
    sampler, families = SAMPLERS[category]
    name = pick(rng, {k: v[0] for k, v in families.items()})  # drawn even when given: same stream after it
    return sampler(rng, family or name, voxel)
