"""The adapter section (``LORA``): quantized LoRA factors, coded and decoded, and the
exact integer weight changes they make. No peft and no training here: decoding a file
with adapters needs only this module, numpy and the range coder (docs/format.md).

Each factor (peft's ``lora_A`` / ``lora_B``) lives on its own power-of-two grid, a step
of ``2^-exponent`` per tensor. Because the steps are powers of two, the merged change
``B @ A`` is an integer product followed by one exact rounding shift onto the base
layer's weight grid, so encoder and decoder rebuild the same integer weights.

Payload version 1 (files of format versions 1 to 8) names each layer in ASCII with
16-bit log-scales (28 to 31 bytes for a layer of the head); version 2 (format version 9)
gives its number in :data:`~.options.ADAPTABLE_LAYERS` and its log-scales in one byte
each (3 bytes).
"""

from __future__ import annotations

import math
import struct

import numpy as np

from .. import entropy
from .. import grids as q
from .options import ADAPTABLE_LAYERS

PAYLOAD_VERSION = 2          # written
PAYLOAD_VERSIONS = (1, 2)    # read (which one a file holds follows from its format version)
_SYMBOL_OFFSET = 1 << 15
_ALPHABET = 1 << 16


def integer_delta(a_int: np.ndarray, b_int: np.ndarray, exp_a: int, exp_b: int, weight_frac: int,
                  shape: tuple[int, ...]) -> np.ndarray:
    """Integer weight change on the base grid 2^-weight_frac: round(B @ A), exactly.

    ``a_int`` is (r, in, ...) and ``b_int`` is (out, r, ...) as peft stores them for Linear
    and Conv2d (whose B is 1x1).
    """
    rank = a_int.shape[0]
    prod = b_int.reshape(b_int.shape[0], rank).astype(np.int64) @ a_int.reshape(rank, -1).astype(np.int64)
    shift = exp_a + exp_b - weight_frac
    if shift > 0:
        prod = np.floor_divide(prod + (1 << (shift - 1)), 1 << shift)
    elif shift < 0:
        prod = prod << (-shift)
    return prod.reshape(shape)


def weight_frac(name: str) -> int:
    return q.DEC_W_FRAC if name.startswith("decoder.") else q.PRED_W_FRAC


def factor_shapes(model, name: str, rank: int):
    w = model.state[f"{name}.weight"]
    if w.ndim == 2:
        return (rank, w.shape[1]), (w.shape[0], rank), tuple(w.shape)
    return (rank, w.shape[1], w.shape[2], w.shape[3]), (w.shape[0], rank, 1, 1), tuple(w.shape)


def _best_log_scale(values: np.ndarray) -> int:
    """The Q4 log-scale (of the zero-mean logistic prior) that codes ``values`` best."""
    flat = values.reshape(-1).astype(np.int32)
    spread = max(1.0, float(np.mean(np.abs(flat))))
    guess = int(round(16 * math.log(spread * math.sqrt(3) / math.pi + 0.3)))
    best, best_bits = guess, float("inf")
    for ls in range(guess - 12, guess + 13, 2):
        ls = int(np.clip(ls, q.LOG_SCALE_MIN, q.LOG_SCALE_MAX))
        bits = _factor_bits(flat, ls)
        if bits < best_bits:
            best, best_bits = ls, bits
    return best


def _mixture_args(values: np.ndarray, log_scale: int):
    n = values.size
    symbols = (values.reshape(-1) + _SYMBOL_OFFSET).astype(np.int32)
    means = np.full((n, 1), _SYMBOL_OFFSET * 16, dtype=np.int32)
    return symbols, means, np.full((n, 1), log_scale, dtype=np.int32), np.zeros((n, 1), dtype=np.int32)


def _factor_bits(values: np.ndarray, log_scale: int) -> float:
    return entropy.mixture_cdf_bits(*_mixture_args(values, log_scale), alphabet=_ALPHABET)


def encode_adapter_payload(rank: int, exp_a: int, exp_b: int, factors: list[tuple[str, np.ndarray, np.ndarray]],
                           version: int = PAYLOAD_VERSION) -> bytes:
    """Serialise integer factors (see docs/format.md, section LORA); in payload version
    2 the layers go in the order of :data:`ADAPTABLE_LAYERS`, whatever order they come in.

    >>> a, b = np.array([[3, -1, 0]]), np.array([[2], [0]])  # rank 1, 3 inputs, 2 outputs
    >>> payload = encode_adapter_payload(1, 6, 9, [("predictor.planes.0.stage_a", a, b)])
    >>> payload[:6].hex()  # version 2, rank 1, exponents 6 and 9, one layer: number 3
    '020106090103'
    """
    if version not in PAYLOAD_VERSIONS:
        raise ValueError(f"adapter payload version must be in {PAYLOAD_VERSIONS}, got {version}")
    names = [name for name, _, _ in factors]
    if len(set(names)) != len(names) or not set(names) <= set(ADAPTABLE_LAYERS):
        raise ValueError(f"adapted layers must be distinct layers of {ADAPTABLE_LAYERS}, got {names}")
    if version >= 2:
        factors = sorted(factors, key=lambda f: ADAPTABLE_LAYERS.index(f[0]))
    head = [struct.pack("<BBbbB", version, rank, exp_a, exp_b, len(factors))]
    values, scales = [], []
    for name, a_int, b_int in factors:
        ls_a, ls_b = _best_log_scale(a_int), _best_log_scale(b_int)
        if version >= 2:
            head.append(struct.pack("<BBB", ADAPTABLE_LAYERS.index(name), ls_a - q.LOG_SCALE_MIN,
                                    ls_b - q.LOG_SCALE_MIN))
        else:
            raw = name.encode("ascii")
            head.append(struct.pack("<B", len(raw)) + raw + struct.pack("<hh", ls_a, ls_b))
        values += [a_int.reshape(-1), b_int.reshape(-1)]
        scales += [np.full(a_int.size, ls_a), np.full(b_int.size, ls_b)]
    flat = np.concatenate(values)
    symbols, means, _, logits = _mixture_args(flat, 0)
    stream = entropy.encode_mixture(symbols, means, np.concatenate(scales).astype(np.int32)[:, None], logits,
                                    alphabet=_ALPHABET)
    return b"".join(head) + stream


def _layers(payload: bytes, pos: int, count: int, version: int) -> tuple[list[tuple[str, int, int]], int]:
    """The (name, log-scale of A, of B) of each layer and where the coded factors start."""
    layers = []
    for _ in range(count):
        if version >= 2:
            number, ls_a, ls_b = struct.unpack_from("<BBB", payload, pos)
            pos += 3
            if number >= len(ADAPTABLE_LAYERS):
                raise ValueError(f"unknown adapted layer number {number}")
            if layers and number <= ADAPTABLE_LAYERS.index(layers[-1][0]):
                raise ValueError("adapted layers out of order")
            name, ls_a, ls_b = ADAPTABLE_LAYERS[number], ls_a + q.LOG_SCALE_MIN, ls_b + q.LOG_SCALE_MIN
            if max(ls_a, ls_b) > q.LOG_SCALE_MAX:
                raise ValueError("implausible adapter log-scale")
        else:
            (length,) = struct.unpack_from("<B", payload, pos)
            name = payload[pos + 1 : pos + 1 + length].decode("ascii")
            pos += 1 + length
            ls_a, ls_b = struct.unpack_from("<hh", payload, pos)
            pos += 4
            if name not in ADAPTABLE_LAYERS:
                raise ValueError(f"unknown adapted layer {name!r}")
        layers.append((name, ls_a, ls_b))
    return layers, pos


def decode_adapter_payload(model, payload: bytes, framed: bool = True,
                           expected_version: int = PAYLOAD_VERSION) -> dict[str, np.ndarray]:
    """Integer weight deltas of every adapted layer, from an adapter section
    (``framed=False``: format v1) of payload version ``expected_version`` (1 in files of
    format versions 1 to 8, 2 from 9)."""
    try:
        version, rank, exp_a, exp_b, count = struct.unpack_from("<BBbbB", payload, 0)
        if version != expected_version:
            raise ValueError(f"adapter payload version {version} where the file's format holds {expected_version}")
        if not 1 <= rank <= 16 or not (0 <= exp_a <= 24 and 0 <= exp_b <= 24):
            raise ValueError("implausible adapter parameters")
        layers, pos = _layers(payload, struct.calcsize("<BBbbB"), count, version)
    except (struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"corrupt adapter section ({exc})") from None
    shapes = [factor_shapes(model, name, rank) for name, _, _ in layers]
    scales = []
    for (name, ls_a, ls_b), (sa, sb, _) in zip(layers, shapes):
        scales += [np.full(int(np.prod(sa)), ls_a), np.full(int(np.prod(sb)), ls_b)]
    scales = np.concatenate(scales).astype(np.int32)[:, None] if scales else np.zeros((0, 1), np.int32)
    n = scales.shape[0]
    means = np.full((n, 1), _SYMBOL_OFFSET * 16, dtype=np.int32)
    symbols = entropy.decode_mixture(payload[pos:], means, scales, np.zeros((n, 1), np.int32), alphabet=_ALPHABET,
                                     framed=framed)
    values = symbols.astype(np.int64) - _SYMBOL_OFFSET
    deltas, cursor = {}, 0
    for (name, _, _), (sa, sb, shape) in zip(layers, shapes):
        na, nb = int(np.prod(sa)), int(np.prod(sb))
        a_int = values[cursor : cursor + na].reshape(sa)
        b_int = values[cursor + na : cursor + na + nb].reshape(sb)
        cursor += na + nb
        deltas[name] = integer_delta(a_int, b_int, exp_a, exp_b, weight_frac(name), shape)
    return deltas
