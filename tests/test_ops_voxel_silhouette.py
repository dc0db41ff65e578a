"""Tests of tf3d.ops.voxel_silhouette (C++ op) and its pure-TF reference."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tf3d.ops import testing as ops_testing
from tf3d import alignment, conventions
from tf3d.ops import voxel_silhouette, voxel_silhouette_reference

NEAR, FAR = 2.5 - 0.87, 2.5 + 0.87


def _kwargs(**overrides):
    return dict(dict(num_samples=11, near=NEAR, far=FAR), **overrides)


@pytest.mark.parametrize("perspective", [True, False])
@pytest.mark.parametrize("mode", ["drc", "max"])
def test_op_matches_reference(perspective, mode):
    rng = np.random.default_rng(1)
    occupancy = rng.uniform(0.0, 1.0, (3, 6, 5, 7))  # non-cubic grid: axes must not mix
    projection = ops_testing.cameras(3, 12, perspective)
    kwargs = _kwargs(perspective=perspective, mode=mode)
    value, _ = ops_testing.assert_matches_reference(
        lambda x: voxel_silhouette(x, projection, (12, 10), **kwargs),
        lambda x: voxel_silhouette_reference(x, projection.astype(np.float64), (12, 10), **kwargs),
        occupancy)
    assert value.shape == (3, 12, 10)
    assert 0.05 < value.mean() < 0.95  # rays really cross the grid


@pytest.mark.slow
def test_reference_jacobian_float64():
    rng = np.random.default_rng(2)
    projection = ops_testing.cameras(1, 5).astype(np.float64)
    for mode in ("drc", "max"):
        fn = functools.partial(voxel_silhouette_reference, projection=projection, image_size=5,
                               **_kwargs(num_samples=6, mode=mode))
        assert ops_testing.jacobian_error(fn, rng.uniform(0.1, 0.9, (1, 3, 3, 3))) < 1e-6


def test_gradient_is_exact_for_one_voxel():
    # Orthographic camera looking down -Z onto a 1-voxel grid: each pixel whose
    # ray hits the voxel's centre line samples p at every depth inside, and
    # with S samples of weight w_i, s = 1 - prod(1 - w_i p) so
    # ds/dp = sum_i w_i prod_{j != i}(1 - w_j p): check against that formula.
    extrinsic = conventions.look_at_extrinsics((0.0, 0.0, 2.0))
    projection = conventions.orthographic_matrix(extrinsic, 0.5, 2)[None].astype(np.float32)
    p = 0.3
    x = tf.constant([[[[p]]]], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        s = voxel_silhouette(x, projection, 2, num_samples=8, near=1.0, far=3.0, perspective=False)
        loss = s[0, 0, 0]
    depths = 1.0 + (np.arange(8) + 0.5) * 0.25
    # Pixel (0, 0) centre maps to world (-0.25, 0.25); grid coordinate -0.25 on
    # x and y (weight 0.75 each) and z = 2 - depth.
    gz = (2.0 - depths + 0.5) - 0.5
    wz = np.where(np.abs(gz) < 1.0, 1.0 - np.abs(gz), 0.0)
    w = 0.75 * 0.75 * wz
    expected_s = 1.0 - np.prod(1.0 - w * p)
    expected_g = sum(w[i] * np.prod(np.delete(1.0 - w * p, i)) for i in range(8))
    np.testing.assert_allclose(loss.numpy(), expected_s, rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss, x).numpy().ravel(), [expected_g], rtol=1e-5)


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
])
def test_shape_and_argument_errors(occupancy, projection, kwargs, message):
    with pytest.raises(ValueError, match=message):
        voxel_silhouette(occupancy.astype(np.float32), projection.astype(np.float32), 8,
                         **_kwargs(**kwargs))


def test_kernel_rejects_bad_cameras():
    occupancy = np.zeros((2, 4, 4, 4), np.float32)
    projection = ops_testing.cameras(2, 8)
    projection[1, 0, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"projection\[1\]"):
        voxel_silhouette(occupancy, projection, 8, **_kwargs())
    with pytest.raises(tf.errors.InvalidArgumentError, match="projection"):
        voxel_silhouette(occupancy, np.zeros((2, 3, 4), np.float32), 8, **_kwargs())
