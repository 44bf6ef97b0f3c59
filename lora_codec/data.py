"""Image files to arrays, and random training crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm", ".tif", ".tiff", ".bmp", ".webp"}


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_rgb(path: str | Path) -> np.ndarray:
    """An (H, W, 3) uint8 array."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


class CropSampler:
    """Random square crops (with random horizontal flips) from images held in memory."""

    def __init__(self, images: list[np.ndarray], crop: int, seed: int) -> None:
        self.images = [im for im in images if min(im.shape[:2]) >= crop]
        if not self.images:
            raise ValueError(f"no training image is at least {crop} px on each side")
        weights = np.array([im.shape[0] * im.shape[1] for im in self.images], dtype=np.float64)
        self.weights = weights / weights.sum()
        self.crop = crop
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> np.ndarray:
        """(size, 3, crop, crop) uint8, images chosen in proportion to their area."""
        out = np.empty((size, 3, self.crop, self.crop), dtype=np.uint8)
        for k in range(size):
            im = self.images[self.rng.choice(len(self.images), p=self.weights)]
            y = self.rng.integers(0, im.shape[0] - self.crop + 1)
            x = self.rng.integers(0, im.shape[1] - self.crop + 1)
            patch = im[y : y + self.crop, x : x + self.crop]
            if self.rng.random() < 0.5:
                patch = patch[:, ::-1]
            out[k] = patch.transpose(2, 0, 1)
        return out
