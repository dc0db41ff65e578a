"""Unsup3D's four network kinds, scaled by a width `nf` (Wu et al. 2020, sec. 3 and supp. tab. 5-7).

- `encoder_decoder`: image -> per-pixel map (canonical depth, albedo):
  stride-2 convolutions down to 1 x 1 (a `zdim` code), transposed
  convolutions back up, group normalization on the decoder's path, as
  Unsup3D's `EDDeconv`;
- `vector_encoder`: image -> `[B, outputs]` in (-1, 1) (the view's 6
  numbers, the light's 4), as its `Encoder`;
- `confidence_net`: image -> `[B, H, W, 2]` positive scales of the
  photometric error (input and flipped branches) and `[B, H/4, W/4, 2]` for
  the perceptual loss, as its `ConfNet`.

Inputs are `[B, S, S, 1]` grayscale images in [0, 1], with S a power of two
>= 16. All are functional `keras.Model`s (serializable).
"""

import math

import keras


def _down_levels(size):
    levels = int(round(math.log2(size))) - 2  # down to 4 x 4, then a 4 x 4 valid conv to 1 x 1
    if size < 16 or 2 ** (levels + 2) != size:
        raise ValueError(f"image size must be a power of two >= 16, got {size}")
    return levels


def _encode(x, nf, levels, norm):
    """Stride-2 4x4 convs `nf, 2nf, 4nf, 8nf, ...` to 4 x 4; `[B, 4, 4, nf 2^(levels-1)]`."""
    for i in range(levels):
        x = keras.layers.Conv2D(nf * 2 ** min(i, 3), 4, strides=2, padding="same", use_bias=not norm)(x)
        if norm and i > 0:
            x = keras.layers.GroupNormalization(groups=min(16, nf * 2 ** min(i, 3) // 4))(x)
        x = keras.layers.LeakyReLU(0.2)(x) if norm else keras.layers.ReLU()(x)
    return x


def encoder_decoder(image_size, nf=16, zdim=128, outputs=1, name="encoder_decoder", zero_output=False):
    """Image `[B, S, S, 1]` -> map `[B, S, S, outputs]` (no output activation).

    Args:
      image_size: S.
      nf: width of the first convolution (Unsup3D: 64).
      zdim: size of the bottleneck code (Unsup3D: 256).
      outputs: channels of the map.
      zero_output: start the last convolution at zero, so that the map starts
        flat (Keras' Glorot start is pixel-scale noise of std ~0.5, which a
        depth map turns into normals at random).
    """
    levels = _down_levels(image_size)
    images = keras.Input((image_size, image_size, 1))
    x = _encode(images * 2.0 - 1.0, nf, levels, norm=True)
    x = keras.layers.Conv2D(zdim, 4, padding="valid")(x)  # [B, 1, 1, zdim]
    x = keras.layers.ReLU()(x)
    top = nf * 2 ** min(levels - 1, 3)
    x = keras.layers.Conv2DTranspose(top, 4, padding="valid")(x)  # [B, 4, 4, top]
    x = keras.layers.ReLU()(x)
    for i in reversed(range(levels - 1)):
        width = nf * 2 ** min(i, 3)
        x = keras.layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(x)
        x = keras.layers.GroupNormalization(groups=min(16, width // 4))(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = keras.layers.GroupNormalization(groups=min(16, width // 4))(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.UpSampling2D(2, interpolation="nearest")(x)  # [B, S, S, nf]
    x = keras.layers.Conv2D(nf, 3, padding="same")(x)
    x = keras.layers.ReLU()(x)
    out = keras.layers.Conv2D(outputs, 5, padding="same",
                              kernel_initializer="zeros" if zero_output else "glorot_uniform")(x)
    return keras.Model(images, out, name=name)


def vector_encoder(image_size, outputs, nf=16, name="vector_encoder"):
    """Image `[B, S, S, 1]` -> `[B, outputs]` in (-1, 1) (tanh)."""
    levels = _down_levels(image_size)
    images = keras.Input((image_size, image_size, 1))
    x = _encode(images * 2.0 - 1.0, nf, levels, norm=False)
    x = keras.layers.Conv2D(nf * 2 ** min(levels - 1, 3), 4, padding="valid")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(outputs, activation="tanh")(x)
    return keras.Model(images, out, name=name)


def confidence_net(image_size, nf=16, zdim=128, name="confidence"):
    """Image `[B, S, S, 1]` -> (`[B, S, S, 2]`, `[B, S/4, S/4, 2]`) non-negative confidences (softplus;
    the model adds a small epsilon)."""
    levels = _down_levels(image_size)
    images = keras.Input((image_size, image_size, 1))
    x = _encode(images * 2.0 - 1.0, nf, levels, norm=True)
    x = keras.layers.Conv2D(zdim, 4, padding="valid")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2DTranspose(nf * 2 ** min(levels - 1, 3), 4, padding="valid")(x)  # [B, 4, 4, .]
    x = keras.layers.ReLU()(x)
    quarter = None
    for i in reversed(range(levels)):
        if i == 1:
            quarter = x  # [B, S/4, S/4, .]
        width = nf * 2 ** min(i, 3)
        x = keras.layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(x)
        x = keras.layers.GroupNormalization(groups=min(16, max(1, width // 4)))(x)
        x = keras.layers.ReLU()(x)
    full = keras.layers.Conv2D(2, 5, padding="same", activation="softplus")(x)
    low = keras.layers.Conv2D(2, 3, padding="same", activation="softplus")(quarter)
    return keras.Model(images, [full, low], name=name)
