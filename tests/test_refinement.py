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


def _encode(weights, img, refine, table_bits=entropy.MAX_TABLE_BITS):
    feats = np.zeros(img.shape[:2] + (weights.features,), np.int16)
    errors = np.zeros(img.shape, np.int16)
    enc = entropy.PixelEncoder(weights, calibrate=True, refine=refine, table_bits=table_bits)
    half = img.shape[0] // 2
    enc.code_rows(img, errors, feats, 0, 0, half)
    enc.code_rows(img, errors, feats, 0, half, img.shape[0])
    return enc.finish(), feats


def _decode(weights, data, feats, shape, refine, table_bits=entropy.MAX_TABLE_BITS):
    out = np.zeros(shape, np.uint8)
    errors = np.zeros(shape, np.int16)
    dec = entropy.PixelDecoder(weights, data, calibrate=True, refine=refine, table_bits=table_bits)
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


@pytest.mark.parametrize("table_bits", [entropy.MIN_TABLE_BITS, 12])
def test_smaller_tables_round_trip_and_are_part_of_the_stream(weights, table_bits):
    """Format v17 sizes the refinement's tables by the stream: a stream decodes with the
    size it was coded with, and on an image that fills the tables the size changes it."""
    img = smooth_image(64, 64, planes=3, seed=4)
    data, feats = _encode(weights, img, True, table_bits)
    out, dec = _decode(weights, data, feats, img.shape, True, table_bits)
    dec.check()
    assert np.array_equal(out, img)
    assert data != _encode(weights, img, True)[0]
    for bad in (entropy.MIN_TABLE_BITS - 1, entropy.MAX_TABLE_BITS + 1):
        with pytest.raises(ValueError, match="table_bits"):
            entropy.PixelEncoder(weights, calibrate=True, refine=True, table_bits=bad)


def test_the_table_size_follows_the_stream_from_version_17():
    from lora_codec.coding.groups import REFINEMENT_BUCKETS_PER_SUBPIXEL, StreamFormat

    v16, v17 = StreamFormat.of(16), StreamFormat.of(17)
    for subpixels in (1, 768, 3072, 12288, 49152, 256 * 768 * 3):
        assert v16.refinement_table_bits(subpixels) == entropy.MAX_TABLE_BITS
        bits = v17.refinement_table_bits(subpixels)
        assert entropy.MIN_TABLE_BITS <= bits <= entropy.MAX_TABLE_BITS
        # the fewest buckets that hold the stream, unless a bound is reached
        assert bits == entropy.MIN_TABLE_BITS or 2 ** (bits - 1) < subpixels * REFINEMENT_BUCKETS_PER_SUBPIXEL
        assert bits == entropy.MAX_TABLE_BITS or 2**bits >= subpixels * REFINEMENT_BUCKETS_PER_SUBPIXEL
    assert v17.refinement_table_bits(256 * 768 * 3) == entropy.MAX_TABLE_BITS  # a photograph's stripe
    assert v17.refinement_table_bits(16 * 16 * 3) < entropy.MAX_TABLE_BITS


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
