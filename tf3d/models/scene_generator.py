"""`scene_generator`: a latent code -> class probabilities of every voxel (3D-FCR-alphaGAN's generator).

3D-GAN's generator (Wu et al., 2016) made fully convolutional: a 3^3
convolution to `filters[0]` channels at the code's grid (a dense layer and a
reshape for a 1-D code), then stride-2 4^3 transposed convolutions with
batch normalization and ReLU through `filters[1:]`, and a last one to the C
classes with a softmax over them: `len(filters)` doublings in all.
"""

import keras

from tf3d.models.scene_encoder import check_divisible


def scene_generator(shape, num_classes, filters=(512, 256, 128, 64), code_shape=(5, 3, 5, 16), name="generator"):
    """The generator as a functional `keras.Model`.

    Args:
      shape: `(X, Y, Z)` of the output grid, each divisible by `2 ** len(filters)`.
      num_classes: C.
      filters: widths, coarse to fine.
      code_shape: `(x, y, z, channels)` (fully convolutional) or `(latent_dim,)`.

    Call arguments:
      code: float `[B, *code_shape]`.

    Returns:
      float `[B, X, Y, Z, C]` probabilities (softmax over C).
    """
    check_divisible(shape, len(filters))
    coarse = tuple(s // 2 ** len(filters) for s in shape)
    code = keras.Input(tuple(code_shape), name="code")
    if len(code_shape) == 1:
        x = keras.layers.Dense(int(coarse[0] * coarse[1] * coarse[2] * filters[0]), use_bias=False, name="seed")(code)
        x = keras.layers.Reshape((*coarse, filters[0]))(x)  # [B, x, y, z, F0]
    else:
        if tuple(code_shape[:3]) != coarse:
            raise ValueError(f"code_shape {tuple(code_shape)} must start with {coarse} for grids of {tuple(shape)}")
        x = keras.layers.Conv3D(filters[0], 3, padding="same", use_bias=False, name="seed")(code)
    x = keras.layers.BatchNormalization(name="seed_bn")(x)
    x = keras.layers.ReLU(name="seed_relu")(x)
    for i, f in enumerate(filters[1:]):
        x = keras.layers.Conv3DTranspose(f, 4, strides=2, padding="same", use_bias=False, name=f"up{i}_conv")(x)
        x = keras.layers.BatchNormalization(name=f"up{i}_bn")(x)
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
    logits = keras.layers.Conv3DTranspose(num_classes, 4, strides=2, padding="same", name="logits")(x)
    probabilities = keras.layers.Softmax(axis=-1, name="softmax", dtype="float32")(logits)
    return keras.Model(code, probabilities, name=name)
