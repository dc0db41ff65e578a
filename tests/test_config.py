"""Tests of tf3d.config: strict merging, --set parsing, save/load, the experiment files."""

import glob

import pytest

from tf3d import config


def test_yaml_and_set_override_defaults(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("train:\n  epochs: 7\nmodel:\n  latent_dim: 64\n")
    cfg = config.resolve(str(path), ["train.epochs=3", "data.categories=[chair]", "loss.pos_weight=2"])
    assert cfg.train.epochs == 3 and cfg.model.latent_dim == 64
    assert cfg.data.categories == ["chair"] and cfg.loss.pos_weight == 2.0
    assert cfg.train.batch_size == config.TrainConfig().batch_size  # untouched default


def test_unknown_key_names_the_nearest_valid_keys():
    with pytest.raises(config.ConfigError, match=r"'train.epoch'.*did you mean 'epochs'"):
        config.resolve(None, ["train.epoch=3"])
    with pytest.raises(config.ConfigError, match=r"'dat'.*'data'"):
        config.merge(config.ExperimentConfig(), {"dat": {}})


def test_wrong_types_and_values_are_named():
    with pytest.raises(config.ConfigError, match="train.epochs must be an integer"):
        config.resolve(None, ["train.epochs=three"])
    with pytest.raises(config.ConfigError, match="data.frame must be one of"):
        config.resolve(None, ["data.frame=world"])
    with pytest.raises(config.ConfigError, match="image_size"):
        config.resolve(None, ["data.image_size=40"])
    with pytest.raises(config.ConfigError, match="section.key=value"):
        config.parse_override("train.epochs")


def test_saved_config_round_trips(tmp_path):
    cfg = config.resolve(None, ["train.epochs=2", f"run_dir={tmp_path}"])
    config.save(cfg, str(tmp_path))
    assert config.load(str(tmp_path)) == cfg


def test_load_outside_a_run_directory_says_how_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m tf3d.train"):
        config.load(str(tmp_path))


@pytest.mark.parametrize("path", sorted(glob.glob("experiments/*.yaml")))
def test_experiment_files_resolve_and_start_with_their_command(path):
    config.resolve(path)
    assert "python -m tf3d.train " + path in open(path).read().split("\n\n")[0]
