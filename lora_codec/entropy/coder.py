"""Symbol coding with the native range coder: validated numpy in, bytes out."""

from __future__ import annotations

import numpy as np

from . import _native

MAX_PRECISION: int = _native.MAX_PRECISION
MIXTURE_PRECISION: int = _native.MIXTURE_PRECISION
MAX_COMPONENTS: int = _native.MAX_COMPONENTS
MAX_ALPHABET = 1 << 16
_MEAN_LIMIT = 1 << 28


# Fewest bits any 8-bit sub-pixel can cost under a mixture: the likeliest symbol has a
# frequency of at most 2^24 - 255 (every other symbol gets at least 1).
MIN_SUBPIXEL_BITS = -float(np.log2(1.0 - 255.0 / (1 << 24)))


def stream_capacity(data: bytes) -> int:
    """How many bytes a decoder may read from a framed stream: its body plus the zeros
    the encoder stripped (docs/format.md). A valid stream codes at most
    ``8 * capacity + 64`` bits of information; a malformed frame has capacity 0."""
    n, shift = 0, 0
    for pos, byte in enumerate(data[:9]):
        n |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return len(data) - pos - 1 + n
        shift += 7
    return 0


class CorruptStreamError(ValueError):
    """The stream is inconsistent with the distributions it is decoded with, or ran out
    of bytes before the symbols asked for were decoded."""


def _int_array(name: str, values, ndim: int | None = None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if arr.dtype != np.int32 and arr.size and (arr.min() < np.iinfo(np.int32).min
                                               or arr.max() > np.iinfo(np.int32).max):
        raise ValueError(f"{name} does not fit in int32")
    return np.ascontiguousarray(arr, dtype=np.int32)


def _check_alphabet(alphabet: int) -> None:
    if not 2 <= alphabet <= MAX_ALPHABET:
        raise ValueError(f"alphabet must be in [2, {MAX_ALPHABET}], got {alphabet}")


def _check_symbols(symbols: np.ndarray, alphabet: int) -> None:
    if symbols.size and (symbols.min() < 0 or symbols.max() >= alphabet):
        bad = symbols[(symbols < 0) | (symbols >= alphabet)][0]
        raise ValueError(f"symbol {bad} is out of range [0, {alphabet})")


def _mixture_params(n: int | None, means, log_scales, logits):
    means = _int_array("means", means)
    if means.ndim == 1:
        means = means[:, None]
    if means.ndim != 2:
        raise ValueError(f"means must be (n,) or (n, K), got shape {means.shape}")
    if n is not None and means.shape[0] != n:
        raise ValueError(f"{means.shape[0]} parameter rows for {n} symbols")
    if not 1 <= means.shape[1] <= MAX_COMPONENTS:
        raise ValueError(f"the mixture needs 1 to {MAX_COMPONENTS} components, got {means.shape[1]}")
    log_scales = _int_array("log_scales", log_scales).reshape(-1)
    logits = _int_array("logits", logits).reshape(-1)
    if log_scales.size != means.size or logits.size != means.size:
        raise ValueError("means, log_scales and logits must have the same shape")
    if means.size and (means.max() >= _MEAN_LIMIT or means.min() <= -_MEAN_LIMIT):
        raise ValueError(f"means must lie within +-2^28 (Q4)")
    return means, log_scales.reshape(means.shape), logits.reshape(means.shape)


def encode_mixture(symbols, means, log_scales, logits, alphabet: int = 256) -> bytes:
    """Code ``symbols`` (n,) in [0, alphabet) under per-symbol logistic mixtures.

    ``means`` (n, K) are in 1/16 symbol steps, ``log_scales`` and ``logits`` (n, K) in
    1/16 natural-log units. Frequencies are integers out of 2^24, at least 1 for every
    symbol, so any symbol can be coded under any parameters. The stream is framed (its
    first bytes bound how far a decoder may read; docs/format.md).
    """
    _check_alphabet(alphabet)
    symbols = _int_array("symbols", symbols, ndim=1)
    _check_symbols(symbols, alphabet)
    means, log_scales, logits = _mixture_params(symbols.size, means, log_scales, logits)
    return _native.encode_mixture(symbols, means, log_scales, logits, alphabet)


def decode_mixture(data: bytes, means, log_scales, logits, alphabet: int = 256, *,
                   framed: bool = True) -> np.ndarray:
    """Inverse of :func:`encode_mixture`; raises :class:`CorruptStreamError` on a stream
    that cannot have come from it (a corrupt stream may also decode to wrong symbols,
    which the container's checksum catches). ``framed=False`` reads the unframed streams
    of format v1, which carry no read limit."""
    _check_alphabet(alphabet)
    means, log_scales, logits = _mixture_params(None, means, log_scales, logits)
    symbols, corrupt = _native.decode_mixture(bytes(data), means, log_scales, logits, alphabet, framed)
    if corrupt:
        raise CorruptStreamError("the mixture-coded stream is corrupt or truncated")
    return symbols


def mixture_cdf_bits(symbols, means, log_scales, logits, alphabet: int = 256) -> float:
    """Ideal code length in bits, -sum log2 p, of ``symbols`` under the integer frequencies
    the coder uses."""
    _check_alphabet(alphabet)
    symbols = _int_array("symbols", symbols, ndim=1)
    _check_symbols(symbols, alphabet)
    means, log_scales, logits = _mixture_params(symbols.size, means, log_scales, logits)
    freq = _native.mixture_frequencies(symbols, means, log_scales, logits, alphabet)[:, 1]
    return float(np.sum(MIXTURE_PRECISION - np.log2(freq.astype(np.float64))))


def _check_tables(cdfs, precision: int) -> np.ndarray:
    if not 1 <= precision <= MAX_PRECISION:
        raise ValueError(f"precision must be in [1, {MAX_PRECISION}], got {precision}")
    cdfs = _int_array("cdfs", cdfs, ndim=2)
    if cdfs.shape[1] < 3 or cdfs.shape[1] > MAX_ALPHABET + 1:
        raise ValueError(f"each CDF table needs 3 to {MAX_ALPHABET + 1} entries, got {cdfs.shape[1]}")
    if np.any(cdfs[:, 0] != 0) or np.any(cdfs[:, -1] != (1 << precision)):
        raise ValueError(f"every CDF table must start at 0 and end at 2^{precision}")
    if np.any(np.diff(cdfs, axis=1) <= 0):
        raise ValueError("CDF tables must be strictly increasing (every symbol needs a frequency >= 1)")
    return cdfs


def _check_indexes(indexes, tables: int) -> np.ndarray:
    indexes = _int_array("indexes", indexes, ndim=1)
    if indexes.size and (indexes.min() < 0 or indexes.max() >= tables):
        raise ValueError(f"table indexes must be in [0, {tables})")
    return indexes


def encode_with_tables(symbols, indexes, cdfs, precision: int = 16) -> bytes:
    """Code ``symbols[i]`` with the integer CDF ``cdfs[indexes[i]]`` (total 2^precision)."""
    cdfs = _check_tables(cdfs, precision)
    symbols = _int_array("symbols", symbols, ndim=1)
    indexes = _check_indexes(indexes, cdfs.shape[0])
    if indexes.size != symbols.size:
        raise ValueError(f"{indexes.size} table indexes for {symbols.size} symbols")
    _check_symbols(symbols, cdfs.shape[1] - 1)
    return _native.encode_table(symbols, indexes, cdfs, precision)


def decode_with_tables(data: bytes, indexes, cdfs, precision: int = 16, *, framed: bool = True) -> np.ndarray:
    """Inverse of :func:`encode_with_tables` (``framed=False``: a format v1 stream)."""
    cdfs = _check_tables(cdfs, precision)
    indexes = _check_indexes(indexes, cdfs.shape[0])
    symbols, corrupt = _native.decode_table(bytes(data), indexes, cdfs, precision, framed)
    if corrupt:
        raise CorruptStreamError("the table-coded stream is corrupt or truncated")
    return symbols
