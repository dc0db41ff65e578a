"""tf.distribute in the trainer: strategies, input sharding, two-worker training on localhost.

The two-worker tests start two processes of this file (`python tests/test_distribute.py
worker ...`) with TF_CONFIG naming both on localhost, so `train.strategy=multi_worker`
runs MultiWorkerMirroredStrategy over CPU collective ops, and compare the weights
both end with, and those of a single-worker run with the same global batch.

tf3d has no GAN task yet, so the custom-`train_step` case is a test-only task defined
here (`two_optimizers`): a generator and a critic, each with its own SGD optimizer
passed through `compile()`, losses computed by hand and scaled with
`distribute.scale_loss`, as a GAN task's `train_step` would.

Every training record is a copy of one record, so each step's global batch is the same
examples however the shards are split among workers and interleaved: what differs
between the runs is only the distribution (per-replica batches, scaled losses,
all-reduced gradients).
"""

import dataclasses
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, REPO)

from tf3d import config as config_lib  # noqa: E402
from tf3d import tasks  # noqa: E402
from tf3d.tasks.base import Inputs, Task  # noqa: E402
from tf3d.training import distribute  # noqa: E402

LOCAL = os.path.join(REPO, "experiments", "paired_local.yaml")


# ----------------------------------------------------------------------------- a two-optimizer task


@keras.saving.register_keras_serializable(package="tf3d_test")
class TwoOptimizerModel(keras.Model):
    """Generator (image -> voxel logits) and critic (voxels -> score), one optimizer each."""

    def __init__(self, image_size=16, resolution=32, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.resolution = image_size, resolution
        self.generator = keras.Sequential([
            keras.layers.Input((image_size, image_size, 1)), keras.layers.Flatten(),
            keras.layers.Dense(8, activation="relu"), keras.layers.Dense(resolution ** 3),
            keras.layers.Reshape((resolution,) * 3)], name="generator")
        self.critic = keras.Sequential([
            keras.layers.Input((resolution,) * 3), keras.layers.Reshape((resolution,) * 3 + (1,)),
            keras.layers.AveragePooling3D(8), keras.layers.Flatten(), keras.layers.Dense(1)], name="critic")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.c_loss_tracker = keras.metrics.Mean(name="c_loss")

    def call(self, images, training=False):
        return self.generator(images, training=training)

    def compile(self, g_optimizer, c_optimizer, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer, self.c_optimizer = g_optimizer, c_optimizer

    @property
    def metrics(self):
        return [self.g_loss_tracker, self.c_loss_tracker]

    def _gan_losses(self, images, voxels):
        import tensorflow as tf

        fake = tf.sigmoid(self.generator(images, training=True))
        real_score, fake_score = self.critic(voxels), self.critic(fake)
        c_loss = tf.reduce_mean(fake_score - real_score)  # a Wasserstein critic's loss
        g_loss = tf.reduce_mean(tf.abs(fake - voxels)) - 0.1 * tf.reduce_mean(fake_score)
        return g_loss, c_loss

    def train_step(self, data):
        import tensorflow as tf

        images, voxels = data
        with tf.GradientTape() as c_tape:
            _, c_loss = self._gan_losses(images, voxels)
            scaled = distribute.scale_loss(c_loss)
        grads = c_tape.gradient(scaled, self.critic.trainable_weights)
        self.c_optimizer.apply_gradients(zip(grads, self.critic.trainable_weights))
        with tf.GradientTape() as g_tape:
            g_loss, _ = self._gan_losses(images, voxels)
            scaled = distribute.scale_loss(g_loss)
        grads = g_tape.gradient(scaled, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.g_loss_tracker.update_state(g_loss)
        self.c_loss_tracker.update_state(c_loss)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        images, voxels = data
        g_loss, c_loss = self._gan_losses(images, voxels)
        self.g_loss_tracker.update_state(g_loss)
        self.c_loss_tracker.update_state(c_loss)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return dict(super().get_config(), image_size=self.image_size, resolution=self.resolution)


@dataclasses.dataclass
class TwoOptimizersConfig(config_lib.TaskConfig):
    name: str = "two_optimizers"  # test-only task: generator + critic, two SGD optimizers


class TwoOptimizersTask(Task):
    """Test-only stand-in for a GAN task: the paired task's inputs, a custom `train_step`."""

    name = "two_optimizers"
    config_class = TwoOptimizersConfig

    def build_inputs(self, input_context=None):
        from tf3d.tasks.paired import PairedConfig, PairedTask

        paired = PairedTask(dataclasses.replace(self.config, task=PairedConfig()))
        return paired.build_inputs(input_context)

    def build_model(self, dataset_info):
        model = TwoOptimizerModel(self.config.data.image_size, int(dataset_info["voxel_resolution"]))
        model(np.zeros((1, self.config.data.image_size, self.config.data.image_size, 1), "float32"))
        model.critic(np.zeros((1,) + (model.resolution,) * 3, "float32"))
        return model

    def compile(self, model, inputs):
        lr = self.config.train.learning_rate
        model.compile(g_optimizer=keras.optimizers.SGD(lr), c_optimizer=keras.optimizers.SGD(lr))

    def monitor(self):
        return "val_g_loss", "min"


@pytest.fixture()
def two_optimizers_task():
    """Registers the test-only task for one test (kept out of the registry that test_tasks.py walks)."""
    tasks.register(TwoOptimizersTask)
    yield
    tasks._TASKS.pop(TwoOptimizersTask.name, None)  # noqa: SLF001


# ----------------------------------------------------------------------------- helpers


def _same_record_dataset(directory):
    """A box dataset (2 train and 2 val shards) whose records are all copies of one."""
    import tensorflow as tf

    from conftest import write_box_dataset
    from tf3d.data import records

    write_box_dataset(directory, per_category=(("chair", 4), ("table", 4)), splits=("train", "val"), shards=2)
    first = next(iter(tf.data.TFRecordDataset(os.path.join(directory, records.shard_name("boxes", "train", 0, 2)))))
    for split in ("train", "val"):
        for index in range(2):
            with tf.io.TFRecordWriter(os.path.join(directory, records.shard_name("boxes", split, index, 2))) as w:
                for _ in range(4):
                    w.write(first.numpy())
    return directory


def _overrides(task, data, run_dir, strategy):
    common = [f"data.dir={data}", f"run_dir={run_dir}", f"train.strategy={strategy}", "train.epochs=1",
              "train.steps_per_epoch=3", "train.batch_size=4", "train.val_batches=1", "train.num_previews=1",
              "data.train_views=first", "data.shuffle_buffer=1", "eval.batch_size=4", "train.learning_rate=0.05"]
    if task == "two_optimizers":
        return ["task.name=two_optimizers", "data.image_size=16"] + common
    return common


def _weights(run_dir):
    import tf3d.models.paired  # noqa: F401 (registers PairedReconstructor for loading)

    model = keras.saving.load_model(os.path.join(run_dir, "checkpoints", "last.keras"), compile=False)
    return [np.asarray(w) for w in model.get_weights()]


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _train_two_workers(task, data, run_dir):
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=REPO)
    procs = [subprocess.Popen([sys.executable, __file__, "worker", task, data, run_dir],
                              env=dict(env, TF_CONFIG=distribute.tf_config(workers, i)), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=240)[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail(f"the two workers did not finish in 240 s:\n{proc.communicate()[0][-3000:]}")
    for proc, out in zip(procs, outputs):
        assert proc.returncode == 0, out[-4000:]
    return outputs


def _worker_main(task, data, run_dir):
    from tf3d import train

    tasks.register(TwoOptimizersTask)
    cfg = config_lib.resolve(LOCAL, _overrides(task, data, run_dir, "multi_worker"))
    train.train(cfg, verbose=0)


# ----------------------------------------------------------------------------- tests


@pytest.mark.slow
@pytest.mark.parametrize("task", ["paired", "two_optimizers"])
def test_multi_worker_training_matches_one_worker(task, tmp_path, two_optimizers_task):
    from tf3d import train

    data = _same_record_dataset(str(tmp_path / "data"))
    multi = str(tmp_path / "multi")
    outputs = _train_two_workers(task, data, multi)
    assert "MultiWorkerMirroredStrategy, 2 replica(s), worker 0 of 2" in outputs[0], outputs[0][-2000:]
    chief, other = _weights(multi), _weights(os.path.join(multi, "workers", "worker-1"))
    for a, b in zip(chief, other):
        np.testing.assert_array_equal(a, b)  # all-reduced updates: identical on both workers

    single = str(tmp_path / "single")
    train.train(config_lib.resolve(LOCAL, _overrides(task, data, single, "default")), verbose=0)
    alone = _weights(single)
    initial = [np.asarray(w) for w in tasks.build(config_lib.resolve(
        LOCAL, _overrides(task, data, str(tmp_path / "init"), "default"))).build_model(
        {"voxel_resolution": 32}).get_weights()]
    moved = max(float(np.abs(a - i).max()) for a, i in zip(alone, initial))
    assert moved > 1e-3  # training changed the weights, so the comparison below means something
    # Not bit-equal: the all-reduce sums two half-batch gradients where one worker sums
    # one batch, and Adam (the paired task's) divides by sqrt(v), so that a gradient
    # near zero turns float rounding into differences up to ~1e-4 of a weight.
    for a, b in zip(chief, alone):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=2e-4)


def test_input_sharding_is_by_file_and_needs_a_shard_per_worker():
    import tensorflow as tf

    files = [f"s-{i}" for i in range(5)]
    contexts = [tf.distribute.InputContext(2, i, 2) for i in range(2)]
    assert [distribute.shard_files(files, c) for c in contexts] == [("s-0", "s-2", "s-4"), ("s-1", "s-3")]
    assert distribute.shard_files(files, None) == tuple(files)
    with pytest.raises(ValueError, match=r"the val split has 1 shard file\(s\) for 2 workers"):
        distribute.shard_files(files[:1], contexts[0], "the val split")
    assert distribute.per_replica_batch(contexts[0], 8) == 4
    with pytest.raises(ValueError, match=r"train.batch_size \(7\) must be a multiple of the number of replicas \(2\)"):
        distribute.per_replica_batch(contexts[0], 7)


def test_strategy_names_are_checked_and_auto_is_the_default_here(monkeypatch):
    with pytest.raises(config_lib.ConfigError, match="train.strategy must be one of"):
        config_lib.resolve(LOCAL, ["train.strategy=mirrorred"])
    assert config_lib.resolve(LOCAL).train.strategy == "auto"
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    for var in ("COLAB_TPU_ADDR", "TPU_NAME"):
        monkeypatch.delenv(var, raising=False)
    if len(tf.config.list_physical_devices("GPU")) <= 1:
        assert distribute.make_strategy("auto") is tf.distribute.get_strategy()
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        distribute.make_strategy("multi_worker")
    assert distribute.worker(tf.distribute.get_strategy()) == (0, 1, True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        _worker_main(*sys.argv[2:5])
