"""Coloured pictures of labelled scenes (NumPy): a cut-away orthographic view of a room.

`render_scene` draws every non-empty voxel of a label grid `[X, Y, Z]` in
its class colour (`tf3d.data.scene_classes.COLOURS`) through an orthographic
camera above a corner of the room: the ceiling and the walls and windows on
the camera's side of the room are left out so that the furniture shows.
Voxels are splatted as squares from far to near (painter's algorithm) and
shaded by which of their faces are exposed (lit from above). `scene_strip`
puts several side by side.
"""

import numpy as np

from tf3d.data.scene_classes import CLASS_ID, COLOURS

_CUT = (CLASS_ID["wall"], CLASS_ID["window"])


def render_scene(labels, azimuth=45.0, elevation=40.0, image_size=192, cutaway=True):
    """RGB picture of a label grid on white.

    Args:
      labels: `[X, Y, Z]` class ids (+Y up).
      azimuth, elevation: camera direction in degrees (`tf3d.conventions`:
        azimuth 0 looks from +Z, 90 from +X).
      image_size: side of the output in pixels.
      cutaway: leave out the ceiling and the walls facing the camera.

    Returns:
      uint8 `[h, w, 3]`.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels must have shape [X, Y, Z], got {labels.shape}")
    image = np.full((image_size, image_size, 3), 255, dtype=np.uint8)
    a, e = np.radians(azimuth), np.radians(elevation)
    towards = np.array([np.sin(a) * np.cos(e), np.sin(e), np.cos(a) * np.cos(e)])  # to the camera
    right = np.array([np.cos(a), 0.0, -np.sin(a)])
    up = np.cross(towards, right)
    shown = labels > 0
    if cutaway:
        shown &= labels != CLASS_ID["ceiling"]
        floor = np.argwhere(labels == CLASS_ID["floor"])
        centre = floor.mean(0) if len(floor) else np.array(labels.shape) / 2.0
        x, _, z = np.indices(labels.shape, sparse=True)
        near = (x - centre[0]) * towards[0] + (z - centre[2]) * towards[2] > 0
        shown &= ~(np.isin(labels, _CUT) & near)
    cells = np.argwhere(shown)  # [N, 3]
    if not len(cells):
        return image
    free = np.pad(~shown, 1, constant_values=True)
    i, j, k = (cells + 1).T
    light = np.where(free[i, j + 1, k], 1.0,
                     np.where(free[i + int(np.sign(towards[0]) or 1), j, k], 0.78, 0.62))
    centres = cells - (np.array(labels.shape) - 1) / 2.0
    u, v, depth = centres @ right, -(centres @ up), centres @ towards
    extent = 0.5 * np.linalg.norm(labels.shape) + 1
    scale = image_size / (2 * extent)
    cols = ((u + extent) * scale).astype(int)
    rows = ((v + extent) * scale).astype(int)
    order = np.argsort(depth)  # far first: nearer voxels are written over them
    colour = (COLOURS[labels[tuple(cells.T)]] * light[:, None]).astype(np.uint8)[order]
    rows, cols = rows[order], cols[order]
    size = max(1, int(np.ceil(scale)) + 1)
    for dr in range(size):
        for dc in range(size):
            r, c = np.clip(rows + dr, 0, image_size - 1), np.clip(cols + dc, 0, image_size - 1)
            image[r, c] = colour  # repeated pixels keep the last (nearest) voxel
    return image


def scene_strip(grids, image_size=192, gap=4, **kwargs):
    """uint8 `[h, n * (w + gap) - gap, 3]`: `render_scene` of each grid of `[N, X, Y, Z]`, left to right."""
    pictures = [render_scene(g, image_size=image_size, **kwargs) for g in grids]
    spacer = np.full((image_size, gap, 3), 255, dtype=np.uint8)
    parts = []
    for index, picture in enumerate(pictures):
        parts.extend([spacer, picture] if index else [picture])
    return np.concatenate(parts, axis=1)
