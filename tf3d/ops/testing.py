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
    """Silhouette and the gradient of a pixel-weighted sum of it w.r.t. `inputs`.

    `inputs` is one array (`render(x)`) or a tuple of arrays (`render(*xs)`,
    and the gradients come back as a list).
    """
    several = isinstance(inputs, tuple)
    xs = [tf.constant(x, dtype=dtype) for x in (inputs if several else (inputs,))]
    with tf.GradientTape() as tape:
        tape.watch(xs)
        out = render(*xs)
        weights = tf.cast(tf.reshape(tf.range(tf.size(out[0])), out.shape[1:]), out.dtype)
        loss = tf.reduce_sum(out * (1.0 + 0.01 * weights))
    grads = [g.numpy() for g in tape.gradient(loss, xs)]
    return out.numpy(), (grads if several else grads[0])


def assert_matches_reference(op, reference, inputs):
    """Op (float32) against reference (float64): values 1e-5, gradients 1e-4 relative.

    With a tuple of `inputs`, every input's gradient is compared, each
    relative to its own largest entry.
    """
    value, grad = value_and_gradient(op, inputs, tf.float32)
    ref_value, ref_grad = value_and_gradient(reference, inputs, tf.float64)
    assert value.dtype == np.float32 and value.shape == ref_value.shape
    np.testing.assert_allclose(value, ref_value, atol=1e-5, rtol=0)
    grads, ref_grads = (grad, ref_grad) if isinstance(inputs, tuple) else ([grad], [ref_grad])
    for g, ref_g in zip(grads, ref_grads):
        scale = np.abs(ref_g).max()
        assert scale > 0, "the test inputs must produce a nonzero gradient"
        np.testing.assert_allclose(g / scale, ref_g / scale, atol=1e-4, rtol=0)
    return value, grad


def jacobian_error(fn, inputs):
    """Max |analytic - numeric| Jacobian entry of `fn` at float64 `inputs`."""
    theoretical, numerical = tf.test.compute_gradient(fn, [tf.constant(inputs, tf.float64)],
                                                      delta=1e-6)
    return max(np.abs(t - n).max() for t, n in zip(theoretical, numerical))


def assert_jacobians_match(fn, inputs, atol=1e-6):
    """`tf.test.compute_gradient` of `fn(*inputs)` (float64): every input's Jacobian
    is nonzero and matches central differences to `atol` times its largest entry (at least 1)."""
    theoretical, numerical = tf.test.compute_gradient(
        fn, [tf.constant(x, tf.float64) for x in inputs], delta=1e-6)
    for t, n in zip(theoretical, numerical):
        assert np.abs(t).max() > 0, "the test inputs must produce a nonzero Jacobian"
        np.testing.assert_allclose(t, n, atol=atol * max(1.0, np.abs(n).max()))


def near_plane_scene(size):
    """A mesh with faces crossing the near plane, seen by one `[1, 3, 4]` camera.

    The camera sits at z = -2.5 looking down +Z, so depth = z + 2.5 exactly:
    one extra vertex is at depth 0 and one behind the camera.

    Returns:
      (vertices `[1, V, 3]`, kept faces (a sphere and a face in front of it),
      crossing faces `[3, 3]`, projection `[1, 3, 4]`).
    """
    from tf3d.ops import primitives

    extrinsic = conventions.look_at_extrinsics((0.0, 0.0, -2.5))
    projection = conventions.projection_matrix(conventions.intrinsics(40.0, size), extrinsic)[None]
    sphere, sphere_faces = primitives.icosphere(1, radius=0.4)
    extra = np.array([[0.3, 0.2, -2.5], [-0.2, 0.1, -3.0], [0.1, -0.1, -1.0], [0.2, 0.3, -2.3],
                      [-0.1, -0.2, -1.5]])  # depths 0, -0.5, 1.5, 0.2, 1.0
    n = len(sphere)
    vertices = np.concatenate([sphere, extra])[None]
    kept = np.concatenate([sphere_faces, [[n + 2, n + 3, n + 4]]])
    crossing = np.array([[n, n + 2, n + 3], [n + 1, n + 2, n + 3], [n + 1, n + 4, n]])
    return vertices, kept, crossing, projection


def finite_difference_error(render, projection, direction, delta=1e-3):
    """|central difference - tape| / |tape| of `sum(render(P))` along `direction` at `P`.

    For the float32 ops: the step moves the largest entry of `P` by `delta`
    of its size, far above float32 rounding (the kernels compute in double).
    """
    direction = np.asarray(direction, np.float64)
    direction = direction * (delta * np.abs(projection).max() / np.abs(direction).max())
    p = tf.constant(projection, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(p)
        loss = tf.reduce_sum(render(p))
    analytic = float(tf.reduce_sum(tf.cast(tape.gradient(loss, p), tf.float64) * direction))
    d = tf.constant(direction, tf.float32)
    plus = float(tf.reduce_sum(tf.cast(render(p + d), tf.float64)))
    minus = float(tf.reduce_sum(tf.cast(render(p - d), tf.float64)))
    return abs((plus - minus) / 2.0 - analytic) / max(abs(analytic), 1e-12)


def _rotation(vectors):
    """`[B, 3]` rotation vectors -> `[B, 3, 3]` matrices (Rodrigues), differentiable at 0."""
    theta = tf.sqrt(tf.reduce_sum(vectors * vectors, axis=-1) + 1e-12)[:, None, None]
    x, y, z = tf.unstack(vectors, axis=-1)
    zero = tf.zeros_like(x)
    k = tf.reshape(tf.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1), [-1, 3, 3])
    eye = tf.eye(3, batch_shape=tf.shape(vectors)[:1], dtype=vectors.dtype)
    return eye + tf.sin(theta) / theta * k + (1.0 - tf.cos(theta)) / theta ** 2 * (k @ k)


def moved_projections(intrinsics, extrinsics, rotation, translation):
    """`[B, 3, 4]` cameras `K [exp([w]x) R | t + dt]`: `extrinsics [B, 3, 4]` moved by
    rotation vectors `rotation [B, 3]` and translations `translation [B, 3]`
    (differentiable TF; `intrinsics [3, 3]`)."""
    extrinsics = tf.cast(extrinsics, rotation.dtype)
    moved = tf.concat([_rotation(rotation) @ extrinsics[:, :, :3],
                       extrinsics[:, :, 3:] + translation[:, :, None]], axis=-1)
    return tf.cast(intrinsics, rotation.dtype)[None] @ moved


def recover_cameras(render, target, intrinsics, extrinsics, steps, learning_rate):
    """Can it optimise? Fits per-view pose offsets so that `render` matches `target`.

    Args:
      render: `[B, 3, 4]` float32 cameras -> `[B, h, w]` silhouettes.
      target: `[B, h, w]` silhouettes seen through the true cameras.
      intrinsics: `[3, 3]`; extrinsics: `[B, 3, 4]` starting (wrong) poses.
      steps, learning_rate: Adam's.

    Returns:
      (first loss, last loss, rotation `[B, 3]`, translation `[B, 3]`): the
      offsets found, to compare with the perturbation they should undo.
    """
    batch = len(extrinsics)
    rotation = tf.Variable(tf.zeros([batch, 3]))
    translation = tf.Variable(tf.zeros([batch, 3]))
    optimizer = tf.keras.optimizers.Adam(learning_rate=learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            projection = moved_projections(intrinsics, extrinsics, rotation, translation)
            loss = tf.reduce_mean(tf.square(render(projection) - target))
        grads = tape.gradient(loss, [rotation, translation])
        optimizer.apply_gradients(zip(grads, [rotation, translation]))
        return loss

    first = float(step())
    for _ in range(steps - 1):
        last = float(step())
    return first, last, rotation.numpy(), translation.numpy()


def assert_recovers_perturbed_cameras(render, views, atol, seed=0, steps=200, learning_rate=0.005):
    """Perturbs the poses of `views` (a `ViewpointSet`) and checks `recover_cameras` undoes it.

    `render` maps `[B, 3, 4]` float32 cameras to `[B, h, w]` silhouettes; the
    loss must fall 1000-fold and the offsets found must cancel the
    perturbation to `atol`.
    """
    target = render(views.projections().astype(np.float32))
    rotation, translation = np.random.default_rng(seed).normal(0, 0.05, (2, 3, 3)).astype(np.float32)
    moved = moved_projections(views.intrinsics(), views.extrinsics(), tf.constant(rotation),
                              tf.constant(translation))
    start = np.linalg.inv(views.intrinsics())[None] @ moved.numpy()  # wrong extrinsics
    first, last, found_rotation, found_translation = recover_cameras(
        render, target, views.intrinsics().astype(np.float32), start.astype(np.float32),
        steps=steps, learning_rate=learning_rate)
    assert last < 1e-3 * first, (first, last)
    np.testing.assert_allclose(found_rotation, -rotation, atol=atol)
    np.testing.assert_allclose(found_translation, -translation, atol=atol)
