"""binvox files: read and write cubic occupancy grids in tf3d's `[X, Y, Z]` order.

The format (https://www.patrickmin.com/binvox/binvox.html) is an ASCII header

    #binvox 1
    dim R R R
    translate tx ty tz
    scale s
    data

followed by the grid run-length encoded as (value, count) byte pairs, count in
1..255. Voxels are stored with y varying fastest, then z, then x (the "xzy"
order): flat index = x * R * R + z * R + y. Voxel (x, y, z) is the cube
`translate + scale * [x, x + 1) / R` (and likewise for y, z) in the mesh's own
coordinates, so the whole grid spans `[translate, translate + scale]`.

Parsing the header and the run-length codec are `trimesh.exchange.binvox` and
`trimesh.voxel.runlength`. Their `VoxelGrid` geometry is not used: trimesh
puts voxel centres at `translate + i * scale / (R - 1)`, which is not the
spec's `translate + (i + 0.5) * scale / R`; `voxel_centres` below follows the
spec.
"""

import dataclasses
import io

import numpy as np
from trimesh.exchange import binvox as _tb
from trimesh.voxel import runlength as _rle


@dataclasses.dataclass(frozen=True)
class Binvox:
    """A decoded binvox file.

    Attributes:
      voxels: bool `[X, Y, Z]` = `[R, R, R]` occupancy, axes of the mesh's
        coordinates (x, y, z), not the file's xzy storage order.
      translate: `[3]` mesh coordinates of the grid's minimum corner.
      scale: side of the whole grid in mesh units.
    """

    voxels: np.ndarray
    translate: np.ndarray
    scale: float

    @property
    def resolution(self):
        return self.voxels.shape[0]

    def voxel_centres(self, indices):
        """Mesh coordinates `[N, 3]` of the centres of voxels `indices` `[N, 3]` (x, y, z)."""
        return self.translate + (np.asarray(indices, dtype=np.float64) + 0.5) * (self.scale / self.resolution)


def decode(data, name="<bytes>"):
    """Decodes the bytes of a binvox file; `name` is used in error messages.

    Returns:
      a `Binvox`.

    Raises:
      ValueError naming `name` for a bad header, a non-cubic grid, or a body
      whose runs do not add up to `R^3` voxels.
    """
    try:
        parsed = _tb.parse_binvox(io.BytesIO(data))
    except (ValueError, IndexError) as error:
        raise ValueError(f"{name}: not a binvox file ({error})") from None
    shape = tuple(int(d) for d in parsed.shape)
    if len(shape) != 3 or len(set(shape)) != 1 or shape[0] <= 0:
        raise ValueError(f"{name}: expected a cubic grid (dim R R R), got dim {shape}")
    resolution = shape[0]
    body = parsed.rle_data
    if len(body) % 2:
        raise ValueError(f"{name}: run-length body has an odd number of bytes ({len(body)})")
    values, counts = body[0::2], body[1::2]
    if np.any(values > 1) or np.any(counts == 0):
        raise ValueError(f"{name}: run-length body holds values other than 0/1 or empty runs")
    total = int(counts.sum(dtype=np.int64))
    if total != resolution ** 3:
        raise ValueError(f"{name}: run-length body encodes {total} voxels, dim {resolution}^3 "
                         f"needs {resolution ** 3} (truncated or corrupt file)")
    flat = _rle.rle_to_dense(body, dtype=bool)
    voxels = flat.reshape(resolution, resolution, resolution).transpose(0, 2, 1)  # [x, z, y] -> [x, y, z]
    translate = np.asarray(parsed.translate, dtype=np.float64)
    if translate.shape != (3,):
        raise ValueError(f"{name}: translate needs 3 values, got {translate.tolist()}")
    return Binvox(np.ascontiguousarray(voxels), translate, float(parsed.scale))


def read(path):
    """Reads a binvox file from a local path or anything `tf.io.gfile` opens (see `decode`)."""
    return decode(_read_bytes(path), name=str(path))


def encode(voxels, translate=(0.0, 0.0, 0.0), scale=1.0):
    """Encodes a bool `[R, R, R]` grid in `[X, Y, Z]` order as binvox bytes (xzy storage)."""
    voxels = np.asarray(voxels)
    if voxels.ndim != 3 or len(set(voxels.shape)) != 1:
        raise ValueError(f"voxels must have shape [R, R, R], got {voxels.shape}")
    translate = np.asarray(translate, dtype=np.float64).reshape(-1)
    if translate.shape != (3,):
        raise ValueError(f"translate must have shape [3], got {translate.shape}")
    if not float(scale) > 0.0:
        raise ValueError(f"scale must be positive, got {scale}")
    flat = voxels.astype(bool).transpose(0, 2, 1).reshape(-1)  # [x, y, z] -> [x, z, y], y fastest
    body = _rle.dense_to_rle(flat.astype(np.uint8), dtype=np.uint8)
    return _tb.binvox_bytes(body, voxels.shape, translate.tolist(), float(scale))


def write(path, voxels, translate=(0.0, 0.0, 0.0), scale=1.0):
    """Writes `encode(voxels, translate, scale)` to `path`."""
    with open(path, "wb") as fh:
        fh.write(encode(voxels, translate, scale))


def _read_bytes(path):
    path = str(path)
    if "://" in path:
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "rb") as fh:
            return fh.read()
    with open(path, "rb") as fh:
        return fh.read()
