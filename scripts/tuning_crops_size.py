"""Pixel-stream bpsp of the default model on the refinement's tuning set: centred 384 x 384
crops of 8 training images outside the validation split, coded in one format.

Encoder side only (the pixel streams are not decoded), so a change of the online stages
can be judged on size before it is made decodable; the tuning set never includes Kodak
or the validation split.

    python scripts/tuning_crops_size.py --version 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from lora_codec import entropy
from lora_codec.coding.groups import CodingWeights, StreamFormat, band_features, group_latents, in_coding_order
from lora_codec.coding.modes import MODES
from lora_codec.coding.tiles import tile_grid
from lora_codec.config import load_config
from lora_codec.data import list_images, load_rgb
from lora_codec.registry import load_shipped_model

ROOT = Path(__file__).resolve().parent.parent


def tuning_images(train: Path) -> list[Path]:
    """Every 27th training image outside the validation split, from the 6th: 8 images."""
    validation = set(load_config(ROOT / "configs" / "engine.toml").train.validation)
    return [p for p in list_images(train) if p.name not in validation][5::27][:8]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default=str(ROOT.parent / "shared" / "data" / "train"))
    parser.add_argument("--version", type=int, default=5, help="pixel-stream format")
    args = parser.parse_args()
    model = load_shipped_model(MODES["learned"].model_file)
    weights, fmt = CodingWeights.of(model), StreamFormat.of(args.version)
    bits = subpixels = 0
    for path in tuning_images(Path(args.train)):
        img = load_rgb(path)
        y0, x0 = (img.shape[0] - 384) // 2, (img.shape[1] - 384) // 2
        img = np.ascontiguousarray(img[y0 : y0 + 384, x0 : x0 + 384])
        latents, feats, pos = group_latents(model, img), np.zeros(img.shape[:2] + (model.cfg.features,), np.int16), 0
        for band in tile_grid(img.shape[0], img.shape[1], model.cfg.tile):
            feats[band[0].y0 : band[0].y1] = band_features(model, weights, band, latents[pos : pos + len(band)],
                                                          img.shape[1])
            pos += len(band)
        planes = in_coding_order(model, img)
        enc = entropy.PixelEncoder(model.predictor_weights, calibrate=fmt.calibrated, refine=fmt.refined)
        enc.code_rows(planes, np.zeros(planes.shape, np.int16), feats, 0, 0, planes.shape[0])
        n = 8 * len(enc.finish())
        print(f"{path.name}: {n / planes.size:.4f} bpsp", file=sys.stderr)
        bits, subpixels = bits + n, subpixels + planes.size
    print(f"mean bpsp {bits / subpixels:.4f}")


if __name__ == "__main__":
    main()
