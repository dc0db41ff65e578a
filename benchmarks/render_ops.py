"""Speed of the silhouette ops against the best pure-TensorFlow alternatives.

    python benchmarks/render_ops.py            # about 10 minutes on 2 CPU cores
    python benchmarks/render_ops.py --quick    # tiny sizes, seconds (the smoke test runs it)

Forward + backward (the gradient of a pixel-weighted sum of the silhouettes
with respect to the occupancies or vertices), each side one `tf.function`:

  voxel: `voxel_silhouette` against `voxel_silhouette_xla`, the reference's
         density integral with all eight trilinear corners in one gather,
         forward and backward compiled together by XLA
         (`tf.function(jit_compile=True)`); B=8, 32^3 grids, 64x64, 64 samples
         per ray, perspective.
  mesh:  `mesh_silhouette` against `mesh_silhouette_binned`, SoftRas in graph
         ops with faces culled to the image tiles their grown bounding box
         meets, at the fastest of 4-, 8- and 16-pixel tiles (all three
         take turns with the op; the lowest median counts). As a graph, not under XLA:
         XLA compiles it but pads its data-dependent list of face-tile pairs
         to every face against every tile, tens of times slower (the script
         times both on a small case and prints them). B=8 views, sigma=1e-4,
         icospheres of 1280, 5120 and 20480 faces at 128x128, and 5120
         faces at 64x64, 128x128 and 256x256.
The brute-force references the tests use (every pixel-face pair, ray samples
op by op) are not baselines: no one would write a renderer that way for speed.

Both sides run in this process on the same inputs, traced and warmed up the
same way (two untimed calls), then take turns call by call (the order
reversing every round), and each number is the median of `--repeats` calls. Ratios
are baseline time / op time (> 1: the op is faster). No memory column: in
one process, TensorFlow and XLA keep the buffers of the warm-up calls, so a
call's growth of the resident set says nothing about what it needs
(`benchmarks/chamfer.py` runs a process per case for that; `measure` below
is its sampler). Ends with the lines the README quotes:
`ratio voxel = X` (target >= 5) and `ratio mesh 5k faces 128^2 = Y`
(target >= 10).
"""

import argparse
import ctypes
import math
import os
import statistics
import sys
import threading
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tf3d import conventions  # noqa: E402
from tf3d.ops import backend, build, primitives  # noqa: E402
from tf3d.ops.mesh_silhouette import mesh_silhouette  # noqa: E402
from tf3d.ops.mesh_silhouette_binned import mesh_silhouette_binned  # noqa: E402
from tf3d.ops.mesh_silhouette_binned import render_checked as binned_render_checked  # noqa: E402
from tf3d.ops.voxel_silhouette import voxel_silhouette  # noqa: E402
from tf3d.ops.voxel_silhouette_xla import render_xla  # noqa: E402

_PAGE = os.sysconf("SC_PAGE_SIZE")
TILES = (4, 8, 16)


def _rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * _PAGE


def _trim():
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the baseline just includes free heap
        pass


def measure(fn, repeats):
    """(median seconds, peak resident bytes above the starting level) of `fn()`."""
    times, peak = [], 0
    for _ in range(repeats):
        _trim()
        base = _rss()
        top = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                top[0] = max(top[0], _rss())
                time.sleep(0.001)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        done.set()
        sampler.join()
        peak = max(peak, max(top[0], _rss()) - base)
    return statistics.median(times), peak


def interleaved(fns, repeats):
    """Median seconds of each of `fns`, called in turn `repeats` times (the order alternating)."""
    times = [[] for _ in fns]
    for i in range(repeats):
        for k in (range(len(fns)) if i % 2 == 0 else reversed(range(len(fns)))):
            start = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def gradient_step(render, inputs, jit_compile=False):
    """A warmed-up `step()`: the gradient of a pixel-weighted silhouette sum w.r.t. `inputs`.

    The weights make every pixel's gradient differ, as a real loss would.
    """
    x = tf.constant(inputs)

    @tf.function(jit_compile=jit_compile)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            silhouette = render(x)
            loss = tf.reduce_sum(silhouette * tf.linspace(0.5, 1.5, silhouette.shape[-1]))
        return tape.gradient(loss, x)

    def run():
        return step(x).numpy()

    run()  # trace (and compile)
    run()  # untimed: fault in pages, size the allocator's pools
    return run


def cameras(batch, image_size):
    views = conventions.ViewpointSet(azimuths=tuple(360.0 * i / batch for i in range(batch)),
                                     image_size=image_size)
    return views.projections().astype(np.float32), views.distance


def voxel_steps(batch, resolution, size, samples):
    """(op step, XLA baseline step) for DRC silhouettes of noisy balls."""
    projection, distance = cameras(batch, size)
    rng = np.random.default_rng(0)
    centres = conventions.voxel_centers(resolution)
    radius = np.linalg.norm(np.stack(np.meshgrid(centres, centres, centres, indexing="ij")), axis=0)
    ball = 1.0 / (1.0 + np.exp((radius - 0.35) / 0.03))
    occupancy = np.clip(ball + rng.uniform(0, 0.05, (batch,) + ball.shape), 0, 1).astype(np.float32)
    half = math.sqrt(3.0) * conventions.CUBE_HALF
    near, far = distance - half, distance + half
    op = gradient_step(lambda x: voxel_silhouette(x, projection, size, num_samples=samples,
                                                  near=near, far=far), occupancy)
    # The arguments are valid by construction; the compiled step is the rendering alone.
    projection = tf.constant(projection)
    baseline = gradient_step(lambda x: render_xla(x, projection, size, size, samples, near, far,
                                                  True, "drc"), occupancy, jit_compile=True)
    return op, baseline


def mesh_steps(batch, level, size, sigma, tiles):
    """(op step, {tile: binned step}, faces) for a level-`level` icosphere."""
    projection, _ = cameras(batch, size)
    vertices, faces = primitives.icosphere(level, radius=0.4)
    inputs = np.repeat(vertices[None], batch, axis=0).astype(np.float32)
    op = gradient_step(lambda x: mesh_silhouette(x, faces, projection, size, sigma=sigma), inputs)
    binned = {tile: gradient_step(lambda x, t=tile: mesh_silhouette_binned(
        x, faces, projection, size, sigma=sigma, tile=t), inputs) for tile in tiles}
    return op, binned, len(faces)


def binned_xla_against_graph(repeats):
    """(graph seconds, XLA seconds) of the culling baseline on a small case (2 views, 1280 faces, 64^2).

    XLA compiles it, but pads the data-dependent list of face-tile pairs
    (`tf.where`) to its bound, every face against every tile, so it is far
    slower; this shows it in the same run rather than asserting it.
    """
    projection, _ = cameras(2, 64)
    vertices, faces = primitives.icosphere(3, radius=0.4)
    inputs = np.repeat(vertices[None], 2, axis=0).astype(np.float32)
    graph = gradient_step(lambda x: mesh_silhouette_binned(x, faces, projection, 64, sigma=1e-4),
                          inputs)
    projection, faces = tf.constant(projection), tf.constant(faces)
    xla = gradient_step(lambda x: binned_render_checked(x, faces, projection, 64, 64, 1e-4, True, 8),
                        inputs, jit_compile=True)
    return interleaved([graph, xla], repeats)


def _row(name, op_time, base_time, what):
    print(f"| {name:<24} | {op_time * 1e3:9.1f} ms | {what:<24} | {base_time * 1e3:9.1f} ms | "
          f"{base_time / op_time:6.1f}x |", flush=True)
    return base_time / op_time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and 3 repeats: checks that the benchmark runs, measures nothing")
    parser.add_argument("--repeats", type=int, default=None, help="calls per side (median; default 5)")
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("ERROR")  # each case traces its own steps: retracing warnings are noise
    repeats = args.repeats or (3 if args.quick else 5)
    backend.set_implementation("native")
    print(f"library: {build.build_library()}")
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'} intra-op threads, "
          f"median of {repeats} interleaved calls per side")
    if args.quick:
        voxel = dict(batch=2, resolution=8, size=16, samples=8)
        levels, sizes, batch, reference_case = (1,), (16,), 2, (1, 16)
    else:
        voxel = dict(batch=8, resolution=32, size=64, samples=64)
        levels, sizes, batch, reference_case = (3, 4, 5), (64, 128, 256), 8, (4, 128)
    print(f"| {'case':<24} | {'op':>12} | {'baseline':<24} | {'baseline':>12} | speedup |")
    ratios = {}
    ratios["voxel"] = _row(f"voxel {voxel['resolution']}^3 {voxel['size']}^2",
                           *interleaved(voxel_steps(**voxel), repeats), "XLA pure-TF")
    cases = [(level, reference_case[1]) for level in levels]
    cases += [(reference_case[0], size) for size in sizes if size != reference_case[1]]
    for level, size in cases:
        op, binned, num_faces = mesh_steps(batch, level, size, 1e-4,
                                           TILES[:2] if args.quick else TILES)
        op_time, *binned_times = interleaved([op, *binned.values()], repeats)
        best = int(np.argmin(binned_times))
        ratios[(level, size)] = _row(f"mesh {num_faces} faces {size}^2", op_time, binned_times[best],
                                     f"culling pure-TF ({list(binned)[best]} px)")
    if not args.quick:
        graph_time, xla_time = binned_xla_against_graph(3)
        print(f"culling pure-TF, 2 views, 1280 faces, 64^2: graph {graph_time * 1e3:.1f} ms, "
              f"XLA {xla_time * 1e3:.1f} ms (padded to every face-tile pair): timed as a graph")
    print(f"ratio voxel = {ratios['voxel']:.1f}")
    for (level, size), speedup in sorted((k, v) for k, v in ratios.items() if k != "voxel"):
        count = 20 * 4 ** level
        print(f"ratio mesh {round(count / 1000) if count >= 1000 else count}"
              f"{'k' if count >= 1000 else ''} faces {size}^2 = {speedup:.1f}")
    return ratios


if __name__ == "__main__":
    main()
