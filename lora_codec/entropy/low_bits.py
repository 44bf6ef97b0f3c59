"""The low bits of 16-bit samples under the native online context-mixing model
(``native/low_bits_model.hpp``), given their high part: validated numpy in, bytes out.

>>> import numpy as np
>>> from lora_codec import entropy
>>> ramp = np.arange(8 * 12 * 3, dtype=np.int64).reshape(8, 12, 3) * 37  # 10-bit values
>>> high, low = (ramp >> 2).astype(np.uint8), (ramp & 3).astype(np.uint8)
>>> data = entropy.encode_low_bits(high, low, bits=2)
>>> bool((entropy.decode_low_bits(data, high, bits=2) == low).all())
True
"""

from __future__ import annotations

import numpy as np

from . import _native
from .coder import CorruptStreamError

MAX_LOW_BITS = 8
# The model's counter tables hold at most 2 ** table_bits entries each: 16 in the streams
# of format version 15 and later, 20 in those of versions 13 and 14.
TABLE_BITS = 16
TABLE_BITS_V13 = 20


def _check(high, bits: int, table_bits: int) -> tuple[np.ndarray, int]:
    if table_bits not in (TABLE_BITS, TABLE_BITS_V13):
        raise ValueError(f"table_bits must be {TABLE_BITS} or {TABLE_BITS_V13}, got {table_bits!r}")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= MAX_LOW_BITS:
        raise ValueError(f"bits must be an integer in [1, {MAX_LOW_BITS}], got {bits!r}")
    arr = np.asarray(high)
    if arr.dtype != np.uint8 or arr.ndim != 3 or not 1 <= arr.shape[2] <= 4:
        raise ValueError(f"high must be a (H, W, 1..4) uint8 array, got {arr.dtype} of shape {arr.shape}")
    return np.ascontiguousarray(arr), int(bits)


def encode_low_bits(high, low, bits: int, table_bits: int = TABLE_BITS) -> bytes:
    """A framed stream coding ``low`` (values under ``2 ** bits``) below ``high``, both
    (H, W, C) uint8 arrays of one shape; ``table_bits`` as the stream's format version
    wants (:data:`TABLE_BITS`, or :data:`TABLE_BITS_V13` for versions 13 and 14)."""
    high, bits = _check(high, bits, table_bits)
    low = np.asarray(low)
    if low.dtype != np.uint8 or low.shape != high.shape:
        raise ValueError(f"low must be a uint8 array of the high part's shape {high.shape}, "
                         f"got {low.dtype} of shape {low.shape}")
    if low.size and int(low.max()) >> bits:
        raise ValueError(f"a low value has more than {bits} bits")
    return _native.encode_low_bits(high, np.ascontiguousarray(low), bits, table_bits)


def decode_low_bits(data: bytes, high, bits: int, table_bits: int = TABLE_BITS) -> np.ndarray:
    """The (H, W, C) uint8 low bits that a stream of :func:`encode_low_bits` codes below
    ``high`` (with the same ``table_bits``); raises :class:`CorruptStreamError` when the
    stream is inconsistent or too short."""
    high, bits = _check(high, bits, table_bits)
    low, corrupt = _native.decode_low_bits(bytes(data), high, bits, table_bits)
    if corrupt:
        raise CorruptStreamError("the low-bit stream is corrupt or truncated")
    return low
