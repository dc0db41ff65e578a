"""Steps/s of the 20-view silhouette fit: `mesh_silhouette` (C++ op) vs a culling pure-TF renderer.

    python benchmarks/mesh_fitting.py [--sizes 64 128] [--steps 3] [--repeats 5] [--tiles 4 8]

One step is what `python -m tf3d.fit experiments/fit_silhouettes.yaml` runs:
a level-4 icosphere (2562 vertices, 5120 faces) rendered from the 20 fitting
views, L2 + soft-IoU silhouette losses, edge / normal / Laplacian
regularizers, gradient and Adam update, as one `tf.function`
(`tf3d.fitting.run.make_step`), with one renderer swapped for the other.

The baseline is `tf3d.ops.mesh_silhouette_binned`: the same SoftRas
silhouette in TensorFlow graph ops with the coarse tile binning a careful
user would write (faces culled to the tiles their grown bounding box meets),
traced into the same `tf.function`, at the best of `--tiles` tile sizes (each
is timed; the fastest counts). Not the brute-force `mesh_silhouette_reference`
the tests use, which evaluates every pixel-face pair (one step at 64x64 took
442 s here). Not under XLA: the number of face-tile pairs is data dependent.

Both sides run in this process on the same targets, warmed up the same way
(one traced step, then one untimed step), then take turns run by run (the
order reversing every round, so that a change in the machine's load hits
all cases alike), and each case is the median of `--repeats` runs of
`--steps` steps. Targets are a sphere's own soft
silhouettes shifted sideways, so no Blender is needed. Prints one line per
case and ends with `ratio fit speedup = X`, the geometric mean over sizes of
op steps/s over the best baseline's.
"""

import argparse
import functools
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf3d.fitting import config as config_lib, run, target as target_lib  # noqa: E402
from tf3d.geometry import icosphere  # noqa: E402
from tf3d.ops import mesh_silhouette  # noqa: E402
from tf3d.ops.mesh_silhouette_binned import mesh_silhouette_binned  # noqa: E402

EXPERIMENT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "experiments", "fit_silhouettes.yaml")


def _fit_step(config, renderer):
    """A warmed-up `step(index)` of the silhouette fit with `renderer`."""
    template, faces = icosphere(config.level, config.radius)
    projection = target_lib.projections(target_lib.fit_views(config.views))
    shifted = tf.broadcast_to((template + [0.05, 0.0, 0.0])[None], [len(projection), *template.shape])
    masks = mesh_silhouette(shifted, faces, projection, config.views.image_size, sigma=1e-5)
    terms, weights = run.loss_terms(config, faces, projection=projection, masks=masks.numpy(),
                                    renderer=renderer)
    offsets = tf.Variable(tf.zeros_like(template))
    step = run.make_step(template, offsets, terms, weights,
                         config_lib.build_optimizer(config.optimizer), config.seed)
    for i in range(2):  # trace, then one untimed step
        float(step(tf.constant(i, tf.int64))[0])
    return step


def _steps_per_second(steps_by_name, steps, repeats):
    """{name: steps/s}: medians of `repeats` runs of `steps` steps, the cases taking turns."""
    names = list(steps_by_name)
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            step = steps_by_name[name]
            start = time.perf_counter()
            for i in range(steps):
                loss = step(tf.constant(i, tf.int64))[0]
            float(loss)
            times[name].append((time.perf_counter() - start) / steps)
    return {name: 1.0 / statistics.median(times[name]) for name in names}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="image sides")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per case (median taken)")
    parser.add_argument("--tiles", type=int, nargs="+", default=[4, 8],
                        help="tile sizes tried for the baseline (the fastest counts)")
    args = parser.parse_args(argv)
    ratios = []
    for size in args.sizes:
        config = config_lib.resolve(EXPERIMENT, [f"views.image_size={size}", "level=4", "views.count=20",
                                                 "views.layout=rings"])
        cases = {"op": _fit_step(config, mesh_silhouette)}
        for tile in args.tiles:
            cases[tile] = _fit_step(config, functools.partial(mesh_silhouette_binned, tile=tile))
        rates = _steps_per_second(cases, args.steps, args.repeats)
        op = rates.pop("op")
        baseline = rates
        print(f"{size}x{size}: op {op:.3f} steps/s; binned pure-TF: " + ", ".join(
            f"tile {tile} {rate:.3f}" for tile, rate in baseline.items()), flush=True)
        best = max(baseline, key=baseline.get)
        ratios.append(op / baseline[best])
        print(f"{size}x{size}, 20 views, 2562 vertices: op {op:8.3f} steps/s, binned pure-TF "
              f"(tile {best}) {baseline[best]:8.3f} steps/s, speedup {op / baseline[best]:.1f}x", flush=True)
    print(f"ratio fit speedup = {float(np.exp(np.mean(np.log(ratios)))):.1f}")


if __name__ == "__main__":
    main()
