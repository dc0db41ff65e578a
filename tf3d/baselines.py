"""Trivial predictors scored like the models: `python -m tf3d.baselines mean_shape --data DIR --split test`.

`scene_mode` (`python -m tf3d.baselines scene_mode --data data/rooms
--downsample 2`): the lower bound of the `alphagan` scene scores. Every voxel
gets the class most frequent at that voxel over the training scenes, and its
per-class training frequencies as scores; scored as `tf3d.evaluate` scores an
`alphagan` run (true IoU and scikit-learn's AP per class, their means over
the non-empty classes).

`mean_shape`: the lower bound every 2D <-> 3D score sits next to. For each
viewpoint of the dataset, the average occupancy of the training split's
grids in that view's frame (the frame the models predict in), and the
average mask of that view; a test image of view k is answered with the mean
grid of view k whatever it shows, a test grid with the mean mask of view k.
Scored exactly as `tf3d.evaluate` scores a `cyclegan` run: voxel IoU per
category at each threshold over every view of every model, and silhouette
IoU against the rendered mask (both masks at 0.5).
"""

import sys

from tf3d import cli

_EPS = 1e-6


def per_view_means(data, split="train", keys=("voxels", "mask"), *, image_size=64, batch_size=64, categories=()):
    """`{key: [V, ...]}`: the mean of each of the pipeline's `keys` ("image", "voxels", "mask") per view of `split`."""
    import numpy as np

    from tf3d.data import pipeline

    source = pipeline.resolve(data, split)
    ds = pipeline.make_dataset(source, split, batch_size=batch_size, training=False, views="all",
                               image_size=image_size, categories=categories, with_metadata=True,
                               with_masks="mask" in keys)
    views = source.num_views
    sums, counts = {}, np.zeros(views)
    for batch in ds:
        view = batch["view"].numpy()
        for key in keys:
            values = batch[key].numpy().astype(np.float64)
            sums.setdefault(key, np.zeros((views,) + values.shape[1:]))
            np.add.at(sums[key], view, values)
        np.add.at(counts, view, 1)
    if not counts.any():
        raise ValueError(f"no examples in {data} ({split})")
    counts = np.maximum(counts, 1)
    return {key: (total / counts.reshape((views,) + (1,) * (total.ndim - 1))).astype(np.float32)
            for key, total in sums.items()}


def mean_shapes(data, split="train", *, image_size=64, batch_size=64, categories=()):
    """`(grids [V, R, R, R], masks [V, h, w])`: the mean occupancy and mask of each view of `split`."""
    means = per_view_means(data, split, ("voxels", "mask"), image_size=image_size, batch_size=batch_size,
                           categories=categories)
    return means["voxels"], means["mask"][..., 0]


def score_mean_shape(data, split="test", *, train_split="train", image_size=64, batch_size=64,
                     thresholds=(0.3, 0.4, 0.5), categories=()):
    """The report of `mean_shape` on `split` (the layout of `CycleGANTask.evaluate`'s)."""
    import numpy as np
    import tensorflow as tf

    from tf3d.data import pipeline
    from tf3d.metrics.iou_report import IoUReport
    from tf3d.metrics.silhouette_iou import silhouette_iou
    from tf3d.metrics.voxel_iou import voxel_iou

    grids, masks = mean_shapes(data, train_split, image_size=image_size, batch_size=batch_size, categories=categories)
    logits = np.log(np.clip(grids, _EPS, 1 - _EPS) / np.clip(1 - grids, _EPS, 1))  # [V, R, R, R]
    voxels_report, silhouette_report = IoUReport(thresholds), IoUReport([0.5])
    ds = pipeline.make_dataset(pipeline.resolve(data, split), split, batch_size=batch_size, training=False,
                               views="all", image_size=image_size, categories=categories, with_metadata=True,
                               with_masks=True)
    for batch in ds:
        view = batch["view"].numpy()
        names = batch["category"].numpy()
        voxels_report.add(names, {t: voxel_iou(batch["voxels"], tf.constant(logits[view]), t).numpy()
                                  for t in thresholds})
        silhouette_report.add(names, {0.5: silhouette_iou(batch["mask"][..., 0], tf.constant(masks[view])).numpy()})
    return dict(voxels_report.result(), silhouettes=silhouette_report.result(), data=data, split=split,
                train_split=train_split, baseline="mean_shape")


def score_scene_mode(data, split="test", *, train_split="train", downsample=1, batch_size=16):
    """`{"iou": [C], "ap": [C], "mean_iou", "mean_ap", ...}` of the per-voxel-mode predictor on `split`."""
    import numpy as np

    from tf3d.data import scene_classes, scenes
    from tf3d.metrics import scene_iou
    from tf3d.metrics.average_precision import ScoreHistogram

    num_classes = scene_classes.NUM_CLASSES
    counts = 0
    for batch in scenes.make_dataset(data, train_split, batch_size, training=False, downsample=downsample):
        counts = counts + np.eye(num_classes, dtype=np.int32)[batch.numpy()].sum(0)  # [X, Y, Z, C]
    if np.isscalar(counts):
        raise ValueError(f"no scenes in {data} ({train_split})")
    frequencies = counts / counts.sum(-1, keepdims=True)
    mode = frequencies.argmax(-1)
    confusion, histogram = np.zeros((3, num_classes), np.int64), ScoreHistogram(num_classes)
    for batch in scenes.make_dataset(data, split, batch_size, training=False, downsample=downsample):
        labels = batch.numpy()
        confusion += np.stack(scene_iou.confusion_counts(labels, np.broadcast_to(mode, labels.shape), num_classes))
        histogram.add(labels, np.broadcast_to(frequencies, labels.shape + (num_classes,)))
    iou, ap = scene_iou.iou(*confusion), histogram.average_precision()
    return {"iou": [float(x) for x in iou], "ap": [float(x) for x in ap],
            "mean_iou": float(scene_iou.mean_without_empty(iou)), "mean_ap": float(scene_iou.mean_without_empty(ap)),
            "classes": list(scene_classes.CLASSES), "data": data, "split": split, "train_split": train_split,
            "downsample": downsample, "baseline": "scene_mode"}


def main(argv=None):
    parser = cli.parser("python -m tf3d.baselines", __doc__.split("\n")[0])
    parser.add_argument("baseline", choices=["mean_shape", "scene_mode"], help="the trivial predictor to score")
    parser.add_argument("--data", required=True, help="dataset directory or shard glob")
    parser.add_argument("--split", default="test", help="split to score (default: test)")
    parser.add_argument("--train-split", default="train", help="split the means are taken over (default: train)")
    parser.add_argument("--image-size", type=int, default=64, help="mask side in pixels (default: 64)")
    parser.add_argument("--categories", nargs="*", default=[], help="categories (default: all)")
    parser.add_argument("--downsample", type=int, default=1,
                        help="scene_mode: pool the grids like the alphagan task's task.downsample (default 1)")
    parser.add_argument("--out", help="also write the report to this JSON file")
    args = parser.parse_args(argv)

    def body(a):
        from tf3d import runs
        from tf3d.metrics.iou_report import format_table

        if a.baseline == "scene_mode":
            report = score_scene_mode(a.data, a.split, train_split=a.train_split, downsample=a.downsample)
            print(f"per-voxel mode (over {a.data} [{a.train_split}]) on [{a.split}]:")
            for name, iou, ap in zip(report["classes"], report["iou"], report["ap"]):
                print(f"{name:10s} IoU {iou:.3f}  AP {ap:.3f}")
            print(f"mean over the non-empty classes: IoU {report['mean_iou']:.3f}  AP {report['mean_ap']:.3f}")
            if a.out:
                runs.write_json(a.out, report)
            return
        thresholds = [0.3, 0.4, 0.5]
        report = score_mean_shape(a.data, a.split, train_split=a.train_split, image_size=a.image_size,
                                  thresholds=thresholds, categories=a.categories)
        print(f"mean shape per view (means over {a.data} [{a.train_split}]) on [{a.split}]:")
        print(f"image -> voxels (voxel IoU):\n{format_table(report, thresholds)}")
        print(f"voxels -> image (mean mask per view; silhouette IoU):\n{format_table(report['silhouettes'], [0.5])}")
        if a.out:
            runs.write_json(a.out, report)
            print(f"scores: {a.out}")

    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
