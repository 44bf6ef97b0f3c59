"""Colour groups: the colour planes (L or RGB) and the alpha plane are each coded as one
group, with its own latent stream and pixel stream.

For every group, the tiles' latents are decoded (exact integer UNet decoder) into
per-pixel features band by band, and the native causal predictor codes the pixels of the
band. Engine models code the planes of a colour group in the order G, R, B; the arrays
here are always in the image's order, and the permutation stays inside this module.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from .. import container, entropy, exact
from ..entropy.low_bits import TABLE_BITS, TABLE_BITS_V13
from ..base_layer import BaseLayer
from ..grids import coding_order
from ..registry import LoadedModel
from .latents import code_latents, decode_latents, encode_latents, latent_shape
from .tiles import Tile, tile_grid

GROUPS = {
    "L": (("colour", (0,)),),
    "LA": (("colour", (0,)), ("alpha", (1,))),
    "RGB": (("colour", (0, 1, 2)),),
    "RGBA": (("colour", (0, 1, 2)), ("alpha", (3,))),
}


# From format v8 the pixels of a group are coded in stripes of this many rows (a multiple
# of the model's tile size), each an independent stream with a fresh predictor, so that
# stripes can be coded in parallel; a last stripe of fewer than half as many rows joins
# the one before (a short stripe would pay a cold start for little parallel work).
# Formats v4 to v7 used stripes of STRIPE_ROWS_V4 rows and kept a short last one.
STRIPE_ROWS = 256
# Format v17 sizes the bit refinement's context tables by the stream: at least this many
# buckets a sub-pixel (a sub-pixel reaches at most two buckets of each table), between
# 2^MIN_TABLE_BITS and 2^MAX_TABLE_BITS, so that a small image does not set up 36 MiB of
# tables; streams of over 4096 sub-pixels (a 37 x 37 RGB image) get the largest, as
# before, and 8 a sub-pixel left the small images measured the same size (docs/design.md).
REFINEMENT_BUCKETS_PER_SUBPIXEL = 8
STRIPE_ROWS_V4 = 1024


def stripes(height: int, rows: int = STRIPE_ROWS, shortest_last: int = STRIPE_ROWS // 2) -> list[tuple[int, int]]:
    """The [y0, y1) rows of each stripe of a group of ``height`` rows: stripes of ``rows``
    rows, the last joined to the one before when it has fewer than ``shortest_last``."""
    out = [(y, min(height, y + rows)) for y in range(0, height, rows)]
    if len(out) > 1 and out[-1][1] - out[-1][0] < shortest_last:
        out[-2:] = [(out[-2][0], height)]
    return out


@dataclass(frozen=True)
class StreamFormat:
    """How a format version codes its streams: framed (v2+), calibrated pixel streams
    and pixel stripes of 1024 rows (v4+), pixel streams through the bit refinement (v5+),
    rc mode on an engine model, whose online engine reads the reconstruction (v6+), rc
    base layers with deflated container boxes (v7+, base layer payload version 2),
    stripes of 256 rows (v8+), adapters naming their layers by number (v9+, adapter
    payload version 2), the header's fast flag, which codes without the bit
    refinement (v10+), the match models (v11+): the bit refinement's, and mode
    indexed's, whose palette is also coded by its context-mixing model, and the header's
    one-stripe flag, which codes each group as a single stream (v12+), mode deep's low
    bits in stripes (v14+) and with the low-bit model's smaller tables (v15+), and the
    header's no-match flag, which codes the bit refinement without its match model
    (v16+), the bit refinement's tables sized by the stream and mode indexed's
    palette size as LEB128 (v17+), and mode indexed's Rice-coded palettes and lighter
    mixers (v18+). The one place that maps versions to these features."""

    framed: bool
    calibrated: bool
    striped: bool
    refined: bool = False
    guided_engine: bool = False
    base_layer_payload: int = 1
    adapter_payload: int = 1
    stripe_rows: int = STRIPE_ROWS
    shortest_last_stripe: int = STRIPE_ROWS // 2
    fast: bool = False  # the header's fast flag (v10+): refined is then False
    match_models: bool = False  # v11+: mode indexed models its palette and reads a match model, and so may the bit refinement
    no_match: bool = False  # the header's no-match flag (v16+, refined streams): the bit refinement reads none
    one_stripe: bool = False  # the header's one-stripe flag (v12+): a group is one stream
    low_bit_stripes: bool = False  # mode deep: the low bits may be coded per stripe (v14+)
    low_bit_table_bits: int = TABLE_BITS_V13  # the low-bit model's tables' size (v15+: TABLE_BITS)
    sized_tables: bool = False  # v17+: the bit refinement's tables sized by the stream (refinement_table_bits)
    short_palette_count: bool = False  # v17+: mode indexed's palette gives its size as LEB128, not a u32
    rice_palette: bool = False  # v18+: mode indexed's palette may be Rice codes; its model's mixers start lighter

    @classmethod
    def of(cls, version: int = container.VERSION, flags: int = 0) -> "StreamFormat":
        """The streams of a file of this version whose header has these flags (from
        version 10, :data:`container.FLAG_FAST` turns the bit refinement off; from version
        12, :data:`container.FLAG_ONE_STRIPE` makes each group one stream; from version 16,
        :data:`container.FLAG_NO_MATCH` turns the bit refinement's match model off)."""
        v8 = version >= 8
        fast = version >= 10 and bool(flags & container.FLAG_FAST)
        no_match = version >= 16 and not fast and bool(flags & container.FLAG_NO_MATCH)
        return cls(framed=version >= 2, calibrated=version >= 4, striped=version >= 4,
                   refined=version >= 5 and not fast, fast=fast, guided_engine=version >= 6,
                   base_layer_payload=2 if version >= 7 else 1,
                   adapter_payload=2 if version >= 9 else 1,
                   stripe_rows=STRIPE_ROWS if v8 else STRIPE_ROWS_V4,
                   shortest_last_stripe=STRIPE_ROWS // 2 if v8 else 0, match_models=version >= 11,
                   no_match=no_match,
                   one_stripe=version >= 12 and bool(flags & container.FLAG_ONE_STRIPE),
                   low_bit_stripes=version >= 14,
                   low_bit_table_bits=TABLE_BITS if version >= 15 else TABLE_BITS_V13,
                   sized_tables=version >= 17, short_palette_count=version >= 17,
                   rice_palette=version >= 18)

    def refinement_table_bits(self, subpixels: int) -> int:
        """The bit refinement's tables for a stream of this many sub-pixels: 2^bits
        buckets each, the fewest that hold REFINEMENT_BUCKETS_PER_SUBPIXEL a sub-pixel, in
        [2^MIN_TABLE_BITS, 2^MAX_TABLE_BITS] (v17+); before v17 always the largest."""
        if not self.sized_tables:
            return entropy.MAX_TABLE_BITS
        wanted = (max(1, subpixels * REFINEMENT_BUCKETS_PER_SUBPIXEL) - 1).bit_length()
        return min(max(wanted, entropy.MIN_TABLE_BITS), entropy.MAX_TABLE_BITS)

    @property
    def matched(self) -> bool:
        """Whether the bit refinement reads its match model (v11+, refined streams, no
        no-match flag)."""
        return self.match_models and self.refined and not self.no_match

    @property
    def header_flags(self) -> int:
        """The header flags that say how this format codes its streams (the adapter flag
        is the sections' business)."""
        return ((container.FLAG_FAST if self.fast else 0) | (container.FLAG_ONE_STRIPE if self.one_stripe else 0)
                | (container.FLAG_NO_MATCH if self.no_match else 0))

    def in_one_stripe(self) -> "StreamFormat":
        """This format with each group coded as a single stream (the one-stripe flag of
        version 12)."""
        return replace(self, one_stripe=True)

    def without_match(self) -> "StreamFormat":
        """This format with the bit refinement's match model off (the no-match flag of
        version 16); a format without the match model is returned as it is."""
        return replace(self, no_match=True) if self.matched else self

    def fits_tile(self, tile: int) -> bool:
        """Whether a model of ``tile``-row tiles can code in this format (its stripes must
        be whole bands of tiles)."""
        return not self.striped or self.one_stripe or self.stripe_rows % tile == 0

    def stripes(self, height: int) -> list[tuple[int, int]]:
        """The [y0, y1) rows of each independently coded pixel stream of a group."""
        if not self.striped or self.one_stripe:
            return [(0, height)]
        return stripes(height, self.stripe_rows, self.shortest_last_stripe)


def join_streams(streams: list[bytes]) -> bytes:
    """One pixel section from the stripes' streams: each but the last preceded by its
    length (unsigned LEB128); a single stream is stored as it is."""
    out = bytearray()
    for data in streams[:-1]:
        n = len(data)
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                break
        out += data
    return bytes(out + streams[-1])


def split_streams(section: bytes, count: int) -> list[bytes]:
    """Inverse of :func:`join_streams`; a ValueError if the lengths do not fit."""
    streams, pos = [], 0
    for _ in range(count - 1):
        n, shift = 0, 0
        while True:
            if pos >= len(section) or shift > 56:
                raise ValueError("the pixel section's stripe lengths are corrupt")
            byte = section[pos]
            pos += 1
            n |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if pos + n > len(section):
            raise ValueError("the pixel section's stripe lengths are corrupt")
        streams.append(section[pos : pos + n])
        pos += n
    return streams + [section[pos:]]


def map_on_threads(fn, items: list, threads: int, on_done=None) -> list:
    """fn over items, on up to ``threads`` threads (the native coder releases the GIL);
    ``on_done()``, if given, runs after each call that returns (on its thread). When a call
    raises, ``Executor.map`` cancels the calls not yet started (those running finish) and
    raises its error."""
    def call(x):
        result = fn(x)
        if on_done is not None:
            on_done()
        return result

    if threads <= 1 or len(items) <= 1:
        return [call(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(call, items))


def group_planes(colour: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """(group name, plane indices) of a colour type."""
    return GROUPS[colour]


@dataclass
class CodingWeights:
    """The integer weights that the exact path codes with (base model, maybe adapted)."""

    predictor: entropy.PredictorWeights
    decoder: exact.DecoderIntegers
    guide: exact.GuideIntegers | None = None

    @classmethod
    def of(cls, model: LoadedModel, deltas: dict | None = None) -> "CodingWeights":
        if not deltas:
            return cls(model.predictor_weights, model.decoder_integers, model.guide_integers)
        pred = {k[len("predictor."):]: v for k, v in deltas.items() if k.startswith("predictor.")}
        dec = {k[len("decoder."):]: v for k, v in deltas.items() if k.startswith("decoder.")}
        return cls(exact.predictor_weights(exact.sub_state(model.state, "predictor."), model.cfg.features,
                                           model.predictor_kind, pred),
                   exact.decoder_integers(exact.sub_state(model.state, "decoder."), dec), model.guide_integers)


@dataclass
class GroupCode:
    """The coded sections of one colour group."""

    z: bytes
    pixels: bytes
    base: BaseLayer | None = None

    @property
    def size(self) -> int:
        return len(self.z) + len(self.pixels) + (self.base.packed_size if self.base else 0)


def _order(model: LoadedModel, planes: int) -> list[int]:
    return list(coding_order(planes)) if model.engine else list(range(planes))


def in_coding_order(model: LoadedModel, planes: np.ndarray) -> np.ndarray:
    """A group's planes (H, W, P) in the order the model codes them."""
    return np.ascontiguousarray(planes[:, :, _order(model, planes.shape[2])])


def group_latents(model: LoadedModel, planes: np.ndarray) -> list[np.ndarray]:
    """The float encoder's latents of one group (planes in image order), tile by tile."""
    grid = tile_grid(planes.shape[0], planes.shape[1], model.cfg.tile)
    return encode_latents(model, in_coding_order(model, planes), grid)


class ExactTileFeatures:
    """The exact UNet decoder's features of tiles. Each tile shape's features of an
    all-zero latent are computed once, and a tile's own only near its non-zero latents
    (in a photo most latents are zero): the same integers as
    :func:`exact.decode_features`, in a fraction of the time. Stripe threads may share one."""

    def __init__(self, decoder: exact.DecoderIntegers):
        self._decoder = decoder
        self._zero: dict[tuple, np.ndarray] = {}
        self._lock = threading.Lock()

    def __call__(self, z: np.ndarray, levels: int, rows: int, width: int) -> np.ndarray:
        key = (z.shape, levels, rows, width)
        with self._lock:
            zero = self._zero.get(key)
        if zero is None:
            zero = exact.decode_features(self._decoder, np.zeros(z.shape, np.int32), levels, rows, width)
            with self._lock:
                self._zero[key] = zero
        return exact.decode_features_near(self._decoder, z, levels, rows, width, zero)


def band_features(model: LoadedModel, weights: CodingWeights, band: list[Tile],
                   latents: list[np.ndarray], width: int, guide: np.ndarray | None = None,
                   tiles: ExactTileFeatures | None = None) -> np.ndarray:
    """The head's features (rows, width, F) int16 of one band of tiles: the UNet
    decoder's of each tile's latents (through ``tiles`` when given), combined with the
    guide network's of the base layer ``guide`` for rc models that read one."""
    rows = band[0].y1 - band[0].y0
    tiles = tiles or ExactTileFeatures(weights.decoder)
    feats = np.zeros((rows, width, model.cfg.features), dtype=np.int16)
    for t, z in zip(band, latents):
        levels = latent_shape(model, t)[0]
        feats[:, t.x0 : t.x1] = tiles(z, levels, rows, t.x1 - t.x0)
    if guide is not None and weights.guide is not None:  # an engine model reads the guide in its engine
        feats = exact.combine_features(feats, exact.guide_features(weights.guide, guide, band[0].y0, band[0].y1))
    return feats


def _check_guide(model: LoadedModel, guide: np.ndarray | None, shape: tuple) -> None:
    if model.guided and guide is None:
        raise ValueError("an rc model of the MED kind codes only with a base-layer reconstruction")
    if guide is not None and not model.reads_base_layer:
        raise ValueError("this model cannot read a base-layer reconstruction (a MED model without a guide network)")
    if guide is not None and guide.shape != shape:
        raise ValueError(f"the reconstruction is {guide.shape}, the planes {shape}")


def _check_tile(model: LoadedModel, fmt: StreamFormat) -> None:
    if not fmt.fits_tile(model.cfg.tile):
        raise ValueError(f"the model's tile ({model.cfg.tile} rows) does not divide the format's stripes "
                         f"({fmt.stripe_rows} rows)")


def encode_group(model: LoadedModel, weights: CodingWeights, planes: np.ndarray,
                 latents: list[np.ndarray] | None = None, guide: np.ndarray | None = None,
                 threads: int = 1, fmt: StreamFormat = StreamFormat.of(), on_stripe=None) -> tuple[bytes, bytes]:
    """(latent stream, pixel section) of one colour group (H, W, P) uint8 in image order,
    in the current format; ``latents`` from :func:`group_latents` (computed here if None);
    ``guide`` is the base layer's reconstruction (rc models only). Stripes are coded on up
    to ``threads`` threads, in ``fmt``, a :class:`StreamFormat` of the current version
    (whose :attr:`~StreamFormat.header_flags` the file's header must carry), and
    ``on_stripe()`` runs as each is done."""
    _check_tile(model, fmt)
    _check_guide(model, guide, planes.shape)
    height, width, _ = planes.shape
    grid = tile_grid(height, width, model.cfg.tile)
    if latents is None:
        latents = group_latents(model, planes)
    coded = in_coding_order(model, planes)
    guide = None if guide is None else in_coding_order(model, guide)
    z_bytes = code_latents(model, latents)
    tiles = ExactTileFeatures(weights.decoder)

    def code_stripe(rows: tuple[int, int]) -> bytes:
        y0, y1 = rows
        part, part_guide = coded[y0:y1], None if guide is None else guide[y0:y1]
        errors = np.zeros(part.shape, dtype=np.int16)
        encoder = entropy.PixelEncoder(weights.predictor, fmt.calibrated, fmt.refined, fmt.matched,
                                       fmt.refinement_table_bits(part.size))
        for band, band_latents in _bands(grid, latents, y0, y1):
            feats = band_features(model, weights, band, band_latents, width, guide, tiles)
            encoder.code_rows(part, errors, feats, band[0].y0 - y0, band[0].y0 - y0, band[0].y1 - y0, part_guide)
        return encoder.finish()

    return z_bytes, join_streams(map_on_threads(code_stripe, fmt.stripes(height), threads, on_stripe))


def _bands(grid: list[list[Tile]], latents: list[np.ndarray], y0: int, y1: int):
    """(band, its tiles' latents) for the bands of grid inside rows [y0, y1)."""
    pos = 0
    for band in grid:
        if y0 <= band[0].y0 < y1:
            yield band, latents[pos : pos + len(band)]
        pos += len(band)


def decode_group(model: LoadedModel, weights: CodingWeights, z_bytes: bytes, pixel_bytes: bytes,
                 height: int, width: int, planes: int, guide: np.ndarray | None = None,
                 fmt: StreamFormat = StreamFormat.of(), threads: int = 1, on_stripe=None) -> np.ndarray:
    """The (H, W, P) pixels of one colour group, in image order. A corrupt or exhausted
    stream stops the decoding within a row and raises :class:`entropy.CorruptStreamError`;
    ``fmt`` is the file's :class:`StreamFormat`. Stripes are decoded on up to
    ``threads`` threads, and ``on_stripe()`` runs as each is done."""
    _check_tile(model, fmt)
    _check_guide(model, guide, (height, width, planes))
    grid = tile_grid(height, width, model.cfg.tile)
    latents = decode_latents(model, z_bytes, grid, fmt.framed)
    coded = np.zeros((height, width, planes), dtype=np.uint8)
    guide = None if guide is None else in_coding_order(model, guide)
    parts = fmt.stripes(height)
    tiles = ExactTileFeatures(weights.decoder)
    try:
        streams = split_streams(pixel_bytes, len(parts))
    except ValueError as exc:
        raise entropy.CorruptStreamError(str(exc)) from None

    def decode_stripe(job: tuple[tuple[int, int], bytes]) -> None:
        (y0, y1), data = job
        part, part_guide = coded[y0:y1], None if guide is None else guide[y0:y1]
        errors = np.zeros(part.shape, dtype=np.int16)
        decoder = entropy.PixelDecoder(weights.predictor, data, fmt.framed, fmt.calibrated, fmt.refined,
                                       fmt.matched, fmt.refinement_table_bits(part.size))
        for band, band_latents in _bands(grid, latents, y0, y1):
            feats = band_features(model, weights, band, band_latents, width, guide, tiles)
            decoder.code_rows(part, errors, feats, band[0].y0 - y0, band[0].y0 - y0, band[0].y1 - y0, part_guide)
            decoder.check()

    map_on_threads(decode_stripe, list(zip(parts, streams)), threads, on_stripe)
    out = np.empty_like(coded)
    out[:, :, _order(model, planes)] = coded
    return out
