"""Fuzzing the decoder with mutated files: only clean errors, never a crash, a hang or a
wrong image."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lora_codec
from lora_codec.container import FormatError
from lora_codec.codec import DecodeError

from helpers import smooth_image

IMAGE = smooth_image(12, 20, planes=4, seed=3)


@pytest.fixture(scope="module")
def good() -> bytes:
    return lora_codec.compress(IMAGE)


@st.composite
def mutations(draw, size: int):
    kind = draw(st.sampled_from(["flip", "cut", "insert", "overwrite"]))
    pos = draw(st.integers(0, size - 1))
    if kind == "flip":
        return kind, pos, draw(st.integers(0, 7))
    if kind == "overwrite":
        return kind, pos, draw(st.binary(min_size=1, max_size=8))
    if kind == "insert":
        return kind, pos, draw(st.binary(min_size=1, max_size=8))
    return kind, pos, None


def _apply(data: bytes, mutation) -> bytes:
    kind, pos, arg = mutation
    if kind == "flip":
        return data[:pos] + bytes([data[pos] ^ (1 << arg)]) + data[pos + 1 :]
    if kind == "overwrite":
        return data[:pos] + arg + data[pos + len(arg) :]
    if kind == "insert":
        return data[:pos] + arg + data[pos:]
    return data[:pos]


@given(data=st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_mutated_files_fail_cleanly(good, data):
    mutated = _apply(good, data.draw(mutations(len(good))))
    if mutated == good:
        return
    try:
        out = lora_codec.decompress(mutated)
    except (FormatError, DecodeError, ValueError):
        return
    # Decoding can only succeed if the mutation left the image intact.
    assert np.array_equal(out, IMAGE)


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_random_bytes_fail_cleanly(blob):
    with pytest.raises((FormatError, DecodeError, ValueError)):
        lora_codec.decompress(blob)
