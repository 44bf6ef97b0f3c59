"""The exact evaluation of the UNet decoder and the rc guide network on integers.

Both run in float64 on integer-valued tensors: every product and partial sum is an integer
below 2^53, so the result does not depend on summation order, thread count or instruction
set (``tests/test_determinism.py``). The causal predictor itself runs in the native module.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..models import quant as q
from ..models.guide import HALO
from .integers import DecoderIntegers, GuideIntegers


def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, w, padding=w.shape[-1] // 2) + b.view(1, -1, 1, 1)


def decode_features(ints: DecoderIntegers, z: np.ndarray, levels: int, height: int, width: int) -> np.ndarray:
    """Exact UNet decoder: integer z (Cz, h, w) to features (height, width, F) int16."""
    with torch.no_grad():
        x = torch.from_numpy(np.asarray(z, dtype=np.float64))[None]
        frac_in = 0
        acc = _conv(x, ints.inp_w, ints.inp_b)
        h = torch.clamp(q.round_shift(acc, frac_in + q.DEC_W_FRAC - q.DEC_ACT_FRAC), 0, q.DEC_ACT_MAX)
        shift = q.DEC_W_FRAC  # Q4 activations times Q7 weights, back to Q4
        for _ in range(levels):
            acc = _conv(h, ints.up_w, ints.up_b)
            h = F.pixel_shuffle(torch.clamp(q.round_shift(acc, shift), 0, q.DEC_ACT_MAX), 2)
        acc = _conv(h, ints.head_w, ints.head_b)
        u = torch.clamp(q.round_shift(acc, q.DEC_ACT_FRAC + q.DEC_W_FRAC - q.PRED_IN_FRAC),
                        -q.FEATURE_MAX, q.FEATURE_MAX)
        u = u[0, :, :height, :width].permute(1, 2, 0)
        return np.ascontiguousarray(u.numpy().astype(np.int16))


def guide_features(ints: GuideIntegers, reconstruction: np.ndarray, row0: int, row1: int) -> np.ndarray:
    """Exact guide network on rows [row0, row1) of a reconstruction (H, W, C) uint8:
    features (row1 - row0, W, F) int16. Reads :data:`HALO` rows on each side, so a band
    gets the same numbers as the whole image."""
    height = reconstruction.shape[0]
    s0, s1 = max(0, row0 - HALO), min(height, row1 + HALO)
    slab = np.asarray(reconstruction[s0:s1], dtype=np.float64)
    if slab.shape[2] == 1:
        slab = np.repeat(slab, 3, axis=2)
    with torch.no_grad():
        x = torch.from_numpy(slab.transpose(2, 0, 1).copy())[None] - 128.0
        h = torch.clamp(q.round_shift(_conv(x, ints.conv1_w, ints.conv1_b), q.DEC_W_FRAC - q.DEC_ACT_FRAC),
                        0, q.DEC_ACT_MAX)
        h = torch.clamp(q.round_shift(_conv(h, ints.conv2_w, ints.conv2_b), q.DEC_W_FRAC), 0, q.DEC_ACT_MAX)
        acc = _conv(h, ints.head_w, ints.head_b)
        u = torch.clamp(q.round_shift(acc, q.DEC_ACT_FRAC + q.DEC_W_FRAC - q.PRED_IN_FRAC),
                        -q.FEATURE_MAX, q.FEATURE_MAX)
        u = u[0, :, row0 - s0 : row1 - s0].permute(1, 2, 0)
        return np.ascontiguousarray(u.numpy().astype(np.int16))


def combine_features(unet: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Exact counterpart of :func:`lora_codec.models.guide.combine_features` (int16)."""
    total = unet.astype(np.int32) + guide.astype(np.int32)
    return np.clip(total, -q.FEATURE_MAX, q.FEATURE_MAX).astype(np.int16)
