"""Image files to arrays, random training crops, and the HEVC-reconstructed training pairs
of rc models."""

from __future__ import annotations

import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm", ".tif", ".tiff", ".bmp", ".webp"}


def list_images(folder: str | Path, exclude: tuple[str, ...] = ()) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name, less those named in ``exclude``."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.name not in exclude)


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


class GuidedCropSampler(CropSampler):
    """Crops of (image, lossy reconstruction) pairs: the same window and flip of both."""

    def __init__(self, images: list[np.ndarray], reconstructions: list[list[np.ndarray]], crop: int, seed: int):
        keep = [k for k, im in enumerate(images) if min(im.shape[:2]) >= crop]
        super().__init__([images[k] for k in keep], crop, seed)
        self.reconstructions = [reconstructions[k] for k in keep]

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Two (size, 3, crop, crop) uint8 arrays: images and their reconstructions."""
        out = np.empty((size, 3, self.crop, self.crop), dtype=np.uint8)
        guide = np.empty_like(out)
        for k in range(size):
            idx = self.rng.choice(len(self.images), p=self.weights)
            im = self.images[idx]
            recon = self.reconstructions[idx][self.rng.integers(len(self.reconstructions[idx]))]
            y = self.rng.integers(0, im.shape[0] - self.crop + 1)
            x = self.rng.integers(0, im.shape[1] - self.crop + 1)
            flip = self.rng.random() < 0.5
            for dst, src in ((out, im), (guide, recon)):
                patch = src[y : y + self.crop, x : x + self.crop]
                dst[k] = (patch[:, ::-1] if flip else patch).transpose(2, 0, 1)
        return out, guide


class EngineCropSampler(CropSampler):
    """Crops in coding order with the online engine's outputs for each sub-pixel.

    The engine runs on the crop plus ``margin`` rows above and columns to the left, so its
    state is warm inside the crop, as it is inside an image being coded."""

    def __init__(self, images: list[np.ndarray], crop: int, seed: int, margin: int = 16) -> None:
        super().__init__(images, crop + margin, seed)
        self.inner = crop
        self.margin = margin

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(size, 3, crop, crop) uint8 crops in coding order (G, R, B) and their engine
        outputs (size, 3, crop, crop, 8) int32."""
        from .entropy import engine_outputs
        from .grids import COLOUR_ORDER

        windows = super().batch(size)[:, list(COLOUR_ORDER)]
        m = self.margin
        out = np.empty((size, 3, self.inner, self.inner), dtype=np.uint8)
        eng = np.empty((size, 3, self.inner, self.inner, 8), dtype=np.int32)
        for k in range(size):
            hwc = np.ascontiguousarray(windows[k].transpose(1, 2, 0))
            eng[k] = engine_outputs(hwc)[m:, m:].transpose(2, 0, 1, 3)
            out[k] = windows[k][:, m:, m:]
        return out, eng


def _hevc_job(args: tuple[str, int, str]) -> str:
    from . import base_layer

    path, quality, target = args
    if not Path(target).exists():
        layer = base_layer.encode(load_rgb(path), quality)
        tmp = Path(target).with_suffix(".tmp.npy")
        np.save(tmp, layer.reconstruction)
        tmp.replace(target)
    return target


def hevc_reconstructions(paths: list[Path], cache: str | Path, per_image: int, qualities: tuple[int, int],
                         seed: int, workers: int = 2) -> list[list[np.ndarray]]:
    """HEVC reconstructions of each image at ``per_image`` qualities drawn from the
    inclusive range ``qualities`` (seeded per file name), cached as .npy files."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    jobs = []
    for path in paths:
        rng = np.random.default_rng([seed, zlib.crc32(path.name.encode())])
        picks = rng.choice(np.arange(qualities[0], qualities[1] + 1), size=per_image, replace=False)
        jobs.append([(str(path), int(q), str(cache / f"{path.stem}.q{int(q)}.npy")) for q in picks])
    flat = [j for group in jobs for j in group]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_hevc_job, flat, chunksize=4))
    return [[np.load(target) for _, _, target in group] for group in jobs]
