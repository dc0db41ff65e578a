"""`conv_block`: convolution -> optional normalization -> activation, shared by the networks."""

import keras

NORMS = ("batch", "instance", "none")
ACTIVATIONS = ("relu", "leaky_relu")


def check_norm(norm):
    """Returns `norm` if it is one of `NORMS`; raises ValueError naming the argument otherwise."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return norm


def normalization(norm, name):
    """The normalization layer of `norm` ("batch" or "instance"), or None for "none".

    Instance normalization is `GroupNormalization(groups=-1)` (one group per
    channel: each example's channel normalized over its own spatial positions),
    as tensorflow-addons' `InstanceNormalization` was, with a learned scale and
    offset; it couples no examples of a batch, which a WGAN-GP critic needs
    (the gradient penalty is per example; Gulrajani et al. 2017, Sec. 4).
    """
    if check_norm(norm) == "batch":
        return keras.layers.BatchNormalization(name=f"{name}_bn")
    if norm == "instance":
        return keras.layers.GroupNormalization(groups=-1, name=f"{name}_in")
    return None


def conv_block(conv_class, filters, kernel, stride, norm, name, activation="relu", spectral_norm=False):
    """`conv -> [normalization] -> activation` as one `keras.Sequential`.

    Args:
      conv_class: a Keras conv layer class (`Conv2D`, `Conv3DTranspose`, ...).
      filters, kernel, stride: passed to it, with `padding="same"`.
      norm: "batch" (no conv bias, batch normalization), "instance" (no conv
        bias, `GroupNormalization(groups=-1)`) or "none" (conv bias).
      name: the block's name; its layers are `<name>_conv`, `<name>_bn` / `<name>_in`, `<name>_relu`.
      activation: "relu" or "leaky_relu" (slope 0.2, as DCGAN's discriminator).
      spectral_norm: wrap the conv in `keras.layers.SpectralNormalization`
        (Miyato et al. 2018: the layer's weight divided by its largest
        singular value, estimated by one power iteration per training step).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    conv = conv_class(filters, kernel, strides=stride, padding="same", use_bias=check_norm(norm) == "none",
                      name=f"{name}_conv")
    layers = [keras.layers.SpectralNormalization(conv, name=f"{name}_sn") if spectral_norm else conv]
    norm_layer = normalization(norm, name)
    if norm_layer is not None:
        layers.append(norm_layer)
    layers.append(keras.layers.ReLU(name=f"{name}_relu") if activation == "relu"
                  else keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu"))
    return keras.Sequential(layers, name=name)
