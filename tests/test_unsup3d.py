"""Unsup3D: the renderer (`photo_renderer`), the flip, the networks, SIDE/MAD, the task end to end."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf3d import config as config_lib
from tf3d import conventions
from tf3d.metrics import shape_errors
from tf3d.models import photo_renderer, unsup3d_networks
from tf3d.models.photo_geometric import PhotoGeometricAutoencoder
from tf3d.tasks.unsup3d import ellipsoid_depth

SIZE = 32
K = conventions.intrinsics(30.0, SIZE)


def _rays():
    uv = np.stack(np.meshgrid(np.arange(SIZE) + 0.5, np.arange(SIZE) + 0.5, indexing="xy"), -1)
    return np.concatenate([uv, np.ones_like(uv[..., :1])], -1) @ np.linalg.inv(K).T  # [S, S, 3], z = 1


def _plane_depth(normal, point):
    """Depth map of the plane through `point` with unit `normal`: n . (d r - p) = 0 -> d = n.p / n.r."""
    return (np.dot(normal, point) / (_rays() @ normal))[None].astype(np.float32)


def test_unsup3d_renderer_plane_gives_analytic_shading():
    """A tilted plane's depth map gives its normal everywhere and Lambert's shading of it."""
    normal = np.array([0.3, -0.2, -1.0])
    normal /= np.linalg.norm(normal)  # faces the camera (-z)
    depth = _plane_depth(normal, [0.0, 0.0, 2.5])
    got = photo_renderer.depth_normals(depth, K).numpy()[0]
    np.testing.assert_allclose(got, np.broadcast_to(normal, got.shape), atol=1e-4)
    light = photo_renderer.light_direction(tf.constant([[0.5, -0.5]])).numpy()
    np.testing.assert_allclose(light[0], np.array([0.5, -0.5, -1.0]) / math.sqrt(1.5), atol=1e-6)
    shading = photo_renderer.lambertian(tf.constant(got[None]), tf.constant([0.3]), tf.constant([0.6]),
                                        tf.constant(light)).numpy()[0]
    # By hand: 0.3 + 0.6 * max(0, n . l)
    expected = 0.3 + 0.6 * max(0.0, float(np.dot(normal, light[0])))
    np.testing.assert_allclose(shading, expected, atol=1e-4)
    # A light from behind the plane leaves the ambient term only.
    behind = tf.constant(-normal[None], tf.float32)
    np.testing.assert_allclose(photo_renderer.lambertian(tf.constant(got[None]), tf.constant([0.3]),
                                                         tf.constant([0.6]), behind).numpy(), 0.3, atol=1e-5)


def test_unsup3d_renderer_warp_turns_a_plane_by_the_view():
    """The fronto-parallel plane at the rotation centre, turned by theta about y, is the plane with
    normal R (0, 0, -1) through the centre: its depth n.c / n.r at every pixel it covers."""
    theta = 0.3
    depth = np.full((1, SIZE, SIZE), 2.5, np.float32)
    values = tf.constant(np.random.default_rng(0).random((1, SIZE, SIZE, 1)), tf.float32)
    normal = photo_renderer.depth_normals(depth, K)
    rotation = photo_renderer.rotation_matrix(tf.constant([[0.0, theta, 0.0]]))
    warped = photo_renderer.warp_to_view(depth, values, normal, rotation, tf.zeros([1, 3]), K, 2.5)
    turned = rotation.numpy()[0] @ np.array([0.0, 0.0, -1.0])
    expected = _plane_depth(turned, [0.0, 0.0, 2.5])[0]
    mask = warped.mask.numpy()[0]
    assert 0.7 < mask.mean() < 0.98  # the turned plane no longer covers the image's side
    np.testing.assert_allclose(warped.depth.numpy()[0][mask], expected[mask], rtol=1e-4)
    np.testing.assert_allclose(warped.normal.numpy()[0][mask], np.broadcast_to(turned, (mask.sum(), 3)),
                               atol=1e-4)
    # The identity view carries the canonical values to the same pixels.
    same = photo_renderer.warp_to_view(depth, values, normal, photo_renderer.rotation_matrix(tf.zeros([1, 3])),
                                       tf.zeros([1, 3]), K, 2.5)
    inner = same.mask.numpy()[0]
    np.testing.assert_allclose(same.image.numpy()[0][inner], values.numpy()[0][inner], atol=1e-4)
    np.testing.assert_allclose(same.depth.numpy()[0][inner], 2.5, rtol=1e-5)


def test_unsup3d_renderer_gradients_reach_depth_and_view():
    depth = tf.Variable(np.full((1, SIZE, SIZE), 2.5, np.float32) + 0.05 * np.random.default_rng(1).random(
        (1, SIZE, SIZE)).astype(np.float32))
    angles = tf.Variable([[0.05, 0.1, 0.0]])
    with tf.GradientTape() as tape:
        normal = photo_renderer.depth_normals(depth, K)
        shading = photo_renderer.lambertian(normal, tf.constant([0.3]), tf.constant([0.7]),
                                            photo_renderer.light_direction(tf.constant([[0.3, 0.2]])))
        warped = photo_renderer.warp_to_view(depth, shading[..., None], normal, photo_renderer.rotation_matrix(angles),
                                             tf.zeros([1, 3]), K, 2.5)
        loss = tf.reduce_sum(warped.image) + tf.reduce_sum(warped.depth)
    d_depth, d_angles = tape.gradient(loss, [depth, angles])
    assert np.isfinite(d_depth.numpy()).all() and np.abs(d_depth.numpy()).sum() > 0
    assert np.isfinite(d_angles.numpy()).all() and np.abs(d_angles.numpy()).sum() > 0


def _model(**kwargs):
    model = PhotoGeometricAutoencoder(image_size=SIZE, intrinsics=K.tolist(), nf=8, zdim=16, **kwargs)
    model.build((None, SIZE, SIZE, 1))
    return model


def _factors(albedo, depth):
    b = albedo.shape[0]
    return {"depth": tf.constant(depth, tf.float32), "albedo": tf.constant(albedo, tf.float32),
            "rotation": photo_renderer.rotation_matrix(tf.zeros([b, 3])), "translation": tf.zeros([b, 3]),
            "ambient": tf.fill([b], 0.4), "diffuse": tf.fill([b], 0.6),
            "light": photo_renderer.light_direction(tf.zeros([b, 2]))}


def test_unsup3d_flip_mirrors_the_canonical_maps():
    model = _model()
    rng = np.random.default_rng(2)
    albedo = rng.random((2, SIZE, SIZE)).astype(np.float32)
    depth = 2.5 + 0.1 * rng.random((2, SIZE, SIZE)).astype(np.float32)
    flipped = model.render(_factors(albedo, depth), flip=True)
    by_hand = model.render(_factors(albedo[:, :, ::-1], depth[:, :, ::-1]))
    np.testing.assert_allclose(flipped["canonical_image"].numpy(), by_hand["canonical_image"].numpy(), atol=1e-6)
    np.testing.assert_allclose(flipped["image"].numpy(), by_hand["image"].numpy(), atol=1e-6)
    # A left-right symmetric object under a light on the symmetry plane renders the same flipped.
    sym_albedo, sym_depth = albedo + albedo[:, :, ::-1], depth + depth[:, :, ::-1] - 2.5
    plain = model.render(_factors(sym_albedo, sym_depth))["canonical_image"].numpy()
    mirrored = model.render(_factors(sym_albedo, sym_depth), flip=True)["canonical_image"].numpy()
    np.testing.assert_allclose(plain, mirrored, atol=1e-5)
    assert np.abs(flipped["canonical_image"].numpy() - model.render(_factors(albedo, depth))[
        "canonical_image"].numpy()).max() > 0.1  # an asymmetric one does not


@pytest.mark.parametrize("size", [32, 64])
def test_unsup3d_network_shapes(size):
    images = tf.zeros([2, size, size, 1])
    assert unsup3d_networks.encoder_decoder(size, 8, 16, 1)(images).shape == (2, size, size, 1)
    assert unsup3d_networks.vector_encoder(size, 6, 8)(images).shape == (2, 6)
    light = unsup3d_networks.vector_encoder(size, 4, 8)(images + 1.0).numpy()
    assert light.shape == (2, 4) and np.all(np.abs(light) < 1)
    full, quarter = unsup3d_networks.confidence_net(size, 8, 16)(images)
    assert full.shape == (2, size, size, 2) and quarter.shape == (2, size // 4, size // 4, 2)
    assert np.all(full.numpy() >= 0)
    with pytest.raises(ValueError, match="power of two"):
        unsup3d_networks.encoder_decoder(48)


def test_unsup3d_decompose_ranges_and_shapes():
    model = _model(min_depth=2.0, max_depth=3.0)
    images = tf.constant(np.random.default_rng(3).random((2, SIZE, SIZE, 1)), tf.float32)
    f = model.decompose(images)
    assert f["depth"].shape == (2, SIZE, SIZE) and f["albedo"].shape == (2, SIZE, SIZE)
    assert f["rotation"].shape == (2, 3, 3) and f["translation"].shape == (2, 3)
    assert np.all((f["depth"].numpy() >= 2.0) & (f["depth"].numpy() <= 3.0))
    np.testing.assert_allclose(f["depth"].numpy()[:, :, :2], 0.7 * 3.0 + 0.3 * 2.0, rtol=1e-6)  # border
    np.testing.assert_allclose(np.linalg.norm(f["light"].numpy(), axis=-1), 1.0, rtol=1e-5)
    assert model(images).shape == (2, SIZE, SIZE, 1)


def test_unsup3d_objective_decreases_and_perceptual_with_random_vgg():
    """A few Adam steps reduce the loss; the perceptual term (random VGG16: no ImageNet weights here) is
    finite and reaches the depth network."""
    model = _model(perceptual_weight=1.0)
    assert model.vgg is not None
    images = tf.constant(np.random.default_rng(4).random((2, SIZE, SIZE, 1)) * 0.5 + 0.2, tf.float32)
    with tf.GradientTape() as tape:
        total, terms, _ = model._objective(images, training=True)
    assert np.isfinite(float(terms["perceptual"])) and float(terms["perceptual"]) != 0.0
    grads = tape.gradient(terms["perceptual"], model.depth_net.trainable_variables)
    assert any(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)
    smooth = _model(depth_smoothness=1.0)
    total_smooth, smooth_terms, _ = smooth._objective(images, training=True)
    assert float(smooth_terms["smoothness"]) > 0
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    first = float(total)
    for _ in range(8):
        logs = model.train_step({"image": images})
    assert float(logs["loss"]) < first


def test_unsup3d_side_and_mad_by_hand():
    gt = np.full((1, 2, 2), 2.0)
    mask = np.array([[[1.0, 1.0], [0.0, 0.0]]])
    # A global scale is free: SIDE 0.
    np.testing.assert_allclose(shape_errors.side(3.0 * gt, gt, mask).numpy(), [0.0], atol=1e-12)
    # log differences 0 and ln 2 on the mask: mean ln2 / 2, deviations +-ln2 / 2 -> SIDE = ln2 / 2 = 0.34657
    pred = np.array([[[2.0, 4.0], [9.0, 9.0]]])
    np.testing.assert_allclose(shape_errors.side(pred, gt, mask).numpy(), [math.log(2.0) / 2.0], rtol=1e-9)
    n_gt = np.zeros((1, 2, 2, 3))
    n_gt[..., 2] = -1.0
    n = n_gt.copy()
    n[0, 0, 1] = [1.0, 0.0, -1.0]  # 45 degrees off; the other masked pixel is exact -> mean 22.5
    n[0, 1, 0] = [1.0, 0.0, 0.0]  # 90 degrees off but off the mask
    np.testing.assert_allclose(shape_errors.mad(n, n_gt, mask).numpy(), [22.5], rtol=1e-9)
    with pytest.raises(ValueError, match="depth must have rank 3"):
        shape_errors.side(gt[0], gt, mask)


def test_unsup3d_ellipsoid_prior():
    mask = np.zeros((1, 9, 9), bool)
    mask[0, 2:7, 1:8] = True
    depth = ellipsoid_depth(mask, 2.5)
    assert depth[0, 4, 4] == pytest.approx(2.5 - 0.25, abs=1e-6)  # the box's centre: the full bump
    assert depth[0, 0, 0] == 2.5 and depth[0, 8, 8] == 2.5
    assert depth[0, 4, 2] > depth[0, 4, 4]


def test_unsup3d_config_checks_the_image_size():
    with pytest.raises(config_lib.ConfigError, match="power of two"):
        config_lib.resolve("experiments/unsup3d_local.yaml", ["data.image_size=48"])
    with pytest.raises(config_lib.ConfigError, match="max_depth"):
        config_lib.resolve("experiments/unsup3d_local.yaml", ["task.model.max_depth=1.0"])


@pytest.mark.slow
def test_unsup3d_task_trains_and_evaluates(shaded_dataset, tmp_path):
    from tf3d import evaluate, train

    run_dir = str(tmp_path / "run")
    cfg = config_lib.resolve("experiments/unsup3d_local.yaml", [f"data.dir={shaded_dataset}",
                                                                f"run_dir={run_dir}"])
    summary = train.train(cfg, verbose=0)
    assert np.isfinite(summary["final"]["loss"]) and np.isfinite(summary["final"]["val_side"])
    task, report, path = evaluate.evaluate_run(run_dir, split="test")
    scores = report["scores"]
    assert set(scores) == {"unsup3d", "constant", "ellipsoid", "gt_depth_normals"}
    assert scores["gt_depth_normals"]["side"] == pytest.approx(0.0, abs=1e-6)
    assert all(np.isfinite(s["mad"]) for s in scores.values())
    assert "SIDE" in task.format_report(report)


def _cube_and_wall():
    """A cube of side 0.7 at the origin and a wall quad at z = -0.6 behind it (as `pipelines.shaded` builds)."""
    corners = np.array([[x, y, z] for x in (-0.35, 0.35) for y in (-0.35, 0.35) for z in (-0.35, 0.35)])
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    wall = np.array([[-2.5, -2.5, -0.6], [2.5, -2.5, -0.6], [2.5, 2.5, -0.6], [-2.5, 2.5, -0.6]])
    vertices = np.concatenate([corners, wall])
    faces = [f for a, b, c, d in quads for f in ((a, b, c), (a, c, d))] + [(8, 9, 10), (8, 10, 11)]
    albedo = np.concatenate([0.5 + 0.3 * (corners[:, 1] + 0.35), np.full(4, 0.35)])  # a ramp in height
    return vertices, np.array(faces), albedo


def test_unsup3d_renderer_reproduces_the_data_from_its_ground_truth():
    """The shaded data's ground truth (depth, albedo, light; `pipelines.shaded.ground_truth`) through the
    model's renderer with the identity view gives the data's image, Lambert's law on the true normals
    (`tests/test_shaded.py` checks that against Blender's pixels): the renderer's normal and light
    conventions are the data's. A light mirrored left-right does not."""
    from pipelines import shaded

    size = 64
    k = conventions.intrinsics(30.0, size)
    extrinsic = conventions.look_at_extrinsics(conventions.camera_position(25.0, 20.0, 2.5))
    vertices, faces, albedo = _cube_and_wall()
    depth, normal, albedo_map, _ = shaded.ground_truth(vertices, faces, albedo, k, extrinsic, size)
    assert (depth > 0).all()  # the wall fills the frame
    light = np.array([0.35, 0.6, *(np.array([0.6, -0.4, -1.0]) / np.linalg.norm([0.6, -0.4, -1.0]))])
    image = albedo_map * (light[0] + light[1] * np.maximum(0.0, normal @ light[2:]))  # the data's image
    model = PhotoGeometricAutoencoder(image_size=size, intrinsics=k.tolist(), nf=4, zdim=4)

    def render(direction):
        factors = {"depth": tf.constant(depth[None]), "albedo": tf.constant(albedo_map[None]),
                   "rotation": photo_renderer.rotation_matrix(tf.zeros([1, 3])), "translation": tf.zeros([1, 3]),
                   "ambient": tf.constant([light[0]], tf.float32), "diffuse": tf.constant([light[1]], tf.float32),
                   "light": tf.constant(direction[None], tf.float32)}
        out = model.render(factors)
        return out["image"].numpy()[0, ..., 0], out["normal"].numpy()[0], out["mask"].numpy()[0]

    rendered, rendered_normal, seen = render(light[2:])
    # Pixels inside one face: the 3x3 neighbourhood's true normals agree and its depth is continuous
    # (finite differences blur edges; the cube's front face and the wall share their normal).
    same = np.ones((size, size), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            same &= np.sum(normal * np.roll(normal, (dy, dx), (0, 1)), -1) > 0.9999
            same &= np.abs(depth - np.roll(depth, (dy, dx), (0, 1))) < 0.05
    inside = same & seen
    inside[[0, -1]], inside[:, [0, -1]] = False, False
    assert inside.sum() > 0.6 * size * size
    assert np.median(np.abs(rendered - image)[inside]) < 1e-3
    np.testing.assert_allclose(rendered_normal[inside], normal[inside], atol=2e-3)
    mirrored, _, _ = render(light[2:] * np.array([-1.0, 1.0, 1.0]))
    assert np.median(np.abs(mirrored - image)[inside]) > 0.05


def test_unsup3d_flat_start_and_confidence_floor():
    """`flat_start`: the depth starts flat (mid-range inside the fixed border) and the albedo at 0.5, where
    Glorot's start is pixel-scale noise; `confidence_floor` bounds every confidence scale from below."""
    images = tf.constant(np.random.default_rng(5).random((2, SIZE, SIZE, 1)), tf.float32)
    flat = _model(min_depth=2.0, max_depth=3.0, flat_start=True, confidence_floor=0.5).decompose(images)
    np.testing.assert_allclose(flat["depth"].numpy()[:, :, 2:-2], 2.5, atol=1e-6)
    np.testing.assert_allclose(flat["albedo"].numpy(), 0.5, atol=1e-6)
    assert flat["sigma"].numpy().min() >= 0.5 and flat["sigma_perceptual"].numpy().min() >= 0.5
    noisy = _model(min_depth=2.0, max_depth=3.0).decompose(images)["depth"].numpy()[:, :, 2:-2]
    assert np.abs(np.diff(noisy, axis=2)).mean() > 1e-2


def test_unsup3d_view_warmup_holds_then_releases_the_view():
    """`view_warmup` W: the view is the identity up to step W, then ramps in, fully applied from step 2W
    on; the gate is a weight, so a saved model keeps it."""
    model = _model(view_warmup=1, flat_start=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    images = tf.constant(np.random.default_rng(6).random((2, SIZE, SIZE, 1)), tf.float32)
    gates = []
    for _ in range(3):
        model.train_step({"image": images})
        gates.append(float(model.view_gate.numpy()))
        if gates[-1] == 0.0:
            np.testing.assert_allclose(model.decompose(images)["rotation"].numpy(), np.broadcast_to(np.eye(3), (2, 3, 3)),
                                       atol=1e-6)
    assert gates == [0.0, 0.0, 1.0]
    assert not np.allclose(model.decompose(images)["rotation"].numpy(), np.eye(3), atol=1e-4)
    assert any(w is model.view_gate for w in model.non_trainable_weights)
    with pytest.raises(config_lib.ConfigError, match="view_warmup"):
        config_lib.resolve("experiments/unsup3d_local.yaml", ["task.model.view_warmup=-1"])


def test_unsup3d_oracle_fits_a_free_depth_to_the_shading():
    """`tf3d.unsup3d_oracle.fit_free_depth`: the true depth of a tilted plane rendered by the model's
    renderer costs nothing, and from a flat start Adam lowers the loss (it can optimise)."""
    from tf3d.unsup3d_oracle import fit_free_depth

    normal = np.array([0.5, -0.3, -1.0])
    normal /= np.linalg.norm(normal)
    depth = _plane_depth(normal, [0.0, 0.0, 2.5])
    light = np.array([[0.3, 0.6, *(np.array([-0.5, 0.2, -1.0]) / np.linalg.norm([-0.5, 0.2, -1.0]))]], np.float32)
    albedo = np.full_like(depth, 0.7)
    image = albedo * photo_renderer.lambertian(photo_renderer.depth_normals(depth, K), light[:, 0], light[:, 1],
                                               light[:, 2:]).numpy()
    _, _, at_truth, _ = fit_free_depth(image, albedo, light, K, depth, steps=0)
    assert at_truth < 1e-5
    _, normals, first, last = fit_free_depth(image, albedo, light, K, np.full_like(depth, 2.5), steps=60,
                                             learning_rate=3e-3)
    assert first > 0.05 and last < 0.5 * first
    assert np.isfinite(normals).all()
    with pytest.raises(ValueError, match="light"):
        fit_free_depth(image, albedo, light[:, :3], K, depth)


def test_unsup3d_oracle_one_sided_normals_keep_faces_at_a_depth_edge():
    """One-sided normals equal central ones on a plane, and stay the plane's next to a depth step, where
    central differences straddle the step."""
    from tf3d.unsup3d_oracle import one_sided_normals

    normal = np.array([0.3, -0.2, -1.0])
    normal /= np.linalg.norm(normal)
    plane = _plane_depth(normal, [0.0, 0.0, 2.5])
    np.testing.assert_allclose(one_sided_normals(plane, K).numpy(), photo_renderer.depth_normals(plane, K).numpy(),
                               atol=1e-4)
    step = plane.copy()
    step[:, :, SIZE // 2:] *= 1.2  # the right half: the parallel plane further back, a depth edge at column 16
    edge = (slice(2, -2), slice(SIZE // 2 - 1, SIZE // 2 + 1))
    np.testing.assert_allclose(one_sided_normals(step, K).numpy()[0][edge], np.broadcast_to(
        normal, (SIZE - 4, 2, 3)), atol=2e-2)
    assert np.abs(photo_renderer.depth_normals(step, K).numpy()[0][edge] - normal).max() > 0.3
