"""Procedural furnished rooms: the 12-class scene dataset of the `alphagan` task.

`python -m pipelines.build rooms --out data/rooms --num-scenes N` (see
`pipelines.rooms.build`). Modules: `objects` (furniture as voxel masks),
`scene` (room shell and collision-free placement), `rooms` (what each room
type holds, `generate_scene`), `build` (shards and `dataset_info.json`).
"""
