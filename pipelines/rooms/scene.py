"""One procedural room: a shell (floor, ceiling, walls with doors and windows) and furniture placed without collisions.

`Scene` holds the label grid `[X, Y, Z]` (class ids of
`tf3d.data.scene_classes`) and an instance grid (0: none, i: the i-th placed
object, shell voxels -1). Objects are placed only where every voxel of
their mask is free and, for objects standing on the floor, where a one-voxel
margin around them is free too and they keep off the space in front of the
doors; objects put on top of another (a lamp on a night table, a TV on its
stand) rest on that object's top surface. A placement that cannot be found
in a few random tries is given up (the room just has one object less), so a
scene never holds two objects in the same voxel.

Sizes are in metres; `voxel` metres per cell (0.06 for 80 x 48 x 80, the
original's 4.8 x 2.88 x 4.8 m).
"""

import numpy as np
from scipy import ndimage

from pipelines.rooms import objects
from tf3d.data.scene_classes import CLASS_ID

ROOM_TYPES = ("living", "dining", "bedroom", "office")
_TRIES = 40
_WALLS = ("x0", "x1", "z0", "z1")  # the wall at the low / high end of X / Z
FACING_FROM_WALL = {"x0": "+x", "x1": "-x", "z0": "+z", "z1": "-z"}


class Scene:
    """A room being furnished (see the module docstring).

    Args:
      shape: `(X, Y, Z)` of the grid.
      voxel: metres per voxel.
      rng: a NumPy Generator.
    """

    def __init__(self, shape, voxel, rng):
        self.shape, self.voxel, self.rng = tuple(shape), float(voxel), rng
        self.labels = np.zeros(self.shape, dtype=np.uint8)
        self.instances = np.zeros(self.shape, dtype=np.int32)
        self.items = []  # (Item, (x, y, z) offset) in placement order
        self.reserved = np.zeros((self.shape[0], self.shape[2]), dtype=bool)  # floor kept free (doors)

    def v(self, metres):
        return max(1, int(round(metres / self.voxel)))

    # ------------------------------------------------------------------ shell

    def build_shell(self):
        """Floor, ceiling and walls of a random rectangular room, with one door and 1-3 windows."""
        X, Y, Z = self.shape
        rng = self.rng
        t = self.v(0.12)  # wall thickness
        width = int(rng.integers(int(0.6 * X), X + 1))
        depth = int(rng.integers(int(0.6 * Z), Z + 1))
        x0 = int(rng.integers(0, X - width + 1))
        z0 = int(rng.integers(0, Z - depth + 1))
        self.outer = (x0, x0 + width, z0, z0 + depth)
        self.inner = (x0 + t, x0 + width - t, z0 + t, z0 + depth - t)  # free floor, [x0, x1) x [z0, z1)
        self.floor_top = 1
        height = int(rng.integers(Y - 2 - self.v(0.35), Y - 1))  # interior height in voxels
        self.ceiling = self.floor_top + height
        ix0, ix1, iz0, iz1 = self.inner
        self._shell(slice(x0, x0 + width), slice(0, self.ceiling + 1), slice(z0, z0 + depth), "wall")
        self._shell(slice(ix0, ix1), slice(self.floor_top, self.ceiling), slice(iz0, iz1), "empty")
        self._shell(slice(x0, x0 + width), slice(0, self.floor_top), slice(z0, z0 + depth), "floor")
        self._shell(slice(x0, x0 + width), slice(self.ceiling, self.ceiling + 1), slice(z0, z0 + depth),
                    "ceiling")
        walls = list(rng.permutation(_WALLS))
        self._opening(walls[0], self.v(rng.uniform(0.8, 1.0)), 0.0, rng.uniform(2.0, 2.1), "empty", door=True)
        for wall in walls[1:1 + int(rng.integers(1, 4))]:
            sill = rng.uniform(0.7, 1.0)
            self._opening(wall, self.v(rng.uniform(0.8, 1.6)), sill, min(sill + rng.uniform(1.0, 1.3), 2.3),
                          "window")

    def _shell(self, sx, sy, sz, label):
        self.labels[sx, sy, sz] = CLASS_ID[label]
        self.instances[sx, sy, sz] = 0 if label == "empty" else -1

    def _wall_span(self, wall):
        """(axis along the wall, its free range lo..hi, the wall's cells across) of wall `wall`."""
        x0, x1, z0, z1 = self.outer
        ix0, ix1, iz0, iz1 = self.inner
        if wall in ("x0", "x1"):
            across = slice(x0, ix0) if wall == "x0" else slice(ix1, x1)
            return 2, (iz0, iz1), across
        across = slice(z0, iz0) if wall == "z0" else slice(iz1, z1)
        return 0, (ix0, ix1), across

    def _opening(self, wall, width, bottom, top, label, door=False):
        along, (lo, hi), across = self._wall_span(wall)
        width = min(width, hi - lo - 2)
        start = int(self.rng.integers(lo + 1, hi - width))
        ys = slice(self.floor_top + int(round(bottom / self.voxel)),
                   min(self.floor_top + int(round(top / self.voxel)), self.ceiling))
        if along == 2:
            self._shell(across, ys, slice(start, start + width), label)
        else:
            self._shell(slice(start, start + width), ys, across, label)
        if door:  # keep a square of floor in front of the door free
            ix0, ix1, iz0, iz1 = self.inner
            if wall == "x0":
                self.reserved[ix0:ix0 + width, start:start + width] = True
            elif wall == "x1":
                self.reserved[ix1 - width:ix1, start:start + width] = True
            elif wall == "z0":
                self.reserved[start:start + width, iz0:iz0 + width] = True
            else:
                self.reserved[start:start + width, iz1 - width:iz1] = True

    # ------------------------------------------------------------------ placement

    def fits(self, mask, offset, margin=True):
        """True when `mask` at `offset` (x, y, z) lies in the grid on free voxels (and free margin)."""
        x, y, z = offset
        w, h, d = mask.shape
        if x < 0 or z < 0 or y < 0 or x + w > self.shape[0] or y + h > self.shape[1] or z + d > self.shape[2]:
            return False
        if y + h > self.ceiling:
            return False
        region = self.labels[x:x + w, y:y + h, z:z + d]
        if (region[mask] != 0).any():
            return False
        if margin:
            if self.reserved[x:x + w, z:z + d][mask.any(axis=1)].any():
                return False
            lx, lz = max(x - 1, 0), max(z - 1, 0)
            taken = self.instances[lx:x + w + 1, y:y + h, lz:z + d + 1] > 0
            grown = ndimage.binary_dilation(np.pad(mask, ((1, 1), (0, 0), (1, 1))),
                                            np.ones((3, 1, 3), dtype=bool))
            i, k = lx - x + 1, lz - z + 1  # the padded mask starts one voxel before x and z
            grown = grown[i:i + taken.shape[0], :, k:k + taken.shape[2]]
            if (taken & grown).any():
                return False
        return True

    def put(self, item, offset):
        """Writes `item` at `offset`; returns its instance id."""
        x, y, z = offset
        w, h, d = item.mask.shape
        self.items.append((item, (int(x), int(y), int(z))))
        index = len(self.items)
        self.labels[x:x + w, y:y + h, z:z + d][item.mask] = item.label
        self.instances[x:x + w, y:y + h, z:z + d][item.mask] = index
        return index

    def against_wall(self, item, wall=None, along=None):
        """Puts `item` on the floor with its back to a wall, facing into the room; its index or None."""
        ix0, ix1, iz0, iz1 = self.inner
        for _ in range(_TRIES):
            side = wall or self.rng.choice(_WALLS)
            turned = objects.rotate(item, FACING_FROM_WALL[side])
            w, _, d = turned.mask.shape
            if side in ("x0", "x1"):
                x = ix0 if side == "x0" else ix1 - w
                if iz1 - d < iz0:
                    continue
                z = int(self.rng.integers(iz0, iz1 - d + 1)) if along is None else along
            else:
                z = iz0 if side == "z0" else iz1 - d
                if ix1 - w < ix0:
                    continue
                x = int(self.rng.integers(ix0, ix1 - w + 1)) if along is None else along
            if self.fits(turned.mask, (x, self.floor_top, z)):
                return self.put(turned, (x, self.floor_top, z)), side
        return None, None

    def in_middle(self, item, facing=None, centre=None, spread=0.25):
        """Puts `item` on the floor near `centre` (x, z; default the room's centre); its index or None."""
        ix0, ix1, iz0, iz1 = self.inner
        cx, cz = centre or ((ix0 + ix1) / 2, (iz0 + iz1) / 2)
        for _ in range(_TRIES):
            turned = objects.rotate(item, facing or self.rng.choice(objects.FACINGS))
            w, _, d = turned.mask.shape
            x = int(round(cx - w / 2 + self.rng.normal(0, spread * (ix1 - ix0) / 2)))
            z = int(round(cz - d / 2 + self.rng.normal(0, spread * (iz1 - iz0) / 2)))
            if ix0 <= x <= ix1 - w and iz0 <= z <= iz1 - d and self.fits(turned.mask, (x, self.floor_top, z)):
                return self.put(turned, (x, self.floor_top, z))
        return None

    def next_to(self, item, anchor, facing, side):
        """Puts `item` beside object `anchor` (`side`: "left" or "right" of it along the wall); index or None."""
        base, (ax, ay, az) = self.items[anchor - 1]
        turned = objects.rotate(item, facing)
        w, _, d = turned.mask.shape
        aw, _, ad = base.mask.shape
        along_x = facing in ("+z", "-z")
        for gap in range(2, 6):
            if along_x:
                x = ax - w - gap if side == "left" else ax + aw + gap
                z = az if facing == "+z" else az + ad - d
            else:
                z = az - d - gap if side == "left" else az + ad + gap
                x = ax if facing == "+x" else ax + aw - w
            if self.fits(turned.mask, (x, self.floor_top, z)):
                return self.put(turned, (x, self.floor_top, z))
        return None

    def facing_towards(self, item, anchor, distance_range=(0.3, 0.8)):
        """Puts `item` on the floor on a random side of `anchor`, facing it (a chair at a table); index or None."""
        base, (ax, _, az) = self.items[anchor - 1]
        aw, _, ad = base.mask.shape
        for _ in range(_TRIES // 4):
            facing = self.rng.choice(objects.FACINGS)  # the direction the item looks: towards the anchor
            turned = objects.rotate(item, facing)
            w, _, d = turned.mask.shape
            gap = self.v(self.rng.uniform(*distance_range)) - self.v(0.3)
            jitter = lambda n: int(self.rng.integers(-max(n // 4, 0), max(n // 4, 0) + 1))  # noqa: E731
            if facing == "+z":
                x, z = ax + (aw - w) // 2 + jitter(aw), az - d - gap
            elif facing == "-z":
                x, z = ax + (aw - w) // 2 + jitter(aw), az + ad + gap
            elif facing == "+x":
                x, z = ax - w - gap, az + (ad - d) // 2 + jitter(ad)
            else:
                x, z = ax + aw + gap, az + (ad - d) // 2 + jitter(ad)
            # Slide in towards the anchor while it fits: a chair's seat goes under a table top.
            step = {"+z": (0, 1), "-z": (0, -1), "+x": (1, 0), "-x": (-1, 0)}[facing]
            placed = None
            for _ in range(self.v(0.5)):
                if self.fits(turned.mask, (x, self.floor_top, z)):
                    placed = (x, z)
                elif placed is not None:
                    break
                x, z = x + step[0], z + step[1]
            if placed is not None:
                return self.put(turned, (placed[0], self.floor_top, placed[1]))
        return None

    def on_top(self, item, support, facing=None):
        """Puts `item` on the flat top of object `support`; its index or None."""
        base, (bx, by, bz) = self.items[support - 1]
        turned = objects.rotate(item, facing or self.rng.choice(objects.FACINGS))
        w, h, d = turned.mask.shape
        heights = np.where(base.mask.any(axis=1), base.mask.shape[1] - np.argmax(base.mask[:, ::-1, :], axis=1),
                           -1)  # [w, d]: the first free y above each column
        top = heights.max()
        flat = heights >= top - 1  # a one-voxel step (a bevel, a rim) still holds a small object
        footprint = turned.mask.any(axis=1)
        for _ in range(_TRIES):
            if flat.shape[0] < w or flat.shape[1] < d:
                return None
            i = int(self.rng.integers(0, flat.shape[0] - w + 1))
            k = int(self.rng.integers(0, flat.shape[1] - d + 1))
            if not flat[i:i + w, k:k + d][footprint].all():
                continue
            offset = (bx + i, by + int(heights[i:i + w, k:k + d][footprint].max()), bz + k)
            if self.fits(turned.mask, offset, margin=False):
                return self.put(turned, offset)
        return None
