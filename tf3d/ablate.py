"""`python -m tf3d.ablate CONFIG --vary KEY=V1,V2 [--vary ...] --seeds N`: variants x seeds at a fixed budget.

A thin layer over `tf3d.sweep`: every combination of the `--vary` values is
one variant, trained `--seeds` times (`train.seed` = 0 .. N-1) with the
experiment's own budget (`train.epochs` x `train.steps_per_epoch`), through
`tf3d.train` in this process. It writes, under `--out` (default
`runs/ablate/<experiment name>`):

    runs/<variant>__seed<i>/   each run's directory (a killed ablation resumes:
                               finished runs are kept, an unfinished one resumes)
    results/<...>.json         each run's result (sweep's layout)
    results.csv                one row per run: the varied values, the seed, the best
                               monitored value, the final validation metrics, diverged
    summary.md / summary.json  mean ± std over the seeds per variant (sweep's table)
    curves.png                 the monitored validation metric over training steps, one
                               line (mean) and band (± std over seeds) per variant

A run whose loss becomes NaN or infinite is recorded as diverged (its last
good checkpoint stays in its directory) and the ablation goes on.

Example (the issue's three ablations of the unpaired task):

    python -m tf3d.ablate experiments/cyclegan_ablation.yaml --vary task.mode=learned,render --seeds 3
"""

import csv
import os
import sys

import yaml

from tf3d import cli

_HISTORY = "history.yaml"


def train_entry(experiment, overrides):
    """`tf3d.sweep` entry: trains (or resumes) one run; returns its summary and per-epoch validation history."""
    from tf3d import config as config_lib
    from tf3d import runs, train
    from tf3d.training.nan_guard import NonFiniteLossError

    cfg = config_lib.resolve(experiment, overrides)
    run = runs.RunDir(cfg.run_dir)
    try:
        summary = train.train(cfg, verbose=0, callbacks=[_history_callback(run, cfg)])
    except NonFiniteLossError as error:
        raise runs.Diverged(str(error)) from None
    return dict(summary, history=_read_history(run))


def _history_callback(run, cfg):
    import keras

    from tf3d import runs

    class _History(keras.callbacks.Callback):
        """Appends each finished epoch's logs to RUN_DIR/history.yaml (kept across resumes)."""

        def on_epoch_end(self, epoch, logs=None):
            steps = self.params.get("steps") or cfg.train.steps_per_epoch or 0
            row = {"epoch": epoch + 1, "step": (epoch + 1) * steps}
            row.update({k: float(v) for k, v in (logs or {}).items()})
            history = [h for h in _read_history(run) if h["epoch"] < epoch + 1] + [row]
            runs.write_text(os.path.join(run.path, _HISTORY), yaml.safe_dump(history, sort_keys=False))

    return _History()


def _read_history(run):
    path = os.path.join(run.path, _HISTORY)
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return yaml.safe_load(fh) or []


def parse_vary(texts):
    """`["task.mode=learned,render"]` -> `{"task.mode": ["learned", "render"]}` (order kept)."""
    axes = {}
    for text in texts:
        key, sep, values = text.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ValueError(f"--vary expects KEY=V1,V2,..., got {text!r}")
        if key in axes:
            raise ValueError(f"--vary names {key} twice")
        axes[key] = [v.strip() for v in values.split(",") if v.strip()]
    if not axes:
        raise ValueError("name at least one --vary KEY=V1,V2")
    return axes


def build_spec(experiment, vary, seeds, out_dir=None, overrides=(), metrics=()):
    """The `tf3d.sweep` spec of an ablation: one axis per varied key, then the seeds.

    The table holds the best monitored value, its final value and the final
    value of each of `metrics` (keys of `fit()`'s logs, e.g. `val_silhouette_iou`).
    """
    from tf3d import config as config_lib
    from tf3d import tasks

    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    cfg = config_lib.resolve(experiment, overrides)
    for key, values in vary.items():  # every value must make a valid config before anything trains
        for value in values:
            config_lib.resolve(experiment, list(overrides) + [f"{key}={value}"])
    monitor, _ = tasks.build(cfg).monitor()
    axes = {key: {value: [f"{key}={value}"] for value in values} for key, values in vary.items()}
    axes["seed"] = {f"seed{i}": [f"train.seed={i}"] for i in range(seeds)}
    return {"entry": "tf3d.ablate:train_entry", "experiment": experiment, "out_key": "run_dir",
            "out_dir": out_dir or os.path.join("runs", "ablate", cfg.name), "base": list(overrides), "axes": axes,
            "summary": {"over": "seed", "metrics": ["best"] + [f"final.{m}" for m in dict.fromkeys([monitor, *metrics])],
                        "curves": {"y": monitor}}}


def write_csv(spec, results):
    """OUT/results.csv: one row per run."""
    from tf3d.sweep import _lookup

    keys = [k for k in spec["axes"] if k != "seed"]
    metrics = spec["summary"]["metrics"]
    path = os.path.join(spec["out_dir"], "results.csv")
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(keys + ["seed"] + metrics + ["diverged"])
        for record in results:
            result = record.get("result")
            values = ["" if result is None else f"{_lookup(result, metric):.6g}" for metric in metrics]
            writer.writerow([record["labels"][k] for k in keys] + [record["labels"]["seed"][4:]] + values
                            + [record.get("diverged", "")])
    return path


def draw_curves(spec, results):
    """OUT/curves.png: mean line and ± std band of the monitored metric per variant."""
    import numpy as np

    from tf3d import plots
    from tf3d.sweep import _rows

    y = spec["summary"]["curves"]["y"]
    series, bands = {}, {}
    for row, records in _rows(spec, results, finished=True).items():
        histories = [[h for h in r["result"]["history"] if y in h] for r in records]
        length = min(len(h) for h in histories)
        if not length:
            continue
        xs = [h["step"] for h in histories[0][:length]]
        values = np.array([[h[y] for h in history[:length]] for history in histories])  # [seeds, epochs]
        series[row] = (xs, values.mean(axis=0))
        bands[row] = (values.mean(axis=0) - values.std(axis=0), values.mean(axis=0) + values.std(axis=0))
    if not series:
        return None
    image = plots.line_plot(series, title=f"{spec['experiment']}: {y} (mean ± std over seeds)", x_label="step",
                            y_label=y, bands=bands, size=(480, 300))
    return plots.save_png(os.path.join(spec["out_dir"], "curves.png"), image)


def ablate(experiment, vary, seeds, out_dir=None, overrides=(), metrics=(), log=print):
    """Runs (or resumes) the ablation; returns `(markdown table, [paths written])`."""
    from tf3d import sweep

    spec = build_spec(experiment, vary, seeds, out_dir, overrides, metrics)
    os.makedirs(spec["out_dir"], exist_ok=True)
    results = sweep.run_sweep(spec, log=log)
    markdown = sweep.summarize(spec, results)
    written = [write_csv(spec, results), os.path.join(spec["out_dir"], "summary.md")]
    curves = draw_curves(spec, results)
    if curves:
        written.append(curves)
    return markdown, written


def main(argv=None):
    parser = cli.parser("python -m tf3d.ablate", __doc__.split("\n")[0])
    cli.add_experiment_arguments(parser, "experiments/cyclegan_ablation.yaml",
                                 "override a config field of every run (repeatable)")
    parser.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                        help="a config key and the values to compare (repeatable: the variants are all combinations)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per variant, train.seed = 0 .. N-1 (default 3)")
    parser.add_argument("--out", help="output directory (default runs/ablate/<experiment name>)")
    parser.add_argument("--metrics", nargs="*", default=[],
                        help="further final metrics to tabulate, e.g. val_silhouette_iou (default: the monitored one)")
    args = parser.parse_args(argv)

    def body(a):
        markdown, written = ablate(a.experiment, parse_vary(a.vary), a.seeds, a.out, a.overrides, a.metrics)
        print(markdown)
        for path in written:
            print(f"wrote {path}")

    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
