"""`scene_refiner`: cleans up generated class probabilities (3D-FCR-alphaGAN's refiner).

A 3^3 convolution to `channels`, `num_blocks` residual blocks (two 3^3
convolutions with ReLU and a skip connection), and a 3^3 convolution back to
the C classes, whose output corrects the log-probabilities of the input:
`softmax(log p + correction)`. The last convolution starts at zero, so an
untrained refiner passes the generator's output through unchanged and the
second training phase starts from the base model's scores.
"""

import keras


@keras.saving.register_keras_serializable(package="tf3d")
class SafeLog(keras.layers.Layer):
    """`log(max(x, epsilon))`, elementwise (a serializable layer rather than a Lambda)."""

    def __init__(self, epsilon=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        return keras.ops.log(keras.ops.maximum(x, self.epsilon))

    def get_config(self):
        return dict(super().get_config(), epsilon=self.epsilon)


def scene_refiner(shape, num_classes, channels=32, num_blocks=4, name="refiner"):
    """The refiner as a functional `keras.Model`.

    Call arguments:
      probabilities: float `[B, X, Y, Z, C]`.

    Returns:
      float `[B, X, Y, Z, C]` refined probabilities.
    """
    inputs = keras.Input((*shape, num_classes), name="probabilities")
    x = keras.layers.Conv3D(channels, 3, padding="same", activation="relu", name="stem")(inputs)
    for i in range(num_blocks):
        y = keras.layers.Conv3D(channels, 3, padding="same", activation="relu", name=f"block{i}_conv0")(x)
        y = keras.layers.Conv3D(channels, 3, padding="same", name=f"block{i}_conv1")(y)
        x = keras.layers.ReLU(name=f"block{i}_relu")(keras.layers.Add(name=f"block{i}_add")([x, y]))
    correction = keras.layers.Conv3D(num_classes, 3, padding="same", kernel_initializer="zeros",
                                     name="correction")(x)
    log_p = SafeLog(name="log")(inputs)
    logits = keras.layers.Add(name="corrected")([log_p, correction])
    outputs = keras.layers.Softmax(axis=-1, name="softmax", dtype="float32")(logits)
    return keras.Model(inputs, outputs, name=name)
