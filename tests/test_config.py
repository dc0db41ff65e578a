"""Tests of tf3d.config: strict merging, the task one-of, --set parsing, validation, save/load."""

import glob
import os

import pytest

from tf3d import config
from tf3d.tasks.paired import PairedConfig


def test_yaml_and_set_override_defaults(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("train:\n  epochs: 7\ntask:\n  name: paired\n  model:\n    latent_dim: 64\n")
    cfg = config.resolve(str(path), ["train.epochs=3", "data.categories=[chair]", "task.loss.pos_weight=2"])
    assert cfg.train.epochs == 3 and cfg.task.model.latent_dim == 64
    assert cfg.data.categories == ["chair"] and cfg.task.loss.pos_weight == 2.0
    assert cfg.train.batch_size == config.TrainConfig().batch_size  # untouched default
    assert isinstance(cfg.task, PairedConfig)


def test_exponent_without_a_dot_is_a_number():
    # YAML 1.1 reads `1e-3` as a string; a float field must take it.
    cfg = config.resolve(None, ["train.learning_rate=1e-3", "train.lr_decay=5E-2"])
    assert cfg.train.learning_rate == 0.001 and cfg.train.lr_decay == 0.05
    with pytest.raises(config.ConfigError, match="train.learning_rate must be a number"):
        config.resolve(None, ["train.learning_rate=fast"])


def test_unknown_key_names_the_nearest_valid_keys():
    with pytest.raises(config.ConfigError, match=r"'train.epoch'.*did you mean 'epochs'"):
        config.resolve(None, ["train.epoch=3"])
    with pytest.raises(config.ConfigError, match=r"'dat'.*'data'"):
        config.merge(config.ExperimentConfig(), {"dat": {}})
    with pytest.raises(config.ConfigError, match=r"'task.model.latnt_dim'.*'latent_dim'"):
        config.resolve(None, ["task.model.latnt_dim=3"])
    # The old top-level sections moved into the task one-of.
    with pytest.raises(config.ConfigError, match=r"unknown config key 'model'"):
        config.resolve(None, ["model.latent_dim=3"])


def test_task_one_of_picks_the_registered_dataclass():
    with pytest.raises(config.ConfigError, match=r"unknown task task.name='nope'; registered tasks: .*paired"):
        config.resolve(None, ["task.name=nope"])
    assert config.resolve(None, ["task.name=paired"]).task == PairedConfig()


@pytest.mark.parametrize("override, message", [
    ("train.epochs=three", "train.epochs must be an integer"),
    ("data.frame=world", "data.frame must be one of"),
    ("data.train_views=every", "data.train_views must be one of"),
    ("data.image_size=40", r"data.image_size \(40\) must be divisible"),
    ("eval.monitor_threshold=0.45", r"eval.monitor_threshold \(0.45\) must be one of eval.thresholds"),
    ("task.model.name=resnet", "task.model.name must be one of"),
    ("task.model.norm=layer", "task.model.norm must be one of"),
    ("task.loss.name=dice", "task.loss.name must be one of"),
    ("task.loss.pos_weight=-1", "task.loss.pos_weight must be positive"),
    ("train.lr_decay=2", r"train.lr_decay must be in \[0, 1\]"),
    ("init_from=", "init_from must be"),
])
def test_wrong_types_and_values_are_named(override, message):
    with pytest.raises(config.ConfigError, match=message):
        config.resolve(None, [override])


def test_override_needs_key_and_value():
    with pytest.raises(config.ConfigError, match="section.key=value"):
        config.parse_override("train.epochs")


def test_saved_config_round_trips(tmp_path):
    cfg = config.resolve(None, ["train.epochs=2", f"run_dir={tmp_path}", "task.model.latent_dim=8"])
    config.save(cfg, str(tmp_path))
    assert config.load(str(tmp_path)) == cfg
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # written through a rename


def test_differences_name_the_changed_keys():
    a = config.resolve(None, ["run_dir=/a"])
    b = config.resolve(None, ["run_dir=/b", "train.epochs=3", "task.model.latent_dim=8"])
    assert config.differences(a, b) == [("task.model.latent_dim", 256, 8), ("train.epochs", 20, 3)]


def test_load_outside_a_run_directory_says_how_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m tf3d.train"):
        config.load(str(tmp_path))


def _training_experiments():
    """Experiment files run by `python -m tf3d.train` (others, e.g. `tf3d.fit`'s, are tested with their tool).

    A file is one when its text trains it, or (a `_local` variant) trains its full-size sibling; a file
    that only names another experiment's training (as `gan2shape_stages.yaml` names the GAN's) is not.
    """
    def trained(path):
        text, full = open(path).read(), path.replace("_local.yaml", ".yaml")
        return "python -m tf3d.train " + path in text or (
            path.endswith("_local.yaml") and "python -m tf3d.train " in text and os.path.exists(full)
            and "python -m tf3d.train " + full in open(full).read())

    return [p for p in sorted(glob.glob("experiments/*.yaml")) if trained(p)]


def test_every_experiment_file_names_its_command():
    for path in sorted(glob.glob("experiments/*.yaml")):
        assert "python -m tf3d." in open(path).read().split("\n\n")[0], path


@pytest.mark.parametrize("path", _training_experiments())
def test_experiment_files_resolve_and_start_with_their_command(path):
    config.resolve(path)
    assert "python -m tf3d.train " + path in open(path).read().split("\n\n")[0]
