"""Time of the UNet decoder's features, in process: every tile of every PNG in a folder
through the whole exact decoder (``exact.decode_features``) against
``coding.groups.ExactTileFeatures`` (recomputed near the non-zero latents only), checking
that both give the same integers. The shipped learned model; seconds per image.

    python scripts/bench_features.py ../shared/data/kodak
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lora_codec import exact
from lora_codec.coding.groups import CodingWeights, ExactTileFeatures, group_latents
from lora_codec.coding.latents import latent_shape
from lora_codec.coding.modes import MODES
from lora_codec.coding.tiles import tile_grid
from lora_codec.registry import load_shipped_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    model = load_shipped_model(MODES["learned"].model_file)
    weights = CodingWeights.of(model)
    whole = near = 0.0
    images = sorted(args.folder.glob("*.png"))
    for path in images:
        pixels = np.asarray(Image.open(path).convert("RGB"))
        latents = group_latents(model, pixels)
        tiles = [t for band in tile_grid(pixels.shape[0], pixels.shape[1], model.cfg.tile) for t in band]
        calls = [(z, latent_shape(model, t)[0], t.y1 - t.y0, t.x1 - t.x0) for t, z in zip(tiles, latents)]
        started = time.perf_counter()
        expected = [exact.decode_features(weights.decoder, *call) for call in calls]
        middle = time.perf_counter()
        features = ExactTileFeatures(weights.decoder)
        got = [features(*call) for call in calls]
        whole, near = whole + middle - started, near + time.perf_counter() - middle
        if not all(np.array_equal(a, b) for a, b in zip(expected, got)):
            raise SystemExit(f"{path.name}: the features differ")
    n = len(images)
    print(f"{n} images: whole decoder {whole / n:.3f} s an image, near the non-zero latents "
          f"{near / n:.3f} s an image ({near / whole:.2f}x)")


if __name__ == "__main__":
    main()
