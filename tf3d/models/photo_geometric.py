"""`PhotoGeometricAutoencoder`: Unsup3D (Wu et al. 2020) as one Keras model.

Four networks factor an image into a canonical depth map, a canonical
albedo, a view and a light (`tf3d.models.unsup3d_networks`); the renderer
(`tf3d.models.photo_renderer`) shades and warps them back into the input
view; a confidence network scales the reconstruction error per pixel. The
symmetry assumption: the same view and light with the depth and albedo
flipped left-right must also explain the image (eq. 6), with weight
`flip_weight` (Unsup3D: 0.5). `train_step` minimizes

    L = photometric(I, Î) + flip_weight * photometric(I, Î_flip)
        + perceptual_weight * (perceptual(I, Î) + flip_weight * perceptual(I, Î_flip))
        + depth_smoothness * mean |grad d|

(`tf3d.losses.photometric`; the last term, total variation of the canonical
depth, is GAN2Shape's smoothness term, off by default as in Unsup3D)
(`tf3d.losses.photometric`) over the pixels both reconstructions cover,
eroded by two pixels. `test_step` adds, from the records' ground truth,
SIDE and MAD (`tf3d.metrics.shape_errors`) on the object's pixels (its mask).

Parameter ranges follow Unsup3D's: depth `min + (1 + tanh(d - mean d)) / 2
(max - min)` with a two-pixel left and right border held at 0.7 max + 0.3
min; albedo `(1 + tanh) / 2`; light ambient and diffuse `(1 + tanh) / 2` and
direction `normalize(x, y, -1)`; view `tanh` times 60 degrees for the three
rotations and `xy_translation`, `z_translation` for the translations.
"""

import math

import keras
import tensorflow as tf

from tf3d.losses import photometric
from tf3d.metrics import shape_errors
from tf3d.models import photo_renderer, unsup3d_networks


def _erode(mask, pixels):
    """`[B, H, W, 1]` float mask shrunk by `pixels` (a pixel stays if its 3x3 neighbourhood is inside)."""
    for _ in range(pixels):
        mask = tf.cast(tf.nn.avg_pool2d(mask, 3, 1, "SAME") > 0.9999, mask.dtype)
    return mask


@keras.saving.register_keras_serializable(package="tf3d")
class PhotoGeometricAutoencoder(keras.Model):
    """Unsup3D: image -> depth, albedo, view, light -> image (see the module docstring).

    Args:
      image_size: S (a power of two >= 16).
      intrinsics: `[3, 3]` K of the canonical and view cameras (the dataset's).
      min_depth, max_depth: the canonical depth's range.
      rotation_centre: depth of the point the view turns about.
      rotation_range: degrees; the view's rotations are tanh times this.
      xy_translation, z_translation: bounds of the view's translations.
      nf, zdim: network width and bottleneck (`unsup3d_networks`).
      flip_weight: weight of the flipped branch (0 disables it).
      perceptual_weight: weight of the VGG16 relu3_3 term (0: off).
      perceptual_weights: None (random VGG16) or a path to its ImageNet `.h5`.
      use_confidence: scale errors by the confidence maps (Unsup3D's default) or not.
      depth_smoothness: weight of the canonical depth's total variation (0: off).
      flat_start: the depth and albedo networks' last convolutions start at zero
        (depth flat, albedo 0.5) instead of Glorot noise.
      confidence_floor: added to every confidence scale, so that no pixel can be
        discounted below it (0: Unsup3D's maps as they are).
      view_warmup: training steps during which the view is held at the identity;
        it is then ramped in linearly over as many steps (0: learned from the start).

    Call arguments:
      images: `[B, S, S, 1]` in [0, 1].

    Returns:
      `[B, S, S, 1]` the reconstruction (`reconstruct` returns every map).
    """

    def __init__(self, image_size=64, intrinsics=None, min_depth=2.0, max_depth=3.0, rotation_centre=2.5,
                 rotation_range=60.0, xy_translation=0.1, z_translation=0.0, nf=16, zdim=128, flip_weight=0.5,
                 perceptual_weight=0.0, perceptual_weights=None, use_confidence=True, depth_smoothness=0.0,
                 flat_start=False, confidence_floor=0.0, view_warmup=0, **kwargs):
        super().__init__(**kwargs)
        if intrinsics is None:
            raise ValueError("intrinsics [3, 3] are required (the dataset's camera)")
        self.image_size = int(image_size)
        self.intrinsics = [[float(v) for v in row] for row in intrinsics]
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self.rotation_centre = float(rotation_centre)
        self.rotation_range = float(rotation_range)
        self.xy_translation, self.z_translation = float(xy_translation), float(z_translation)
        self.nf, self.zdim = int(nf), int(zdim)
        self.flip_weight = float(flip_weight)
        self.perceptual_weight = float(perceptual_weight)
        self.perceptual_weights = perceptual_weights
        self.use_confidence = bool(use_confidence)
        self.depth_smoothness = float(depth_smoothness)
        self.flat_start = bool(flat_start)
        self.confidence_floor = float(confidence_floor)
        self.view_warmup = int(view_warmup)
        s = self.image_size
        self.depth_net = unsup3d_networks.encoder_decoder(s, nf, zdim, 1, name="depth", zero_output=self.flat_start)
        self.albedo_net = unsup3d_networks.encoder_decoder(s, nf, zdim, 1, name="albedo",
                                                           zero_output=self.flat_start)
        # How much of the predicted view is applied (0 -> 1 over the warm-up); a weight, so that a run read
        # back from its checkpoint renders with the view it ended training with.
        self.view_gate = (self.add_weight(shape=(), initializer="zeros", trainable=False, name="view_gate")
                          if self.view_warmup else None)
        self.view_net = unsup3d_networks.vector_encoder(s, 6, nf, name="view")
        self.light_net = unsup3d_networks.vector_encoder(s, 4, nf, name="light")
        self.confidence_net = unsup3d_networks.confidence_net(s, nf, zdim, name="confidence")
        self.vgg = photometric.vgg16_relu3_3(s, perceptual_weights) if self.perceptual_weight > 0 else None
        names = ("loss", "photometric", "photometric_flip", "perceptual", "smoothness", "side", "mad")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def build(self, input_shape):
        for net in (self.depth_net, self.albedo_net, self.view_net, self.light_net, self.confidence_net):
            net.build(input_shape)
        self.built = True

    # --------------------------------------------------------------- forward

    def decompose(self, images, training=False):
        """The four factors and the confidences of `[B, S, S, 1]` images.

        Returns a dict: "depth" `[B, S, S]` canonical depth, "albedo" `[B, S, S]`,
        "rotation" `[B, 3, 3]`, "translation" `[B, 3]`, "ambient", "diffuse" `[B]`,
        "light" `[B, 3]` unit direction towards the light, "sigma" `[B, S, S, 2]`
        and "sigma_perceptual" `[B, S/4, S/4, 2]` (input, flipped).
        """
        depth = self.depth_net(images, training=training)[..., 0]
        depth = depth - tf.reduce_mean(depth, axis=[1, 2], keepdims=True)
        depth = self.min_depth + (1.0 + tf.tanh(depth)) / 2.0 * (self.max_depth - self.min_depth)
        s = self.image_size
        border = tf.pad(tf.zeros([1, s, s - 4]), [[0, 0], [0, 0], [2, 2]], constant_values=1.0)
        depth = depth * (1.0 - border) + border * (0.7 * self.max_depth + 0.3 * self.min_depth)
        albedo = (1.0 + tf.tanh(self.albedo_net(images, training=training)[..., 0])) / 2.0
        view = self.view_net(images, training=training)
        if self.view_gate is not None:
            view = view * self.view_gate
        angles = view[:, :3] * math.radians(self.rotation_range)
        translation = view[:, 3:] * tf.constant([self.xy_translation, self.xy_translation, self.z_translation])
        light = self.light_net(images, training=training)
        sigma, sigma_perceptual = self.confidence_net(images, training=training)
        return {"depth": depth, "albedo": albedo, "rotation": photo_renderer.rotation_matrix(angles),
                "translation": translation, "ambient": (1.0 + light[:, 0]) / 2.0,
                "diffuse": (1.0 + light[:, 1]) / 2.0, "light": photo_renderer.light_direction(light[:, 2:]),
                "sigma": sigma + self.confidence_floor + 1e-4,
                "sigma_perceptual": sigma_perceptual + self.confidence_floor + 1e-4}

    def render(self, factors, flip=False, light=None):
        """Renders decomposed `factors` (optionally flipped, or under another `light` `(ambient, diffuse,
        direction)`) into the input view: dict of "image" `[B, S, S, 1]`, "depth" `[B, S, S]`, "normal"
        `[B, S, S, 3]`, "mask" `[B, S, S]` (view), "shading", "canonical_normal", "canonical_image"."""
        depth, albedo = factors["depth"], factors["albedo"]
        if flip:
            depth, albedo = tf.reverse(depth, [2]), tf.reverse(albedo, [2])
        ambient, diffuse, direction = light or (factors["ambient"], factors["diffuse"], factors["light"])
        normal = photo_renderer.depth_normals(depth, self.intrinsics)
        shading = photo_renderer.lambertian(normal, ambient, diffuse, direction)
        canonical = (albedo * shading)[..., None]
        warped = photo_renderer.warp_to_view(depth, canonical, normal, factors["rotation"],
                                             factors["translation"], self.intrinsics, self.rotation_centre)
        return {"image": warped.image, "depth": warped.depth, "normal": warped.normal, "mask": warped.mask,
                "shading": shading, "canonical_normal": normal, "canonical_image": canonical[..., 0]}

    def reconstruct(self, images):
        """Every map of `images` (inference): the factors and the rendering, merged into one dict."""
        factors = self.decompose(images, training=False)
        rendered = self.render(factors)
        return dict(factors, **{f"recon_{k}": v for k, v in rendered.items()})

    def call(self, images, training=False):
        return self.render(self.decompose(images, training=training))["image"]

    # --------------------------------------------------------------- losses

    def _objective(self, images, training):
        factors = self.decompose(images, training=training)
        recon = self.render(factors)
        branches = [(recon, 0)]
        if self.flip_weight > 0:
            branches.append((self.render(factors, flip=True), 1))
        valid = tf.cast(recon["mask"], images.dtype)[..., None]
        for branch, _ in branches[1:]:
            valid = valid * tf.cast(branch["mask"], images.dtype)[..., None]
        valid = tf.stop_gradient(_erode(valid, 2))
        depth = factors["depth"]
        smoothness = (tf.reduce_mean(tf.abs(depth[:, 1:] - depth[:, :-1]))
                      + tf.reduce_mean(tf.abs(depth[:, :, 1:] - depth[:, :, :-1])))
        terms = {"photometric": 0.0, "photometric_flip": 0.0, "perceptual": 0.0, "smoothness": smoothness}
        target_features = None
        if self.vgg is not None:
            target_features = tf.stop_gradient(self.vgg(images, training=False))
        total = self.depth_smoothness * smoothness
        for branch, index in branches:
            weight = 1.0 if index == 0 else self.flip_weight
            sigma = factors["sigma"][..., index:index + 1] if self.use_confidence else None
            term = photometric.photometric_loss(branch["image"], images, valid, sigma)
            terms["photometric" if index == 0 else "photometric_flip"] = term
            total += weight * term
            if self.vgg is not None:
                sigma_p = factors["sigma_perceptual"][..., index:index + 1] if self.use_confidence else None
                perceptual = photometric.perceptual_loss(self.vgg(branch["image"], training=False),
                                                         target_features, valid, sigma_p)
                terms["perceptual"] += weight * perceptual
                total += self.perceptual_weight * weight * perceptual
        return total, terms, recon

    def train_step(self, data):
        images = data["image"]
        if self.view_gate is not None:
            step = tf.cast(self.optimizer.iterations, tf.float32)
            self.view_gate.assign(tf.clip_by_value(step / self.view_warmup - 1.0, 0.0, 1.0))
        with tf.GradientTape() as tape:
            total, terms, _ = self._objective(images, training=True)
        variables = self.trainable_variables
        # The perceptual confidence head has no gradient while the perceptual term is off.
        pairs = [(g, v) for g, v in zip(tape.gradient(total, variables), variables) if g is not None]
        self.optimizer.apply_gradients(pairs)
        return self._record(total, terms)

    def test_step(self, data):
        images = data["image"]
        total, terms, recon = self._objective(images, training=False)
        mask = tf.cast((data["mask"][..., 0] > 0.5) & recon["mask"], tf.float32)  # the object's pixels
        side = shape_errors.side(tf.where(recon["mask"], recon["depth"], 1.0), data["depth"], mask)
        mad = shape_errors.mad(recon["normal"], data["normal"], mask)
        has = tf.reduce_sum(mask, axis=[1, 2]) > 0
        self.trackers["side"].update_state(tf.boolean_mask(side, has))
        self.trackers["mad"].update_state(tf.boolean_mask(mad, has))
        return self._record(total, terms)

    def _record(self, total, terms):
        self.trackers["loss"].update_state(total)
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def get_config(self):
        return dict(super().get_config(), image_size=self.image_size, intrinsics=self.intrinsics,
                    min_depth=self.min_depth, max_depth=self.max_depth, rotation_centre=self.rotation_centre,
                    rotation_range=self.rotation_range, xy_translation=self.xy_translation,
                    z_translation=self.z_translation, nf=self.nf, zdim=self.zdim, flip_weight=self.flip_weight,
                    perceptual_weight=self.perceptual_weight, perceptual_weights=self.perceptual_weights,
                    use_confidence=self.use_confidence, depth_smoothness=self.depth_smoothness,
                    flat_start=self.flat_start, confidence_floor=self.confidence_floor, view_warmup=self.view_warmup)
