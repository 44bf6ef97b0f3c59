"""Writes 16-bit PNG versions of a folder of 8-bit images, for scripts/compare.py (mode
deep). We have no 16-bit photographs, so each image gives five made the way such files
are made:

* ``NAME_widened.png``: its 8-bit samples widened to 16 bits (``v * 257``, as an editor
  converting to 16 bits does);
* ``NAME_box10.png``: 2 x 2 pixel sums of it (10 significant bits, half the size), stored
  MSB-aligned (``<< 6``), as a downscale kept at 16 bits;
* ``NAME_box12.png``: 4 x 4 pixel sums (12 bits, a quarter of the size), ``<< 4``;
* ``NAME_smooth.png``: its top-left quarter enlarged 2 x 2 (bicubic, computed in float)
  and scaled to 16 bits, rounded: all 16 bits carry the smooth signal, as in a 16-bit
  render or a low-noise scan;
* ``NAME_half.png``: it downscaled to half its size (Lanczos, in float) and scaled to 16
  bits, rounded: a photograph resized and exported at 16 bits.

    python scripts/make_deep_set.py ../shared/data/kodak results/deep_images
    python scripts/compare.py results/deep_images --steps 0 --codecs png,jpeg2000,jpegxl-e7 --out results/deep
"""

from __future__ import annotations

import sys
from pathlib import Path

import imagecodecs
import numpy as np
from PIL import Image


def box_sums(pixels: np.ndarray, k: int) -> np.ndarray:
    """Sums of k x k pixel blocks (the image cropped to a multiple of k)."""
    h, w = pixels.shape[0] // k * k, pixels.shape[1] // k * k
    blocks = pixels[:h, :w].astype(np.uint32).reshape(h // k, k, w // k, k, -1)
    return blocks.sum(axis=(1, 3))


def smooth_enlargement(pixels: np.ndarray) -> np.ndarray:
    """The top-left quarter enlarged 2 x 2 by bicubic interpolation in float, times 257,
    rounded to 16 bits."""
    h, w = pixels.shape[0] // 2, pixels.shape[1] // 2
    planes = [np.asarray(Image.fromarray(pixels[:h, :w, c].astype(np.float32), "F").resize((2 * w, 2 * h),
                                                                                       Image.BICUBIC))
              for c in range(pixels.shape[2])]
    return np.clip(np.round(np.stack(planes, 2) * 257.0), 0, 65535).astype(np.uint16)


def half_size(pixels: np.ndarray) -> np.ndarray:
    """The image at half its size (Lanczos, in float), times 257, rounded to 16 bits."""
    h, w = pixels.shape[0] // 2, pixels.shape[1] // 2
    planes = [np.asarray(Image.fromarray(pixels[:, :, c].astype(np.float32), "F").resize((w, h), Image.LANCZOS))
              for c in range(pixels.shape[2])]
    return np.clip(np.round(np.stack(planes, 2).astype(np.float64) * 257.0), 0, 65535).astype(np.uint16)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    source, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.png")):
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("RGB"))
        variants = {
            "widened": pixels.astype(np.uint16) * 257,
            "box10": (box_sums(pixels, 2) << 6).astype(np.uint16),
            "box12": (box_sums(pixels, 4) << 4).astype(np.uint16),
            "smooth": smooth_enlargement(pixels),
            "half": half_size(pixels),
        }
        for name, samples in variants.items():
            (out / f"{path.stem}_{name}.png").write_bytes(imagecodecs.png_encode(samples, level=6))
    print(f"wrote {len(variants) * len(list(source.glob('*.png')))} images to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
