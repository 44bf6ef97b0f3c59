"""16-bit images as 8-bit ones: mode ``deep`` (format version 13).

The learned model codes 8-bit samples. A 16-bit image is split into its high image, 8
bits a sample, coded as any image is (its own .lcz file inside the ``DEEP`` section),
and at most 8 low bits a sample, and joined again exactly:

* **table**: each sample's low byte is a function of its high byte, as in 8-bit images
  widened to 16 bits (``v * 257``, ``v << 8``): the high bytes are coded, and the 256-entry
  table gives the low byte back;
* **shift**: otherwise the bits that are zero in every sample at the bottom are dropped
  (10, 12 or 14 bits stored in 16), and the samples that are left, if wider than 8 bits,
  are cut into their top 8 bits (coded as an image) and the ``low_bits`` below them. The
  high image is decoded first; the low bits are then coded under it by the native online
  context mixing of ``native/low_bits_model.hpp``, whose contexts see the high bits of
  every sample and the full values of those before (:func:`encode_low`), or, when that
  is not smaller, stored as they are. From format version 14 an image of several stripes
  (``groups.stripes``: 256 rows) codes each stripe's low bits on its own, so that they
  decode on several threads; from version 15 the model's tables are smaller (2^16
  counters each instead of 2^20), which keeps them in the caches.

>>> import numpy as np
>>> wide = np.arange(24, dtype=np.uint16).reshape(2, 4, 3) * 257  # 8-bit values widened
>>> layout, high, low = split(wide)
>>> layout.table is not None, low is None, bool(np.array_equal(join(layout, high, low), wide))
(True, True, True)
>>> ten_bits = (np.arange(1024, dtype=np.uint16).reshape(32, 32, 1)) << 6  # 10 bits, MSB-aligned
>>> layout, high, low = split(ten_bits)
>>> layout.shift, layout.low_bits, bool(np.array_equal(join(layout, high, low), ten_bits))
(6, 2, True)
>>> code = encode_low(high, low, layout.low_bits)
>>> bool(np.array_equal(decode_low(code, high, layout.low_bits), low))
True
>>> unpack(pack(layout, b"high file", code)) == (layout, b"high file", code)
True
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .. import container, entropy
from .groups import StreamFormat, join_streams, map_on_threads, split_streams, stripes

TAG = b"DEEP"
BIT_DEPTH = container.DEEP_BIT_DEPTH
# payload version (1), shift, low bits, whether a table follows, length of the high
# image's file; then the table (256 bytes), the high image's file, the low image's file
_PAYLOAD = struct.Struct("<BBBBI")
_PAYLOAD_VERSION = 1
# How the low bits are kept: as they are (K bits a sample, MSB first, packed), as a
# framed stream of the low-bit model, or (version 14) as one such stream per stripe of
# rows, joined as a pixel section joins its stripes' streams.
LOW_STORED, LOW_MODELLED, LOW_MODELLED_STRIPES = 0, 1, 2


class DepthError(ValueError):
    """A ``DEEP`` section that cannot be read."""


@dataclass(frozen=True)
class Layout:
    """How a 16-bit image's samples are made of its 8-bit images."""

    shift: int = 0                     # zero bits at the bottom of every sample
    low_bits: int = 0                  # bits of each sample in the low image (0: no low image)
    table: bytes | None = None         # low byte of each high byte (then shift = low_bits = 0)

    def __post_init__(self) -> None:
        if self.table is not None and (len(self.table) != 256 or self.shift or self.low_bits):
            raise DepthError("a low-byte table is 256 bytes and comes without a shift or low bits")
        if not (0 <= self.low_bits <= 8 and 0 <= self.shift < BIT_DEPTH
                and (self.low_bits == 0 or self.shift + self.low_bits + 8 <= BIT_DEPTH)):
            raise DepthError(f"a shift of {self.shift} and {self.low_bits} low bits do not fit 16-bit samples")


def split(samples: np.ndarray) -> tuple[Layout, np.ndarray, np.ndarray | None]:
    """(layout, high image, low image or None) of a uint16 array; :func:`join` inverts it."""
    samples = np.asarray(samples)
    if samples.dtype != np.uint16:
        raise ValueError(f"16-bit samples are uint16, got {samples.dtype}")
    ones = int(np.bitwise_or.reduce(samples, axis=None)) if samples.size else 0
    shift = (ones & -ones).bit_length() - 1 if ones else 0
    values = samples >> shift
    width = int(values.max()).bit_length() if values.size else 0
    if width <= 8:
        return Layout(shift=shift), values.astype(np.uint8), None
    high = (samples >> 8).astype(np.uint8)
    table = np.zeros(256, np.uint8)
    table[high] = samples & 0xFF
    if np.array_equal(table[high], (samples & 0xFF).astype(np.uint8)):
        return Layout(table=table.tobytes()), high, None
    low_bits = width - 8
    return (Layout(shift=shift, low_bits=low_bits), (values >> low_bits).astype(np.uint8),
            (values & ((1 << low_bits) - 1)).astype(np.uint8))


def join(layout: Layout, high: np.ndarray, low: np.ndarray | None) -> np.ndarray:
    """The uint16 samples of the 8-bit images ``high`` and ``low`` (None without low bits)."""
    if (low is None) != (layout.low_bits == 0):
        raise DepthError("a low image goes with low bits, and only with them")
    if low is not None and (low.shape != high.shape or int(low.max(initial=0)) >> layout.low_bits):
        raise DepthError(f"the low image is not one of {layout.low_bits}-bit values of the high image's size")
    if layout.table is not None:
        return (high.astype(np.uint16) << 8) | np.frombuffer(layout.table, np.uint8)[high]
    values = high.astype(np.uint32) << layout.low_bits
    if low is not None:
        values |= low
    values <<= layout.shift
    if int(values.max(initial=0)) >> BIT_DEPTH:
        raise DepthError(f"the high image's values shifted by {layout.shift} do not fit 16 bits")
    return values.astype(np.uint16)


def encode_low(high: np.ndarray, low: np.ndarray, bits: int, threads: int = 1) -> bytes:
    """The low bits' code: a method byte, then the low-bit model's streams (one per
    stripe, coded on up to ``threads`` threads) or, when that is not smaller, the bits as
    they are."""
    bounds = stripes(high.shape[0])
    parts = map_on_threads(lambda b: entropy.encode_low_bits(high[b[0]:b[1]], low[b[0]:b[1]], bits), bounds, threads)
    if len(parts) == 1:
        modelled = bytes([LOW_MODELLED]) + parts[0]
    else:
        modelled = bytes([LOW_MODELLED_STRIPES]) + join_streams(parts)
    stored = np.packbits((low.reshape(-1, 1) >> np.arange(bits - 1, -1, -1, dtype=np.uint8)) & 1).tobytes()
    return modelled if len(modelled) < 1 + len(stored) else bytes([LOW_STORED]) + stored


def decode_low(code: bytes, high: np.ndarray, bits: int, version: int = container.VERSION,
               threads: int = 1) -> np.ndarray:
    """The low bits (the high image's shape) that :func:`encode_low` coded, in a file of
    format ``version``."""
    fmt = StreamFormat.of(version)
    methods = (LOW_STORED, LOW_MODELLED) + ((LOW_MODELLED_STRIPES,) if fmt.low_bit_stripes else ())
    if not code or code[0] not in methods:
        raise DepthError(f"unknown low-bit method {code[0] if code else None}")
    table_bits = fmt.low_bit_table_bits
    if code[0] == LOW_MODELLED:
        return _decode_stream(code[1:], high, bits, table_bits)
    if code[0] == LOW_MODELLED_STRIPES:
        bounds = stripes(high.shape[0])
        try:
            parts = split_streams(code[1:], len(bounds))
        except ValueError:
            raise DepthError("the low bits' stripe lengths are corrupt") from None
        low = np.empty_like(high)

        def decode_stripe(item):
            (y0, y1), stream = item
            low[y0:y1] = _decode_stream(stream, high[y0:y1], bits, table_bits)

        map_on_threads(decode_stripe, list(zip(bounds, parts)), threads)
        return low
    count = high.size * bits
    if len(code) - 1 != (count + 7) // 8:
        raise DepthError(f"the stored low bits are {len(code) - 1} bytes, not {(count + 7) // 8}")
    flat = np.unpackbits(np.frombuffer(code, np.uint8, offset=1))
    if flat[count:].any():
        raise DepthError("the stored low bits' padding is not zero")
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.uint16)
    return (flat[:count].reshape(-1, bits) @ weights).astype(np.uint8).reshape(high.shape)


def _decode_stream(stream: bytes, high: np.ndarray, bits: int, table_bits: int) -> np.ndarray:
    try:
        return entropy.decode_low_bits(stream, np.ascontiguousarray(high), bits, table_bits)
    except entropy.CorruptStreamError as exc:
        raise DepthError(str(exc)) from None


def pack(layout: Layout, high_file: bytes, low_code: bytes = b"") -> bytes:
    """The ``DEEP`` payload: the layout, the high image's .lcz file, the low bits' code."""
    head = _PAYLOAD.pack(_PAYLOAD_VERSION, layout.shift, layout.low_bits, layout.table is not None, len(high_file))
    return head + (layout.table or b"") + bytes(high_file) + bytes(low_code)


def unpack(payload: bytes) -> tuple[Layout, bytes, bytes]:
    """(layout, the high image's .lcz file, the low bits' code: empty without low bits)
    of a ``DEEP`` payload."""
    if len(payload) < _PAYLOAD.size:
        raise DepthError("the 16-bit section is truncated")
    version, shift, low_bits, has_table, length = _PAYLOAD.unpack_from(payload)
    if version != _PAYLOAD_VERSION:
        raise DepthError(f"unknown 16-bit payload version {version}")
    if has_table not in (0, 1):
        raise DepthError(f"the 16-bit section's table flag is {has_table}")
    pos = _PAYLOAD.size + 256 * has_table
    if pos + length > len(payload):
        raise DepthError("the 16-bit section's high image is truncated")
    layout = Layout(shift=shift, low_bits=low_bits, table=bytes(payload[_PAYLOAD.size : pos]) if has_table else None)
    high, low = bytes(payload[pos : pos + length]), bytes(payload[pos + length :])
    if bool(low) != bool(low_bits):
        raise DepthError("the 16-bit section's low bits do not match its layout")
    return layout, high, low
