"""`python -m pipelines.stats DIR [--reference DIR2]`: shape statistics of a build, and how far two are apart.

Per model, from its voxel grid alone (so builds of any source compare):

* `fill`: occupied voxels over the volume of their bounding box;
* `height/width`, `depth/width`: the bounding box's aspect ratios (Y/X, Z/X);
* `profile`: the share of occupied voxels in each of `PROFILE_BINS` slices of
  the bounding box's height, bottom first (where the mass sits: legs, seat, back);
* `thin`: the share of occupied voxels that no fully occupied 2x2x2 block
  covers (parts one voxel thick: rods, slats, boards);
* `grid`: occupied voxels over the whole grid (depends on the normalization,
  so it is printed but left out of the distance).

Bounding-box features do not depend on how a source scaled its models into
the grid (tf3d's normalization, ShapeNetVox32's); `thin` depends on the scale a
little, as it counts voxels.

The distance between two builds is the mean over the features (every profile
bin counting as 1/PROFILE_BINS of a feature) of the 1-D Wasserstein distance
between their per-model values, divided by the pooled standard deviation of
both: 0 for identical distributions, about 1 when the typical model of one
build sits a standard deviation away from the other's. It is printed per
category that both builds hold and over all models:

    stats distance (DIR vs DIR2): all = X, chair = Y, table = Z
"""

import sys

import numpy as np
from scipy import ndimage, stats

from tf3d import cli

PROFILE_BINS = 8
SCALARS = ("fill", "height/width", "depth/width", "thin")
_BLOCK = np.ones((2, 2, 2), dtype=bool)


def shape_features(voxels):
    """Feature dict of one bool `[X, Y, Z]` grid: the scalars of `SCALARS`, `grid`, and `profile` `[PROFILE_BINS]`.

    Raises:
      ValueError: `voxels` is not a 3-D grid or holds no occupied voxel.
    """
    voxels = np.asarray(voxels, dtype=bool)
    if voxels.ndim != 3:
        raise ValueError(f"voxels must have shape [X, Y, Z], got {voxels.shape}")
    occupied = np.argwhere(voxels)
    if len(occupied) == 0:
        raise ValueError("voxels holds no occupied voxel")
    lo, hi = occupied.min(axis=0), occupied.max(axis=0) + 1
    size = (hi - lo).astype(np.float64)  # [3] voxels: (width X, height Y, depth Z)
    count = float(len(occupied))
    # Heights of the voxel centres in [0, 1] over the box; slice k holds centres in [k/K, (k+1)/K).
    height = (occupied[:, 1] - lo[1] + 0.5) / size[1]
    profile = np.bincount(np.minimum((height * PROFILE_BINS).astype(int), PROFILE_BINS - 1),
                          minlength=PROFILE_BINS) / count
    bulk = ndimage.binary_opening(voxels, structure=_BLOCK)
    return {"fill": count / float(np.prod(size)), "height/width": size[1] / size[0],
            "depth/width": size[2] / size[0], "thin": float((voxels & ~bulk).sum()) / count,
            "grid": count / float(voxels.size), "profile": profile}


def _table(features):
    """{name: `[N]` values} of a list of feature dicts; the profile as `[N, PROFILE_BINS]`."""
    return {name: np.array([f[name] for f in features]) for name in SCALARS + ("grid", "profile")}


def distance(a, b):
    """Distance (see the module docstring) between two lists of `shape_features` dicts.

    Raises:
      ValueError: either list is empty.
    """
    if not a or not b:
        raise ValueError(f"both builds need models to compare, got {len(a)} and {len(b)}")
    ta, tb = _table(a), _table(b)
    terms = [_scaled_w1(ta[name], tb[name]) for name in SCALARS]
    terms.append(np.mean([_scaled_w1(ta["profile"][:, k], tb["profile"][:, k]) for k in range(PROFILE_BINS)]))
    return float(np.mean(terms))


def _scaled_w1(x, y):
    spread = np.std(np.concatenate([x, y]))
    if spread < 1e-12:
        return 0.0
    return stats.wasserstein_distance(x, y) / spread


def load_features(directory, split=None, limit=None):
    """{category: [shape_features of each record]} of a build (every split, or `split`).

    Reads only the voxel grids (no image is decoded). `limit` caps the records read per shard.
    """
    import tensorflow as tf

    from tf3d.data import records

    info = records.read_info(directory)
    splits = info["splits"] if split is None else {split: info["splits"].get(split, {"shards": []})}
    files = [directory.rstrip("/") + "/" + s["file"] for entry in splits.values() for s in entry["shards"]]
    if not files:
        raise ValueError(f"{directory} has no records in {'any split' if split is None else split!r}")
    out = {}
    for path in files:
        for raw in tf.data.TFRecordDataset(path).take(-1 if limit is None else limit):
            feature = tf.train.Example.FromString(raw.numpy()).features.feature
            resolution = feature["voxel_resolution"].int64_list.value[0]
            voxels = records.unpack_voxels(feature["voxels"].bytes_list.value[0], resolution)
            category = feature["category"].bytes_list.value[0].decode()
            out.setdefault(category, []).append(shape_features(voxels))
    return out


def summary(by_category):
    """Lines of a table: per category and over all, each feature's mean and standard deviation."""
    groups = dict(sorted(by_category.items()))
    groups["all"] = [f for features in by_category.values() for f in features]
    lines = [f"{'category':10s} {'models':>6s}  " + "  ".join(f"{n:>13s}" for n in SCALARS + ("grid",))
             + "  profile (bottom -> top)"]
    for name, features in groups.items():
        t = _table(features)
        cells = "  ".join(f"{t[n].mean():6.3f}±{t[n].std():5.3f}" for n in SCALARS + ("grid",))
        profile = " ".join(f"{v:.2f}" for v in t["profile"].mean(axis=0))
        lines.append(f"{name:10s} {len(features):6d}  {cells}  {profile}")
    return lines


def distances(a, b):
    """{'all': d, category: d, ...} between two `load_features` results (categories both hold)."""
    out = {"all": distance([f for v in a.values() for f in v], [f for v in b.values() for f in v])}
    for category in sorted(set(a) & set(b)):
        out[category] = distance(a[category], b[category])
    return out


def _stats(args):
    build = load_features(args.directory, args.split, args.limit)
    print(f"{args.directory}:")
    print("\n".join(summary(build)))
    if args.reference:
        reference = load_features(args.reference, args.split, args.limit)
        print(f"{args.reference}:")
        print("\n".join(summary(reference)))
        found = distances(build, reference)
        print(f"stats distance ({args.directory} vs {args.reference}): "
              + ", ".join(f"{k} = {v:.3f}" for k, v in found.items()))
    return 0


def main(argv=None):
    """Runs the command line; returns the exit status (0, or 1 after a user error)."""
    parser = cli.parser("python -m pipelines.stats", __doc__.split("\n")[0])
    parser.add_argument("directory", help="a built dataset")
    parser.add_argument("--reference", help="a second build to compare with (e.g. real shapes)")
    parser.add_argument("--split", choices=("train", "val", "test"), help="one split only (default: all)")
    parser.add_argument("--limit", type=int, help="at most this many records per shard")
    args = parser.parse_args(argv)
    return cli.run(_stats, args)


if __name__ == "__main__":
    sys.exit(main())
