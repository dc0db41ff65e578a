"""`CycleGAN`: unpaired image <-> voxels with WGAN-GP critics and a render cycle.

Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks" (2017), across dimensions: two generators split into
encoder and decoder around one latent shape `[B, L]`,

    G (2D -> 3D) = Dec3D o Enc2D      images [B, h, w, 1] -> voxel logits [B, R, R, R]
    F (3D -> 2D) = Dec2D o Enc3D      voxels [B, R, R, R] -> image logits [B, h, w, 1]

and two WGAN-GP critics (`tf3d.losses.wgan_gp`), on images and on voxel
grids. `mode` picks the 3D -> 2D direction:

* `"learned"`: F as above, trained adversarially; cycle losses
  `|F(G(x)) - x|` (image L1) and `BCE(G(F(v)), v)` (voxels).
* `"render"`: F replaced by physics, the differentiable
  `tf3d.ops.voxel_silhouette` of G's occupancy through the view's known camera
  (the viewer frame's azimuth-0 camera), and the image cycle becomes
  `|silhouette(G(x)) - mask(x)|`. Cycle consistency no longer assumes a
  bijection between the domains (one picture has many 3D explanations),
  only that the shape reproduces what was seen; the voxel critic decides
  what is hidden.
* `"both"`: the learned cycles plus the render cycle.

Optional identity-style terms are the cross-wired autoencoders of the
original proposal, `Dec2D(Enc2D(x)) ~ x` and `Dec3D(Enc3D(v)) ~ v`: they keep
the shared latent space decodable by both decoders (in `render` mode, where
Dec2D plays no part, only the voxel one).

One `train_step` per batch of unpaired `(images, voxels)`: `n_critic`
critic updates (on the same batch, fresh interpolation weights each), then
one generator update; the two optimizers are separate (`compile(optimizer,
critic_optimizer)`). Every loss term is a `keras.metrics.Mean` in the logs;
`loss` is the generators' total (the NaN guard watches it). Validation
batches are paired `(images, voxels)`: IoU of G at each threshold and the
silhouette IoU of the 3D -> 2D direction against the image's mask.
"""

import keras

from tf3d.metrics.silhouette_iou import silhouette_iou
from tf3d.models.critic import Critic
from tf3d.models.image_decoder import ImageDecoder
from tf3d.models.image_encoder import ImageEncoder
from tf3d.models.voxel_decoder import VoxelDecoder
from tf3d.models.voxel_encoder import VoxelEncoder

MODES = ("learned", "render", "both")
# Object pixels of the pipeline's images are >= 0.26 (shading), the background is 0:
# `min(4 x, 1)` is the mask up to anti-aliased edges (IoU 0.97-0.99 with the stored masks).
_MASK_GAIN = 4.0


def image_silhouette(images, size=None):
    """Soft mask `[B, size, size]` of pipeline images `[B, h, w, 1]` (0 = background).

    `size` (default h, a divisor of it) area-averages the mask down, to
    compare it with silhouettes rendered at a lower resolution.
    """
    mask = keras.ops.clip(images * _MASK_GAIN, 0.0, 1.0)
    if size is not None and size != images.shape[1]:
        factor = images.shape[1] // size
        mask = keras.ops.average_pool(mask, factor, factor)  # [B, size, size, 1]
    return mask[..., 0]


def viewer_projection(viewpoints, image_size):
    """`[3, 4]` camera of a viewer-frame grid: the dataset's azimuth-0 view at `image_size` pixels.

    Args:
      viewpoints: the dataset's `viewpoints` dict (`tf3d_info.json`).
      image_size: side h = w of the model's images.
    """
    from tf3d import conventions

    v = dict(viewpoints or {})
    eye = conventions.camera_position(0.0, float(v.get("elevation", 30.0)), float(v.get("distance", 2.5)))
    return conventions.projection_matrix(conventions.intrinsics(float(v.get("fov", 41.0)), image_size),
                                         conventions.look_at_extrinsics(eye)).tolist()


def _weighted_bce(targets, logits, pos_weight):
    import tensorflow as tf

    return tf.reduce_mean(tf.nn.weighted_cross_entropy_with_logits(targets, logits, pos_weight))


@keras.saving.register_keras_serializable(package="tf3d")
class CycleGAN(keras.Model):
    """The four generator parts, two critics and the adversarial `train_step` (module docstring).

    Args:
      image_size: h = w of the images.
      resolution: R of the voxel grids.
      latent_dim: L, the code shared by both encoders.
      enc2d_filters, dec2d_filters, enc3d_filters, dec3d_filters: widths of
        `ImageEncoder`, `ImageDecoder`, `VoxelEncoder`, `VoxelDecoder`.
      generator_norm: "none", "instance" or "batch" in the four generator parts. Batch
        normalization is a trap here: Dec3D runs in training mode on Enc2D's codes and
        on Enc3D's, so its moving statistics mix two distributions and inference-mode
        outputs match neither (measured: validation IoU 0.000 after 100 steps).
      critic2d_filters, critic3d_filters: widths of the two `Critic`s.
      critic_norm: "instance" or "none".
      spectral_norm: spectral normalization of the critics' layers.
      mode: "learned", "render" or "both".
      adversarial_weight, cycle_weight, identity_weight, render_weight: loss weights.
      gp_weight: lambda of the gradient penalty (10 in the paper).
      n_critic: critic updates per generator update.
      pos_weight: weight of occupied voxels in the voxel BCE terms.
      projection: `[3, 4]` viewer-frame camera (`viewer_projection`) for the render cycle.
      near, far, render_samples: depth range and samples per ray of the silhouette op.
      render_size: side of the rendered silhouettes of the render cycle (a divisor of
        `image_size`; the input's mask is area-averaged to it). Default `image_size`.
      thresholds: occupancy thresholds of the validation IoUs.

    Call arguments:
      images: float `[B, h, w, 1]`.

    Returns:
      float `[B, R, R, R]` voxel logits of G (what `tf3d.evaluate` scores).
    """

    def __init__(self, image_size=64, resolution=32, latent_dim=256, enc2d_filters=(16, 32, 64, 128),
                 dec2d_filters=(128, 64, 32, 16), enc3d_filters=(16, 32, 64), dec3d_filters=(64, 32, 16),
                 generator_norm="none", critic2d_filters=(32, 64, 128), critic3d_filters=(16, 32, 64),
                 critic_norm="instance", spectral_norm=False, mode="learned", adversarial_weight=1.0,
                 cycle_weight=10.0, identity_weight=0.0, render_weight=10.0, gp_weight=10.0, n_critic=5,
                 pos_weight=2.0, projection=None, near=1.5, far=3.5, render_samples=64,
                 render_size=None, thresholds=(0.3, 0.4, 0.5), **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if int(n_critic) < 1:
            raise ValueError(f"n_critic must be at least 1, got {n_critic}")
        if mode != "learned" and projection is None:
            raise ValueError(f"mode={mode!r} needs the viewer-frame camera `projection` ([3, 4])")
        self.image_size, self.resolution, self.latent_dim = int(image_size), int(resolution), int(latent_dim)
        self.enc2d_filters, self.dec2d_filters = list(enc2d_filters), list(dec2d_filters)
        self.enc3d_filters, self.dec3d_filters = list(enc3d_filters), list(dec3d_filters)
        self.critic2d_filters, self.critic3d_filters = list(critic2d_filters), list(critic3d_filters)
        self.generator_norm, self.critic_norm, self.spectral_norm = generator_norm, critic_norm, bool(spectral_norm)
        self.mode = mode
        self.adversarial_weight, self.cycle_weight = float(adversarial_weight), float(cycle_weight)
        self.identity_weight, self.render_weight = float(identity_weight), float(render_weight)
        self.gp_weight, self.n_critic, self.pos_weight = float(gp_weight), int(n_critic), float(pos_weight)
        self.projection = None if projection is None else [[float(v) for v in row] for row in projection]
        self.near, self.far, self.render_samples = float(near), float(far), int(render_samples)
        self.render_size = int(render_size or image_size)
        if self.image_size % self.render_size:
            raise ValueError(f"render_size ({render_size}) must divide image_size ({image_size})")
        self.thresholds = [float(t) for t in thresholds]

        self.enc2d = ImageEncoder(self.enc2d_filters, self.latent_dim, 0.0, generator_norm, name="enc2d")
        self.dec3d = VoxelDecoder(self.dec3d_filters, self.resolution, generator_norm, name="dec3d")
        self.enc3d = VoxelEncoder(self.enc3d_filters, self.latent_dim, generator_norm, name="enc3d")
        self.dec2d = ImageDecoder(self.dec2d_filters, self.image_size, generator_norm, name="dec2d")
        self.critic2d = Critic(2, self.critic2d_filters, critic_norm, self.spectral_norm, name="critic2d")
        self.critic3d = Critic(3, self.critic3d_filters, critic_norm, self.spectral_norm, name="critic3d")
        self.render = None
        if self.projection is not None:
            from tf3d.ops.layers import VoxelSilhouette

            self.render = VoxelSilhouette(self.render_size, near=self.near, far=self.far,
                                          num_samples=self.render_samples, name="render")
        self.critic_optimizer = None
        names = ["loss", "critic_loss_3d", "wasserstein_3d", "gp_3d", "adversarial_3d", "identity_voxels"]
        if self.learned:
            names += ["critic_loss_2d", "wasserstein_2d", "gp_2d", "adversarial_2d", "cycle_image",
                      "cycle_voxels", "identity_image"]
        if self.rendered:
            names += ["render_cycle"]
        self._trackers = {n: keras.metrics.Mean(name=n) for n in names}
        from tf3d.metrics.voxel_iou import VoxelIoU

        self._ious = [VoxelIoU(t) for t in self.thresholds]
        self._silhouette_iou = keras.metrics.Mean(name="silhouette_iou")

    @property
    def learned(self):
        return self.mode in ("learned", "both")

    @property
    def rendered(self):
        return self.mode in ("render", "both")

    def build(self, input_shape):
        batch = input_shape[0]
        voxel_shape = (batch,) + (self.resolution,) * 3
        self.enc2d.build(input_shape)
        self.dec3d.build((batch, self.latent_dim))
        self.enc3d.build(voxel_shape)
        self.dec2d.build((batch, self.latent_dim))
        self.critic2d.build(input_shape)
        self.critic3d.build(voxel_shape)
        self.built = True

    def call(self, images, training=False):
        return self.dec3d(self.enc2d(images, training=training), training=training)

    def to_image(self, voxels, training=False):
        """The 3D -> 2D direction: `[B, R, R, R]` occupancy -> `[B, h, w, 1]` image in [0, 1].

        Learned (`mode` "learned" or "both"): `sigmoid(Dec2D(Enc3D(v)))`, a
        shaded picture; "render": the silhouette through the viewer camera.
        """
        if self.learned:
            return keras.ops.sigmoid(self.dec2d(self.enc3d(voxels, training=training), training=training))
        silhouette = keras.ops.expand_dims(self._silhouette(voxels), -1)  # [B, s, s, 1]
        if self.render_size != self.image_size:
            silhouette = keras.ops.image.resize(silhouette, (self.image_size,) * 2, interpolation="bilinear")
        return silhouette

    def predicted_mask(self, voxels):
        """`[B, h, w]` mask of the 3D -> 2D direction's picture of `voxels` (for the silhouette IoU)."""
        picture = self.to_image(voxels)
        return image_silhouette(picture) if self.learned else picture[..., 0]  # a silhouette already

    def _silhouette(self, occupancy):
        import tensorflow as tf

        batch = tf.shape(occupancy)[0]
        # The camera is `image_size` pixels wide; rendering at `render_size` scales its pixel rows.
        scale = tf.constant([self.render_size / self.image_size] * 2 + [1.0], tf.float32)[:, None]  # [3, 1]
        cameras = tf.tile((scale * tf.constant(self.projection, tf.float32))[None], [batch, 1, 1])  # [B, 3, 4]
        return self.render(occupancy, cameras)  # [B, h, w]

    # --------------------------------------------------------------- training

    def compile(self, optimizer, critic_optimizer, **kwargs):
        """`optimizer` updates the four generator parts, `critic_optimizer` the two critics."""
        super().compile(optimizer=optimizer, **kwargs)
        self.critic_optimizer = critic_optimizer
        self.optimizer.build(self.generator_variables)
        self.critic_optimizer.build(self.critic_variables)

    @property
    def generator_variables(self):
        return [v for part in (self.enc2d, self.dec3d, self.enc3d, self.dec2d) for v in part.trainable_variables]

    @property
    def critic_variables(self):
        return self.critic3d.trainable_variables + (self.critic2d.trainable_variables if self.learned else [])

    @property
    def metrics(self):
        return list(self._trackers.values()) + self._ious + [self._silhouette_iou]

    def _critic_step(self, images, voxels, fake_voxels, fake_images):
        import tensorflow as tf

        from tf3d.losses import wgan_gp
        from tf3d.training import distribute

        logs = {}
        with tf.GradientTape() as tape:
            real3, fake3 = self.critic3d(voxels, training=True), self.critic3d(fake_voxels, training=True)
            logs["wasserstein_3d"] = -wgan_gp.critic_loss(real3, fake3)
            logs["gp_3d"] = wgan_gp.gradient_penalty(self.critic3d, voxels, fake_voxels, self.gp_weight)
            logs["critic_loss_3d"] = -logs["wasserstein_3d"] + logs["gp_3d"]
            total = logs["critic_loss_3d"]
            if self.learned:
                real2, fake2 = self.critic2d(images, training=True), self.critic2d(fake_images, training=True)
                logs["wasserstein_2d"] = -wgan_gp.critic_loss(real2, fake2)
                logs["gp_2d"] = wgan_gp.gradient_penalty(self.critic2d, images, fake_images, self.gp_weight)
                logs["critic_loss_2d"] = -logs["wasserstein_2d"] + logs["gp_2d"]
                total = total + logs["critic_loss_2d"]
            scaled = distribute.scale_loss(total)
        variables = self.critic_variables
        self.critic_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return logs

    def generator_losses(self, images, voxels, training=True):
        """Every generator loss term of one unpaired batch: dict name -> scalar, `loss` the weighted total.

        Args:
          images: `[B, h, w, 1]`; voxels: `[B, R, R, R]` (unrelated to the images).
        """
        import tensorflow as tf

        from tf3d.losses import wgan_gp

        logs = {}
        code_x = self.enc2d(images, training=training)
        fake_logits = self.dec3d(code_x, training=training)  # G(x): [B, R, R, R]
        fake_voxels = tf.sigmoid(fake_logits)
        logs["adversarial_3d"] = wgan_gp.generator_loss(self.critic3d(fake_voxels, training=training))
        total = self.adversarial_weight * logs["adversarial_3d"]
        code_v = self.enc3d(voxels, training=training)
        if self.identity_weight:
            logs["identity_voxels"] = _weighted_bce(voxels, self.dec3d(code_v, training=training), self.pos_weight)
            total += self.identity_weight * logs["identity_voxels"]
            if self.learned:  # Dec2D has no other use in render mode
                logs["identity_image"] = tf.reduce_mean(tf.abs(
                    tf.sigmoid(self.dec2d(code_x, training=training)) - images))
                total += self.identity_weight * logs["identity_image"]
        if self.learned:
            fake_images = tf.sigmoid(self.dec2d(code_v, training=training))  # F(v): [B, h, w, 1]
            logs["adversarial_2d"] = wgan_gp.generator_loss(self.critic2d(fake_images, training=training))
            cycled_images = tf.sigmoid(self.dec2d(self.enc3d(fake_voxels, training=training), training=training))
            cycled_logits = self.dec3d(self.enc2d(fake_images, training=training), training=training)
            logs["cycle_image"] = tf.reduce_mean(tf.abs(cycled_images - images))
            logs["cycle_voxels"] = _weighted_bce(voxels, cycled_logits, self.pos_weight)
            total += (self.adversarial_weight * logs["adversarial_2d"]
                      + self.cycle_weight * (logs["cycle_image"] + logs["cycle_voxels"]))
        if self.rendered:
            logs["render_cycle"] = tf.reduce_mean(tf.abs(self._silhouette(fake_voxels)
                                                         - image_silhouette(images, self.render_size)))
            total += self.render_weight * logs["render_cycle"]
        logs["loss"] = total
        return logs

    def train_step(self, data):
        import tensorflow as tf

        from tf3d.training import distribute

        images, voxels = data
        voxels = tf.cast(voxels, tf.float32)
        # The generators do not change during the critic updates: one forward pass for all of them.
        fake_voxels = tf.sigmoid(self(images, training=True))
        fake_images = tf.sigmoid(self.dec2d(self.enc3d(voxels, training=True), training=True)) if self.learned \
            else None
        for _ in range(self.n_critic):
            critic_logs = self._critic_step(images, voxels, fake_voxels, fake_images)
        with tf.GradientTape() as tape:
            logs = self.generator_losses(images, voxels)
            scaled = distribute.scale_loss(logs["loss"])
        variables = self.generator_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        logs.update(critic_logs)
        for name, value in logs.items():
            self._trackers[name].update_state(value)
        return {name: self._trackers[name].result() for name in self._trackers if name in logs}

    def test_step(self, data):
        import tensorflow as tf

        images, voxels = data
        logits = self(images, training=False)
        for metric in self._ious:
            metric.update_state(voxels, logits)
        self._silhouette_iou.update_state(silhouette_iou(image_silhouette(images),
                                                         self.predicted_mask(tf.cast(voxels, tf.float32))))
        return {m.name: m.result() for m in self._ious + [self._silhouette_iou]}

    def get_config(self):
        return dict(super().get_config(), image_size=self.image_size, resolution=self.resolution,
                    latent_dim=self.latent_dim, enc2d_filters=self.enc2d_filters, dec2d_filters=self.dec2d_filters,
                    enc3d_filters=self.enc3d_filters, dec3d_filters=self.dec3d_filters,
                    generator_norm=self.generator_norm, critic2d_filters=self.critic2d_filters,
                    critic3d_filters=self.critic3d_filters, critic_norm=self.critic_norm,
                    spectral_norm=self.spectral_norm, mode=self.mode, adversarial_weight=self.adversarial_weight,
                    cycle_weight=self.cycle_weight, identity_weight=self.identity_weight,
                    render_weight=self.render_weight, gp_weight=self.gp_weight, n_critic=self.n_critic,
                    pos_weight=self.pos_weight, projection=self.projection, near=self.near, far=self.far,
                    render_samples=self.render_samples, render_size=self.render_size, thresholds=self.thresholds)

