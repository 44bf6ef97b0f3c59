"""The guide network of rc mode: features of the lossy reconstruction.

In rc mode a lossy HEVC base layer is decoded first, so its reconstruction ``g`` is known
to both sides at every pixel, including those not yet decoded. A small integer CNN (two
3x3 convolutions, then a 1x1 head) turns ``g - 128`` into per-pixel features that are
added to the UNet decoder's; the causal predictor also reads ``g`` directly (see
:mod:`lora_codec.models.predictor`). Like the decoder it lives on power-of-two grids, so
:func:`lora_codec.exact.guide_features` evaluates it exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import quant as q
from .unet import QConv2d

from ..grids import GUIDE_HALO as HALO  # noqa: F401 (rows of context on each side of a band)


class GuideNet(nn.Module):
    """Reconstruction (N, C, H, W) in [0, 255] to features (N, F, H, W) on the Q2 grid."""

    def __init__(self, planes: int, channels: int, features: int) -> None:
        super().__init__()
        self.conv1 = QConv2d(planes, channels, 3, padding=1, in_frac=0)
        self.conv2 = QConv2d(channels, channels, 3, padding=1, in_frac=q.DEC_ACT_FRAC)
        self.head = QConv2d(channels, features, 1, in_frac=q.DEC_ACT_FRAC)
        with torch.no_grad():  # start as "no guide features"
            self.head.weight.zero_()
            self.head.bias.zero_()

    @staticmethod
    def _qact(x: torch.Tensor) -> torch.Tensor:
        return q.fake_quant(F.relu(x), q.DEC_ACT_FRAC, 0, q.DEC_ACT_MAX)

    def forward(self, guide: torch.Tensor) -> torch.Tensor:
        h = self._qact(self.conv1(guide - 128.0))
        h = self._qact(self.conv2(h))
        return q.fake_quant(self.head(h), q.PRED_IN_FRAC, -q.FEATURE_MAX, q.FEATURE_MAX)


def combine_features(unet: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """UNet features plus guide features, clamped to the predictor's feature range."""
    return torch.clamp(unet + guide, -q.FEATURE_MAX / 4, q.FEATURE_MAX / 4)
