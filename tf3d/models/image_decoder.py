"""`ImageDecoder`: a 2D transposed-conv decoder from a latent code to image logits (Dec2D)."""

import keras

from tf3d.models.conv_block import check_norm, conv_block


@keras.saving.register_keras_serializable(package="tf3d")
class ImageDecoder(keras.layers.Layer):
    """Dense to a coarse feature map, then stride-2 transposed convolutions to h x w.

    The 2D counterpart of `VoxelDecoder`: with `filters = [C0, ..., Cn-1]` the
    code becomes an `[h/2^n, w/2^n, C0]` map, each later width is a 4x4
    transposed conv at stride 2, and a last one to one channel gives the logits.

    Args:
      filters: channel widths, coarse to fine (n = len(filters) upsamplings).
      image_size: output side h = w (divisible by 2^n).
      norm: "batch", "instance" or "none".

    Call arguments:
      code: float `[B, L]`.

    Returns:
      float `[B, h, w, 1]` logits; `sigmoid` gives an image in the pipeline's
      convention (0 = white background, 1 = black).

    Example:
    >>> ImageDecoder([8, 4], 16)(keras.ops.zeros([2, 32])).shape
    (2, 16, 16, 1)
    """

    def __init__(self, filters=(128, 64, 32, 16), image_size=64, norm="batch", **kwargs):
        super().__init__(**kwargs)
        self.norm = check_norm(norm)
        if not filters:
            raise ValueError("filters must name at least one width")
        self.filters = [int(f) for f in filters]
        self.image_size = int(image_size)
        self._coarse = self.image_size // 2 ** len(self.filters)
        if self._coarse * 2 ** len(self.filters) != self.image_size or self._coarse < 1:
            raise ValueError(f"image_size {image_size} is not divisible by 2**len(filters) = "
                             f"{2 ** len(self.filters)}")
        self._dense = keras.layers.Dense(self._coarse ** 2 * self.filters[0], activation="relu", name="seed")
        self._reshape = keras.layers.Reshape((self._coarse, self._coarse, self.filters[0]))
        self._ups = [conv_block(keras.layers.Conv2DTranspose, f, 4, 2, norm, f"up{i}")
                     for i, f in enumerate(self.filters[1:])]
        self._ups.append(keras.layers.Conv2DTranspose(1, 4, strides=2, padding="same", name="logits"))

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"code must have shape [B, L], got {input_shape}")
        self._dense.build(input_shape)
        shape = (input_shape[0], self._coarse, self._coarse, self.filters[0])
        for up in self._ups:
            up.build(shape)
            shape = up.compute_output_shape(shape)

    def call(self, code, training=False):
        x = self._reshape(self._dense(code))  # [B, r, r, C0]
        for up in self._ups:
            x = up(x, training=training)
        return x  # [B, h, w, 1]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.image_size, self.image_size, 1)

    def get_config(self):
        return dict(super().get_config(), filters=self.filters, image_size=self.image_size, norm=self.norm)
