"""3D-FCR-alphaGAN: each network's shapes, the model's variants and steps, and the task end to end."""

import numpy as np
import pytest

from tf3d.models.alphagan import AlphaGAN
from tf3d.models.code_discriminator import code_discriminator
from tf3d.models.scene_discriminator import scene_discriminator
from tf3d.models.scene_encoder import scene_encoder
from tf3d.models.scene_generator import scene_generator
from tf3d.models.scene_refiner import scene_refiner

SHAPE, C = (40, 24, 40), 12
TINY = dict(shape=SHAPE, num_classes=C, encoder_filters=[4, 8, 8], generator_filters=[8, 8, 4],
            discriminator_filters=[4, 8, 8], latent_channels=4, code_hidden=[16, 16], refiner_channels=4,
            refiner_blocks=1)


def test_network_shapes_at_full_size():
    # 80 x 48 x 80 with four halvings: the original's 5 x 3 x 5 x 16 code.
    shape = (80, 48, 80)
    encoder = scene_encoder(shape, C, [2, 2, 2, 2], latent_channels=16)
    assert tuple(encoder.output.shape) == (None, 5, 3, 5, 16)
    assert tuple(scene_encoder(shape, C, [2, 2, 2, 2], fully_convolutional=False).output.shape) == (None, 1200)
    assert tuple(scene_encoder(shape, C, [2, 2, 2, 2], variational=True).output.shape) == (None, 5, 3, 5, 32)
    generator = scene_generator(shape, C, [4, 2, 2, 2], code_shape=(5, 3, 5, 16))
    assert tuple(generator.output.shape) == (None, 80, 48, 80, 12)
    assert tuple(scene_generator(shape, C, [4, 2, 2, 2], code_shape=(1200,)).output.shape) == (None, 80, 48, 80, 12)
    assert tuple(scene_discriminator(shape, C, [2, 2, 2, 2]).output.shape) == (None, 1)
    code_d = code_discriminator((5, 3, 5, 16))
    assert [tuple(l.kernel.shape) for l in code_d.layers if hasattr(l, "kernel")] == [(1200, 750), (750, 750),
                                                                                    (750, 1)]
    refiner = scene_refiner(shape, C, channels=32, num_blocks=4)
    assert tuple(refiner.output.shape) == (None, 80, 48, 80, 12)
    assert sum("block" in l.name and l.name.endswith("conv0") for l in refiner.layers) == 4
    with pytest.raises(ValueError, match="divisible by 2"):
        scene_encoder((40, 24, 40), C, [2, 2, 2, 2])


def test_generator_gives_probabilities_and_untrained_refiner_is_the_identity():
    rng = np.random.default_rng(0)
    generator = scene_generator(SHAPE, C, [8, 4, 4], code_shape=(5, 3, 5, 4))
    p = generator(rng.standard_normal((2, 5, 3, 5, 4)).astype("float32")).numpy()
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)
    refined = scene_refiner(SHAPE, C, channels=4, num_blocks=1)(p).numpy()
    np.testing.assert_allclose(refined, p, atol=1e-5)


@pytest.mark.parametrize("variant", [dict(), dict(variational=True), dict(fully_convolutional=False, latent_dim=60)])
def test_train_step_runs_every_player(variant):
    import keras

    model = AlphaGAN(**dict(TINY, **variant))
    labels = np.random.default_rng(1).integers(0, C, (2, *SHAPE)).astype("uint8")
    assert model(labels).shape == (2, *SHAPE, C)
    adam = lambda: keras.optimizers.Adam(1e-3)  # noqa: E731
    model.compile(encoder_generator_optimizer=adam(), discriminator_optimizer=adam(),
                  code_discriminator_optimizer=adam(), schedule=(2, 1, 1))
    before = {n: [w.numpy().copy() for w in getattr(model, n).trainable_weights[:1]]
              for n in ("encoder", "generator", "discriminator", "code_discriminator", "refiner")}
    logs = model.train_step(labels)
    assert np.isfinite(float(logs["loss"]))
    moved = {n: not np.allclose(w[0], getattr(model, n).trainable_weights[0].numpy()) for n, w in before.items()}
    expected = {"encoder": True, "generator": True, "discriminator": True,
                "code_discriminator": not model.variational, "refiner": False}
    assert moved == expected
    assert model.players["encoder_generator"].iterations.numpy() == 2  # the original's 2 x (E, G)
    assert ("c_loss" in logs) != model.variational


def test_refine_phase_trains_the_refiner_only():
    import keras

    keras.utils.set_random_seed(0)
    model = AlphaGAN(**TINY)
    labels = np.full((2, *SHAPE), 3, np.uint8)  # all wall: learnable by the refiner's output bias alone
    with pytest.raises(ValueError, match="needs optimizers for refiner"):
        model.compile(phase="refine")
    model.compile(phase="refine", refiner_optimizer=keras.optimizers.Adam(1e-2))
    encoder_before = model.encoder.trainable_weights[0].numpy().copy()
    losses = [float(model._reconstruction(labels, model(labels, refined=True)))]  # noqa: SLF001
    for _ in range(6):
        model.train_step(labels)
        losses.append(float(model._reconstruction(labels, model(labels, refined=True))))  # noqa: SLF001
    assert losses[-1] < 0.9 * losses[0]  # can it optimise?
    np.testing.assert_array_equal(encoder_before, model.encoder.trainable_weights[0].numpy())


def test_config_errors_name_the_key():
    from tf3d import config

    with pytest.raises(config.ConfigError, match="init_from"):
        config.resolve("experiments/fcr_alphagan_local.yaml", ["task.phase=refine"])
    with pytest.raises(config.ConfigError, match="task.loss.gamma"):
        config.resolve("experiments/fcr_alphagan_local.yaml", ["task.loss.gamma=1.5"])
    with pytest.raises(config.ConfigError, match="same length"):
        config.resolve("experiments/fcr_alphagan_local.yaml", ["task.model.generator_filters=[4, 4]"])
    for name in ("fcr_alphagan", "fcr_alphagan_vae", "fcr_alphagan_1d", "fcr_alphagan_refine"):
        assert config.resolve(f"experiments/{name}.yaml").task.name == "alphagan"


@pytest.fixture(scope="module")
def rooms40(tmp_path_factory):
    from pipelines import build

    data = str(tmp_path_factory.mktemp("rooms40"))
    assert build.main(["rooms", "--out", data, "--num-scenes", "8", "--shape", "40", "24", "40", "--workers", "0",
                       "--quiet"]) == 0
    return data


class _Killed(Exception):
    pass


def _iterations(model):
    return {name: int(opt.iterations.numpy()) for name, opt in model.players.items()}


@pytest.mark.slow
def test_resume_restores_every_players_optimizer(rooms40, tmp_path):
    import keras

    from tf3d import config, train

    class Kill(keras.callbacks.Callback):  # runs after BackupAndRestore has saved the epoch
        def on_epoch_end(self, epoch, logs=None):
            self.state = _iterations(self.model)
            raise _Killed

    class Probe(keras.callbacks.Callback):  # runs after BackupAndRestore has restored
        def on_train_begin(self, logs=None):
            self.start = _iterations(self.model)

    cfg = config.resolve("experiments/fcr_alphagan_local.yaml", [f"data.dir={rooms40}", f"run_dir={tmp_path}/run"])
    kill, probe = Kill(), Probe()
    with pytest.raises(_Killed):
        train.train(cfg, verbose=0, callbacks=[kill])
    steps = cfg.train.steps_per_epoch
    assert kill.state == {"encoder_generator": 2 * steps, "discriminator": steps, "code_discriminator": steps}
    train.train(cfg, verbose=0, callbacks=[probe])
    assert probe.start == kill.state


@pytest.mark.slow
def test_local_config_trains_refines_and_evaluates(rooms40, tmp_path):
    import json
    import os

    from tf3d import config, evaluate, train

    data = rooms40
    base = str(tmp_path / "base")
    common = [f"data.dir={data}", "train.epochs=1"]
    summary = train.train(config.resolve("experiments/fcr_alphagan_local.yaml", common + [f"run_dir={base}"]),
                          verbose=0)
    assert np.isfinite(summary["final"]["loss"])
    refined = str(tmp_path / "refined")
    train.train(config.resolve("experiments/fcr_alphagan_local.yaml",
                               common + [f"run_dir={refined}", "task.phase=refine", f"init_from={base}"]), verbose=0)
    task, report, out = evaluate.evaluate_run(refined, split="train", max_batches=1)
    assert set(report["rows"]) == {"base", "refined"}
    assert 0.0 <= report["rows"]["base"]["iou"]["empty"] <= 1.0
    assert "mean" in task.format_report(report)
    names = sorted(os.path.basename(p).split("_", 2)[-1] for p in report["figures"])
    assert names == ["interpolation.gif", "interpolation.png", "noise_map.png", "samples.png"]
    with open(out) as fh:
        assert json.load(fh)["rows"]["refined"]["mean_ap"] >= 0.0
