"""The PNG file layout: its signature and its chunks (length, type, data, CRC-32).

>>> png = PNG_SIGNATURE + png_chunk(b"tEXt", b"Title\\0a test") + png_chunk(b"IEND", b"")
>>> png_chunks(png)
[(b'tEXt', b'Title\\x00a test'), (b'IEND', b'')]
"""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk of a PNG file."""
    out, pos = [], len(PNG_SIGNATURE)
    while pos < len(png):
        (length,) = struct.unpack_from(">I", png, pos)
        out.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One chunk: its length, type, data and CRC-32 (of type and data)."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
