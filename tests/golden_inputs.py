"""Fixed inputs for the golden-bitstream tests (pure arithmetic, no RNG)."""

import numpy as np


def mixture_case(n: int = 120, k: int = 3):
    i = np.arange(n, dtype=np.int64)
    symbols = ((i * 37 + 11) % 256).astype(np.int32)
    means = np.stack([(symbols.astype(np.int64) * 16 + ((i * (c + 3)) % 41) - 20) for c in range(k)], 1)
    log_scales = np.stack([((i * (c + 5)) % 70) - 20 for c in range(k)], 1)
    logits = np.stack([((i * (c + 7)) % 33) - 16 for c in range(k)], 1)
    return symbols, means.astype(np.int32), log_scales.astype(np.int32), logits.astype(np.int32)


def table_case(n: int = 100):
    cdfs = np.array([[0, 100, 1000, 30000, 65536], [0, 16000, 32000, 48000, 65536], [0, 1, 2, 3, 65536]], np.int32)
    i = np.arange(n)
    return ((i * 7) % 4).astype(np.int32), ((i * 5) % 3).astype(np.int32), cdfs


def golden_image(height: int, width: int, planes: int, seed: int) -> np.ndarray:
    """A small photo-like image from integer arithmetic only (no RNG, stable forever)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    out = np.empty((height, width, planes), np.uint8)
    for c in range(planes):
        v = 60 + (x * (3 + c + seed)) % 97 + (y * (5 + 2 * c)) % 61 + 40 * (x > width // 2)
        v = v + ((x * 7919 + y * 104729 + c * 31 + seed) % 13) - 6
        out[:, :, c] = np.clip(v, 0, 255).astype(np.uint8)
    return out
