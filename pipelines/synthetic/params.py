"""Typed parameters of one synthetic chair or table, checked on construction.

Lengths are metres, angles degrees. `kind` names the family a model was
sampled as (`sampling.CHAIR_FAMILIES`, `sampling.TABLE_FAMILIES`); the
builders read only the structural fields, so any consistent combination
builds.
"""

import dataclasses


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def check_range(name, value, lo, hi):
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")


@dataclasses.dataclass(frozen=True)
class SupportParams:
    """Leg-frame fields shared by chairs and tables."""

    base: str = "legs"  # chair: legs|pedestal|sled|skirt|rockers|cantilever|folding; table: see TableParams
    leg_count: int = 4  # floor supports: legs, pedestal feet (1 = disc base), sled runners or table ends (2)
    leg_profile: str = "square"  # square|round cross-section of legs, posts, stretchers
    leg_thickness: float = 0.04  # side or diameter at the top of a leg; tube diameter of a sled or frame
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

    def check_support(self, bases):
        check_choice("base", self.base, bases)
        check_choice("leg_profile", self.leg_profile, ("square", "round"))
        check_choice("stretchers", self.stretchers, ("none", "box", "h"))
        check_choice("base_style", self.base_style, ("disc", "star", "cross"))
        if self.base == "legs" and self.leg_count not in (3, 4, 6):
            raise ValueError(f"leg_count must be 3, 4 or 6 for base='legs', got {self.leg_count}")
        if self.leg_thickness <= 0 or not 0 < self.leg_taper <= 1:
            raise ValueError(f"leg_thickness must be > 0 and leg_taper in (0, 1], got "
                             f"{self.leg_thickness}, {self.leg_taper}")
        check_range("leg_splay", self.leg_splay, 0.0, 20.0)


CHAIR_BASES = ("legs", "pedestal", "sled", "skirt", "rockers", "cantilever", "folding")
CHAIR_BACKS = ("solid", "vertical_slats", "horizontal_slats", "spindles", "upholstered", "none")
CHAIR_ARMS = ("none", "bar", "panel", "padded", "plank")


@dataclasses.dataclass(frozen=True)
class ChairParams(SupportParams):
    """Everything `chairs.build_chair` needs to build one chair, stool or bench."""

    kind: str = "dining"  # the family it was sampled as (sampling.CHAIR_FAMILIES)
    seat_height: float = 0.45  # floor to the top of the seat's front edge
    seat_width: float = 0.45  # along X
    seat_depth: float = 0.42  # along Z
    seat_thickness: float = 0.04  # board, cushion or slat thickness
    seat_shape: str = "rect"  # rect|rounded|round
    seat_corner: float = 0.0  # corner radius of a rounded seat
    seat_style: str = "board"  # board|cushion (bevelled edges)|slats (boards along X with gaps)
    seat_bevel: float = 0.0  # edge radius of a cushion
    seat_tilt: float = 0.0  # the seat's rear edge lower than its front (Adirondack, lounge)
    seat_slats: int = 5  # boards of a slatted seat
    seat_slat_gap: float = 0.02  # between them
    back: str = "solid"  # solid|vertical_slats|horizontal_slats|spindles|upholstered|none
    back_height: float = 0.45  # above the seat, before tilting
    back_width: float = 0.42
    back_thickness: float = 0.03  # of a solid or upholstered back
    back_tilt: float = 8.0  # backwards lean
    back_gap: float = 0.0  # gap between seat and a solid back, bridged by a spine
    back_corner: float = 0.0  # corner radius of a solid back
    back_curve: float = 0.0  # plan-view sagitta of a solid or upholstered back: its sides come forward
    back_flare: float = 0.0  # extra width of a vertical-slat back's top (Adirondack fan), each side
    wings: float = 0.0  # depth of a wingback's side wings; 0 = none
    post_thickness: float = 0.03  # back posts of slatted and spindle backs
    rail_height: float = 0.06  # top rail of vertical-slat and spindle backs
    slat_count: int = 3  # slats, ladder rails or spindles
    slat_width: float = 0.05  # of a vertical slat, or height of a ladder rail
    slat_thickness: float = 0.015  # of slats and rails; diameter of spindles
    arms: str = "none"  # none|bar (rail on a front post)|panel (solid side)|padded (upholstered)|plank
    arm_height: float = 0.22  # above the seat
    arm_width: float = 0.05
    skirt_height: float = 0.0  # upholstered body (base 'skirt') starts this high; short legs below it
    footrest: float = 0.0  # a recliner's raised leg rest, its reach in front of the seat; 0 = none
    rocker_radius: float = 1.0  # of a rocking chair's runners

    def __post_init__(self):
        self.check_support(CHAIR_BASES)
        check_choice("seat_shape", self.seat_shape, ("rect", "rounded", "round"))
        check_choice("seat_style", self.seat_style, ("board", "cushion", "slats"))
        check_choice("back", self.back, CHAIR_BACKS)
        check_choice("arms", self.arms, CHAIR_ARMS)
        if self.arms != "none" and self.seat_shape == "round":
            raise ValueError("arms need a rect or rounded seat, got seat_shape='round'")
        if self.seat_style == "slats" and self.seat_shape != "rect":
            raise ValueError(f"seat_style='slats' needs seat_shape='rect', got {self.seat_shape!r}")
        if self.base in ("skirt", "cantilever", "folding", "rockers") and self.seat_shape == "round":
            raise ValueError(f"base={self.base!r} needs a rect or rounded seat, got seat_shape='round'")
        if min(self.seat_height, self.seat_width, self.seat_depth, self.seat_thickness) <= 0:
            raise ValueError("seat sizes must be positive")
        if self.back != "none" and self.back_height <= 0:
            raise ValueError(f"back_height must be positive, got {self.back_height}")
        check_range("seat_tilt", self.seat_tilt, 0.0, 20.0)
        check_range("back_curve", self.back_curve, 0.0, 0.5 * self.back_width)
        if self.rocker_radius <= self.seat_depth:
            raise ValueError(f"rocker_radius must exceed seat_depth, got {self.rocker_radius}")


TABLE_BASES = ("legs", "pedestal", "trestle", "panel", "cabinet", "folding")


@dataclasses.dataclass(frozen=True)
class TableParams(SupportParams):
    """Everything `tables.build_table` needs to build one table."""

    kind: str = "dining"  # the family it was sampled as (sampling.TABLE_FAMILIES)
    height: float = 0.75  # floor to the top surface
    width: float = 1.4  # along X, the long side
    depth: float = 0.85  # along Z
    top_thickness: float = 0.035
    top_shape: str = "rect"  # rect|rounded|round|oval
    top_corner: float = 0.0  # corner radius of a rounded top
    top_bevel: float = 0.0  # edge radius of the top
    glass_top: bool = False  # a thin sheet resting in a frame (frame_width wide, top_thickness high)
    frame_width: float = 0.04
    pedestal_count: int = 1  # 2 = one pedestal at each end of a long top, joined by a stretcher
    support_thickness: float = 0.05  # trestle post, end panel or cabinet wall thickness
    support_depth: float = 0.12  # trestle post depth along Z
    foot_height: float = 0.05  # trestle feet; legs under a cabinet
    shelf_height: float = 0.0  # lower shelf between four legs or two panels; 0 = none
    shelf_thickness: float = 0.02
    modesty_panel: bool = False  # back panel between two end panels (desks)
    drawers: int = 0  # drawer fronts: in a desk's drawer pedestal, a cabinet or an apron
    drawer_side: int = 0  # a desk's drawer pedestal: 0 none, +1 right (+X), -1 left, 2 both

    def __post_init__(self):
        self.check_support(TABLE_BASES)
        check_choice("top_shape", self.top_shape, ("rect", "rounded", "round", "oval"))
        check_choice("drawer_side", self.drawer_side, (-1, 0, 1, 2))
        if min(self.height, self.width, self.depth, self.top_thickness) <= 0:
            raise ValueError("table sizes must be positive")
        if self.pedestal_count not in (1, 2):
            raise ValueError(f"pedestal_count must be 1 or 2, got {self.pedestal_count}")
        if self.base in ("cabinet", "folding") and self.top_shape in ("round", "oval"):
            raise ValueError(f"base={self.base!r} needs a rect or rounded top, got top_shape={self.top_shape!r}")
        check_range("drawers", self.drawers, 0, 6)
