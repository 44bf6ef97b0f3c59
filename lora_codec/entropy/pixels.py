"""Pixel coding with the native causal predictor (see ``native/predictor.hpp``).

The predictor runs inside the native module, pixel by pixel, on integers only, and feeds
its mixtures straight to the range coder. Rows can be coded in bands (with the UNet
features of just that band) so that memory stays bounded on large images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from . import _native
from .coder import CorruptStreamError

from ..layout import SIZE_KEYS as _SIZE_KEYS
from ..layout import WEIGHT_KEYS as _PLANE_KEYS


PREDICTOR_KINDS = {"med": 0, "engine": 1}
MIN_TABLE_BITS, MAX_TABLE_BITS = 10, 16  # the bit refinement's context tables: 2^bits buckets each


def _checked_table_bits(table_bits: int) -> int:
    if not MIN_TABLE_BITS <= table_bits <= MAX_TABLE_BITS:
        raise ValueError(f"table_bits must be {MIN_TABLE_BITS} to {MAX_TABLE_BITS}, got {table_bits}")
    return int(table_bits)


class PredictorWeights:
    """Integer weights of the causal predictor, one mapping per plane role. ``kind`` is
    ``"med"`` (the MED-anchored predictor of format versions 1-2 and rc models) or
    ``"engine"`` (the learned head over the online engine)."""

    def __init__(self, features: int, planes: Sequence[Mapping[str, object]], kind: str = "med") -> None:
        if kind not in PREDICTOR_KINDS:
            raise ValueError(f"predictor kind must be one of {', '.join(PREDICTOR_KINDS)}, got {kind!r}")
        converted = []
        for role, plane in enumerate(planes):
            missing = [k for k in _PLANE_KEYS + _SIZE_KEYS if k not in plane]
            if missing:
                raise ValueError(f"plane role {role} lacks {', '.join(missing)}")
            entry = {k: int(plane[k]) for k in _SIZE_KEYS}
            for key in _PLANE_KEYS:
                arr = np.asarray(plane[key])
                if arr.dtype.kind not in "iu":
                    raise ValueError(f"{key} of plane role {role} must hold integers")
                entry[key] = np.ascontiguousarray(arr.reshape(-1), dtype=np.int32)
            converted.append(entry)
        try:
            self.native = _native.PredictorWeights(int(features), converted, PREDICTOR_KINDS[kind])
        except ValueError as exc:  # raised by the native shape check
            raise ValueError(str(exc)) from None
        self.features = int(features)
        self.roles = len(converted)
        self.kind = kind


def _check_rows(pixels: np.ndarray, errors: np.ndarray, features: np.ndarray, weights: PredictorWeights,
                feature_row0: int, row0: int, row1: int, guide: np.ndarray | None = None) -> None:
    if pixels.dtype != np.uint8 or pixels.ndim != 3:
        raise ValueError(f"pixels must be (H, W, C) uint8, got {pixels.dtype} {pixels.shape}")
    if not 1 <= pixels.shape[2] <= min(3, weights.roles):
        raise ValueError(f"a colour group has 1 to 3 planes, got {pixels.shape[2]}")
    if errors.dtype != np.int16 or errors.shape != pixels.shape:
        raise ValueError("errors must be int16 with the shape of pixels")
    if features.dtype != np.int16 or features.ndim != 3 or features.shape[1:] != (pixels.shape[1], weights.features):
        raise ValueError(f"features must be (rows, {pixels.shape[1]}, {weights.features}) int16")
    if not 0 <= row0 <= row1 <= pixels.shape[0]:
        raise ValueError(f"bad row range [{row0}, {row1}) for height {pixels.shape[0]}")
    if not feature_row0 <= row0 or row1 > feature_row0 + features.shape[0]:
        raise ValueError("features do not cover the requested rows")
    if guide is not None and (guide.dtype != np.uint8 or guide.shape != pixels.shape):
        raise ValueError("guide must be uint8 with the shape of pixels")
    for arr in (pixels, errors, features) + (() if guide is None else (guide,)):
        if not arr.flags.c_contiguous:
            raise ValueError("pixels, errors, features and guide must be C-contiguous")


class PixelEncoder:
    """Codes bands of rows of one colour group into a single range-coded stream."""

    def __init__(self, weights: PredictorWeights, calibrate: bool = False, refine: bool = False,
                 match: bool = False, table_bits: int = MAX_TABLE_BITS) -> None:
        """``calibrate``, ``refine`` and ``match``: the online CDF calibration (format
        v4+), the bit refinement (v5+) and its match model (v11+, with ``refine``);
        ``table_bits``: the refinement's context tables hold 2^table_bits buckets each
        (:data:`MIN_TABLE_BITS` to :data:`MAX_TABLE_BITS`)."""
        self.weights = weights
        self._enc = _native.PixelEncoder(weights.native, bool(calibrate), bool(refine), bool(match),
                                         _checked_table_bits(table_bits))

    def code_rows(self, pixels, errors, features, feature_row0: int, row0: int, row1: int, guide=None) -> None:
        """Encode rows [row0, row1) of ``pixels`` (H, W, C); ``errors`` (H, W, C) int16 is
        scratch state kept between calls; ``features`` holds the rows from ``feature_row0``;
        ``guide`` (H, W, C) uint8 is the lossy reconstruction in rc mode."""
        _check_rows(pixels, errors, features, self.weights, feature_row0, row0, row1, guide)
        self._enc.code_rows(pixels, errors, features, feature_row0, row0, row1, guide)

    def finish(self) -> bytes:
        return self._enc.finish()


class PixelDecoder:
    """Decodes bands of rows, in the order they were encoded, into ``pixels``.

    A corrupt or exhausted stream stops the decoding at the next row; :meth:`check`
    then raises. ``framed=False`` reads a format v1 stream (no read limit)."""

    def __init__(self, weights: PredictorWeights, data: bytes, framed: bool = True, calibrate: bool = False,
                 refine: bool = False, match: bool = False, table_bits: int = MAX_TABLE_BITS) -> None:
        self.weights = weights
        self._dec = _native.PixelDecoder(weights.native, bytes(data), framed, bool(calibrate), bool(refine),
                                         bool(match), _checked_table_bits(table_bits))

    def code_rows(self, pixels, errors, features, feature_row0: int, row0: int, row1: int, guide=None) -> None:
        _check_rows(pixels, errors, features, self.weights, feature_row0, row0, row1, guide)
        if not pixels.flags.writeable:
            raise ValueError("pixels must be writeable")
        self._dec.code_rows(pixels, errors, features, feature_row0, row0, row1, guide)

    def check(self) -> None:
        """Raise :class:`CorruptStreamError` if the stream was seen to be inconsistent."""
        if self._dec.corrupt:
            raise CorruptStreamError("the pixel stream is corrupt or truncated")


def engine_outputs(pixels, guide=None) -> np.ndarray:
    """The online engine's outputs (H, W, C, 8) int32 for an (H, W, C) uint8 image whose
    planes are in coding order: prediction, WP, gradient, NLMS 0, NLMS 1, blend (Q4),
    energy and max-error of every sub-pixel, as the coder sees them. ``guide`` (same shape
    and order) is rc mode's lossy reconstruction, which the engine then also reads."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or not 1 <= pixels.shape[2] <= 3:
        raise ValueError(f"pixels must be (H, W, 1..3) uint8, got {pixels.dtype} {pixels.shape}")
    if guide is not None:
        guide = np.asarray(guide)
        if guide.dtype != np.uint8 or guide.shape != pixels.shape:
            raise ValueError(f"guide must be uint8 with the shape of pixels, got {guide.dtype} {guide.shape}")
        guide = np.ascontiguousarray(guide)
    return _native.engine_outputs(np.ascontiguousarray(pixels), guide)


def predict_params(pixels, features, weights: PredictorWeights, guide=None):
    """The integer mixture parameters (means, log-scales, logits), each (H, W, C, K),
    that the coder uses for every sub-pixel of a fully known image."""
    pixels = np.ascontiguousarray(pixels)
    features = np.ascontiguousarray(features)
    guide = None if guide is None else np.ascontiguousarray(guide)
    errors = np.zeros(pixels.shape, dtype=np.int16)
    _check_rows(pixels, errors, features, weights, 0, 0, pixels.shape[0], guide)
    return _native.predict_params(pixels, features, weights.native, guide)
