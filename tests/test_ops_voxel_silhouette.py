"""Tests of tf3d.ops.voxel_silhouette (C++ op) and its pure-TF reference."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tf3d.ops import testing as ops_testing
from tf3d import alignment, conventions
from tf3d.ops import build, voxel_silhouette, voxel_silhouette_reference

NEAR, FAR = 2.5 - 0.87, 2.5 + 0.87
BOTH = pytest.mark.parametrize("render", [voxel_silhouette, voxel_silhouette_reference],
                               ids=["native", "reference"])


def _kwargs(**overrides):
    return dict(dict(num_samples=11, near=NEAR, far=FAR), **overrides)


def _looking_down_z(size):
    """`[1, 3, 4]` orthographic camera looking down -Z whose `size` x `size`
    pixel centres lie on the voxel-column centres of a `size`-wide grid."""
    extrinsic = conventions.look_at_extrinsics((0.0, 0.0, 2.0))
    return conventions.orthographic_matrix(extrinsic, 0.5, size)[None].astype(np.float32)


def _column_pixels(projection, size):
    """(row, col) of the pixel on each voxel column (i, j) of a `size`-wide grid."""
    centres = conventions.voxel_centers(size)
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    points = np.stack([centres[i.ravel()], centres[j.ravel()], np.zeros(size * size)], axis=1)
    uv, _ = conventions.project(points, projection[0], perspective=False)
    return i.ravel(), j.ravel(), np.floor(uv[:, 1]).astype(int), np.floor(uv[:, 0]).astype(int)


@pytest.mark.parametrize("perspective", [True, False])
@pytest.mark.parametrize("mode", ["drc", "max"])
def test_op_matches_reference(perspective, mode):
    # Values and both gradients: the occupancies' and the cameras'.
    rng = np.random.default_rng(1)
    occupancy = rng.uniform(0.0, 1.0, (3, 6, 5, 7))  # non-cubic grid: axes must not mix
    projection = ops_testing.cameras(3, 12, perspective)
    kwargs = _kwargs(perspective=perspective, mode=mode)
    value, (_, grad_projection) = ops_testing.assert_matches_reference(
        lambda x, p: voxel_silhouette(x, p, (12, 10), **kwargs),
        lambda x, p: voxel_silhouette_reference(x, p, (12, 10), **kwargs),
        (occupancy, projection))
    assert value.shape == (3, 12, 10)
    assert 0.05 < value.mean() < 0.95  # rays really cross the grid
    assert np.all(np.abs(grad_projection).reshape(3, -1).max(axis=1) > 0)  # every camera


@pytest.mark.slow
def test_reference_jacobian_float64():
    rng = np.random.default_rng(2)
    projection = ops_testing.cameras(1, 5).astype(np.float64)
    for mode in ("drc", "max"):
        fn = functools.partial(voxel_silhouette_reference, projection=projection, image_size=5,
                               **_kwargs(num_samples=6, mode=mode))
        assert ops_testing.jacobian_error(fn, rng.uniform(0.1, 0.9, (1, 3, 3, 3))) < 1e-6


@pytest.mark.parametrize("perspective", [True, False])
@pytest.mark.parametrize("mode", ["drc", "max"])
def test_camera_gradient_matches_finite_differences(perspective, mode):
    # Trilinear interpolation has kinks at voxel centres, where the gradient
    # is one-sided: 8 samples keep every sample off the grid's centre (the
    # looked-at point, at depth (NEAR + FAR) / 2).
    rng = np.random.default_rng(4)
    occupancy = rng.uniform(0.05, 0.95, (1, 3, 4, 5))
    projection = ops_testing.cameras(1, 5, perspective)
    kwargs = _kwargs(num_samples=8, perspective=perspective, mode=mode)
    # The reference's Jacobian, in float64, against central differences ...
    fn = lambda p: voxel_silhouette_reference(occupancy, p, 5, **kwargs)  # noqa: E731
    assert ops_testing.jacobian_error(fn, projection.astype(np.float64)) < 1e-5
    # ... and the kernel's along a random direction (the op takes float32),
    # with a step small enough that few samples cross a kink.
    direction = rng.normal(size=projection.shape)
    error = ops_testing.finite_difference_error(
        lambda p: voxel_silhouette(occupancy.astype(np.float32), p, 5, **kwargs), projection,
        direction, delta=3e-5)
    assert error < 1e-2, error


def test_recovers_perturbed_cameras():
    """Can it optimise? Poses knocked off by a few degrees and centimetres come back."""
    size = 32
    views = conventions.ViewpointSet(azimuths=(20.0, 140.0, 260.0), elevation=25.0,
                                     image_size=size)
    centres = conventions.voxel_centers(16)
    x, y, z = np.meshgrid(centres, centres, centres, indexing="ij")
    box = (np.abs(x - 0.1) < 0.35) & (np.abs(y + 0.05) < 0.25) & (np.abs(z) < 0.15)
    occupancy = np.repeat((0.01 + 0.98 * box)[None], 3, axis=0).astype(np.float32)

    def render(projection):
        return voxel_silhouette(occupancy, projection, size, num_samples=48, near=1.6, far=3.4)

    ops_testing.assert_recovers_perturbed_cameras(render, views, atol=2e-3)


def test_output_converges_as_samples_grow():
    # Issue 9: 1 - prod(1 - p) over S fixed-step samples of a 0.3 grid went
    # from 0.86 (S = 8) to 1.0 (S = 128). The density integral converges.
    occupancy = np.full((2, 5, 4, 6), 0.3, np.float32)
    projection = ops_testing.cameras(2, 12)
    render = functools.partial(voxel_silhouette, occupancy, projection, 12, near=NEAR, far=FAR)
    values = {s: render(num_samples=s).numpy() for s in (16, 64, 256, 1024)}
    errors = [np.abs(values[s] - values[1024]).max() for s in (16, 64, 256)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-3, errors
    assert 0.2 < values[1024].max() < 0.95  # not saturated: at most 6 voxels of 0.3 crossed


@pytest.mark.parametrize("render", [voxel_silhouette, voxel_silhouette_reference],
                         ids=["native", "reference"])
def test_drc_equals_voxel_traversal_on_axis_aligned_rays(render):
    # Down the Z axis through voxel-column centres, the ray crosses the D
    # voxels of its column: DRC's exact traversal gives 1 - prod_k (1 - p_ijk),
    # and ds/dp_ijk = prod_{k' != k} (1 - p_ijk').
    size, depth = 4, 6
    occupancy = np.random.default_rng(5).uniform(0.0, 0.9, (1, size, size, depth))
    projection = _looking_down_z(size)
    i, j, rows, cols = _column_pixels(projection, size)
    escape = np.prod(1.0 - occupancy[0], axis=-1)  # [size, size]
    expected = 1.0 - escape[i, j]
    expected_grad = escape[..., None] / (1.0 - occupancy[0])  # [size, size, depth]
    errors = []
    for samples in (16, 64, 1024):
        value, grad = ops_testing.value_and_gradient(
            lambda x: render(x, projection, size, num_samples=samples, near=1.0, far=3.0,
                             perspective=False), occupancy, tf.float32)
        errors.append(np.abs(value[0, rows, cols] - expected).max())
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 2e-5, errors
    # value_and_gradient weights pixel k by 1 + 0.01 k.
    weights = 1.0 + 0.01 * (rows * size + cols)
    np.testing.assert_allclose(grad[0][i, j], weights[:, None] * expected_grad[i, j], rtol=2e-4)


@BOTH
def test_opaque_voxel_saturates_exactly(render):
    # p = 1 is infinite density: every ray whose samples give the voxel any
    # weight reads exactly 1, and its gradient is zero (not NaN).
    occupancy = np.random.default_rng(6).uniform(0.05, 0.5, (2, 4, 4, 4)).astype(np.float32)
    occupancy[:, 1, 2, 1] = 1.0
    projection = ops_testing.cameras(2, 12)
    reference = voxel_silhouette_reference(occupancy.astype(np.float64), projection, 12,
                                           **_kwargs(num_samples=24)).numpy()
    blocked = reference == 1.0  # unblocked rays cross at most ~7 voxels of p <= 0.5
    assert 0 < blocked.sum() < 0.5 * blocked.size
    x, p = tf.constant(occupancy), tf.constant(projection)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, p])
        value = render(x, p, 12, **_kwargs(num_samples=24))
        saturated = tf.reduce_sum(tf.where(blocked, value, 0.0))
        total = tf.reduce_sum(value)
    np.testing.assert_array_equal(value.numpy() == 1.0, blocked)
    assert not np.any(tape.gradient(saturated, x).numpy())
    assert not np.any(tape.gradient(saturated, p).numpy())
    grad = tape.gradient(total, x).numpy()
    assert np.all(np.isfinite(grad)) and np.any(grad) and not np.any(grad[:, 1, 2, 1])


def test_opaque_voxel_op_matches_reference():
    occupancy = np.random.default_rng(7).uniform(0.05, 0.6, (2, 3, 4, 5))
    occupancy[0, 1, 1, 2] = occupancy[1, 2, 3, 4] = 1.0
    projection = ops_testing.cameras(2, 10, perspective=False)
    ops_testing.assert_matches_reference(
        lambda x, p: voxel_silhouette(x, p, 10, **_kwargs(perspective=False)),
        lambda x, p: voxel_silhouette_reference(x, p, 10, **_kwargs(perspective=False)),
        (occupancy, projection))


@pytest.mark.parametrize("perspective", [True, False])
def test_lines_up_with_numpy_voxel_projection(perspective):
    # alignment.voxel_coverage rasterizes voxel faces exactly in NumPy: an
    # independent check of the camera convention (pixel centres, axes).
    resolution, size = 16, 48
    centres = conventions.voxel_centers(resolution)
    x, y, z = np.meshgrid(centres, centres, centres, indexing="ij")
    voxels = ((x > 0.05) & (y < 0.2)) | (np.abs(z) < 0.1) & (y > 0.3)  # asymmetric on purpose
    projection = ops_testing.cameras(1, size, perspective)[0]
    expected = alignment.voxel_coverage(voxels, projection, size, perspective=perspective) > 0.5
    silhouette = voxel_silhouette(voxels[None].astype(np.float32), projection[None], size,
                                  num_samples=192, near=NEAR, far=FAR, perspective=perspective,
                                  mode="max")[0].numpy() > 0.5
    iou = (expected & silhouette).sum() / (expected | silhouette).sum()
    assert iou > 0.9, iou


def test_inside_tf_function_and_batches_independent():
    rng = np.random.default_rng(3)
    occupancy = rng.uniform(0, 1, (4, 4, 4, 4)).astype(np.float32)
    projection = ops_testing.cameras(4, 8)
    render = tf.function(lambda o, p: voxel_silhouette(o, p, 8, **_kwargs()))
    batched = render(occupancy, projection).numpy()
    single = render(occupancy[2:3], projection[2:3]).numpy()
    np.testing.assert_array_equal(batched[2:3], single)


@pytest.mark.parametrize("occupancy, projection, kwargs, message", [
    (np.zeros((4, 4, 4)), np.zeros((1, 3, 4)), {}, "occupancy"),
    (np.zeros((2, 4, 4, 4)), np.zeros((1, 3, 4)), {}, "projection"),
    (np.zeros((1, 4, 4, 4)), np.zeros((1, 4, 4)), {}, "projection"),
    (np.zeros((1, 4, 4, 4)), np.zeros((1, 3, 4)), {"near": 3.0, "far": 2.0}, "near"),
    (np.zeros((1, 4, 4, 4)), np.zeros((1, 3, 4)), {"mode": "sum"}, "mode"),
    (np.zeros((1, 4, 4, 4)), np.zeros((1, 3, 4)), {"num_samples": 0}, "num_samples"),
    (np.zeros((1, 4, 4, 4)), np.zeros((1, 3, 4)), {"far": np.inf}, "far"),
    (np.zeros((1, 4, 4, 4)), np.zeros((1, 3, 4)), {"near": -np.inf}, "near"),
    (np.zeros((1, 4, 4, 4)), np.zeros((1, 3, 4)), {"near": np.nan}, "near"),
])
@BOTH
def test_shape_and_argument_errors(render, occupancy, projection, kwargs, message):
    # One check for both implementations: far = inf used to be an error in
    # the kernel only (the reference returned zeros).
    with pytest.raises(ValueError, match=message):
        render(occupancy.astype(np.float32), projection.astype(np.float32), 8, **_kwargs(**kwargs))


@BOTH
@pytest.mark.parametrize("bad", [np.nan, 1.5, -0.25])
def test_occupancy_must_be_probabilities(render, bad):
    occupancy = np.full((2, 4, 4, 4), 0.5, np.float32)
    occupancy[1, 2, 0, 3] = bad
    projection = ops_testing.cameras(2, 8)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"occupancy\[1 2 0 3\]"):
        render(occupancy, projection, 8, **_kwargs())
    with pytest.raises(tf.errors.InvalidArgumentError, match="occupancy"):
        tf.function(lambda o: render(o, projection, 8, **_kwargs()))(occupancy)
    with pytest.raises(tf.errors.InvalidArgumentError, match="occupancy"):  # the kernel itself
        build.load_library().voxel_silhouette(occupancy, projection, height=8, width=8,
                                              num_samples=4, near=NEAR, far=FAR)


@BOTH
def test_empty_batch(render):
    occupancy, projection = tf.zeros([0, 4, 3, 5]), tf.zeros([0, 3, 4])
    with tf.GradientTape() as tape:
        tape.watch([occupancy, projection])
        value = render(occupancy, projection, (6, 7), **_kwargs())
    grad_occupancy, grad_projection = tape.gradient(value, [occupancy, projection])
    assert value.shape == (0, 6, 7)
    assert grad_occupancy.shape == (0, 4, 3, 5) and grad_projection.shape == (0, 3, 4)


def test_absurd_image_sizes_fail_cleanly():
    occupancy = np.zeros((2, 4, 4, 4), np.float32)
    projection = ops_testing.cameras(2, 8)
    with pytest.raises(ValueError, match="image_size"):
        voxel_silhouette(occupancy, projection, 2 ** 20, **_kwargs())
    with pytest.raises(tf.errors.InvalidArgumentError, match="pixels"):  # B * h * w too many
        voxel_silhouette(occupancy, projection, 2 ** 15 + 1, **_kwargs())
    # The kernel on its own: B * h * w overflows int64 (this aborted the process).
    with pytest.raises(tf.errors.InvalidArgumentError, match="pixels"):
        build.load_library().voxel_silhouette(occupancy, projection, height=2 ** 32,
                                              width=2 ** 32, num_samples=4, near=NEAR, far=FAR)


def test_ops_document_themselves():
    library = build.load_library()
    assert "Differentiable Ray Consistency" in library.voxel_silhouette.__doc__
    assert "grad_projection" in library.voxel_silhouette_grad.__doc__


def test_kernel_rejects_bad_cameras():
    occupancy = np.zeros((2, 4, 4, 4), np.float32)
    projection = ops_testing.cameras(2, 8)
    projection[1, 0, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"projection\[1\]"):
        voxel_silhouette(occupancy, projection, 8, **_kwargs())
    with pytest.raises(tf.errors.InvalidArgumentError, match="projection"):
        voxel_silhouette(occupancy, np.zeros((2, 3, 4), np.float32), 8, **_kwargs())
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"projection\[1\]"):
        voxel_silhouette_reference(occupancy, projection, 8, **_kwargs())
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"projection\[1\]"):  # the kernel
        build.load_library().voxel_silhouette(occupancy, projection, height=8, width=8,
                                              num_samples=4, near=NEAR, far=FAR)
