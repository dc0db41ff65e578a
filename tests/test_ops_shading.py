"""Tests of tf3d.ops.lambertian_shading: rasterize + interpolate + Lambert + soft alpha."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tf3d.ops import backend, lambertian_shading, primitives
from tf3d.ops import testing as ops_testing
from tf3d.ops.shading import default_sigma


def _quad(z=2.0, reverse=False):
    """A square facing an orthographic camera P = [I | 0] and covering pixels 2..9 of 12."""
    vertices = np.array([[[2.0, 2.0, z], [10.0, 2.0, z], [2.0, 10.0, z], [10.0, 10.0, z]]],
                        np.float32)
    faces = np.array([[0, 1, 3], [0, 3, 2]])
    return vertices, (faces[:, ::-1] if reverse else faces)


def test_flat_quad_golden_values():
    # The quad's normal is +-Z; it is seen from z < 2, so it is lit as facing
    # -Z. A light towards (0, 0.6, -0.8) gives n . l = 0.8, so an albedo of
    # 0.5 shades 0.5 * (0.2 + 0.6 * 0.8) = 0.34 inside, and the background 0.9
    # shows outside. Either winding gives the same picture (two-sided).
    projection = np.eye(3, 4, dtype=np.float32)[None]
    for reverse in (False, True):
        vertices, faces = _quad(reverse=reverse)
        out = lambertian_shading(vertices, faces, projection, 12, np.full(4, 0.5), [0.0, 0.6, -0.8],
                                 ambient=0.2, diffuse=0.6, background=0.9, perspective=False)
        image, alpha = out.image.numpy()[0], out.alpha.numpy()[0]
        np.testing.assert_allclose(image[3:9, 3:9], 0.34, atol=1e-5)
        np.testing.assert_allclose(image[0], 0.9, atol=1e-5)
        assert np.all(alpha[3:9, 3:9] > 0.999) and np.all(alpha[0] < 1e-3)
        # Edge pixels (centres 0.5 px inside or outside an edge) blend the surface's
        # shade and the background by the soft alpha, sigmoid(+-2) = 0.88 / 0.12.
        sigmoid = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
        np.testing.assert_allclose(alpha[5, [1, 2]], [sigmoid(-2.0), sigmoid(2.0)], atol=2e-3)
        np.testing.assert_allclose(image[5, 1], alpha[5, 1] * 0.34 + (1 - alpha[5, 1]) * 0.9,
                                   atol=1e-5)
    # A light behind the surface leaves the ambient term only: 0.5 * 0.2.
    out = lambertian_shading(vertices, faces, projection, 12, np.full(4, 0.5), [0.0, 0.0, 1.0],
                             ambient=0.2, diffuse=0.6, perspective=False)
    np.testing.assert_allclose(out.image.numpy()[0, 3:9, 3:9], 0.1, atol=1e-5)


def test_default_sigma_is_about_a_pixel():
    # Half a pixel at 128 px is 1/128 normalized units: x = (1/128)^2 / sigma = 2.
    assert default_sigma(128) == pytest.approx((1 / 128) ** 2 / 2)
    assert default_sigma((64, 128)) == default_sigma(128)


def test_smooth_and_flat_normals():
    # A fine sphere shades nearly alike both ways; a box's faces are uniform when flat.
    sphere, faces = primitives.icosphere(3, radius=0.6)
    projection = ops_testing.cameras(1, 32)
    albedo = np.full(len(sphere), 0.8, np.float32)
    light = [0.3, 1.0, 0.5]
    smooth = lambertian_shading(sphere[None], faces, projection, 32, albedo, light)
    flat = lambertian_shading(sphere[None], faces, projection, 32, albedo, light, smooth=False)
    inside = smooth.alpha.numpy() > 0.999
    assert np.abs(smooth.image.numpy() - flat.image.numpy())[inside].mean() < 0.02
    box, box_faces = primitives.box(0.4)
    out = lambertian_shading(box[None], box_faces, projection, 32, np.full(8, 0.8), light,
                             smooth=False)
    ids = out.fragments.face_ids.numpy()[0] // 2  # two triangles per side
    image = out.image.numpy()[0]
    covered = out.alpha.numpy()[0] == 1.0  # off the outline
    sides = np.unique(ids[covered])
    for side in sides:
        values = image[covered & (ids == side)]
        assert values.max() - values.min() < 1e-5
    assert len(sides) >= 2  # the sides seen are shaded differently
    assert len({round(float(image[covered & (ids == s)][0]), 4) for s in sides}) == len(sides)


def _scene(seed=0):
    vertices, faces = primitives.icosphere(1, radius=0.6)
    rng = np.random.default_rng(seed)
    vertices = (vertices[None] + rng.normal(0, 0.02, (2,) + vertices.shape)).astype(np.float32)
    albedo = rng.uniform(0.3, 0.9, (2, vertices.shape[1])).astype(np.float32)
    return vertices, faces, albedo


def _shade_and_grads(vertices, faces, albedo, light, dtype):
    inputs = [tf.constant(x, dtype) for x in (vertices, albedo, light)]
    projection = ops_testing.cameras(2, 12)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        out = lambertian_shading(inputs[0], faces, tf.cast(projection, dtype), (12, 10), inputs[1],
                                 inputs[2], ambient=0.25, diffuse=0.75, background=0.5)
        weights = tf.cast(tf.reshape(tf.range(120), [12, 10]), dtype)
        loss = tf.reduce_sum(out.image * (1.0 + 0.01 * weights))
    return out.image.numpy(), [g.numpy() for g in tape.gradient(loss, inputs)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_native_matches_reference_backend():
    # The same shader over the native ops (float32) and the references (float64).
    vertices, faces, albedo = _scene()
    light = np.array([[0.3, 1.0, 0.5], [-0.5, 0.4, 1.0]], np.float32)
    image, grads = _shade_and_grads(vertices, faces, albedo, light, tf.float32)
    backend.set_implementation("reference")
    try:
        ref_image, ref_grads = _shade_and_grads(vertices, faces, albedo, light, tf.float64)
    finally:
        backend.set_implementation(None)
    np.testing.assert_allclose(image, ref_image, atol=1e-5)
    for g, ref_g in zip(grads, ref_grads):
        scale = np.abs(ref_g).max()
        assert scale > 0
        np.testing.assert_allclose(g / scale, ref_g / scale, atol=1e-4)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_jacobian_float64_over_the_references():
    vertices, faces = primitives.icosphere(0, radius=0.6)
    rng = np.random.default_rng(1)
    vertices = vertices[None].astype(np.float64) + rng.normal(0, 0.02, (1,) + vertices.shape)
    albedo = rng.uniform(0.3, 0.9, (1, 12))
    projection = ops_testing.cameras(1, 6).astype(np.float64)
    mix = tf.constant(np.random.default_rng(2).normal(size=(3, 36)))

    def fn(v, a, light):
        out = lambertian_shading(v, faces, projection, 6, a, light, background=0.3)
        return tf.linalg.matvec(mix, tf.reshape(out.image, [-1]))

    backend.set_implementation("reference")
    try:
        ops_testing.assert_jacobians_match(fn, [vertices, albedo, [0.3, 1.0, 0.5]])
    finally:
        backend.set_implementation(None)


@pytest.mark.slow
def test_recovers_light_and_albedo():
    """Can it optimise? A sun's direction and a uniform albedo come back from shaded images."""
    vertices, faces = primitives.icosphere(2, radius=0.6)
    vertices = np.repeat(vertices[None], 2, axis=0)
    projection = ops_testing.cameras(2, 16)
    true_light = np.array([0.4, 0.8, 0.45], np.float32)
    target = lambertian_shading(vertices, faces, projection, 16, np.full(vertices.shape[1], 0.7),
                                true_light).image
    light = tf.Variable([0.0, 0.0, 1.0])
    gray = tf.Variable(0.4)
    optimizer = tf.keras.optimizers.Adam(0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            albedo = tf.fill([vertices.shape[1]], gray)
            image = lambertian_shading(vertices, faces, projection, 16, albedo, light).image
            loss = tf.reduce_mean(tf.square(image - target))
        optimizer.apply_gradients(zip(tape.gradient(loss, [light, gray]), [light, gray]))
        return loss

    first = float(step())
    for _ in range(150):
        last = float(step())
    assert last < 1e-4 * first
    found = light.numpy() / np.linalg.norm(light.numpy())
    np.testing.assert_allclose(found, true_light / np.linalg.norm(true_light), atol=0.02)
    assert abs(float(gray) - 0.7) < 0.01


@pytest.mark.parametrize("kwargs, message", [
    (dict(albedo=np.zeros((3, 12))), "albedo"),
    (dict(albedo=np.zeros((2, 12, 1, 1))), "albedo"),
    (dict(light_direction=[0.0, 1.0]), "light_direction"),
    (dict(light_direction=np.zeros((3, 3))), "light_direction"),
    (dict(ambient=np.zeros(3)), "ambient"),
    (dict(diffuse=np.zeros((2, 1))), "diffuse"),
])
def test_argument_errors(kwargs, message):
    vertices, faces = primitives.icosphere(0, radius=0.5)
    arguments = dict(albedo=np.ones(12), light_direction=[0.0, 1.0, 0.0])
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        lambertian_shading(np.repeat(vertices[None], 2, axis=0), faces, ops_testing.cameras(2, 8),
                           8, **arguments)


def test_singular_camera_is_rejected():
    vertices, faces = primitives.icosphere(0, radius=0.5)
    projection = ops_testing.cameras(1, 8, perspective=False)
    projection[0, 2, :3] = 0.0  # fine for a silhouette, but the view rays need M^-1
    with pytest.raises(tf.errors.InvalidArgumentError, match="projection"):
        lambertian_shading(vertices[None], faces, projection, 8, np.ones(12), [0.0, 1.0, 0.0],
                           perspective=False)
