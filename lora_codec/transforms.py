"""Reversible per-image transforms applied before coding (the ``XFRM`` section):

* **grey stored as colour**: an RGB(A) image whose R, G and B are equal everywhere is
  coded as L(A), one plane instead of three;
* **channel palettes**: a plane that uses only some of the levels between its minimum and
  maximum (a sparse histogram: scans, renders, images whose low bits were cleared), or
  whose histogram is a comb (levels left empty between well-used ones, as contrast and
  gamma changes made in 8 bits leave them), is coded as the indexes 0..k-1 of its
  levels, and the level list is stored (the encoder keeps them only when they pay);
* **palette**: an RGB image of at most 256 colours can be coded as one plane of indexes
  into its colours, ordered by luma (the encoder keeps it only when it pays).

Both are exact: :func:`invert` gives back the very pixels :func:`choose` was given.

>>> import numpy as np
>>> grey = np.repeat((np.arange(12, dtype=np.uint8) * 20).reshape(3, 4, 1), 3, axis=2)
>>> coded, colour, t = choose(grey, "RGB")
>>> colour, t.grey_rgb, coded.shape
('L', True, (3, 4, 1))
>>> bool((invert(coded, t) == grey).all())
True
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from .container import COLOUR_TYPES

TAG = b"XFRM"
VERSION = 1
# A plane gets a channel palette when it uses at most this share of its level range, or
# when at least COMB_GAPS of its levels are empty between two levels that are each used
# by at least 1/8 of the mean count over the range (and by 2 pixels or more): a comb,
# which no photograph of ../shared/data has and edited ones do.
SPARSE_SHARE = 0.75
COMB_GAPS = 4
_GREY = {"RGB": "L", "RGBA": "LA"}


class TransformError(ValueError):
    """A transform section that cannot be read."""


@dataclass
class Transforms:
    grey_rgb: bool = False
    levels: dict[int, np.ndarray] = field(default_factory=dict)  # coded plane -> its sorted levels
    palette: np.ndarray | None = None  # (k, 3) uint8 colours, ordered by luma

    def __bool__(self) -> bool:
        return self.grey_rgb or bool(self.levels) or self.palette is not None


COLOUR_SAMPLE_STRIDE = 61  # every 61st pixel: the sample that settles "too many colours" cheaply


def pack_colours(colours: np.ndarray) -> np.ndarray:
    """Each colour (row) of at most 4 planes as one uint32, first plane most significant."""
    packed = np.zeros(len(colours), np.uint32)
    for c in range(colours.shape[1]):
        packed = (packed << np.uint32(8)) | colours[:, c].astype(np.uint32)
    return packed


def _palette(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(index plane (H, W, 1), colours (k, 3)) of an RGB image of at most 256 colours."""
    flat = pixels.reshape(-1, 3)
    # A sample with more than 256 colours settles it without sorting the whole image (a
    # photograph: 6 MP took 290 MiB and most of a second to find that out).
    if len(np.unique(pack_colours(flat[::COLOUR_SAMPLE_STRIDE]))) > 256:
        return None
    values, inverse = np.unique(pack_colours(flat), return_inverse=True)
    if len(values) > 256:
        return None
    colours = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=1).astype(np.uint8)
    luma = colours.astype(np.int64) @ np.array([299, 587, 114])
    order = np.lexsort((values, luma))  # by luma, ties by colour
    rank = np.empty(len(values), np.int64)
    rank[order] = np.arange(len(values))
    index = rank[inverse.reshape(-1)].reshape(pixels.shape[0], pixels.shape[1], 1).astype(np.uint8)
    return index, colours[order]


def choose(pixels: np.ndarray, colour: str, palette: bool = True,
           levels: bool = True) -> tuple[np.ndarray, str, Transforms]:
    """(pixels to code, their colour type, the transforms that map them back); ``palette``
    allows the palette transform and ``levels`` the channel palettes (the encoder tries
    each way when they apply)."""
    t = Transforms()
    coded, coded_colour = pixels, colour
    if palette and colour == "RGB":
        found = _palette(pixels)
        if found is not None and not (np.array_equal(pixels[:, :, 0], pixels[:, :, 1])
                                      and np.array_equal(pixels[:, :, 0], pixels[:, :, 2])):
            t.palette = found[1]
            return np.ascontiguousarray(found[0]), "L", t
    if colour in _GREY and np.array_equal(pixels[:, :, 0], pixels[:, :, 1]) and \
            np.array_equal(pixels[:, :, 0], pixels[:, :, 2]):
        keep = [0] + ([3] if colour == "RGBA" else [])
        coded, coded_colour, t.grey_rgb = np.ascontiguousarray(pixels[:, :, keep]), _GREY[colour], True
    out = None
    for c in range(coded.shape[2] if levels else 0):
        counts = np.bincount(coded[:, :, c].reshape(-1), minlength=256)
        present = np.flatnonzero(counts)
        if len(present) > 1 and (len(present) <= SPARSE_SHARE * (int(present[-1]) - int(present[0]) + 1)
                                 or comb_gaps(counts) >= COMB_GAPS):
            if out is None:
                out = coded.copy()
            lut = np.zeros(256, np.uint8)
            lut[present] = np.arange(len(present), dtype=np.uint8)
            out[:, :, c] = lut[coded[:, :, c]]
            t.levels[c] = present.astype(np.uint8)
    return (coded if out is None else out), coded_colour, t


def comb_gaps(counts: np.ndarray) -> int:
    """How many levels of a histogram (256 counts) are empty while both their neighbours
    are used by at least 1/8 of the mean count over the used range, and by at least 2
    pixels: the teeth of a comb.

    >>> comb_gaps(np.array([0, 9, 0, 9, 9, 0, 9, 0] + [0] * 248))
    2
    """
    present = np.flatnonzero(counts)
    if len(present) < 3:
        return 0
    span = int(present[-1]) - int(present[0]) + 1
    used = max(2, int(counts.sum()) // (8 * span))
    return int(((counts[1:-1] == 0) & (counts[:-2] >= used) & (counts[2:] >= used)).sum())


def invert(coded: np.ndarray, t: Transforms) -> np.ndarray:
    """The original pixels from the coded ones."""
    if t.palette is not None:
        if int(coded.max(initial=0)) >= len(t.palette):
            raise TransformError("a palette index is outside the palette")
        return np.ascontiguousarray(t.palette[coded[:, :, 0]])
    out = coded.copy() if t.levels else coded
    for c, levels in t.levels.items():
        if int(coded[:, :, c].max(initial=0)) >= len(levels):
            raise TransformError("a coded level index is outside its channel palette")
        out[:, :, c] = levels[coded[:, :, c]]
    if t.grey_rgb:
        grey = out[:, :, :1]
        out = np.concatenate([grey, grey, grey] + ([out[:, :, 1:2]] if out.shape[2] == 2 else []), axis=2)
    return np.ascontiguousarray(out)


def coded_colour(colour: str, t: Transforms) -> str:
    """The colour type the groups were coded in."""
    if t.palette is not None:
        return "L"
    return _GREY[colour] if t.grey_rgb else colour


def pack(t: Transforms) -> bytes:
    """``u8 version | u8 flags (bit 0: grey RGB, bit 1: palette) | u8 n |
    n x (u8 plane | 32-byte level bitmap) | [palette: u16 k | k x RGB]``."""
    flags = int(t.grey_rgb) | (2 if t.palette is not None else 0)
    parts = [struct.pack("<BBB", VERSION, flags, len(t.levels))]
    for c, levels in sorted(t.levels.items()):
        bits = np.zeros(256, np.uint8)
        bits[levels] = 1
        parts.append(bytes([c]) + np.packbits(bits, bitorder="little").tobytes())
    if t.palette is not None:
        parts.append(struct.pack("<H", len(t.palette)) + np.ascontiguousarray(t.palette, np.uint8).tobytes())
    return b"".join(parts)


def unpack(payload: bytes, colour: str) -> Transforms:
    try:
        version, flags, count = struct.unpack_from("<BBB", payload, 0)
    except struct.error:
        raise TransformError("truncated transform section") from None
    end = 3 + 33 * count
    if version != VERSION or flags & ~3 or len(payload) < end:
        raise TransformError("malformed transform section")
    t = Transforms(grey_rgb=bool(flags & 1))
    if flags & 2:
        if colour != "RGB" or t.grey_rgb or count or len(payload) < end + 2:
            raise TransformError("malformed palette transform")
        (k,) = struct.unpack_from("<H", payload, end)
        if not 1 <= k <= 256 or len(payload) != end + 2 + 3 * k:
            raise TransformError("malformed palette")
        t.palette = np.frombuffer(payload, np.uint8, 3 * k, end + 2).reshape(k, 3).copy()
        return t
    if len(payload) != end:
        raise TransformError("malformed transform section")
    if t.grey_rgb and colour not in _GREY:
        raise TransformError(f"grey-as-colour transform on a {colour} image")
    planes = COLOUR_TYPES[coded_colour(colour, t)][1]
    for k in range(count):
        c = payload[3 + 33 * k]
        bits = np.unpackbits(np.frombuffer(payload, np.uint8, 32, 4 + 33 * k), bitorder="little")
        levels = np.flatnonzero(bits).astype(np.uint8)
        if c >= planes or c in t.levels or len(levels) < 2:
            raise TransformError("malformed channel palette")
        t.levels[c] = levels
    return t
