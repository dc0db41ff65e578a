"""`ImageEncoder`: a compact 2D conv encoder from an image to a latent code."""

import keras

from tf3d.models.conv_block import check_norm, conv_block


@keras.saving.register_keras_serializable(package="tf3d")
class ImageEncoder(keras.layers.Layer):
    """Strided 3x3 convolutions, then a dense layer to the code.

    Each entry of `filters` is one stage: a 3x3 conv at stride 1 and a 3x3
    conv at stride 2 (halving h and w), each followed by batch normalization
    (with `norm="batch"`) and ReLU.

    Args:
      filters: channel widths of the stages.
      latent_dim: size L of the code.
      dropout: dropout rate on the code while training.
      norm: "batch" (batch normalization after every conv) or "none".

    Call arguments:
      images: float `[B, h, w, C]`; h and w divisible by `2 ** len(filters)`.

    Returns:
      float `[B, L]` code.

    Example:
    >>> ImageEncoder([16, 32], 64)(keras.ops.zeros([2, 32, 32, 1])).shape
    (2, 64)
    """

    def __init__(self, filters=(16, 32, 64, 128), latent_dim=256, dropout=0.0, norm="batch", **kwargs):
        super().__init__(**kwargs)
        self.norm = check_norm(norm)
        if not filters:
            raise ValueError("filters must name at least one stage")
        self.filters = [int(f) for f in filters]
        self.latent_dim = int(latent_dim)
        self.dropout = float(dropout)
        self._convs = []
        for i, f in enumerate(self.filters):
            for suffix, stride in (("a", 1), ("b", 2)):
                self._convs.append(conv_block(keras.layers.Conv2D, f, 3, stride, norm, f"conv{i}{suffix}"))
        self._flatten = keras.layers.Flatten()
        self._dense = keras.layers.Dense(self.latent_dim, activation="relu", name="code")
        self._drop = keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"images must have shape [B, h, w, C], got {input_shape}")
        stride = 2 ** len(self.filters)
        if input_shape[1] % stride or input_shape[2] % stride:
            raise ValueError(f"images must have h and w divisible by {stride}, got {input_shape}")
        shape = input_shape
        for conv in self._convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self._flatten.build(shape)
        shape = self._flatten.compute_output_shape(shape)
        self._dense.build(shape)

    def call(self, images, training=False):
        x = images
        for conv in self._convs:
            x = conv(x, training=training)
        x = self._flatten(x)  # [B, h/s * w/s * C]
        return self._drop(self._dense(x), training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.latent_dim)

    def get_config(self):
        return dict(super().get_config(), filters=self.filters, latent_dim=self.latent_dim,
                    dropout=self.dropout, norm=self.norm)
