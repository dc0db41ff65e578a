"""Scores a trained run: `python -m tf3d.evaluate RUN_DIR [--data DIR] [--split val] [--categories ...]`.

Prints the mean per-example voxel IoU of each category at each threshold of
`eval.thresholds` (0.3 / 0.4 / 0.5 by default, as Pix2Vox reports them) and
the mean over categories, and writes them to `RUN_DIR/eval_<split>.json`.
Every view of every model is scored by default (`data.val_views`).

Generalisation to an unseen category, the original work's check: train with
`--set data.categories=[chair]`, then `python -m tf3d.evaluate RUN_DIR
--categories table`.
"""

import argparse
import json
import sys
from collections import defaultdict

import numpy as np

from tf3d import config as config_lib


def load_model(run_dir, checkpoint="best"):
    """(model, config) of a run, weights from `checkpoints/<checkpoint>.weights.h5`."""
    import tensorflow as tf

    from tf3d import train

    cfg = config_lib.load(run_dir)
    p = train.paths(run_dir)
    path = p[checkpoint] if checkpoint in ("best", "last") else checkpoint
    if not tf.io.gfile.exists(path):
        if checkpoint == "best" and tf.io.gfile.exists(p["last"]):
            path = p["last"]
        else:
            raise FileNotFoundError(f"no checkpoint {path}; has `python -m tf3d.train` finished an epoch "
                                    f"in {run_dir}?")
    resolution = _resolution(cfg)
    model = train.build_model(cfg, resolution)
    model.load_weights(path)
    return model, cfg


def _resolution(cfg):
    try:
        from tf3d.data import records

        return int(records.read_info(cfg.data.dir)["voxel_resolution"])
    except (FileNotFoundError, KeyError):
        from tf3d import conventions

        return conventions.DEFAULT_RESOLUTION


def evaluate(model, source, split, *, image_size, thresholds, batch_size=64, views="all",
             frame="viewer", rotation_mode="auto", categories=(), max_batches=None):
    """Per-category mean IoU at each threshold.

    Returns:
      {"per_category": {category: {"count": n, "iou_<t>": mean}}, "mean": {"iou_<t>": mean over
      categories}, "count": examples}.
    """
    import tensorflow as tf

    from tf3d.data import pipeline
    from tf3d.metrics.voxel_iou import voxel_iou

    ds = pipeline.make_dataset(source, split, batch_size=batch_size, training=False,
                               image_size=image_size, views=views, frame=frame,
                               rotation_mode=rotation_mode, categories=categories, with_metadata=True)
    if max_batches:
        ds = ds.take(max_batches)
    scores = defaultdict(lambda: defaultdict(list))
    predict = tf.function(lambda images: model(images, training=False))
    for batch in ds:
        logits = predict(batch["image"])
        names = [c.decode() for c in batch["category"].numpy()]
        for t in thresholds:
            ious = voxel_iou(batch["voxels"], logits, t).numpy()
            for name, iou in zip(names, ious):
                scores[name][f"iou_{t:g}"].append(float(iou))
    if not scores:
        raise ValueError(f"no examples to evaluate in {source} ({split}, categories {list(categories) or 'all'})")
    per_category = {c: dict({k: float(np.mean(v)) for k, v in s.items()},
                            count=len(next(iter(s.values())))) for c, s in sorted(scores.items())}
    keys = [f"iou_{t:g}" for t in thresholds]
    mean = {k: float(np.mean([per_category[c][k] for c in per_category])) for k in keys}
    return {"per_category": per_category, "mean": mean,
            "count": sum(c["count"] for c in per_category.values())}


def format_table(result, thresholds):
    keys = [f"iou_{t:g}" for t in thresholds]
    lines = [f"{'category':<12}{'examples':>9}" + "".join(f"{'IoU@' + format(t, 'g'):>10}" for t in thresholds)]
    for name, row in result["per_category"].items():
        lines.append(f"{name:<12}{row['count']:>9}" + "".join(f"{row[k]:>10.3f}" for k in keys))
    lines.append(f"{'mean':<12}{result['count']:>9}" + "".join(f"{result['mean'][k]:>10.3f}" for k in keys))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tf3d.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--data", help="dataset directory or shard glob (default: the run's data.dir)")
    parser.add_argument("--split", default=None, help="split to score (default: the run's data.val_split)")
    parser.add_argument("--categories", nargs="*", default=None,
                        help="categories to score (default: those trained on, or all)")
    parser.add_argument("--checkpoint", default="best", help="best, last, or a .weights.h5 path")
    parser.add_argument("--max-batches", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        from tf3d import train

        model, cfg = load_model(args.run_dir, args.checkpoint)
        split = args.split or cfg.data.val_split
        categories = cfg.data.categories if args.categories is None else args.categories
        result = evaluate(model, args.data or cfg.data.dir, split, image_size=cfg.data.image_size,
                          thresholds=cfg.eval.thresholds, batch_size=cfg.eval.batch_size,
                          views=cfg.data.val_views, frame=cfg.data.frame, rotation_mode=cfg.data.rotation,
                          categories=categories, max_batches=args.max_batches)
    except (FileNotFoundError, ValueError, config_lib.ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.run_dir} ({args.checkpoint} checkpoint) on {args.data or cfg.data.dir} [{split}]:")
    print(format_table(result, cfg.eval.thresholds))
    import tensorflow as tf

    out = f"{args.run_dir.rstrip('/')}/eval_{split}{'_' + '_'.join(categories) if args.categories else ''}.json"
    with tf.io.gfile.GFile(out, "w") as fh:
        json.dump(dict(result, data=args.data or cfg.data.dir, split=split), fh, indent=1)
    p = train.paths(args.run_dir)
    print(f"scores: {out}\ncheckpoints: {p['best']} (best), {p['last']} (last)\n"
          f"TensorBoard: tensorboard --logdir {p['logs']}\npreviews: {p['previews']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
