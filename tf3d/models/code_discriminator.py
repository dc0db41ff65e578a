"""`code_discriminator`: does a code come from the prior N(0, I) or from the encoder? (alpha-GAN's code GAN).

Rosca et al. (2017) replace the VAE's KL term by this classifier; as in
3D-FCR-alphaGAN, a multilayer perceptron of two hidden layers of 750 units
with leaky ReLU on the flattened code.
"""

import math

import keras


def code_discriminator(code_shape, hidden=(750, 750), name="code_discriminator"):
    """The code discriminator as a functional `keras.Model`.

    Call arguments:
      code: float `[B, *code_shape]`.

    Returns:
      float `[B, 1]` logits (positive: drawn from the prior).
    """
    code = keras.Input(tuple(code_shape), name="code")
    x = keras.layers.Reshape((math.prod(code_shape),))(code)  # [B, L]
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(units, name=f"hidden{i}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"hidden{i}_lrelu")(x)
    logit = keras.layers.Dense(1, name="logit", dtype="float32")(x)
    return keras.Model(code, logit, name=name)
