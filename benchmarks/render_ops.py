"""Speed and memory of the silhouette ops against their pure-TensorFlow references.

    python benchmarks/render_ops.py            # ~3-5 minutes on 2 CPU cores

Measures forward + backward (gradient of a weighted sum of the silhouettes)
in one process for
  voxels: B=32, 32^3 grid, 64x64 silhouettes, 64 samples per ray, perspective;
  mesh:   B=8, icosphere with 2562 vertices / 5120 faces, 128x128, sigma=1e-4.
Peak memory is the process's resident set sampled every millisecond, minus
its level just before the measurement (after returning free heap pages to the
OS), so op and reference are measured the same way. The mesh reference
renders `MESH_CHUNK_ROWS` rows at a time under `tf.recompute_grad`, since
all 128 x 128 x 5120 pixel-face pairs at once need tens of GB.
Targets: voxel speedup >= 5, mesh speedup >= 10, mesh memory ratio < 0.25.
"""

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
from tf3d.ops.mesh_silhouette_reference import mesh_silhouette_reference  # noqa: E402
from tf3d.ops.voxel_silhouette import voxel_silhouette  # noqa: E402
from tf3d.ops.voxel_silhouette_reference import voxel_silhouette_reference  # noqa: E402

MESH_CHUNK_ROWS = 4
_PAGE = os.sysconf("SC_PAGE_SIZE")


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


def forward_backward(render, inputs):
    def run():
        x = tf.constant(inputs)
        with tf.GradientTape() as tape:
            tape.watch(x)
            silhouette = render(x)
            loss = tf.reduce_sum(silhouette * tf.linspace(0.5, 1.5, silhouette.shape[-1]))
        return tape.gradient(loss, x).numpy()
    return run


def cameras(batch, image_size):
    views = conventions.ViewpointSet(azimuths=tuple(360.0 * i / batch for i in range(batch)),
                                     image_size=image_size)
    return views.projections().astype(np.float32), views.distance


def voxel_case():
    batch, resolution, size, samples = 32, 32, 64, 64
    projection, distance = cameras(batch, size)
    rng = np.random.default_rng(0)
    centres = conventions.voxel_centers(resolution)
    radius = np.linalg.norm(np.stack(np.meshgrid(centres, centres, centres, indexing="ij")), axis=0)
    ball = 1.0 / (1.0 + np.exp((radius - 0.35) / 0.03))
    occupancy = np.clip(ball + rng.uniform(0, 0.05, (batch,) + ball.shape), 0, 1).astype(np.float32)
    half = math.sqrt(3.0) * conventions.CUBE_HALF
    kwargs = dict(num_samples=samples, near=distance - half, far=distance + half, perspective=True)
    op = forward_backward(lambda x: voxel_silhouette(x, projection, size, **kwargs), occupancy)
    ref = forward_backward(lambda x: voxel_silhouette_reference(x, projection, size, **kwargs),
                           occupancy)
    return op, ref


def mesh_case():
    batch, size, sigma = 8, 128, 1e-4
    projection, _ = cameras(batch, size)
    vertices, faces = primitives.icosphere(4, radius=0.4)
    assert vertices.shape == (2562, 3) and faces.shape == (5120, 3)
    inputs = np.repeat(vertices[None], batch, axis=0)
    op = forward_backward(lambda x: mesh_silhouette(x, faces, projection, size, sigma=sigma), inputs)
    ref = forward_backward(lambda x: mesh_silhouette_reference(
        x, faces, projection, size, sigma=sigma, chunk_rows=MESH_CHUNK_ROWS), inputs)
    return op, ref


def main():
    backend.set_implementation("native")
    print(f"library: {build.build_library()}")
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs")
    results = {}
    for name, case, ref_repeats in (("voxel", voxel_case, 2), ("mesh", mesh_case, 1)):
        op, ref = case()
        op()  # warm up: load the library, trace nothing (eager), fault in pages
        op_time, op_mem = measure(op, 5)
        ref_time, ref_mem = measure(ref, ref_repeats)
        results[name] = (ref_time / op_time, op_mem / max(ref_mem, 1))
        print(f"{name}: op {op_time * 1e3:9.1f} ms  peak {op_mem / 2**20:8.1f} MiB | "
              f"reference {ref_time * 1e3:9.1f} ms  peak {ref_mem / 2**20:8.1f} MiB"
              + (f" (chunks of {MESH_CHUNK_ROWS} rows)" if name == "mesh" else ""))
    print(f"ratio voxel speedup = {results['voxel'][0]:.1f}")
    print(f"ratio mesh speedup = {results['mesh'][0]:.1f}")
    print(f"ratio mesh memory = {results['mesh'][1]:.4f}")


if __name__ == "__main__":
    main()
