"""The learned prior of the latent z: one zero-mean discretized logistic per channel.

At export it becomes one integer CDF table per channel, so decoding z needs no float math.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..grids import TABLE_PRECISION, Z_ALPHABET, Z_MAX, Z_MIN  # noqa: F401 (re-exported)


class LatentPrior(nn.Module):
    """Per-channel zero-mean logistic over the integers in [Z_MIN, Z_MAX]."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(channels))

    def bits(self, z: torch.Tensor) -> torch.Tensor:
        """Total code length of integer-valued ``z`` (N, C, H, W) in bits."""
        return -torch.log2(self._probabilities(z).clamp_min(1e-9)).sum()

    def bits_map(self, z: torch.Tensor) -> torch.Tensor:
        """Code length in bits of each latent position of ``z`` (N, C, H, W): (N, H, W)."""
        return -torch.log2(self._probabilities(z).clamp_min(1e-9)).sum(1)

    def _probabilities(self, z: torch.Tensor) -> torch.Tensor:
        inv = torch.exp(-self.log_scale).view(1, -1, 1, 1)
        upper = torch.where(z >= Z_MAX, torch.full_like(z, 1e4), (z + 0.5) * inv)
        lower = torch.where(z <= Z_MIN, torch.full_like(z, -1e4), (z - 0.5) * inv)
        # log(sigmoid(u) - sigmoid(l)) computed stably.
        return torch.sigmoid(upper) - torch.sigmoid(lower)

    def cdf_tables(self) -> np.ndarray:
        """Integer CDFs (C, Z_ALPHABET + 1) with total 2^TABLE_PRECISION, every bin >= 1."""
        total = 1 << TABLE_PRECISION
        edges = torch.arange(Z_MIN, Z_MAX + 2, dtype=torch.float64) - 0.5
        tables = []
        for ls in self.log_scale.detach().double():
            cdf = torch.sigmoid(edges / torch.exp(ls))
            cdf[0], cdf[-1] = 0.0, 1.0
            spare = total - Z_ALPHABET
            ints = torch.floor(cdf * spare).to(torch.int64) + torch.arange(Z_ALPHABET + 1)
            ints[-1] = total
            tables.append(ints.numpy())
        return np.stack(tables).astype(np.int32)


