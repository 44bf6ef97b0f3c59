"""Makes a few deterministic images unlike the training photographs (a chart, a text
page and a UI-like screenshot), for the out-of-domain adaptation measurements.

    python scripts/make_ood_images.py results/ood
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def chart(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 2, figsize=(7.68, 5.12), dpi=100)
    x = np.linspace(0, 10, 200)
    for k in range(4):
        axes[0].plot(x, np.sin(x + k) * np.exp(-x / (5 + k)), label=f"series {k}")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    axes[1].imshow(rng.normal(size=(40, 40)).cumsum(0), cmap="viridis")
    axes[1].set_title("heat map")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def text_page(path: Path) -> None:
    img = Image.new("RGB", (768, 512), (250, 250, 245))
    draw = ImageDraw.Draw(img)
    words = "lossless compression keeps every bit of the image exactly as it was written".split()
    rng = np.random.default_rng(1)
    for row in range(30):
        line = " ".join(rng.choice(words, 12))
        draw.text((20, 10 + 16 * row), line, fill=(20, 20, 30))
    img.save(path)


def screenshot(path: Path) -> None:
    img = Image.new("RGB", (768, 512), (236, 239, 244))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 767, 36), fill=(46, 52, 64))
    for i, name in enumerate(["File", "Edit", "View", "Image", "Help"]):
        draw.text((12 + 60 * i, 12), name, fill=(236, 239, 244))
    draw.rectangle((0, 37, 180, 511), fill=(216, 222, 233))
    for i in range(14):
        draw.text((14, 50 + 30 * i), f"kodim{i + 1:02d}.lcz", fill=(59, 66, 82))
    for i in range(6):
        x0, y0 = 200 + (i % 3) * 185, 60 + (i // 3) * 210
        draw.rounded_rectangle((x0, y0, x0 + 170, y0 + 190), 8, fill=(255, 255, 255), outline=(180, 180, 190))
        shade = np.linspace(60, 220, 150).astype(np.uint8)
        patch = np.stack([np.tile(shade, (120, 1)), np.tile(shade[::-1], (120, 1)), np.full((120, 150), 140, np.uint8)], 2)
        img.paste(Image.fromarray(patch), (x0 + 10, y0 + 10))
        draw.text((x0 + 10, y0 + 150), f"image {i}  3.1 bpsp", fill=(40, 40, 40))
    img.save(path)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "results/ood")
    out.mkdir(parents=True, exist_ok=True)
    chart(out / "chart.png")
    text_page(out / "text.png")
    screenshot(out / "screenshot.png")
    print(f"wrote {out}/chart.png, text.png, screenshot.png")


if __name__ == "__main__":
    main()
