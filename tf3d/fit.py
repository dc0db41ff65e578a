"""`python -m tf3d.fit EXPERIMENT.yaml [--set key=value ...]`: fit an icosphere to a mesh.

See `tf3d.fitting.run` for what is written to the output directory and
`tf3d.fitting.config` for the keys (`experiments/fit_points.yaml`,
`experiments/fit_silhouettes.yaml`).
"""

import sys

from tf3d import cli


def _fit(args):
    from tf3d.fitting import config, run

    cfg = config.resolve(args.experiment, args.overrides)
    result = run.fit(cfg, progress=not args.no_progress)
    print(run.format_metrics(result))
    print(f"wrote {cfg.out_dir}/fitted.obj, strip.png, metrics.json")


def main(argv=None):
    parser = cli.parser("python -m tf3d.fit", "Deform an icosphere to fit a target mesh.")
    cli.add_experiment_arguments(parser, "experiments/fit_points.yaml")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return cli.run(_fit, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
