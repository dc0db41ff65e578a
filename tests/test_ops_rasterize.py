"""Tests of tf3d.ops.rasterize (C++ z-buffer + TF barycentrics) and its pure-TF reference."""

import numpy as np
import pytest
import tensorflow as tf

from tf3d.ops import build, primitives, rasterize, rasterize_reference
from tf3d.ops import testing as ops_testing

BOTH = pytest.mark.parametrize("render", [rasterize, rasterize_reference],
                               ids=["native", "reference"])


def _bumpy_spheres(batch, seed, subdivisions=2, radius=0.5):
    vertices, faces = primitives.icosphere(subdivisions, radius=radius)
    rng = np.random.default_rng(seed)
    noisy = vertices[None] + rng.normal(0, 0.02, (batch,) + vertices.shape)
    return noisy.astype(np.float32), faces  # float32 values: both implementations see the same


def _weighted_loss(fragments):
    """A loss that weighs every pixel's barycentrics and depth differently."""
    bary, depth = fragments.barycentrics, fragments.depth
    height, width = depth.shape[1:]
    weights = tf.cast(tf.reshape(tf.range(height * width), [height, width]), depth.dtype)
    corner_weights = tf.constant([1.0, -2.0, 3.0], bary.dtype)
    return tf.reduce_sum(bary * corner_weights * (1.0 + 0.01 * weights[..., None])) + \
        tf.reduce_sum(depth * (1.0 - 0.003 * weights))


def _value_and_gradient(render, vertices, projection, dtype, **kwargs):
    v, p = tf.constant(vertices, dtype), tf.constant(projection, dtype)
    with tf.GradientTape() as tape:
        tape.watch([v, p])
        fragments = render(v, p, **kwargs)
        loss = _weighted_loss(fragments)
    return fragments, tape.gradient(loss, [v, p])


def _assert_matches_reference(faces, vertices, projection, image_size, perspective=True):
    """Op (float32) against reference (float64): same face ids except exactly on an edge,
    barycentrics and depth 1e-5, gradients 1e-4 relative."""
    def render(fn):
        return lambda v, p: fn(v, faces, p, image_size, perspective=perspective)

    op, grads = _value_and_gradient(render(rasterize), vertices, projection, tf.float32)
    ref, ref_grads = _value_and_gradient(render(rasterize_reference), vertices, projection,
                                         tf.float64)
    ids, ref_ids = op.face_ids.numpy(), ref.face_ids.numpy()
    differ = ids != ref_ids
    # Rounding may only move a pixel that sits on an edge to the neighbouring face.
    assert np.all(op.barycentrics.numpy()[differ].min(-1) < 1e-6), np.argwhere(differ)
    assert op.barycentrics.dtype == tf.float32 and ref.barycentrics.dtype == tf.float64
    same = ~differ
    np.testing.assert_allclose(op.barycentrics.numpy()[same], ref.barycentrics.numpy()[same],
                               atol=1e-5, rtol=0)
    np.testing.assert_allclose(op.depth.numpy()[same], ref.depth.numpy()[same], atol=1e-5,
                               rtol=1e-6)
    if not differ.any():
        for g, ref_g in zip(grads, ref_grads):
            scale = np.abs(ref_g.numpy()).max()
            assert scale > 0, "the test inputs must produce a nonzero gradient"
            np.testing.assert_allclose(g.numpy() / scale, ref_g.numpy() / scale, atol=1e-4, rtol=0)
    return op, differ


@pytest.mark.parametrize("perspective", [True, False])
def test_op_matches_reference_on_odd_tile_borders(perspective):
    # 8 x 8 tiles: 40 x 33 ends in a one-pixel column of partial tiles, and the
    # spheres' outlines cross tiles and the image border.
    vertices, faces = _bumpy_spheres(2, seed=4, radius=0.7)
    projection = ops_testing.cameras(2, 40, perspective, half_extent=0.8)
    op, differ = _assert_matches_reference(faces, vertices, projection, (40, 33), perspective)
    assert not differ.any()
    ids = op.face_ids.numpy()
    assert ids.shape == (2, 40, 33) and 0.2 < np.mean(ids >= 0) < 0.8
    assert np.any(ids[:, :, 32] >= 0)  # the partial tiles' column is rasterized
    # Background: -1, zero barycentrics and depth; foreground: weights sum to 1.
    assert not np.any(op.barycentrics.numpy()[ids < 0]) and not np.any(op.depth.numpy()[ids < 0])
    np.testing.assert_allclose(op.barycentrics.numpy()[ids >= 0].sum(-1), 1.0, atol=1e-6)


def test_golden_values_derived_by_hand():
    # Camera P = [I | 0]: (u, v) = (x / z, y / z). The triangle A = (0, 0, 1),
    # B = (8, 0, 2), C = (0, 8, 2) projects to (0, 0), (4, 0), (0, 4). Pixel
    # (row 0, col 1) samples (1.5, 0.5): screen barycentrics l = (1 - 1.5/4 -
    # 0.5/4, 1.5/4, 0.5/4) = (0.5, 0.375, 0.125); over depth q = l / z = (0.5,
    # 0.1875, 0.0625), sum 0.75, so depth = 4/3 and b = q / 0.75 = (2/3, 1/4,
    # 1/12). Check: 2/3 A + 1/4 B + 1/12 C = (2, 2/3, 4/3) projects to (1.5, 0.5).
    vertices = np.array([[[0.0, 0.0, 1.0], [8.0, 0.0, 2.0], [0.0, 8.0, 2.0]]], np.float32)
    projection = np.eye(3, 4, dtype=np.float32)[None]
    for render in (rasterize, rasterize_reference):
        out = render(vertices, [[0, 1, 2]], projection, 4)
        assert out.face_ids.numpy()[0, 0, 1] == 0 and out.face_ids.numpy()[0, 3, 3] == -1
        np.testing.assert_allclose(out.barycentrics.numpy()[0, 0, 1], [2 / 3, 1 / 4, 1 / 12],
                                   rtol=1e-6)
        np.testing.assert_allclose(out.depth.numpy()[0, 0, 1], 4 / 3, rtol=1e-6)
        # Orthographic with the same matrix: (u, v) = (x, y), depth interpolated linearly.
        # Pixel (row 0, col 1) at (1.5, 0.5) on A, B / 2, C / 2 scaled to (0,0), (4,0), (0,4):
        # l = (0.5, 0.375, 0.125), depth = 0.5 * 1 + 0.375 * 2 + 0.125 * 2 = 1.5.
        ortho = render(vertices * [[[0.5, 0.5, 1.0]]], [[0, 1, 2]], projection, 4,
                       perspective=False)
        np.testing.assert_allclose(ortho.barycentrics.numpy()[0, 0, 1], [0.5, 0.375, 0.125],
                                   rtol=1e-6)
        np.testing.assert_allclose(ortho.depth.numpy()[0, 0, 1], 1.5, rtol=1e-6)


def test_nearest_face_wins_and_ties_go_to_the_lower_id():
    # Two copies of a big triangle at depths 2 and 3, and a third copy at depth 2.
    tri = np.array([[-5.0, -5.0, 1.0], [5.0, -5.0, 1.0], [0.0, 5.0, 1.0]])
    vertices = np.concatenate([tri * [1, 1, 3], tri * [1, 1, 2], tri * [1, 1, 2]])[None]
    faces = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    projection = np.array([[[1.0, 0, 0, 2], [0, 1, 0, 2], [0, 0, 1, 0]]], np.float32)
    for render in (rasterize, rasterize_reference):
        out = render(vertices.astype(np.float32), faces, projection, 4, perspective=False)
        assert np.all(out.face_ids.numpy() == 1)
        np.testing.assert_allclose(out.depth.numpy(), 2.0)


def test_shared_edges_are_watertight():
    # A grid whose vertices and edges pass exactly through pixel centres, both
    # diagonals of every cell listed in either order: every pixel centre
    # inside the grid lies on an edge, and none may fall through.
    n = 9
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float32)
    vertices = np.stack([xs + 0.5, ys + 0.5, 1.0 + 0.1 * xs], -1).reshape(1, -1, 3)
    faces = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            faces += [[a, b, e], [a, e, d]] if (r + c) % 2 else [[b, d, a], [d, b, e]]
    projection = np.eye(3, 4, dtype=np.float32)[None]
    for render in (rasterize, rasterize_reference):
        out = render(vertices, faces, projection, (n + 2, n + 1), perspective=False)
        covered = out.face_ids.numpy()[0] >= 0
        assert covered[:n, :n].all() and not covered[n:].any()
        np.testing.assert_allclose(out.depth.numpy()[0, :n, :n], 1.0 + 0.1 * xs, rtol=1e-6)


def test_faces_crossing_the_near_plane_are_dropped():
    # Faces with a vertex at depth 0 or behind the camera are dropped by both
    # implementations; gradients stay finite.
    size = 16
    vertices, kept, crossing, projection = ops_testing.near_plane_scene(size)
    vertices = vertices.astype(np.float32)
    faces = np.concatenate([kept, crossing])
    projection = projection.astype(np.float32)
    op, differ = _assert_matches_reference(faces, vertices, projection, size)
    without = rasterize(vertices, kept, projection, size)
    np.testing.assert_array_equal(op.face_ids.numpy(), without.face_ids.numpy())
    assert np.any(op.face_ids.numpy() == len(kept) - 1)  # the near face in front is kept


def test_reference_jacobian_float64():
    # tf.test.compute_gradient of barycentrics and depth w.r.t. the vertices
    # and the cameras, away from edges (coverage itself has no gradient),
    # through 4 random projections of the outputs to keep it fast.
    vertices, faces = _bumpy_spheres(1, seed=6, subdivisions=0, radius=0.6)
    vertices = vertices.astype(np.float64)
    mix = tf.constant(np.random.default_rng(1).normal(size=(4, 6 * 6 * 4)))
    for perspective in (True, False):
        projection = ops_testing.cameras(1, 6, perspective).astype(np.float64)

        def fn(v, p):
            out = rasterize_reference(v, faces, p, 6, perspective=perspective)
            flat = tf.concat([tf.reshape(out.barycentrics, [-1]), tf.reshape(out.depth, [-1])], 0)
            return tf.linalg.matvec(mix, flat)

        ops_testing.assert_jacobians_match(fn, [vertices, projection])


def test_op_gradient_matches_finite_differences():
    # The op takes float32: central differences with a step of 1e-3 of the
    # vertices' size along a random direction, over the pixels that see the
    # same face at all three points (coverage has no gradient).
    vertices, faces = _bumpy_spheres(1, seed=9, subdivisions=1)
    projection = ops_testing.cameras(1, 12)
    direction = np.random.default_rng(3).normal(size=vertices.shape) * 1e-3
    steps = [rasterize(vertices + s * direction, faces, projection, 12) for s in (-1, 0, 1)]
    stable = tf.reduce_all(tf.stack([s.face_ids == steps[1].face_ids for s in steps]), axis=0)

    def loss(out):
        masked = out._replace(barycentrics=tf.where(stable[..., None], out.barycentrics, 0.0),
                              depth=tf.where(stable, out.depth, 0.0))
        return float(_weighted_loss(masked))

    v = tf.constant(vertices)
    with tf.GradientTape() as tape:
        tape.watch(v)
        out = rasterize(v, faces, projection, 12)
        value = _weighted_loss(out._replace(
            barycentrics=tf.where(stable[..., None], out.barycentrics, 0.0),
            depth=tf.where(stable, out.depth, 0.0)))
    analytic = float(tf.reduce_sum(tf.cast(tape.gradient(value, v), tf.float64) * direction))
    numeric = (loss(steps[2]) - loss(steps[0])) / 2.0
    assert np.mean(stable.numpy()) > 0.95 and abs(analytic) > 0
    assert abs(numeric - analytic) < 5e-3 * abs(analytic), (numeric, analytic)


def test_recovers_a_depth_map():
    """Can it optimise? The corners' depths of an orthographic quad come back from its depth map."""
    size = 10
    corners = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]], np.float32)
    target_z = np.array([1.0, 1.5, 2.0, 1.2], np.float32)
    faces = [[0, 1, 3], [0, 3, 2]]
    projection = np.eye(3, 4, dtype=np.float32)[None]

    def depth(z):
        vertices = tf.concat([corners, z[:, None]], axis=-1)[None]
        return rasterize(vertices, faces, projection, size, perspective=False).depth

    target = depth(tf.constant(target_z))
    z = tf.Variable(tf.ones([4]))
    optimizer = tf.keras.optimizers.Adam(0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(depth(z) - target))
        optimizer.apply_gradients([(tape.gradient(loss, z), z)])
        return loss

    losses = [float(step()) for _ in range(150)]
    assert losses[-1] < 1e-4 * losses[0]
    np.testing.assert_allclose(z.numpy(), target_z, atol=0.02)


def test_inside_tf_function():
    vertices, faces = _bumpy_spheres(2, seed=7, subdivisions=1)
    projection = ops_testing.cameras(2, 16)

    @tf.function
    def loss_and_grad(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            loss = _weighted_loss(rasterize(v, faces, projection, 16))
        return loss, tape.gradient(loss, v)

    v = tf.constant(vertices)
    loss, grad = loss_and_grad(v)
    np.testing.assert_allclose(loss.numpy(), _weighted_loss(rasterize(v, faces, projection, 16)),
                               rtol=1e-6)
    assert grad.shape == (2, 42, 3) and np.abs(grad.numpy()).max() > 0


@pytest.mark.parametrize("vertices, faces, projection, image_size, message", [
    (np.zeros((4, 3)), [[0, 1, 2]], np.zeros((1, 3, 4)), 8, "vertices"),
    (np.zeros((1, 4, 2)), [[0, 1, 2]], np.zeros((1, 3, 4)), 8, "vertices"),
    (np.zeros((1, 4, 3)), [0, 1, 2], np.zeros((1, 3, 4)), 8, "faces"),
    (np.zeros((1, 4, 3)), [[0.0, 1.0, 2.0]], np.zeros((1, 3, 4)), 8, "faces"),
    (np.zeros((2, 4, 3)), [[0, 1, 2]], np.zeros((1, 3, 4)), 8, "projection"),
    (np.zeros((1, 4, 3)), [[0, 1, 2]], np.zeros((1, 3, 4)), (0, 4), "image_size"),
])
def test_shape_and_argument_errors(vertices, faces, projection, image_size, message):
    for render in (rasterize, rasterize_reference):
        with pytest.raises(ValueError, match=message):
            render(np.asarray(vertices, np.float32), faces, np.asarray(projection, np.float32),
                   image_size)


@BOTH
def test_bad_values_are_rejected(render):
    vertices, faces = primitives.icosphere(0, radius=0.4)
    vertices = np.repeat(vertices[None], 2, axis=0)
    projection = ops_testing.cameras(2, 8)
    wide = faces.astype(np.int64)
    wide[3, 1] += 2 ** 32  # used to wrap to vertex 2 in an int32 cast
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"faces\[3\]"):
        render(vertices, wide, projection, 8)
    bad = vertices.copy()
    bad[1, 5, 2] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"vertices\[1 5\]"):
        render(bad, faces, projection, 8)
    bad = projection.copy()
    bad[1, 0, 3] = np.inf
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"projection\[1\]"):
        render(vertices, faces, bad, 8)


@BOTH
@pytest.mark.parametrize("batch, num_vertices, num_faces", [(0, 12, 20), (2, 12, 0), (2, 0, 0)])
def test_empty_batches_and_meshes(render, batch, num_vertices, num_faces):
    vertices, faces = primitives.icosphere(0, radius=0.4)
    vertices = tf.constant(np.zeros((batch, num_vertices, 3)) + vertices[:num_vertices], tf.float32)
    projection = tf.constant(ops_testing.cameras(2, 8)[:batch])
    with tf.GradientTape() as tape:
        tape.watch([vertices, projection])
        out = render(vertices, faces[:num_faces], projection, (8, 5))
        loss = _weighted_loss(out)
    grad_vertices, grad_projection = tape.gradient(loss, [vertices, projection])
    assert out.face_ids.shape == (batch, 8, 5) and np.all(out.face_ids.numpy() == -1)
    assert out.barycentrics.shape == (batch, 8, 5, 3) and not np.any(out.barycentrics.numpy())
    assert grad_vertices.shape == (batch, num_vertices, 3) and not np.any(grad_vertices.numpy())
    assert grad_projection.shape == (batch, 3, 4) and not np.any(grad_projection.numpy())


def test_absurd_sizes_fail_cleanly():
    vertices, faces = primitives.icosphere(0, radius=0.4)
    vertices = np.repeat(vertices[None], 4, axis=0)
    projection = ops_testing.cameras(4, 8)
    with pytest.raises(ValueError, match="image_size"):
        rasterize(vertices, faces, projection, 2 ** 20)
    with pytest.raises(tf.errors.InvalidArgumentError, match="pixels"):  # B * h * w too many
        rasterize(vertices, faces, projection, 2 ** 15 + 1)
    library = build.load_library()  # the kernel on its own checks before allocating
    for side in (2 ** 20, 2 ** 32):
        with pytest.raises(tf.errors.InvalidArgumentError, match="pixels"):
            library.rasterize(vertices[:1], faces, projection[:1], height=side, width=side)


def test_faces_far_off_screen_are_harmless():
    # Projected coordinates near the float range are clamped before the
    # integer casts of the binning.
    vertices, faces = primitives.icosphere(0, radius=0.4)
    far = np.concatenate([vertices * 1e30 + 1e35, vertices * 1e30 - 1e35])[None]
    faces = np.concatenate([faces, faces + len(vertices)])
    projection = ops_testing.cameras(1, 16, perspective=False)
    out = rasterize(far.astype(np.float32), faces, projection, 16, perspective=False)
    assert np.all(out.face_ids.numpy() == -1)


def test_op_has_no_gradient_of_its_own():
    # The raw kernel's outputs are constants to the tape; rasterize's
    # gradients come from its TensorFlow recomputation.
    vertices, faces = _bumpy_spheres(1, seed=2, subdivisions=0)
    projection = ops_testing.cameras(1, 8)
    v = tf.constant(vertices)
    with tf.GradientTape() as tape:
        tape.watch(v)
        _, bary, depth = build.load_library().rasterize(v, faces, projection, height=8, width=8)
        loss = tf.reduce_sum(bary) + tf.reduce_sum(depth)
    assert tape.gradient(loss, v) is None
