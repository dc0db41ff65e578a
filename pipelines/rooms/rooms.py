"""What each room type holds, and `generate_scene`: one furnished room as a label grid.

    living   sofa against a wall, coffee table in front of it, armchairs facing the table,
             a TV on a low cabinet against another wall, maybe a bookshelf, lamps and plants
    dining   dining table in the middle, 2-8 chairs around it, sideboards, things on the table
    bedroom  bed with its headboard to a wall, night tables beside it with lamps, a wardrobe,
             maybe a TV on a dresser or a chair
    office   desk against a wall, an office chair at it, a monitor and things on the desk,
             bookshelves, maybe a sofa

Chairs and tables are synthetic furniture (`pipelines.rooms.objects.synthetic_item`)
of the families that fit the room.
"""

import numpy as np

from pipelines.rooms import objects
from pipelines.rooms.scene import FACING_FROM_WALL, ROOM_TYPES, Scene
from tf3d.data.scene_classes import SCENE_SHAPE

_STEP = {"+x": (1, 0), "-x": (-1, 0), "+z": (0, 1), "-z": (0, -1)}
BASE_VOXEL = 0.06  # metres per voxel at 80 x 48 x 80 (a 4.8 x 2.88 x 4.8 m grid, the original's)


def voxel_size(shape):
    """Metres per voxel of a grid of `shape`: the same room-sized box at every resolution."""
    return BASE_VOXEL * SCENE_SHAPE[0] / shape[0]


def _seed(rng):
    return int(rng.integers(0, 2 ** 31))


def _synthetic(rng, voxel, category, families):
    return objects.synthetic_item(category, str(rng.choice(families)), _seed(rng), voxel)


def _some_objs(scene, supports, count):
    for _ in range(count):
        if supports:
            scene.on_top(objects.small_object(scene.rng, scene.voxel), int(scene.rng.choice(supports)))


def _living(scene):
    rng, v = scene.rng, scene.voxel
    sofa, wall = scene.against_wall(objects.sofa(rng, v))
    supports = []
    table = None
    if sofa is not None:
        item, (sx, _, sz) = scene.items[sofa - 1]
        w, _, d = item.mask.shape
        facing = FACING_FROM_WALL[wall]
        dx, dz = _STEP[facing]
        reach = scene.v(0.75) + (w if dx else d) / 2  # sofa centre -> coffee table centre
        centre = (sx + w / 2 + dx * reach, sz + d / 2 + dz * reach)
        table = scene.in_middle(_synthetic(rng, v, "table", ["coffee", "glass"]), facing=facing, centre=centre,
                                spread=0.03)
    if table is None:
        table = scene.in_middle(_synthetic(rng, v, "table", ["coffee", "side"]))
    if table is not None:
        supports.append(table)
        for _ in range(int(rng.integers(0, 3))):
            scene.facing_towards(_synthetic(rng, v, "chair", ["armchair", "club", "lounge", "wingback"]), table,
                                 (0.5, 1.0))
    stand, wall = scene.against_wall(objects.cabinet(rng, v, "low"))
    if stand is not None:
        scene.on_top(objects.tv(rng, v), stand, facing=FACING_FROM_WALL[wall])
        supports.append(stand)
    if rng.random() < 0.6:
        scene.against_wall(objects.cabinet(rng, v, "shelf"))
    for _ in range(int(rng.integers(0, 3))):
        scene.against_wall(objects.small_object(rng, v, rng.choice(["plant", "floor_lamp"])))
    _some_objs(scene, supports, int(rng.integers(1, 4)))


def _dining(scene):
    rng, v = scene.rng, scene.voxel
    table = scene.in_middle(_synthetic(rng, v, "table", ["dining", "card"]), facing="+z", spread=0.1)
    supports = []
    if table is not None:
        supports.append(table)
        chair = _synthetic(rng, v, "chair", ["dining", "cantilever", "folding", "rocking"])  # one set of equal chairs
        for _ in range(int(rng.integers(2, 9))):
            scene.facing_towards(chair, table, (0.2, 0.5))
    for _ in range(int(rng.integers(1, 3))):
        index, _ = scene.against_wall(objects.cabinet(rng, v, rng.choice(["low", "shelf"])))
        if index is not None:
            supports.append(index)
    if rng.random() < 0.3:
        scene.against_wall(_synthetic(rng, v, "table", ["console", "side"]))
    _some_objs(scene, supports, int(rng.integers(1, 5)))


def _bedroom(scene):
    rng, v = scene.rng, scene.voxel
    bed, wall = scene.against_wall(objects.bed(rng, v))
    supports = []
    if bed is not None:
        facing = FACING_FROM_WALL[wall]
        for side in ("left", "right"):
            if rng.random() < 0.8:
                night = scene.next_to(_synthetic(rng, v, "table", ["night", "side"]), bed, facing, side)
                if night is not None:
                    supports.append(night)
                    scene.on_top(objects.small_object(rng, v, "lamp"), night)
    scene.against_wall(objects.cabinet(rng, v, "wardrobe"))
    if rng.random() < 0.5:
        dresser, wall = scene.against_wall(objects.cabinet(rng, v, "low"))
        if dresser is not None:
            scene.on_top(objects.tv(rng, v), dresser, facing=FACING_FROM_WALL[wall])
            supports.append(dresser)
    if rng.random() < 0.4:
        scene.against_wall(_synthetic(rng, v, "chair", ["armchair", "dining", "office"]))
    _some_objs(scene, supports, int(rng.integers(0, 3)))


def _office(scene):
    rng, v = scene.rng, scene.voxel
    desk, wall = scene.against_wall(_synthetic(rng, v, "table", ["desk", "console"]))
    supports = []
    if desk is not None:
        supports.append(desk)
        scene.on_top(objects.tv(rng, v, monitor=True), desk, facing=FACING_FROM_WALL[wall])
        scene.facing_towards(_synthetic(rng, v, "chair", ["office", "dining", "cantilever"]), desk, (0.2, 0.4))
    for _ in range(int(rng.integers(1, 3))):
        shelf, _ = scene.against_wall(objects.cabinet(rng, v, rng.choice(["shelf", "low"])))
        if shelf is not None:
            supports.append(shelf)
    if rng.random() < 0.4:
        scene.against_wall(objects.sofa(rng, v))
    if rng.random() < 0.5:
        scene.against_wall(objects.small_object(rng, v, "plant"))
    _some_objs(scene, supports, int(rng.integers(1, 4)))


_FURNISH = {"living": _living, "dining": _dining, "bedroom": _bedroom, "office": _office}


def generate_scene(seed, room_type, shape=SCENE_SHAPE):
    """One furnished room.

    Args:
      seed: integer; the same seed, room type and shape give the same scene.
      room_type: one of `ROOM_TYPES`.
      shape: `(X, Y, Z)` of the grid (+Y up).

    Returns:
      the `Scene`: `labels` uint8 `[X, Y, Z]`, `instances` int32 `[X, Y, Z]`, `items`.
    """
    if room_type not in _FURNISH:
        raise ValueError(f"room_type must be one of {ROOM_TYPES}, got {room_type!r}")
    if len(shape) != 3 or min(shape) < 16:
        raise ValueError(f"shape must be (X, Y, Z) with every side >= 16, got {shape}")
    scene = Scene(shape, voxel_size(shape), np.random.default_rng(seed))
    scene.build_shell()
    _FURNISH[room_type](scene)
    return scene
