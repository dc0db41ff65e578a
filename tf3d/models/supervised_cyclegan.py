"""`SupervisedCycleGAN`: the CycleGAN's two generators trained on pairs (debugging check 3).

Before blaming the adversarial game, the original work checked that each
generator can learn its mapping at all when it is told the answer: G =
Dec3D o Enc2D fitted to the grid of each picture, F = Dec2D o Enc3D fitted to
the picture of each grid. This is `tf3d.models.cyclegan.CycleGAN` (same
constructor, same parts, same `call`, `to_image`, validation `test_step` and
saved layout; the critics are built but idle) with a supervised `train_step`
on paired `(images [B, h, w, 1], voxels [B, R, R, R])` batches:

    loss = voxel_weight * voxel_loss(v, G(x)) + image_weight * mean |sigmoid(F(v)) - x|

`voxel_loss` is the paired task's (weighted BCE on logits, or L1); the image
term is the L1 the CycleGAN's image cycle uses. The two directions share no
weights, so one run trains both as two separate runs would.
"""

import keras

from tf3d.models.cyclegan import CycleGAN


@keras.saving.register_keras_serializable(package="tf3d")
class SupervisedCycleGAN(CycleGAN):
    """`CycleGAN` with a paired, supervised `train_step` (module docstring); arguments as `CycleGAN`'s."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if not self.learned:
            raise ValueError(f"mode must be 'learned' or 'both' (F is the learned Dec2D o Enc3D), got {self.mode!r}")
        self._trackers = {n: keras.metrics.Mean(name=n) for n in ("loss", "voxel_loss", "image_loss")}
        self.voxel_loss = None
        self.voxel_weight, self.image_weight = 1.0, 1.0

    def compile(self, optimizer, voxel_loss, voxel_weight=1.0, image_weight=1.0, **kwargs):
        """`optimizer` updates the four generator parts; `voxel_loss(voxels, logits)` is a Keras voxel loss."""
        keras.Model.compile(self, optimizer=optimizer, **kwargs)
        self.voxel_loss, self.voxel_weight, self.image_weight = voxel_loss, float(voxel_weight), float(image_weight)
        self.optimizer.build(self.generator_variables)

    def train_step(self, data):
        import tensorflow as tf

        from tf3d.training import distribute

        images, voxels = data
        voxels = tf.cast(voxels, tf.float32)
        with tf.GradientTape() as tape:
            logs = {"voxel_loss": self.voxel_loss(voxels, self(images, training=True))}
            pictures = tf.sigmoid(self.dec2d(self.enc3d(voxels, training=True), training=True))  # F(v): [B, h, w, 1]
            logs["image_loss"] = tf.reduce_mean(tf.abs(pictures - images))
            logs["loss"] = self.voxel_weight * logs["voxel_loss"] + self.image_weight * logs["image_loss"]
            scaled = distribute.scale_loss(logs["loss"])
        variables = self.generator_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        for name, value in logs.items():
            self._trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self._trackers.items()}
