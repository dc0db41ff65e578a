"""Tests of tf3d.ops.mesh_silhouette (C++ op) and its pure-TF reference."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tf3d.ops import testing as ops_testing
from tf3d import alignment, conventions
from tf3d.ops import mesh_silhouette, mesh_silhouette_reference, primitives


def _bumpy_spheres(batch, seed):
    vertices, faces = primitives.icosphere(1, radius=0.4)
    rng = np.random.default_rng(seed)
    scales = np.linspace(0.8, 1.2, batch)[:, None, None]
    return vertices[None] * scales + rng.normal(0, 0.03, (batch,) + vertices.shape), faces


@pytest.mark.parametrize("perspective", [True, False])
@pytest.mark.parametrize("sigma", [3e-3, 3e-4])
def test_op_matches_reference(perspective, sigma):
    vertices, faces = _bumpy_spheres(2, seed=4)
    projection = ops_testing.cameras(2, 14, perspective)
    value, grad = ops_testing.assert_matches_reference(
        lambda v: mesh_silhouette(v, faces, projection, (14, 11), sigma=sigma,
                                  perspective=perspective),
        lambda v: mesh_silhouette_reference(v, faces, projection.astype(np.float64), (14, 11),
                                            sigma=sigma, perspective=perspective),
        vertices)
    assert value.shape == (2, 14, 11)
    assert value.max() > 0.99 and value.min() < 0.01  # both inside and outside pixels


def test_reference_chunks_agree_with_whole_image():
    vertices, faces = _bumpy_spheres(1, seed=5)
    projection = ops_testing.cameras(1, 10).astype(np.float64)
    render = functools.partial(mesh_silhouette_reference, faces=faces, projection=projection,
                               image_size=10, sigma=1e-3)
    whole = ops_testing.value_and_gradient(render, vertices, tf.float64)
    chunked = ops_testing.value_and_gradient(functools.partial(render, chunk_rows=3), vertices,
                                             tf.float64)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.slow
def test_reference_jacobian_float64():
    vertices, faces = primitives.icosphere(0, radius=0.4)
    vertices = vertices[None] + np.random.default_rng(6).normal(0, 0.02, (1,) + vertices.shape)
    for perspective in (True, False):
        projection = ops_testing.cameras(1, 6, perspective).astype(np.float64)
        fn = functools.partial(mesh_silhouette_reference, faces=faces, projection=projection,
                               image_size=6, sigma=0.05, perspective=perspective)
        assert ops_testing.jacobian_error(fn, vertices) < 1e-6


def test_cube_lines_up_with_numpy_voxel_projection():
    # A cube mesh filling the voxel cube and the full voxel grid must cover
    # the same pixels: an independent check of the camera convention.
    size = 40
    vertices, faces = primitives.box(conventions.CUBE_HALF)
    projection = ops_testing.cameras(1, size, elevation=25.0)
    expected = alignment.voxel_coverage(np.ones((4, 4, 4), bool), projection[0], size) > 0.5
    silhouette = mesh_silhouette(vertices[None], faces, projection, size, sigma=1e-6)[0].numpy()
    assert np.mean((silhouette > 0.5) != expected) < 0.01


def test_far_faces_are_skipped_exactly():
    # A triangle whose D at a pixel is far below 1e-5 leaves it at exactly 0.
    vertices = np.array([[[-0.05, -0.05, 0.0], [0.05, -0.05, 0.0], [0.0, 0.05, 0.0]]], np.float32)
    projection = ops_testing.cameras(1, 32)
    out = mesh_silhouette(vertices, [[0, 1, 2]], projection, 32, sigma=1e-4).numpy()[0]
    assert out[0, 0] == 0.0 and out[16, 16] > 0.5


def test_inside_tf_function_and_tape():
    vertices, faces = _bumpy_spheres(3, seed=7)
    projection = ops_testing.cameras(3, 16)

    @tf.function
    def loss_and_grad(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            loss = tf.reduce_mean(mesh_silhouette(v, faces, projection, 16, sigma=1e-3))
        return loss, tape.gradient(loss, v)

    v = tf.constant(vertices, tf.float32)
    loss, grad = loss_and_grad(v)
    eager = tf.reduce_mean(mesh_silhouette(v, faces, projection, 16, sigma=1e-3))
    np.testing.assert_allclose(loss.numpy(), eager.numpy(), rtol=1e-6)
    assert grad.shape == (3, 42, 3) and np.abs(grad.numpy()).max() > 0


@pytest.mark.parametrize("vertices, faces, projection, kwargs, message", [
    (np.zeros((4, 3)), [[0, 1, 2]], np.zeros((1, 3, 4)), {}, "vertices"),
    (np.zeros((1, 4, 2)), [[0, 1, 2]], np.zeros((1, 3, 4)), {}, "vertices"),
    (np.zeros((1, 4, 3)), [0, 1, 2], np.zeros((1, 3, 4)), {}, "faces"),
    (np.zeros((1, 4, 3)), [[0.0, 1.0, 2.0]], np.zeros((1, 3, 4)), {}, "faces"),
    (np.zeros((2, 4, 3)), [[0, 1, 2]], np.zeros((1, 3, 4)), {}, "projection"),
    (np.zeros((1, 4, 3)), [[0, 1, 2]], np.zeros((1, 3, 4)), {"sigma": 0.0}, "sigma"),
    (np.zeros((1, 4, 3)), [[0, 1, 2]], np.zeros((1, 3, 4)), {"image_size": (0, 4)}, "image_size"),
])
def test_shape_and_argument_errors(vertices, faces, projection, kwargs, message):
    kwargs = dict(dict(image_size=8, sigma=1e-3), **kwargs)
    with pytest.raises(ValueError, match=message):
        mesh_silhouette(np.asarray(vertices, np.float32), faces,
                        np.asarray(projection, np.float32), kwargs.pop("image_size"), **kwargs)


def test_kernel_rejects_bad_indices_and_cameras():
    vertices = np.zeros((1, 4, 3), np.float32)
    projection = ops_testing.cameras(1, 8)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"faces\[1\]"):
        mesh_silhouette(vertices, [[0, 1, 2], [1, 2, 4]], projection, 8, sigma=1e-3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="faces"):
        mesh_silhouette(vertices, [[0, -1, 2]], projection, 8, sigma=1e-3)
    projection[0, 2, 3] = np.inf
    with pytest.raises(tf.errors.InvalidArgumentError, match="projection"):
        mesh_silhouette(vertices, [[0, 1, 2]], projection, 8, sigma=1e-3)


@pytest.mark.slow
def test_adam_fits_sphere_to_cube_silhouettes():
    """Can it optimise? Sphere vertices move to match a cube seen from 6 views."""
    size, sigma = 32, 1e-3
    views = conventions.ViewpointSet(azimuths=(0.0, 60.0, 120.0, 180.0, 240.0, 300.0),
                                     elevation=25.0, image_size=size)
    projection = np.concatenate([views.projections(), ops_testing.cameras(2, size, elevation=-40.0)
                                 .astype(np.float64)]).astype(np.float32)
    batch = len(projection)
    cube, cube_faces = primitives.box(0.3)
    target = mesh_silhouette(np.repeat(cube[None], batch, 0), cube_faces, projection, size,
                             sigma=sigma)
    sphere, faces = primitives.icosphere(2, radius=0.4)
    offsets = tf.Variable(tf.zeros_like(sphere))
    optimizer = tf.keras.optimizers.Adam(learning_rate=0.01)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            vertices = tf.repeat((sphere + offsets)[None], batch, axis=0)
            rendered = mesh_silhouette(vertices, faces, projection, size, sigma=sigma)
            loss = tf.reduce_mean(tf.square(rendered - target))
        optimizer.apply_gradients([(tape.gradient(loss, offsets), offsets)])
        return loss

    first = float(step())
    for _ in range(300):
        last = float(step())
    assert last < 0.1 * first, (first, last)
