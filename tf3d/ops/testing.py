"""Test helpers for `tf3d.ops` (cameras, op-vs-reference checks), shared by tests/test_ops_*.py."""

import numpy as np
import tensorflow as tf

from tf3d import conventions


def cameras(batch, image_size, perspective=True, elevation=30.0, half_extent=0.7):
    """`[B, 3, 4]` float32 cameras at evenly spaced azimuths (conventions' model)."""
    views = conventions.ViewpointSet(azimuths=tuple(360.0 * i / batch + 10.0 for i in range(batch)),
                                     elevation=elevation, image_size=image_size)
    if perspective:
        return views.projections().astype(np.float32)
    return np.stack([conventions.orthographic_matrix(e, half_extent, image_size)
                     for e in views.extrinsics()]).astype(np.float32)


def value_and_gradient(render, inputs, dtype):
    """Silhouette and the gradient of a pixel-weighted sum of it w.r.t. `inputs`."""
    x = tf.constant(inputs, dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = render(x)
        weights = tf.cast(tf.reshape(tf.range(tf.size(out[0])), out.shape[1:]), out.dtype)
        loss = tf.reduce_sum(out * (1.0 + 0.01 * weights))
    return out.numpy(), tape.gradient(loss, x).numpy()


def assert_matches_reference(op, reference, inputs):
    """Op (float32) against reference (float64): values 1e-5, gradients 1e-4 relative."""
    value, grad = value_and_gradient(op, inputs, tf.float32)
    ref_value, ref_grad = value_and_gradient(reference, inputs, tf.float64)
    assert value.dtype == np.float32 and value.shape == ref_value.shape
    np.testing.assert_allclose(value, ref_value, atol=1e-5, rtol=0)
    scale = np.abs(ref_grad).max()
    assert scale > 0, "the test inputs must produce a nonzero gradient"
    np.testing.assert_allclose(grad / scale, ref_grad / scale, atol=1e-4, rtol=0)
    return value, grad


def jacobian_error(fn, inputs):
    """Max |analytic - numeric| Jacobian entry of `fn` at float64 `inputs`."""
    theoretical, numerical = tf.test.compute_gradient(fn, [tf.constant(inputs, tf.float64)],
                                                      delta=1e-6)
    return max(np.abs(t - n).max() for t, n in zip(theoretical, numerical))
