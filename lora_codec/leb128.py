"""Unsigned LEB128 numbers, the form in which the .lcz format writes sizes and lengths
(docs/format.md): 7 bits a byte, the low bits first, bit 7 set on every byte but the last.

>>> pack(300)
b'\\xac\\x02'
>>> unpack(pack(300) + b"rest")
(300, 2)
"""

from __future__ import annotations


class Leb128Error(ValueError):
    """The bytes do not hold a number of the expected form; ``reason`` says why:
    ``INCOMPLETE``, ``NOT_SHORTEST`` or ``OVER_LIMIT`` (also the message)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


INCOMPLETE, NOT_SHORTEST, OVER_LIMIT = "incomplete", "not in its shortest form", "over the limit"


def pack(n: int) -> bytes:
    """The shortest LEB128 form of ``n >= 0``."""
    if n < 0:
        raise ValueError(f"LEB128 numbers here are unsigned, got {n}")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if not n:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def unpack(data: bytes, pos: int = 0, end: int | None = None, limit: int = (1 << 64) - 1) -> tuple[int, int]:
    """(the number at ``data[pos:end]``, the position after it). It must be in its
    shortest form (no last byte 0 after another byte) and at most ``limit``; else
    :class:`Leb128Error` says which."""
    end = len(data) if end is None else end
    n, shift = 0, 0
    while True:
        if pos >= end:
            raise Leb128Error(INCOMPLETE)
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if n > limit:
            raise Leb128Error(OVER_LIMIT)
        if byte < 0x80:
            if byte == 0 and shift > 7:
                raise Leb128Error(NOT_SHORTEST)
            return n, pos
