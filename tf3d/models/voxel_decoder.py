"""`VoxelDecoder`: a 3D transposed-conv decoder from a code to occupancy logits."""

import keras

from tf3d.models.conv_block import check_norm, conv_block


@keras.saving.register_keras_serializable(package="tf3d")
class VoxelDecoder(keras.layers.Layer):
    """Dense to a coarse grid, then stride-2 3D transposed convolutions to R^3.

    With `filters = [C0, C1, ..., Cn-1]` the code becomes an `[R/2^n]^3 x C0`
    grid; each later width is a 4^3 transposed conv at stride 2, and a last one
    to a single channel gives the logits at R^3.

    Args:
      filters: channel widths, coarse to fine (n = len(filters) upsamplings).
      resolution: output resolution R (divisible by 2^n).

    Call arguments:
      code: float `[B, L]`.

    Returns:
      float `[B, R, R, R]` occupancy logits (voxel axes [X, Y, Z]).

    Example:
    >>> VoxelDecoder([8, 4], 16)(keras.ops.zeros([2, 32])).shape
    (2, 16, 16, 16)
    """

    def __init__(self, filters=(64, 32, 16), resolution=32, norm="batch", **kwargs):
        super().__init__(**kwargs)
        self.norm = check_norm(norm)
        if not filters:
            raise ValueError("filters must name at least one width")
        self.filters = [int(f) for f in filters]
        self.resolution = int(resolution)
        self._coarse = self.resolution // 2 ** len(self.filters)
        if self._coarse * 2 ** len(self.filters) != self.resolution or self._coarse < 1:
            raise ValueError(f"resolution {resolution} is not divisible by 2**len(filters) = "
                             f"{2 ** len(self.filters)}")
        self._dense = keras.layers.Dense(self._coarse ** 3 * self.filters[0], activation="relu", name="seed")
        self._reshape = keras.layers.Reshape((self._coarse,) * 3 + (self.filters[0],))
        self._ups = [conv_block(keras.layers.Conv3DTranspose, f, 4, 2, norm, f"up{i}")
                     for i, f in enumerate(self.filters[1:])]
        self._ups.append(keras.layers.Conv3DTranspose(1, 4, strides=2, padding="same", name="logits"))

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"code must have shape [B, L], got {input_shape}")
        self._dense.build(input_shape)
        shape = (input_shape[0],) + (self._coarse,) * 3 + (self.filters[0],)
        for up in self._ups:
            up.build(shape)
            shape = up.compute_output_shape(shape)

    def call(self, code, training=False):
        x = self._reshape(self._dense(code))  # [B, r, r, r, C0]
        for up in self._ups:
            x = up(x, training=training)
        return keras.ops.squeeze(x, axis=-1)  # [B, R, R, R]

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + (self.resolution,) * 3

    def get_config(self):
        return dict(super().get_config(), filters=self.filters, resolution=self.resolution, norm=self.norm)
