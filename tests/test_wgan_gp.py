"""Tests of tf3d.losses.wgan_gp against hand-computed critics."""

import numpy as np
import pytest
import tensorflow as tf

from tf3d.losses import wgan_gp


def test_a_linear_critic_has_the_penalty_of_its_weight_norm():
    # D(x) = <w, x>: grad D = w everywhere, so GP = 10 * (||w|| - 1)^2 whatever the interpolation.
    # w = (3, 4) on 1x2 "images": ||w|| = 5, GP = 10 * 16 = 160.
    w = tf.constant([[3.0, 4.0]])
    critic = lambda x, training=False: tf.reduce_sum(x * w, axis=[1, 2])  # noqa: E731
    real = tf.random.uniform([4, 1, 2])
    fake = tf.random.uniform([4, 1, 2])
    assert float(wgan_gp.gradient_penalty(critic, real, fake)) == pytest.approx(160.0, rel=1e-5)
    assert float(wgan_gp.gradient_penalty(critic, real, fake, weight=1.0)) == pytest.approx(16.0, rel=1e-5)


def test_the_penalty_is_taken_at_the_uniform_interpolates():
    # D(x) = 0.5 ||x||^2: grad D(x_hat) = x_hat = eps * real + (1 - eps) * fake.
    # Example 0: real (2, 0), fake (0, 0), eps 0.5 -> x_hat (1, 0), norm 1, term 0.
    # Example 1: real (0, 3), fake (0, 1), eps 0.25 -> x_hat (0, 1.5), norm 1.5, term 0.25.
    # GP = 10 * mean(0, 0.25) = 1.25.
    critic = lambda x, training=False: 0.5 * tf.reduce_sum(x * x, axis=-1)  # noqa: E731
    real = tf.constant([[2.0, 0.0], [0.0, 3.0]])
    fake = tf.constant([[0.0, 0.0], [0.0, 1.0]])
    gp = wgan_gp.gradient_penalty(critic, real, fake, epsilon=[0.5, 0.25])
    assert float(gp) == pytest.approx(1.25, rel=1e-5)


def test_default_interpolation_weights_are_uniform_per_example():
    # With D(x) = 0.5 ||x||^2, real = 1 and fake = 0 in one dimension, the gradient norm is eps itself:
    # E[(eps - 1)^2] = 1/3 for eps ~ U[0, 1].
    tf.random.set_seed(0)
    critic = lambda x, training=False: 0.5 * tf.reduce_sum(x * x, axis=-1)  # noqa: E731
    gp = wgan_gp.gradient_penalty(critic, tf.ones([20000, 1]), tf.zeros([20000, 1]), weight=1.0)
    assert float(gp) == pytest.approx(1.0 / 3.0, abs=0.01)


def test_the_penalty_trains_the_critic_and_the_losses_have_their_signs():
    critic_layer = tf.keras.layers.Dense(1, use_bias=False)
    critic = lambda x, training=False: critic_layer(x)[:, 0]  # noqa: E731
    real, fake = tf.ones([3, 2]), tf.zeros([3, 2])
    critic_layer.build((None, 2))
    critic_layer.kernel.assign([[3.0], [4.0]])
    with tf.GradientTape() as tape:
        gp = wgan_gp.gradient_penalty(critic, real, fake)
    grad = tape.gradient(gp, critic_layer.kernel).numpy()[:, 0]
    # d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w|| = 20 * 4 * (3, 4) / 5
    np.testing.assert_allclose(grad, [48.0, 64.0], rtol=1e-5)
    assert float(wgan_gp.critic_loss(critic(real), critic(fake))) == pytest.approx(-7.0)
    assert float(wgan_gp.generator_loss(critic(real))) == pytest.approx(-7.0)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        wgan_gp.gradient_penalty(lambda x, training=False: x, tf.zeros([2, 3]), tf.zeros([2, 4]))
