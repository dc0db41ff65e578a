"""`Critic`: a WGAN critic for codes, images or voxel grids (one unbounded score per example)."""

import keras

from tf3d.models.conv_block import check_norm, conv_block


@keras.saving.register_keras_serializable(package="tf3d")
class Critic(keras.layers.Layer):
    """Strided convolutions (dense layers for codes) with leaky ReLU, then a linear score.

    DCGAN's discriminator (Radford et al. 2016) without the sigmoid, as WGAN
    critics are: every entry of `filters` is a 4^k conv at stride 2. No batch
    normalization (the gradient penalty is taken per example, and batch norm
    makes each example's score depend on the others; Gulrajani et al. 2017,
    Sec. 4): "instance" (`GroupNormalization(groups=-1)`) or "none", and
    optionally spectral normalization of every conv and the last dense layer.

    Args:
      rank: 1 (latent codes `[B, L]`), 2 (images `[B, h, w, 1]`) or 3 (voxel grids `[B, X, Y, Z]`).
      filters: channel widths (each halves every spatial side); for rank 1 the
        widths of the hidden dense layers.
      norm: "instance" or "none".
      spectral_norm: wrap every weight layer in `keras.layers.SpectralNormalization`.

    Call arguments:
      inputs: `[B, L]` (rank 1), `[B, h, w, 1]` (rank 2) or `[B, X, Y, Z]` (rank 3), float.

    Returns:
      float `[B]` scores (higher: more real).

    Example:
    >>> Critic(3, [4, 8])(keras.ops.zeros([2, 16, 16, 16])).shape
    (2,)
    """

    def __init__(self, rank=2, filters=(32, 64, 128), norm="instance", spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        if rank not in (1, 2, 3):
            raise ValueError(f"rank must be 1 (codes), 2 (images) or 3 (voxel grids), got {rank!r}")
        if check_norm(norm) == "batch":
            raise ValueError("norm must be 'instance' or 'none' in a WGAN-GP critic, got 'batch'")
        if not filters:
            raise ValueError("filters must name at least one width")
        self.rank = int(rank)
        self.filters = [int(f) for f in filters]
        self.norm = norm
        self.spectral_norm = bool(spectral_norm)
        if rank == 1:  # codes: dense layers (normalization over a code's entries would mix its features)
            self._convs = [self._dense_block(f, f"dense{i}") for i, f in enumerate(self.filters)]
        else:
            conv = keras.layers.Conv2D if rank == 2 else keras.layers.Conv3D
            # The first block is never normalized (DCGAN): its input is the raw picture or grid.
            self._convs = [conv_block(conv, f, 4, 2, "none" if i == 0 else norm, f"down{i}",
                                      activation="leaky_relu", spectral_norm=self.spectral_norm)
                           for i, f in enumerate(self.filters)]
        self._flatten = keras.layers.Flatten()
        score = keras.layers.Dense(1, name="score")
        self._score = keras.layers.SpectralNormalization(score, name="score_sn") if self.spectral_norm else score

    def _dense_block(self, units, name):
        dense = keras.layers.Dense(units, name=f"{name}_dense")
        layers = [keras.layers.SpectralNormalization(dense, name=f"{name}_sn") if self.spectral_norm else dense]
        return keras.Sequential(layers + [keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu")], name=name)

    def build(self, input_shape):
        want = {1: "[B, L]", 2: "[B, h, w, 1]", 3: "[B, X, Y, Z]"}[self.rank]
        if len(input_shape) != {1: 2, 2: 4, 3: 4}[self.rank]:
            raise ValueError(f"inputs must have shape {want}, got {input_shape}")
        shape = tuple(input_shape) + ((1,) if self.rank == 3 else ())
        for block in self._convs:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        self._flatten.build(shape)
        self._score.build(self._flatten.compute_output_shape(shape))

    def features(self, inputs, training=False):
        """The last block's activations `[B, C]`, `[B, h', w', C]` or `[B, X', Y', Z', C]` (the score is linear in them)."""
        x = keras.ops.expand_dims(inputs, -1) if self.rank == 3 else inputs  # [B, ..., C]
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
