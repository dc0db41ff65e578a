"""`VoxelEncoder`: a 3D conv encoder from an occupancy grid to a latent code (Enc3D)."""

import keras

from tf3d.models.conv_block import check_norm, conv_block


@keras.saving.register_keras_serializable(package="tf3d")
class VoxelEncoder(keras.layers.Layer):
    """Stride-2 4^3 convolutions, then a dense layer to the code.

    The mirror of `VoxelDecoder`: each entry of `filters` halves X, Y and Z,
    and the code has the size `ImageEncoder` gives an image's, so that the
    CycleGAN's encoders and decoders share one latent shape `[B, L]`.

    Args:
      filters: channel widths, fine to coarse (n = len(filters) halvings).
      latent_dim: size L of the code.
      norm: "batch", "instance" or "none" after every conv.

    Call arguments:
      voxels: float `[B, X, Y, Z]` occupancy in [0, 1] (X = Y = Z = R, divisible by 2^n).

    Returns:
      float `[B, L]` code (after ReLU, as `ImageEncoder`'s).

    Example:
    >>> VoxelEncoder([4, 8], 16)(keras.ops.zeros([2, 16, 16, 16])).shape
    (2, 16)
    """

    def __init__(self, filters=(16, 32, 64), latent_dim=256, norm="batch", **kwargs):
        super().__init__(**kwargs)
        self.norm = check_norm(norm)
        if not filters:
            raise ValueError("filters must name at least one width")
        self.filters = [int(f) for f in filters]
        self.latent_dim = int(latent_dim)
        self._convs = [conv_block(keras.layers.Conv3D, f, 4, 2, norm, f"down{i}")
                       for i, f in enumerate(self.filters)]
        self._flatten = keras.layers.Flatten()
        self._dense = keras.layers.Dense(self.latent_dim, activation="relu", name="code")

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"voxels must have shape [B, X, Y, Z], got {input_shape}")
        stride = 2 ** len(self.filters)
        if any(s is not None and s % stride for s in input_shape[1:]):
            raise ValueError(f"voxels must have X, Y, Z divisible by {stride}, got {input_shape}")
        shape = tuple(input_shape) + (1,)
        for conv in self._convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self._flatten.build(shape)
        self._dense.build(self._flatten.compute_output_shape(shape))

    def call(self, voxels, training=False):
        x = keras.ops.expand_dims(voxels, -1)  # [B, X, Y, Z, 1]
        for conv in self._convs:
            x = conv(x, training=training)
        return self._dense(self._flatten(x))  # [B, L]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.latent_dim)

    def get_config(self):
        return dict(super().get_config(), filters=self.filters, latent_dim=self.latent_dim, norm=self.norm)
