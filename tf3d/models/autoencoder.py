"""`Autoencoder`: Dec2D o Enc2D on images or Dec3D o Enc3D on voxel grids (CycleGAN pretraining).

The original work proposed pretraining the CycleGAN's generator halves as
autoencoders of each domain around the shared latent shape. The parts keep
the attribute names they have in `CycleGAN` (`enc2d`/`dec2d`,
`enc3d`/`dec3d`), so that `init_from: RUN:enc2d+dec2d` copies them across
(`tf3d.runs.init_from`).
"""

import keras

from tf3d.models.image_decoder import ImageDecoder
from tf3d.models.image_encoder import ImageEncoder
from tf3d.models.voxel_decoder import VoxelDecoder
from tf3d.models.voxel_encoder import VoxelEncoder

DOMAINS = ("image", "voxels")


@keras.saving.register_keras_serializable(package="tf3d")
class Autoencoder(keras.Model):
    """Encoder and decoder of one domain.

    Args:
      domain: "image" (`ImageEncoder` -> `ImageDecoder`) or "voxels"
        (`VoxelEncoder` -> `VoxelDecoder`).
      size: image side h = w, or voxel resolution R.
      encoder_filters, decoder_filters, latent_dim, norm: see the four parts.

    Call arguments:
      inputs: `[B, h, w, 1]` images or `[B, R, R, R]` occupancy.

    Returns:
      logits of the same shape.
    """

    def __init__(self, domain="image", size=64, encoder_filters=(16, 32, 64, 128), decoder_filters=(128, 64, 32, 16),
                 latent_dim=256, norm="none", **kwargs):
        super().__init__(**kwargs)
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        self.domain, self.size, self.latent_dim, self.norm = domain, int(size), int(latent_dim), norm
        self.encoder_filters, self.decoder_filters = list(encoder_filters), list(decoder_filters)
        if domain == "image":
            self.enc2d = ImageEncoder(self.encoder_filters, self.latent_dim, 0.0, norm, name="enc2d")
            self.dec2d = ImageDecoder(self.decoder_filters, self.size, norm, name="dec2d")
        else:
            self.enc3d = VoxelEncoder(self.encoder_filters, self.latent_dim, norm, name="enc3d")
            self.dec3d = VoxelDecoder(self.decoder_filters, self.size, norm, name="dec3d")

    @property
    def parts(self):
        """`(encoder, decoder)`."""
        return (self.enc2d, self.dec2d) if self.domain == "image" else (self.enc3d, self.dec3d)

    @property
    def batch_shape(self):
        return (None, self.size, self.size, 1) if self.domain == "image" else (None,) + (self.size,) * 3

    def build(self, input_shape):
        encoder, decoder = self.parts
        encoder.build(input_shape)
        decoder.build((input_shape[0], self.latent_dim))
        self.built = True

    def call(self, inputs, training=False):
        encoder, decoder = self.parts
        return decoder(encoder(inputs, training=training), training=training)

    def get_config(self):
        return dict(super().get_config(), domain=self.domain, size=self.size, encoder_filters=self.encoder_filters,
                    decoder_filters=self.decoder_filters, latent_dim=self.latent_dim, norm=self.norm)
