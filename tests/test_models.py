"""Tests of the paired model's layers and the model registry."""

import keras
import numpy as np
import pytest

from tf3d.models import registry
from tf3d.models.image_encoder import ImageEncoder
from tf3d.models.paired import PairedReconstructor
from tf3d.models.voxel_decoder import VoxelDecoder


def test_shapes_and_config_round_trip():
    encoder = ImageEncoder([8, 16], 32)
    assert encoder(np.zeros((2, 32, 32, 1), np.float32)).shape == (2, 32)
    decoder = VoxelDecoder([8, 4], 16)
    assert decoder(np.zeros((2, 32), np.float32)).shape == (2, 16, 16, 16)
    for layer in (encoder, decoder):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()


def test_registry_builds_the_paired_model_and_names_choices():
    model = registry.build("paired", image_size=32, encoder_filters=[8, 16], latent_dim=16,
                           decoder_filters=[8, 4, 4])
    assert isinstance(model, PairedReconstructor)
    assert model(np.zeros((3, 32, 32, 1), np.float32)).shape == (3, 32, 32, 32)
    with pytest.raises(ValueError, match="registered models: paired"):
        registry.build("pix2vox")


def test_input_checks_name_the_problem():
    with pytest.raises(ValueError, match="divisible by 4"):
        ImageEncoder([8, 16], 8)(np.zeros((1, 30, 30, 1), np.float32))
    with pytest.raises(ValueError, match="resolution 30"):
        VoxelDecoder([8, 4], 30)
    with pytest.raises(ValueError, match="norm must be one of"):
        ImageEncoder([8, 16], 8, norm="layer")
    with pytest.raises(ValueError, match="norm must be one of"):
        VoxelDecoder([8, 4], 16, norm="group")


@pytest.mark.parametrize("norm, batch_norms", [("batch", 4 + 1), ("none", 0)])
def test_norm_puts_batch_normalization_after_every_hidden_conv(norm, batch_norms):
    model = registry.build("paired", image_size=16, encoder_filters=[4, 8], latent_dim=8, decoder_filters=[4, 4],
                           resolution=8, norm=norm)
    found = [w for w in model.weights if "moving_mean" in w.path]
    assert len(found) == batch_norms  # 2 convs per encoder stage, every decoder upsampling but the logits


def test_one_fit_step_reduces_nothing_to_nan():
    model = registry.build("paired", image_size=16, encoder_filters=[4], latent_dim=8, decoder_filters=[4, 4],
                           resolution=8)
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    x = np.random.rand(4, 16, 16, 1).astype(np.float32)
    y = (np.random.rand(4, 8, 8, 8) < 0.2).astype(np.float32)
    history = model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
