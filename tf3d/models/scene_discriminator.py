"""`scene_discriminator`: real or generated scene? (3D-FCR-alphaGAN's discriminator).

The encoder's stride-2 convolution stack (`scene_encoder.conv_stack`) with
layer normalization instead of batch normalization (the original's choice:
a batch mixes real, reconstructed and sampled grids, whose statistics batch
normalization would blur), flattened into one logit.
"""

import keras

from tf3d.models.scene_encoder import check_divisible, conv_stack


def scene_discriminator(shape, num_classes, filters=(64, 128, 256, 512), name="discriminator"):
    """The discriminator as a functional `keras.Model`.

    Call arguments:
      grids: float `[B, X, Y, Z, C]` (one-hot for real scenes, probabilities for generated ones).

    Returns:
      float `[B, 1]` logits (positive: real).
    """
    check_divisible(shape, len(filters))
    inputs = keras.Input((*shape, num_classes), name="grids")
    x = conv_stack(inputs, filters, "layer", "down")
    logit = keras.layers.Dense(1, name="logit", dtype="float32")(keras.layers.Flatten()(x))
    return keras.Model(inputs, logit, name=name)
