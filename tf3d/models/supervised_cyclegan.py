"""`SupervisedCycleGAN`: the CycleGAN's two generators trained on pairs (debugging check 3).

Before blaming the adversarial game, the original work checked that each
generator can learn its mapping at all when it is told the answer: G =
Dec3D o Enc2D fitted to the grid of each picture, F = Dec2D o Enc3D fitted to
the picture of each grid. This is `tf3d.models.cyclegan.CycleGAN` (same
constructor, same parts, same `call`, `to_image`, validation `test_step` and
saved layout; the critics are built but idle) with a supervised `train_step`
on paired `(images [B, h, w, 1], voxels [B, R, R, R])` batches:

    loss = voxel_weight * voxel_loss(v, G(x)) + image_weight * image_loss(x, F(v))

`voxel_loss` is the paired task's (weighted BCE on logits, or L1);
`image_loss` is "l1", `mean |sigmoid(F(v)) - x|` as in the CycleGAN's image
cycle, or "bce", the binary cross-entropy of the gray levels as the image
autoencoder (`ae_pretrain`) is trained. The two directions share no weights,
so one run trains both as two separate runs would.
"""

import keras

from tf3d.models.cyclegan import CycleGAN

IMAGE_LOSSES = ("l1", "bce")


@keras.saving.register_keras_serializable(package="tf3d")
class SupervisedCycleGAN(CycleGAN):
    """`CycleGAN` with a paired, supervised `train_step` (module docstring); arguments as `CycleGAN`'s."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if not self.learned:
            raise ValueError(f"mode must be 'learned' or 'both' (F is the learned Dec2D o Enc3D), got {self.mode!r}")
        self._trackers = {n: keras.metrics.Mean(name=n) for n in ("loss", "voxel_loss", "image_loss")}
        self.voxel_loss = None
        self.voxel_weight, self.image_weight, self.image_loss = 1.0, 1.0, "l1"

    def compile(self, optimizer, voxel_loss, voxel_weight=1.0, image_weight=1.0, image_loss="l1", **kwargs):
        """`optimizer` updates the four generator parts; `voxel_loss(voxels, logits)` is a Keras voxel loss,
        `image_loss` one of `IMAGE_LOSSES`."""
        if image_loss not in IMAGE_LOSSES:
            raise ValueError(f"image_loss must be one of {IMAGE_LOSSES}, got {image_loss!r}")
        keras.Model.compile(self, optimizer=optimizer, **kwargs)
        self.voxel_loss, self.voxel_weight, self.image_weight = voxel_loss, float(voxel_weight), float(image_weight)
        self.image_loss = image_loss
        self.optimizer.build(self.generator_variables)

    def train_step(self, data):
        import tensorflow as tf

        from tf3d.training import distribute

        images, voxels = data
        voxels = tf.cast(voxels, tf.float32)
        with tf.GradientTape() as tape:
            logs = {"voxel_loss": self.voxel_loss(voxels, self(images, training=True))}
            logits = self.dec2d(self.enc3d(voxels, training=True), training=True)  # F(v): [B, h, w, 1]
            logs["image_loss"] = (tf.reduce_mean(tf.abs(tf.sigmoid(logits) - images)) if self.image_loss == "l1"
                                  else tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(images, logits)))
            logs["loss"] = self.voxel_weight * logs["voxel_loss"] + self.image_weight * logs["image_loss"]
            scaled = distribute.scale_loss(logs["loss"])
        variables = self.generator_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        for name, value in logs.items():
            self._trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self._trackers.items()}
