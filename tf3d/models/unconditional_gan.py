"""`UnconditionalGAN`: one of the CycleGAN's GANs alone, noise -> samples (debugging check 4).

The last of the original work's checks: can each half of the CycleGAN's
adversarial game be won at all without the other half and without cycles?
The generator is the CycleGAN's decoder of one domain fed with Gaussian
noise of the code's size, the critic is the CycleGAN's critic of that domain,
built with the same classes and arguments as `tf3d.models.cyclegan.CycleGAN`
builds them (and under the same attribute names, so `init_from` can move
them either way):

    domain "voxels":  z ~ N(0, I_L) -> sigmoid(Dec3D(z)) [B, R, R, R]  vs  critic3d
    domain "image":   z ~ N(0, I_L) -> sigmoid(Dec2D(z)) [B, h, w, 1]  vs  critic2d

trained as WGAN-GP (Gulrajani et al. 2017, Algorithm 1: `n_critic` critic
updates on fresh noise, then one generator update; `tf3d.losses.wgan_gp`).

Call arguments:
  noise: float `[B, L]`.

Returns:
  samples in [0, 1]: `[B, R, R, R]` occupancy or `[B, h, w, 1]` pictures.
"""

import keras

from tf3d.models.critic import Critic
from tf3d.models.image_decoder import ImageDecoder
from tf3d.models.voxel_decoder import VoxelDecoder

DOMAINS = ("voxels", "image")


@keras.saving.register_keras_serializable(package="tf3d")
class UnconditionalGAN(keras.Model):
    """A generator and its critic (module docstring).

    Args:
      domain: "voxels" or "image".
      size: voxel resolution R, or image side h = w.
      latent_dim: L, the noise (and CycleGAN code) size.
      generator_filters, generator_norm: the decoder's widths and normalization.
      critic_filters, critic_norm, spectral_norm: the critic's.
      gp_weight: lambda of the gradient penalty.
      n_critic: critic updates per generator update.
    """

    def __init__(self, domain="voxels", size=32, latent_dim=256, generator_filters=(64, 32, 16),
                 generator_norm="none", critic_filters=(16, 32, 64), critic_norm="instance", spectral_norm=False,
                 gp_weight=10.0, n_critic=5, **kwargs):
        super().__init__(**kwargs)
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        if int(n_critic) < 1:
            raise ValueError(f"n_critic must be at least 1, got {n_critic}")
        self.domain, self.size, self.latent_dim = domain, int(size), int(latent_dim)
        self.generator_filters, self.generator_norm = list(generator_filters), generator_norm
        self.critic_filters, self.critic_norm, self.spectral_norm = list(critic_filters), critic_norm, bool(spectral_norm)
        self.gp_weight, self.n_critic = float(gp_weight), int(n_critic)
        if domain == "voxels":  # as CycleGAN.__init__ builds them
            self.dec3d = VoxelDecoder(self.generator_filters, self.size, generator_norm, name="dec3d")
            self.critic3d = Critic(3, self.critic_filters, critic_norm, self.spectral_norm, name="critic3d")
        else:
            self.dec2d = ImageDecoder(self.generator_filters, self.size, generator_norm, name="dec2d")
            self.critic2d = Critic(2, self.critic_filters, critic_norm, self.spectral_norm, name="critic2d")
        self.critic_optimizer = None
        self._trackers = {n: keras.metrics.Mean(name=n) for n in ("loss", "critic_loss", "wasserstein", "gp")}
        self._val_wasserstein = keras.metrics.Mean(name="wasserstein_gap")  # not "wasserstein": logs are looked up by name

    @property
    def parts(self):
        """`(generator, critic)`."""
        return (self.dec3d, self.critic3d) if self.domain == "voxels" else (self.dec2d, self.critic2d)

    @property
    def sample_shape(self):
        """Shape of one batch of samples, batch dimension None."""
        return (None,) + (self.size,) * 3 if self.domain == "voxels" else (None, self.size, self.size, 1)

    def build(self, input_shape=None):
        generator, critic = self.parts
        generator.build((None, self.latent_dim))
        critic.build(self.sample_shape)
        self.built = True

    def call(self, noise, training=False):
        generator, _ = self.parts
        return keras.ops.sigmoid(generator(noise, training=training))

    def noise(self, count, seed=None):
        """`[count, L]` standard normal noise (`seed`: a `[2]` int stateless seed, or None)."""
        import tensorflow as tf

        shape = tf.stack([count, self.latent_dim])
        return tf.random.normal(shape) if seed is None else tf.random.stateless_normal(shape, seed)

    def sample_batches(self, count, seed=0, batch_size=64):
        """Yields `count` samples in NumPy batches of at most `batch_size`, from noise fixed by `seed` (inference)."""
        for start in range(0, count, batch_size):
            yield self(self.noise(min(batch_size, count - start), [seed, start]), training=False).numpy()

    def sample(self, count, seed=0, batch_size=64):
        """`count` samples as one NumPy array (`sample_batches`)."""
        import numpy as np

        return np.concatenate(list(self.sample_batches(count, seed, batch_size)), axis=0)

    # --------------------------------------------------------------- training

    def compile(self, optimizer, critic_optimizer, **kwargs):
        """`optimizer` updates the generator, `critic_optimizer` the critic."""
        super().compile(optimizer=optimizer, **kwargs)
        self.critic_optimizer = critic_optimizer
        generator, critic = self.parts
        self.optimizer.build(generator.trainable_variables)
        self.critic_optimizer.build(critic.trainable_variables)

    @property
    def metrics(self):
        return list(self._trackers.values()) + [self._val_wasserstein]

    def train_step(self, real):
        import tensorflow as tf

        from tf3d.losses import wgan_gp
        from tf3d.training import distribute

        generator, critic = self.parts
        real = tf.cast(real, tf.float32)
        batch = tf.shape(real)[0]
        logs = {}
        for _ in range(self.n_critic):
            fake = self(self.noise(batch), training=True)
            with tf.GradientTape() as tape:
                logs["wasserstein"] = -wgan_gp.critic_loss(critic(real, training=True), critic(fake, training=True))
                logs["gp"] = wgan_gp.gradient_penalty(critic, real, fake, self.gp_weight)
                logs["critic_loss"] = -logs["wasserstein"] + logs["gp"]
                scaled = distribute.scale_loss(logs["critic_loss"])
            self.critic_optimizer.apply_gradients(zip(tape.gradient(scaled, critic.trainable_variables),
                                                      critic.trainable_variables))
        with tf.GradientTape() as tape:
            logs["loss"] = wgan_gp.generator_loss(critic(self(self.noise(batch), training=True), training=True))
            scaled = distribute.scale_loss(logs["loss"])
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, generator.trainable_variables),
                                           generator.trainable_variables))
        for name, value in logs.items():
            self._trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def test_step(self, real):
        """The critic's Wasserstein estimate `mean D(real) - mean D(G(z))` on a validation batch."""
        import tensorflow as tf

        from tf3d.losses import wgan_gp

        _, critic = self.parts
        real = tf.cast(real, tf.float32)
        fake = self(self.noise(tf.shape(real)[0]), training=False)
        self._val_wasserstein.update_state(-wgan_gp.critic_loss(critic(real), critic(fake)))
        return {"wasserstein_gap": self._val_wasserstein.result()}

    def get_config(self):
        return dict(super().get_config(), domain=self.domain, size=self.size, latent_dim=self.latent_dim,
                    generator_filters=self.generator_filters, generator_norm=self.generator_norm,
                    critic_filters=self.critic_filters, critic_norm=self.critic_norm,
                    spectral_norm=self.spectral_norm, gp_weight=self.gp_weight, n_critic=self.n_critic)
