"""The streaming `tf.data` input pipeline: shards -> (image, voxel target) batches.

`make_dataset(source, split, ...)` reads the shards of a tf3d dataset
(`tf3d.data.records`) from a directory or a shard glob, on a local disk, a
Drive mount or `gs://` (only `tf.io.gfile` / `TFRecordDataset`; nothing is
copied). A glob names one split's shards, or every split's with a `{split}`
placeholder (`gs://b/ds/synthetic-{split}.tfrecord-*`); `resolve_splits`
resolves several splits at once and refuses a glob that would give two of
them the same files (training data reused for validation). The stages:

    shard names --interleave(parallel, non-deterministic when training)--> serialized records
      --filter bad records (skip_bad_records)--> --shuffle (training)-->
      --map(parallel): parse, pick view(s), decode + resize the image-->    per view
      --batch--> --map(parallel): rotate the packed Y columns into the view's frame, unpack--> --prefetch-->

Voxels stay packed until after batching, so the per-record stage does the
work that cannot be vectorised (PNG decoding); the rotation moves the packed
Y columns (`records.pack_voxels` stores the grid column by column) and the
unpacking runs once per batch.

Elements are `(images, voxels)`:

    images: float32 `[B, h, w, 1]`, h = w = `image_size`, 0 = white background,
            1 = black (the stored grayscale image inverted, area-resized)
    voxels: float32 `[B, X, Y, Z]` occupancy in the view's frame
            (`frame="viewer"`, see `tf3d.data.rotation`) or the canonical one
            (`frame="object"`)

With `with_metadata=True` elements are dicts holding also `category`,
`model_id` (string `[B]`), `view` (int32 `[B]`) and `azimuth` (`[B]` degrees),
and with `with_masks=True` also `mask` (float32 `[B, h, w, 1]`, the stored
alpha coverage area-resized like the image, 1 = covered).

`model_shard=(i, n)` keeps the models whose id hashes to bucket i of n
(`tf.strings.to_hash_bucket_fast`, so the same models whatever the shard
layout): `make_unpaired_dataset(..., disjoint=True)` draws images from bucket
0 of 2 and voxel grids from bucket 1, so that no model gives both.

Views: `"random"` picks one view per model each time the model is read (one
per model per epoch); `"all"` yields every view of every model; `"first"`
view 0 only. Rotation: `"table"` uses indices precomputed for the dataset's
fixed viewpoints (`tf3d_info.json`), `"angle"` computes them from each
record's own azimuth (R2N2 records, arbitrary views), `"auto"` picks `table`
when the dataset declares fixed viewpoints.
"""

import dataclasses
import math

from tf3d.data import integrity, records, rotation

VIEWS = ("random", "all", "first")
FRAMES = ("viewer", "object")
ROTATIONS = ("auto", "table", "angle")
_GLOB_CHARS = "*?["
SPLIT_PLACEHOLDER = "{split}"


@dataclasses.dataclass(frozen=True)
class DatasetSource:
    """What `resolve` learned about a split of a dataset.

    Attributes:
      files: sorted shard paths.
      num_views: views per record (V).
      resolution: voxel resolution (R).
      azimuths: the fixed viewpoint azimuths from `tf3d_info.json`, or None.
      num_records: records in the split per category (None if unknown).
      info: the parsed `tf3d_info.json` (empty dict without one).
    """

    files: tuple
    num_views: int
    resolution: int
    azimuths: tuple = None
    num_records: dict = None
    info: dict = dataclasses.field(default_factory=dict)

    def count(self, categories=()):
        """Records of the split in `categories` (all if empty), or None if unknown."""
        if self.num_records is None:
            return None
        return sum(n for c, n in self.num_records.items() if not categories or c in categories)


def _is_pattern(source):
    return any(c in source for c in _GLOB_CHARS) or ".tfrecord" in source.rsplit("/", 1)[-1]


def _build_hint(directory):
    return f"python -m pipelines.build synthetic --out {directory}"


def resolve(source, split="train"):
    """Finds the shards of `split` and the record layout.

    Args:
      source: a dataset directory (holding `tf3d_info.json`) or a shard glob
        such as `gs://bucket/ds/synthetic-train.tfrecord-*`. A `{split}` in a
        glob is replaced by `split`; a glob without it is used as it is, for
        whatever split is asked (see `resolve_splits`).
      split: "train", "val" or "test".

    Returns:
      a `DatasetSource`.

    Raises:
      ValueError: `source` or `split` is not one of the above.
      FileNotFoundError: no shards, naming the command that builds them; or a
        build whose `tf3d_info.json` lists no models (or no records) for
        `split`.
    """
    import tensorflow as tf

    if not isinstance(source, str) or not source:
        raise ValueError(f"source must be a directory or shard glob, got {source!r}")
    _check_choice("split", split, records.SPLITS)
    source = source.replace(SPLIT_PLACEHOLDER, split)
    if _is_pattern(source):
        files = tuple(sorted(f for f in tf.io.gfile.glob(source) if not f.endswith(".json")))
        if not files:
            raise FileNotFoundError(f"no shards match {source}")
        return _from_first_record(files)
    directory = source.rstrip("/")
    if not tf.io.gfile.isdir(directory):
        raise FileNotFoundError(f"dataset directory {directory} does not exist; build one with "
                                f"`{_build_hint(directory)}` (or `make data`)")
    files = tuple(sorted(f for f in tf.io.gfile.glob(f"{directory}/*-{split}.tfrecord-*")
                         if records.parse_shard_name(f)))  # not the *.manifest.json beside them
    if not files:
        _raise_if_split_empty(directory, split)
        raise FileNotFoundError(
            f"no {split!r} shards (*-{split}.tfrecord-*) in {directory}; build the dataset with "
            f"`{_build_hint(directory)}` (or `make data`)")
    info = records.read_info(directory)
    split_info = info.get("splits", {}).get(split, {})
    if split_info.get("num_records") == 0:
        raise FileNotFoundError(
            f"the build in {directory} has no {split!r} records: every one of its models was "
            f"skipped ({records.INFO_FILE} lists why under `skipped`)")
    viewpoints = info.get("viewpoints")
    return DatasetSource(
        files=files, num_views=int(info["num_views"]),
        resolution=int(info["voxel_resolution"]),
        azimuths=tuple(viewpoints["azimuths"]) if viewpoints else None,
        num_records=dict(split_info["categories"]) if "categories" in split_info else None,
        info=info)


def _raise_if_split_empty(directory, split):
    """FileNotFoundError when `tf3d_info.json` exists but gives `split` no models.

    A build of a few models can leave a split empty: `pipelines.shards.split_for`
    hashes model ids into 80/10/10, so e.g. 4 models often have no `val` one.
    Saying so beats the generic "no shards" message, which suggests the build
    is missing or broken.
    """
    import tensorflow as tf

    if records.info_path(directory) is None:
        return
    info = records.read_info(directory)
    if info.get("splits", {}).get(split, {}).get("shards"):
        return
    total = info.get("num_records", sum(e.get("num_records", 0) for e in info.get("splits", {}).values()))
    if info.get("build_config", {}).get("source") in ("shapenet", "r2n2"):
        more = "the same build command over more models (more --synsets, a larger --limit)"
    else:
        more = (f"`python -m pipelines.build synthetic --out {directory} --num-chairs 20 "
                f"--num-tables 20` (or more)")
    raise FileNotFoundError(
        f"the build in {directory} has no {split!r} models ({total} models in all, too few for "
        f"an 80/10/10 train/val/test split); build more with {more}")


def resolve_splits(source, splits=("train", "val")):
    """`resolve` for several splits, refusing a glob that gives two splits the same shards.

    A shard glob without `{split}` (`gs://b/ds/synthetic-train.tfrecord-*`)
    matches the same files whichever split is asked, so validating on it would
    measure the training data. Directories cannot overlap (their shards are
    named by split), but are checked all the same.

    Args:
      source: a dataset directory or shard glob (see `resolve`), e.g.
        `gs://b/ds/synthetic-{split}.tfrecord-*`.
      splits: split names, each one of "train", "val", "test". A name given
        twice is resolved once: training and validating on one split on
        purpose (an overfitting check) is the caller's choice.

    Returns:
      dict split -> `DatasetSource`, in the order of `splits`.

    Raises:
      ValueError: two different splits share shard files (naming the glob
        and the `{split}` fix), or `splits` is empty or holds an unknown name.
      FileNotFoundError: as `resolve`, for any of the splits.
    """
    if isinstance(splits, str):
        raise ValueError(f"splits must be a sequence of split names, got the string {splits!r}")
    splits = tuple(dict.fromkeys(splits))  # repeated names once, order kept
    if not splits:
        raise ValueError("splits must name at least one split, got none")
    for split in splits:
        _check_choice("splits", split, records.SPLITS)
    resolved = {split: resolve(source, split) for split in splits}
    for i, first in enumerate(splits):
        for second in splits[i + 1:]:
            shared = sorted(set(resolved[first].files) & set(resolved[second].files))
            if shared:
                raise ValueError(
                    f"data source {source!r} gives the {first!r} and {second!r} splits the same "
                    f"shard files ({len(shared)}, e.g. {shared[0]}), so {second!r} would read "
                    f"{first!r} data; put {SPLIT_PLACEHOLDER} in the glob where the split name "
                    f"goes, e.g. {_split_glob_example(source)}")
    return resolved


def _split_glob_example(source):
    """`source` with its split name replaced by `{split}`, or a generic example."""
    name = source.rsplit("/", 1)[-1]
    for split in records.SPLITS:
        if f"-{split}." in name:
            head = source[: len(source) - len(name)]
            return head + name.replace(f"-{split}.", f"-{SPLIT_PLACEHOLDER}.", 1)
    return f"gs://bucket/ds/synthetic-{SPLIT_PLACEHOLDER}.tfrecord-*"


def _from_first_record(files):
    import tensorflow as tf

    for serialized in tf.data.TFRecordDataset(files[0]).take(1):
        feats = tf.train.Example.FromString(serialized.numpy()).features.feature
        return DatasetSource(files=files, num_views=int(feats["num_views"].int64_list.value[0]),
                             resolution=int(feats["voxel_resolution"].int64_list.value[0]))
    raise ValueError(f"shard {files[0]} holds no records")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _decode_png(png):
    """PNG string -> uint8 `[S, S, 1]` (resized later, once per batch)."""
    import tensorflow as tf

    return tf.io.decode_png(png, channels=1)


def _to_model_input(images, image_size):
    """uint8 `[B, S, S, 1]` -> float32 `[B, h, w, 1]`, inverted so the white background is 0.

    Area resampling: an average over 2x2 pixels for 128 -> 64, the plain
    average for other integer factors, `tf.image.resize(area)` otherwise.
    """
    import tensorflow as tf

    gray = tf.cast(images, tf.float32) * (1.0 / 255.0)
    stored = images.shape[1]
    if stored == image_size:
        resized = gray
    elif stored is not None and stored % image_size == 0:
        f = stored // image_size
        blocks = tf.reshape(gray, [-1, image_size, f, image_size, f])  # [B, h, f, w, f]
        resized = tf.reduce_mean(blocks, axis=[2, 4])[..., None]
    else:
        resized = tf.image.resize(gray, [image_size, image_size], method="area")
    return 1.0 - resized


def _record_reader(source, skip):
    """Function mapping a shard path to its serialized records, bad ones left out."""
    import tensorflow as tf

    if not skip:
        return tf.data.TFRecordDataset
    # Readable prefix per file, and (file, index) keys of records that fail to decode.
    keep = {f: -1 for f in source.files}  # -1: the whole file
    drop = []
    for bad in skip:
        if bad.framing:
            keep[bad.file] = bad.index
        else:
            drop.append(f"{bad.file}#{bad.index}")
    keep_table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(list(keep), [int(v) for v in keep.values()],
                                            tf.string, tf.int64), default_value=-1)
    drop_keys = tf.constant(drop or ["\0"], tf.string)

    def read(path):
        limit = keep_table.lookup(path)
        ds = tf.data.TFRecordDataset(path).enumerate()
        ds = ds.take(tf.where(limit < 0, tf.constant(-1, tf.int64), limit))
        key = lambda i, _: tf.strings.join([path, "#", tf.strings.as_string(i)])
        ds = ds.filter(lambda i, r: tf.logical_not(tf.reduce_any(tf.equal(key(i, r), drop_keys))))
        return ds.map(lambda i, r: r)

    return read


def make_dataset(source, split="train", *, batch_size=32, training=True, image_size=64,
                 views="random", frame="viewer", rotation_mode="auto", categories=(),
                 shuffle_buffer=512, cycle_length=4, skip_bad_records=False, repeat=False,
                 with_metadata=False, seed=None, bad_records=None, model_shard=None, with_masks=False):
    """Builds the batched input pipeline of one split.

    Args:
      source: dataset directory or shard glob (see `resolve`), or a `DatasetSource`.
      split: "train", "val" or "test".
      batch_size: examples per batch (B).
      training: shuffle, read shards in non-deterministic order and drop the
        last partial batch; False gives a deterministic, complete pass.
      image_size: side h = w of the model's input images.
      views: "random", "all" or "first" (module docstring).
      frame: "viewer" (targets rotated into the view's frame) or "object".
      rotation_mode: "auto", "table" or "angle" (module docstring).
      categories: category names to keep (all when empty).
      shuffle_buffer: records held by the shuffle buffer.
      cycle_length: shards read concurrently.
      skip_bad_records: scan the shards first and leave unreadable records out
        (they are listed in `bad_records`) instead of failing.
      repeat: repeat forever (for `fit(steps_per_epoch=...)`).
      with_metadata: yield dicts with category/model_id/view/azimuth too.
      seed: shuffle/view seed (None: random).
      bad_records: optional list that receives the `BadRecord`s skipped.
      model_shard: `(i, n)`: keep only the models whose id hashes to bucket i
        of n (module docstring); None keeps all.
      with_masks: with `with_metadata`, add each view's `mask`.

    Returns:
      a `tf.data.Dataset` of `(images [B, h, w, 1], voxels [B, R, R, R])`, or dicts.
    """
    import tensorflow as tf

    _check_choice("views", views, VIEWS)
    _check_choice("frame", frame, FRAMES)
    _check_choice("rotation_mode", rotation_mode, ROTATIONS)
    for name, value in (("batch_size", batch_size), ("image_size", image_size),
                        ("cycle_length", cycle_length), ("shuffle_buffer", shuffle_buffer)):
        if int(value) <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    if model_shard is not None:
        index, count = (int(v) for v in model_shard)
        if not 0 <= index < count:
            raise ValueError(f"model_shard must be (i, n) with 0 <= i < n, got {model_shard!r}")
    if with_masks and not with_metadata:
        raise ValueError("with_masks=True needs with_metadata=True (masks come in the element dicts)")
    src = source if isinstance(source, DatasetSource) else resolve(source, split)
    if rotation_mode == "auto":
        rotation_mode = "table" if src.azimuths else "angle"
    if rotation_mode == "table" and not src.azimuths:
        raise ValueError("rotation_mode='table' needs fixed viewpoints in tf3d_info.json; "
                         "use rotation_mode='angle' for records with their own azimuths")
    num_views, resolution = src.num_views, src.resolution

    skip = []
    if skip_bad_records:
        skip = integrity.scan_shards(src.files, num_views, resolution)
        if bad_records is not None:
            bad_records.extend(skip)

    stored_size = int(src.info.get("image_size", 0)) or None
    files = tf.data.Dataset.from_tensor_slices(list(src.files))
    if training:
        files = files.shuffle(len(src.files), seed=seed, reshuffle_each_iteration=True)
    ds = files.interleave(_record_reader(src, skip), cycle_length=min(cycle_length, len(src.files)),
                          block_length=1, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=not training)
    if repeat:
        ds = ds.repeat()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    # Only what the pipeline uses: masks and cameras stay unparsed.
    spec = {k: v for k, v in records.parse_spec(num_views).items()
            if k in ("model_id", "category", "voxels", "images", "azimuths") + (("masks",) if with_masks else ())}
    wanted = tf.constant(list(categories) or ["\0"], tf.string)

    if model_shard is not None:
        spec_id = {"model_id": spec["model_id"]}
        ds = ds.filter(lambda s: tf.equal(tf.strings.to_hash_bucket_fast(
            tf.io.parse_single_example(s, spec_id)["model_id"], count), index))

    if categories:
        spec_cat = {"category": spec["category"]}
        ds = ds.filter(lambda s: tf.reduce_any(tf.equal(
            tf.io.parse_single_example(s, spec_cat)["category"], wanted)))

    if views == "all":
        def parse_all(serialized):
            ex = tf.io.parse_single_example(serialized, spec)
            meta = {"category": ex["category"], "model_id": ex["model_id"],
                    "packed": tf.io.decode_raw(ex["voxels"], tf.uint8)}
            meta = {k: tf.repeat(t[None], num_views, axis=0) for k, t in meta.items()}
            images = tf.stack([_decode_png(ex["images"][v]) for v in range(num_views)])
            extra = {"mask": tf.stack([_decode_png(ex["masks"][v]) for v in range(num_views)])} if with_masks else {}
            return dict(meta, image=images, view=tf.range(num_views, dtype=tf.int32),
                        azimuth=ex["azimuths"], **extra)

        ds = ds.map(parse_all, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
        ds = ds.unbatch().batch(batch_size, drop_remainder=training)
    else:
        # One view per record: records are batched first and parsed with one
        # vectorised op per batch; only the PNG decoding runs per image.
        def parse_batch(serialized, draws):
            ex = tf.io.parse_example(serialized, spec)
            view = tf.cast(draws % num_views, tf.int32)  # draws are 0 for views="first"
            pngs = tf.gather(ex["images"], view, batch_dims=1)  # [B]
            images = tf.map_fn(_decode_png, pngs, fn_output_signature=tf.TensorSpec(
                [stored_size, stored_size, 1], tf.uint8), parallel_iterations=16)
            extra = {}
            if with_masks:
                extra["mask"] = tf.map_fn(_decode_png, tf.gather(ex["masks"], view, batch_dims=1),
                                          fn_output_signature=tf.TensorSpec([stored_size, stored_size, 1], tf.uint8))
            return {"category": ex["category"], "model_id": ex["model_id"],
                    "packed": tf.io.decode_raw(ex["voxels"], tf.uint8), "image": images,
                    "view": view, "azimuth": tf.gather(ex["azimuths"], view, batch_dims=1), **extra}

        # The view draws come from their own stream, re-randomised on every pass
        # (a random op inside `map` would repeat its draws for each new iterator).
        draws = (tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
                 if views == "random" else tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).repeat())
        ds = tf.data.Dataset.zip((ds, draws)).batch(batch_size, drop_remainder=training)
        ds = ds.map(parse_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)

    rotate_table = None
    if frame == "viewer" and rotation_mode == "table":
        rotate_table = rotation.ViewpointRotation(src.azimuths, resolution)
        table_azimuths = tf.constant(src.azimuths, tf.float32)
    def finish(batch):
        packed = batch.pop("packed")
        image = batch["image"]
        if stored_size:
            image = tf.ensure_shape(image, [None, stored_size, stored_size, 1])
        batch["image"] = _to_model_input(image, image_size)
        if "mask" in batch:
            batch["mask"] = 1.0 - _to_model_input(batch["mask"], image_size)  # coverage, not inverted
        if rotate_table is not None:
            expected = tf.gather(table_azimuths, batch["view"])
            gap = tf.abs(tf.math.floormod(batch["azimuth"] - expected + 180.0, 360.0) - 180.0)
            tf.debugging.assert_less(gap, 0.01, message=(
                "a record's azimuth differs from tf3d_info.json's viewpoints; "
                "use data.rotation=angle for records with their own views"))
            packed = rotation.gather_rotated_packed(packed, rotate_table.indices(batch["view"]), resolution)
        elif frame == "viewer":
            packed = rotation.gather_rotated_packed(
                packed, rotation.rotation_indices(batch["azimuth"], resolution), resolution)
        # Rotated while packed (whole Y columns are moved), then unpacked once into [X, Y, Z].
        voxels = records.unpack_voxels_tf(packed, resolution, tf.float32)
        if with_metadata:
            return dict(batch, voxels=voxels)
        return batch["image"], voxels

    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_unpaired_dataset(source, split="train", *, seed=None, with_metadata=False, disjoint=False, **kwargs):
    """Images and voxel grids from two independent shuffles (unpaired training).

    Takes `make_dataset`'s arguments (training mode, repeated); yields
    `(images, voxels)` whose halves come from unrelated models and views, or,
    with `with_metadata`, the two full element dicts (use the first's
    `image` and the second's `voxels`). The voxel grids are in the frame of
    their own (random, with `views="random"`) view, as the images are.

    With `disjoint=True` the images come only from the models of hash bucket
    0 of 2 and the grids only from bucket 1 (`model_shard`): no model is ever
    seen in both domains, so no pair can be learned by memorising one.
    """
    import tensorflow as tf

    src = source if isinstance(source, DatasetSource) else resolve(source, split)
    seeds = (None, None) if seed is None else (seed, seed + 1)
    shards = ((0, 2), (1, 2)) if disjoint else (None, None)
    images, voxels = (make_dataset(src, split, seed=s, repeat=True, with_metadata=True, model_shard=m, **kwargs)
                      for s, m in zip(seeds, shards))
    if not with_metadata:
        images = images.map(lambda e: e["image"])
        voxels = voxels.map(lambda e: e["voxels"])
    return tf.data.Dataset.zip((images, voxels))


def num_batches(source, batch_size, views="random", categories=(), drop_remainder=True):
    """Batches in one pass over a split (`views="all"` counts every view), at least 1.

    Args:
      source: a `DatasetSource`; its record counts come from `tf3d_info.json`,
        or, for a bare shard glob, from reading the shards once.
      batch_size: B.
      views: "random", "all" or "first".
      categories: the categories kept (all when empty).
      drop_remainder: whether a last partial batch is dropped (training) or kept.
    """
    count = source.count(categories)
    if count is None:
        import tensorflow as tf

        ds = tf.data.TFRecordDataset(list(source.files))
        if categories:
            spec = {"category": records.parse_spec(1)["category"]}
            wanted = tf.constant(list(categories))
            ds = ds.filter(lambda s: tf.reduce_any(tf.equal(
                tf.io.parse_single_example(s, spec)["category"], wanted)))
        count = int(ds.reduce(0, lambda n, _: n + 1))
    examples = count * (source.num_views if views == "all" else 1)
    batches = examples // batch_size if drop_remainder else -(-examples // batch_size)
    return max(1, batches)
