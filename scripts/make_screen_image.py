"""Writes a synthetic screenshot with repeated photo thumbnails (too many colours for mode
`indexed`, so coded by the learned pixel streams), to measure their match model (format
v11): the UI of scripts/make_ood_images.py with six 150 x 120 thumbnails of a Kodak image,
alternately as they are and mirrored, so that four are exact copies of an earlier one.

    python scripts/make_screen_image.py ../shared/data/kodak results/screen
    python scripts/compare.py results/screen --steps 0 --codecs png,webp,jpegxl-e7
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_ood_images import screenshot  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    kodak, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    screenshot(out / "screenshot_thumbnails.png")
    with Image.open(kodak / "kodim15.png") as photo:
        thumb = photo.convert("RGB").resize((150, 120))
    with Image.open(out / "screenshot_thumbnails.png") as base:
        img = base.convert("RGB")
    for i in range(6):
        x0, y0 = 200 + (i % 3) * 185, 60 + (i // 3) * 210  # the cards of make_ood_images.screenshot
        img.paste(thumb if i % 2 == 0 else thumb.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (x0 + 10, y0 + 10))
    img.save(out / "screenshot_thumbnails.png")
    print(f"wrote {out}/screenshot_thumbnails.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
