"""Non-saturating GAN losses on logits, with the labels the right way round.

For a discriminator D with logits d (positive: real), Goodfellow et al.
(2014) and alpha-GAN (Rosca et al., 2017, eqs. 6-9) train

    D:  -log sigmoid(d_real) - log(1 - sigmoid(d_fake))  = BCE(labels=1, logits=d_real) + BCE(labels=0, logits=d_fake)
    G:  -log sigmoid(d_fake)                               = BCE(labels=1, logits=d_fake)

3D-FCR-alphaGAN's TensorFlow 1 code called
`sigmoid_cross_entropy_with_logits(labels=d, logits=ones_like(d))` (and
`zeros_like(d)` for the fake targets): the discriminator's output became the
label and a constant the logit. That loss is `c - d` for the ones and the
constant `log 2` for the zeros, so the fake terms carry no gradient at all
and the real terms push d linearly, without the saturation the stated loss
has; `tests/test_gan_losses.py` works one case by hand. Here the logits are
the discriminator's outputs and the labels the constants.

The same functions serve the code discriminator (prior codes are "real",
encoder codes "fake").
"""

import tensorflow as tf


def _bce(labels_value, logits):
    logits = tf.convert_to_tensor(logits)
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), tf.cast(labels_value,
                                                                                             logits.dtype)),
                                                   logits=logits)


def discriminator_loss(real_logits, *fake_logits):
    """Mean BCE of real logits against 1 plus, for each fake batch, its BCE against 0.

    Args:
      real_logits: `[B, 1]` (or `[B]`) logits of real examples.
      *fake_logits: any number of `[B', 1]` logits of generated examples (alpha-GAN
        has two: reconstructions and samples from the prior).

    Returns:
      scalar.
    """
    loss = tf.reduce_mean(_bce(1.0, real_logits))
    for fake in fake_logits:
        loss += tf.reduce_mean(_bce(0.0, fake))
    return loss


def generator_loss(*fake_logits):
    """Non-saturating generator loss: the mean BCE of each fake batch's logits against 1, summed. Scalar."""
    return tf.add_n([tf.reduce_mean(_bce(1.0, fake)) for fake in fake_logits])
