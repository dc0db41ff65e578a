"""`python -m pipelines.verify DIR [--alignment] [--rotation]`: check a built dataset.

Reads every record of every shard listed in `tf3d_info.json` (local disk,
a Drive mount or `gs://`), checks each shard's SHA-256 and record count and
each split's per-category counts, and names the file and record index of
anything corrupt. With `--alignment` it also projects each record's voxel
grid through every view's camera (`tf3d.alignment`) and compares it with the
view's mask, ending with

    alignment mean IoU = X, min view IoU = Y

With `--rotation` it measures how many occupied voxels each view's
viewer-centred target keeps after the input pipeline's rotation about +Y
(`tf3d.data.rotation_kept`: each voxel must be found where its centre turns,
in the target the pipeline's own gather produces), prints a table per view
(kept fraction; the part that turns out of the grid, which the normalization
controls; and the voxels the rotated target holds beyond the grid's) and
ends with

    rotation kept mean = X, min = Y

The exit status is 0 when everything checks out, 1 otherwise: a corrupt or
missing shard, or with `--rotation` a kept fraction below
`rotation_kept.KEPT_BAR` (mean 0.99 over all record views, 0.95 on every one).
"""

import hashlib
import multiprocessing
import sys

import numpy as np

from tf3d import cli


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
      job: (path, shard entry from tf3d_info.json, whether to check alignment).
    """
    import tensorflow as tf

    from tf3d import alignment
    from tf3d.data import records

    path, entry, check_alignment = job
    problems, categories, ious = [], {}, []
    if not tf.io.gfile.exists(path):
        return [f"{path}: missing (listed in tf3d_info.json)"], categories, ious
    if _sha256(path) != entry["sha256"]:
        problems.append(f"{path}: SHA-256 differs from tf3d_info.json (the file changed or is corrupt)")
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
        problems.append(f"{path}: {count} records read, tf3d_info.json says {entry['num_records']}")
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
    results = _map(check_shard, jobs, workers)
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
                            f"tf3d_info.json {split_entry['categories']}")
    return problems, ious


def _map(function, jobs, workers):
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs)),
                                                       initializer=cli.quiet_in_worker) as pool:
            return pool.map(function, jobs)
    return [function(job) for job in jobs]


def rotation_shard(job):
    """Kept fractions of one shard's records.

    Returns a list with one (model_id, category, azimuths `[V]`, kept `[V]`,
    outside `[V]`, added `[V]`) per record (`rotation_kept.kept_fraction`,
    `outside_fraction`, `added_fraction`).

    Args:
      job: (path, `[V, R^2, K]` column indices of the dataset's fixed viewpoints, or None to compute
        them from each record's azimuths as the pipeline does then).
    """
    import tensorflow as tf

    from tf3d.data import records, rotation_kept

    path, table = job
    rows = []
    for raw in tf.data.TFRecordDataset(path):
        feature = tf.train.Example.FromString(raw.numpy()).features.feature  # no PNG decoding needed
        resolution = feature["voxel_resolution"].int64_list.value[0]
        voxels = records.unpack_voxels(feature["voxels"].bytes_list.value[0], resolution)
        azimuths = np.asarray(feature["azimuths"].float_list.value, dtype=np.float64)
        indices = table if table is not None else rotation_kept.record_indices(azimuths, resolution)
        rotated = rotation_kept.rotated_targets(voxels, indices)
        rows.append((feature["model_id"].bytes_list.value[0].decode(),
                     feature["category"].bytes_list.value[0].decode(), azimuths,
                     rotation_kept.kept_fraction(voxels, rotated, azimuths),
                     rotation_kept.outside_fraction(voxels, azimuths),
                     rotation_kept.added_fraction(voxels, rotated)))
    return rows


def check_rotation(directory, workers=1):
    """Kept fractions of every record and view of a dataset: list of `rotation_shard` rows.

    Uses the rotation the input pipeline would (`rotation_mode="auto"`): the
    table of the fixed viewpoints in `tf3d_info.json`, or each record's own
    azimuths where there are none.
    """
    from tf3d.data import records, rotation_kept

    info = records.read_info(directory)
    viewpoints = info.get("viewpoints")
    table = (rotation_kept.viewpoint_indices(viewpoints["azimuths"], info["voxel_resolution"])
             if viewpoints and viewpoints.get("azimuths") else None)
    jobs = [(directory.rstrip("/") + "/" + shard["file"], table)
            for entry in info["splits"].values() for shard in entry["shards"]]
    return [row for rows in _map(rotation_shard, jobs, workers) for row in rows]


def _print_alignment(ious):
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


def _print_rotation(rows):
    """Prints the per-view table and the summary line; returns whether `KEPT_BAR` is met."""
    from tf3d.data import rotation_kept

    if not rows:
        print("rotation: no record could be read")
        return False
    kept = np.stack([row[3] for row in rows])  # [N, V]
    outside = np.stack([row[4] for row in rows])  # [N, V]
    added = np.stack([row[5] for row in rows])  # [N, V]
    azimuths = np.stack([row[2] for row in rows])  # [N, V]
    fixed = np.allclose(azimuths, azimuths[:1])
    print(f"rotation per view over {len(rows)} records: kept = share of occupied voxels found where they "
          f"turn in the pipeline's target; out = share that turns out of the grid; added = extra voxels "
          f"of the target")
    print("view  azimuth  kept mean  kept min  out mean  out max  added mean  added max")
    for view in range(kept.shape[1]):
        azimuth = f"{azimuths[0, view]:7.1f}" if fixed else "  (own)"
        print(f"{view:4d}  {azimuth}  {kept[:, view].mean():9.4f}  {kept[:, view].min():8.4f}  "
              f"{outside[:, view].mean():8.4f}  {outside[:, view].max():7.4f}  "
              f"{added[:, view].mean():10.4f}  {added[:, view].max():9.4f}")
    worst = np.unravel_index(np.argmin(kept), kept.shape)
    print(f"worst rotation: {rows[worst[0]][0]} view {worst[1]} keeps {kept[worst]:.4f} "
          f"({outside[worst]:.4f} out of the grid)")
    print(f"rotation kept mean = {kept.mean():.4f}, min = {kept.min():.4f}")
    met = rotation_kept.meets_bar(kept)
    if not met:
        mean_bar, min_bar = rotation_kept.KEPT_BAR
        print(f"rotation: below the bar (kept mean >= {mean_bar}, min >= {min_bar})")
    return met


def main(argv=None):
    parser = cli.parser("python -m pipelines.verify", __doc__.split("\n")[0])
    parser.add_argument("directory", help="dataset directory (local, Drive mount or gs://)")
    parser.add_argument("--alignment", action="store_true",
                        help="also compare each voxel grid's projection with every view's mask")
    parser.add_argument("--rotation", action="store_true",
                        help="also measure the occupied voxels each view's rotated target keeps")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    args = parser.parse_args(argv)

    def body(a):
        problems, ious = verify(a.directory, a.alignment, a.workers)
        for problem in problems:
            print(f"CORRUPT {problem}")
        if not problems:
            print(f"{a.directory}: every shard, record, checksum and count checks out")
        status = 1 if problems else 0
        if a.alignment:
            if not ious:
                print("alignment: no record could be read")
                return 1
            _print_alignment(ious)
        if a.rotation and problems:
            print("rotation: not measured on a dataset with corrupt shards")
        elif a.rotation and not _print_rotation(check_rotation(a.directory, a.workers)):
            status = 1
        return status

    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
