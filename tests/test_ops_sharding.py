"""Tests of the kernels' parallel accumulation (csrc/common/sharding.h): results
do not depend on how many threads TensorFlow gives them."""

import pathlib
import subprocess
import sys
import textwrap

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Renders with both ops and takes every gradient; work units (rows, tiles)
# outnumber the threads so that chunks straddle examples.
_RENDER = """
    import sys
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[1]))
    from tf3d.ops import mesh_silhouette, primitives, rasterize, testing, voxel_silhouette

    rng = np.random.default_rng(0)
    results = {}
    for perspective in (True, False):
        projection = tf.constant(testing.cameras(3, 40, perspective))
        occupancy = tf.constant(rng.uniform(0.0, 1.0, (3, 9, 10, 11)), tf.float32)
        vertices, faces = primitives.icosphere(2, radius=0.45)
        vertices = tf.constant(vertices[None] + rng.normal(0, 0.02, (3,) + vertices.shape),
                               tf.float32)
        for name, inputs, render in [
                ("voxel", occupancy, lambda x, p: voxel_silhouette(
                    x, p, (40, 37), num_samples=24, near=1.6, far=3.4, perspective=perspective)),
                ("mesh", vertices, lambda x, p: mesh_silhouette(
                    x, faces, p, (40, 37), sigma=1e-3, perspective=perspective))]:
            with tf.GradientTape() as tape:
                tape.watch([inputs, projection])
                value = render(inputs, projection)
                loss = tf.reduce_sum(value * tf.reshape(tf.range(40.0 * 37.0), [40, 37]))
            grads = tape.gradient(loss, [inputs, projection])
            key = f"{name}_{perspective}"
            results.update({key: value.numpy(), key + "_grad": grads[0].numpy(),
                            key + "_grad_projection": grads[1].numpy()})
        with tf.GradientTape() as tape:
            tape.watch([vertices, projection])
            fragments = rasterize(vertices, faces, projection, (40, 37), perspective=perspective)
            loss = tf.reduce_sum(fragments.barycentrics * [1.0, 2.0, 3.0]) + tf.reduce_sum(
                fragments.depth * tf.reshape(tf.range(40.0 * 37.0), [40, 37]))
        grads = tape.gradient(loss, [vertices, projection])
        key = f"raster_{perspective}"
        results.update({key + "_ids": fragments.face_ids.numpy() + 1,
                        key + "_bary": fragments.barycentrics.numpy(),
                        key + "_depth": fragments.depth.numpy(), key + "_grad": grads[0].numpy(),
                        key + "_grad_projection": grads[1].numpy()})
    np.savez(sys.argv[2], **results)
"""


def _render(threads, path):
    command = [sys.executable, "-c", textwrap.dedent(_RENDER), str(threads), str(path)]
    result = subprocess.run(command, cwd=ROOT, text=True, capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(path)


def test_one_and_many_threads_give_bit_identical_results(tmp_path):
    one = _render(1, tmp_path / "one.npz")
    many = _render(5, tmp_path / "many.npz")
    assert sorted(one.files) == sorted(many.files) and len(one.files) == 22
    for key in one.files:
        assert np.any(one[key]), key
        np.testing.assert_array_equal(one[key], many[key], err_msg=key)
