"""Fixed-point grids shared by training (fake quantization) and the exact integer path.

Every quantity on the decode path lives on a power-of-two grid. During training the
values are rounded with a straight-through estimator, so the network learns weights that
survive the rounding; at export the same grids give the integers that the exact path uses.
"""

from __future__ import annotations

import torch

from ..grids import (  # noqa: F401 (re-exported: the grids the training path fakes)
    DEC_ACT_FRAC,
    DEC_ACT_MAX,
    DEC_W_FRAC,
    DEC_W_MAX,
    FEATURE_MAX,
    LOG_SCALE_FRAC,
    LOG_SCALE_MAX,
    LOG_SCALE_MIN,
    LOGIT_FRAC,
    MEAN_FRAC,
    PRED_HIDDEN_MAX,
    PRED_IN_FRAC,
    PRED_OUT_FRAC,
    PRED_W_FRAC,
    PRED_W_MAX,
)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer in the forward pass, identity gradient."""
    return x + (torch.round(x) - x).detach()


def floor_ste(x: torch.Tensor) -> torch.Tensor:
    """Floor in the forward pass, identity gradient."""
    return x + (torch.floor(x) - x).detach()


def fake_quant(x: torch.Tensor, frac_bits: int, lo: float, hi: float) -> torch.Tensor:
    """Round ``x`` to the grid 2^-frac_bits and clamp it to [lo, hi] integer steps."""
    scale = float(1 << frac_bits)
    q = torch.clamp(round_ste(x * scale), lo, hi)
    return q / scale


def round_half_up_ste(x: torch.Tensor) -> torch.Tensor:
    """``floor(x + 1/2)`` in the forward pass (the native ``round_shift``), identity gradient."""
    return x + (torch.floor(x + 0.5) - x).detach()


def fake_quant_half_up(x: torch.Tensor, frac_bits: int, lo: float, hi: float) -> torch.Tensor:
    """:func:`fake_quant` rounding ties up, as the native integer head does."""
    scale = float(1 << frac_bits)
    return torch.clamp(round_half_up_ste(x * scale), lo, hi) / scale


def quantize_int(x: torch.Tensor, frac_bits: int, lo: float, hi: float) -> torch.Tensor:
    """The integers behind :func:`fake_quant`, as an int64 tensor."""
    scale = float(1 << frac_bits)
    return torch.clamp(torch.round(x.detach().double() * scale), lo, hi).to(torch.int64)


def round_shift(acc: torch.Tensor, shift: int) -> torch.Tensor:
    """Exact ``floor((acc + 2^(shift-1)) / 2^shift)`` on integer-valued float64 tensors."""
    if shift == 0:
        return acc
    return torch.floor((acc + float(1 << (shift - 1))) / float(1 << shift))
