"""Tests of the task registry (tf3d.tasks): registration rules and whole-model saves of every task."""

import dataclasses

import numpy as np
import pytest

from tf3d import config, tasks
from tf3d.tasks.base import Task

INFO = {"voxel_resolution": 32, "image_size": 128, "num_views": 8, "occupancy_rate": 0.1,
        "viewpoints": {"elevation": 30.0}}


def test_the_paired_task_is_registered_with_its_config():
    assert "paired" in tasks.names()
    cfg = config.resolve(None, [])
    assert isinstance(tasks.build(cfg), tasks.get("paired"))
    with pytest.raises(ValueError, match="unknown task 'nope'; registered tasks: .*paired"):
        tasks.get("nope")


def test_registration_checks_name_and_config():
    @dataclasses.dataclass
    class OtherConfig(config.TaskConfig):
        name: str = "other"

    class Nameless(Task):
        config_class = OtherConfig

    with pytest.raises(ValueError, match="must set `name` and `config_class`"):
        tasks.register(Nameless)

    class Mismatched(Task):
        name = "mismatched"
        config_class = OtherConfig

    with pytest.raises(ValueError, match="must default to 'mismatched'"):
        tasks.register(Mismatched)

    class Duplicate(Task):
        name = "paired"
        config_class = tasks.config_class("paired")

    with pytest.raises(ValueError, match="already registered"):
        tasks.register(Duplicate)


@pytest.mark.parametrize("name", tasks.names())
def test_every_registered_model_round_trips_through_a_keras_file(name, tmp_path):
    import keras

    task = tasks.build(config.resolve(None, [f"task.name={name}"]))
    model = task.build_model(INFO)
    inputs = task.example_inputs(INFO)
    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(inputs, training=False)), expected,
                               rtol=1e-5, atol=1e-5)
