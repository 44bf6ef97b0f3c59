"""The default model on a folder of images: file bytes, the float model, and what the UNet adds.

For every image it compresses and decompresses with the shipped default model (checking
the round trip and timing both), and measures with the exact integer path:

* the float model's ideal code length (the training path, z bits included);
* the UNet ablation: the pixels' ideal code length with the decoder's features of z and
  of an all-zero z (what the decoder gives without any information about the image),
  against the bits z costs. The UNet pays when its gain exceeds z's bits.

Prints a markdown table and writes OUT/base_eval.csv.

    python scripts/eval_base.py ../shared/data/kodak --out results/base --threads 2
    python scripts/eval_base.py ../shared/data/train --only-validation configs/engine.toml --out results/val
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from lora_codec import entropy
from lora_codec.codec import Codec
from lora_codec.coding.groups import CodingWeights, band_features, group_latents, in_coding_order
from lora_codec.coding.latents import latent_shape
from lora_codec.coding.tiles import tile_grid
from lora_codec.config import load_config
from lora_codec.data import list_images, load_rgb
from lora_codec.models.predictor import mixture_bits


def ideal_bits(codec: Codec, img: np.ndarray) -> dict[str, float]:
    """Float bits, and the exact path's pixel bits with and without the UNet features."""
    model = codec.model
    planes = in_coding_order(model, img)
    grid = tile_grid(img.shape[0], img.shape[1], model.cfg.tile)
    latents = group_latents(model, img)
    engine = entropy.engine_outputs(planes) if model.engine else None
    weights = CodingWeights.of(model)
    feats_f = torch.zeros(1, model.cfg.features, img.shape[0], img.shape[1])
    feats_x = np.zeros(img.shape[:2] + (model.cfg.features,), np.int16)
    feats_0 = np.zeros_like(feats_x)
    z_bits = 0.0
    with torch.no_grad():
        pos = 0
        for band in grid:
            feats_x[band[0].y0 : band[0].y1] = band_features(model, weights, band, latents[pos : pos + len(band)],
                                                              img.shape[1])
            feats_0[band[0].y0 : band[0].y1] = band_features(
                model, weights, band, [np.zeros_like(z) for z in latents[pos : pos + len(band)]], img.shape[1])
            for t, z in zip(band, latents[pos : pos + len(band)]):
                zt = torch.from_numpy(z).float()[None]
                levels = latent_shape(model, t)[0]
                feats_f[..., t.y0 : t.y1, t.x0 : t.x1] = model.model.features(zt, levels, t.y1 - t.y0, t.x1 - t.x0)
                z_bits += float(model.model.prior.bits(zt))
            pos += len(band)
        x = torch.from_numpy(planes.transpose(2, 0, 1).copy()).float()[None]
        e = None if engine is None else torch.from_numpy(engine.transpose(2, 0, 1, 3).copy()).float()[None]
        float_bits = float(mixture_bits(x, *model.model.predict(x, feats_f, None, e))) + z_bits

    def exact_pixel_bits(feats: np.ndarray) -> float:
        means, scales, logits = entropy.predict_params(planes, feats, model.predictor_weights)
        k = means.shape[-1]
        return entropy.mixture_cdf_bits(planes.reshape(-1).astype(np.int32), means.reshape(-1, k),
                                        scales.reshape(-1, k), logits.reshape(-1, k))

    return {"float": float_bits, "z": z_bits, "with_unet": exact_pixel_bits(feats_x),
            "without_unet": exact_pixel_bits(feats_0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--out", default="results/base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only-validation", metavar="CONFIG",
                        help="only the images that CONFIG's [train] validation list names")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    codec = Codec()
    paths = list_images(args.folder)
    if args.only_validation:
        keep = set(load_config(args.only_validation).train.validation)
        paths = [p for p in paths if p.name in keep]
    rows = []
    for path in paths[: args.limit]:
        img = load_rgb(path)
        t0 = time.perf_counter()
        data = codec.compress(img)
        t1 = time.perf_counter()
        out = codec.decompress(data)
        t2 = time.perf_counter()
        if not np.array_equal(out, img):
            raise SystemExit(f"{path.name}: round trip failed")
        bits = ideal_bits(codec, img)
        n = img.size
        rows.append({"image": path.name, "file_bpsp": 8 * len(data) / n, "float_bpsp": bits["float"] / n,
                     "z_bpsp": bits["z"] / n, "pixels_bpsp": bits["with_unet"] / n,
                     "pixels_no_unet_bpsp": bits["without_unet"] / n, "encode_s": t1 - t0, "decode_s": t2 - t1})
        r = rows[-1]
        print(f"{path.name}: file {r['file_bpsp']:.4f}  float {r['float_bpsp']:.4f}  z {r['z_bpsp']:.4f}  "
              f"UNet gain {r['pixels_no_unet_bpsp'] - r['pixels_bpsp']:+.4f}  enc {t1 - t0:.2f}s dec {t2 - t1:.2f}s",
              flush=True)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "base_eval.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    def mean(key: str) -> float:
        return statistics.mean(r[key] for r in rows)

    gain = mean("pixels_no_unet_bpsp") - mean("pixels_bpsp")
    print(f"\n| model {codec.model.model_id.hex()} ({len(rows)} images) | file bpsp | float bpsp | z bpsp | "
          f"UNet's gain (z zeroed) | pixels with z zeroed | median encode s | median decode s |\n"
          f"|---|---|---|---|---|---|---|---|\n"
          f"| mean | {mean('file_bpsp'):.4f} | {mean('float_bpsp'):.4f} | {mean('z_bpsp'):.4f} | {gain:+.4f} | "
          f"{mean('pixels_no_unet_bpsp'):.4f} | {statistics.median(r['encode_s'] for r in rows):.2f} | "
          f"{statistics.median(r['decode_s'] for r in rows):.2f} |")


if __name__ == "__main__":
    main()
