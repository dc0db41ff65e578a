"""`conv_block`: convolution -> optional batch normalization -> ReLU, shared by encoder and decoder."""

import keras

NORMS = ("batch", "none")


def check_norm(norm):
    """Returns `norm` if it is one of `NORMS`; raises ValueError naming the argument otherwise."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return norm


def conv_block(conv_class, filters, kernel, stride, norm, name):
    """`conv -> [batch norm] -> ReLU` as one `keras.Sequential`.

    Args:
      conv_class: a Keras conv layer class (`Conv2D`, `Conv3DTranspose`, ...).
      filters, kernel, stride: passed to it, with `padding="same"`.
      norm: "batch" (no conv bias, batch normalization) or "none" (conv bias).
      name: the block's name; its layers are `<name>_conv`, `<name>_bn`, `<name>_relu`.
    """
    layers = [conv_class(filters, kernel, strides=stride, padding="same", use_bias=check_norm(norm) == "none",
                         name=f"{name}_conv")]
    if norm == "batch":
        layers.append(keras.layers.BatchNormalization(name=f"{name}_bn"))
    layers.append(keras.layers.ReLU(name=f"{name}_relu"))
    return keras.Sequential(layers, name=name)
