"""Exact nearest-neighbour enlargements (pixel art, sprites, screenshots doubled for a
high-density screen): every fy x fx block of the image is one colour, so the image is its
``fy`` x ``fx`` smaller original repeated. Mode ``upscaled`` (format version 12) stores
that original's own .lcz file and the two factors.

>>> import numpy as np
>>> small = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
>>> big = enlarge(small, 3, 2)
>>> big.shape, factors(big)
((15, 14, 3), (3, 2))
>>> bool(np.array_equal(shrink(big, *factors(big)), small))
True
>>> payload = pack(3, 2, b"inner file")
>>> unpack(payload)
(3, 2, b'inner file')
"""

from __future__ import annotations

import struct

import numpy as np

TAG = b"UPSC"
MAX_FACTOR = 65535  # along each axis (a u16 in the payload)
_PAYLOAD = struct.Struct("<BHH")  # payload version (1), fy, fx; then the smaller image's .lcz file
_PAYLOAD_VERSION = 1


class EnlargementError(ValueError):
    """An ``UPSC`` section that cannot be read."""


def factors(pixels: np.ndarray) -> tuple[int, int]:
    """The largest (fy, fx), each dividing the image's height and width (and at most
    :data:`MAX_FACTOR`), for which the image is an exact nearest-neighbour enlargement;
    (1, 1) for most images (a photograph is refused after comparing two rows). The
    largest, so that the smaller original is no enlargement itself."""
    return _largest_factor(pixels, 0), _largest_factor(pixels, 1)


def _largest_factor(pixels: np.ndarray, axis: int) -> int:
    n = pixels.shape[axis]
    if n < 2 or not np.array_equal(np.take(pixels, 0, axis), np.take(pixels, 1, axis)):
        return 1
    for f in range(min(MAX_FACTOR, n), 1, -1):
        if n % f == 0 and np.array_equal(pixels, np.repeat(np.take(pixels, np.arange(0, n, f), axis), f, axis)):
            return f
    return 1


def shrink(pixels: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """The original of an enlargement by (fy, fx): one pixel of every block."""
    return np.ascontiguousarray(pixels[::fy, ::fx])


def enlarge(pixels: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Each pixel repeated fy times down and fx times across."""
    return np.ascontiguousarray(np.repeat(np.repeat(pixels, fy, axis=0), fx, axis=1))


def pack(fy: int, fx: int, inner: bytes) -> bytes:
    """The ``UPSC`` payload: version, factors, and the smaller image's .lcz file."""
    if not (1 <= fy <= MAX_FACTOR and 1 <= fx <= MAX_FACTOR) or (fy, fx) == (1, 1):
        raise ValueError(f"enlargement factors must be 1..{MAX_FACTOR} and not both 1, got {fy}, {fx}")
    return _PAYLOAD.pack(_PAYLOAD_VERSION, fy, fx) + bytes(inner)


def unpack(payload: bytes) -> tuple[int, int, bytes]:
    """(fy, fx, the smaller image's .lcz file) of an ``UPSC`` payload."""
    if len(payload) < _PAYLOAD.size:
        raise EnlargementError("the enlargement section is truncated")
    version, fy, fx = _PAYLOAD.unpack_from(payload)
    if version != _PAYLOAD_VERSION:
        raise EnlargementError(f"unknown enlargement payload version {version}")
    if fy < 1 or fx < 1 or (fy, fx) == (1, 1):
        raise EnlargementError(f"implausible enlargement factors {fy} x {fx}")
    return fy, fx, bytes(payload[_PAYLOAD.size:])
