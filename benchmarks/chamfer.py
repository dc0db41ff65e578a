"""Time and memory of `chamfer_distance` on 10k x 10k points, chunked against one dense block.

    python benchmarks/chamfer.py            # ~1 minute on 2 CPU cores

Measures value + gradient with respect to both point sets (B = 1,
N = M = 10,000 uniform points in the unit cube, float32, `tf.function`,
warmed up, median of 5) for
  chunked:  `chamfer_distance` with its default chunk (2^22 / M = 419 rows);
  one block: the same code with `chunk_size=N`, i.e. the whole [N, M] matrix at once;
  dense XLA: the textbook formulation, `|x|^2 + |y|^2 - 2 x.y` as one [N, M]
             matrix reduced by `reduce_min` both ways, compiled with XLA
             (`jit_compile=True`): the best plain-TensorFlow alternative.
Each case runs in its own process: TensorFlow's CPU allocator keeps freed
blocks, so a second case in the same process would reuse the first one's
memory. Peak memory is the process's high-water resident set
(`ru_maxrss`) minus its resident set just before the first (tracing) call;
time is the median of the later calls (`benchmarks/render_ops.py`'s `measure`).
"""

import os
import resource
import subprocess
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.render_ops import _rss, _trim, measure  # noqa: E402
from tf3d.losses.chamfer import chamfer_distance  # noqa: E402

NUM_POINTS = 10_000
REPEATS = 5


def _dense(x, y):
    d2 = (tf.reduce_sum(x * x, -1)[:, :, None] + tf.reduce_sum(y * y, -1)[:, None, :]
          - 2.0 * tf.matmul(x, y, transpose_b=True))  # [B, N, M]
    return tf.reduce_mean(tf.reduce_min(d2, 2)) + tf.reduce_mean(tf.reduce_min(d2, 1))


def _value_and_gradient(loss):
    @tf.function(jit_compile=loss is _dense)
    def step(x, y):
        with tf.GradientTape() as tape:
            tape.watch([x, y])
            value = loss(x, y)
        return value, tape.gradient(value, [x, y])
    return step


CASES = {
    "chunked": lambda a, b: chamfer_distance(a, b)[0],
    "one block": lambda a, b: chamfer_distance(a, b, chunk_size=NUM_POINTS)[0],
    "dense XLA": _dense,
}


def run_case(name):
    """Prints `seconds peak_bytes value` for one case, in this process."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(1, NUM_POINTS, 3)), tf.float32)
    y = tf.constant(rng.uniform(size=(1, NUM_POINTS, 3)), tf.float32)
    step = _value_and_gradient(CASES[name])
    _trim()
    base = _rss()
    value = float(step(x, y)[0])  # warm up: trace, compile, fault in pages
    seconds, _ = measure(lambda: [t.numpy() for t in tf.nest.flatten(step(x, y))], REPEATS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    print(f"{seconds} {peak} {value}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        return run_case(sys.argv[2])
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, N = M = {NUM_POINTS}, float32")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    results = {}
    for name in CASES:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--case", name],
                             capture_output=True, text=True, env=env, check=True).stdout
        seconds, peak, value = (float(v) for v in out.split()[-3:])
        results[name] = seconds, peak
        print(f"{name:10s} {seconds:7.3f} s  peak {peak / 2**20:8.1f} MiB  value {value:.6f}")
    base_time, base_peak = results["chunked"]
    for name in ("one block", "dense XLA"):
        seconds, peak = results[name]
        print(f"ratio {name} / chunked: time {seconds / base_time:.2f}, "
              f"memory {peak / max(base_peak, 1):.1f}")


if __name__ == "__main__":
    main()
