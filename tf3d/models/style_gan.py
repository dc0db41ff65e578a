"""A compact StyleGAN2-style image GAN (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"), sized for CPU at 32 or 64 px grayscale: GAN2Shape's 2D GAN, trained by tf3d itself.

- `mapping_network`: z `[B, Z]` -> w `[B, W]` (pixel-norm, `layers` dense + leaky ReLU);
- `ModulatedConv2D`: a convolution whose input channels are scaled per sample by a style `A(w)` and
  whose outputs are demodulated (eq. 1-3 of the paper, in the form that scales activations rather than
  weights: `conv(x * s, W) / sqrt(sum_(k, i) (W s)^2)`, the same numbers);
- `synthesis_network`: a learned 4 x 4 constant, two modulated 3x3 convolutions per resolution with
  per-pixel noise, and skip connections through modulated 1x1 "to gray" layers (the paper's fig. 7b);
- `discriminator`: residual blocks down to 4 x 4, minibatch standard deviation, a dense logit;
- `StyleGAN`: the `keras.Model` holding them, with the non-saturating logistic loss and an R1 penalty
  (`train_step`, two optimizers as keras-io's GAN examples).

The styles are per layer (`num_styles` w's, all the same unless mixed), so GAN inversion can offset
them one by one, as GAN2Shape's encoder does.
"""

import math

import keras
import tensorflow as tf


def mapping_network(z_dim=64, w_dim=64, layers=4, name="mapping"):
    """`[B, z_dim]` -> `[B, w_dim]`."""
    z = keras.Input((z_dim,))
    x = keras.layers.UnitNormalization()(z) * math.sqrt(z_dim)  # pixel norm
    for _ in range(layers):
        x = keras.layers.Dense(w_dim)(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    return keras.Model(z, x, name=name)


@keras.saving.register_keras_serializable(package="tf3d")
class ModulatedConv2D(keras.layers.Layer):
    """Style-modulated convolution.

    Args:
      filters: output channels.
      kernel_size: odd square kernel.
      demodulate: divide each output channel by its expected scale (False for "to gray").

    Call arguments:
      inputs: (`x [B, H, W, C]`, `w [B, W]`).

    Returns:
      `[B, H, W, filters]`.
    """

    def __init__(self, filters, kernel_size=3, demodulate=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.demodulate = int(filters), int(kernel_size), bool(demodulate)

    def build(self, input_shape):
        x_shape, w_shape = input_shape
        channels = int(x_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(self.kernel_size, self.kernel_size, channels,
                                                           self.filters),
                                      initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self.style = keras.layers.Dense(channels, bias_initializer="ones", name="style")
        self.style.build(w_shape)
        self.scale = 1.0 / math.sqrt(channels * self.kernel_size ** 2)  # equalized learning rate

    def call(self, inputs):
        x, w = inputs
        s = self.style(w)  # [B, C]
        kernel = self.kernel * self.scale
        y = tf.nn.conv2d(x * s[:, None, None, :], kernel, 1, "SAME")
        if self.demodulate:
            # sum over (k, k, C) of (W s)^2 per output channel: [B, filters]
            d = tf.math.rsqrt(tf.einsum("bc,co->bo", tf.square(s), tf.reduce_sum(tf.square(kernel), [0, 1])) + 1e-8)
            y = y * d[:, None, None, :]
        return y + self.bias

    def get_config(self):
        return dict(super().get_config(), filters=self.filters, kernel_size=self.kernel_size,
                    demodulate=self.demodulate)


@keras.saving.register_keras_serializable(package="tf3d")
class NoiseAndConstant(keras.layers.Layer):
    """The synthesis network's learned constant (`[B, 4, 4, C]` from w's batch) or per-pixel noise scaled by a
    learned per-channel strength (`mode="noise"`), added while training only, so that a trained generator
    is a deterministic function of its styles (what GAN inversion needs)."""

    def __init__(self, channels, mode="noise", **kwargs):
        super().__init__(**kwargs)
        self.channels, self.mode = int(channels), mode

    def build(self, input_shape):
        if self.mode == "constant":
            self.const = self.add_weight(name="const", shape=(1, 4, 4, self.channels), initializer="random_normal")
        else:
            self.strength = self.add_weight(name="strength", shape=(self.channels,), initializer="zeros")

    def call(self, x, training=False):
        if self.mode == "constant":
            return tf.tile(self.const, [tf.shape(x)[0], 1, 1, 1])
        if not training:
            return x
        noise = tf.random.normal(tf.concat([tf.shape(x)[:3], [1]], 0))
        return x + noise * self.strength

    def get_config(self):
        return dict(super().get_config(), channels=self.channels, mode=self.mode)


def _levels(image_size):
    levels = int(round(math.log2(image_size))) - 2
    if image_size < 8 or 2 ** (levels + 2) != image_size:
        raise ValueError(f"image size must be a power of two >= 8, got {image_size}")
    return levels


def num_styles(image_size):
    """How many per-layer w's the synthesis network of `image_size` takes."""
    return 2 + 3 * _levels(image_size)  # the 4x4 conv and its to-gray; two convs and a to-gray per level


def synthesis_network(image_size=32, w_dim=64, channels=64, name="synthesis"):
    """Per-layer styles `[B, L, w_dim]` (L = `num_styles`) -> images `[B, S, S, 1]` in about [0, 1]."""
    levels = _levels(image_size)
    styles = keras.Input((num_styles(image_size), w_dim))
    ws = [styles[:, i] for i in range(num_styles(image_size))]
    x = NoiseAndConstant(channels, "constant")(ws[0])
    x = keras.layers.LeakyReLU(0.2)(NoiseAndConstant(channels)(ModulatedConv2D(channels)([x, ws[0]])))
    gray = ModulatedConv2D(1, 1, demodulate=False)([x, ws[1]])
    for level in range(levels):
        x = keras.layers.UpSampling2D(2, interpolation="bilinear")(x)
        first = 2 + 3 * level  # this level's styles: two convs, then its to-gray
        for j in range(2):
            x = ModulatedConv2D(channels)([x, ws[first + j]])
            x = keras.layers.LeakyReLU(0.2)(NoiseAndConstant(channels)(x))
        gray = keras.layers.UpSampling2D(2, interpolation="bilinear")(gray)
        gray = gray + ModulatedConv2D(1, 1, demodulate=False)([x, ws[first + 2]])
    images = gray * 0.5 + 0.5
    return keras.Model(styles, images, name=name)


def discriminator(image_size=32, channels=64, name="discriminator"):
    """Images `[B, S, S, 1]` -> logits `[B, 1]` (residual blocks, minibatch standard deviation)."""
    levels = _levels(image_size)
    images = keras.Input((image_size, image_size, 1))
    x = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(channels, 1)(images * 2.0 - 1.0))
    for _ in range(levels):
        skip = keras.layers.Conv2D(channels, 1, strides=2, use_bias=False)(x)
        y = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(channels, 3, padding="same")(x))
        y = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(channels, 3, strides=2, padding="same")(y))
        x = (skip + y) * (1.0 / math.sqrt(2.0))
    std = keras.ops.sqrt(keras.ops.var(x, axis=0) + 1e-8)  # [4, 4, C]: the batch's spread
    std = keras.ops.mean(std) * keras.ops.ones_like(x[..., :1])
    x = keras.layers.Concatenate()([x, std])
    x = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(channels, 3, padding="same")(x))
    x = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(channels)(keras.layers.Flatten()(x)))
    return keras.Model(images, keras.layers.Dense(1)(x), name=name)


@keras.saving.register_keras_serializable(package="tf3d")
class StyleGAN(keras.Model):
    """Mapping, synthesis and discriminator networks trained together (see the module docstring).

    Args:
      image_size: S (power of two >= 8).
      z_dim, w_dim, mapping_layers: the mapping network.
      channels: width of every synthesis and discriminator layer.
      r1_gamma: weight of the R1 gradient penalty on real images.

    Call arguments:
      z: `[B, z_dim]` latent codes.

    Returns:
      `[B, S, S, 1]` generated images.
    """

    def __init__(self, image_size=32, z_dim=64, w_dim=64, mapping_layers=4, channels=64, r1_gamma=1.0, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.z_dim, self.w_dim = int(image_size), int(z_dim), int(w_dim)
        self.mapping_layers, self.channels, self.r1_gamma = int(mapping_layers), int(channels), float(r1_gamma)
        self.mapping = mapping_network(z_dim, w_dim, mapping_layers)
        self.synthesis = synthesis_network(image_size, w_dim, channels)
        self.discriminator = discriminator(image_size, channels)
        self.num_styles = num_styles(image_size)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in ("g_loss", "d_loss", "r1", "d_real", "d_fake")}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def build(self, input_shape):
        self.mapping.build(input_shape)
        self.built = True

    def styles(self, w):
        """`[B, W]` -> `[B, L, W]`: the same w for every layer."""
        return tf.tile(w[:, None], [1, self.num_styles, 1])

    def call(self, z, training=False):
        return self.synthesis(self.styles(self.mapping(z, training=training)), training=training)

    def compile(self, generator_optimizer, discriminator_optimizer, **kwargs):
        super().compile(**kwargs)
        self.generator_optimizer, self.discriminator_optimizer = generator_optimizer, discriminator_optimizer

    def train_step(self, data):
        real = data["image"] if isinstance(data, dict) else data
        batch = tf.shape(real)[0]
        z = tf.random.normal([batch, self.z_dim])
        with tf.GradientTape() as tape:
            with tf.GradientTape() as r1_tape:
                r1_tape.watch(real)
                real_logits = self.discriminator(real, training=True)
            r1 = tf.reduce_mean(tf.reduce_sum(tf.square(r1_tape.gradient(real_logits, real)), [1, 2, 3]))
            fake_logits = self.discriminator(self(z, training=True), training=True)
            # Non-saturating logistic loss (Goodfellow et al. 2014), R1 (Mescheder et al. 2018).
            d_loss = tf.reduce_mean(tf.nn.softplus(fake_logits) + tf.nn.softplus(-real_logits)) + 0.5 * self.r1_gamma * r1
        d_vars = self.discriminator.trainable_variables
        self.discriminator_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        with tf.GradientTape() as tape:
            g_loss = tf.reduce_mean(tf.nn.softplus(-self.discriminator(self(z, training=True), training=True)))
        g_vars = self.mapping.trainable_variables + self.synthesis.trainable_variables
        self.generator_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        for name, value in (("g_loss", g_loss), ("d_loss", d_loss), ("r1", r1),
                            ("d_real", tf.reduce_mean(real_logits)), ("d_fake", tf.reduce_mean(fake_logits))):
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def test_step(self, data):
        real = data["image"] if isinstance(data, dict) else data
        real_logits = self.discriminator(real, training=False)
        fake_logits = self.discriminator(self(tf.random.normal([tf.shape(real)[0], self.z_dim])), training=False)
        for name, value in (("g_loss", tf.reduce_mean(tf.nn.softplus(-fake_logits))),
                            ("d_loss", tf.reduce_mean(tf.nn.softplus(fake_logits) + tf.nn.softplus(-real_logits))),
                            ("d_real", tf.reduce_mean(real_logits)), ("d_fake", tf.reduce_mean(fake_logits))):
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def get_config(self):
        return dict(super().get_config(), image_size=self.image_size, z_dim=self.z_dim, w_dim=self.w_dim,
                    mapping_layers=self.mapping_layers, channels=self.channels, r1_gamma=self.r1_gamma)
