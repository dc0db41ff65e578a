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

In `render` and `both` modes, `render_voxel_weight` closes the other cycle
through the renderer too: `BCE(G(render(v)), v)`, the voxel half's grids
drawn by the silhouette op and read back by G. The pairs it makes come from
the voxel half alone, so nothing is paired across domains; with
`generator_input="silhouette"` G reads the mask of a picture (as
`image_silhouette` gives it) instead of its shading, so that both cycles
feed G the same kind of input.

Two options aim at the collapse a voxel critic causes (docs/cyclegan.md):
`latent_weight` adds a third WGAN-GP critic on the shared code, real =
Enc3D(v), fake = Enc2D(x), so that G's codes are drawn where Dec3D was
taught to decode (a 256-number distribution instead of 32^3 grids); and
`frozen` keeps pretrained parts fixed (e.g. Enc3D and Dec3D from
`ae_pretrain`), so that G can only answer with shapes that decoder makes.

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
RENDER_LOSSES = ("l1", "iou")
INPUTS = ("image", "silhouette")  # what G reads
PARTS = ("enc2d", "dec3d", "enc3d", "dec2d")  # the generator parts, as `frozen` and `init_from` name them
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
      latent_filters: hidden widths of the code critic (used when `latent_weight` > 0).
      frozen: names of generator parts ("enc2d", "dec3d", "enc3d", "dec2d") not trained.
      mode: "learned", "render" or "both".
      adversarial_weight, cycle_weight, identity_weight, render_weight: loss weights. A
        critic whose weight is 0 is not built into the step (not trained).
      latent_weight: weight of the code critic's generator term (0: no code critic).
      render_voxel_weight: weight of the voxel cycle through the renderer, `BCE(G(render(v)), v)`
        (modes "render" and "both").
      generator_input: what G reads, "image" (the shaded picture) or "silhouette" (its mask).
      render_loss: the render cycle's distance, "l1" (mean per pixel) or "iou" (`1 - soft IoU`,
        `tf3d.losses.silhouette`: not diluted by the background pixels).
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
                 critic_norm="instance", spectral_norm=False, latent_filters=(256, 256), frozen=(),
                 mode="learned", adversarial_weight=1.0, latent_weight=0.0,
                 cycle_weight=10.0, identity_weight=0.0, render_weight=10.0, render_voxel_weight=0.0,
                 generator_input="image", render_loss="l1", gp_weight=10.0, n_critic=5,
                 pos_weight=2.0, projection=None, near=1.5, far=3.5, render_samples=64,
                 render_size=None, thresholds=(0.3, 0.4, 0.5), **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if int(n_critic) < 1:
            raise ValueError(f"n_critic must be at least 1, got {n_critic}")
        unknown = sorted(set(frozen) - set(PARTS))
        if unknown:
            raise ValueError(f"frozen must name parts among {PARTS}, got {unknown}")
        if generator_input not in INPUTS:
            raise ValueError(f"generator_input must be one of {INPUTS}, got {generator_input!r}")
        if render_loss not in RENDER_LOSSES:
            raise ValueError(f"render_loss must be one of {RENDER_LOSSES}, got {render_loss!r}")
        if mode != "learned" and projection is None:
            raise ValueError(f"mode={mode!r} needs the viewer-frame camera `projection` ([3, 4])")
        self.image_size, self.resolution, self.latent_dim = int(image_size), int(resolution), int(latent_dim)
        self.enc2d_filters, self.dec2d_filters = list(enc2d_filters), list(dec2d_filters)
        self.enc3d_filters, self.dec3d_filters = list(enc3d_filters), list(dec3d_filters)
        self.critic2d_filters, self.critic3d_filters = list(critic2d_filters), list(critic3d_filters)
        self.generator_norm, self.critic_norm, self.spectral_norm = generator_norm, critic_norm, bool(spectral_norm)
        self.latent_filters, self.frozen = [int(f) for f in latent_filters], [p for p in PARTS if p in frozen]
        self.mode = mode
        self.adversarial_weight, self.latent_weight = float(adversarial_weight), float(latent_weight)
        self.cycle_weight = float(cycle_weight)
        self.identity_weight, self.render_weight = float(identity_weight), float(render_weight)
        self.render_voxel_weight, self.generator_input = float(render_voxel_weight), generator_input
        self.render_loss = render_loss
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
        self.critic_latent = Critic(1, self.latent_filters, "none", self.spectral_norm, name="critic_latent") \
            if self.latent_weight else None
        for part in self.frozen:
            getattr(self, part).trainable = False
        self.render = None
        if self.projection is not None:
            from tf3d.ops.layers import VoxelSilhouette

            self.render = VoxelSilhouette(self.render_size, near=self.near, far=self.far,
                                          num_samples=self.render_samples, name="render")
        self.critic_optimizer = None
        names = ["loss", "adversarial_3d", "identity_voxels"]
        names += ["critic_loss_3d", "wasserstein_3d", "gp_3d"] if self.adversarial_weight else []
        if self.learned:
            names += ["adversarial_2d", "cycle_image", "cycle_voxels", "identity_image"]
            names += ["critic_loss_2d", "wasserstein_2d", "gp_2d"] if self.adversarial_weight else []
        if self.latent_weight:
            names += ["critic_loss_latent", "wasserstein_latent", "gp_latent", "adversarial_latent"]
        if self.rendered:
            names += ["render_cycle"] + (["render_cycle_voxels"] if self.render_voxel_weight else [])
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
        if self.critic_latent is not None:
            self.critic_latent.build((batch, self.latent_dim))
        self.built = True

    def call(self, images, training=False):
        return self.generate(self.generator_inputs(images), training=training)

    def generator_inputs(self, images):
        """What G reads of `[B, h, w, 1]` pictures: themselves, or their masks (`generator_input`).

        A mask is taken at `render_size` and brought back to h x w the way the
        renderer's silhouettes are (`_upsample`), so that G reads the image
        half's masks and the voxel half's drawings at one resolution.
        """
        if self.generator_input == "image":
            return images
        return self._upsample(keras.ops.expand_dims(image_silhouette(images, self.render_size), -1))

    def generate(self, inputs, training=False):
        """G on what it reads (`generator_inputs`): `[B, h, w, 1]` -> `[B, R, R, R]` voxel logits."""
        return self.dec3d(self.enc2d(inputs, training=training), training=training)

    def to_image(self, voxels, training=False):
        """The 3D -> 2D direction: `[B, R, R, R]` occupancy -> `[B, h, w, 1]` image in [0, 1].

        Learned (`mode` "learned" or "both"): `sigmoid(Dec2D(Enc3D(v)))`, a
        shaded picture; "render": the silhouette through the viewer camera.
        """
        if self.learned:
            return keras.ops.sigmoid(self.dec2d(self.enc3d(voxels, training=training), training=training))
        return self._upsample(keras.ops.expand_dims(self._silhouette(voxels), -1))

    def _upsample(self, silhouettes):
        """`[B, s, s, 1]` silhouettes at `render_size` -> `[B, h, w, 1]` (bilinear)."""
        if self.render_size == self.image_size:
            return silhouettes
        return keras.ops.image.resize(silhouettes, (self.image_size,) * 2, interpolation="bilinear")

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
    def _critics(self):
        """The trained critics: name -> layer (a critic whose loss weight is 0 is left out)."""
        critics = {}
        if self.adversarial_weight:
            critics["3d"] = self.critic3d
            if self.learned:
                critics["2d"] = self.critic2d
        if self.latent_weight:
            critics["latent"] = self.critic_latent
        return critics

    @property
    def critic_variables(self):
        return [v for critic in self._critics.values() for v in critic.trainable_variables]

    @property
    def metrics(self):
        return list(self._trackers.values()) + self._ious + [self._silhouette_iou]

    def _critic_step(self, pairs):
        """One update of every trained critic; `pairs`: name -> (real, fake) batches of its domain."""
        import tensorflow as tf

        from tf3d.losses import wgan_gp
        from tf3d.training import distribute

        logs, total = {}, 0.0
        with tf.GradientTape() as tape:
            for name, critic in self._critics.items():
                real, fake = pairs[name]
                logs[f"wasserstein_{name}"] = -wgan_gp.critic_loss(critic(real, training=True),
                                                                    critic(fake, training=True))
                logs[f"gp_{name}"] = wgan_gp.gradient_penalty(critic, real, fake, self.gp_weight)
                logs[f"critic_loss_{name}"] = -logs[f"wasserstein_{name}"] + logs[f"gp_{name}"]
                total += logs[f"critic_loss_{name}"]
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

        from tf3d.losses import silhouette, wgan_gp

        logs = {}
        code_x = self.enc2d(self.generator_inputs(images), training=training)
        fake_logits = self.dec3d(code_x, training=training)  # G(x): [B, R, R, R]
        fake_voxels = tf.sigmoid(fake_logits)
        total = 0.0
        if self.adversarial_weight:
            logs["adversarial_3d"] = wgan_gp.generator_loss(self.critic3d(fake_voxels, training=training))
            total += self.adversarial_weight * logs["adversarial_3d"]
        if self.latent_weight:
            logs["adversarial_latent"] = wgan_gp.generator_loss(self.critic_latent(code_x, training=training))
            total += self.latent_weight * logs["adversarial_latent"]
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
            if self.adversarial_weight:
                logs["adversarial_2d"] = wgan_gp.generator_loss(self.critic2d(fake_images, training=training))
                total += self.adversarial_weight * logs["adversarial_2d"]
            cycled_images = tf.sigmoid(self.dec2d(self.enc3d(fake_voxels, training=training), training=training))
            cycled_logits = self.generate(self.generator_inputs(fake_images), training=training)
            logs["cycle_image"] = tf.reduce_mean(tf.abs(cycled_images - images))
            logs["cycle_voxels"] = _weighted_bce(voxels, cycled_logits, self.pos_weight)
            total += self.cycle_weight * (logs["cycle_image"] + logs["cycle_voxels"])
        if self.rendered:
            rendered, seen = self._silhouette(fake_voxels), image_silhouette(images, self.render_size)
            logs["render_cycle"] = tf.reduce_mean(silhouette.soft_iou(rendered, seen) if self.render_loss == "iou"
                                                  else tf.abs(rendered - seen))
            total += self.render_weight * logs["render_cycle"]
            if self.render_voxel_weight:  # v -> render(v) -> G: the voxel half's own (picture, grid) pairs
                drawn = self._upsample(keras.ops.expand_dims(self._silhouette(voxels), -1))
                logs["render_cycle_voxels"] = _weighted_bce(voxels, self.generate(drawn, training=training),
                                                            self.pos_weight)
                total += self.render_voxel_weight * logs["render_cycle_voxels"]
        logs["loss"] = total
        return logs

    def train_step(self, data):
        import tensorflow as tf

        from tf3d.training import distribute

        images, voxels = data
        voxels = tf.cast(voxels, tf.float32)
        critic_logs = {}
        if self._critics:
            # The generators do not change during the critic updates: one forward pass for all of them.
            code_x = self.enc2d(self.generator_inputs(images), training=True)
            code_v = self.enc3d(voxels, training=True)
            pairs = {"latent": (code_v, code_x)}
            if "3d" in self._critics:
                pairs["3d"] = (voxels, tf.sigmoid(self.dec3d(code_x, training=True)))
            if "2d" in self._critics:
                pairs["2d"] = (images, tf.sigmoid(self.dec2d(code_v, training=True)))
            for _ in range(self.n_critic):
                critic_logs = self._critic_step(pairs)
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
                    spectral_norm=self.spectral_norm, latent_filters=self.latent_filters, frozen=self.frozen,
                    mode=self.mode, adversarial_weight=self.adversarial_weight, latent_weight=self.latent_weight,
                    cycle_weight=self.cycle_weight, identity_weight=self.identity_weight,
                    render_weight=self.render_weight, render_voxel_weight=self.render_voxel_weight,
                    generator_input=self.generator_input, render_loss=self.render_loss, gp_weight=self.gp_weight,
                    n_critic=self.n_critic,
                    pos_weight=self.pos_weight, projection=self.projection, near=self.near, far=self.far,
                    render_samples=self.render_samples, render_size=self.render_size, thresholds=self.thresholds)

