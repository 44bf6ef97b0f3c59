"""The online CDF calibration after the mixture (format v4, native/calibration.hpp)."""

import numpy as np
import pytest

from lora_codec import entropy
from lora_codec.codec import Codec

from helpers import smooth_image


@pytest.fixture(scope="module")
def weights():
    return Codec().model.predictor_weights


def _encode(weights, img, calibrate):
    feats = np.zeros(img.shape[:2] + (weights.features,), np.int16)
    errors = np.zeros(img.shape, np.int16)  # state kept from band to band
    enc = entropy.PixelEncoder(weights, calibrate)
    enc.code_rows(img, errors, feats, 0, 0, img.shape[0] // 2)
    enc.code_rows(img, errors, feats, 0, img.shape[0] // 2, img.shape[0])
    return enc.finish(), feats


def _decode(weights, data, feats, shape, calibrate):
    out = np.zeros(shape, np.uint8)
    errors = np.zeros(shape, np.int16)
    dec = entropy.PixelDecoder(weights, data, calibrate=calibrate)
    dec.code_rows(out, errors, feats, 0, 0, shape[0] // 2)
    dec.code_rows(out, errors, feats, 0, shape[0] // 2, shape[0])
    return out, dec


@pytest.mark.parametrize("seed", [0, 1])
def test_calibrated_streams_round_trip_and_need_the_calibrated_decoder(weights, seed):
    img = smooth_image(48, 40, planes=3, seed=seed)
    data, feats = _encode(weights, img, calibrate=True)
    out, dec = _decode(weights, data, feats, img.shape, calibrate=True)
    dec.check()
    assert np.array_equal(out, img)
    wrong, dec = _decode(weights, data, feats, img.shape, calibrate=False)
    assert dec._dec.corrupt or not np.array_equal(wrong, img)


def test_calibration_learns_a_miscalibrated_image(weights):
    """Smooth content with strong added noise: the head's distributions are too narrow at
    first, and the calibration must win back a clear share of the bits."""
    rng = np.random.default_rng(3)
    base = smooth_image(96, 96, planes=3, seed=4).astype(np.int32)
    img = np.clip(base + rng.laplace(0, 12, base.shape).round(), 0, 255).astype(np.uint8)
    plain, _ = _encode(weights, img, calibrate=False)
    calibrated, feats = _encode(weights, img, calibrate=True)
    assert len(calibrated) < 0.995 * len(plain)
    out, dec = _decode(weights, calibrated, feats, img.shape, calibrate=True)
    dec.check()
    assert np.array_equal(out, img)
