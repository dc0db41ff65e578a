"""Writing a dataset as TFDS-style TFRecord shards, in parallel, resumably.

`build_dataset` takes a list of `ModelSource`s and a `process_shard`
function that turns a list of sources into records. It assigns sources to
splits' shards deterministically, runs one worker process per shard at a
time, and writes each shard under a temporary name that is renamed only once
the shard is complete, next to a small manifest (`<shard>.manifest.json`:
its model ids, counts, checksum and skipped models). A re-run with the same
plan keeps every finished shard whose manifest and checksum still match, so a
killed build resumes where it stopped and a shard is never half-written.
Finally the manifests are merged into tf3d's `tf3d_info.json` (`records.INFO_FILE`),
and `pipelines.tfds_info` writes the metadata TFDS reads beside it.

A worker keeps its scratch files in `<shard>.work-<pid>/` and writes
`<shard>.tmp-<pid>`; a killed worker leaves them behind, and the next build
removes those whose process no longer exists (`_remove_leftovers`).

Before any work a build checks that model ids are unique, and it warns when
a split gets no models (a handful of models hashed 80/10/10 can leave `val`
or `test` empty).
"""

import collections
import dataclasses
import hashlib
import json
import logging
import math
import multiprocessing
import os
import re
import time
import zlib

import numpy as np

from tf3d import cli
from pipelines import tfds_info
from tf3d.data import records

log = logging.getLogger(__name__)
MODELS_PER_SHARD = 64
SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """One model to turn into a record.

    Attributes:
      model_id: unique id (the record's `model_id`).
      category: category name (the record's `category`).
      split: "train", "val" or "test".
      path: where the model comes from (a mesh file, a directory...).
      extra: anything else the shard processor needs (must pickle).
    """

    model_id: str
    category: str
    split: str
    path: str
    extra: dict = dataclasses.field(default_factory=dict)


class SkipModel(Exception):
    """Raised (or yielded) for a model that cannot be processed; the build goes on."""


def split_for(model_id, fractions=None):
    """Deterministic split of a model id: a stable hash, not the model's position."""
    fractions = fractions or SPLIT_FRACTIONS
    u = (zlib.crc32(model_id.encode()) & 0xFFFFFFFF) / 2.0 ** 32
    total = 0.0
    for split, fraction in fractions.items():
        total += fraction
        if u < total:
            return split
    return list(fractions)[-1]


def add_split_argument(parser):
    """`--split hash|train|val|test`: the hash split, or every model of the build in one split."""
    parser.add_argument("--split", choices=("hash", *SPLIT_FRACTIONS), default="hash",
                        help="hash: 80/10/10 by model id; or every model in one split (a test-only check set)")


def plan_shards(sources, models_per_shard=MODELS_PER_SHARD):
    """Assigns sources to shards: `{split: [[ModelSource, ...] per shard]}`.

    Sources are ordered by a hash of their id and dealt round-robin, so every
    shard holds a mix of categories and the plan depends only on the ids.
    """
    by_split = {}
    for source in sources:
        if source.split not in records.SPLITS:
            raise ValueError(f"source {source.model_id} has split {source.split!r}; "
                             f"expected one of {records.SPLITS}")
        by_split.setdefault(source.split, []).append(source)
    check_unique_ids(sources)
    plan = {}
    for split, items in by_split.items():
        items.sort(key=lambda s: hashlib.sha1(s.model_id.encode()).hexdigest())
        count = max(1, math.ceil(len(items) / models_per_shard))
        plan[split] = [items[i::count] for i in range(count)]
    return plan


def check_unique_ids(sources, shown=5):
    """Raises ValueError naming the model ids that occur more than once in `sources`.

    Two sources with one id would become two records that `model_id` cannot
    tell apart, and could land in different splits (the same model trained
    on and validated on). It happens with a ShapeNet root holding a model
    under two synsets, or a split file listing a model twice.

    Args:
      sources: list of `ModelSource`.
      shown: how many duplicated ids the message names (all are counted).
    """
    counts = collections.Counter(s.model_id for s in sources)
    duplicated = [model_id for model_id, n in counts.items() if n > 1]
    if not duplicated:
        return
    first = duplicated[0]
    where = [s.path or "(no path)" for s in sources if s.model_id == first][:3]
    more = f" and {len(duplicated) - shown} more" if len(duplicated) > shown else ""
    raise ValueError(
        f"{len(duplicated)} model ids occur more than once among the {len(sources)} sources: "
        f"{', '.join(f'{i} (x{counts[i]})' for i in duplicated[:shown])}{more}; e.g. {first} "
        f"comes from {', '.join(where)}. Each model must come from one place: remove the "
        f"copies (or the repeated entries of the split file) and build again")


def _sha256(path):
    digest = hashlib.sha256()
    with _gfile().GFile(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _gfile():
    """`tf.io.gfile`: shards and manifests may live on GCS (a Beam build on Dataflow)."""
    import tensorflow as tf

    return tf.io.gfile


def _manifest_path(shard_path):
    return shard_path + ".manifest.json"


def _finished(shard_path, sources, fingerprint):
    """Whether a shard from an earlier run can be kept as it is."""
    gfile = _gfile()
    manifest_path = _manifest_path(shard_path)
    if not (gfile.exists(shard_path) and gfile.exists(manifest_path)):
        return False
    try:
        with gfile.GFile(manifest_path) as fh:
            manifest = json.load(fh)
    except (OSError, ValueError):
        return False
    return (manifest.get("fingerprint") == fingerprint
            and manifest.get("sources") == [s.model_id for s in sources]
            and manifest.get("sha256") == _sha256(shard_path))


def _write_shard(job):
    """Pool worker: processes one shard's sources and writes shard + manifest atomically."""
    import tempfile

    shard_path, sources, process_shard, fingerprint = job
    work_dir = f"{shard_path}.work-{os.getpid()}"
    if "://" in shard_path:  # scratch space is always local
        work_dir = tempfile.mkdtemp(prefix="tf3d-shard-")
    os.makedirs(work_dir, exist_ok=True)
    try:
        write_shard_file(shard_path, sources, process_shard(sources, work_dir), fingerprint)
    finally:
        _rmtree(work_dir)
    return shard_path, len(sources)


def write_shard_file(shard_path, sources, results, fingerprint):
    """Writes one shard and its manifest from processed results, atomically.

    Shared by the process pool and the Beam builder (`pipelines.beam_build`),
    so both write the same bytes for the same models.

    Args:
      shard_path: the shard's final path (local or `gs://`).
      sources: the shard's `ModelSource`s in plan order.
      results: iterable of `(source, record bytes or SkipModel)` in the order of `sources`.
      fingerprint: the build's fingerprint, recorded in the manifest.
    """
    import tensorflow as tf

    gfile = tf.io.gfile
    tmp_path = f"{shard_path}.tmp-{os.getpid()}"
    manifest = {"fingerprint": fingerprint, "sources": [s.model_id for s in sources],
                "records": [], "categories": {}, "skipped": [], "occupancy_sum": 0.0}
    try:
        with tf.io.TFRecordWriter(tmp_path) as writer:
            for source, result in results:
                if isinstance(result, SkipModel):
                    log.warning("skipped %s (%s): %s", source.model_id, source.path, result)
                    manifest["skipped"].append({"model_id": source.model_id, "path": source.path,
                                                "reason": str(result)})
                    continue
                writer.write(result)
                manifest["records"].append(source.model_id)
                manifest["categories"][source.category] = manifest["categories"].get(source.category, 0) + 1
                manifest["occupancy_sum"] += _occupancy(result)
        manifest["sha256"] = _sha256(tmp_path)
        manifest["num_records"] = len(manifest["records"])
        with gfile.GFile(_manifest_path(shard_path) + ".tmp", "w") as fh:
            json.dump(manifest, fh)
        # Manifest first: a shard file never exists without the manifest that vouches for it.
        gfile.rename(_manifest_path(shard_path) + ".tmp", _manifest_path(shard_path), overwrite=True)
        gfile.rename(tmp_path, shard_path, overwrite=True)
    finally:
        if gfile.exists(tmp_path):
            gfile.remove(tmp_path)
    return manifest


# A worker's scratch directory (`<shard>.work-<pid>`) or unfinished shard (`<shard>.tmp-<pid>`).
_LEFTOVER_RE = re.compile(r"^(?P<shard>.+)\.(?:work|tmp)-(?P<pid>\d+)$")


def _process_exists(pid):
    """Whether process `pid` exists on this machine (a zombie counts)."""
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but belongs to another user
        return True
    return True


def _remove_leftovers(out_dir):
    """Removes the scratch directories and unfinished shards of killed workers.

    A worker removes its `<shard>.work-<pid>` and `<shard>.tmp-<pid>` itself
    unless it is killed (SIGKILL, the OOM killer, a terminated pool). Ones
    whose pid is still a live process may belong to a concurrent build of
    this directory (or to an orphaned worker of a killed one) and are kept;
    `out_dir` is a local directory (`build_dataset`), so the pids are this
    machine's. A reused pid only keeps a stale leftover until a later build.
    Our own pid cannot be in use yet: this runs before any shard is started.
    """
    for filename in sorted(os.listdir(out_dir)):
        match = _LEFTOVER_RE.match(filename)
        if not match or not records.parse_shard_name(match["shard"]):
            continue
        pid = int(match["pid"])
        if pid != os.getpid() and _process_exists(pid):
            log.info("keeping %s: process %d, which may be another build's worker, is running",
                     filename, pid)
            continue
        log.info("removing %s: left by a killed build", filename)
        path = os.path.join(out_dir, filename)
        if os.path.isdir(path):
            _rmtree(path)
        else:
            os.remove(path)


def _occupancy(serialized):
    import tensorflow as tf

    feats = tf.train.Example.FromString(serialized).features.feature
    resolution = feats["voxel_resolution"].int64_list.value[0]
    return float(records.unpack_voxels(feats["voxels"].bytes_list.value[0], resolution).mean())


def _rmtree(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def build_dataset(out_dir, name, sources, process_shard, *, workers, build_config,
                  models_per_shard=MODELS_PER_SHARD, viewpoints=None, progress=True, runner=None):
    """Builds (or resumes building) a sharded dataset and its metadata files.

    Args:
      out_dir: output directory (created if missing); local, or `gs://` for
        a Beam runner whose workers cannot see this machine's disk.
      name: dataset name, the shard file prefix.
      sources: list of `ModelSource`.
      process_shard: picklable callable `(sources, work_dir) -> iterable of
        (source, record bytes or SkipModel)`; runs in worker processes.
      workers: number of worker processes (0 or 1: in this process).
      build_config: JSON-serializable dict recorded in the metadata;
        shards built under a different config are rebuilt.
      models_per_shard: target number of models per shard.
      viewpoints: `conventions.ViewpointSet` the dataset was rendered with,
        or None when views differ per record (e.g. 3D-R2N2).
      progress: show a tqdm progress bar.
      runner: None (a process pool of `workers`), or a callable
        `runner(jobs)` that writes every job's shard with `write_shard_file`
        (`pipelines.beam_build.BeamRunner`); a job is
        `(shard_path, sources, process_shard, fingerprint)`.

    Returns:
      The `records.INFO_FILE` content as a dict.
    """
    if not sources:
        raise ValueError("sources is empty: there is nothing to build")
    plan = plan_shards(sources, models_per_shard)  # checks the ids before anything is written
    remote = "://" in out_dir
    if remote:
        _gfile().makedirs(out_dir)
    else:
        os.makedirs(out_dir, exist_ok=True)
    fingerprint = hashlib.sha256(json.dumps(dict(build_config, voxel_packing=records.VOXEL_PACKING,
                                                 normalization=_conventions().NORMALIZATION_VERSION),
                                            sort_keys=True).encode()).hexdigest()[:16]
    planned = set()
    jobs = []
    for split, shards in plan.items():
        for index, shard_sources in enumerate(shards):
            path = _join(out_dir, records.shard_name(name, split, index, len(shards)))
            planned.add(records.shard_name(name, split, index, len(shards)))
            if not _finished(path, shard_sources, fingerprint):
                jobs.append((path, shard_sources, process_shard, fingerprint))
    if build_config.get("split", "hash") == "hash":  # a build put whole into one split wants the others empty
        _warn_empty_splits(plan, len(sources))
    if not remote:  # worker pids name local leftovers only
        _remove_leftovers(out_dir)
    _remove_stale(out_dir, name, planned)
    kept = sum(len(shards) for shards in plan.values()) - len(jobs)
    if kept:
        log.info("resuming: %d finished shards kept, %d to build", kept, len(jobs))

    start = time.time()
    if runner is not None:
        if jobs:
            runner(jobs)
    else:
        _run_in_pool(jobs, workers, name, progress)
    info = _write_info(out_dir, name, plan, build_config, viewpoints, time.time() - start)
    skipped_all = [split for split, entry in info["splits"].items() if not entry["num_records"]]
    if skipped_all:
        log.warning("split %s has no records: every one of its models was skipped (see %s)",
                    " and ".join(repr(s) for s in skipped_all), records.INFO_FILE)
    return info


def _join(directory, filename):
    return f"{directory.rstrip('/')}/{filename}" if "://" in directory else os.path.join(directory, filename)


def _run_in_pool(jobs, workers, name, progress):
    """Writes every job's shard in `workers` processes (one shard per process at a time)."""
    from tqdm import tqdm

    total = sum(len(job[1]) for job in jobs)
    with tqdm(total=total, unit="model", desc=f"building {name}", disable=not progress) as bar:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                bar.update(_write_shard(job)[1])
            return
        # spawn: each worker imports TensorFlow itself; forking a process
        # that may hold TF or Blender state is not safe.
        context = multiprocessing.get_context("spawn")
        # The initializer hides TensorFlow's C++ start-up lines in every
        # worker when the parent CLI runs quiet (`tf3d.cli`).
        with context.Pool(min(workers, len(jobs)), initializer=cli.quiet_in_worker) as pool:
            for _, count in pool.imap_unordered(_write_shard, jobs):
                bar.update(count)


def _warn_empty_splits(plan, num_models):
    """Warns, before any work, about splits that get no models at all."""
    empty = [split for split in records.SPLITS if split not in plan]
    if not empty:
        return
    fractions = "/".join(f"{round(100 * f)}" for f in SPLIT_FRACTIONS.values())
    log.warning("this build has no %s models: %d models in all are too few for an %s split by "
                "model-id hash (or the split file lists none), and a missing split cannot be "
                "validated or tested on; build more models (more --num-chairs/--num-tables, a larger --limit)",
                " or ".join(repr(s) for s in empty), num_models, fractions)


def _remove_stale(out_dir, name, planned):
    gfile = _gfile()
    for filename in gfile.listdir(out_dir):
        filename = filename.rstrip("/")
        if _LEFTOVER_RE.match(filename):
            continue  # a worker's, handled by _remove_leftovers
        parsed = records.parse_shard_name(filename.split(".manifest.json")[0].split(".tmp")[0])
        if parsed and parsed[0] == name and filename.split(".manifest.json")[0] not in planned:
            log.info("removing %s: not part of this build's plan", filename)
            gfile.remove(_join(out_dir, filename))


def _write_info(out_dir, name, plan, build_config, viewpoints, seconds):
    splits, skipped = {}, []
    occupancy_sum, occupancy_count = 0.0, 0
    num_views = image_size = resolution = None
    for split, shards in plan.items():
        entry = {"num_records": 0, "categories": {}, "shards": []}
        for index in range(len(shards)):
            filename = records.shard_name(name, split, index, len(shards))
            with _gfile().GFile(_manifest_path(_join(out_dir, filename))) as fh:
                manifest = json.load(fh)
            entry["shards"].append({"file": filename, "num_records": manifest["num_records"],
                                    "num_bytes": _gfile().stat(_join(out_dir, filename)).length,
                                    "sha256": manifest["sha256"]})
            entry["num_records"] += manifest["num_records"]
            for category, count in manifest["categories"].items():
                entry["categories"][category] = entry["categories"].get(category, 0) + count
            skipped.extend(manifest["skipped"])
            if split == "train":
                occupancy_sum += manifest["occupancy_sum"]
                occupancy_count += manifest["num_records"]
            if num_views is None and manifest["num_records"]:
                num_views, image_size, resolution = _first_record_shape(_join(out_dir, filename))
        splits[split] = entry
    if num_views is None:
        raise RuntimeError(f"no model could be processed; {len(skipped)} skipped: "
                           f"{skipped[:3]} ... (see the log for every reason)")
    categories = {}
    for entry in splits.values():
        for category, count in entry["categories"].items():
            categories[category] = categories.get(category, 0) + count
    info = {
        "name": name,
        "format": "tf3d.data.records",
        "features": {k: {"kind": kind, "per_view": per} for k, (kind, per) in records.FEATURES.items()},
        "voxel_resolution": resolution,
        "voxel_packing": records.VOXEL_PACKING,
        "voxel_axes": list(_conventions().VOXEL_AXES),
        "num_views": num_views,
        "image_size": image_size,
        "viewpoints": viewpoints.to_dict() if viewpoints is not None else None,
        "splits": splits,
        "categories": categories,
        "num_records": sum(e["num_records"] for e in splits.values()),
        "occupancy_rate": occupancy_sum / occupancy_count if occupancy_count else None,
        "skipped": skipped,
        "num_skipped": len(skipped),
        "build_config": build_config,
        "build_seconds": round(seconds, 1),
    }
    tmp = _join(out_dir, records.INFO_FILE + ".tmp")
    with _gfile().GFile(tmp, "w") as fh:
        json.dump(info, fh, indent=1)
    _gfile().rename(tmp, _join(out_dir, records.INFO_FILE), overwrite=True)
    tfds_info.write(out_dir, info)
    return info


def _conventions():
    from tf3d import conventions

    return conventions


def _first_record_shape(path):
    import tensorflow as tf

    for raw in tf.data.TFRecordDataset(path).take(1):
        feats = tf.train.Example.FromString(raw.numpy()).features.feature
        return (int(feats["num_views"].int64_list.value[0]), int(feats["image_size"].int64_list.value[0]),
                int(feats["voxel_resolution"].int64_list.value[0]))
    return None, None, None


def encode_png(gray):
    """uint8 `[h, w]` -> 8-bit grayscale PNG bytes."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(gray, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()
