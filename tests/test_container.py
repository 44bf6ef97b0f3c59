"""The .lcz container: layout, checksums and every rejection."""

import struct
import zlib

import numpy as np
import pytest

from lora_codec import container
from lora_codec.container import Container, FormatError, Header


def _container(**overrides):
    fields = dict(width=5, height=3, colour="RGB", model_id=b"\x01" * 8, pixel_crc=1234)
    fields.update(overrides)
    return Container(Header(**fields), {b"ZCOL": b"abc", b"PCOL": b"\x00" * 10})


def test_pack_unpack_round_trip():
    c = _container()
    back = container.unpack(container.pack(c))
    assert back.header == c.header
    assert back.sections == c.sections


def test_layout_is_little_endian_and_starts_with_magic():
    data = container.pack(_container(width=0x0102, height=0x0304))
    assert data[:8] == b"\x89LCZ\r\n\x1a\n"
    assert data[8] == container.VERSION
    width, height = struct.unpack_from("<II", data, 14)
    assert (width, height) == (0x0102, 0x0304)


def _repack_header(data: bytes, offset: int, value: bytes) -> bytes:
    raw = bytearray(data)
    raw[offset : offset + len(value)] = value
    size = struct.calcsize("<8sBBBBBBII8sI")
    raw[size : size + 4] = struct.pack("<I", zlib.crc32(bytes(raw[:size])))
    return bytes(raw)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: b"PNG" + d[3:], "wrong magic"),
        (lambda d: d[:4] + b"\n" + d[5:], "text mode"),
        (lambda d: d[:20], "truncated"),
        (lambda d: _repack_header(d, 8, bytes([container.VERSION + 1])), f"version {container.VERSION + 1}"),
        (lambda d: _repack_header(d, 14, struct.pack("<II", 60000, 60000)), "implausible image size"),
        (lambda d: _repack_header(d, 14, struct.pack("<II", 0, 3)), "implausible image size"),
        (lambda d: _repack_header(d, 11, b"\x07"), "colour type"),
        (lambda d: _repack_header(d, 10, b"\x06"), "unknown coding mode"),
        (lambda d: _repack_header(d, 12, b"\x10"), "bit depth"),
        (lambda d: d[:-3], "truncated"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "CRC mismatch in section"),
        (lambda d: d[:12] + bytes([d[12] ^ 1]) + d[13:], "header CRC"),
        (lambda d: d + b"x", "unexpected bytes"),
    ],
)
def test_rejections_name_the_problem(mutate, message):
    data = container.pack(_container())
    with pytest.raises(FormatError, match=message):
        container.unpack(mutate(data))


def test_section_length_past_end_is_rejected_before_reading():
    data = bytearray(container.pack(_container()))
    pos = struct.calcsize("<8sBBBBBBII8sI") + 4
    data[pos + 4 : pos + 8] = struct.pack("<I", 1 << 31)
    with pytest.raises(FormatError, match="claims"):
        container.unpack(bytes(data))


def test_pixel_crc_is_crc32_of_c_order_bytes():
    a = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    assert container.pixel_crc(a) == zlib.crc32(a.tobytes())
