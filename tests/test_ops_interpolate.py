"""Tests of tf3d.ops.interpolate: vertex attributes over rasterized faces."""

import numpy as np
import pytest
import tensorflow as tf

from tf3d.ops import interpolate, primitives, rasterize, rasterize_reference
from tf3d.ops import testing as ops_testing


def _spheres(batch=2, seed=0):
    vertices, faces = primitives.icosphere(1, radius=0.6)
    rng = np.random.default_rng(seed)
    noisy = vertices[None] + rng.normal(0, 0.02, (batch,) + vertices.shape)
    return noisy.astype(np.float32), faces


def test_values_match_a_loop_over_pixels():
    vertices, faces = _spheres()
    projection = ops_testing.cameras(2, 12)
    fragments = rasterize(vertices, faces, projection, (12, 9))
    rng = np.random.default_rng(1)
    attributes = rng.normal(size=(2, len(vertices[0]), 4)).astype(np.float32)
    out = interpolate(attributes, fragments).numpy()
    ids, bary = fragments.face_ids.numpy(), fragments.barycentrics.numpy()
    expected = np.zeros((2, 12, 9, 4), np.float32)
    for b, r, c in zip(*np.nonzero(ids >= 0)):
        expected[b, r, c] = bary[b, r, c] @ attributes[b, faces[ids[b, r, c]]]
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert np.any(ids < 0) and not np.any(out[ids < 0])
    # Shared [V, C] attributes give the batched result of their copies.
    shared = interpolate(attributes[0], fragments).numpy()
    np.testing.assert_allclose(shared, interpolate(np.stack([attributes[0]] * 2), fragments),
                               atol=1e-7)


def test_interpolated_positions_lie_on_the_pixel_rays():
    # Interpolating the vertices themselves gives the visible surface point,
    # which projects back onto the pixel centre at the fragment's depth: the
    # barycentrics are perspective-correct.
    vertices, faces = _spheres(batch=1, seed=2)
    projection = ops_testing.cameras(1, 16)
    fragments = rasterize(vertices, faces, projection, 16)
    points = interpolate(vertices, fragments).numpy()[0]  # [h, w, 3]
    seen = fragments.face_ids.numpy()[0] >= 0
    homo = points[seen] @ projection[0, :, :3].T + projection[0, :, 3]
    rows, cols = np.nonzero(seen)
    np.testing.assert_allclose(homo[:, 0] / homo[:, 2], cols + 0.5, atol=1e-3)
    np.testing.assert_allclose(homo[:, 1] / homo[:, 2], rows + 0.5, atol=1e-3)
    np.testing.assert_allclose(homo[:, 2], fragments.depth.numpy()[0][seen], rtol=1e-5)


@pytest.mark.parametrize("perspective", [True, False])
def test_jacobian_float64(perspective):
    # w.r.t. the attributes and, through the reference's barycentrics, the vertices.
    vertices, faces = primitives.icosphere(0, radius=0.6)
    vertices = vertices[None].astype(np.float64) + 0.01
    attributes = np.random.default_rng(3).normal(size=(1, len(vertices[0]), 2))
    projection = ops_testing.cameras(1, 5, perspective).astype(np.float64)
    mix = tf.constant(np.random.default_rng(4).normal(size=(3, 5 * 5 * 2)))

    def fn(v, a):
        fragments = rasterize_reference(v, faces, projection, 5, perspective=perspective)
        return tf.linalg.matvec(mix, tf.reshape(interpolate(a, fragments), [-1]))

    ops_testing.assert_jacobians_match(fn, [vertices, attributes], atol=1e-7)


def test_native_and_reference_fragments_give_the_same_gradients():
    vertices, faces = _spheres(batch=1, seed=5)
    attributes = np.random.default_rng(6).normal(size=(len(vertices[0]), 3))
    projection = ops_testing.cameras(1, 14)
    grads = []
    for render, dtype in ((rasterize, tf.float32), (rasterize_reference, tf.float64)):
        v, a = tf.constant(vertices, dtype), tf.constant(attributes, dtype)
        with tf.GradientTape() as tape:
            tape.watch([v, a])
            loss = tf.reduce_sum(interpolate(a, render(v, faces, projection, 14)) ** 2)
        grads.append([g.numpy() for g in tape.gradient(loss, [v, a])])
    for g, ref_g in zip(*grads):
        np.testing.assert_allclose(g, ref_g, atol=1e-4 * np.abs(ref_g).max())


def test_recovers_vertex_colours():
    """Can it optimise? Per-vertex colours come back from the image they paint."""
    vertices, faces = _spheres(batch=3, seed=7)
    fragments = rasterize(vertices, faces, ops_testing.cameras(3, 24), 24)
    target_colours = np.random.default_rng(8).uniform(0, 1, (len(vertices[0]), 1))
    target = interpolate(target_colours, fragments)
    colours = tf.Variable(tf.fill([len(vertices[0]), 1], 0.5))
    optimizer = tf.keras.optimizers.Adam(0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(interpolate(colours, fragments) - target))
        optimizer.apply_gradients([(tape.gradient(loss, colours), colours)])
        return loss

    first = float(step())
    for _ in range(300):
        last = float(step())
    assert last < 1e-4 * first
    # Vertices that colour at least a pixel's worth of barycentric weight are pinned down.
    ones = tf.ones_like(target_colours)
    with tf.GradientTape() as tape:
        tape.watch(ones)
        total = tf.reduce_sum(interpolate(ones, fragments))
    seen = tape.gradient(total, ones).numpy()[:, 0] > 1.0
    assert seen.mean() > 0.8
    np.testing.assert_allclose(colours.numpy()[seen], target_colours[seen], atol=0.02)


def test_empty_mesh_gives_zeros():
    fragments = rasterize(np.zeros((2, 0, 3), np.float32), np.zeros((0, 3), np.int32),
                          ops_testing.cameras(2, 6), 6)
    out = interpolate(np.zeros((2, 0, 5), np.float32), fragments)
    assert out.shape == (2, 6, 6, 5) and not np.any(out.numpy())


def test_argument_errors():
    vertices, faces = _spheres()
    fragments = rasterize(vertices, faces, ops_testing.cameras(2, 6), 6)
    with pytest.raises(ValueError, match="attributes"):
        interpolate(np.zeros((3, 42, 2)), fragments)  # wrong B
    with pytest.raises(ValueError, match="attributes"):
        interpolate(np.zeros(42), fragments)
    with pytest.raises(ValueError, match="fragments"):
        interpolate(np.zeros((42, 2)), tuple(fragments))
    with pytest.raises(tf.errors.InvalidArgumentError, match="attributes"):
        interpolate(np.zeros((40, 2)), fragments)  # fewer vertices than the faces index
