"""The torch training path and the native coder compute the same integer mixture
parameters for every sub-pixel (evaluated in float64, where every sum is exact), for both
predictor kinds and rc's guided form. A swapped input, a wrong grid or a different
rounding anywhere fails this."""

import copy

import numpy as np
import pytest
import torch

from lora_codec import entropy, exact
from lora_codec.codec import Codec
from lora_codec.config import ModelConfig
from lora_codec.models.engine_predictor import coding_order
from lora_codec.models.probability import ProbabilityModel

from helpers import smooth_image


def _torch_params(predictor, img, feats, guide=None, engine=None):
    predictor = copy.deepcopy(predictor).double()  # never touch the shared, cached model
    x = torch.from_numpy(img.transpose(2, 0, 1).copy()).double()[None]
    f = torch.from_numpy(feats.transpose(2, 0, 1).copy()).double()[None] / 4.0
    with torch.no_grad():
        if engine is not None:
            e = torch.from_numpy(engine.transpose(2, 0, 1, 3).copy()).double()[None]
            out = predictor(x, f, e)
        else:
            g = None if guide is None else torch.from_numpy(guide.transpose(2, 0, 1).copy()).double()[None]
            out = predictor(x, f, g)
    return [(t[0].permute(1, 2, 0, 3).numpy() * 16.0) for t in out]


def _assert_equal(native, torch_values):
    for name, n, t in zip(("means", "log-scales", "logits"), native, torch_values):
        assert np.array_equal(n, t), f"{name} differ at {np.argwhere(n != t)[:5].tolist()}"


def _features(shape, features, seed):
    return np.random.default_rng(seed).integers(-255, 256, shape[:2] + (features,)).astype(np.int16)


@pytest.mark.parametrize("planes", [1, 3])
def test_med_predictor_of_the_shipped_model(planes):
    from lora_codec.registry import load_shipped_model

    model = load_shipped_model("base.safetensors")  # the previous default, still shipped
    img = smooth_image(40, 52, planes=planes, seed=3)
    feats = _features(img.shape, model.cfg.features, 1)
    native = entropy.predict_params(img, feats, model.predictor_weights)
    _assert_equal(native, _torch_params(model.model.predictor, img, feats))


def test_guided_predictor_of_the_med_rc_model():
    from lora_codec.registry import load_shipped_model

    model = load_shipped_model("rc.safetensors")  # the rc model of format versions 1 to 5
    img = smooth_image(36, 44, planes=3, seed=4)
    guide = np.clip(img.astype(int) + np.random.default_rng(2).integers(-9, 10, img.shape), 0, 255).astype(np.uint8)
    feats = _features(img.shape, model.cfg.features, 2)
    native = entropy.predict_params(img, feats, model.predictor_weights, guide)
    _assert_equal(native, _torch_params(model.model.predictor, img, feats, guide=guide))


@pytest.mark.parametrize("planes", [1, 3])
def test_engine_head(planes):
    torch.manual_seed(5)
    net = ProbabilityModel(ModelConfig(engine=1, hidden_a=16, hidden_b=12)).predictor
    with torch.no_grad():  # a head far from its initial state, so every input matters
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    img = smooth_image(40, 52, planes=planes, seed=6)[:, :, list(coding_order(planes))].copy()
    feats = _features(img.shape, 8, 3)
    native = entropy.predict_params(img, feats, exact.predictor_weights(exact.state_of(net), 8, "engine"))
    _assert_equal(native, _torch_params(net, img, feats, engine=entropy.engine_outputs(img)))


@pytest.mark.parametrize("planes", [1, 3])
def test_engine_head_in_rc_mode(planes):
    """The engine outputs that training and adaptation read with a reconstruction are the
    ones the coder uses (format v6), and the reconstruction changes them."""
    model = Codec().rc_model
    assert model.engine
    img = smooth_image(36, 44, planes=planes, seed=4)[:, :, list(coding_order(planes))].copy()
    guide = np.clip(img.astype(int) + np.random.default_rng(2).integers(-9, 10, img.shape), 0, 255).astype(np.uint8)
    feats = _features(img.shape, model.cfg.features, 2)
    engine = entropy.engine_outputs(img, guide)
    assert not np.array_equal(engine, entropy.engine_outputs(img))
    native = entropy.predict_params(img, feats, model.predictor_weights, guide)
    _assert_equal(native, _torch_params(model.model.predictor, img, feats, engine=engine))
