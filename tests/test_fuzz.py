"""Fuzzing the decoder with mutated files: only clean errors, never a crash, a hang or a
wrong image."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lora_codec
from lora_codec import container
from lora_codec.container import FormatError
from lora_codec.codec import DecodeError

from helpers import leb128, smooth_image

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


# A mutated section fails its CRC before any decoder reads it. To reach the parsers and
# decoders behind the CRCs, these mutations rewrite the CRCs after changing a section's
# payload (or the header, or a section of an .lcz file nested in a section, as modes
# upscaled and deep hold).
GOLDEN_FILES = sorted((Path(__file__).parent / "golden").glob(f"v{container.VERSION}-*/*.lcz"))


def _read_leb128(data: bytes, pos: int) -> tuple[int, int]:
    n, shift = 0, 0
    while True:
        n |= (data[pos] & 0x7F) << shift
        shift += 7
        pos += 1
        if data[pos - 1] < 0x80:
            return n, pos


def _parse(data: bytes) -> tuple[bytes, list[list], int]:
    """(the header up to its section count, [[code, payload], ...], where the file ends) of
    a valid file of the compact layout (docs/format.md), which may be followed by more
    bytes (a nested file is)."""
    _, pos = _read_leb128(data, 11)  # width - 1
    _, pos = _read_leb128(data, pos)  # height - 1
    if data[10] & 0x0F in (0, 1):  # modes 0 and 1: the model's number, or 0 and its id
        pos += 1 if data[pos] else 9
    pos += 4  # the pixel CRC
    count, pos = data[pos], pos + 1
    head, sections = data[:pos], []
    for _ in range(count):
        length, start = _read_leb128(data, pos + 1)
        sections.append([data[pos], data[start : start + length]])
        pos = start + length
    return head, sections, pos + 4  # the file CRC


def _build(head: bytes, sections: list[list]) -> bytes:
    body = head + b"".join(bytes([code]) + leb128(len(payload)) + payload for code, payload in sections)
    return body + struct.pack("<I", zlib.crc32(body))


def _mutate_behind_crcs(rnd, data: bytes) -> bytes:
    head, sections, _ = _parse(data)
    if rnd.random() < 0.15:
        raw = bytearray(head)
        raw[rnd.randrange(9, len(raw))] ^= 1 << rnd.randrange(8)  # past the magic
        return _build(bytes(raw), sections)
    section = rnd.choice(sections)
    payload = section[1]
    inner = payload.find(container.MAGIC)
    if inner >= 0 and rnd.random() < 0.6:
        end = inner + _parse(payload[inner:])[2]
        nested = _mutate_behind_crcs(rnd, payload[inner:end])
        if section[0] == container.SECTION_CODES[b"DEEP"]:  # the nested file's length, at offset 4
            payload = payload[:4] + struct.pack("<I", len(nested)) + payload[8:inner]
        section[1] = payload[:inner] + nested + payload[end:]
        return _build(head, sections)
    kind = rnd.choice(["flip", "cut", "insert", "overwrite"]) if payload else "insert"
    arg = rnd.randrange(8) if kind == "flip" else None if kind == "cut" else rnd.randbytes(rnd.randint(1, 8))
    section[1] = _apply(payload, (kind, rnd.randrange(max(len(payload), 1)), arg))
    return _build(head, sections)


@pytest.fixture(scope="module")
def golden_pixels() -> dict:
    return {path: lora_codec.decompress(path.read_bytes()) for path in GOLDEN_FILES}


def test_the_crc_fixing_mutations_rebuild_files_exactly():
    assert GOLDEN_FILES
    for path in GOLDEN_FILES:
        data = path.read_bytes()
        head, sections, end = _parse(data)
        assert end == len(data) and _build(head, sections) == data


@given(data=st.data())
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_mutations_behind_the_crcs_fail_cleanly_in_one_line(golden_pixels, data):
    path = data.draw(st.sampled_from(GOLDEN_FILES))
    mutated = _mutate_behind_crcs(data.draw(st.randoms(use_true_random=False)), path.read_bytes())
    try:
        out = lora_codec.decompress(mutated)
    except (FormatError, DecodeError, ValueError) as exc:
        assert str(exc) and "\n" not in str(exc)  # what the command line prints
        return
    # Decoding can only succeed with the pixels intact (the pixel CRC is checked last).
    expected = golden_pixels[path]
    assert out.dtype == expected.dtype and np.array_equal(out, expected)
