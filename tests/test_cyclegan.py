"""Tests of the unpaired tasks (`cyclegan`, `ae_pretrain`), their networks, data and baseline, on tiny datasets."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import write_box_dataset
from tf3d import config, evaluate, runs, train
from tf3d.data import pipeline, records
from tf3d.models.critic import Critic
from tf3d.models.cyclegan import CycleGAN, viewer_projection

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CYCLEGAN = "experiments/cyclegan_local.yaml"
AE = {"image": "experiments/ae_pretrain_2d_local.yaml", "voxels": "experiments/ae_pretrain_3d_local.yaml"}
_QUICK = ("train.epochs=1", "train.steps_per_epoch=2", "train.val_batches=1")


def _cfg(experiment, data, run_dir, *extra):
    return config.resolve(os.path.join(REPO, experiment), [f"data.dir={data}", f"run_dir={run_dir}", *extra])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Boxes with train/val/test splits (6 chairs + 6 tables each), 8 views at 64 px."""
    return write_box_dataset(str(tmp_path_factory.mktemp("unpaired") / "boxes"),
                             per_category=(("chair", 6), ("table", 6)), splits=("train", "val", "test"))


@pytest.fixture(scope="module")
def ae_runs(dataset, tmp_path_factory):
    """{domain: run_dir} of two short `ae_pretrain` runs."""
    out = {}
    for domain, experiment in AE.items():
        out[domain] = str(tmp_path_factory.mktemp(f"ae_{domain}") / "run")
        summary = train.train(_cfg(experiment, dataset, out[domain], *_QUICK), verbose=0)
        assert np.isfinite(summary["final"]["loss"])
    return out


def _small_model(mode, **kwargs):
    model = CycleGAN(image_size=32, latent_dim=16, enc2d_filters=[4, 8], dec2d_filters=[8, 4], enc3d_filters=[4, 4, 8],
                     dec3d_filters=[8, 4, 4], critic2d_filters=[4, 8], critic3d_filters=[4, 8], mode=mode,
                     projection=viewer_projection({"elevation": 30.0}, 32), render_samples=16, **kwargs)
    model.build((None, 32, 32, 1))
    return model


# ------------------------------------------------------------------ networks and data


def test_critics_use_instance_and_spectral_normalization():
    critic = Critic(3, [4, 8], norm="instance", spectral_norm=True)
    assert critic(tf.zeros([2, 16, 16, 16])).shape == (2,)
    layers = [layer for block in critic._convs for layer in block.layers]
    assert sum(isinstance(layer, keras.layers.SpectralNormalization) for layer in layers) == 2
    norms = [layer for layer in layers if isinstance(layer, keras.layers.GroupNormalization)]
    # groups=-1 becomes one group per channel when built: instance normalization.
    assert len(norms) == 1 and norms[0].groups == 8  # the first block stays unnormalized (DCGAN)
    assert isinstance(critic._score, keras.layers.SpectralNormalization)
    with pytest.raises(ValueError, match="'instance' or 'none'"):
        Critic(2, [4], norm="batch")
    with pytest.raises(ValueError, match=r"\[B, X, Y, Z\]"):
        Critic(3, [4])(tf.zeros([2, 16, 16, 16, 1]))


def test_the_four_generator_parts_share_one_latent_shape():
    model = _small_model("learned")
    images, voxels = tf.zeros([3, 32, 32, 1]), tf.zeros([3, 32, 32, 32])
    assert model.enc2d(images).shape == model.enc3d(voxels).shape == (3, 16)
    assert model(images).shape == (3, 32, 32, 32)
    assert model.to_image(voxels).shape == (3, 32, 32, 1)


def test_the_render_cycle_gradient_reaches_the_2d_to_3d_generator():
    model = _small_model("render")
    images = tf.random.uniform([2, 32, 32, 1]) * tf.cast(tf.random.uniform([2, 32, 32, 1]) > 0.7, tf.float32)
    voxels = tf.cast(tf.random.uniform([2, 32, 32, 32]) > 0.9, tf.float32)
    variables = model.generator_variables
    with tf.GradientTape() as tape:
        loss = model.generator_losses(images, voxels)["render_cycle"]  # the render cycle term alone
    grads = dict(zip([v.path for v in variables], tape.gradient(loss, variables)))
    for part in (model.enc2d, model.dec3d):
        norms = [float(tf.norm(grads[v.path])) for v in part.trainable_variables if grads[v.path] is not None]
        assert norms and max(norms) > 0, part.name
        assert float(tf.norm(grads[part.trainable_variables[0].path])) > 0, part.name  # its first layer too
    for part in (model.enc3d, model.dec2d):  # the learned 3D -> 2D direction plays no part in it
        assert all(grads[v.path] is None for v in part.trainable_variables), part.name


def test_voxel_cycle_through_the_renderer_trains_g_on_masks():
    # With generator_input="silhouette" G reads masks only: two shadings of one mask give one output.
    model = _small_model("render", render_voxel_weight=1.0, generator_input="silhouette", adversarial_weight=0.0)
    mask = tf.cast(tf.random.uniform([2, 32, 32, 1]) > 0.7, tf.float32)
    np.testing.assert_allclose(model(0.3 * mask).numpy(), model(0.9 * mask).numpy(), atol=1e-5)
    assert not np.allclose(model(mask).numpy(), model(tf.transpose(mask, [0, 2, 1, 3])).numpy(), atol=1e-5)
    # BCE(G(render(v)), v): its gradient reaches Enc2D and Dec3D, and it is the BCE of G on the drawn grid.
    voxels = tf.cast(tf.random.uniform([2, 32, 32, 32]) > 0.9, tf.float32)
    variables = model.generator_variables
    with tf.GradientTape() as tape:
        logs = model.generator_losses(tf.zeros([2, 32, 32, 1]), voxels)
    grads = dict(zip([v.path for v in variables], tape.gradient(logs["render_cycle_voxels"], variables)))
    for part in (model.enc2d, model.dec3d):
        assert float(tf.norm(grads[part.trainable_variables[0].path])) > 0, part.name
    drawn = model.to_image(voxels)  # the render direction, at the image size
    from tf3d.models.cyclegan import _weighted_bce
    expected = _weighted_bce(voxels, model.generate(drawn), model.pos_weight)
    np.testing.assert_allclose(float(logs["render_cycle_voxels"]), float(expected), rtol=1e-5)
    with pytest.raises(ValueError, match="generator_input"):
        _small_model("render", generator_input="depth")


def test_code_critic_trains_and_frozen_parts_stay_put():
    # The code critic (rank 1) scores Enc2D's codes against Enc3D's; a zero-weight voxel critic is not
    # trained; frozen parts keep their weights through a train step while Enc2D moves.
    assert Critic(1, [8, 8], spectral_norm=True)(tf.zeros([3, 16])).shape == (3,)
    with pytest.raises(ValueError, match=r"\[B, L\]"):
        Critic(1, [8])(tf.zeros([3, 4, 4, 1]))
    with pytest.raises(ValueError, match="frozen"):
        _small_model("render", frozen=["decoder"])
    model = _small_model("render", adversarial_weight=0.0, latent_weight=1.0, frozen=["enc3d", "dec3d"], n_critic=2)
    model.compile(keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2))
    assert {v.path for v in model.critic_variables} == {v.path for v in model.critic_latent.trainable_variables}
    assert not {v.path for v in model.generator_variables} & {v.path for v in model.dec3d.weights}
    before = {part: [np.array(w) for w in getattr(model, part).weights]
              for part in ("enc2d", "enc3d", "dec3d", "critic_latent", "critic3d")}
    images = tf.random.uniform([4, 32, 32, 1]) * tf.cast(tf.random.uniform([4, 32, 32, 1]) > 0.7, tf.float32)
    voxels = tf.cast(tf.random.uniform([4, 32, 32, 32]) > 0.9, tf.float32)
    logs = model.train_step((images, voxels))
    assert {"adversarial_latent", "critic_loss_latent", "gp_latent"} <= set(logs)
    assert "critic_loss_3d" not in logs and "adversarial_3d" not in logs
    assert int(model.critic_optimizer.iterations.numpy()) == 2

    def moved(part):
        return any(not np.array_equal(a, np.array(b)) for a, b in zip(before[part], getattr(model, part).weights))

    assert moved("enc2d") and moved("critic_latent")
    assert not moved("enc3d") and not moved("dec3d") and not moved("critic3d")


def test_unpaired_halves_are_disjoint_and_grids_are_in_their_views_frame(dataset):
    ds = pipeline.make_unpaired_dataset(dataset, "train", batch_size=4, image_size=32, seed=3, disjoint=True,
                                        with_metadata=True, views="random")
    image_ids, voxel_ids = set(), set()
    views = pipeline.make_dataset(dataset, "train", batch_size=96, training=False, views="all", image_size=32,
                                  with_metadata=True)
    rotated = {(m, int(v)): g for b in views for m, v, g in zip(b["model_id"].numpy(), b["view"].numpy(),
                                                              b["voxels"].numpy())}
    for images, voxels in ds.take(12):
        image_ids.update(images["model_id"].numpy())
        voxel_ids.update(voxels["model_id"].numpy())
        for model_id, view, grid in zip(voxels["model_id"].numpy(), voxels["view"].numpy(), voxels["voxels"].numpy()):
            np.testing.assert_array_equal(grid, rotated[(model_id, int(view))])
    assert image_ids and voxel_ids and not image_ids & voxel_ids
    assert len(image_ids | voxel_ids) == 12  # together the halves hold every training model
    with pytest.raises(ValueError, match="model_shard"):
        pipeline.make_dataset(dataset, "train", model_shard=(2, 2))


def test_pipeline_masks_are_the_stored_masks(dataset):
    source = pipeline.resolve(dataset, "val")
    batch = next(iter(pipeline.make_dataset(source, "val", batch_size=8, training=False, views="all",
                                            image_size=64, with_metadata=True, with_masks=True)))
    record = records.decode_example(next(iter(tf.data.TFRecordDataset(source.files[0]))).numpy())
    np.testing.assert_allclose(batch["mask"].numpy()[..., 0], record["masks"][:8] / 255.0, atol=1e-6)


# ------------------------------------------------------------------ tasks end to end


@pytest.mark.slow
def test_ae_pretraining_then_cyclegan_loads_the_four_parts(ae_runs, dataset, tmp_path, capsys):
    parts = {name: runs.load_model(ae_runs[domain])[0] for domain, name in (("image", "enc2d"), ("voxels", "enc3d"))}
    sources = {"enc2d": parts["enc2d"].enc2d, "dec2d": parts["enc2d"].dec2d,
               "enc3d": parts["enc3d"].enc3d, "dec3d": parts["enc3d"].dec3d}
    started = {}

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            started.update({name: [np.array(w) for w in getattr(self.model, name).weights] for name in sources})

    spec = f"{ae_runs['image']}:enc2d+dec2d,{ae_runs['voxels']}:enc3d+dec3d"
    run_dir = str(tmp_path / "cyclegan")
    summary = train.train(_cfg(CYCLEGAN, dataset, run_dir, *_QUICK, f"init_from={spec}"), verbose=0,
                          callbacks=[Probe()])
    for name, source in sources.items():
        expected = [np.array(w) for w in source.weights]
        assert len(started[name]) == len(expected) > 0, name
        for a, b in zip(started[name], expected):
            np.testing.assert_array_equal(a, b)
    # Every loss term of the mode ("both") is logged, and the validation scores of both directions.
    for key in ("loss", "critic_loss_2d", "critic_loss_3d", "gp_2d", "gp_3d", "wasserstein_2d", "wasserstein_3d",
                "adversarial_2d", "adversarial_3d", "cycle_image", "cycle_voxels", "identity_image",
                "identity_voxels", "render_cycle", "val_iou_0.4", "val_silhouette_iou"):
        assert np.isfinite(summary["final"][key]), key
    assert os.listdir(runs.RunDir(run_dir).previews) == ["epoch_001.png"]

    assert evaluate.main([run_dir, "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "image -> voxels" in out and "voxels -> image" in out
    report = json.load(open(runs.RunDir(run_dir).eval_file(dataset, "test")))
    assert report["count"] == report["silhouettes"]["count"] == 12 * 8
    assert set(report["per_category"]) == {"chair", "table"}


class _Killed(Exception):
    pass


def _state(model):
    return {"weights": [np.array(w) for w in model.weights],
            "steps": (int(model.optimizer.iterations.numpy()), int(model.critic_optimizer.iterations.numpy()))}


@pytest.mark.slow
def test_cyclegan_resumes_weights_and_both_optimizers(dataset, tmp_path):
    cfg = _cfg(CYCLEGAN, dataset, str(tmp_path / "run"), "train.epochs=3", "train.steps_per_epoch=2",
               "train.val_batches=1", "task.mode=learned", "task.loss.n_critic=2")
    killed = {}

    class KillAfterFirst(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            killed.update(_state(self.model))
            raise _Killed()

    with pytest.raises(_Killed):
        train.train(cfg, verbose=0, callbacks=[KillAfterFirst()])
    assert killed["steps"] == (2, 2 * 2)  # one generator update and n_critic critic updates per step
    resumed = {}

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            resumed.update(_state(self.model))

    train.train(cfg, verbose=0, callbacks=[Probe()])
    assert resumed["steps"] == killed["steps"]
    for a, b in zip(resumed["weights"], killed["weights"]):
        np.testing.assert_array_equal(a, b)
    assert json.load(open(runs.RunDir(cfg.run_dir).summary))["epochs"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["image", "voxels"])
def test_ae_pretrain_resumes_after_a_kill(domain, dataset, tmp_path):
    cfg = _cfg(AE[domain], dataset, str(tmp_path / "run"), "train.epochs=2", "train.steps_per_epoch=2",
               "train.val_batches=1")
    killed, resumed = {}, {}

    class KillAfterFirst(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            killed.update(weights=[np.array(w) for w in self.model.weights],
                          step=int(self.model.optimizer.iterations.numpy()))
            raise _Killed()

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            resumed.update(weights=[np.array(w) for w in self.model.weights],
                           step=int(self.model.optimizer.iterations.numpy()))

    with pytest.raises(_Killed):
        train.train(cfg, verbose=0, callbacks=[KillAfterFirst()])
    train.train(cfg, verbose=0, callbacks=[Probe()])
    assert resumed["step"] == killed["step"] == 2
    for a, b in zip(resumed["weights"], killed["weights"]):
        np.testing.assert_array_equal(a, b)
    assert json.load(open(runs.RunDir(cfg.run_dir).summary))["epochs"] == 2


@pytest.mark.slow
def test_ae_pretrain_scores_its_reconstructions(ae_runs, dataset):
    for domain, key in (("image", "l1"), ("voxels", "per_category")):
        _, report, _ = evaluate.evaluate_run(ae_runs[domain], split="test", max_batches=1)
        assert report["domain"] == domain and key in report


def test_mean_shape_of_view_0_is_the_mean_training_grid(dataset):
    from tf3d import baselines

    grids, masks = baselines.mean_shapes(dataset, "train", image_size=64)
    source = pipeline.resolve(dataset, "train")
    raw = [records.decode_example(s.numpy()) for s in tf.data.TFRecordDataset(list(source.files))]
    # View 0 sits at azimuth 0, where the viewer frame is the object frame.
    np.testing.assert_allclose(grids[0], np.mean([r["voxels"] for r in raw], axis=0), atol=1e-6)
    np.testing.assert_allclose(masks[0], np.mean([r["masks"][0] / 255.0 for r in raw], axis=0), atol=1e-5)
    report = baselines.score_mean_shape(dataset, "test", image_size=64)
    assert report["count"] == 12 * 8 and 0 < report["overall"]["iou_0.3"] < 1


def test_the_render_direction_lines_up_with_the_records_masks(dataset):
    # The silhouette op through the viewer camera, at half the image size, must cover the stored
    # masks of the grids' own views (a camera of the wrong size or frame gives an IoU near 0).
    batch = next(iter(pipeline.make_dataset(dataset, "val", batch_size=16, training=False, views="all",
                                            image_size=32, with_metadata=True, with_masks=True)))
    model = CycleGAN(image_size=32, latent_dim=8, enc2d_filters=[4], dec2d_filters=[4], enc3d_filters=[4],
                     dec3d_filters=[4], critic2d_filters=[4], critic3d_filters=[4], mode="render",
                     projection=viewer_projection({"elevation": 30.0}, 32), render_samples=32, render_size=16)
    from tf3d.metrics.silhouette_iou import silhouette_iou

    iou = silhouette_iou(batch["mask"][..., 0], model.predicted_mask(batch["voxels"])).numpy()
    assert iou.mean() > 0.7, iou


@pytest.mark.slow
def test_render_cycles_config_trains_and_evaluates(dataset, tmp_path):
    # experiments/cyclegan_render_local.yaml: no critic is trained; both render cycles are logged.
    run_dir = str(tmp_path / "render")
    summary = train.train(_cfg("experiments/cyclegan_render_local.yaml", dataset, run_dir, *_QUICK), verbose=0)
    for key in ("render_cycle", "render_cycle_voxels", "identity_voxels", "val_iou_0.4"):
        assert np.isfinite(summary["final"][key]), key
    assert not any(key.startswith(("critic_loss", "gp_", "wasserstein")) for key in summary["final"])
    _, report, _ = evaluate.evaluate_run(run_dir, split="test", max_batches=1)
    assert report["mode"] == "render" and 0 <= report["overall"]["iou_0.4"] <= 1
