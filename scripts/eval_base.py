"""Base model on a folder of images: float (training path) against exact (coded file) bpsp.

For every image it computes the float model's ideal code length (z bits included, same
tiles as the codec), then compresses and decompresses it with the exact path, checks the
round trip and times both. Prints a markdown table and writes OUT/base_eval.csv.

    python scripts/eval_base.py ../shared/data/kodak --out results/base --threads 2
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from lora_codec.codec import Codec, encode_latents, latent_shape, tile_grid
from lora_codec.data import list_images, load_rgb
from lora_codec.models.predictor import mixture_bits


def float_bits(codec: Codec, img: np.ndarray) -> float:
    """Ideal bits of the float model, tiled exactly as the codec tiles."""
    model = codec.model
    grid = tile_grid(img.shape[0], img.shape[1], model.cfg.tile)
    latents = encode_latents(model, img, grid)
    feats = torch.zeros(1, model.cfg.features, img.shape[0], img.shape[1])
    z_bits = 0.0
    with torch.no_grad():
        tiles = [t for band in grid for t in band]
        for t, z in zip(tiles, latents):
            zt = torch.from_numpy(z).float()[None]
            levels = latent_shape(model, t)[0]
            feats[..., t.y0 : t.y1, t.x0 : t.x1] = model.model.features(zt, levels, t.y1 - t.y0, t.x1 - t.x0)
            z_bits += float(model.model.prior.bits(zt))
        x = torch.from_numpy(img.transpose(2, 0, 1).copy()).float()[None]
        return float(mixture_bits(x, *model.model.predictor(x, feats))) + z_bits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--out", default="results/base")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    codec = Codec()
    rows = []
    for path in list_images(args.folder):
        img = load_rgb(path)
        fb = float_bits(codec, img)
        t0 = time.perf_counter()
        data = codec.compress(img)
        t1 = time.perf_counter()
        out = codec.decompress(data)
        t2 = time.perf_counter()
        if not np.array_equal(out, img):
            raise SystemExit(f"{path.name}: round trip failed")
        rows.append({"image": path.name, "float_bpsp": fb / img.size, "exact_bpsp": 8 * len(data) / img.size,
                     "encode_s": t1 - t0, "decode_s": t2 - t1})
        print(f"{path.name}: float {rows[-1]['float_bpsp']:.4f}  exact {rows[-1]['exact_bpsp']:.4f}  "
              f"enc {t1 - t0:.2f}s dec {t2 - t1:.2f}s", flush=True)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "base_eval.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    fl = statistics.mean(r["float_bpsp"] for r in rows)
    ex = statistics.mean(r["exact_bpsp"] for r in rows)
    print(f"\n| model {codec.model.model_id.hex()} | float bpsp | exact bpsp (file) | exact vs float | "
          f"median encode s | median decode s |\n|---|---|---|---|---|---|\n"
          f"| {len(rows)} images | {fl:.4f} | {ex:.4f} | {100 * (ex / fl - 1):+.2f} % | "
          f"{statistics.median(r['encode_s'] for r in rows):.2f} | "
          f"{statistics.median(r['decode_s'] for r in rows):.2f} |")


if __name__ == "__main__":
    main()
