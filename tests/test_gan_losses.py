"""GAN losses with the labels the right way round, against 3D-FCR-alphaGAN's original form.

Hand-computed case: one fake logit d = 0 (the discriminator undecided).

    ours, D's fake term:  BCE(labels=0, logits=d) = log(1 + e^d)          = log 2
                          d/dd                    = sigmoid(d)            = 0.5
    original:             BCE(labels=d, logits=0) = max(0,0) - 0*d + log(1 + e^0) = log 2 for every d
                          d/dd                    = 0                      (no gradient at all)
    ours, G's term:       BCE(labels=1, logits=d) = log(1 + e^-d) = log 2, d/dd = sigmoid(d) - 1 = -0.5
    original "ones" form: BCE(labels=d, logits=1) = 1 - d + log(1 + e^-1), d/dd = -1 for every d
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tf3d.losses.gan import discriminator_loss, generator_loss
from tf3d.losses.kl_divergence import kl_divergence


def _original_fake_term(d):  # the TF1 code: outputs passed as labels, constants as logits
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=d, logits=tf.zeros_like(d)))


def _original_real_term(d):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=d, logits=tf.ones_like(d)))


def _value_and_grad(fn, value):
    d = tf.Variable([[value]], dtype=tf.float64)
    with tf.GradientTape() as tape:
        loss = fn(d)
    return float(loss), float(tape.gradient(loss, d)[0, 0])


def test_fake_term_has_the_gradient_the_original_form_lacks():
    real = tf.constant([[50.0]], tf.float64)  # confidently real: its term is ~0
    loss, grad = _value_and_grad(lambda d: discriminator_loss(real, d), 0.0)
    assert loss == pytest.approx(math.log(2.0), abs=1e-12)
    assert grad == pytest.approx(0.5, abs=1e-12)
    for value in (-3.0, 0.0, 2.5):
        loss, grad = _value_and_grad(_original_fake_term, value)
        assert loss == pytest.approx(math.log(2.0), abs=1e-12)  # a constant, whatever D says
        assert grad == 0.0


def test_generator_loss_saturates_as_stated_and_the_original_does_not():
    loss, grad = _value_and_grad(generator_loss, 0.0)
    assert loss == pytest.approx(math.log(2.0), abs=1e-12)
    assert grad == pytest.approx(-0.5, abs=1e-12)
    _, grad_far = _value_and_grad(generator_loss, 8.0)  # D fooled: -log sigmoid(8) is flat there
    assert grad_far == pytest.approx(1.0 / (1.0 + math.exp(8.0)) * -1.0, rel=1e-9)
    for value in (0.0, 8.0):
        loss, grad = _value_and_grad(_original_real_term, value)
        assert loss == pytest.approx(1.0 - value + math.log(1.0 + math.exp(-1.0)), abs=1e-12)
        assert grad == pytest.approx(-1.0, abs=1e-12)  # linear in d: not the loss the paper states


def test_discriminator_loss_sums_the_mean_of_each_fake_batch():
    real = np.array([[1.0], [-1.0]])
    fakes = (np.array([[0.0], [2.0]]), np.array([[-2.0]]))
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731  BCE(1, x) = softplus(-x), BCE(0, x) = softplus(x)
    expected = softplus(-real).mean() + softplus(fakes[0]).mean() + softplus(fakes[1]).mean()
    assert float(discriminator_loss(real, *fakes)) == pytest.approx(expected, rel=1e-12)


def test_kl_divergence_by_hand():
    # one example, two dims: mean (1, 0), log_var (0, log 2): 0.5*(1+1-1-0) + 0.5*(2+0-1-log 2)
    mean = np.array([[1.0, 0.0]])
    log_var = np.array([[0.0, math.log(2.0)]])
    assert float(kl_divergence(mean, log_var)) == pytest.approx(0.5 + 0.5 * (1.0 - math.log(2.0)), rel=1e-12)
    with pytest.raises(ValueError, match="one shape"):
        kl_divergence(mean, log_var[:, :1])
