"""Scores a trained run: `python -m tf3d.evaluate RUN_DIR [--split test] [--data DIR] [--categories ...]`.

Loads the run's model from its directory alone (`tf3d.runs.load_model`) and
asks its task to score it; for the paired task: the mean per-example voxel IoU
of each category at each threshold of `eval.thresholds` (0.3 / 0.4 / 0.5, as
Pix2Vox reports them), the mean over all examples ("overall", the headline)
and the mean of the categories, over every view of every model
(`data.val_views`). Headline scores come from the test split (the default);
the validation split picks checkpoints and tunes settings.

Scores go to `RUN_DIR/eval/<dataset>_<split>[_<categories>].json`, one file
per dataset, split and category list, so that evaluating another dataset never
replaces the run's own scores.

Generalisation to an unseen category, the original work's check: train with
`--set data.categories=[chair]`, then `python -m tf3d.evaluate RUN_DIR
--categories table`.
"""

import sys

from tf3d import cli, runs


def evaluate_run(run_dir, *, data=None, split="test", categories=None, checkpoint="best", max_batches=None):
    """Scores a run; returns `(task, report, path of the JSON written)`."""
    from tf3d import tasks

    model, cfg = runs.load_model(run_dir, checkpoint)
    task = tasks.build(cfg)
    data = data or cfg.data.dir
    report = task.evaluate(model, data, split, categories=categories, max_batches=max_batches)
    run = runs.RunDir(run_dir)
    out = run.eval_file(data, split, report.get("categories") if categories is not None else ())
    pictures = task.figures(model, data, split, out[:-len(".json")])
    if pictures:
        report = dict(report, figures=pictures)
    runs.write_json(out, dict(report, checkpoint=checkpoint))
    return task, report, out


def main(argv=None):
    parser = cli.parser("python -m tf3d.evaluate", __doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--data", help="dataset directory or shard glob (default: the run's data.dir)")
    parser.add_argument("--split", default="test", help="split to score (default: test)")
    parser.add_argument("--categories", nargs="*", default=None,
                        help="categories to score (default: those trained on, or all)")
    parser.add_argument("--checkpoint", default="best", help="best, last, or a .keras path")
    parser.add_argument("--max-batches", type=int, default=None, help="score only this many batches")
    args = parser.parse_args(argv)

    def body(a):
        task, report, out = evaluate_run(a.run_dir, data=a.data, split=a.split, categories=a.categories,
                                         checkpoint=a.checkpoint, max_batches=a.max_batches)
        run = runs.RunDir(a.run_dir)
        print(f"{run.path} ({a.checkpoint} model) on {report['data']} [{a.split}]:")
        print(task.format_report(report))
        for path in report.get("figures", ()):
            print(f"picture: {path}")
        print(f"scores: {out}\nmodels: {run.best} (best), {run.last} (last)\n"
              f"TensorBoard: tensorboard --logdir {run.logs}\npreviews: {run.previews}")

    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
