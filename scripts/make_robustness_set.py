"""Writes the robustness group of issue 14 into a folder, for scripts/compare.py:
palette-quantized Kodak images (with and without dithering), a photo with its two low
bits cleared, a grey photo stored as RGB, a thumbnail enlarged 4 x 4 by nearest neighbour
(pixel-art style), and the synthetic images of make_ood_images.py.

    python scripts/make_robustness_set.py ../shared/data/kodak results/robust_images
    python scripts/compare.py results/robust_images --codecs png,webp,jpegxl-e7 --out results/robust
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    kodak, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)

    def load(name: str) -> Image.Image:
        with Image.open(kodak / f"{name}.png") as img:
            return img.convert("RGB")

    load("kodim03").quantize(256, dither=Image.Dither.NONE).convert("RGB").save(out / "kodim03_256colours.png")
    load("kodim05").quantize(256, dither=Image.Dither.FLOYDSTEINBERG).convert("RGB").save(
        out / "kodim05_256colours_dithered.png")
    Image.fromarray(np.asarray(load("kodim20")) & 0xFC).save(out / "kodim20_low_bits_cleared.png")
    grey = np.asarray(load("kodim23").convert("L"))
    Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2)).save(out / "kodim23_grey_as_rgb.png")
    thumbnail = np.asarray(load("kodim23").resize((192, 128), Image.Resampling.LANCZOS))
    Image.fromarray(np.repeat(np.repeat(thumbnail, 4, axis=0), 4, axis=1)).save(out / "kodim23_thumbnail_4x_nearest.png")
    subprocess.run([sys.executable, str(Path(__file__).parent / "make_ood_images.py"), str(out)], check=True)
    print(f"wrote the robustness group to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
