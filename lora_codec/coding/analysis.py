"""The UNet's float encoder (pixels to the latent z) in numpy, so that compressing needs
no PyTorch.

It evaluates the layers of :class:`lora_codec.models.unet.Encoder` from the model file's
tensors, for a batch of tiles of one size: stem, ``levels`` passes of the shared stride-2
DoubleConv, self-attention at the core, the bottleneck DoubleConv and the 1x1 projection
to z, then rounds and clamps as :meth:`ProbabilityModel.analyse` does. z is stored in the
file, so this path need not be reproducible across machines; it agrees with the torch
module up to float rounding (``tests/test_analysis.py`` checks the two on random and
real-looking tiles).

>>> import numpy as np
>>> from lora_codec.coding.analysis import analyse
>>> from lora_codec.coding.modes import MODES
>>> from lora_codec.registry import load_shipped_model
>>> model = load_shipped_model(MODES["learned"].model_file)
>>> z = analyse(model.state, model.cfg, np.full((2, 3, 40, 56), 128, np.uint8))
>>> z.shape, z.dtype
((2, 4, 20, 28), dtype('int64'))
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..grids import Z_MAX, Z_MIN, levels_for


def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1) -> np.ndarray:
    """2-D convolution of x (N, C, H, W) with weight (O, C, k, k), zero padding k // 2, as
    one matrix product over the k * k shifted copies of x."""
    o, c, k, _ = weight.shape
    n, h, w = x.shape[0], -(-x.shape[2] // stride), -(-x.shape[3] // stride)
    if k > 1:
        x = np.pad(x, ((0, 0), (0, 0), (k // 2, k // 2), (k // 2, k // 2)))
    cols = np.stack([x[:, :, dy : dy + stride * h : stride, dx : dx + stride * w : stride]
                     for dy in range(k) for dx in range(k)], axis=2)  # (N, C, k * k, h, w)
    cols = cols.reshape(n, c * k * k, h * w).transpose(1, 0, 2).reshape(c * k * k, n * h * w)
    out = (weight.reshape(o, c * k * k) @ cols + bias[:, None]).reshape(o, n, h, w)
    return out.transpose(1, 0, 2, 3)


def _rms_norm(x: np.ndarray, weight: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + eps) * weight.reshape(1, -1, 1, 1)


class _Layers:
    """The encoder's tensors, as float32 arrays, and its blocks."""

    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        self.state = state

    def __call__(self, name: str) -> np.ndarray:
        return np.asarray(self.state[f"encoder.{name}"], np.float32)

    def double_conv(self, block: str, x: np.ndarray, stride: int = 1) -> np.ndarray:
        x = _conv(x, self(f"{block}.body.0.weight"), self(f"{block}.body.0.bias"), stride)
        x = np.maximum(_rms_norm(x, self(f"{block}.body.1.weight")), 0)
        x = _conv(x, self(f"{block}.body.3.weight"), self(f"{block}.body.3.bias"))
        return np.maximum(_rms_norm(x, self(f"{block}.body.4.weight")), 0)

    def attention(self, x: np.ndarray, heads: int) -> np.ndarray:
        n, c, h, w = x.shape
        tokens = x.reshape(n, c, h * w).transpose(0, 2, 1)  # (N, T, C)
        mean = tokens.mean(axis=2, keepdims=True)
        var = tokens.var(axis=2, keepdims=True)
        tokens = (tokens - mean) / np.sqrt(var + 1e-5) * self("attention.norm.weight") + self("attention.norm.bias")
        qkv = tokens @ self("attention.attn.in_proj_weight").T + self("attention.attn.in_proj_bias")
        d = c // heads
        q, k, v = (part.reshape(n, h * w, heads, d).transpose(0, 2, 1, 3) for part in np.split(qkv, 3, axis=2))
        scores = q @ k.transpose(0, 1, 3, 2)  # (N, heads, T, T)
        scores *= np.float32(1 / np.sqrt(d))
        scores -= scores.max(axis=3, keepdims=True)
        np.exp(scores, out=scores)
        out = ((scores @ v) / scores.sum(axis=3, keepdims=True)).transpose(0, 2, 1, 3).reshape(n, h * w, c)
        out = out @ self("attention.attn.out_proj.weight").T + self("attention.attn.out_proj.bias")
        return x + out.transpose(0, 2, 1).reshape(n, c, h, w)


def encoder_output(state: Mapping[str, np.ndarray], cfg, tiles: np.ndarray) -> np.ndarray:
    """The encoder's unrounded output (N, Cz, h, w) for tiles (N, P, H, W) of one size,
    P = 1 or 3, in the model's coding order, values 0..255."""
    n, p, height, width = tiles.shape
    x = np.asarray(tiles, np.float32)
    if p != 3:  # the encoder always sees three planes; a grey plane is repeated
        x = np.repeat(x[:, :1], 3, axis=1)
    levels = levels_for(height, width, cfg.core)
    m = 1 << levels
    x = np.pad(x, ((0, 0), (0, 0), (0, (-height) % m), (0, (-width) % m)), mode="edge")
    layers = _Layers(state)
    h = np.maximum(_rms_norm(_conv(x / np.float32(127.5) - 1, layers("stem.0.weight"), layers("stem.0.bias")),
                             layers("stem.1.weight")), 0)
    for _ in range(levels):
        h = layers.double_conv("down", h, stride=2)
    h = layers.attention(h, cfg.heads)
    h = layers.double_conv("bottleneck", h)
    return _conv(h, layers("to_latent.weight"), layers("to_latent.bias"))


def analyse(state: Mapping[str, np.ndarray], cfg, tiles: np.ndarray) -> np.ndarray:
    """The integer latents (N, Cz, h, w) of tiles of one size (see :func:`encoder_output`):
    rounded half to even and clamped, as the torch module does."""
    return np.clip(np.round(encoder_output(state, cfg, tiles)), Z_MIN, Z_MAX).astype(np.int64)
