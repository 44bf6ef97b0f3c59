"""Where the per-image adaptation trains: crops of the image, drawn uniformly or costliest first.

Every crop lies inside one UNet tile (its features come from that tile's latents). With
the ``rate`` schedule (as CALLIC's), crop positions on a grid are ranked by a cheap
estimate of their code length, the online engine's absolute prediction error on a log
scale (known before training starts: the engine depends only on pixels). Training starts
on the costliest 20 % of positions, the pool grows linearly to all positions, and the last
10 % of the steps draw from the whole image. The ``uniform`` schedule draws tiles by area
and positions uniformly inside them.

>>> import numpy as np
>>> from lora_codec.coding.tiles import tile_grid
>>> cost = np.zeros((64, 64)); cost[40:, 40:] = 5.0         # the costly corner
>>> tiles = [t for band in tile_grid(64, 64, 32) for t in band]
>>> sampler = CropSampler(tiles, cost, crop=16, schedule="rate", seed=0)
>>> k, y, x, h, w = sampler.draw(step=0, planned=100)
>>> k, h, w                                                  # the bottom right tile first
(3, 16, 16)
>>> sampler.pool_fraction(0, 100), sampler.pool_fraction(95, 100)
(0.2, 1.0)
"""

from __future__ import annotations

import numpy as np

SCHEDULES = ("uniform", "rate")
FIRST_POOL = 0.2       # the rate schedule starts on this share of the positions, costliest first
WHOLE_IMAGE_TAIL = 0.1  # and draws from all of them in this last share of the steps


def rate_estimate(planes: np.ndarray, engine: np.ndarray | None) -> np.ndarray:
    """A per-pixel code-length proxy (H, W): the sum over planes of log2(1 + |error|) of
    the engine's prediction (Q4 in ``engine[..., 0]``), or of the left neighbour's value
    when there is no engine."""
    x = planes.astype(np.float64)
    if engine is not None:
        prediction = engine[..., 0].astype(np.float64) / 16.0
    else:
        prediction = np.concatenate([np.full_like(x[:, :1], 128.0), x[:, :-1]], axis=1)
    return np.log2(1.0 + np.abs(x - prediction)).sum(axis=2)


class CropSampler:
    """Draws crop positions ``(tile index, y, x, height, width)`` (offsets inside the tile)
    in the image's ``tiles`` (a flat list) for the per-image adaptation, following one of
    :data:`SCHEDULES`. ``cost`` (H, W), a per-pixel code-length estimate, ranks positions
    for the rate schedule."""

    def __init__(self, tiles, cost: np.ndarray | None, crop: int, schedule: str = "uniform", seed: int = 0,
                 stride: int = 16):
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown crop schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
        if schedule == "rate" and cost is None:
            raise ValueError("the rate schedule needs a cost map")
        self.tiles = list(tiles)
        self.crop = crop
        self.schedule = schedule
        self.rng = np.random.default_rng(seed)
        if schedule == "rate":
            self.positions = self._ranked_positions(cost, stride)
        else:
            area = np.array([(t.y1 - t.y0) * (t.x1 - t.x0) for t in self.tiles], dtype=np.float64)
            self.tile_odds = area / area.sum()

    def _ranked_positions(self, cost: np.ndarray, stride: int) -> np.ndarray:
        """Every grid position of every tile, (tile, y, x) rows, by mean cost, highest first."""
        summed = np.zeros((cost.shape[0] + 1, cost.shape[1] + 1))
        summed[1:, 1:] = cost.cumsum(0).cumsum(1)
        rows, means = [], []
        for k, t in enumerate(self.tiles):
            h, w = self._size(t)
            for y in _offsets(t.y1 - t.y0 - h, stride):
                for x in _offsets(t.x1 - t.x0 - w, stride):
                    y0, x0 = t.y0 + y, t.x0 + x
                    total = summed[y0 + h, x0 + w] - summed[y0, x0 + w] - summed[y0 + h, x0] + summed[y0, x0]
                    rows.append((k, y, x))
                    means.append(total / (h * w))
        order = np.argsort(-np.asarray(means), kind="stable")
        return np.asarray(rows, dtype=np.int64)[order]

    def _size(self, tile) -> tuple[int, int]:
        """A crop's (height, width) in ``tile``: the crop size, or the tile's where smaller."""
        return min(self.crop, tile.y1 - tile.y0), min(self.crop, tile.x1 - tile.x0)

    def pool_fraction(self, step: int, planned: int) -> float:
        """The share of ranked positions the rate schedule draws from at ``step`` of ``planned``."""
        growth = (1.0 - WHOLE_IMAGE_TAIL) * planned
        if growth <= 0 or step >= growth:
            return 1.0
        return FIRST_POOL + (1.0 - FIRST_POOL) * step / growth

    def draw(self, step: int, planned: int) -> tuple[int, int, int, int, int]:
        """One crop for ``step`` of ``planned`` steps."""
        if self.schedule == "rate":
            pool = max(1, int(np.ceil(self.pool_fraction(step, planned) * len(self.positions))))
            k, y, x = (int(v) for v in self.positions[int(self.rng.integers(0, pool))])
            return (k, y, x) + self._size(self.tiles[k])
        k = int(self.rng.choice(len(self.tiles), p=self.tile_odds))
        t = self.tiles[k]
        h, w = self._size(t)
        return k, int(self.rng.integers(0, t.y1 - t.y0 - h + 1)), int(self.rng.integers(0, t.x1 - t.x0 - w + 1)), h, w


def _offsets(last: int, stride: int) -> list[int]:
    """Offsets 0, stride, 2 stride, ... up to and including ``last``."""
    offsets = list(range(0, last + 1, stride))
    if offsets[-1] != last:
        offsets.append(last)
    return offsets
