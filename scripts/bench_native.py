"""Time of the native pixel loop alone (predictor + calibration + refinement + range
coder), per sub-pixel, for each shipped learned-mode model (and any --model-file) and each
pixel-stream format of --versions, on the same images and features, in one process.

The UNet features are computed first and not timed; encoding and decoding of the pixel
stream are timed separately (median of --repeat runs per image, one thread).

    python scripts/bench_native.py ../shared/data/kodak --limit 4 --versions 4,5 --default-only
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from lora_codec import entropy
from lora_codec.coding.groups import CodingWeights, StreamFormat, band_features, group_latents, in_coding_order
from lora_codec.coding.tiles import tile_grid
from lora_codec.data import list_images, load_rgb
from lora_codec.coding.modes import MODES
from lora_codec.registry import load_model_file, load_shipped_model, shipped_model_files


def features(model, img: np.ndarray) -> np.ndarray:
    grid = tile_grid(img.shape[0], img.shape[1], model.cfg.tile)
    latents = group_latents(model, img)
    weights = CodingWeights.of(model)
    out = np.zeros(img.shape[:2] + (model.cfg.features,), np.int16)
    pos = 0
    for band in grid:
        out[band[0].y0 : band[0].y1] = band_features(model, weights, band, latents[pos : pos + len(band)],
                                                      img.shape[1])
        pos += len(band)
    return out


def time_loop(model, img: np.ndarray, feats: np.ndarray, repeat: int, fmt: StreamFormat) -> tuple[float, float]:
    planes = in_coding_order(model, img)
    enc_t, dec_t = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        enc = entropy.PixelEncoder(model.predictor_weights, calibrate=fmt.calibrated, refine=fmt.refined)
        enc.code_rows(planes, np.zeros(planes.shape, np.int16), feats, 0, 0, planes.shape[0])
        data = enc.finish()
        t1 = time.perf_counter()
        out = np.zeros_like(planes)
        dec = entropy.PixelDecoder(model.predictor_weights, data, calibrate=fmt.calibrated, refine=fmt.refined)
        dec.code_rows(out, np.zeros(planes.shape, np.int16), feats, 0, 0, planes.shape[0])
        dec.check()
        t2 = time.perf_counter()
        assert np.array_equal(out, planes)
        enc_t.append(t1 - t0)
        dec_t.append(t2 - t1)
    return statistics.median(enc_t), statistics.median(dec_t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model-file", action="append", default=[], help="also time this model file")
    parser.add_argument("--default-only", action="store_true", help="of the shipped models, only the default")
    parser.add_argument("--versions", default="5", help="pixel-stream formats to time, comma-separated")
    args = parser.parse_args()
    torch.set_num_threads(1)
    shipped = [load_shipped_model(MODES["learned"].model_file)] if args.default_only else [load_model_file(p) for p in shipped_model_files()]
    models = shipped + [load_model_file(p) for p in args.model_file]
    models = [m for m in models if not m.guided]
    images = [load_rgb(p) for p in list_images(args.folder)[: args.limit]]
    print("| model | kind | format | encode µs / sub-pixel | decode µs / sub-pixel |\n|---|---|---|---|---|")
    for model in models:
        feats = [features(model, img) for img in images]
        for version in [int(v) for v in args.versions.split(",")]:
            fmt = StreamFormat.of(version)
            enc, dec = [], []
            for img, f in zip(images, feats):
                e, d = time_loop(model, img, f, args.repeat, fmt)
                enc.append(1e6 * e / img.size)
                dec.append(1e6 * d / img.size)
            kind = "engine" if model.engine else "med"
            print(f"| {model.model_id.hex()} | {kind} | v{version} | {statistics.median(enc):.3f} | "
                  f"{statistics.median(dec):.3f} |", flush=True)


if __name__ == "__main__":
    main()
