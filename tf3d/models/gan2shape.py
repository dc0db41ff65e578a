"""GAN2Shape's per-instance pieces (Pan et al. 2021, "Do 2D GANs Know 3D Shape?", sec. 3).

- `InstanceNetworks`: Unsup3D's four networks (`tf3d.models.unsup3d_networks`) fitted to one instance:
  depth and albedo maps from the instance image, a view and a light from any image, with GAN2Shape's
  bounds, and the renderer (`tf3d.models.photo_renderer`) that turns them into an image in a view;
- `invert_styles`: GAN inversion by optimization, per-layer styles `[L, W]` that reproduce an image
  (gives a test image its place in the GAN, GAN2Shape's instance latent);
- `offset_encoder` and `offset_regularizer`: step 2's GAN inversion of pseudo samples, an encoder
  predicting style offsets `dw` with the loss `|G(w + dw) - pseudo|_1 + lambda mean(dw^2)` (eq. 4).

Shapes: S the instance's side, s the GAN's (`StyleGAN.image_size`), L its `num_styles`, W its `w_dim`.
Images are `[B, S, S, 1]` in [0, 1]; depth maps `[B, S, S]` along the optical axis (the camera frame of
`photo_renderer`).
"""

import math

import keras
import tensorflow as tf

from tf3d.models import photo_renderer, unsup3d_networks


class InstanceNetworks:
    """The four networks of one GAN2Shape instance and their renderer.

    Args:
      image_size: S (a power of two >= 16).
      intrinsics: `[3, 3]` K of the canonical and view cameras.
      nf, zdim: network width and bottleneck (`unsup3d_networks`).
      min_depth, max_depth: the depth's range (`min + (1 + tanh) / 2 (max - min)`).
      rotation_centre: depth of the point the view turns about.
      rotation_range: degrees; each view rotation is tanh times this.
      xy_translation: bound of the view's x and y translation.

    The view and light networks start with a zero last layer, so every image starts at the canonical
    view (identity) and the light (ambient 0.5, diffuse 0.5, from the camera): step 1 of the first stage
    runs with the view at identity, as GAN2Shape's.
    """

    def __init__(self, image_size, intrinsics, nf=16, zdim=128, min_depth=2.0, max_depth=3.0,
                 rotation_centre=2.5, rotation_range=60.0, xy_translation=0.1):
        s = int(image_size)
        self.image_size, self.intrinsics = s, [[float(v) for v in row] for row in intrinsics]
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self.rotation_centre, self.rotation_range = float(rotation_centre), float(rotation_range)
        self.xy_translation = float(xy_translation)
        self.depth_net = unsup3d_networks.encoder_decoder(s, nf, zdim, 1, name="depth")
        self.albedo_net = unsup3d_networks.encoder_decoder(s, nf, zdim, 1, name="albedo")
        self.view_net = unsup3d_networks.vector_encoder(s, 6, nf, name="view")
        self.light_net = unsup3d_networks.vector_encoder(s, 4, nf, name="light")
        for net in (self.view_net, self.light_net):
            last = net.layers[-1]
            last.set_weights([tf.zeros_like(w) for w in last.get_weights()])
        self._initial = [net.get_weights() for net in self.networks]

    @property
    def networks(self):
        return [self.depth_net, self.albedo_net, self.view_net, self.light_net]

    def reset(self):
        """Back to the initial weights (the next instance starts where the first did)."""
        for net, weights in zip(self.networks, self._initial):
            net.set_weights(weights)

    def depth_to_raw(self, depth):
        """The depth network's output that gives `depth` `[B, S, S]` (inverse of `depth`)."""
        t = 2.0 * (depth - self.min_depth) / (self.max_depth - self.min_depth) - 1.0
        return tf.atanh(tf.clip_by_value(t, -0.999, 0.999))

    def depth(self, images, training=False):
        """`[B, S, S]` canonical depth of `images` in [min_depth, max_depth]."""
        raw = self.depth_net(images, training=training)[..., 0]
        return self.min_depth + (1.0 + tf.tanh(raw)) / 2.0 * (self.max_depth - self.min_depth)

    def albedo(self, images, training=False):
        """`[B, S, S]` canonical albedo in [0, 1]."""
        return (1.0 + tf.tanh(self.albedo_net(images, training=training)[..., 0])) / 2.0

    def view(self, images, training=False):
        """`(rotation [B, 3, 3], translation [B, 3])` of `images`."""
        v = self.view_net(images, training=training)
        angles = v[:, :3] * math.radians(self.rotation_range)
        translation = tf.concat([v[:, 3:5] * self.xy_translation, tf.zeros_like(v[:, 5:])], -1)
        return photo_renderer.rotation_matrix(angles), translation

    def light(self, images, training=False):
        """`(ambient [B], diffuse [B], direction [B, 3])` of `images` (direction towards the light)."""
        l = self.light_net(images, training=training)  # noqa: E741
        return (1.0 + l[:, 0]) / 2.0, (1.0 + l[:, 1]) / 2.0, photo_renderer.light_direction(l[:, 2:])

    def render(self, depth, albedo, view, light):
        """Lambertian image of canonical maps in a view.

        Args:
          depth, albedo: `[B, S, S]` canonical maps.
          view: `(rotation [B, 3, 3], translation [B, 3])`.
          light: `(ambient [B], diffuse [B], direction [B, 3])`.

        Returns:
          dict: "image" `[B, S, S, 1]`, "depth" `[B, S, S]` and "normal" `[B, S, S, 3]` in the view,
          "mask" `[B, S, S]` bool (seen), "shading" `[B, S, S]` canonical.
        """
        normal = photo_renderer.depth_normals(depth, self.intrinsics)
        shading = photo_renderer.lambertian(normal, *light)
        warped = photo_renderer.warp_to_view(depth, (albedo * shading)[..., None], normal, view[0], view[1],
                                             self.intrinsics, self.rotation_centre)
        return {"image": warped.image, "depth": warped.depth, "normal": warped.normal, "mask": warped.mask,
                "shading": shading}


def masked_l1(a, b, mask):
    """Mean `|a - b|` of `[B, S, S, 1]` images over the `[B, S, S]` bool mask (GAN2Shape's photometric
    loss without its perceptual term)."""
    m = tf.cast(mask, a.dtype)[..., None]
    return tf.reduce_sum(tf.abs(a - b) * m) / (tf.reduce_sum(m) + 1e-6)


def depth_smoothness(depth):
    """Total variation `mean |d_x| + mean |d_y|` of `[B, S, S]` depth (GAN2Shape's smoothness term)."""
    return (tf.reduce_mean(tf.abs(depth[:, 1:] - depth[:, :-1]))
            + tf.reduce_mean(tf.abs(depth[:, :, 1:] - depth[:, :, :-1])))


def to_gan_size(images, size):
    """`[B, S, S, 1]` -> `[B, size, size, 1]` (area resize, what the GAN was trained on)."""
    return tf.image.resize(images, [size, size], method="area")


def mean_styles(gan, samples=1024, seed=0):
    """`[L, W]` the mean w of the mapping network, per layer: where inversion starts."""
    z = tf.random.stateless_normal([samples, gan.z_dim], seed=[seed, 0])
    return gan.styles(tf.reduce_mean(gan.mapping(z), 0, keepdims=True))[0]


def invert_styles(gan, images, steps=200, learning_rate=0.05, start=None):
    """GAN inversion by optimization: per-layer styles that reproduce `images`.

    Args:
      gan: a `tf3d.models.style_gan.StyleGAN`.
      images: `[B, s, s, 1]` at the GAN's size.
      steps, learning_rate: Adam on the styles, loss `mean |G(w) - image|`.
      start: `[L, W]` starting styles (default `mean_styles(gan)`).

    Returns:
      `(styles [B, L, W], losses [steps])`: the styles and the loss before each step.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4 or images.shape[1] != gan.image_size:
        raise ValueError(f"images must have shape [B, {gan.image_size}, {gan.image_size}, 1], got {images.shape}")
    start = mean_styles(gan) if start is None else tf.convert_to_tensor(start, tf.float32)
    styles = tf.Variable(tf.tile(start[None], [images.shape[0], 1, 1]))
    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(gan.synthesis(styles, training=False) - images))
        optimizer.apply_gradients([(tape.gradient(loss, styles), styles)])
        return loss

    losses = [float(step()) for _ in range(int(steps))]
    return tf.convert_to_tensor(styles), losses


def offset_encoder(image_size, num_styles, w_dim, channels=32, name="offset_encoder"):
    """Image `[B, s, s, 1]` -> style offsets `[B, L, W]` (linear, zero at initialization).

    GAN2Shape's inversion encoder: it sees a pseudo sample and says how to move the instance's styles
    so that the GAN draws it. Stride-2 convolutions down to 4 x 4, then a dense layer.
    """
    images = keras.Input((image_size, image_size, 1))
    x = images * 2.0 - 1.0
    size = image_size
    while size > 4:
        x = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(channels, 4, strides=2, padding="same")(x))
        size //= 2
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(num_styles * w_dim, kernel_initializer="zeros")(x)
    return keras.Model(images, keras.layers.Reshape((num_styles, w_dim))(x), name=name)


def offset_regularizer(offsets, weight):
    """`weight * mean(dw^2)` of `[B, L, W]` style offsets (GAN2Shape's eq. 4 regularizer, which keeps
    the projected samples near the instance's latent)."""
    return weight * tf.reduce_mean(tf.square(offsets))
