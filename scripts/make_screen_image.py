"""Writes a synthetic screenshot with repeated photo thumbnails (too many colours for mode
`indexed`, so coded by the learned pixel streams), to measure their match model (format
v11): the UI of scripts/make_ood_images.py with six 150 x 120 thumbnails of a Kodak image,
alternately as they are and mirrored, so that four are exact copies of an earlier one.

    python scripts/make_screen_image.py ../shared/data/kodak results/screen
    python scripts/compare.py results/screen --steps 0 --codecs png,webp,jpegxl-e7
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_ood_images import screenshot  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kodak", type=Path, help="the folder of the Kodak images")
    parser.add_argument("out", type=Path, help="where to write screenshot_thumbnails.png")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "screenshot_thumbnails.png"
    screenshot(path)
    with Image.open(args.kodak / "kodim15.png") as photo:
        thumb = photo.convert("RGB").resize((150, 120))
    with Image.open(path) as base:
        img = base.convert("RGB")
    for i in range(6):
        x0, y0 = 200 + (i % 3) * 185, 60 + (i // 3) * 210  # the cards of make_ood_images.screenshot
        img.paste(thumb if i % 2 == 0 else thumb.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (x0 + 10, y0 + 10))
    img.save(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
