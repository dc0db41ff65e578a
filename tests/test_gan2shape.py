"""GAN2Shape: the GAN (`tf3d.models.style_gan`, task `gan2shape`) and the per-instance stages
(`tf3d.models.gan2shape`, `tf3d.gan2shape_stages`), each for a few steps on tiny fixtures."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf3d import config as config_lib
from tf3d.models import style_gan


def test_gan2shape_modulated_conv_demodulates():
    """With demodulation, unit-variance inputs give unit-variance outputs whatever the style's scale."""
    layer = style_gan.ModulatedConv2D(16, 3)
    x = tf.random.normal([2, 32, 32, 32], seed=1)
    w = tf.random.normal([2, 8], seed=2)
    y = layer([x, w]).numpy()
    y_scaled = layer([x, 5.0 * w]).numpy()
    assert y.shape == (2, 32, 32, 16)
    assert 0.8 < y[:, 2:-2, 2:-2].std() < 1.2 and 0.8 < y_scaled[:, 2:-2, 2:-2].std() < 1.2
    plain = style_gan.ModulatedConv2D(16, 1, demodulate=False)
    # Without it ("to gray"), the output scales with the style.
    assert plain([x, 50.0 * w]).numpy().std() > 5 * plain([x, w]).numpy().std()


def test_gan2shape_network_shapes():
    assert style_gan.num_styles(32) == 11
    synthesis = style_gan.synthesis_network(32, 8, 8)
    assert synthesis(tf.zeros([3, 11, 8])).shape == (3, 32, 32, 1)
    assert style_gan.discriminator(32, 8)(tf.zeros([3, 32, 32, 1])).shape == (3, 1)
    assert style_gan.mapping_network(8, 6, 2)(tf.ones([3, 8])).shape == (3, 6)
    with pytest.raises(ValueError, match="power of two"):
        style_gan.synthesis_network(24)


def test_gan2shape_gan_steps_are_finite():
    gan = style_gan.StyleGAN(image_size=16, z_dim=8, w_dim=8, mapping_layers=2, channels=8)
    gan.build((None, 8))
    gan.compile(keras.optimizers.Adam(2e-3, beta_1=0.0), keras.optimizers.Adam(2e-3, beta_1=0.0))
    real = tf.constant(np.random.default_rng(0).random((4, 16, 16, 1)), tf.float32)
    before = [v.numpy().copy() for v in gan.synthesis.trainable_variables]
    for _ in range(2):
        logs = gan.train_step({"image": real})
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert any(np.abs(a - v.numpy()).max() > 0 for a, v in zip(before, gan.synthesis.trainable_variables))
    assert gan(tf.zeros([2, 8])).shape == (2, 16, 16, 1)


@pytest.mark.slow
def test_gan2shape_task_trains_and_evaluates(shaded_dataset, tmp_path):
    from tf3d import evaluate, train

    run_dir = str(tmp_path / "gan")
    cfg = config_lib.resolve("experiments/gan2shape_local.yaml", [f"data.dir={shaded_dataset}",
                                                                  f"run_dir={run_dir}"])
    summary = train.train(cfg, verbose=0)
    assert np.isfinite(summary["final"]["g_loss"]) and np.isfinite(summary["final"]["val_d_real"])
    task, report, _ = evaluate.evaluate_run(run_dir, split="test")
    assert np.isfinite(report["d_real"]) and report["images"] > 0
    assert "discriminator" in task.format_report(report)


# ---------------------------------------------------------------- per-instance stages

SIZE = 16  # instance side of the tiny fixture (the GAN: 16 px too)


def _bump_scene(count=3, size=SIZE):
    """Analytic shaded instances: a half-ellipsoid bump on a wall, Lambert-shaded (the shaded build's image
    formation, `tf3d.data.shaded_records`). numpy: image `[N, S, S]`, mask, depth, normal, light, K."""
    from tf3d import conventions
    from tf3d.models import photo_renderer
    from tf3d.tasks.unsup3d import ellipsoid_depth

    k = conventions.intrinsics(30.0, size).astype(np.float32)
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    masks = np.stack([((rows - size / 2) / (size * (0.25 + 0.05 * i))) ** 2
                      + ((cols - size / 2) / (size * 0.3)) ** 2 < 1 for i in range(count)])
    depth = ellipsoid_depth(masks, 2.5, height_fraction=0.8)  # the wall at the rim's depth
    normal = photo_renderer.depth_normals(depth, k).numpy()
    xy = rng.uniform(-1, 1, (count, 2)).astype(np.float32)
    direction = photo_renderer.light_direction(xy).numpy()
    light = np.concatenate([np.full((count, 1), 0.3), np.full((count, 1), 0.7), direction], -1).astype(np.float32)
    albedo = np.where(masks, 0.8, 0.6).astype(np.float32)
    shading = photo_renderer.lambertian(normal, light[:, 0], light[:, 1], direction).numpy()
    return {"image": albedo * shading, "mask": masks, "depth": depth, "normal": normal, "light": light,
            "albedo": albedo, "intrinsics": k}


def _write_shaded(directory, scene):
    """A shaded build of `scene`'s images, all in the test split (`tf3d.data.shaded_records`)."""
    from tf3d.data import shaded_records

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "bumps-test.tfrecord-00000-of-00001")
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(len(scene["image"])):
            writer.write(shaded_records.encode_example(
                model_id=f"bump{i}", category="chair", view=0,
                image=(np.clip(scene["image"][i], 0, 1) * 255).round().astype(np.uint8),
                mask=scene["mask"][i].astype(np.uint8) * 255, depth=scene["depth"][i], normal=scene["normal"][i],
                albedo=scene["albedo"][i], light=scene["light"][i], azimuth=0.0, elevation=0.0,
                intrinsics=scene["intrinsics"], extrinsics=np.eye(3, 4)))
    n = len(scene["image"])
    info = {"name": "bumps", "format": shaded_records.INFO_FORMAT, "image_size": SIZE,
            "splits": {"train": {"num_records": 0}, "val": {"num_records": 0}, "test": {"num_records": n}}}
    with open(os.path.join(directory, shaded_records.INFO_FILE), "w") as fh:
        json.dump(info, fh)
    return directory


def _tiny_gan():
    gan = style_gan.StyleGAN(image_size=16, z_dim=8, w_dim=8, mapping_layers=2, channels=8)
    gan.build((None, 8))
    return gan


def _stages_config(**overrides):
    from tf3d import gan2shape_stages

    sets = [f"{k}={v}" for k, v in overrides.items()]
    return gan2shape_stages.resolve("experiments/gan2shape_stages_local.yaml", sets)


def _stages(config, scene, index=0):
    from tf3d import gan2shape_stages
    from tf3d.models import gan2shape
    from tf3d.tasks.unsup3d import ellipsoid_depth

    gan = _tiny_gan()
    stages = gan2shape_stages.Stages(config, gan, SIZE, scene["intrinsics"])
    prior = ellipsoid_depth(scene["mask"][index:index + 1], 2.5)
    styles = gan2shape.mean_styles(gan)[None]
    stages.start(scene["image"][index:index + 1, ..., None], prior, styles)
    return stages


def test_gan2shape_inversion_lowers_its_loss():
    """Optimizing the per-layer styles brings the GAN's image closer to the target."""
    from tf3d.models import gan2shape

    gan = _tiny_gan()
    target = gan.synthesis(gan.styles(gan.mapping(tf.random.normal([2, 8], seed=3))))
    styles, losses = gan2shape.invert_styles(gan, target, steps=30, learning_rate=0.05)
    assert styles.shape == (2, gan.num_styles, 8)
    assert losses[-1] < 0.7 * losses[0]
    with pytest.raises(ValueError, match=r"\[B, 16, 16, 1\]"):
        gan2shape.invert_styles(gan, tf.zeros([1, 32, 32, 1]), steps=1)


def test_gan2shape_prior_and_step1_fit_the_instance():
    """The depth network learns the ellipsoid; step 1 (albedo and light, depth and view held) lowers
    the reconstruction error of the instance and leaves the depth and view networks untouched."""
    scene = _bump_scene()
    stages = _stages(_stages_config(), scene)
    nets = stages.nets
    first, last = stages.run_step("prior", 40)
    assert last < 0.3 * first
    depth_before = nets.depth(stages.image).numpy()
    view_before = [w.copy() for w in nets.view_net.get_weights()]
    first, last = stages.run_step("step1", 40)
    assert last < 0.7 * first
    np.testing.assert_array_equal(nets.depth(stages.image).numpy(), depth_before)
    assert all(np.array_equal(a, b) for a, b in zip(view_before, nets.view_net.get_weights()))


def test_gan2shape_offset_regularizer_and_step2():
    """The regularizer is `lambda mean(dw^2)`; the encoder starts at zero offsets (the projected sample is
    G(w)); step 2 lowers the projection error, and a large lambda keeps the offsets smaller."""
    from tf3d.models import gan2shape

    offsets = tf.constant(np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 10)
    np.testing.assert_allclose(gan2shape.offset_regularizer(offsets, 0.5).numpy(),
                               0.5 * np.mean(np.square(offsets.numpy())), rtol=1e-6)
    scene = _bump_scene()
    norms = {}
    for weight in (0.0, 100.0):
        stages = _stages(_stages_config(**{"loss.offset": weight}), scene)
        stages.make_pseudo_samples()
        small = gan2shape.to_gan_size(stages.pseudo[:4], 16)
        at_start = stages.inversion_terms(small)
        assert float(at_start["offset"]) == 0.0
        np.testing.assert_allclose(at_start["projected"].numpy(),
                                   np.repeat(stages.gan.synthesis(stages.styles).numpy(), 4, 0), atol=1e-5)
        stages.run_step("step2", 30)
        if weight == 0.0:  # on the fixed samples, not the random batches the steps saw
            assert float(stages.inversion_terms(small)["l1"]) < 0.95 * float(at_start["l1"])
        norms[weight] = float(tf.reduce_mean(tf.square(stages.encoder(small))))
    assert norms[100.0] < 0.5 * norms[0.0]


def test_gan2shape_pseudo_samples_follow_their_views():
    """Pseudo samples of a bump under a turned view differ from the unturned rendering, and a sampled view
    at yaw 0, pitch 0 reproduces the instance's rendering."""
    scene = _bump_scene()
    stages = _stages(_stages_config(**{"sampling.yaw": 0.0, "sampling.pitch": 0.0}), scene)
    pseudo = stages.make_pseudo_samples().numpy()
    assert pseudo.shape == (8, SIZE, SIZE, 1) and np.isfinite(pseudo).all()
    view, light = stages.sample_views_and_lights(3)
    np.testing.assert_allclose(view[0].numpy(), np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-6)
    stages = _stages(_stages_config(**{"sampling.yaw": 30.0}), scene)
    view, _ = stages.sample_views_and_lights(64)
    yaw = np.degrees(np.arcsin(view[0].numpy()[:, 0, 2]))
    assert np.abs(yaw).max() <= 30.0 + 1e-3 and np.abs(yaw).max() > 15.0


def test_gan2shape_step3_lowers_its_loss():
    scene = _bump_scene()
    stages = _stages(_stages_config(), scene)
    stages.run_step("prior", 10)
    stages.make_pseudo_samples()
    stages.project()
    first, last = stages.run_step("step3", 30)
    assert np.isfinite(last) and last < first


def test_gan2shape_stages_end_to_end(tmp_path):
    """The whole loop on a tiny shaded build: scores for the prior and every stage, the picture, and the
    analytic ellipsoid baseline better than constant depth on bumps that are ellipsoids."""
    from tf3d import gan2shape_stages

    data = _write_shaded(str(tmp_path / "bumps"), _bump_scene(count=3))
    out = str(tmp_path / "out")
    config = _stages_config(**{"instances.data": data, "out_dir": out, "instances.every": 2})
    result = gan2shape_stages.run(config, gan=_tiny_gan(), progress=False)
    assert [r["id"] for r in result["instances"]] == ["bump0", "bump2"]
    scores = result["summary"]
    assert set(scores) == {"constant", "ellipsoid", "prior", "stage1", "stage2"}
    assert all(np.isfinite(s["side"]) and np.isfinite(s["mad"]) for s in scores.values())
    assert scores["ellipsoid"]["mad"] < scores["constant"]["mad"]
    assert os.path.isfile(os.path.join(out, "stages.png")) and os.path.isfile(os.path.join(out, "metrics.json"))
    assert "stage2" in gan2shape_stages.format_scores(result)


def test_gan2shape_stages_config_validation():
    from tf3d import gan2shape_stages

    with pytest.raises(config_lib.ConfigError, match="steps.batch"):
        _stages_config(**{"steps.batch": 100})
    with pytest.raises(config_lib.ConfigError, match="loss.offset"):
        _stages_config(**{"loss.offset": -1})
    with pytest.raises(config_lib.ConfigError, match="rotation_centre"):
        _stages_config(**{"networks.rotation_centre": 5.0})
    with pytest.raises(config_lib.ConfigError, match="networks.nf"):
        _stages_config(**{"networks.nf": 6})
    with pytest.raises(config_lib.ConfigError, match="unknown config key 'steps.step4'"):
        _stages_config(**{"steps.step4": 1})
    with pytest.raises(config_lib.ConfigError, match="instances.every"):
        _stages_config(**{"instances.every": 0})
    with pytest.raises(config_lib.ConfigError, match="sampling.ambient"):
        _stages_config(**{"sampling.ambient": "[0.5, 0.1]"})
    assert gan2shape_stages.resolve("experiments/gan2shape_stages.yaml").stages >= 1
