"""Steps/s of the 20-view silhouette fit: `mesh_silhouette` (C++ op) vs its pure-TF reference.

    python benchmarks/mesh_fitting.py [--steps 20] [--reference-steps 2] [--repeats 3]

One step is what `python -m tf3d.fit experiments/fit_silhouettes.yaml` runs:
a level-4 icosphere (2562 vertices, 5120 faces) rendered from the 20 fitting
views, L2 + soft-IoU silhouette losses, edge / normal / Laplacian
regularizers, gradient and Adam update, as one `tf.function`
(`tf3d.fitting.run.make_step`). Both implementations run in this process on
the same masks, warmed up the same way (one traced step, then one untimed
step), each timing the median of `--repeats` runs. The reference renders
`chunk_rows` image rows at a time under `tf.recompute_grad` (the memory the
full `[20, h, w, 5120]` evaluation would need does not fit in RAM) and runs
eagerly: inside a `tf.function` the executor recomputes all chunks' gradients
in parallel and holds them at once (22 GB at 64x64 before the kernel killed
it), while eagerly they run one after the other; next to chunks of 13 million
pixel-face pairs the eager overhead is nothing. It is slow, so it times fewer
steps: one reference step at 64x64 took 442 s here (chunk_rows=4, a CPU
shared with another job), so the defaults run for well over an hour. Targets are a sphere's own soft silhouettes
shifted sideways, so no Blender is needed. Prints one line per case and ends
with `ratio fit speedup = X` (the geometric mean of the two sizes' ratios).
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
from tf3d.ops import mesh_silhouette, mesh_silhouette_reference  # noqa: E402


def _steps_per_second(config, renderer, steps, repeats, eager=False):
    template, faces = icosphere(config.level, config.radius)
    projection = target_lib.projections(target_lib.fit_views(config.views))
    masks = mesh_silhouette(tf.broadcast_to((template + [0.05, 0.0, 0.0])[None], [len(projection), *template.shape]),
                            faces, projection, config.views.image_size, sigma=1e-5)
    terms, weights = run.loss_terms(config, faces, projection=projection, masks=masks.numpy(),
                                    renderer=renderer)
    offsets = tf.Variable(tf.zeros_like(template))
    step = run.make_step(template, offsets, terms, weights, config_lib.build_optimizer(config.optimizer),
                         config.seed)
    if eager:  # nothing to trace: one untimed step
        step = step.python_function
    for i in range(1 if eager else 2):  # trace, then one untimed step
        float(step(tf.constant(i, tf.int64))[0])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(steps):
            loss = step(tf.constant(i, tf.int64))[0]
        float(loss)
        times.append((time.perf_counter() - start) / steps)
    return 1.0 / statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps of the op per run")
    parser.add_argument("--reference-steps", type=int, default=2, help="timed steps of the reference per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the op per case (median taken)")
    parser.add_argument("--reference-repeats", type=int, default=3, help="runs of the reference per case")
    parser.add_argument("--chunk-rows", type=int, default=1, help="rows per chunk of the reference")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    args = parser.parse_args(argv)
    experiment = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "experiments", "fit_silhouettes.yaml")
    ratios = []
    for size in args.sizes:
        config = config_lib.resolve(experiment, [f"views.image_size={size}", "level=4", "views.count=20",
                                                 "views.layout=rings"])
        reference = functools.partial(mesh_silhouette_reference, chunk_rows=args.chunk_rows)
        op = _steps_per_second(config, mesh_silhouette, args.steps, args.repeats)
        print(f"{size}x{size}: op {op:.3f} steps/s", flush=True)
        ref = _steps_per_second(config, reference, args.reference_steps, args.reference_repeats,
                                eager=True)
        ratios.append(op / ref)
        print(f"{size}x{size}, 20 views, 2562 vertices: op {op:8.3f} steps/s, reference {ref:8.4f} steps/s, "
              f"speedup {op / ref:.1f}x", flush=True)
    print(f"ratio fit speedup = {float(np.exp(np.mean(np.log(ratios)))):.1f}")


if __name__ == "__main__":
    main()
