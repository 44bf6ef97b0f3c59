"""The bit refinement after the calibration (format v5, native/bit_refinement.hpp):
exact round trips, a refined stream needs the refined decoder, and it learns exact
relations between planes that the network cannot see."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lora_codec import entropy
from lora_codec.codec import Codec

from helpers import smooth_image


@pytest.fixture(scope="module")
def weights():
    return Codec().model.predictor_weights


def _encode(weights, img, refine):
    feats = np.zeros(img.shape[:2] + (weights.features,), np.int16)
    errors = np.zeros(img.shape, np.int16)
    enc = entropy.PixelEncoder(weights, calibrate=True, refine=refine)
    half = img.shape[0] // 2
    enc.code_rows(img, errors, feats, 0, 0, half)
    enc.code_rows(img, errors, feats, 0, half, img.shape[0])
    return enc.finish(), feats


def _decode(weights, data, feats, shape, refine):
    out = np.zeros(shape, np.uint8)
    errors = np.zeros(shape, np.int16)
    dec = entropy.PixelDecoder(weights, data, calibrate=True, refine=refine)
    half = shape[0] // 2
    dec.code_rows(out, errors, feats, 0, 0, half)
    dec.code_rows(out, errors, feats, 0, half, shape[0])
    return out, dec


@given(st.integers(1, 24), st.integers(1, 24), st.integers(0, 2**32 - 1), st.booleans())
@settings(max_examples=25, deadline=None)
def test_refined_streams_round_trip(weights, h, w, seed, noisy):
    img = smooth_image(h, w, planes=3, seed=seed % 1000)
    if noisy:
        img = np.random.default_rng(seed).integers(0, 256, img.shape, dtype=np.uint8)
    data, feats = _encode(weights, img, refine=True)
    out, dec = _decode(weights, data, feats, img.shape, refine=True)
    dec.check()
    assert np.array_equal(out, img)


def test_a_refined_stream_does_not_decode_without_the_refinement(weights):
    img = smooth_image(40, 48, planes=3, seed=3)
    data, feats = _encode(weights, img, refine=True)
    out, dec = _decode(weights, data, feats, img.shape, refine=False)
    assert dec._dec.corrupt or not np.array_equal(out, img)


def test_the_refinement_learns_an_exact_relation_between_planes(weights):
    # G and B are exact functions of R that the network's inputs do not express.
    red = smooth_image(96, 96, planes=1, seed=4)[:, :, 0].astype(np.int64)
    img = np.stack([red, (red * 3 + 17) % 256, 255 - (red // 2)], axis=2).astype(np.uint8)
    plain, _ = _encode(weights, img, refine=False)
    refined, _ = _encode(weights, img, refine=True)
    assert len(refined) < 0.8 * len(plain)
