"""How much the UNet's features depend on its latent z: the exact integer decoder of a
shipped model on every tile of a folder's images, from the tiles' real z, from z = 0 and
from random z in [-8, 8].

    python scripts/probe_latent.py ../shared/data/kodak

Prints the count of non-zero latent values and of feature values that differ from the
features of z = 0. A decoder whose features barely move with z gives the head nothing
that z could carry (docs/design.md, "The UNet does not pay").
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--model", default="engine3.safetensors", help="a shipped model file (default: the default model)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from lora_codec.coding.groups import CodingWeights, group_latents
    from lora_codec.coding.latents import latent_shape
    from lora_codec.coding.tiles import tile_grid
    from lora_codec.data import list_images, load_rgb
    from lora_codec.exact.evaluate import decode_features
    from lora_codec.registry import load_shipped_model

    model = load_shipped_model(args.model)
    weights = CodingWeights.of(model)
    files = list_images(args.folder)
    if not files:
        sys.exit(f"probe_latent.py: no images in {args.folder}")
    rng = np.random.default_rng(args.seed)
    nonzero = latents = real = random = values = 0
    for path in files:
        pixels = load_rgb(path)
        tiles = [t for band in tile_grid(pixels.shape[0], pixels.shape[1], model.cfg.tile) for t in band]
        for tile, z in zip(tiles, group_latents(model, pixels)):
            levels, h, w = latent_shape(model, tile)[0], tile.y1 - tile.y0, tile.x1 - tile.x0
            zero = decode_features(weights.decoder, np.zeros_like(z), levels, h, w)
            real += int((decode_features(weights.decoder, z, levels, h, w) != zero).sum())
            noise = rng.integers(-8, 9, z.shape)
            random += int((decode_features(weights.decoder, noise, levels, h, w) != zero).sum())
            values += zero.size
            nonzero += int((z != 0).sum())
            latents += z.size
    print(f"{len(files)} images, model {args.model}: {nonzero} of {latents} latent values are non-zero")
    print(f"feature values that differ from those of z = 0: real z {real} of {values} "
          f"({100 * real / values:.3f} %), random z in [-8, 8] {random} ({100 * random / values:.3f} %)")


if __name__ == "__main__":
    main()
