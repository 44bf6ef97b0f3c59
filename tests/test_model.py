"""The base model: levels for any size, exactness of the integer path, and agreement of
the exact path with the training path."""

import numpy as np
import pytest
import torch

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
