"""`python -m pipelines.verify DIR [--alignment]`: check a built dataset.

Reads every record of every shard listed in `dataset_info.json` (local disk,
a Drive mount or `gs://`), checks each shard's SHA-256 and record count and
each split's per-category counts, and names the file and record index of
anything corrupt. With `--alignment` it also projects each record's voxel
grid through every view's camera (`tf3d.alignment`) and compares it with the
view's mask, ending with

    alignment mean IoU = X, min view IoU = Y

The exit status is 0 when everything checks out, 1 otherwise.
"""

import argparse
import hashlib
import multiprocessing
import sys

import numpy as np


def _sha256(path):
    import tensorflow as tf

    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_shard(job):
    """Reads one shard: (problems, per-category counts, per-record view IoUs or None).

    Args:
      job: (path, shard entry from dataset_info.json, whether to check alignment).
    """
    import tensorflow as tf

    from tf3d import alignment
    from tf3d.data import records

    path, entry, check_alignment = job
    problems, categories, ious = [], {}, []
    if not tf.io.gfile.exists(path):
        return [f"{path}: missing (listed in dataset_info.json)"], categories, ious
    if _sha256(path) != entry["sha256"]:
        problems.append(f"{path}: SHA-256 differs from dataset_info.json (the file changed or is corrupt)")
    count = 0
    try:
        for count, raw in enumerate(tf.data.TFRecordDataset(path), start=1):
            try:
                record = records.decode_example(raw.numpy())
            except Exception as exc:  # any decoding failure is reported with its location
                problems.append(f"{path}: record {count - 1}: cannot be decoded: {exc}")
                continue
            categories[record["category"]] = categories.get(record["category"], 0) + 1
            if check_alignment:
                view = alignment.view_ious(record["voxels"], record["masks"], record["intrinsics"],
                                           record["extrinsics"])
                ious.append((record["model_id"], record["category"], view))
    except tf.errors.DataLossError as exc:
        problems.append(f"{path}: record {count}: truncated or corrupt ({exc.message.splitlines()[0]})")
    if count != entry["num_records"]:
        problems.append(f"{path}: {count} records read, dataset_info.json says {entry['num_records']}")
    return problems, categories, ious


def verify(directory, check_alignment=False, workers=1):
    """Checks a dataset directory; returns (problems list, alignment IoUs list)."""
    from tf3d.data import records

    info = records.read_info(directory)
    jobs, expected = [], []
    for split, split_entry in info["splits"].items():
        for shard in split_entry["shards"]:
            jobs.append((directory.rstrip("/") + "/" + shard["file"], shard, check_alignment))
            expected.append(split)
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            results = pool.map(check_shard, jobs)
    else:
        results = [check_shard(job) for job in jobs]
    problems, ious, found = [], [], {}
    for split, (shard_problems, categories, shard_ious) in zip(expected, results):
        problems.extend(shard_problems)
        ious.extend(shard_ious)
        for category, count in categories.items():
            found.setdefault(split, {}).setdefault(category, 0)
            found[split][category] += count
    for split, split_entry in info["splits"].items():
        if found.get(split, {}) != split_entry["categories"] and not problems:
            problems.append(f"split {split}: categories {found.get(split, {})} differ from "
                            f"dataset_info.json {split_entry['categories']}")
    return problems, ious


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pipelines.verify", description=__doc__.split("\n")[0])
    parser.add_argument("directory", help="dataset directory (local, Drive mount or gs://)")
    parser.add_argument("--alignment", action="store_true",
                        help="also compare each voxel grid's projection with every view's mask")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    args = parser.parse_args(argv)
    try:
        problems, ious = verify(args.directory, args.alignment, args.workers)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"CORRUPT {problem}")
    if not problems:
        print(f"{args.directory}: every shard, record, checksum and count checks out")
    if args.alignment:
        if not ious:
            print("alignment: no record could be read")
            return 1
        by_category = {}
        for _, category, view in ious:
            by_category.setdefault(category, []).append(view)
        for category, views in sorted(by_category.items()):
            views = np.concatenate(views)
            print(f"alignment {category}: mean IoU = {views.mean():.3f}, min view IoU = {views.min():.3f} "
                  f"({len(views)} views)")
        worst = min(ious, key=lambda item: item[2].min())
        print(f"worst view: {worst[0]} view {int(np.argmin(worst[2]))}")
        every = np.concatenate([view for _, _, view in ious])
        print(f"alignment mean IoU = {every.mean():.4f}, min view IoU = {every.min():.4f}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
