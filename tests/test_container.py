"""The .lcz container: layout, checksums and every rejection, in the compact layout that
this build writes (version 17 on) and the fixed one it still reads (versions 1 to 16)."""

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


def _reseal(data: bytes) -> bytes:
    """A compact file with its CRC32 (the last 4 bytes) computed again."""
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


@pytest.mark.parametrize("version", [container.VERSION, 16, 12, 2])
def test_pack_unpack_round_trip(version):
    c = _container()
    back = container.unpack(container.pack(c, version=version))
    assert back.header == Header(**{**c.header.__dict__, "version": version})
    assert back.sections == c.sections


def test_compact_layout_byte_by_byte():
    """Written here from docs/format.md: magic, version, flags, mode and colour, LEB128
    sizes less one, model id, pixel CRC, section count, code + LEB128 length + payload
    per section, and a CRC32 of everything before it."""
    c = _container(width=0x0102, height=3, colour="RGBA", mode="rc", flags=container.FLAG_ADAPTERS)
    c.sections[b"meta"] = b"m" * 200
    data = container.pack(c)
    body = (b"\x89LCZ\r\n\x1a\n" + bytes([container.VERSION, 1, 1 | 3 << 4]) + bytes([0x81, 0x02, 0x02]) + b"\x00"
            + b"\x01" * 8
            + struct.pack("<I", 1234) + bytes([3]) + bytes([1, 3]) + b"abc" + bytes([2, 10]) + bytes(10)
            + bytes([128, 0xC8, 0x01]) + b"m" * 200)
    assert data == body + struct.pack("<I", zlib.crc32(body))
    assert container.packed_size([3, 10, 200], "rc", 0x0102, 3, b"\x01" * 8) == len(data)


def test_a_shipped_model_is_named_by_its_number():
    """The default model's files name it in one byte (its number) instead of 9."""
    from lora_codec.codec import Codec

    default = Codec().model.model_id
    assert container.MODEL_NUMBERS[default] == 4
    c = _container(model_id=default)
    data = container.pack(c)
    assert data[13] == 4 and len(data) == len(container.pack(_container())) - 8
    assert container.unpack(data).header.model_id == default
    assert container.packed_size([3, 10], "learned", 5, 3, default) == len(data)
    for number in (6, 255):
        with pytest.raises(FormatError, match=f"unknown model number {number}"):
            container.unpack(_reseal(data[:13] + bytes([number]) + data[14:]))


def test_modes_without_a_model_store_no_model_id():
    stored = Container(Header(width=5, height=3, colour="L", model_id=bytes(8), pixel_crc=7, mode="stored"),
                       {b"RAWP": b"xyz"})
    data = container.pack(stored)
    assert len(data) == container.packed_size([3], "stored", 5, 3) == 8 + 3 + 2 + 4 + 1 + 5 + 4
    assert container.unpack(data).header == stored.header
    assert container.peek_size(data[:13]) == (5, 3) and container.peek_size(data[:12]) is None
    with pytest.raises(ValueError, match="model id must be zeros"):
        container.pack(Container(Header(**{**stored.header.__dict__, "model_id": b"\x01" * 8}), stored.sections))


def test_the_largest_sizes_and_a_long_section_round_trip():
    side = container.MAX_SIDE
    c = Container(Header(width=side, height=container.MAX_PIXELS // side, colour="L", model_id=bytes(8),
                         pixel_crc=0, mode="stored"), {b"RAWP": bytes(70000)})
    data = container.pack(c)
    assert container.unpack(data).header.width == side
    assert container.peek_size(data[:64]) == (side, 1024)
    assert len(data) == container.packed_size([70000], "stored", side, 1024)
    assert len(data) <= container.packed_size([70000], "stored")  # the default geometry's header is the largest


def test_fixed_layout_is_little_endian_and_starts_with_magic():
    data = container.pack(_container(width=0x0102, height=0x0304), version=16)
    assert data[:8] == b"\x89LCZ\r\n\x1a\n"
    assert data[8] == 16
    width, height = struct.unpack_from("<II", data, 14)
    assert (width, height) == (0x0102, 0x0304)
    assert container.peek_size(data[:64]) == (0x0102, 0x0304)


def _repack_header(data: bytes, offset: int, value: bytes) -> bytes:
    """A fixed-layout file with header bytes replaced and its header CRC recomputed."""
    raw = bytearray(data)
    raw[offset : offset + len(value)] = value
    size = struct.calcsize("<8sBBBBBBII8sI")
    raw[size : size + 4] = struct.pack("<I", zlib.crc32(bytes(raw[:size])))
    return bytes(raw)


def _edit(data: bytes, offset: int, value: bytes, remove: int = None) -> bytes:
    """A compact file with ``remove`` bytes (default len(value)) at ``offset`` replaced by
    ``value``, resealed."""
    remove = len(value) if remove is None else remove
    return _reseal(data[:offset] + value + data[offset + remove :])


# The compact file of _container(): sizes at offsets 11 and 12, model number 13 (0: the
# id follows), model id 14..21, pixel CRC 22..25, section count 26, sections from 27.
@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: b"PNG" + d[3:], "wrong magic"),
        (lambda d: d[:4] + b"\n" + d[5:], "text mode"),
        (lambda d: d[:8], "truncated"),
        (lambda d: d[:21], "truncated"),
        (lambda d: d[:22], "CRC mismatch"),
        (lambda d: d[:-3], "CRC mismatch"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "CRC mismatch"),
        (lambda d: d[:12] + bytes([d[12] ^ 1]) + d[13:], "CRC mismatch"),
        (lambda d: d + b"x", "CRC mismatch"),
        (lambda d: d[:8] + bytes([container.VERSION + 1]) + d[9:], f"version {container.VERSION + 1}"),
        (lambda d: _edit(d, 11, b"\x80\x80\x10\x00", 2), "implausible width"),  # 2^18 + 1 pixels
        (lambda d: _edit(d, 11, b"\xff\xff\x03\xff\x7f", 2), "implausible image size"),
        (lambda d: _edit(d, 11, b"\x84\x00", 1), "width is not in its shortest form"),
        (lambda d: _edit(d, 10, b"\x46"), "reserved bits of the mode byte"),
        (lambda d: _edit(d, 10, b"\x26"), "unknown coding mode"),
        (lambda d: _edit(d, 9, b"\x10"), "reserved header flag bits"),
        (lambda d: _edit(d, 26, b"\x21"), "implausible section count"),
        (lambda d: _edit(d, 26, b"\x03"), "section 2 header is missing"),
        (lambda d: _edit(d, 26, b"\x01"), "12 unexpected bytes"),
        (lambda d: _edit(d, 28, b"\x7f"), "claims 127 bytes"),
        (lambda d: _edit(d, 28, b"\xff\xff\xff\xff\x7f"), "implausible length of section 0"),
        (lambda d: _edit(d, 32, b"\x01"), "duplicate section code 1"),
        (lambda d: _edit(d, 32, b"\x7f"), "unknown critical section code 127"),
        
        (lambda d: _reseal(d[:14] + b"xxxx"), "header is incomplete"),
        (lambda d: _reseal(d[:13] + b"\x00" + b"xxxxxxx"), "header is incomplete"),
    ],
)
def test_compact_rejections_name_the_problem(mutate, message):
    data = container.pack(_container())
    with pytest.raises(FormatError, match=message):
        container.unpack(mutate(data))


def test_unknown_ancillary_codes_are_skipped():
    data = container.pack(_container())
    extra = _reseal(data[:26] + b"\x03" + data[27:-4] + bytes([200, 2]) + b"hi" + data[-4:])
    assert container.unpack(extra).sections == _container().sections


def test_pack_refuses_what_the_format_cannot_hold():
    c = _container()
    with pytest.raises(ValueError, match="has no code"):
        container.pack(Container(c.header, {b"XTRA": b""}))
    with pytest.raises(ValueError, match=f"cannot write format version {container.VERSION + 1}"):
        container.pack(c, version=container.VERSION + 1)
    for width, height, version in [(container.MAX_SIDE + 1, 1, container.VERSION), (65537, 1, 18),
                                   (1 << 14, (1 << 14) + 1, container.VERSION)]:
        with pytest.raises(ValueError, match=f"does not fit format version {version}"):
            container.pack(_container(width=width, height=height), version=version)


def test_sides_over_65536_pixels_from_version_19_on():
    """Version 19 allows 2^18 pixels a side (JPEG-XL's level 5 limit), version 18 and
    older 2^16; both at most 2^28 pixels (a file of the largest: the test above)."""
    assert container.max_side(19) == container.MAX_SIDE == 1 << 18
    v18 = container.pack(_container(width=65536, height=2), version=18)
    assert container.unpack(v18).header.width == container.max_side(18) == 65536
    # the same file claiming one more pixel a side, resealed: refused in 18, read in 19
    over = _reseal(v18[:11] + b"\x80\x80\x04" + v18[14:])
    with pytest.raises(FormatError, match="implausible width"):
        container.unpack(over)
    assert container.peek_size(over[:64]) is None
    assert container.unpack(_reseal(over[:8] + bytes([19]) + over[9:])).header.width == 65537


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: b"PNG" + d[3:], "wrong magic"),
        (lambda d: d[:4] + b"\n" + d[5:], "text mode"),
        (lambda d: d[:20], "truncated"),
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
def test_fixed_layout_rejections_name_the_problem(mutate, message):
    data = container.pack(_container(), version=16)
    with pytest.raises(FormatError, match=message):
        container.unpack(mutate(data))


def test_fixed_layout_section_length_past_end_is_rejected_before_reading():
    data = bytearray(container.pack(_container(), version=16))
    pos = struct.calcsize("<8sBBBBBBII8sI") + 4
    data[pos + 4 : pos + 8] = struct.pack("<I", 1 << 31)
    with pytest.raises(FormatError, match="claims"):
        container.unpack(bytes(data))


def test_pixel_crc_is_crc32_of_c_order_bytes():
    a = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    assert container.pixel_crc(a) == zlib.crc32(a.tobytes())
