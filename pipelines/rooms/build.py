"""`python -m pipelines.build rooms --out data/rooms --num-scenes N`: the room-scene dataset.

Scene i is room type `ROOM_TYPES[i % 4]` (so every class turns up in any
dataset of a few scenes) generated from a seed that depends only on
(`--seed`, i): a larger dataset keeps a smaller one's scenes. Scenes are
split 80/10/10 by a hash of their id, dealt into shards of up to
`--scenes-per-shard` (`pipelines.shards.plan_shards`), and each shard is
generated and written by one worker process (spawned, as the furniture
build's pool); a shard is written under a temporary name and renamed when
complete. The format is `tf3d.data.scenes`; `dataset_info.json` adds the
class names, the grid shape and each class's share of the training voxels
(the original's SUNCG grids are ~92% empty).

    python -m pipelines.build rooms --out data/rooms --num-scenes 1000        # 80 x 48 x 80
    python -m pipelines.build rooms --out /tmp/r --num-scenes 16 --shape 40 24 40 --workers 2
"""

import json
import multiprocessing
import os
import time

import numpy as np

from pipelines import shards
from tf3d import cli
from tf3d.data import records, scenes
from tf3d.data.scene_classes import CLASSES, NUM_CLASSES, SCENE_SHAPE

DEFAULT_SCENES = 1000
NAME = "rooms"


def add_arguments(parser):
    parser.add_argument("--num-scenes", type=int, default=DEFAULT_SCENES, help="scenes in all splits")
    parser.add_argument("--shape", type=int, nargs=3, default=list(SCENE_SHAPE), metavar=("X", "Y", "Z"),
                        help="grid size (default 80 48 80; the room keeps its size in metres)")
    parser.add_argument("--seed", type=int, default=0, help="base seed of the generator")
    parser.add_argument("--scenes-per-shard", type=int, default=64)


def scene_seed(seed, index):
    """Seed of scene `index` of a dataset of seed `seed`; independent of the dataset size."""
    return int(np.random.SeedSequence([int(seed), 7, int(index)]).generate_state(1)[0])


def scene_sources(num_scenes, seed):
    """`ModelSource`s of the scenes: ids `<room type>-<index:05d>`, split by a hash of the id."""
    from pipelines.rooms.scene import ROOM_TYPES

    sources = []
    for index in range(num_scenes):
        room = ROOM_TYPES[index % len(ROOM_TYPES)]
        scene_id = f"{room}-{index:05d}"
        sources.append(shards.ModelSource(model_id=scene_id, category=room, split=scenes.split_of(scene_id),
                                          path="", extra={"seed": scene_seed(seed, index)}))
    return sources


def _write_shard(job):
    """Generates and writes one shard; returns its manifest (scene ids, class counts)."""
    import tensorflow as tf

    from pipelines.rooms.rooms import generate_scene

    path, sources, shape = job
    counts = np.zeros(NUM_CLASSES, dtype=np.int64)
    tmp = f"{path}.tmp-{os.getpid()}"
    options = tf.io.TFRecordOptions(compression_type=scenes.COMPRESSION)
    with tf.io.TFRecordWriter(tmp, options) as writer:
        for source in sources:
            labels = generate_scene(source.extra["seed"], source.category, shape).labels
            counts += scenes.class_counts(labels)
            writer.write(scenes.encode_scene(source.model_id, source.category, labels))
    os.replace(tmp, path)
    return {"file": os.path.basename(path), "scenes": [s.model_id for s in sources],
            "room_types": [s.category for s in sources], "class_counts": counts.tolist()}


def build(args):
    """Procedural furnished rooms as 12-class label grids (the alphagan task's data)."""
    from tqdm import tqdm

    if args.num_scenes < 1:
        raise cli.UserError(f"--num-scenes must be >= 1, got {args.num_scenes}")
    if min(args.shape) < 16 or any(s % 8 for s in args.shape):
        raise cli.UserError(f"--shape sides must be multiples of 8 and at least 16 (the networks halve them "
                            f"3 or 4 times), got {args.shape}")
    if args.runner != "pool":
        raise cli.UserError("rooms builds with the process pool only; leave out --runner")
    shape = tuple(args.shape)
    plan = shards.plan_shards(scene_sources(args.num_scenes, args.seed), args.scenes_per_shard)
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):  # shards of an earlier build with another plan
        if name.startswith(f"{NAME}-") and ".tfrecord-" in name:
            os.remove(os.path.join(args.out, name))
    jobs = [(os.path.join(args.out, records.shard_name(NAME, split, i, len(parts))), part, shape)
            for split, parts in plan.items() for i, part in enumerate(parts)]
    start = time.time()
    manifests = []
    with tqdm(total=args.num_scenes, unit="scene", desc=f"building {NAME}", disable=args.quiet) as bar:
        if args.workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                manifests.append(_write_shard(job))
                bar.update(len(job[1]))
        else:
            context = multiprocessing.get_context("spawn")
            with context.Pool(min(args.workers, len(jobs)), initializer=cli.quiet_in_worker) as pool:
                for manifest in pool.imap_unordered(_write_shard, jobs):
                    manifests.append(manifest)
                    bar.update(len(manifest["scenes"]))
    info = _info(plan, manifests, shape, args, time.time() - start)
    tmp = os.path.join(args.out, scenes.INFO_FILE + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(info, fh, indent=1)
    os.replace(tmp, os.path.join(args.out, scenes.INFO_FILE))
    return info


def _info(plan, manifests, shape, args, seconds):
    from pipelines.rooms.rooms import voxel_size

    by_file = {m["file"]: m for m in manifests}
    splits, totals = {}, {}
    room_types = {}
    for split, parts in plan.items():
        entry = {"num_records": 0, "shards": [], "class_counts": [0] * NUM_CLASSES, "room_types": {}}
        for i, part in enumerate(parts):
            manifest = by_file[records.shard_name(NAME, split, i, len(parts))]
            entry["shards"].append({"file": manifest["file"], "num_records": len(manifest["scenes"])})
            entry["num_records"] += len(manifest["scenes"])
            entry["class_counts"] = [a + b for a, b in zip(entry["class_counts"], manifest["class_counts"])]
            for room in manifest["room_types"]:
                entry["room_types"][room] = entry["room_types"].get(room, 0) + 1
                room_types[room] = room_types.get(room, 0) + 1
        splits[split] = entry
        totals[split] = sum(entry["class_counts"])
    reference = "train" if totals.get("train") else max(totals, key=totals.get)
    counts = splits[reference]["class_counts"]
    return {
        "name": NAME, "format": scenes.FORMAT, "compression": scenes.COMPRESSION,
        "classes": list(CLASSES), "shape": list(shape), "voxel_metres": voxel_size(shape),
        "class_frequencies": {c: n / totals[reference] for c, n in zip(CLASSES, counts)},
        "class_frequencies_split": reference,
        "splits": splits, "num_records": sum(e["num_records"] for e in splits.values()),
        "categories": room_types, "num_skipped": 0,
        "build_config": {"source": NAME, "num_scenes": args.num_scenes, "seed": args.seed, "shape": list(shape)},
        "build_seconds": round(seconds, 1),
    }
