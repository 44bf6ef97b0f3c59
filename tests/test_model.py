"""The base model: levels for any size, exactness of the integer path, and agreement of
the exact path with the training path."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lora_codec import entropy
from lora_codec import exact
from lora_codec.models.predictor import mixture_bits
from lora_codec.codec import Codec
from lora_codec.models.unet import levels_for

from helpers import smooth_image


@pytest.mark.parametrize("h, w, core, levels", [(1, 1, 32, 0), (32, 32, 32, 0), (33, 10, 32, 1),
                                               (256, 256, 32, 3), (257, 100, 32, 4), (768, 512, 32, 5)])
def test_levels_bring_the_image_to_the_core(h, w, core, levels):
    n = levels_for(h, w, core)
    assert n == levels
    assert max(h, w) / 2**n <= core


@pytest.fixture(scope="module")
def model():
    return Codec().model


def test_exact_decoder_is_invariant_to_threads(model):
    rng = np.random.default_rng(0)
    z = rng.integers(-5, 6, (model.cfg.latent_channels, 9, 7))
    outs = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        outs.append(exact.decode_features(model.decoder_integers, z, 3, 70, 50))
    assert np.array_equal(outs[0], outs[1])
    assert outs[0].dtype == np.int16 and np.abs(outs[0]).max() <= 255


def _random_decoder(seed: int) -> exact.DecoderIntegers:
    """A decoder whose features change wherever a latent does (the shipped one barely
    reacts to its latents, so it would not show a window too small)."""
    rng = np.random.default_rng(seed)
    return exact.DecoderIntegers(
        inp_w=rng.integers(-300, 300, (16, 4, 1, 1)), inp_b=rng.integers(-2000, 2000, 16),
        up_w=rng.integers(-40, 40, (64, 16, 3, 3)), up_b=rng.integers(-4000, 6000, 64),
        head_w=rng.integers(-100, 100, (8, 16, 1, 1)), head_b=rng.integers(-2000, 2000, 8))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), levels=st.integers(0, 3), height=st.integers(1, 200),
       width=st.integers(1, 200), nonzero=st.integers(0, 6))
def test_features_near_the_non_zero_latents_are_the_whole_decoders(seed, levels, height, width, nonzero):
    """decode_features_near recomputes windows around the non-zero latents only: it must
    give decode_features' integers for any tile size, depth and latent positions (edges
    included)."""
    ints, rng, cell = _random_decoder(seed), np.random.default_rng(seed), 1 << levels
    z = np.zeros((4, -(-height // cell), -(-width // cell)), np.int32)
    for _ in range(nonzero):
        z[rng.integers(4), rng.integers(z.shape[1]), rng.integers(z.shape[2])] = rng.integers(-8, 9)
    zero = exact.decode_features(ints, np.zeros_like(z), levels, height, width)
    whole = exact.decode_features(ints, z, levels, height, width)
    assert np.array_equal(exact.decode_features_near(ints, z, levels, height, width, zero), whole)
    if z.any() and levels:
        assert not np.array_equal(whole, zero)  # the latents do change this decoder's features


def test_tile_features_match_the_whole_decoder_on_the_shipped_model(model):
    from lora_codec.coding.groups import CodingWeights, ExactTileFeatures, group_latents
    from lora_codec.coding.latents import latent_shape
    from lora_codec.coding.tiles import tile_grid

    img = smooth_image(300, 520, planes=3, seed=5)
    weights = CodingWeights.of(model)
    tiles = ExactTileFeatures(weights.decoder)
    latents = group_latents(model, img)
    latents[0][1, 3, 4] = 5  # at least one tile with a non-zero latent
    grid = [t for band in tile_grid(300, 520, model.cfg.tile) for t in band]
    for t, z in zip(grid, latents):
        levels, rows, width = latent_shape(model, t)[0], t.y1 - t.y0, t.x1 - t.x0
        expected = exact.decode_features(weights.decoder, z, levels, rows, width)
        assert np.array_equal(tiles(z, levels, rows, width), expected)


def test_float_model_and_exact_path_agree_on_the_whole_model(model):
    """The whole model (UNet included) in float against the coded integers: the head is
    checked sub-pixel for sub-pixel in test_exact_agreement; here the UNet's float and
    integer decoders must give nearly the same code length."""
    from lora_codec.coding.groups import in_coding_order

    img = in_coding_order(model, smooth_image(96, 96, planes=3, seed=2))
    x = torch.from_numpy(img.transpose(2, 0, 1).copy()).float()[None]
    engine = entropy.engine_outputs(img) if model.engine else None
    e = None if engine is None else torch.from_numpy(engine.transpose(2, 0, 1, 3).copy()).float()[None]
    with torch.no_grad():
        z, levels = model.model.analyse(x)
        feats = model.model.features(z, levels, 96, 96)
        float_bits = float(mixture_bits(x, *model.model.predict(x, feats, None, e)))
    ints = exact.decode_features(model.decoder_integers, z[0].numpy().astype(np.int64), levels, 96, 96)
    means, scales, logits = entropy.predict_params(img, ints, model.predictor_weights)
    k = means.shape[-1]
    exact_bits = entropy.mixture_cdf_bits(img.reshape(-1).astype(np.int32), means.reshape(-1, k),
                                          scales.reshape(-1, k), logits.reshape(-1, k))
    assert abs(exact_bits - float_bits) / float_bits < 0.01


def test_native_coder_spends_the_predicted_bits(model):
    img = smooth_image(64, 80, planes=3, seed=8)
    feats = np.zeros((64, 80, model.cfg.features), np.int16)
    means, scales, logits = entropy.predict_params(img, feats, model.predictor_weights)
    k = means.shape[-1]
    ideal = entropy.mixture_cdf_bits(img.reshape(-1).astype(np.int32), means.reshape(-1, k),
                                     scales.reshape(-1, k), logits.reshape(-1, k))
    enc = entropy.PixelEncoder(model.predictor_weights)
    enc.code_rows(img, np.zeros(img.shape, np.int16), feats, 0, 0, 64)
    data = enc.finish()
    assert abs(len(data) * 8 - ideal) <= 0.005 * ideal + 64
    out = np.zeros_like(img)
    dec = entropy.PixelDecoder(model.predictor_weights, data)
    dec.code_rows(out, np.zeros(img.shape, np.int16), feats, 0, 0, 64)
    dec.check()
    assert np.array_equal(out, img)


def test_model_id_is_sha256_prefix_of_the_shipped_file(model):
    import hashlib

    from lora_codec.coding.modes import MODES
    from lora_codec.registry import WEIGHTS

    DEFAULT_MODEL = WEIGHTS / MODES["learned"].model_file

    assert model.model_id == hashlib.sha256(DEFAULT_MODEL.read_bytes()).digest()[:8]
    assert DEFAULT_MODEL.stat().st_size <= 10 * 1024 * 1024
