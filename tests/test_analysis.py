"""The numpy encoder (compression without torch) computes what the torch module computes."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from lora_codec.coding.analysis import analyse, encoder_output
from lora_codec.registry import load_model_file, shipped_model_files

from helpers import smooth_image

MODELS = {path.name: load_model_file(path) for path in shipped_model_files()}


def _torch_output(model, tile: np.ndarray) -> np.ndarray:
    net = model.model
    x = torch.from_numpy(tile.astype(np.float32))[None]
    levels = net.levels(tile.shape[1], tile.shape[2])
    m = 1 << levels
    x = torch.nn.functional.pad(net.colour_input(x), (0, (-tile.shape[2]) % m, 0, (-tile.shape[1]) % m),
                                mode="replicate")
    with torch.no_grad():
        return net.encoder(x, levels)[0].numpy()


@pytest.mark.parametrize("name", sorted(MODELS))
@settings(max_examples=6, deadline=None)
@given(height=st.integers(1, 140), width=st.integers(1, 140), planes=st.sampled_from([1, 3]),
       seed=st.integers(0, 2**16))
def test_numpy_encoder_matches_torch(name, height, width, planes, seed):
    model = MODELS[name]
    tile = np.ascontiguousarray(smooth_image(height, width, planes, seed).transpose(2, 0, 1))
    ours, theirs = encoder_output(model.state, model.cfg, tile[None])[0], _torch_output(model, tile)
    assert ours.shape == theirs.shape == (model.cfg.latent_channels,) + theirs.shape[1:]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-3)


def test_latents_equal_the_torch_modules_on_a_photo_like_tile():
    for model in MODELS.values():
        tile = np.ascontiguousarray(smooth_image(256, 200, 3, seed=9).transpose(2, 0, 1))
        with torch.no_grad():
            z, _ = model.model.analyse(torch.from_numpy(tile).float()[None])
        np.testing.assert_array_equal(analyse(model.state, model.cfg, np.stack([tile, tile]))[1],
                                      z[0].to(torch.int64).numpy())
