"""Mode ``indexed``: an image of few colours as its palette and one plane of indexes,
coded by online context mixing (:func:`lora_codec.entropy.encode_indexes`), with no
learned model. Charts, text, screenshots and GIF-like palette images cost a fraction of
what a model trained on photographs gives them.

The palette is stored sorted by colour value: ``u32 count``, then per plane the
differences of consecutive colours, coded from format v11 as a (planes, count) plane of
256 "colours" by the same context-mixing model as the indexes (zlib'd before). The index
of a colour is its rank when the palette is sorted by luma (ties by value), which both
sides derive from the palette. From format v18 a palette of at most 256 colours may
instead be written in index order as Golomb-Rice codes (:mod:`.rice_palette`), whichever
is smaller; the count's lowest bit says which; and the model's mixers start lighter
(:data:`lora_codec.entropy.MIXER_START`).

>>> import numpy as np
>>> image = np.zeros((8, 10, 3), np.uint8); image[2:5, 3:7] = (200, 30, 30)
>>> sections = encode(image)
>>> bool((decode(sections, 8, 10, 3) == image).all())
True
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

import numpy as np

from .. import entropy, leb128
from ..transforms import COLOUR_SAMPLE_STRIDE, pack_colours
from . import rice_palette

if TYPE_CHECKING:
    from .groups import StreamFormat

PALETTE_TAG = b"IPAL"
INDEX_TAG = b"IIDX"
MAX_COLOURS = entropy.MAX_COLOURS
# The encoder tries this mode on images with at most this many colours, or at most one
# colour per TRY_PIXELS_PER_COLOUR pixels (photographs have more: Kodak 1 per 5 to 29).
TRY_COLOURS = 1024
TRY_PIXELS_PER_COLOUR = 64
_LUMA = np.array([299, 587, 114], np.int64)
# How a v18 palette is written: the lowest bit of its LEB128 head 2 (k - 1) + method.
MODELLED, RICE = 0, 1


class PaletteError(ValueError):
    """A palette section that cannot be read."""


def index_order(colours: np.ndarray) -> np.ndarray:
    """The palette positions (value-sorted palette) in index order: by luma, ties by value."""
    luma = colours[:, :3].astype(np.int64) @ _LUMA if colours.shape[1] >= 3 else colours[:, 0].astype(np.int64)
    return np.lexsort((pack_colours(colours), luma))


def colour_count(pixels: np.ndarray) -> int:
    """The number of distinct colours of an (H, W, C) image."""
    return len(np.unique(pack_colours(pixels.reshape(-1, pixels.shape[2]))))


def worth_trying(pixels: np.ndarray, colours: int) -> bool:
    """Whether the encoder should try this mode on an image with ``colours`` colours."""
    pixel_count = pixels.shape[0] * pixels.shape[1]
    return colours <= MAX_COLOURS and (colours <= TRY_COLOURS or colours * TRY_PIXELS_PER_COLOUR <= pixel_count)


def worth_trying_on(pixels: np.ndarray) -> bool:
    """``worth_trying(pixels, colour_count(pixels))``, settled on a sample of the pixels
    when the sample alone has too many colours (the test only gets harder with more), so
    that a photograph's colours are never all sorted."""
    sample = pixels.reshape(-1, pixels.shape[2])[::COLOUR_SAMPLE_STRIDE]
    if not worth_trying(pixels, len(np.unique(pack_colours(sample)))):
        return False
    return worth_trying(pixels, colour_count(pixels))


def palette_of(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(indexes (H, W) uint16, value-sorted palette (k, C) uint8) of an (H, W, C) image,
    or None if it has more than :data:`MAX_COLOURS` colours."""
    flat = pixels.reshape(-1, pixels.shape[2])
    values, inverse = np.unique(pack_colours(flat), return_inverse=True)
    if len(values) > MAX_COLOURS:
        return None
    colours = np.stack([(values >> np.uint32(8 * (pixels.shape[2] - 1 - c))) & np.uint32(255)
                        for c in range(pixels.shape[2])], axis=1).astype(np.uint8)
    rank = np.empty(len(values), np.int64)
    rank[index_order(colours)] = np.arange(len(values))
    return rank[inverse.reshape(-1)].reshape(pixels.shape[:2]).astype(np.uint16), colours


def _mixer_start(v18: bool) -> int:
    return entropy.MIXER_START if v18 else entropy.MIXER_START_V5


def pack_palette(colours: np.ndarray, modelled: bool = True, short_count: bool = True,
                 rice: bool = True) -> bytes:
    """The number of colours k, then the planar first differences (mod 256) of the
    value-sorted colours: one index stream of a (planes, k) plane of 256 colours when
    ``modelled`` (format v11+), else zlib'd. k is LEB128 k - 1 when ``short_count``
    (format v17+), else a u32. With ``rice`` (format v18+) the head is LEB128
    2 (k - 1) + method, and a palette of at most :data:`rice_palette.MAX_COLOURS` colours
    is written as Golomb-Rice codes in index order (method :data:`RICE`) where that is
    smaller than the model's differences (method :data:`MODELLED`, whose mixers then start
    as format v18's)."""
    deltas = np.ascontiguousarray(np.diff(colours.astype(np.int16), axis=0, prepend=0).astype(np.uint8).T)
    mixer_start = _mixer_start(rice and short_count)
    coded = entropy.encode_indexes(deltas, 256, mixer_start=mixer_start) if modelled else zlib.compress(
        deltas.tobytes(), 9)
    if not (rice and short_count):
        return (leb128.pack(len(colours) - 1) if short_count else struct.pack("<I", len(colours))) + coded
    best = leb128.pack(2 * (len(colours) - 1) + MODELLED) + coded
    if len(colours) <= rice_palette.MAX_COLOURS:
        written = leb128.pack(2 * (len(colours) - 1) + RICE) + rice_palette.encode(colours[index_order(colours)])
        if len(written) < len(best):
            return written
    return best


def _palette_count(payload: bytes, short_count: bool, rice: bool) -> tuple[int, int, int]:
    """(k, method, where the colours start) of a palette section."""
    if not short_count:
        if len(payload) < 4:
            raise PaletteError("truncated palette section")
        return struct.unpack_from("<I", payload, 0)[0], MODELLED, 4
    try:
        head, start = leb128.unpack(payload, 0, limit=2 * MAX_COLOURS - 1 if rice else MAX_COLOURS - 1)
    except leb128.Leb128Error as exc:
        raise PaletteError(f"the palette's size is {exc.reason}") from None
    return (head // 2 + 1, head % 2, start) if rice else (head + 1, MODELLED, start)


def unpack_palette(payload: bytes, planes: int, modelled: bool = True, short_count: bool = True,
                   rice: bool = True) -> np.ndarray:
    """The value-sorted palette of a palette section (``modelled``, ``short_count`` and
    ``rice`` as packed); :class:`PaletteError` if malformed."""
    k, method, start = _palette_count(payload, short_count, rice)
    if not 1 <= k <= MAX_COLOURS:
        raise PaletteError(f"a palette of {k} colours")
    if method == RICE:
        return _unpack_rice(payload[start:], k, planes)
    if modelled:
        try:
            deltas = entropy.decode_indexes(payload[start:], planes, k, 256,
                                            mixer_start=_mixer_start(rice and short_count)).T
        except entropy.CorruptStreamError as exc:
            raise PaletteError(f"palette: {exc}") from None
    else:
        try:
            inflater = zlib.decompressobj()
            raw = inflater.decompress(payload[start:], k * planes + 1)
        except zlib.error as exc:
            raise PaletteError(f"palette: {exc}") from None
        if len(raw) != k * planes or not inflater.eof or inflater.unused_data:
            raise PaletteError("the palette has the wrong size")
        deltas = np.frombuffer(raw, np.uint8).reshape(planes, k).T
    colours = (np.cumsum(deltas.astype(np.int64), axis=0) & 255).astype(np.uint8)
    if k > 1 and not (np.diff(pack_colours(colours).astype(np.int64)) > 0).all():
        raise PaletteError("the palette is not sorted")
    return colours


def _unpack_rice(payload: bytes, k: int, planes: int) -> np.ndarray:
    """The value-sorted palette of a Rice-coded one (method :data:`RICE`), whose colours
    must be distinct and in index order."""
    if k > rice_palette.MAX_COLOURS:
        raise PaletteError(f"a Rice-coded palette of {k} colours")
    try:
        colours = rice_palette.decode(payload, k, planes)
    except rice_palette.RicePaletteError as exc:
        raise PaletteError(str(exc)) from None
    values = pack_colours(colours)
    if len(np.unique(values)) != k or not (index_order(colours) == np.arange(k)).all():
        raise PaletteError("the palette is not in index order")
    return colours[np.argsort(values)]


def encode(pixels: np.ndarray, fmt: StreamFormat | None = None) -> dict[bytes, bytes] | None:
    """The sections coding an (H, W, C) uint8 image, or None if it has too many colours,
    as format ``fmt`` codes them (the version written when None): its ``match_models``
    (v11+: the palette modelled, the indexes with the match model), ``short_palette_count``
    (v17+) and ``rice_palette`` (v18+: Rice-coded palettes, lighter mixers)."""
    fmt = fmt or _written_format()
    found = palette_of(pixels)
    if found is None:
        return None
    indexes, colours = found
    return {PALETTE_TAG: pack_palette(colours, fmt.match_models, fmt.short_palette_count, fmt.rice_palette),
            INDEX_TAG: entropy.encode_indexes(indexes, len(colours), fmt.match_models,
                                              _mixer_start(fmt.rice_palette))}


def decode(sections: dict[bytes, bytes], height: int, width: int, planes: int,
           fmt: StreamFormat | None = None) -> np.ndarray:
    """The (height, width, planes) pixels of an indexed file's sections, coded as format
    ``fmt`` codes them (the version written when None). Raises :class:`PaletteError` or
    :class:`lora_codec.entropy.CorruptStreamError`."""
    fmt = fmt or _written_format()
    if PALETTE_TAG not in sections or INDEX_TAG not in sections:
        raise PaletteError("the palette or index section is missing")
    colours = unpack_palette(sections[PALETTE_TAG], planes, fmt.match_models, fmt.short_palette_count,
                             fmt.rice_palette)
    indexes = entropy.decode_indexes(sections[INDEX_TAG], height, width, len(colours), fmt.match_models,
                                     _mixer_start(fmt.rice_palette))
    return np.ascontiguousarray(colours[index_order(colours)][indexes])


def _written_format() -> StreamFormat:
    from .groups import StreamFormat

    return StreamFormat.of()
