"""Tests of tf3d.ops.voxel_silhouette_xla, the XLA-compiled pure-TF baseline of the benchmarks."""

import numpy as np
import pytest
import tensorflow as tf

from tf3d.ops import testing as ops_testing
from tf3d.ops import voxel_silhouette_reference
from tf3d.ops.voxel_silhouette_xla import render_xla, voxel_silhouette_xla

KWARGS = dict(num_samples=11, near=2.5 - 0.87, far=2.5 + 0.87)


@pytest.mark.parametrize("perspective", [True, False])
@pytest.mark.parametrize("mode", ["drc", "max"])
def test_matches_reference(perspective, mode):
    # Values and both gradients, on a non-cubic grid with some opaque voxels.
    rng = np.random.default_rng(3)
    occupancy = rng.uniform(0.0, 1.0, (2, 6, 5, 7))
    occupancy[0, 2, 2, 3] = 1.0
    projection = ops_testing.cameras(2, 12, perspective)
    kwargs = dict(KWARGS, perspective=perspective, mode=mode)
    value, _ = ops_testing.assert_matches_reference(
        lambda x, p: voxel_silhouette_xla(x, p, (12, 10), **kwargs),
        lambda x, p: voxel_silhouette_reference(x, p, (12, 10), **kwargs),
        (occupancy, projection))
    assert 0.05 < value.mean() < 0.95


def test_compiles_with_its_gradient_in_one_xla_step():
    # The benchmark compiles forward and backward together.
    occupancy = tf.constant(np.random.default_rng(4).uniform(0, 1, (1, 5, 5, 5)), tf.float32)
    projection = tf.constant(ops_testing.cameras(1, 8))

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(render_xla(x, projection, 8, 8, KWARGS["num_samples"], KWARGS["near"], KWARGS["far"],
                                            True, "drc"))
        return loss, tape.gradient(loss, x)

    loss, grad = step(occupancy)
    with tf.GradientTape() as tape:
        tape.watch(occupancy)
        ref = tf.reduce_sum(voxel_silhouette_reference(occupancy, projection, 8, **KWARGS))
    np.testing.assert_allclose(loss.numpy(), ref.numpy(), rtol=1e-5)
    np.testing.assert_allclose(grad.numpy(), tape.gradient(ref, occupancy).numpy(), rtol=1e-4,
                               atol=1e-6)


def test_checks_arguments_before_compiling():
    with pytest.raises(tf.errors.InvalidArgumentError, match="probabilities"):
        voxel_silhouette_xla(np.full((1, 4, 4, 4), 1.5, np.float32), ops_testing.cameras(1, 8), 8,
                             **KWARGS)
