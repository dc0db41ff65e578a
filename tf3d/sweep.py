"""`python -m tf3d.sweep SWEEP.yaml`: run a grid of `--set` overrides, tabulate and draw the results.

A sweep names an entry point, an experiment file, and axes of overrides; it
runs the experiment once per combination of one value from every axis
(in order, in this process), then summarizes over one axis:

    entry: tf3d.fitting.run:fit_experiment   # function(experiment, overrides) -> result dict
    experiment: experiments/fit_points.yaml
    out_key: out_dir                          # the config key each run's directory goes to
    out_dir: runs/sweeps/losses               # everything the sweep writes
    base: [level=3, steps=300]                # overrides of every run
    axes:                                     # axis -> label -> overrides (order kept)
      losses:
        chamfer: ["losses={edge: 0, normal: 0, laplacian: 0}"]
        +edge: ["losses={normal: 0, laplacian: 0}"]
      target:
        chair-0: [target=synthetic:chair:0]
    summary:
      over: target                            # mean ± std over this axis' runs
      metrics: [final.chamfer_l2, final.fscore_2]
      picture: fitted.png                     # grid: a row per other label, a column per `over` label
      header_picture: target.png              # first grid row, from each column's first run
      curves: {y: chamfer_l2, log_y: true}    # result["history"] means, one line per row label

Writes `OUT/runs/<labels>/` (each run's own directory), `OUT/results/<labels>.json`
(labels, overrides and the entry's result), `OUT/summary.md`, `OUT/summary.json`,
`OUT/grid.png` and `OUT/curves.png`. A run whose result JSON exists is not run
again, so a killed sweep resumes where it stopped. A run whose entry raises
`tf3d.runs.Diverged` is recorded as diverged (its JSON has `"diverged"`,
the reason, and no result): the table counts such runs per row and averages
the others, the curves leave them out. Any entry point with the
signature `entry(experiment, overrides)` fits, e.g. a training function.
"""

import importlib
import itertools
import json
import os
import sys

import numpy as np
import yaml

from tf3d import cli

_KEYS = {"entry", "experiment", "out_key", "out_dir", "base", "axes", "summary"}
_SUMMARY_KEYS = {"over", "metrics", "picture", "header_picture", "curves"}


def load_spec(path):
    """The parsed sweep file, checked; ValueError naming what is wrong."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"sweep file {path} does not exist (see experiments/sweeps/)")
    with open(path) as fh:
        spec = yaml.safe_load(fh) or {}
    unknown = set(spec) - _KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; valid: {sorted(_KEYS)}")
    missing = {"entry", "experiment", "out_key", "out_dir", "axes"} - set(spec)
    if missing:
        raise ValueError(f"{path}: missing keys {sorted(missing)}")
    axes = spec["axes"]
    if not isinstance(axes, dict) or not axes or not all(
            isinstance(values, dict) and values and all(isinstance(o, list) for o in values.values())
            for values in axes.values()):
        raise ValueError(f"{path}: axes must map each axis to labels, each label to a list of overrides")
    summary = spec.setdefault("summary", {})
    if set(summary) - _SUMMARY_KEYS:
        raise ValueError(f"{path}: unknown summary keys {sorted(set(summary) - _SUMMARY_KEYS)}")
    if summary.get("over") is not None and summary["over"] not in axes:
        raise ValueError(f"{path}: summary.over={summary['over']!r} is not an axis ({', '.join(axes)})")
    spec.setdefault("base", [])
    _entry(spec["entry"])
    return spec


def _entry(name):
    module, _, function = name.partition(":")
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"entry {name!r} is not an importable module:function ({error})") from None


def grid(spec):
    """`[(labels {axis: label}, overrides [str])]`: every combination, in axis order."""
    axes = spec["axes"]
    combos = itertools.product(*[list(values.items()) for values in axes.values()])
    return [({axis: label for axis, (label, _) in zip(axes, combo)},
             list(spec["base"]) + [o for _, overrides in combo for o in overrides]) for combo in combos]


def run_name(labels):
    return "__".join(str(label) for label in labels.values()).replace("/", "_").replace(" ", "_")


def run_sweep(spec, log=print):
    """Runs every combination not already done; returns `[result JSON dict]` in grid order."""
    from tf3d import runs

    entry = None
    results = []
    combos = grid(spec)
    for n, (labels, overrides) in enumerate(combos, 1):
        name = run_name(labels)
        path = os.path.join(spec["out_dir"], "results", f"{name}.json")
        if os.path.exists(path):
            with open(path) as fh:
                results.append(json.load(fh))
            continue
        run_dir = os.path.join(spec["out_dir"], "runs", name)
        overrides = overrides + [f"{spec['out_key']}={run_dir}"]
        log(f"[{n}/{len(combos)}] {name}")
        entry = entry or _entry(spec["entry"])
        record = {"labels": labels, "overrides": overrides, "run_dir": run_dir}
        try:
            record["result"] = entry(spec["experiment"], overrides)
        except runs.Diverged as error:  # an outcome of the grid, not a reason to stop it
            log(f"  diverged: {error}")
            record.update(result=None, diverged=str(error))
        runs.write_json(path, record)
        results.append(record)
    return results


def _lookup(result, dotted):
    """`result["a"]["b"]` for "a.b"; a key that holds dots itself (`final.val_iou_0.4`) is matched whole."""
    value, rest = result, dotted
    while rest not in value:
        head, sep, rest = rest.partition(".")
        if not sep:
            raise KeyError(dotted)
        value = value[head]
    return value[rest]


def _rows(spec, results, finished=False):
    """`{row label: [records]}`: results grouped by their labels other than `summary.over`
    (with `finished`, only the runs that did not diverge)."""
    over = spec["summary"].get("over")
    rows = {}
    for record in results:
        if finished and record.get("result") is None:
            continue
        key = " / ".join(str(v) for axis, v in record["labels"].items() if axis != over) or "all"
        rows.setdefault(key, []).append(record)
    return rows


def summarize(spec, results):
    """Writes summary.md/.json (mean ± std of each metric per row) and returns the markdown."""
    from tf3d import runs

    metrics = spec["summary"].get("metrics", [])
    over = spec["summary"].get("over")
    table = {}
    diverged, totals = {}, {}
    for row, records in _rows(spec, results).items():
        table[row] = {}
        diverged[row], totals[row] = sum(r.get("result") is None for r in records), len(records)
        done = [r for r in records if r.get("result") is not None]
        for metric in metrics:
            values = np.array([_lookup(r["result"], metric) for r in done], dtype=float)
            table[row][metric] = {"mean": float(values.mean()) if done else None,
                                  "std": float(values.std()) if done else None, "n": len(values)}
    any_diverged = any(diverged.values())
    header = "| " + " / ".join(a for a in spec["axes"] if a != over) + " | " + \
        " | ".join(m.split(".", 1)[-1] for m in metrics) + (" | diverged |" if any_diverged else " |")
    lines = [header, "|" + "---|" * (len(metrics) + 1 + any_diverged)]
    for row, cells in table.items():
        text = [f"{c['mean']:.4g} ± {c['std']:.2g}" if c["n"] else "—" for c in cells.values()]
        if any_diverged:
            text.append(f"{diverged[row]}/{totals[row]}")
            table[row]["diverged"] = diverged[row]
        lines.append(f"| {row} | " + " | ".join(text) + " |")
    counts = sorted({len(records) for records in _rows(spec, results).values()})
    n = "/".join(str(c) for c in counts)
    markdown = "\n".join(lines) + (f"\n\nmean ± std over {n} values of {over}"
                                    f"{' (the runs that did not diverge)' if any_diverged else ''}.\n"
                                    if over else "\n")
    runs.write_text(os.path.join(spec["out_dir"], "summary.md"), markdown)
    runs.write_json(os.path.join(spec["out_dir"], "summary.json"), table)
    return markdown


def draw(spec, results, max_columns=10):
    """Writes grid.png and curves.png as `summary.picture` / `summary.curves` ask."""
    from PIL import Image

    from tf3d import plots

    summary = spec["summary"]
    rows = _rows(spec, results)
    written = []
    if summary.get("picture"):
        def read(record, name):
            path = os.path.join(record["run_dir"], name)
            return np.asarray(Image.open(path).convert("L")) if os.path.exists(path) else None

        columns = [" / ".join(str(v) for a, v in r["labels"].items() if a == summary.get("over"))
                   for r in next(iter(rows.values()))][:max_columns]
        picture_rows = [[read(r, summary["picture"]) for r in records][:max_columns]
                        for records in rows.values()]
        labels = list(rows)
        if summary.get("header_picture"):
            picture_rows.insert(0, [read(r, summary["header_picture"])
                                    for r in next(iter(rows.values()))][:max_columns])
            labels.insert(0, "target")
        written.append(plots.save_png(os.path.join(spec["out_dir"], "grid.png"),
                                      plots.grid(picture_rows, labels, columns)))
    curves = summary.get("curves")
    if curves:
        series = {}
        for row, records in _rows(spec, results, finished=True).items():
            histories = [r["result"]["history"] for r in records]
            length = min(len(h) for h in histories)
            xs = [h[curves.get("x", "step")] for h in histories[0][:length]]
            ys = np.mean([[h[curves["y"]] for h in history[:length]] for history in histories], axis=0)
            series[row] = (xs, ys)
        image = plots.line_plot(series, title=curves.get("title", ""), x_label=curves.get("x", "step"),
                                y_label=curves["y"], log_y=curves.get("log_y", False))
        written.append(plots.save_png(os.path.join(spec["out_dir"], "curves.png"), image))
    return written


def _sweep(args):
    spec = load_spec(args.sweep)
    if args.dry_run:
        for labels, overrides in grid(spec):
            print(run_name(labels), " ".join(overrides))
        return
    results = run_sweep(spec)
    print(summarize(spec, results))
    for path in draw(spec, results):
        print(f"wrote {path}")


def main(argv=None):
    parser = cli.parser("python -m tf3d.sweep", "Run a grid of overrides of an experiment.")
    parser.add_argument("sweep", help="sweep YAML (experiments/sweeps/*.yaml)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs without running them")
    return cli.run(_sweep, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
