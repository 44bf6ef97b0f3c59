"""The ``.lcz`` container: header, length-prefixed sections and checksums (no torch here).

The byte layout is specified in ``docs/format.md``. Everything is little-endian and
parsed with explicit :mod:`struct` formats. :func:`unpack` checks, before any allocation
that depends on the header, that the magic, version, geometry, section lengths and CRCs
are sane, and raises :class:`FormatError` with a message that names the problem.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"\x89LCZ\r\n\x1a\n"
VERSION = 16                   # written; see docs/format.md for what changed
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)  # read
MAX_SIDE = 1 << 16          # pixels per side
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
HEADER_BYTES = _HEADER.size + _HEADER_CRC.size   # 38: the first section starts here
SECTION_HEADER_BYTES = _SECTION.size             # 12

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


def pack(container: Container) -> bytes:
    """Serialise a container; section order is kept."""
    h = container.header
    if h.colour not in COLOUR_TYPES:
        raise ValueError(f"unknown colour type {h.colour!r}")
    if len(h.model_id) != 8:
        raise ValueError("model id must be 8 bytes")
    if (h.flags & ~known_flags(VERSION) or (h.flags & STREAM_FLAGS and h.mode not in FAST_MODES)
            or h.flags & FLAG_FAST and h.flags & FLAG_NO_MATCH):
        raise ValueError(f"flags 0x{h.flags:02x} are not valid in mode {h.mode}")
    if h.bit_depth != (DEEP_BIT_DEPTH if h.mode == DEEP_MODE else 8):
        raise ValueError(f"bit depth {h.bit_depth} is not valid in mode {h.mode}")
    head = _HEADER.pack(MAGIC, VERSION, h.flags, MODES[h.mode], COLOUR_TYPES[h.colour][0],
                        h.bit_depth, len(container.sections), h.width, h.height, h.model_id, h.pixel_crc)
    parts = [head, _HEADER_CRC.pack(zlib.crc32(head) & 0xFFFFFFFF)]
    for tag, payload in container.sections.items():
        if len(tag) != 4:
            raise ValueError(f"section tags are 4 bytes, got {tag!r}")
        parts.append(_SECTION.pack(tag, len(payload), zlib.crc32(payload) & 0xFFFFFFFF))
        parts.append(payload)
    return b"".join(parts)


def peek_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a .lcz file, unchecked, for planning only
    (:func:`unpack` checks everything); None where they are not a .lcz header."""
    if len(head) < _HEADER.size or head[: len(MAGIC)] != MAGIC:
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
    if len(data) < _HEADER.size + _HEADER_CRC.size:
        raise FormatError("truncated .lcz file: the header is incomplete")
    fields = _HEADER.unpack_from(data, 0)
    _, version, flags, mode, colour, depth, count, width, height, model_id, crc = fields
    if version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise FormatError(f"unsupported .lcz format version {version} (this build reads versions {readable}; "
                          "a newer lora-codec may read it)")
    (stored_crc,) = _HEADER_CRC.unpack_from(data, _HEADER.size)
    if zlib.crc32(data[: _HEADER.size]) & 0xFFFFFFFF != stored_crc:
        raise FormatError("corrupt .lcz header: header CRC mismatch")
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
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise FormatError(f"implausible image size {width}x{height} (limit {MAX_PIXELS} pixels)")
    if count > MAX_SECTIONS:
        raise FormatError(f"implausible section count {count}")
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
