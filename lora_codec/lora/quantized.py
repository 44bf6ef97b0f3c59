"""Quantized LoRA factors: fake quantization while training, exact integer deltas after.

Each adapter factor (peft's ``lora_A`` / ``lora_B`` weights) lives on its own power-of-two
grid, a step of ``2^-exponent`` per tensor. Because the steps are powers of two, the merged
weight change ``B @ A`` is an integer product followed by one exact rounding shift onto the
base layer's weight grid, so encoder and decoder rebuild the same integer weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..models.quant import round_ste


class FakeQuant(nn.Module):
    """A parametrization rounding a weight to the grid 2^-exponent (straight-through)."""

    def __init__(self, exponent: int) -> None:
        super().__init__()
        self.exponent = exponent

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        scale = float(2**self.exponent)
        return torch.clamp(round_ste(w * scale), -32767, 32767) / scale


def factor_integers(weight: torch.Tensor, exponent: int) -> np.ndarray:
    """The integers of a (fake-quantized) factor."""
    scaled = weight.detach().double() * float(2**exponent)
    return torch.clamp(torch.round(scaled), -32767, 32767).to(torch.int64).numpy()


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


def logistic_bits(values: torch.Tensor, log_scale: float) -> torch.Tensor:
    """Bits of integer-valued ``values`` under a zero-mean discretized logistic."""
    inv = math.exp(-log_scale)
    upper = torch.sigmoid((values + 0.5) * inv)
    lower = torch.sigmoid((values - 0.5) * inv)
    return -torch.log2((upper - lower).clamp_min(1e-12)).sum()
