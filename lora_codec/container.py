"""The ``.lcz`` container: header, length-prefixed sections and checksums (no torch here).

The byte layout is specified in ``docs/format.md``. Everything is little-endian and
parsed with explicit :mod:`struct` formats or LEB128 numbers. Two layouts share the
magic and the version byte: the *fixed* one of versions 1 to 16 (a 38-byte header, a tag,
length and CRC32 of 12 bytes a section) and the *compact* one from version 17 (sizes and
lengths as LEB128 numbers, one byte a section, a shipped model by its number and any other
model by its id only where a model codes the file, one CRC32 over the whole file).
:func:`unpack` reads both and checks, before any allocation that depends on the header,
that the magic, version, geometry, section lengths and CRCs are sane, and raises
:class:`FormatError` with a message that names the problem.

>>> header = Header(width=2, height=1, colour="L", model_id=bytes(8), pixel_crc=0, mode="stored")
>>> data = pack(Container(header, {b"RAWP": b"payload"}))
>>> len(data), unpack(data).sections
(31, {b'RAWP': b'payload'})
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from . import leb128

MAGIC = b"\x89LCZ\r\n\x1a\n"
VERSION = 19                   # written; see docs/format.md for what changed
READABLE_VERSIONS = tuple(range(1, VERSION + 1))  # read
COMPACT_FROM = 17              # the first version of the compact layout
MAX_SIDE = 1 << 18          # pixels per side (version 19 on; JPEG-XL's level 5 allows as many)
MAX_SIDE_V18 = 1 << 16      # pixels per side up to version 18
MAX_PIXELS = 1 << 28        # 268 megapixels per image
MAX_SECTIONS = 32

# Colour types: name -> (code, planes).
COLOUR_TYPES = {"L": (0, 1), "LA": (1, 2), "RGB": (2, 3), "RGBA": (3, 4)}
_COLOUR_BY_CODE = {code: (name, planes) for name, (code, planes) in COLOUR_TYPES.items()}
MODES = {"learned": 0, "rc": 1, "stored": 2, "indexed": 3, "upscaled": 4, "deep": 5}
_FIRST_VERSION = {"upscaled": 12, "deep": 13}  # modes newer than version 1
DEEP_MODE, DEEP_BIT_DEPTH = "deep", 16  # 16-bit images: mode deep, and only it, has bit depth 16
_MODE_BY_CODE = {v: k for k, v in MODES.items()}

# magic, version, flags, mode, colour, bit depth, section count, width, height,
# model id, pixel CRC32
_HEADER = struct.Struct("<8sBBBBBBII8sI")
_HEADER_CRC = struct.Struct("<I")
_SECTION = struct.Struct("<4sII")  # tag, payload length, payload CRC32

# The compact layout (version 17): magic, version, flags, then one byte of mode (bits 0-3)
# and colour type (bits 4-5); width - 1 and height - 1 as LEB128 numbers; in the modes a
# model codes, the model's number (MODEL_NUMBERS) or 0 and its 8-byte id; the pixel
# CRC32; the section count; sections as a one-byte code, a LEB128 length and the
# payload; a CRC32 of every byte before it.
_COMPACT_START = struct.Struct("<8sBBB")    # magic, version, flags, mode and colour
_CRC = struct.Struct("<I")
MODEL_MODES = ("learned", "rc")             # modes whose compact header holds the model id
MAX_SECTION_BYTES = (1 << 32) - 1
# One byte a section instead of a 4-byte tag: codes below 128 are critical, from 128 on
# ancillary (a reader skips an ancillary code it does not know).
SECTION_CODES = {b"ZCOL": 1, b"PCOL": 2, b"ZALP": 3, b"PALP": 4, b"LORA": 5, b"HEVC": 6, b"HALP": 7, b"XFRM": 8,
                 b"RAWP": 9, b"IPAL": 10, b"IIDX": 11, b"UPSC": 12, b"DEEP": 13, b"meta": 128}
_TAG_BY_CODE = {code: tag for tag, code in SECTION_CODES.items()}
FIRST_ANCILLARY_CODE = 128
# The models shipped with lora-codec, by number (the compact layout writes the number, 1
# byte, instead of the 8-byte id; 0 means the id follows). Append only: a number, once
# given, names the same model forever.
MODEL_NUMBERS = {bytes.fromhex(h): n for n, h in enumerate(
    ["0adcc6740d702fdd", "b786a683f51f073d", "504cd0fa25851d00", "9d16e6feea080739", "2804b4201f0f2a04"], 1)}
_MODEL_BY_NUMBER = {n: model_id for model_id, n in MODEL_NUMBERS.items()}

FLAG_ADAPTERS = 1
FLAG_FAST = 2  # version 10+, modes learned and rc: pixel streams without the bit refinement
FLAG_ONE_STRIPE = 4  # version 12+, modes learned and rc: each group's pixels in one stream
FLAG_NO_MATCH = 8  # version 16+, modes learned and rc, not with FLAG_FAST: the bit refinement without its match model
FAST_MODES = ("learned", "rc")  # the modes with pixel streams, which the three flags above describe
STREAM_FLAGS = FLAG_FAST | FLAG_ONE_STRIPE | FLAG_NO_MATCH


def known_flags(version: int) -> int:
    """The header flag bits a file of this version may set; the others are reserved and
    must be zero."""
    return (FLAG_ADAPTERS | (FLAG_FAST if version >= 10 else 0) | (FLAG_ONE_STRIPE if version >= 12 else 0)
            | (FLAG_NO_MATCH if version >= 16 else 0))

# Critical sections this version knows. A tag whose first byte is a lower-case letter is
# ancillary: a reader that does not know it skips it. An unknown critical tag is an error.
CRITICAL_TAGS = frozenset({b"ZCOL", b"PCOL", b"ZALP", b"PALP", b"LORA", b"HEVC", b"HALP", b"XFRM", b"RAWP", b"IPAL", b"IIDX",
                           b"UPSC", b"DEEP"})
# Ancillary sections this version knows (and keeps): the image's metadata.
ANCILLARY_TAGS = frozenset({b"meta"})


def is_ancillary(tag: bytes) -> bool:
    """Sections a reader may skip when it does not know them (first byte a-z)."""
    return 0x61 <= tag[0] <= 0x7A


class FormatError(ValueError):
    """The data is not a valid .lcz file (or not one this version can read)."""


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    colour: str            # "L", "LA", "RGB" or "RGBA"
    model_id: bytes        # 8 bytes: prefix of the base weights' sha256
    pixel_crc: int         # CRC32 of the decoded pixels, row-major, planes interleaved
    mode: str = "learned"
    flags: int = 0
    bit_depth: int = 8
    version: int = VERSION  # of the file read; pack() always writes VERSION

    @property
    def planes(self) -> int:
        return COLOUR_TYPES[self.colour][1]


@dataclass
class Container:
    header: Header
    sections: dict[bytes, bytes] = field(default_factory=dict)


def pixel_crc(pixels) -> int:
    """CRC32 of an (H, W, C) uint8 array in C order; of a uint16 array's samples as
    little-endian 16-bit values."""
    if pixels.dtype != "uint8":
        pixels = np.ascontiguousarray(pixels, dtype="<u2")
    return zlib.crc32(memoryview(pixels).cast("B")) & 0xFFFFFFFF


def max_side(version: int) -> int:
    """The most pixels a side that a file of this version may have.

    >>> max_side(18), max_side(19)
    (65536, 262144)
    """
    return MAX_SIDE if version >= 19 else MAX_SIDE_V18


def fits(width: int, height: int, version: int = VERSION) -> bool:
    """Whether a file of this version can hold an image of this size.

    >>> fits(70000, 512), fits(70000, 512, version=18)
    (True, False)
    """
    side = max_side(version)
    return 1 <= width <= side and 1 <= height <= side and width * height <= MAX_PIXELS


def _read_leb128(data: bytes, pos: int, end: int, limit: int, what: str) -> tuple[int, int]:
    """(the LEB128 number at ``data[pos:end]``, the position after it), at most ``limit``."""
    try:
        return leb128.unpack(data, pos, end, limit)
    except leb128.Leb128Error as exc:
        if exc.reason == leb128.INCOMPLETE:
            raise FormatError(f"truncated .lcz file: the {what} is incomplete") from None
        if exc.reason == leb128.OVER_LIMIT:
            raise FormatError(f"implausible {what}") from None
        raise FormatError(f"the {what} is {exc.reason}") from None


def _check_header_for_pack(h: Header, version: int) -> None:
    if h.colour not in COLOUR_TYPES:
        raise ValueError(f"unknown colour type {h.colour!r}")
    if len(h.model_id) != 8:
        raise ValueError("model id must be 8 bytes")
    if version >= COMPACT_FROM and h.mode not in MODEL_MODES and any(h.model_id):
        raise ValueError(f"mode {h.mode} names no model, so its model id must be zeros")
    if (h.flags & ~known_flags(version) or (h.flags & STREAM_FLAGS and h.mode not in FAST_MODES)
            or h.flags & FLAG_FAST and h.flags & FLAG_NO_MATCH):
        raise ValueError(f"flags 0x{h.flags:02x} are not valid in mode {h.mode}")
    if h.bit_depth != (DEEP_BIT_DEPTH if h.mode == DEEP_MODE else 8):
        raise ValueError(f"bit depth {h.bit_depth} is not valid in mode {h.mode}")
    if not fits(h.width, h.height, version):
        raise ValueError(f"a {h.width}x{h.height} image does not fit format version {version} "
                         f"(at most {max_side(version)} pixels a side and {MAX_PIXELS} pixels)")


def pack(container: Container, version: int = VERSION) -> bytes:
    """Serialise a container; section order is kept. ``version`` is the format version
    to write: this build writes :data:`VERSION`; older ones (fixed layout) are for tests."""
    if version not in READABLE_VERSIONS:
        raise ValueError(f"cannot write format version {version}")
    h = container.header
    _check_header_for_pack(h, version)
    if version < COMPACT_FROM:
        return _pack_fixed(container, version)
    parts = [_COMPACT_START.pack(MAGIC, version, h.flags, MODES[h.mode] | COLOUR_TYPES[h.colour][0] << 4),
             leb128.pack(h.width - 1), leb128.pack(h.height - 1), _model_reference(h),
             _CRC.pack(h.pixel_crc), bytes([len(container.sections)])]
    for tag, payload in container.sections.items():
        if tag not in SECTION_CODES:
            raise ValueError(f"section {tag!r} has no code in format version {version}")
        parts += [bytes([SECTION_CODES[tag]]), leb128.pack(len(payload)), payload]
    body = b"".join(parts)
    return body + _CRC.pack(zlib.crc32(body) & 0xFFFFFFFF)


def _model_reference(h: Header) -> bytes:
    """The compact layout's model field: empty in modes without a model, else the model's
    number, or 0 and the id of a model without one."""
    if h.mode not in MODEL_MODES:
        return b""
    number = MODEL_NUMBERS.get(h.model_id)
    return bytes([number]) if number else b"\x00" + h.model_id


def _pack_fixed(container: Container, version: int) -> bytes:
    h = container.header
    head = _HEADER.pack(MAGIC, version, h.flags, MODES[h.mode], COLOUR_TYPES[h.colour][0],
                        h.bit_depth, len(container.sections), h.width, h.height, h.model_id, h.pixel_crc)
    parts = [head, _HEADER_CRC.pack(zlib.crc32(head) & 0xFFFFFFFF)]
    for tag, payload in container.sections.items():
        if len(tag) != 4:
            raise ValueError(f"section tags are 4 bytes, got {tag!r}")
        parts.append(_SECTION.pack(tag, len(payload), zlib.crc32(payload) & 0xFFFFFFFF))
        parts.append(payload)
    return b"".join(parts)


def packed_size(section_lengths: list[int], mode: str = "learned", width: int = MAX_SIDE_V18,
                height: int = MAX_SIDE_V18, model_id: bytes = bytes(8)) -> int:
    """Bytes of the file that sections of these lengths make, without packing it; the
    default geometry and model id give a header at least as large as any valid one."""
    header = (_COMPACT_START.size + len(leb128.pack(width - 1)) + len(leb128.pack(height - 1))
              + (1 + 8 * (model_id not in MODEL_NUMBERS) if mode in MODEL_MODES else 0) + _CRC.size + 1)
    return header + sum(1 + len(leb128.pack(n)) + n for n in section_lengths) + _CRC.size


def peek_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a .lcz file, unchecked, for planning only
    (:func:`unpack` checks everything); None where they are not a .lcz header."""
    if len(head) <= len(MAGIC) or head[: len(MAGIC)] != MAGIC:
        return None
    if head[len(MAGIC)] >= COMPACT_FROM:
        side = max_side(head[len(MAGIC)])
        try:
            width, pos = _read_leb128(head, _COMPACT_START.size, len(head), side - 1, "width")
            height, _ = _read_leb128(head, pos, len(head), side - 1, "height")
        except FormatError:
            return None
        return width + 1, height + 1
    if len(head) < _HEADER.size:
        return None
    _, _, _, _, _, _, _, width, height, _, _ = _HEADER.unpack_from(head, 0)
    return width, height


def unpack(data: bytes) -> Container:
    """Parse and check a container; raises :class:`FormatError` on anything wrong."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a .lcz container is bytes-like, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        if data[:4] == MAGIC[:4]:
            raise FormatError("damaged .lcz signature (was the file transferred in text mode?)")
        raise FormatError("not a lora-codec (.lcz) file: wrong magic bytes")
    if len(data) <= len(MAGIC):
        raise FormatError("truncated .lcz file: the header is incomplete")
    version = data[len(MAGIC)]
    if version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise FormatError(f"unsupported .lcz format version {version} (this build reads versions {readable}; "
                          "a newer lora-codec may read it)")
    if version >= COMPACT_FROM:
        return _unpack_compact(data, version)
    return _unpack_fixed(data, version)


def _check_header(version: int, flags: int, mode: int, colour: int, depth: int, count: int, width: int,
                  height: int) -> None:
    """The checks of a header's fields that both layouts share."""
    if flags & ~known_flags(version):
        raise FormatError(f"reserved header flag bits are set (flags 0x{flags:02x})")
    if mode not in _MODE_BY_CODE or version < _FIRST_VERSION.get(_MODE_BY_CODE[mode], 1):
        raise FormatError(f"unknown coding mode {mode}")
    if flags & FLAG_FAST and _MODE_BY_CODE[mode] not in FAST_MODES:
        raise FormatError(f"the fast flag is set in mode {_MODE_BY_CODE[mode]}, which has no pixel streams to refine")
    if flags & FLAG_ONE_STRIPE and _MODE_BY_CODE[mode] not in FAST_MODES:
        raise FormatError(f"the one-stripe flag is set in mode {_MODE_BY_CODE[mode]}, which has no pixel streams")
    if flags & FLAG_NO_MATCH and (_MODE_BY_CODE[mode] not in FAST_MODES or flags & FLAG_FAST):
        raise FormatError("the no-match flag is set in a file without a bit refinement (mode "
                          f"{_MODE_BY_CODE[mode]}{', fast flag' if flags & FLAG_FAST else ''})")
    if colour not in _COLOUR_BY_CODE:
        raise FormatError(f"unknown colour type {colour}")
    if depth != (DEEP_BIT_DEPTH if _MODE_BY_CODE[mode] == DEEP_MODE else 8):
        raise FormatError(f"unsupported bit depth {depth} in mode {_MODE_BY_CODE[mode]}")
    if not fits(width, height, version):
        raise FormatError(f"implausible image size {width}x{height} (limit {max_side(version)} pixels a side "
                          f"and {MAX_PIXELS} pixels in version {version})")
    if count > MAX_SECTIONS:
        raise FormatError(f"implausible section count {count}")


def _unpack_compact(data: bytes, version: int) -> Container:
    """A file of the compact layout (version 17 on): its CRC over everything first."""
    if len(data) < _COMPACT_START.size + 2 + _CRC.size + 1 + _CRC.size:
        raise FormatError("truncated .lcz file: the header is incomplete")
    end = len(data) - _CRC.size
    (stored_crc,) = _CRC.unpack_from(data, end)
    if zlib.crc32(memoryview(data)[:end]) & 0xFFFFFFFF != stored_crc:
        raise FormatError("corrupt or truncated .lcz file: CRC mismatch over the file")
    _, _, flags, kind = _COMPACT_START.unpack_from(data, 0)
    if kind >> 6:
        raise FormatError(f"reserved bits of the mode byte are set (0x{kind:02x})")
    mode, colour = kind & 0x0F, kind >> 4
    width, pos = _read_leb128(data, _COMPACT_START.size, end, max_side(version) - 1, "width")
    height, pos = _read_leb128(data, pos, end, max_side(version) - 1, "height")
    width, height = width + 1, height + 1
    model_id = bytes(8)
    if mode in _MODE_BY_CODE and _MODE_BY_CODE[mode] in MODEL_MODES:
        number = data[pos] if pos < end else 0
        if number and number not in _MODEL_BY_NUMBER:
            raise FormatError(f"unknown model number {number} (written by a newer lora-codec?)")
        model_id = _MODEL_BY_NUMBER[number] if number else data[pos + 1 : pos + 9]
        pos += 1 if number else 9
    if pos + _CRC.size + 1 > end:
        raise FormatError("truncated .lcz file: the header is incomplete")
    (crc,) = _CRC.unpack_from(data, pos)
    count = data[pos + _CRC.size]
    pos += _CRC.size + 1
    depth = DEEP_BIT_DEPTH if mode == MODES[DEEP_MODE] else 8
    _check_header(version, flags, mode, colour, depth, count, width, height)
    header = Header(width=width, height=height, colour=_COLOUR_BY_CODE[colour][0], model_id=model_id,
                    pixel_crc=crc, mode=_MODE_BY_CODE[mode], flags=flags, bit_depth=depth, version=version)
    sections: dict[bytes, bytes] = {}
    seen: set[int] = set()
    for index in range(count):
        if pos >= end:
            raise FormatError(f"truncated .lcz file: section {index} header is missing")
        code = data[pos]
        length, pos = _read_leb128(data, pos + 1, end, MAX_SECTION_BYTES, f"length of section {index}")
        if length > end - pos:
            raise FormatError(f"truncated .lcz file: section {index} (code {code}) claims {length} bytes, "
                              f"{end - pos} remain")
        payload = data[pos : pos + length]
        pos += length
        if code in seen:
            raise FormatError(f"duplicate section code {code}")
        seen.add(code)
        if code not in _TAG_BY_CODE:
            if code >= FIRST_ANCILLARY_CODE:
                continue  # skippable, and unknown to this version
            raise FormatError(f"unknown critical section code {code} (written by a newer lora-codec?)")
        sections[_TAG_BY_CODE[code]] = payload
    if pos != end:
        raise FormatError(f"{end - pos} unexpected bytes after the last section")
    return Container(header, sections)


def _unpack_fixed(data: bytes, version: int) -> Container:
    """A file of the fixed layout (versions 1 to 16)."""
    if len(data) < _HEADER.size + _HEADER_CRC.size:
        raise FormatError("truncated .lcz file: the header is incomplete")
    _, _, flags, mode, colour, depth, count, width, height, model_id, crc = _HEADER.unpack_from(data, 0)
    (stored_crc,) = _HEADER_CRC.unpack_from(data, _HEADER.size)
    if zlib.crc32(data[: _HEADER.size]) & 0xFFFFFFFF != stored_crc:
        raise FormatError("corrupt .lcz header: header CRC mismatch")
    _check_header(version, flags, mode, colour, depth, count, width, height)
    header = Header(width=width, height=height, colour=_COLOUR_BY_CODE[colour][0], model_id=model_id,
                    pixel_crc=crc, mode=_MODE_BY_CODE[mode], flags=flags, bit_depth=depth, version=version)
    pos = _HEADER.size + _HEADER_CRC.size
    sections: dict[bytes, bytes] = {}
    seen: set[bytes] = set()
    for index in range(count):
        if pos + _SECTION.size > len(data):
            raise FormatError(f"truncated .lcz file: section {index} header is missing")
        tag, length, sec_crc = _SECTION.unpack_from(data, pos)
        pos += _SECTION.size
        if length > len(data) - pos:
            raise FormatError(f"truncated .lcz file: section {tag!r} claims {length} bytes, "
                              f"{len(data) - pos} remain")
        payload = data[pos : pos + length]
        pos += length
        if zlib.crc32(payload) & 0xFFFFFFFF != sec_crc:
            raise FormatError(f"corrupt .lcz file: CRC mismatch in section {tag!r}")
        if tag in seen:
            raise FormatError(f"duplicate section {tag!r}")
        seen.add(tag)
        if not all(0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A or 0x30 <= b <= 0x39 for b in tag):
            raise FormatError(f"invalid section tag {tag!r}")
        if tag not in CRITICAL_TAGS and tag not in ANCILLARY_TAGS:
            if is_ancillary(tag):
                continue  # skippable, and unknown to this version
            raise FormatError(f"unknown critical section {tag.decode()!r} (written by a newer lora-codec?)")
        sections[tag] = payload
    if pos != len(data):
        raise FormatError(f"{len(data) - pos} unexpected bytes after the last section")
    return Container(header, sections)
