"""The exact evaluation of the UNet decoder and the rc guide network on integers.

Every layer is an integer convolution in the native module (``entropy.conv_layer``), so
the result does not depend on thread count or instruction set, and decoding needs no
torch (``tests/test_determinism.py``, ``tests/test_structure.py``). The causal predictor
itself runs in the native module too.
"""

from __future__ import annotations

import numpy as np

from .. import grids as g
from ..entropy import conv_layer
from .integers import DecoderIntegers, GuideIntegers


def _pixel_shuffle(x: np.ndarray) -> np.ndarray:
    """(4C, H, W) to (C, 2H, 2W), as torch's pixel_shuffle with factor 2."""
    c4, h, w = x.shape
    return x.reshape(c4 // 4, 2, 2, h, w).transpose(0, 3, 1, 4, 2).reshape(c4 // 4, 2 * h, 2 * w)


def decode_features(ints: DecoderIntegers, z: np.ndarray, levels: int, height: int, width: int) -> np.ndarray:
    """Exact UNet decoder: integer z (Cz, h, w) to features (height, width, F) int16."""
    z = np.asarray(z, dtype=np.int32)
    h = conv_layer(z, ints.inp_w, ints.inp_b, shift=g.DEC_W_FRAC - g.DEC_ACT_FRAC, lo=0, hi=g.DEC_ACT_MAX)
    for _ in range(levels):  # Q4 activations times Q7 weights, back to Q4
        h = _pixel_shuffle(conv_layer(h, ints.up_w, ints.up_b, shift=g.DEC_W_FRAC, lo=0, hi=g.DEC_ACT_MAX))
    h = np.ascontiguousarray(h[:, :height, :width])  # the head is 1x1: crop first
    u = conv_layer(h, ints.head_w, ints.head_b, shift=g.DEC_ACT_FRAC + g.DEC_W_FRAC - g.PRED_IN_FRAC,
                   lo=-g.FEATURE_MAX, hi=g.FEATURE_MAX)
    return np.ascontiguousarray(u.transpose(1, 2, 0).astype(np.int16))


def guide_features(ints: GuideIntegers, reconstruction: np.ndarray, row0: int, row1: int) -> np.ndarray:
    """Exact guide network on rows [row0, row1) of a reconstruction (H, W, C) uint8:
    features (row1 - row0, W, F) int16. Reads :data:`grids.GUIDE_HALO` rows on each side,
    so a band gets the same numbers as the whole image."""
    height = reconstruction.shape[0]
    s0, s1 = max(0, row0 - g.GUIDE_HALO), min(height, row1 + g.GUIDE_HALO)
    slab = np.asarray(reconstruction[s0:s1], dtype=np.int32)
    if slab.shape[2] == 1:
        slab = np.repeat(slab, 3, axis=2)
    x = slab.transpose(2, 0, 1) - 128
    h = conv_layer(x, ints.conv1_w, ints.conv1_b, shift=g.DEC_W_FRAC - g.DEC_ACT_FRAC, lo=0, hi=g.DEC_ACT_MAX)
    h = conv_layer(h, ints.conv2_w, ints.conv2_b, shift=g.DEC_W_FRAC, lo=0, hi=g.DEC_ACT_MAX)
    h = np.ascontiguousarray(h[:, row0 - s0 : row1 - s0])  # the head is 1x1
    u = conv_layer(h, ints.head_w, ints.head_b, shift=g.DEC_ACT_FRAC + g.DEC_W_FRAC - g.PRED_IN_FRAC,
                   lo=-g.FEATURE_MAX, hi=g.FEATURE_MAX)
    return np.ascontiguousarray(u.transpose(1, 2, 0).astype(np.int16))


def combine_features(unet: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Exact counterpart of :func:`lora_codec.models.guide.combine_features` (int16)."""
    total = unet.astype(np.int32) + guide.astype(np.int32)
    return np.clip(total, -g.FEATURE_MAX, g.FEATURE_MAX).astype(np.int16)
