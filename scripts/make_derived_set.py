"""Writes everyday derivatives of photographs into a folder, for scripts/compare.py: the
kinds of 8-bit file an archive holds besides camera originals. From each image:

* ``NAME_jpeg90.png`` and ``NAME_jpeg75.png``: it saved as JPEG at quality 90 and 75 and
  decoded again (a JPEG kept as PNG);
* ``NAME_bicubic2x.png``: its top-left quarter enlarged 2 x 2 (bicubic, 8 bits);
* ``NAME_grey.png``: it in grey (one plane);
* ``NAME_half.png``: it at half its size (Lanczos, 8 bits);
* ``NAME_64px.png``: its central 64 x 64 pixels (an icon-sized crop: the coders' cold
  start);
* ``NAME_alpha.png``: it with a soft radial alpha plane (RGBA);
* edits made at 8 bits, which leave gaps in the histogram or add detail:
  ``NAME_levels.png`` (contrast stretched, ``(v - 40) * 1.45``, clipped),
  ``NAME_gamma.png`` (brightened, ``255 (v / 255) ^ 0.6``), ``NAME_sharpened.png``
  (unsharp mask, radius 2, 150 %) and ``NAME_noisy.png`` (Gaussian noise of standard
  deviation 6 added, as a high-ISO photograph; the same seeded noise for every image).

    python scripts/make_derived_set.py results/derived ../shared/data/kodak/kodim01.png ...
    python scripts/compare.py results/derived --steps 0 --codecs png,webp,jpegxl-e7 --jobs 2 --out results/derived_cmp
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


def derivatives(img: Image.Image) -> dict[str, Image.Image]:
    """The eleven derived images of an RGB image, by kind."""
    w, h = img.size
    out = {}
    for quality in (90, 75):
        buffer = io.BytesIO()
        img.save(buffer, "JPEG", quality=quality)
        buffer.seek(0)
        out[f"jpeg{quality}"] = Image.open(buffer).convert("RGB")
    out["bicubic2x"] = img.crop((0, 0, w // 2, h // 2)).resize((w // 2 * 2, h // 2 * 2), Image.Resampling.BICUBIC)
    out["grey"] = img.convert("L")
    out["half"] = img.resize((w // 2, h // 2), Image.Resampling.LANCZOS)
    out["64px"] = img.crop((w // 2 - 32, h // 2 - 32, w // 2 + 32, h // 2 + 32))
    yy, xx = np.mgrid[0:h, 0:w]
    alpha = (255 * np.clip(1.3 - np.hypot(yy / h - 0.5, xx / w - 0.5) * 2.2, 0, 1)).astype(np.uint8)
    out["alpha"] = Image.fromarray(np.dstack([np.asarray(img), alpha]))
    v = np.asarray(img).astype(np.float64)
    out["levels"] = Image.fromarray(np.clip(np.round((v - 40) * 1.45), 0, 255).astype(np.uint8))
    out["gamma"] = Image.fromarray(np.clip(np.round(255 * (v / 255) ** 0.6), 0, 255).astype(np.uint8))
    out["sharpened"] = img.filter(ImageFilter.UnsharpMask(radius=2, percent=150, threshold=0))
    noise = np.random.default_rng(0).normal(0, 6, v.shape)
    out["noisy"] = Image.fromarray(np.clip(np.round(v + noise), 0, 255).astype(np.uint8))
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for name in argv[1:]:
        path = Path(name)
        with Image.open(path) as img:
            for kind, derived in derivatives(img.convert("RGB")).items():
                derived.save(out / f"{path.stem}_{kind}.png")
                count += 1
    print(f"wrote {count} images to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
