"""`PairedReconstructor`: single-view image -> voxel occupancy (the paired setting).

An image encoder, a latent code and a 3D decoder, trained with a voxel loss on
(image, aligned voxel grid) pairs from `tf3d.data.pipeline`, in the spirit of
3D-R2N2's single-view baseline (Choy et al., 2016) without the recurrence.
"""

import keras

from tf3d.models.image_encoder import ImageEncoder
from tf3d.models.registry import register
from tf3d.models.voxel_decoder import VoxelDecoder


@keras.saving.register_keras_serializable(package="tf3d")
class PairedReconstructor(keras.Model):
    """Encoder-decoder from a grayscale image to occupancy logits.

    Args:
      encoder_filters, latent_dim, dropout: see `ImageEncoder`.
      norm: "batch" or "none", in encoder and decoder alike.
      decoder_filters, resolution: see `VoxelDecoder`.

    Call arguments:
      images: float `[B, h, w, 1]` (0 = white background).

    Returns:
      float `[B, R, R, R]` logits; `sigmoid` gives occupancy probabilities.
    """

    def __init__(self, encoder_filters=(16, 32, 64, 128), latent_dim=256, decoder_filters=(64, 32, 16),
                 resolution=32, dropout=0.0, norm="batch", **kwargs):
        super().__init__(**kwargs)
        self.encoder_filters = list(encoder_filters)
        self.latent_dim = int(latent_dim)
        self.decoder_filters = list(decoder_filters)
        self.resolution = int(resolution)
        self.dropout = float(dropout)
        self.norm = norm
        self.encoder = ImageEncoder(self.encoder_filters, self.latent_dim, self.dropout, norm, name="encoder")
        self.decoder = VoxelDecoder(self.decoder_filters, self.resolution, norm, name="decoder")

    def build(self, input_shape):
        self.encoder.build(input_shape)
        self.decoder.build((input_shape[0], self.latent_dim))
        self.built = True

    def call(self, images, training=False):
        return self.decoder(self.encoder(images, training=training), training=training)

    def get_config(self):
        return dict(super().get_config(), encoder_filters=self.encoder_filters,
                    latent_dim=self.latent_dim, decoder_filters=self.decoder_filters,
                    resolution=self.resolution, dropout=self.dropout, norm=self.norm)


@register("paired")
def build_paired(image_size=64, **kwargs):
    """A built `PairedReconstructor` for `[B, image_size, image_size, 1]` inputs."""
    model = PairedReconstructor(**kwargs)
    model.build((None, image_size, image_size, 1))
    return model
