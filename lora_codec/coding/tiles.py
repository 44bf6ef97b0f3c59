"""Tiles: the UNet sees an image in tiles of at most ``tile`` pixels a side, band by band."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tile:
    y0: int
    y1: int
    x0: int
    x1: int


def tile_grid(height: int, width: int, tile: int) -> list[list[Tile]]:
    """Bands (rows) of tiles of at most ``tile`` x ``tile`` pixels covering the image."""
    return [
        [Tile(y, min(height, y + tile), x, min(width, x + tile)) for x in range(0, width, tile)]
        for y in range(0, height, tile)
    ]
