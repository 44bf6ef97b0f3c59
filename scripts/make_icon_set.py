"""Writes icon-like images made from photographs into a folder, for scripts/compare.py:
each image shrunk to a square of each size (Lanczos) and quantised by Pillow (median cut,
no dithering beyond Pillow's default) to a few colours, as ``NAME_SIZE_qCOLOURS.png``.
Small palette images are where a codec's fixed costs and its models' cold start show.

The icon sets of docs/design.md ("Small palettes as Golomb-Rice codes") were made with

    python scripts/make_icon_set.py results/icons VALSET/deb_Blinds.png ...  # every third validation image
    python scripts/make_icon_set.py results/train_icons --sizes 16,32,64,128 --colours 16,64 TRAIN/...
    python scripts/compare.py results/icons --steps 0 --codecs png,webp,jpegxl-e7 --jobs 1 --out results/icons_cmp
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image


def icons(img: Image.Image, sizes: list[int], colours: list[int]) -> dict[str, Image.Image]:
    """The icons of an RGB image, by ``SIZE_qCOLOURS``."""
    out = {}
    for size in sizes:
        small = img.resize((size, size), Image.Resampling.LANCZOS)
        for count in colours:
            out[f"{size}_q{count}"] = small.quantize(count).convert("RGB")
    return out


def _numbers(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--sizes", type=_numbers, default=[16, 32, 64], help="square sides, e.g. 16,32,64")
    parser.add_argument("--colours", type=_numbers, default=[16], help="palette sizes, e.g. 16,64")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in args.images:
        with Image.open(path) as img:
            for kind, icon in icons(img.convert("RGB"), args.sizes, args.colours).items():
                icon.save(args.out / f"{path.stem}_{kind}.png")
                count += 1
    print(f"wrote {count} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
