"""Tests of tf3d.ops.mesh_silhouette (C++ op) and its pure-TF reference."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tf3d.ops import testing as ops_testing
from tf3d import alignment, conventions
from tf3d.ops import build, mesh_silhouette, mesh_silhouette_reference, primitives

BOTH = pytest.mark.parametrize("render", [mesh_silhouette, mesh_silhouette_reference],
                               ids=["native", "reference"])


def _bumpy_spheres(batch, seed):
    vertices, faces = primitives.icosphere(1, radius=0.4)
    rng = np.random.default_rng(seed)
    scales = np.linspace(0.8, 1.2, batch)[:, None, None]
    return vertices[None] * scales + rng.normal(0, 0.03, (batch,) + vertices.shape), faces


@pytest.mark.parametrize("perspective", [True, False])
@pytest.mark.parametrize("sigma", [3e-3, 3e-4])
def test_op_matches_reference(perspective, sigma):
    # Values and both gradients: the vertices' and the cameras'.
    vertices, faces = _bumpy_spheres(2, seed=4)
    projection = ops_testing.cameras(2, 14, perspective)
    value, (_, grad_projection) = ops_testing.assert_matches_reference(
        lambda v, p: mesh_silhouette(v, faces, p, (14, 11), sigma=sigma, perspective=perspective),
        lambda v, p: mesh_silhouette_reference(v, faces, p, (14, 11), sigma=sigma,
                                               perspective=perspective),
        (vertices, projection))
    assert value.shape == (2, 14, 11)
    assert value.max() > 0.99 and value.min() < 0.01  # both inside and outside pixels
    assert np.all(np.abs(grad_projection).reshape(2, -1).max(axis=1) > 0)  # every camera


def test_tile_boundaries_40x33():
    # 8 x 8 tiles: 40 x 33 ends in a one-pixel column of partial tiles, and
    # the sphere's edge crosses tiles and the image border.
    vertices, faces = primitives.icosphere(2, radius=0.62)
    vertices = vertices[None] + np.random.default_rng(8).normal(0, 0.02, (1,) + vertices.shape)
    projection = ops_testing.cameras(1, 40)
    value, _ = ops_testing.assert_matches_reference(
        lambda v, p: mesh_silhouette(v, faces, p, (40, 33), sigma=3e-3),
        lambda v, p: mesh_silhouette_reference(v, faces, p, (40, 33), sigma=3e-3),
        (vertices, projection))
    assert value[0, :, 32].max() > 0.99 and value[0, 39].max() < 0.5  # the last column is covered


def test_faces_crossing_the_near_plane_are_dropped():
    # A camera at z = -2.5 looking down +Z: depth = z + 2.5 exactly, so one
    # vertex sits at depth 0 and one behind the camera. Faces using them are
    # dropped in both implementations, with finite (zero) gradients.
    size = 16
    vertices, kept, crossing, projection = ops_testing.near_plane_scene(size)
    faces = np.concatenate([kept, crossing])
    n = crossing[0, 0]  # vertices n (depth 0) and n + 1 (behind the camera)
    value, (grad, _) = ops_testing.assert_matches_reference(
        lambda v, p: mesh_silhouette(v, faces, p, size, sigma=1e-3),
        lambda v, p: mesh_silhouette_reference(v, faces, p, size, sigma=1e-3),
        (vertices, projection))
    without = mesh_silhouette(vertices.astype(np.float32), kept, projection.astype(np.float32),
                              size, sigma=1e-3)
    np.testing.assert_array_equal(value, without.numpy())
    _, (ref_grad, ref_grad_projection) = ops_testing.value_and_gradient(
        lambda v, p: mesh_silhouette_reference(v, faces, p, size, sigma=1e-3),
        (vertices, projection), tf.float64)
    assert np.all(np.isfinite(ref_grad)) and np.all(np.isfinite(ref_grad_projection))
    assert not np.any(grad[0, n:n + 2]) and not np.any(ref_grad[0, n:n + 2])


def test_singular_orthographic_camera_is_valid():
    # A silhouette needs no depth: an orthographic camera with a constant
    # depth row (singular left 3x3) renders what the usual one does.
    vertices, faces = _bumpy_spheres(1, seed=9)
    usual = ops_testing.cameras(1, 12, perspective=False)
    flat = usual.copy()
    flat[0, 2] = [0.0, 0.0, 0.0, 1.0]
    value, _ = ops_testing.assert_matches_reference(
        lambda v, p: mesh_silhouette(v, faces, p, 12, sigma=1e-3, perspective=False),
        lambda v, p: mesh_silhouette_reference(v, faces, p, 12, sigma=1e-3, perspective=False),
        (vertices, flat))
    expected = mesh_silhouette(vertices.astype(np.float32), faces, usual, 12, sigma=1e-3,
                               perspective=False)
    np.testing.assert_array_equal(value, expected.numpy())


@pytest.mark.parametrize("perspective", [True, False])
def test_camera_gradient_matches_finite_differences(perspective):
    vertices, faces = primitives.icosphere(0, radius=0.4)
    vertices = vertices[None] + np.random.default_rng(10).normal(0, 0.02, (1,) + vertices.shape)
    projection = ops_testing.cameras(1, 6, perspective)
    # The reference's Jacobian, in float64, against central differences ...
    fn = functools.partial(mesh_silhouette_reference, vertices, faces, image_size=6, sigma=0.05,
                           perspective=perspective)
    assert ops_testing.jacobian_error(lambda p: fn(projection=p),
                                      projection.astype(np.float64)) < 1e-6
    # ... and the kernel's along a random direction (the op takes float32).
    direction = np.random.default_rng(11).normal(size=projection.shape)
    error = ops_testing.finite_difference_error(
        lambda p: mesh_silhouette(vertices.astype(np.float32), faces, p, 6, sigma=0.05,
                                  perspective=perspective), projection, direction)
    assert error < 5e-3, error


def test_recovers_perturbed_cameras():
    """Can it optimise? Poses knocked off by a few degrees and centimetres come back."""
    size = 32
    views = conventions.ViewpointSet(azimuths=(20.0, 140.0, 260.0), elevation=25.0,
                                     image_size=size)
    cube, faces = primitives.box(0.5)
    vertices = np.repeat((cube * [0.7, 0.5, 0.3] + [0.1, -0.05, 0.0])[None], 3, axis=0)

    def render(projection):
        return mesh_silhouette(vertices.astype(np.float32), faces, projection, size, sigma=2e-3)

    ops_testing.assert_recovers_perturbed_cameras(render, views, atol=1e-3)


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


@BOTH
def test_int64_face_indices_are_checked_before_the_cast(render):
    # 2**32 + 2 used to wrap to vertex 2 in the int32 cast, silently.
    vertices, faces = primitives.icosphere(0, radius=0.4)
    faces = faces.astype(np.int64)
    faces[3, 1] += 2 ** 32
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"faces\[3\]"):
        render(vertices[None], faces, ops_testing.cameras(1, 8), 8, sigma=1e-3)


@BOTH
def test_nan_inputs_are_rejected(render):
    vertices, faces = primitives.icosphere(0, radius=0.4)
    vertices = np.repeat(vertices[None], 2, axis=0)
    projection = ops_testing.cameras(2, 8)
    bad = vertices.copy()
    bad[1, 5, 2] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"vertices\[1 5\]"):
        render(bad, faces, projection, 8, sigma=1e-3)
    bad = projection.copy()
    bad[1, 0, 3] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"projection\[1\]"):
        render(vertices, faces, bad, 8, sigma=1e-3)
    with pytest.raises(ValueError, match="sigma"):
        render(vertices, faces, projection, 8, sigma=np.nan)


@BOTH
@pytest.mark.parametrize("batch, num_vertices, num_faces", [(0, 12, 20), (2, 12, 0), (2, 0, 0)])
def test_empty_batches_and_meshes(render, batch, num_vertices, num_faces):
    vertices, faces = primitives.icosphere(0, radius=0.4)
    vertices = tf.constant(np.zeros((batch, num_vertices, 3)) + vertices[:num_vertices], tf.float32)
    projection = tf.constant(ops_testing.cameras(2, 8)[:batch])
    with tf.GradientTape() as tape:
        tape.watch([vertices, projection])
        value = render(vertices, faces[:num_faces], projection, (8, 5), sigma=1e-3)
    grad_vertices, grad_projection = tape.gradient(value, [vertices, projection])
    assert value.shape == (batch, 8, 5) and not np.any(value.numpy())
    assert grad_vertices.shape == (batch, num_vertices, 3) and not np.any(grad_vertices.numpy())
    assert grad_projection.shape == (batch, 3, 4) and not np.any(grad_projection.numpy())


def test_absurd_sizes_fail_cleanly():
    vertices, faces = primitives.icosphere(0, radius=0.4)
    vertices = np.repeat(vertices[None], 4, axis=0)
    projection = ops_testing.cameras(4, 8)
    with pytest.raises(ValueError, match="image_size"):
        mesh_silhouette(vertices, faces, projection, 2 ** 20, sigma=1e-3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="pixels"):  # B * h * w too many
        mesh_silhouette(vertices, faces, projection, 2 ** 15 + 1, sigma=1e-3)
    # The kernel on its own: a 2**20 square segfaulted while binning, before
    # the output existed; a 2**32 square overflowed the shape and aborted.
    library = build.load_library()
    for side in (2 ** 20, 2 ** 32):
        with pytest.raises(tf.errors.InvalidArgumentError, match="pixels"):
            library.mesh_silhouette(vertices[:1], faces, projection[:1], height=side, width=side,
                                    sigma=1e-3)


def test_faces_far_off_screen_are_harmless():
    # Projected coordinates near the float range are clamped before the
    # integer casts of the binning.
    vertices, faces = primitives.icosphere(0, radius=0.4)
    far = np.concatenate([vertices * 1e30 + 1e35, vertices * 1e30 - 1e35])[None]
    faces = np.concatenate([faces, faces + len(vertices)])
    projection = ops_testing.cameras(1, 16, perspective=False)
    value, (grad, _) = ops_testing.value_and_gradient(
        lambda v, p: mesh_silhouette(v, faces, p, 16, sigma=1e-3, perspective=False),
        (far, projection), tf.float32)
    assert not np.any(value) and np.all(np.isfinite(grad))


def test_ops_document_themselves():
    library = build.load_library()
    assert "Soft silhouettes of triangle meshes" in library.mesh_silhouette.__doc__
    assert "grad_projection" in library.mesh_silhouette_grad.__doc__


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
    library = build.load_library()  # the kernel's own checks, without the wrapper's
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"faces\[1\]"):
        library.mesh_silhouette(vertices, [[0, 1, 2], [1, 2, 4]], np.zeros_like(projection),
                                height=8, width=8, sigma=1e-3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"projection\[0\]"):
        library.mesh_silhouette(vertices, [[0, 1, 2]], projection, height=8, width=8, sigma=1e-3)


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
