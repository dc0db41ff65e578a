"""The 12 semantic classes of room scenes (3D-FCR-alphaGAN's SUNCG subset): one definition.

A scene is a uint8 label grid `[X, Y, Z]` (axes of `tf3d.conventions`: +Y
up) whose values index `CLASSES`. The room builder (`pipelines.rooms`), the
scene records (`tf3d.data.scenes`), the `alphagan` task, its metrics and the
coloured renderings (`tf3d.training.scene_render`) all import this module.

    id  name     what it holds
    0   empty    air, and everything outside the room
    1   ceiling  the ceiling slab
    2   floor    the floor slab
    3   wall     walls (door openings are empty)
    4   window   window panes and frames in wall openings
    5   chair    chairs, stools, armchairs, benches
    6   bed      beds
    7   sofa     sofas
    8   table    tables and desks
    9   tvs      televisions and monitors
    10  furn     cabinets, wardrobes, shelves
    11  objs     small objects: lamps, vases, books, plants, boxes
"""

import numpy as np

CLASSES = ("empty", "ceiling", "floor", "wall", "window", "chair", "bed", "sofa", "table", "tvs", "furn",
           "objs")
NUM_CLASSES = len(CLASSES)
CLASS_ID = {name: index for index, name in enumerate(CLASSES)}
SCENE_SHAPE = (80, 48, 80)  # [X, Y, Z] of the original's SUNCG grids
# The original's SUNCG grids are ~92% empty (its paper); ours are reported in dataset_info.json.

# RGB per class for the coloured renderings (empty is never drawn).
COLOURS = np.array([
    (255, 255, 255),  # empty
    (200, 200, 210),  # ceiling
    (150, 110, 80),   # floor
    (215, 205, 185),  # wall
    (120, 190, 235),  # window
    (220, 60, 50),    # chair
    (120, 80, 200),   # bed
    (60, 160, 90),    # sofa
    (235, 160, 40),   # table
    (40, 40, 40),     # tvs
    (170, 120, 60),   # furn
    (230, 90, 180),   # objs
], dtype=np.uint8)


def check_labels(labels, name="labels"):
    """Returns `labels` as uint8 after checking the class ids; ValueError naming `name` otherwise."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"{name} must be a [X, Y, Z] label grid, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(f"{name} holds class ids outside [0, {NUM_CLASSES}): min {labels.min()}, "
                         f"max {labels.max()}")
    return labels.astype(np.uint8)
