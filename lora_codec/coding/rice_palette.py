"""A small palette as Golomb-Rice codes (mode ``indexed``'s second palette coding,
format v18).

The colours are written in index order (by luma, ties by packed value, as
:func:`lora_codec.coding.indexed.index_order` ranks them), where consecutive colours are
close in every plane at once. The first colour is written as it is, 8 bits a plane; then
(unless there is only one colour) each plane's differences between consecutive colours,
mod 256 and taken as -128..127. The pivot plane is G in colour images and the grey plane in grey ones: the other colour
planes (R, B) write their difference minus the pivot's, which removes what the planes'
steps share, and an alpha plane writes its differences as they are. In index order the
colours brighten, so the pivot's steps are mostly >= 0: they are numbered brightening
first (0..127 as they are, then -1..-128 as 128..255); the other planes' numbers are
zigzagged (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...). Each plane's numbers are written as
Golomb-Rice codes of one parameter r in 0..7 (3 bits before the plane's codes): the
quotient v >> r as that many 1 bits and a 0, then the r low bits, most significant first.
Bits fill bytes from the most significant; the last byte is padded with 0 bits.

On seven 16-colour icons of 16 x 16 pixels this takes 239 bytes where mode indexed's
context-mixing model takes 286 (290 in format v17); the model wins on palettes of
hundreds of colours, so the encoder keeps the smaller of the two.

>>> import numpy as np
>>> colours = np.array([[0, 0, 0], [40, 50, 30], [250, 240, 245]], np.uint8)
>>> bool((decode(encode(colours), 3, 3) == colours).all())
True
"""

from __future__ import annotations

import numpy as np

MAX_COLOURS = 256   # palettes larger than this are not written this way
PARAMETER_BITS = 3  # the Rice parameter r of a plane: 0..7


class RicePaletteError(ValueError):
    """Bytes that do not hold a Rice-coded palette of the expected size."""


def _pivot(planes: int) -> int:
    """The plane whose steps the other colour planes subtract: G, or grey."""
    return 1 if planes >= 3 else 0


def _residual_planes(planes: int) -> list[int]:
    """The colour planes that subtract the pivot's differences (none in grey images)."""
    return [0, 2] if planes >= 3 else []


def _brightening_first(d: np.ndarray) -> np.ndarray:
    return np.where(d >= 0, d, 127 - d)


def _from_brightening_first(z: np.ndarray) -> np.ndarray:
    return np.where(z < 128, z, 127 - z)


def _zigzag(d: np.ndarray) -> np.ndarray:
    return np.where(d >= 0, 2 * d, -2 * d - 1)


def _unzigzag(z: np.ndarray) -> np.ndarray:
    return np.where(z % 2 == 0, z // 2, -(z + 1) // 2)


def _wrap(d: np.ndarray) -> np.ndarray:
    """Differences mod 256 as -128..127."""
    return (d + 128) % 256 - 128


def _best_parameter(values: np.ndarray) -> int:
    """The Rice parameter that writes ``values`` in the fewest bits (the smallest of equals)."""
    costs = [int((values >> r).sum()) + len(values) * (1 + r) for r in range(1 << PARAMETER_BITS)]
    return int(np.argmin(costs))


def _rice_bits(values: np.ndarray, r: int) -> np.ndarray:
    """The bits (uint8 0/1) of ``values``' Rice codes with parameter r."""
    out = []
    for v in values.tolist():
        out.extend([1] * (v >> r) + [0])
        out.extend((v >> (r - 1 - b)) & 1 for b in range(r))
    return np.array(out, np.uint8)


def _number_bits(v: int, bits: int) -> list[int]:
    return [(v >> (bits - 1 - b)) & 1 for b in range(bits)]


def max_bytes(k: int, planes: int) -> int:
    """The most bytes a palette of k colours can take (every code at its longest, 256 bits:
    the number 255 with r = 0), so that a reader can refuse a longer payload unread."""
    bits = 8 * planes + (planes * (PARAMETER_BITS + 256 * (k - 1)) if k > 1 else 0)
    return (bits + 7) // 8


def encode(colours: np.ndarray) -> bytes:
    """The bytes of (k, C) uint8 colours in index order (1 <= k <= :data:`MAX_COLOURS`)."""
    k, planes = colours.shape
    if not 1 <= k <= MAX_COLOURS:
        raise ValueError(f"a Rice-coded palette holds 1 to {MAX_COLOURS} colours, not {k}")
    bits: list[int] = []
    for c in range(planes):
        bits += _number_bits(int(colours[0, c]), 8)
    steps = _wrap(np.diff(colours.astype(np.int64), axis=0))
    parts = [np.zeros(0, np.uint8)]
    pivot = _pivot(planes)
    for c in range(planes if k > 1 else 0):
        d = _wrap(steps[:, c] - (steps[:, pivot] if c in _residual_planes(planes) else 0))
        values = _brightening_first(d) if c == pivot else _zigzag(d)
        r = _best_parameter(values)
        parts.append(np.array(_number_bits(r, PARAMETER_BITS), np.uint8))
        parts.append(_rice_bits(values, r))
    all_bits = np.concatenate([np.array(bits, np.uint8), *parts])
    return np.packbits(all_bits).tobytes()


def decode(payload: bytes, k: int, planes: int) -> np.ndarray:
    """The (k, planes) uint8 colours of ``payload`` in the order written; raises
    :class:`RicePaletteError` if the bytes do not hold exactly that (trailing bytes, bits
    set in the padding, and codes running past the end are refused)."""
    if not 1 <= k <= MAX_COLOURS:
        raise RicePaletteError(f"a Rice-coded palette of {k} colours")
    if len(payload) > max_bytes(k, planes):
        raise RicePaletteError("the Rice-coded palette has bytes or bits after its codes")
    bits = np.unpackbits(np.frombuffer(payload, np.uint8))
    at = 0

    def number(width: int) -> int:
        nonlocal at
        if at + width > len(bits):
            raise RicePaletteError("the Rice-coded palette is truncated")
        v = 0
        for b in bits[at:at + width].tolist():
            v = 2 * v + b
        at += width
        return v

    first = [number(8) for _ in range(planes)]
    zeros = np.flatnonzero(bits == 0)
    values = np.zeros((planes, k - 1), np.int64)
    for c in range(planes if k > 1 else 0):
        r = number(PARAMETER_BITS)
        for i in range(k - 1):
            next_zero = int(np.searchsorted(zeros, at))  # the unary quotient ends at the next 0 bit
            if next_zero == len(zeros):
                raise RicePaletteError("the Rice-coded palette is truncated")
            end = int(zeros[next_zero])
            quotient = end - at
            at = end + 1
            values[c, i] = (quotient << r) | number(r)
    if len(bits) - at >= 8 or bits[at:].any():
        raise RicePaletteError("the Rice-coded palette has bytes or bits after its codes")
    if (values > 255).any():
        raise RicePaletteError("a difference in the Rice-coded palette is out of range")
    pivot = _pivot(planes)
    steps = _unzigzag(values)
    steps[pivot] = _from_brightening_first(values[pivot])
    for c in _residual_planes(planes):
        steps[c] += steps[pivot]
    colours = np.cumsum(np.concatenate([np.array(first, np.int64)[:, None], steps], axis=1), axis=1) % 256
    return np.ascontiguousarray(colours.T.astype(np.uint8))
