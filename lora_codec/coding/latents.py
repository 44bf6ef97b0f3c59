"""The latent z of every tile: the float encoder (compression only, in numpy) and its
range coding under the model's integer CDF tables."""

from __future__ import annotations

import numpy as np

from .. import entropy
from ..grids import TABLE_PRECISION, Z_MIN, levels_for
from ..registry import LoadedModel
from .analysis import analyse
from .tiles import Tile


def latent_shape(model: LoadedModel, tile: Tile) -> tuple[int, int, int, int]:
    """(levels, channels, rows, cols) of a tile's latent."""
    h, w = tile.y1 - tile.y0, tile.x1 - tile.x0
    levels = levels_for(h, w, model.cfg.core)
    m = 1 << levels
    return levels, model.cfg.latent_channels, -(-h // m), -(-w // m)


def encode_latents(model: LoadedModel, planes: np.ndarray, grid: list[list[Tile]]) -> list[np.ndarray]:
    """Float encoder (numpy, no torch): one integer latent (C, h, w) per tile, in band
    order. ``planes`` are in the model's coding order. One tile at a time: batches of
    tiles were slower and took more memory (kodim05: 0.23 s and +22 MB one by one, 0.34 s
    and +63 MB two at a time)."""
    return [analyse(model.state, model.cfg, planes[None, t.y0 : t.y1, t.x0 : t.x1].transpose(0, 3, 1, 2))[0]
            for band in grid for t in band]


def _latent_indexes(shapes: list[tuple[int, int, int]]) -> np.ndarray:
    return np.concatenate([np.repeat(np.arange(c, dtype=np.int32), h * w) for c, h, w in shapes])


def code_latents(model: LoadedModel, latents: list[np.ndarray]) -> bytes:
    symbols = np.concatenate([z.reshape(-1) for z in latents]) - Z_MIN
    indexes = _latent_indexes([z.shape for z in latents])
    return entropy.encode_with_tables(symbols.astype(np.int32), indexes, model.latent_cdfs, TABLE_PRECISION)


def zero_latents(latents: list[np.ndarray]) -> list[np.ndarray]:
    """All-zero latents of the shapes of ``latents``: with the shipped model, nearly the
    same features as any image's (its z carries almost nothing; docs/design.md, "The UNet
    does not pay"), in fewer bytes."""
    return [np.zeros_like(z) for z in latents]


def decode_latents(model: LoadedModel, data: bytes, grid: list[list[Tile]], framed: bool = True) -> list[np.ndarray]:
    shapes = [latent_shape(model, t)[1:] for band in grid for t in band]
    symbols = entropy.decode_with_tables(data, _latent_indexes(shapes), model.latent_cdfs, TABLE_PRECISION,
                                         framed=framed)
    out, pos = [], 0
    for c, h, w in shapes:
        out.append((symbols[pos : pos + c * h * w].astype(np.int64) + Z_MIN).reshape(c, h, w))
        pos += c * h * w
    return out
