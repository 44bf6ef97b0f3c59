"""Exact nearest-neighbour enlargements (pixel art, sprites, screenshots scaled for a
high-density screen by any factor, 1.5 as well as 2, and crops of them): many rows equal
the row above and many columns the column to their left. Dropping those lines leaves the
smaller original; mode ``upscaled`` (format version 12) stores the original's own .lcz
file and, per axis, which lines repeat the one before.

>>> import numpy as np
>>> small = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
>>> big = small[[0, 0, 1, 2, 2, 3]][:, [0, 1, 1, 2, 3, 3, 4, 5, 5]]  # 1.5 x across and down
>>> rows, columns = repeats(big)
>>> rows.astype(int).tolist(), columns.astype(int).tolist()
([0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 0, 1, 0, 0, 1])
>>> bool(np.array_equal(shrink(big, rows, columns), small))
True
>>> bool(np.array_equal(enlarge(small, rows, columns), big))
True
>>> again = unpack(pack(rows, columns, b"inner file"), 6, 9)
>>> bool(np.array_equal(again[0], rows)), again[2]
(True, b'inner file')
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

TAG = b"UPSC"
# Try coding an image as its original when at least this share of its rows, or of its
# columns, repeat the line before and are not of one colour (an enlargement by 5/4 or
# more, or by 4/3 with a band of one colour; a letterboxed photograph's bars would cost a
# second coding for nearly nothing);
# when at least CLEARLY_REPEATED of them repeat, of one colour or not, do not code the
# image itself as well (an enlargement by 2 or more).
MIN_REPEATED = 0.2
CLEARLY_REPEATED = 0.5
# payload version (1), length of the deflated line maps; then the maps, then the
# smaller image's .lcz file
_PAYLOAD = struct.Struct("<BI")
_PAYLOAD_VERSION = 1


class EnlargementError(ValueError):
    """An ``UPSC`` section that cannot be read."""


def repeats(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row and per column of the image, whether it equals the one before (never the
    first)."""
    return _repeated_lines(pixels, 0), _repeated_lines(pixels, 1)


def _repeated_lines(pixels: np.ndarray, axis: int) -> np.ndarray:
    lines = np.moveaxis(pixels, axis, 0).reshape(pixels.shape[axis], -1)
    same = np.zeros(len(lines), bool)
    same[1:] = np.all(lines[1:] == lines[:-1], axis=1)
    return same


def share_repeated(rows: np.ndarray, columns: np.ndarray) -> float:
    """The larger share of repeated lines of the two axes (compare with
    :data:`CLEARLY_REPEATED`)."""
    return float(max(rows.mean(), columns.mean()))


def share_repeated_detail(pixels: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> float:
    """The larger share, of the two axes, of lines that repeat the one before and are not
    of one colour (compare with :data:`MIN_REPEATED`)."""
    return float(max((rows & ~_uniform_lines(pixels, 0)).mean(), (columns & ~_uniform_lines(pixels, 1)).mean()))


def _uniform_lines(pixels: np.ndarray, axis: int) -> np.ndarray:
    """Per line, whether all its pixels are of one colour."""
    lines = np.moveaxis(pixels, axis, 0)
    lines = lines.reshape(lines.shape[0], lines.shape[1], -1)
    return np.all(lines == lines[:, :1], axis=(1, 2))


def shrink(pixels: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The original: the image without its repeated lines (no two of its neighbouring
    lines are equal)."""
    return np.ascontiguousarray(pixels[~rows][:, ~columns])


def enlarge(small: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The image whose lines repeat the original's where ``rows`` and ``columns`` say so."""
    if small.shape[:2] != (int(np.count_nonzero(~rows)), int(np.count_nonzero(~columns))):
        raise EnlargementError(f"a {small.shape[1]}x{small.shape[0]} original does not fit the line maps")
    return np.ascontiguousarray(small[np.cumsum(~rows) - 1][:, np.cumsum(~columns) - 1])


def pack(rows: np.ndarray, columns: np.ndarray, inner: bytes) -> bytes:
    """The ``UPSC`` payload: version, the deflated line maps, the original's .lcz file."""
    maps = zlib.compress(np.packbits(rows).tobytes() + np.packbits(columns).tobytes(), 9)
    return _PAYLOAD.pack(_PAYLOAD_VERSION, len(maps)) + maps + bytes(inner)


def unpack(payload: bytes, height: int, width: int) -> tuple[np.ndarray, np.ndarray, bytes]:
    """(rows, columns, the original's .lcz file) of the ``UPSC`` payload of a
    ``height`` x ``width`` image."""
    if len(payload) < _PAYLOAD.size:
        raise EnlargementError("the enlargement section is truncated")
    version, length = _PAYLOAD.unpack_from(payload)
    if version != _PAYLOAD_VERSION:
        raise EnlargementError(f"unknown enlargement payload version {version}")
    if length > len(payload) - _PAYLOAD.size:
        raise EnlargementError("the enlargement section's line maps are truncated")
    expected = (height + 7) // 8 + (width + 7) // 8
    inflate = zlib.decompressobj()
    try:
        maps = inflate.decompress(payload[_PAYLOAD.size : _PAYLOAD.size + length], expected + 1)
    except zlib.error as exc:
        raise EnlargementError(f"the enlargement section's line maps are corrupt ({exc})") from None
    if len(maps) != expected or not inflate.eof or inflate.unused_data:
        raise EnlargementError(f"the line maps are not those of a {width}x{height} image")
    bits = np.unpackbits(np.frombuffer(maps, np.uint8))
    rows = bits[:height].astype(bool)
    columns = bits[(height + 7) // 8 * 8 :][:width].astype(bool)
    if rows[0] or columns[0]:
        raise EnlargementError("the first line of an image cannot repeat the one before")
    return rows, columns, bytes(payload[_PAYLOAD.size + length :])
