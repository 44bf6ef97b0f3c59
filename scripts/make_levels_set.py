"""Writes images whose histograms have gaps into a folder, for scripts/compare.py: each
photograph with its contrast stretched 1.5, 1.25 and 1.1 times, its gamma changed (0.8 and
1.25), one and two low bits cleared, 6 bits a sample scaled back to 8, and expanded from
RGB565, as ``NAME_VARIANT.png``. Such histograms, sparse or combs (the edits leave
levels empty between used ones), are where the encoder's channel palettes (the ``XFRM``
section) may pay.

The set of docs/design.md ("Channel palettes only where they pay, and for combs") was made with

    python scripts/make_levels_set.py results/levels ../shared/data/kodak/kodim05.png ../shared/data/kodak/kodim23.png
    python scripts/compare.py results/levels --steps 0 --codecs png,webp,jpegxl-e7 --jobs 1 --out results/levels_cmp
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def _stretched(pixels: np.ndarray, factor: float) -> np.ndarray:
    """The contrast stretched ``factor`` times about mid-grey, rounded and clipped."""
    return np.clip(np.rint((pixels.astype(np.float64) - 128) * factor + 128), 0, 255).astype(np.uint8)


def _gamma(pixels: np.ndarray, gamma: float) -> np.ndarray:
    """Each sample v becomes 255 (v / 255) ** gamma, rounded."""
    return np.rint(255 * (pixels.astype(np.float64) / 255) ** gamma).astype(np.uint8)


def _rgb565(pixels: np.ndarray) -> np.ndarray:
    """5, 6 and 5 bits of R, G and B, expanded back to 8 by repeating their top bits."""
    r, g, b = pixels[:, :, 0] >> 3, pixels[:, :, 1] >> 2, pixels[:, :, 2] >> 3
    return np.stack([(r << 3) | (r >> 2), (g << 2) | (g >> 4), (b << 3) | (b >> 2)], axis=2).astype(np.uint8)


def variants(pixels: np.ndarray) -> dict[str, np.ndarray]:
    """The gapped-histogram versions of an (H, W, 3) uint8 image, by name."""
    six_bits = pixels >> 2
    return {
        "stretch150": _stretched(pixels, 1.5),
        "stretch125": _stretched(pixels, 1.25),
        "stretch110": _stretched(pixels, 1.1),
        "gamma080": _gamma(pixels, 0.8),
        "gamma125": _gamma(pixels, 1.25),
        "lowbit1": pixels & 0xFE,
        "lowbits2": pixels & 0xFC,
        "6bit": ((six_bits.astype(np.int64) * 255 + 31) // 63).astype(np.uint8),
        "rgb565": _rgb565(pixels),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write into")
    parser.add_argument("images", nargs="+", type=Path, help="source photographs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in args.images:
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("RGB"))
        for name, out in variants(pixels).items():
            Image.fromarray(out).save(args.out / f"{path.stem}_{name}.png")
            written += 1
    print(f"wrote {written} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
