"""The PNG file layout: its signature and its chunks (length, type, data, CRC-32).

>>> png = PNG_SIGNATURE + png_chunk(b"tEXt", b"Title\\0a test") + png_chunk(b"IEND", b"")
>>> png_chunks(png)
[(b'tEXt', b'Title\\x00a test'), (b'IEND', b'')]
"""

from __future__ import annotations

import struct
import zlib
from typing import Iterator

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk_spans(png) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset of its data, length of its data) of each chunk of a PNG file held
    in bytes or any buffer, which is not copied."""
    pos = len(PNG_SIGNATURE)
    while pos < len(png):
        (length,) = struct.unpack_from(">I", png, pos)
        yield bytes(png[pos + 4 : pos + 8]), pos + 8, length
        pos += 12 + length


def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk of a PNG file."""
    return [(kind, png[start : start + length]) for kind, start, length in chunk_spans(png)]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One chunk: its length, type, data and CRC-32 (of type and data)."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
