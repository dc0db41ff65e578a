"""Tests of tf3d.ops.mesh_silhouette_binned (the culling pure-TF baseline) against the brute-force reference."""

import numpy as np
import pytest
import tensorflow as tf

from tf3d.ops import mesh_silhouette_reference, primitives
from tf3d.ops import testing as ops_testing
from tf3d.ops.mesh_silhouette_binned import mesh_silhouette_binned


def _bumpy_spheres(batch, seed):
    vertices, faces = primitives.icosphere(2, radius=0.4)
    rng = np.random.default_rng(seed)
    return vertices[None] + rng.normal(0, 0.03, (batch,) + vertices.shape), faces


@pytest.mark.parametrize("perspective", [True, False])
@pytest.mark.parametrize("size,tile", [((19, 13), 4), ((40, 33), 8), (24, 16)])
def test_matches_brute_force_reference(perspective, size, tile):
    # image sides that are not multiples of the tile: partial tiles on two borders
    vertices, faces = _bumpy_spheres(2, seed=1)
    projection = ops_testing.cameras(2, size if isinstance(size, int) else size[0],
                                     perspective).astype(np.float64)
    args = dict(faces=faces, projection=projection, image_size=size, sigma=3e-4, perspective=perspective)
    value, grad = ops_testing.value_and_gradient(
        lambda v: mesh_silhouette_binned(v, tile=tile, **args), vertices, tf.float64)
    ref_value, ref_grad = ops_testing.value_and_gradient(
        lambda v: mesh_silhouette_reference(v, **args), vertices, tf.float64)
    assert value.max() > 0.99 and value.min() < 0.01
    np.testing.assert_allclose(value, ref_value, atol=1e-12)
    assert np.abs(ref_grad).max() > 0
    np.testing.assert_allclose(grad, ref_grad, atol=1e-10 * np.abs(ref_grad).max())


def test_camera_gradient_matches_reference():
    vertices, faces = _bumpy_spheres(1, seed=2)
    projection = ops_testing.cameras(1, 20).astype(np.float64)
    grads = []
    for render in (mesh_silhouette_binned, mesh_silhouette_reference):
        p = tf.constant(projection)
        with tf.GradientTape() as tape:
            tape.watch(p)
            out = render(vertices, faces, p, 20, sigma=1e-3)
            loss = tf.reduce_sum(out * tf.reshape(tf.range(400, dtype=out.dtype), [1, 20, 20]) / 400.0)
        grads.append(tape.gradient(loss, p).numpy())
    assert np.abs(grads[1]).max() > 0
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-9 * np.abs(grads[1]).max())


def test_offscreen_and_behind_camera_faces_contribute_nothing():
    vertices, faces = _bumpy_spheres(1, seed=3)
    projection = ops_testing.cameras(1, 16)
    far_away = vertices + np.array([50.0, 0.0, 0.0])  # projects far outside the image
    out = mesh_silhouette_binned(far_away.astype(np.float32), faces, projection, 16, sigma=1e-3)
    assert out.shape == (1, 16, 16) and float(tf.reduce_max(out)) == 0.0


def test_in_tf_function_with_changing_face_tile_count():
    vertices, faces = _bumpy_spheres(1, seed=4)
    projection = ops_testing.cameras(1, 16)
    render = tf.function(lambda v: mesh_silhouette_binned(v, faces, projection, 16, sigma=1e-3))
    small, large = render(tf.constant(0.5 * vertices, tf.float32)), render(tf.constant(vertices, tf.float32))
    assert float(tf.reduce_sum(small)) < float(tf.reduce_sum(large))


def test_rejects_bad_tile():
    vertices, faces = _bumpy_spheres(1, seed=5)
    with pytest.raises(ValueError, match="tile"):
        mesh_silhouette_binned(vertices, faces, ops_testing.cameras(1, 8), 8, sigma=1e-3, tile=0)
