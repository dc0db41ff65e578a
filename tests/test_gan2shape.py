"""GAN2Shape's GAN stage: `tf3d.models.style_gan` and task `gan2shape` for a few steps."""

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
