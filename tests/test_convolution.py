"""The native integer convolution of the exact UNet decoder and guide network."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lora_codec import entropy


def _reference(x, w, b, shift, lo, hi):
    """Straightforward int64 convolution with zero padding, then the rounding shift."""
    c, h, wd = x.shape
    o, _, k, _ = w.shape
    r = k // 2
    xp = np.pad(x.astype(np.int64), ((0, 0), (r, r), (r, r)))
    acc = np.zeros((o, h, wd), np.int64) + b[:, None, None]
    for dy in range(k):
        for dx in range(k):
            acc += np.einsum("oc,chw->ohw", w[:, :, dy, dx].astype(np.int64), xp[:, dy : dy + h, dx : dx + wd])
    if shift:
        acc = np.floor_divide(acc + (1 << (shift - 1)), 1 << shift)
    return np.clip(acc, lo, hi)


@pytest.mark.parametrize("kernel", ["", "sse2", "int64"])
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), k=st.sampled_from([1, 3, 5]), wide=st.booleans(), shift=st.integers(0, 12))
def test_native_convolution_matches_the_integer_reference(kernel, seed, k, wide, shift):
    """Every path: the int16 matrix kernels (|x| <= 4095; AVX2 where the CPU has it, or
    capped at SSE2) in blocks of up to 32 outputs, and int64 (wider inputs, or the int64
    cap)."""
    saved = os.environ.pop("LORA_CODEC_KERNEL", None)  # the native module reads it at each call
    if kernel:
        os.environ["LORA_CODEC_KERNEL"] = kernel
    try:
        _check_against_reference(np.random.default_rng(seed), k, wide, shift)
    finally:
        os.environ.pop("LORA_CODEC_KERNEL", None)
        if saved is not None:
            os.environ["LORA_CODEC_KERNEL"] = saved


def _check_against_reference(rng, k, wide, shift):
    c, o, h, w = rng.integers(1, 20), rng.integers(1, 72), rng.integers(1, 12), rng.integers(1, 12)
    top = 2**20 if wide else 4095
    x = rng.integers(-top, top + 1, (c, h, w)).astype(np.int32)
    wt = rng.integers(-32767, 32768, (o, c, k, k)).astype(np.int32)  # the int16 bound
    b = rng.integers(-2**40, 2**40, o)
    got = entropy.conv_layer(x, wt, b, shift=shift, lo=-(2**31), hi=2**31 - 1)
    assert np.array_equal(got, _reference(x, wt, b, shift, -(2**31), 2**31 - 1))


def test_convolution_clamps_after_rounding():
    x = np.full((1, 2, 2), 100, np.int32)
    w = np.ones((1, 1, 1, 1), np.int32)
    out = entropy.conv_layer(x, w, np.array([8], np.int64), shift=4, lo=0, hi=6)
    assert out.tolist() == [[[6, 6], [6, 6]]]  # floor((108 + 8) / 16) = 7, clamped to 6


@pytest.mark.parametrize("bad", [
    dict(x=np.zeros((2, 3, 3), np.int32), w=np.zeros((1, 3, 3, 3), np.int32)),  # channels disagree
    dict(x=np.zeros((1, 3, 3), np.int32), w=np.zeros((1, 1, 2, 2), np.int32)),  # even kernel
    dict(x=np.zeros((1, 3, 3), np.float32), w=np.zeros((1, 1, 3, 3), np.int32)),  # not integers
    dict(x=np.full((1, 3, 3), 2**25, np.int64), w=np.zeros((1, 1, 3, 3), np.int32)),  # out of range
])
def test_bad_convolution_arguments_raise_value_error(bad):
    with pytest.raises(ValueError):
        entropy.conv_layer(bad["x"], bad["w"], np.zeros(bad["w"].shape[0], np.int64), shift=0, lo=0, hi=1)
