"""Exact integer convolution layers (``native/convolution.hpp``): the UNet decoder and the
rc guide network run on these when decoding, with no torch.

>>> import numpy as np
>>> from lora_codec import entropy
>>> x = np.arange(12, dtype=np.int32).reshape(1, 3, 4)
>>> w = np.ones((1, 1, 3, 3), dtype=np.int32)                   # sum of the 3x3 patch
>>> entropy.conv_layer(x, w, np.zeros(1, np.int64), shift=0, lo=-99, hi=99)[0].tolist()
[[10, 18, 24, 18], [27, 45, 54, 39], [26, 42, 48, 34]]
"""

from __future__ import annotations

import numpy as np

from . import _native


def conv_layer(x, w, bias, *, shift: int, lo: int, hi: int) -> np.ndarray:
    """``clamp(floor((conv(x, w) + bias + 2^(shift-1)) / 2^shift), lo, hi)`` for integer
    inputs ``x`` (C, H, W), weights ``w`` (O, C, k, k) with odd k ("same" zero padding)
    and ``bias`` (O,); returns (O, H, W) int32."""
    x, w, bias = np.asarray(x), np.asarray(w), np.asarray(bias)
    for name, arr in (("x", x), ("w", w), ("bias", bias)):
        if arr.dtype.kind not in "iu":
            raise ValueError(f"{name} must hold integers, got {arr.dtype}")
    if x.ndim != 3 or w.ndim != 4 or bias.ndim != 1:
        raise ValueError(f"x must be (C, H, W), w (O, C, k, k), bias (O,); got {x.shape}, {w.shape}, {bias.shape}")
    if w.shape[1] != x.shape[0] or w.shape[2] != w.shape[3] or w.shape[2] % 2 == 0 or bias.shape[0] != w.shape[0]:
        raise ValueError(f"weights {w.shape} and bias {bias.shape} do not fit inputs {x.shape}")
    if not 0 <= shift <= 62 or not -(2**31) <= lo <= hi < 2**31:
        raise ValueError("bad shift or clamp range")
    # |w x| < 2^48 and at most 4096 products: the int64 accumulator cannot overflow.
    if w.shape[1] * w.shape[2] * w.shape[3] > 4096:
        raise ValueError("at most 4096 products per output")
    for name, arr, limit in (("x", x, 2**24), ("w", w, 2**24), ("bias", bias, 2**50)):
        if arr.size and (arr.min() <= -limit or arr.max() >= limit):
            raise ValueError(f"{name} is out of range (|{name}| < 2^{limit.bit_length() - 1})")
    return _native.conv_layer(np.ascontiguousarray(x, np.int32), np.ascontiguousarray(w, np.int32),
                              np.ascontiguousarray(bias, np.int64), int(shift), int(lo), int(hi))
