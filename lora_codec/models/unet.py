"""The UNet: a float encoder from pixels to the latent z, and an integer decoder from z to
per-pixel context features.

Any image size runs through a fixed core resolution: the encoder applies one shared
stride-2 DoubleConv block ``N`` times, with ``N`` chosen from the size (:func:`levels_for`),
then self-attention at the core and a bottleneck DoubleConv. The decoder mirrors it with
``N`` shared up-convolutions (3x3 conv to 4x channels, then pixel shuffle; peft adapts
Conv2d but not ConvTranspose2d).

Only the decoder is on the decode path, so only the decoder is integer-exact: its weights,
biases and activations live on power-of-two grids (:mod:`lora_codec.models.quant`), and the
exact path evaluates it in float64 on integer-valued tensors, where every sum is exact.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from . import quant as q
from ..grids import levels_for  # noqa: F401 (re-exported)



class RMSNorm2d(nn.Module):
    """RMS normalisation over the channel axis of an NCHW tensor."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps) * self.weight


class DoubleConv(nn.Module):
    """(conv 3x3, RMSNorm, ReLU) x 2; the first conv may have stride 2."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1),
            RMSNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1),
            RMSNorm2d(cout),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class CoreAttention(nn.Module):
    """Multi-head self-attention over all positions of the core feature map (residual)."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x.flatten(2).transpose(1, 2))
        out, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class Encoder(nn.Module):
    """Pixels (N, 3, H, W) in [0, 255] to the unrounded latent (N, Cz, H/2^N, W/2^N)."""

    def __init__(self, channels: int, latent_channels: int, heads: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1), RMSNorm2d(channels), nn.ReLU()
        )
        self.down = DoubleConv(channels, channels, stride=2)
        self.attention = CoreAttention(channels, heads)
        self.bottleneck = DoubleConv(channels, channels)
        self.to_latent = nn.Conv2d(channels, latent_channels, 1)

    def forward(self, x: torch.Tensor, levels: int) -> torch.Tensor:
        h = self.stem(x / 127.5 - 1.0)
        for _ in range(levels):
            h = self.down(h)
        h = self.attention(h)
        return self.to_latent(self.bottleneck(h))


class QConv2d(nn.Conv2d):
    """A convolution with fake-quantized weights (Q7) and bias (accumulator grid).

    ``in_frac`` is the fixed-point position of its integer inputs. Built without it (as
    peft builds its LoRA factors from the layer's type) it is a plain convolution.
    """

    def __init__(self, *args, in_frac: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.in_frac = in_frac

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_frac is None:
            return super().forward(x)
        w = q.fake_quant(self.weight, q.DEC_W_FRAC, -q.DEC_W_MAX, q.DEC_W_MAX)
        b = q.fake_quant(self.bias, self.in_frac + q.DEC_W_FRAC, -(2**40), 2**40)
        return F.conv2d(x, w, b, padding=self.padding)


class Decoder(nn.Module):
    """Integer latent z to per-pixel context features for the causal predictor.

    ``forward`` is the training path (fake quantization, straight-through gradients);
    :func:`lora_codec.exact.decode_features` evaluates the same layers exactly.
    """

    def __init__(self, latent_channels: int, channels: int, features: int) -> None:
        super().__init__()
        self.inp = QConv2d(latent_channels, channels, 1, in_frac=0)
        self.up = QConv2d(channels, 4 * channels, 3, padding=1, in_frac=q.DEC_ACT_FRAC)
        self.head = QConv2d(channels, features, 1, in_frac=q.DEC_ACT_FRAC)

    @staticmethod
    def _qact(x: torch.Tensor) -> torch.Tensor:
        return q.fake_quant(F.relu(x), q.DEC_ACT_FRAC, 0, q.DEC_ACT_MAX)

    def forward(self, z: torch.Tensor, levels: int) -> torch.Tensor:
        h = self._qact(self.inp(z))
        for _ in range(levels):
            h = F.pixel_shuffle(self._qact(self.up(h)), 2)
        u = self.head(h)
        return q.fake_quant(u, q.PRED_IN_FRAC, -q.FEATURE_MAX, q.FEATURE_MAX)
