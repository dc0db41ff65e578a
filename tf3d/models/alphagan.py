"""`AlphaGAN`: 3D-FCR-alphaGAN, the fully convolutional refined auto-encoding GAN of room scenes.

Five networks (`scene_encoder`, `scene_generator`, `scene_discriminator`,
`code_discriminator`, `scene_refiner`) in one `keras.Model` whose
`train_step` runs alpha-GAN's updates (Rosca et al., 2017) with one
optimizer per player, as keras-io's GAN examples do:

    base phase, per batch x (one-hot of the labels y):
      repeat schedule[0] times (the original: 2):
        z_hat = E(x), x_rec = G(z_hat), x_gen = G(z) with z ~ N(0, I)
        E, G <- reconstruction_weight * L_rec(y, x_rec)
                + adversarial_weight * (BCE(D(x_rec), 1) + BCE(D(x_gen), 1))
                + code term: BCE(C(z_hat), 1), or kl_weight * KL for the VAE baseline
      repeat schedule[1] times: D <- BCE(D(x), 1) + BCE(D(x_rec), 0) + BCE(D(x_gen), 0)
      repeat schedule[2] times: C <- BCE(C(z), 1) + BCE(C(z_hat), 0)       (not for the VAE)
    refine phase (E, G, D, C frozen; started from a base run with `init_from`):
        R <- L_rec(y, R(G(E(x))))

with L_rec `tf3d.losses.scene_reconstruction` and the GAN terms
`tf3d.losses.gan` (labels the right way round). The discriminator and code
discriminator steps reuse x_rec, x_gen and z_hat of the last E/G pass
(gradients stopped) rather than recomputing them.

Calling the model maps label grids to the generator's (and, with
`refined=True`, the refiner's) class probabilities; `encode`, `decode` and
`sample` are the pieces evaluation uses.
"""

import keras
import tensorflow as tf

from tf3d.losses.gan import discriminator_loss, generator_loss
from tf3d.losses.kl_divergence import kl_divergence
from tf3d.losses.scene_reconstruction import scene_reconstruction_loss
from tf3d.metrics.scene_iou import SceneMeanIoU
from tf3d.models.code_discriminator import code_discriminator
from tf3d.models.scene_discriminator import scene_discriminator
from tf3d.models.scene_encoder import latent_shape, scene_encoder
from tf3d.models.scene_generator import scene_generator
from tf3d.models.scene_refiner import scene_refiner
from tf3d.training.distribute import scale_loss

PHASES = ("base", "refine")
_LOSSES = ("loss", "rec_loss", "adv_loss", "code_loss", "d_loss", "c_loss")  # fit()'s log names


@keras.saving.register_keras_serializable(package="tf3d")
class AlphaGAN(keras.Model):
    """Encoder, generator, discriminator, code discriminator and refiner (see the module docstring).

    Args:
      shape: `(X, Y, Z)` of the grids.
      num_classes: C.
      encoder_filters, generator_filters, discriminator_filters: conv widths
        (the same number of each: one halving or doubling per width).
      latent_channels: channels of the fully convolutional code.
      fully_convolutional: False: a 1-D code of `latent_dim`.
      variational: the VAE baseline (the encoder outputs mean and log-variance).
      code_hidden: hidden widths of the code discriminator.
      refiner_channels, refiner_blocks: the refiner's width and residual blocks.

    Call arguments:
      labels: int `[B, X, Y, Z]` class ids.
      refined: pass the generator's output through the refiner.

    Returns:
      float `[B, X, Y, Z, C]` class probabilities of the reconstruction.
    """

    def __init__(self, shape=(80, 48, 80), num_classes=12, encoder_filters=(64, 128, 256, 512),
                 generator_filters=(512, 256, 128, 64), discriminator_filters=(64, 128, 256, 512),
                 latent_channels=16, fully_convolutional=True, latent_dim=1200, variational=False,
                 code_hidden=(750, 750), refiner_channels=32, refiner_blocks=4, **kwargs):
        super().__init__(**kwargs)
        self.shape = tuple(int(s) for s in shape)
        self.num_classes = int(num_classes)
        self.encoder_filters = [int(f) for f in encoder_filters]
        self.generator_filters = [int(f) for f in generator_filters]
        self.discriminator_filters = [int(f) for f in discriminator_filters]
        if not len(self.encoder_filters) == len(self.generator_filters) == len(self.discriminator_filters):
            raise ValueError(f"encoder_filters, generator_filters and discriminator_filters must have one "
                             f"length, got {self.encoder_filters}, {self.generator_filters}, "
                             f"{self.discriminator_filters}")
        self.latent_channels = int(latent_channels)
        self.fully_convolutional = bool(fully_convolutional)
        self.latent_dim = int(latent_dim)
        self.variational = bool(variational)
        self.code_hidden = [int(h) for h in code_hidden]
        self.refiner_channels = int(refiner_channels)
        self.refiner_blocks = int(refiner_blocks)
        self.code_shape = latent_shape(self.shape, len(self.encoder_filters), self.latent_channels,
                                       self.fully_convolutional, self.latent_dim)
        c = self.num_classes
        self.encoder = scene_encoder(self.shape, c, self.encoder_filters, self.latent_channels,
                                     self.fully_convolutional, self.latent_dim, self.variational)
        self.generator = scene_generator(self.shape, c, self.generator_filters, self.code_shape)
        self.discriminator = scene_discriminator(self.shape, c, self.discriminator_filters)
        self.code_discriminator = code_discriminator(self.code_shape, self.code_hidden)
        self.refiner = scene_refiner(self.shape, c, self.refiner_channels, self.refiner_blocks)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in _LOSSES}
        self.miou = SceneMeanIoU(self.num_classes)
        self.phase = "base"
        self.built = True  # every network is a built functional model

    # ------------------------------------------------------------------ inference

    def one_hot(self, labels):
        """float `[B, X, Y, Z, C]` of int `[B, X, Y, Z]` labels."""
        return tf.one_hot(tf.cast(labels, tf.int32), self.num_classes, dtype=self.compute_dtype)

    def encode(self, labels, training=False, sample=False):
        """`(code, mean, log_var)` of int labels `[B, X, Y, Z]`; code `[B, *code_shape]`.

        For the alpha-GAN, `mean` is the code and `log_var` None; for the VAE
        the code is the mean, or a draw from N(mean, exp(log_var)) with `sample`.
        """
        out = self.encoder(self.one_hot(labels), training=training)
        if not self.variational:
            return out, out, None
        mean, log_var = tf.split(out, 2, axis=-1)
        if not sample:
            return mean, mean, log_var
        return mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean)), mean, log_var

    def decode(self, code, training=False, refined=False):
        """float `[B, X, Y, Z, C]` probabilities of codes `[B, *code_shape]`."""
        probabilities = self.generator(code, training=training)
        return self.refiner(probabilities, training=training) if refined else probabilities

    def sample_codes(self, count, seed=None):
        """`[count, *code_shape]` draws from the prior N(0, I)."""
        if seed is None:
            return tf.random.normal((count, *self.code_shape))
        return tf.random.stateless_normal((count, *self.code_shape), seed=[int(seed), 0])

    def call(self, labels, training=False, refined=False):
        return self.decode(self.encode(labels, training=training)[0], training=training, refined=refined)

    # ------------------------------------------------------------------ training

    def compile(self, *, phase="base", encoder_generator_optimizer=None, discriminator_optimizer=None,
                code_discriminator_optimizer=None, refiner_optimizer=None, class_weights=None, gamma=0.9,
                reconstruction_weight=1.0, adversarial_weight=1.0, kl_weight=1.0, schedule=(2, 1, 1),
                jit_compile=False):
        """Optimizers, loss weights and the per-batch schedule.

        Args:
          phase: "base" (E, G, D, C) or "refine" (R only).
          *_optimizer: one Keras optimizer per player (those of the phase are needed).
          class_weights: `[C]` reconstruction weights (`scene_reconstruction.class_weights`).
          gamma: false-negative weight of the reconstruction loss.
          reconstruction_weight, adversarial_weight, kl_weight: loss weights (kl: VAE only).
          schedule: `(E/G updates, D updates, code-D updates)` per batch.
          jit_compile: XLA-compile the steps (on CPU, compiling the 3D convolutions takes longer
            than short runs gain).
        """
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        if len(schedule) != 3 or min(schedule) < 0 or schedule[0] < 1:
            raise ValueError(f"schedule must be (E/G >= 1, D >= 0, code-D >= 0) updates, got {schedule}")
        self.phase = phase
        self.schedule = tuple(int(s) for s in schedule)
        self.class_weights = tf.constant(class_weights if class_weights is not None else [1.0] * self.num_classes,
                                         tf.float32)
        self.gamma, self.reconstruction_weight = float(gamma), float(reconstruction_weight)
        self.adversarial_weight, self.kl_weight = float(adversarial_weight), float(kl_weight)
        if phase == "base":
            needed = {"encoder_generator": encoder_generator_optimizer, "discriminator": discriminator_optimizer}
            if not self.variational:
                needed["code_discriminator"] = code_discriminator_optimizer
            main = encoder_generator_optimizer
        else:
            needed = {"refiner": refiner_optimizer}
            main = refiner_optimizer
        missing = [name for name, opt in needed.items() if opt is None]
        if missing:
            raise ValueError(f"phase {phase!r} needs optimizers for {', '.join(missing)}")
        super().compile(optimizer=main, jit_compile=jit_compile)
        self.players = needed  # name -> optimizer
        for name, opt in needed.items():
            opt.build(self._variables_of(name))  # built now, so that BackupAndRestore can load their state

    def _variables_of(self, player):
        if player == "encoder_generator":
            return self.encoder.trainable_variables + self.generator.trainable_variables
        return getattr(self, player).trainable_variables

    @property
    def metrics(self):
        if self.phase == "refine":
            names = ("loss", "rec_loss")
        else:
            names = _LOSSES[:5] if self.variational else _LOSSES
        return [self.trackers[n] for n in names] + [self.miou]

    def _reconstruction(self, labels, probabilities):
        return tf.reduce_mean(scene_reconstruction_loss(labels, probabilities, self.class_weights, self.gamma))

    def _apply(self, player, tape, loss):
        variables = self._variables_of(player)
        grads = tape.gradient(loss, variables)
        self.players[player].apply_gradients(zip(grads, variables))

    def train_step(self, labels):
        if self.phase == "refine":
            return self._refine_step(labels)
        x = self.one_hot(labels)
        batch = tf.shape(labels)[0]
        for _ in range(self.schedule[0]):
            with tf.GradientTape() as tape:
                code, mean, log_var = self.encode(labels, training=True, sample=True)
                x_rec = self.generator(code, training=True)
                z = tf.random.normal(tf.concat([[batch], self.code_shape], 0))
                x_gen = self.generator(z, training=True)
                rec = self._reconstruction(labels, x_rec)
                adv = generator_loss(self.discriminator(x_rec, training=True),
                                     self.discriminator(x_gen, training=True))
                if self.variational:
                    code_term = self.kl_weight * kl_divergence(mean, log_var)
                else:
                    code_term = generator_loss(self.code_discriminator(code, training=True))
                loss = self.reconstruction_weight * rec + self.adversarial_weight * adv + code_term
            self._apply("encoder_generator", tape, scale_loss(loss))
        x_rec, x_gen, code = tf.stop_gradient(x_rec), tf.stop_gradient(x_gen), tf.stop_gradient(code)
        d_loss = tf.constant(0.0)
        for _ in range(self.schedule[1]):
            with tf.GradientTape() as tape:
                d_loss = discriminator_loss(self.discriminator(x, training=True),
                                            self.discriminator(x_rec, training=True),
                                            self.discriminator(x_gen, training=True))
            self._apply("discriminator", tape, scale_loss(d_loss))
        values = {"loss": loss, "rec_loss": rec, "adv_loss": adv, "code_loss": code_term, "d_loss": d_loss}
        if not self.variational:
            c_loss = tf.constant(0.0)
            for _ in range(self.schedule[2]):
                with tf.GradientTape() as tape:
                    prior = tf.random.normal(tf.shape(code))
                    c_loss = discriminator_loss(self.code_discriminator(prior, training=True),
                                                self.code_discriminator(code, training=True))
                self._apply("code_discriminator", tape, scale_loss(c_loss))
            values["c_loss"] = c_loss
        return self._log(values, labels, x_rec)

    def _refine_step(self, labels):
        code = self.encode(labels, training=False)[0]
        base = tf.stop_gradient(self.generator(code, training=False))
        with tf.GradientTape() as tape:
            refined = self.refiner(base, training=True)
            rec = self._reconstruction(labels, refined)
        self._apply("refiner", tape, scale_loss(rec))
        return self._log({"loss": rec, "rec_loss": rec}, labels, refined)

    def _log(self, values, labels, probabilities):
        for name, value in values.items():
            self.trackers[name].update_state(value)
        self.miou.update_state(labels, probabilities)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, labels):
        probabilities = self(labels, training=False, refined=self.phase == "refine")
        rec = self._reconstruction(labels, probabilities)
        self.trackers["loss"].update_state(rec)
        self.trackers["rec_loss"].update_state(rec)
        self.miou.update_state(labels, probabilities)
        return {m.name: m.result() for m in self.metrics if m.name in ("loss", "rec_loss", "miou")}

    def get_config(self):
        return dict(super().get_config(), shape=list(self.shape), num_classes=self.num_classes,
                    encoder_filters=self.encoder_filters, generator_filters=self.generator_filters,
                    discriminator_filters=self.discriminator_filters, latent_channels=self.latent_channels,
                    fully_convolutional=self.fully_convolutional, latent_dim=self.latent_dim,
                    variational=self.variational, code_hidden=self.code_hidden,
                    refiner_channels=self.refiner_channels, refiner_blocks=self.refiner_blocks)
