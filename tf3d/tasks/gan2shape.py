"""Task `gan2shape`: the 2D image GAN that GAN2Shape (Pan et al. 2021, "Do 2D GANs Know 3D Shape?") builds
on, trained by tf3d on the shaded renders (`tf3d.models.style_gan.StyleGAN`).

GAN2Shape's per-instance stages (GAN inversion, ellipsoid prior, step 1 albedo, step 2 pseudo samples and
their projection by latent offsets, step 3 all four networks with depth smoothness) run on a trained run of
this task: `python -m tf3d.gan2shape_stages experiments/gan2shape_stages.yaml` (`tf3d.gan2shape_stages`,
docs/gan2shape.md). `tf3d.evaluate` reports the discriminator's mean logits on real test images and on as
many generated ones (a sanity check, not a quality score: tf3d has no Inception network to compute FID
with); `python -m tf3d.gan2shape_samples RUN --data DIR` draws samples and inversions of test images.
"""

import dataclasses

import numpy as np

from tf3d import config as config_lib
from tf3d import tasks
from tf3d.tasks.base import Inputs, Task


@dataclasses.dataclass
class GANModelConfig:
    z_dim: int = 64  # latent code size
    w_dim: int = 64  # style size
    mapping_layers: int = 4  # dense layers of the mapping network
    channels: int = 64  # width of every synthesis and discriminator layer
    r1_gamma: float = 1.0  # weight of the R1 penalty on real images


@dataclasses.dataclass
class GAN2ShapeConfig(config_lib.TaskConfig):
    name: str = "gan2shape"  # registered task (tf3d.tasks): what is trained and how
    model: GANModelConfig = dataclasses.field(default_factory=GANModelConfig)
    beta_1: float = 0.0  # Adam's beta_1 for both networks (StyleGAN2: 0)

    def validate(self, experiment):
        from tf3d.models import style_gan  # noqa: F401  (registers the layers with Keras for loading)

        size = experiment.data.image_size
        if size < 8 or size & (size - 1):
            raise config_lib.ConfigError(f"data.image_size must be a power of two >= 8 for gan2shape, got {size}")
        for where, value in (("task.model.z_dim", self.model.z_dim), ("task.model.w_dim", self.model.w_dim),
                             ("task.model.channels", self.model.channels)):
            config_lib.check_positive(where, value)
        if self.model.r1_gamma < 0:
            raise config_lib.ConfigError(f"task.model.r1_gamma must be >= 0, got {self.model.r1_gamma}")


def _resized(ds, size):
    import tensorflow as tf

    def one(batch):
        return {"image": tf.image.resize(batch["image"], [size, size], method="area")}

    return ds.map(one)


@tasks.register
class GAN2ShapeTask(Task):
    """The GAN stage of GAN2Shape (see the module docstring)."""

    name = "gan2shape"
    config_class = GAN2ShapeConfig

    def build_inputs(self, input_context=None):
        from tf3d import cli
        from tf3d.data import shaded_records

        d = self.config.data
        try:
            info = shaded_records.read_info(d.dir)
        except (FileNotFoundError, ValueError) as error:
            raise cli.UserError(str(error)) from None
        train, val, steps, val_steps = shaded_records.fit_datasets(info, d, self.config.train, self.config.eval)
        return Inputs(train=_resized(train, d.image_size), val=_resized(val, d.image_size),
                      steps_per_epoch=steps, val_steps=val_steps,
                      dataset_info={"name": info["name"], "image_size": d.image_size, "source": d.dir})

    def build_model(self, dataset_info):
        from tf3d.models.style_gan import StyleGAN

        m = self.config.task.model
        model = StyleGAN(image_size=int(dataset_info["image_size"]), z_dim=m.z_dim, w_dim=m.w_dim,
                         mapping_layers=m.mapping_layers, channels=m.channels, r1_gamma=m.r1_gamma)
        model.build((None, m.z_dim))
        return model

    def example_inputs(self, dataset_info, batch_size=2):
        return np.random.default_rng(0).standard_normal((batch_size, self.config.task.model.z_dim)).astype("float32")

    def compile(self, model, inputs):
        import keras

        t = self.config.train
        adam = lambda: keras.optimizers.Adam(t.learning_rate, beta_1=self.config.task.beta_1, beta_2=0.99)  # noqa: E731
        model.compile(generator_optimizer=adam(), discriminator_optimizer=adam())

    def monitor(self):
        # No score decides between GAN epochs here (no FID): the checkpoint with the lowest generator loss.
        return "g_loss", "min"

    def evaluate(self, model, data, split, *, categories=None, max_batches=None):
        import tensorflow as tf

        from tf3d.data import shaded_records

        ds = _resized(shaded_records.make_dataset(data, split, batch_size=self.config.eval.batch_size,
                                                  training=False), model.image_size)
        if max_batches:
            ds = ds.take(max_batches)
        real, fake = [], []
        for batch in ds:
            real.extend(model.discriminator(batch["image"]).numpy()[:, 0].tolist())
            z = tf.random.normal([batch["image"].shape[0], model.z_dim], seed=len(fake))
            fake.extend(model.discriminator(model(z)).numpy()[:, 0].tolist())
        return {"d_real": float(np.mean(real)), "d_fake": float(np.mean(fake)), "images": len(real),
                "data": data, "split": split, "categories": []}

    def format_report(self, report):
        return (f"discriminator logit: real {report['d_real']:.3f}, generated {report['d_fake']:.3f} "
                f"({report['images']} images each)")
