"""Furniture as voxel masks at room scale: synthetic chairs and tables, procedural beds, sofas, TVs, furn, objs.

Every object is an `Item`: a class id and a bool mask `[x, y, z]` in the
room's voxels, cropped to its bounding box, standing on y = 0 and facing +Z
(its back at z = 0, as `tf3d.conventions` puts a chair's back at -Z).
`rotate` turns it to face another wall-aligned direction.

Chairs and tables are meshes of the synthetic generator
(`pipelines.synthetic`, in metres) voxelized at the room's voxel size by
the furniture voxelizer (`pipelines.voxelize`), so their legs and slats
thinner than a voxel survive as one-voxel ridges. The other classes are
built directly from boxes in metres (rounded to voxels, at least one voxel
thick): they have no thin parts that a box could lose.
"""

import dataclasses

import numpy as np

from tf3d.data.scene_classes import CLASS_ID

FACINGS = ("+z", "+x", "-z", "-x")  # np.rot90 steps about +Y, from +Z towards +X


@dataclasses.dataclass
class Item:
    """One object: `label` (class id), `mask` bool `[w, h, d]`, `name` (what it is, for logs and tests)."""

    label: int
    mask: np.ndarray
    name: str


def rotate(item, facing):
    """`item` turned about +Y so that its front (+Z) faces `facing` (one of `FACINGS`)."""
    k = FACINGS.index(facing)
    return Item(item.label, np.ascontiguousarray(np.rot90(item.mask, k, axes=(2, 0))), item.name)


def _crop(mask):
    idx = np.argwhere(mask)
    if not len(idx):
        raise ValueError("the object voxelizes to nothing")
    lo, hi = idx.min(0), idx.max(0) + 1
    lo[1] = 0  # keep the floor contact: y = 0 is the floor even for a lifted top
    return mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]


class _Boxes:
    """Builds a mask from boxes in metres: x across, y up from the floor, z from the back (0) to the front."""

    def __init__(self, voxel, width, height, depth):
        self.voxel = voxel
        self.mask = np.zeros((self.v(width), self.v(height), self.v(depth)), dtype=bool)

    def v(self, metres):
        return max(1, int(round(metres / self.voxel)))

    def box(self, x0, x1, y0, y1, z0, z1):
        def span(a, b):
            i = int(round(a / self.voxel))
            return i, max(i + 1, int(round(b / self.voxel)))

        (a, b), (c, d), (e, f) = span(x0, x1), span(y0, y1), span(z0, z1)
        self.mask[a:b, c:d, e:f] = True

    def item(self, label, name):
        return Item(CLASS_ID[label], _crop(self.mask), name)


# ----------------------------------------------------------------------------- synthetic chairs and tables


def synthetic_item(category, family, seed, voxel):
    """A synthetic chair or table of `family` (see `pipelines.synthetic.FAMILIES`) voxelized at `voxel` metres."""
    from pipelines import synthetic
    from pipelines.voxelize import voxelize

    mesh = synthetic.generate(category, seed, family=family)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    lo, hi = vertices.min(0), vertices.max(0)
    # A cube of `cells` voxels holding the model: its floor (y = 0) on the cube's bottom face,
    # x and z centred on a voxel boundary (`cells` even) so that the grid meets the room's.
    cells = 2 * int(np.ceil((np.abs(vertices[:, [0, 2]]).max() + voxel) / voxel))
    cells = max(cells, int(np.ceil((hi[1] + voxel) / voxel)) + 1)
    cells += cells % 2
    scale = 1.0 / (cells * voxel)
    cube = vertices * scale
    cube[:, 1] += -0.5 - lo[1] * scale
    mask = voxelize(cube, np.asarray(mesh.faces), cells)
    return Item(CLASS_ID[category], _crop(mask), f"{category}:{family}")


# ----------------------------------------------------------------------------- procedural furniture


def bed(rng, voxel):
    width = rng.choice([0.9, 1.4, 1.6, 1.8]) + rng.uniform(0, 0.1)
    length, top = rng.uniform(1.95, 2.15), rng.uniform(0.45, 0.6)
    head = rng.uniform(0.85, 1.2)
    b = _Boxes(voxel, width, head, length)
    b.box(0, width, 0.12, top - 0.18, 0.05, length)  # frame
    b.box(0.02, width - 0.02, top - 0.18, top, 0.08, length - 0.02)  # mattress
    b.box(0, width, 0, head, 0, 0.08)  # headboard
    for x in (0.0, width - 0.08):  # feet at the foot end
        b.box(x, x + 0.08, 0, 0.12, length - 0.08, length)
    pillows = 1 if width < 1.2 else 2
    for i in range(pillows):
        x0 = 0.08 + i * (width - 0.16) / pillows
        b.box(x0 + 0.03, x0 + (width - 0.16) / pillows - 0.03, top, top + 0.12, 0.12, 0.5)
    return b.item("bed", "bed")


def sofa(rng, voxel):
    seats = int(rng.integers(2, 4))
    arm = rng.uniform(0.12, 0.25)
    width = seats * rng.uniform(0.55, 0.7) + 2 * arm
    depth, seat, back, arm_h = rng.uniform(0.8, 0.95), rng.uniform(0.4, 0.46), rng.uniform(0.75, 0.9), \
        rng.uniform(0.55, 0.65)
    b = _Boxes(voxel, width, back, depth)
    legs = rng.uniform(0.0, 0.12)
    b.box(0, width, legs, seat - 0.12, 0, depth)  # base
    b.box(arm, width - arm, seat - 0.12, seat, 0.2, depth)  # seat cushions
    b.box(0, width, legs, back, 0, 0.22)  # back
    for x in (0.0, width - arm):
        b.box(x, x + arm, legs, arm_h, 0, depth)  # arms
    if legs > 0.04:
        for x in (0.0, width - 0.06):
            for z in (0.0, depth - 0.06):
                b.box(x, x + 0.06, 0, legs, z, z + 0.06)
    return b.item("sofa", f"sofa:{seats}-seat")


def tv(rng, voxel, monitor=False):
    width = rng.uniform(0.45, 0.65) if monitor else rng.uniform(0.8, 1.4)
    height = width * 9 / 16
    stand = rng.uniform(0.08, 0.15)
    b = _Boxes(voxel, width, stand + height, 0.25)
    b.box(0, width, stand, stand + height, 0.08, 0.14)  # screen
    b.box(width / 2 - 0.04, width / 2 + 0.04, 0, stand, 0.08, 0.14)  # neck
    b.box(width / 2 - 0.15, width / 2 + 0.15, 0, 0.03, 0.0, 0.25)  # foot
    return b.item("tvs", "monitor" if monitor else "tv")


def cabinet(rng, voxel, kind=None):
    """A low cabinet or TV stand, a wardrobe, or an open bookshelf (class furn)."""
    kind = kind or rng.choice(["low", "wardrobe", "shelf"])
    if kind == "low":
        width, height, depth = rng.uniform(0.8, 1.8), rng.uniform(0.45, 0.8), rng.uniform(0.4, 0.55)
    elif kind == "wardrobe":
        width, height, depth = rng.uniform(0.8, 2.0), rng.uniform(1.8, 2.2), rng.uniform(0.55, 0.65)
    else:
        width, height, depth = rng.uniform(0.6, 1.2), rng.uniform(1.2, 2.0), rng.uniform(0.28, 0.4)
    b = _Boxes(voxel, width, height, depth)
    if kind == "shelf":
        side = 0.04
        for x in (0.0, width - side):
            b.box(x, x + side, 0, height, 0, depth)
        b.box(0, width, 0, height, 0, 0.03)  # back panel
        levels = max(2, int(height / 0.35))
        for i in range(levels + 1):
            y = min(i * height / levels, height - 0.04)
            b.box(0, width, y, y + 0.04, 0, depth)
    else:
        b.box(0, width, 0.08, height, 0, depth)
        b.box(0.03, width - 0.03, 0, 0.08, 0.03, depth - 0.05)  # plinth, set back
    return b.item("furn", f"furn:{kind}")


def small_object(rng, voxel, kind=None):
    """A lamp, vase, stack of books, box, plant or floor lamp (class objs)."""
    kind = kind or rng.choice(["lamp", "vase", "books", "box", "plant"])
    if kind == "floor_lamp":
        b = _Boxes(voxel, 0.4, 1.6, 0.4)
        b.box(0.1, 0.3, 0, 0.04, 0.1, 0.3)
        b.box(0.18, 0.22, 0, 1.35, 0.18, 0.22)
        b.box(0.02, 0.38, 1.3, 1.6, 0.02, 0.38)
    elif kind == "lamp":
        h = rng.uniform(0.35, 0.55)
        b = _Boxes(voxel, 0.3, h, 0.3)
        b.box(0.08, 0.22, 0, 0.04, 0.08, 0.22)
        b.box(0.13, 0.17, 0, h * 0.6, 0.13, 0.17)
        b.box(0.02, 0.28, h * 0.55, h, 0.02, 0.28)
    elif kind == "vase":
        h, w = rng.uniform(0.2, 0.4), rng.uniform(0.1, 0.2)
        b = _Boxes(voxel, w, h, w)
        b.box(0, w, 0, h, 0, w)
    elif kind == "books":
        w, h = rng.uniform(0.2, 0.4), rng.uniform(0.08, 0.25)
        b = _Boxes(voxel, w, h, 0.22)
        b.box(0, w, 0, h, 0, 0.22)
    elif kind == "plant":
        h = rng.uniform(0.4, 0.9)
        b = _Boxes(voxel, 0.4, h, 0.4)
        b.box(0.1, 0.3, 0, 0.25, 0.1, 0.3)  # pot
        b.box(0.0, 0.4, 0.25, h, 0.0, 0.4)  # foliage
    else:
        w, h, d = rng.uniform(0.15, 0.45, size=3)
        b = _Boxes(voxel, w, h, d)
        b.box(0, w, 0, h, 0, d)
    return b.item("objs", f"objs:{kind}")
