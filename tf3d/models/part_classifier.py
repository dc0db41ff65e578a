"""`PartClassifier`: one CycleGAN part trained as a chair/table classifier (debugging by parts).

The original work checked the CycleGAN's networks one at a time before
blaming the adversarial game: can the critics' architectures tell a chair
from a table (check 1), can the generators' encoders (check 2)? A critic is
already a one-logit network; an encoder gets a dense logit on its code.

Call arguments:
  inputs: images `[B, h, w, 1]` (parts `critic2d`, `enc2d`) or voxel grids
    `[B, X, Y, Z]` (`critic3d`, `enc3d`).

Returns:
  `[B]` logits of the second category (e.g. "table" of ["chair", "table"]).
"""

import keras

from tf3d.models.critic import Critic
from tf3d.models.image_encoder import ImageEncoder
from tf3d.models.voxel_encoder import VoxelEncoder

PARTS = ("critic2d", "critic3d", "enc2d", "enc3d")


@keras.saving.register_keras_serializable(package="tf3d")
class PartClassifier(keras.Model):
    """A CycleGAN part with a binary logit (module docstring).

    Args:
      part: one of `PARTS`.
      size: image side h or voxel resolution R.
      filters: the part's widths.
      latent_dim: code size of the encoders.
      norm: the part's normalization ("instance"/"none" for critics).
      spectral_norm: critics only.
    """

    def __init__(self, part="critic3d", size=32, filters=(16, 32, 64), latent_dim=256, norm="none",
                 spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        self.part, self.size, self.filters = part, int(size), list(filters)
        self.latent_dim, self.norm, self.spectral_norm = int(latent_dim), norm, bool(spectral_norm)
        if part.startswith("critic"):
            self.body = Critic(2 if part == "critic2d" else 3, self.filters, norm, self.spectral_norm, name=part)
            self.head = None
        else:
            self.body = (ImageEncoder(self.filters, self.latent_dim, 0.0, norm, name=part) if part == "enc2d"
                         else VoxelEncoder(self.filters, self.latent_dim, norm, name=part))
            self.head = keras.layers.Dense(1, name="logit")

    @property
    def batch_shape(self):
        return (None, self.size, self.size, 1) if self.part.endswith("2d") else (None,) + (self.size,) * 3

    def build(self, input_shape):
        self.body.build(input_shape)
        if self.head is not None:
            self.head.build((input_shape[0], self.latent_dim))
        self.built = True

    def features(self, inputs, pooled=True):
        """`[B, C]` penultimate features (inference mode): a critic's last conv activations averaged over
        space (as FID averages Inception's last conv map; `pooled=False`: the whole map flattened, what the
        logit reads), or an encoder's code `[B, L]`."""
        if self.head is not None:
            return self.body(inputs, training=False)
        maps = self.body.features(inputs, training=False)  # [B, ..., C]
        if not pooled:
            return keras.ops.reshape(maps, (keras.ops.shape(maps)[0], -1))  # [B, prod(...) * C]
        return keras.ops.mean(maps, axis=tuple(range(1, len(maps.shape) - 1)))

    def call(self, inputs, training=False):
        out = self.body(inputs, training=training)
        return out if self.head is None else keras.ops.squeeze(self.head(out), -1)  # [B]

    def get_config(self):
        return dict(super().get_config(), part=self.part, size=self.size, filters=self.filters,
                    latent_dim=self.latent_dim, norm=self.norm, spectral_norm=self.spectral_norm)
