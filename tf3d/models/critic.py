"""`Critic`: a WGAN critic for images or voxel grids (one unbounded score per example)."""

import keras

from tf3d.models.conv_block import check_norm, conv_block


@keras.saving.register_keras_serializable(package="tf3d")
class Critic(keras.layers.Layer):
    """Strided convolutions with leaky ReLU, then a linear score.

    DCGAN's discriminator (Radford et al. 2016) without the sigmoid, as WGAN
    critics are: every entry of `filters` is a 4^k conv at stride 2. No batch
    normalization (the gradient penalty is taken per example, and batch norm
    makes each example's score depend on the others; Gulrajani et al. 2017,
    Sec. 4): "instance" (`GroupNormalization(groups=-1)`) or "none", and
    optionally spectral normalization of every conv and the last dense layer.

    Args:
      rank: 2 (images `[B, h, w, 1]`) or 3 (voxel grids `[B, X, Y, Z]`).
      filters: channel widths (each halves every spatial side).
      norm: "instance" or "none".
      spectral_norm: wrap every weight layer in `keras.layers.SpectralNormalization`.

    Call arguments:
      inputs: `[B, h, w, 1]` (rank 2) or `[B, X, Y, Z]` (rank 3), float.

    Returns:
      float `[B]` scores (higher: more real).

    Example:
    >>> Critic(3, [4, 8])(keras.ops.zeros([2, 16, 16, 16])).shape
    (2,)
    """

    def __init__(self, rank=2, filters=(32, 64, 128), norm="instance", spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        if rank not in (2, 3):
            raise ValueError(f"rank must be 2 (images) or 3 (voxel grids), got {rank!r}")
        if check_norm(norm) == "batch":
            raise ValueError("norm must be 'instance' or 'none' in a WGAN-GP critic, got 'batch'")
        if not filters:
            raise ValueError("filters must name at least one width")
        self.rank = int(rank)
        self.filters = [int(f) for f in filters]
        self.norm = norm
        self.spectral_norm = bool(spectral_norm)
        conv = keras.layers.Conv2D if rank == 2 else keras.layers.Conv3D
        # The first block is never normalized (DCGAN): its input is the raw picture or grid.
        self._convs = [conv_block(conv, f, 4, 2, "none" if i == 0 else norm, f"down{i}", activation="leaky_relu",
                                  spectral_norm=self.spectral_norm) for i, f in enumerate(self.filters)]
        self._flatten = keras.layers.Flatten()
        score = keras.layers.Dense(1, name="score")
        self._score = keras.layers.SpectralNormalization(score, name="score_sn") if self.spectral_norm else score

    def build(self, input_shape):
        expected = self.rank + 2 if self.rank == 2 else 4
        if len(input_shape) != expected:
            want = "[B, h, w, 1]" if self.rank == 2 else "[B, X, Y, Z]"
            raise ValueError(f"inputs must have shape {want}, got {input_shape}")
        shape = tuple(input_shape) if self.rank == 2 else tuple(input_shape) + (1,)
        for block in self._convs:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        self._flatten.build(shape)
        self._score.build(self._flatten.compute_output_shape(shape))

    def features(self, inputs, training=False):
        """The last conv block's activations `[B, h', w', C]` or `[B, X', Y', Z', C]` (the score is linear in them)."""
        x = inputs if self.rank == 2 else keras.ops.expand_dims(inputs, -1)  # [B, ..., 1]
        for block in self._convs:
            x = block(x, training=training)
        return x

    def call(self, inputs, training=False):
        return keras.ops.squeeze(self._score(self._flatten(self.features(inputs, training)), training=training),
                                 -1)  # [B]

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def get_config(self):
        return dict(super().get_config(), rank=self.rank, filters=self.filters, norm=self.norm,
                    spectral_norm=self.spectral_norm)
