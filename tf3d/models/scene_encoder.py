"""`scene_encoder`: a label grid (one-hot or probabilities) -> its latent code (3D-FCR-alphaGAN's encoder).

Stride-2 4^3 convolutions (3D-GAN's discriminator: Wu et al., 2016) halve
the grid `len(filters)` times, each followed by batch normalization (not the
first) and a leaky ReLU; a last 1x1x1 convolution gives the fully
convolutional latent `[B, x, y, z, latent_channels]` (5 x 3 x 5 x 16 for
80 x 48 x 80 and four halvings). With `fully_convolutional=False` the last
grid is flattened into a dense code `[B, latent_dim]` instead (the
original's 1-D comparison, 1200 = 5 * 3 * 5 * 16). With `variational=True`
the encoder outputs a mean and a log-variance of the same shape, concatenated
on the last axis (the VAE baseline).
"""

import keras


def conv_stack(x, filters, norm, prefix):
    """Stride-2 4^3 convolutions with `norm` ("batch" or "layer", none on the first) and leaky ReLU."""
    for i, f in enumerate(filters):
        x = keras.layers.Conv3D(f, 4, strides=2, padding="same", use_bias=i == 0, name=f"{prefix}{i}_conv")(x)
        if i and norm == "batch":
            x = keras.layers.BatchNormalization(name=f"{prefix}{i}_bn")(x)
        elif i and norm == "layer":
            x = keras.layers.LayerNormalization(axis=[1, 2, 3, 4], name=f"{prefix}{i}_ln")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"{prefix}{i}_lrelu")(x)
    return x


def scene_encoder(shape, num_classes, filters=(64, 128, 256, 512), latent_channels=16, fully_convolutional=True,
                  latent_dim=1200, variational=False, name="encoder"):
    """The encoder as a functional `keras.Model`.

    Args:
      shape: `(X, Y, Z)` of the grids, each divisible by `2 ** len(filters)`.
      num_classes: C, channels of the input.
      filters: widths of the stride-2 convolutions.
      latent_channels: channels of the fully convolutional code.
      fully_convolutional: False: a dense code of `latent_dim`.
      variational: output `[mean, log-variance]` concatenated on the last axis.

    Call arguments:
      grids: float `[B, X, Y, Z, C]`.

    Returns:
      float `[B, x, y, z, latent_channels]` (x = X / 2^n, ...) or `[B, latent_dim]`;
      twice as many channels when `variational`.
    """
    check_divisible(shape, len(filters))
    inputs = keras.Input((*shape, num_classes), name="grids")
    x = conv_stack(inputs, filters, "batch", "down")
    outputs = 2 if variational else 1
    if fully_convolutional:
        code = keras.layers.Conv3D(latent_channels * outputs, 1, name="code")(x)
    else:
        code = keras.layers.Dense(latent_dim * outputs, name="code")(keras.layers.Flatten()(x))
    return keras.Model(inputs, code, name=name)


def latent_shape(shape, num_layers, latent_channels, fully_convolutional=True, latent_dim=1200):
    """Shape of one code (no batch axis): `(x, y, z, latent_channels)` or `(latent_dim,)`."""
    if not fully_convolutional:
        return (latent_dim,)
    return tuple(s // 2 ** num_layers for s in shape) + (latent_channels,)


def check_divisible(shape, num_layers):
    """Raises ValueError unless every side of `shape` is divisible by `2 ** num_layers`."""
    if len(shape) != 3 or any(s % 2 ** num_layers or s < 2 ** num_layers for s in shape):
        raise ValueError(f"grid shape {tuple(shape)} must have 3 sides divisible by 2**{num_layers} = "
                         f"{2 ** num_layers} (one halving per filter width)")
