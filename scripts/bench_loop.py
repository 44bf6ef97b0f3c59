"""Decode time of the native pixel loop alone, per sub-pixel, on one crop: the minimum of
--repeat decodes in this process (features precomputed, one thread).

It times the installed package, or with --baseline DIR the package of an older checkout
whose extension was built in place. The issue's baseline is commit 2d6604d (the MED model
before the SIMD head):

    git worktree add /tmp/baseline 2d6604d
    cmake -S /tmp/baseline -B /tmp/baseline-build -DSKBUILD_PROJECT_NAME=_native \\
        -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" -DCMAKE_BUILD_TYPE=Release
    cmake --build /tmp/baseline-build && cp /tmp/baseline-build/_native*.so /tmp/baseline/lora_codec/entropy/
    for k in 1 2 3 4; do
        python scripts/bench_loop.py --baseline /tmp/baseline
        python scripts/bench_loop.py --version 5
        LORA_CODEC_KERNEL=sse2 python scripts/bench_loop.py --version 5
        python scripts/bench_loop.py --version 4
    done

The machine is shared and noisy: run the commands interleaved, as above, and quote the
median over processes of each one's minimum.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

KODIM05 = "../shared/data/kodak/kodim05.png"


def _crop(path: str) -> np.ndarray:
    from PIL import Image

    return np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB"))[:256, :384])


def current(img: np.ndarray, version: int, repeat: int) -> float:
    from lora_codec import entropy
    from lora_codec.coding.groups import CodingWeights, StreamFormat, band_features, group_latents, in_coding_order
    from lora_codec.coding.modes import MODES
    from lora_codec.coding.tiles import tile_grid
    from lora_codec.registry import load_shipped_model

    model = load_shipped_model(MODES["learned"].model_file)
    weights, latents = CodingWeights.of(model), group_latents(model, img)
    feats = np.zeros(img.shape[:2] + (model.cfg.features,), np.int16)
    pos = 0
    for band in tile_grid(img.shape[0], img.shape[1], model.cfg.tile):
        feats[band[0].y0 : band[0].y1] = band_features(model, weights, band, latents[pos : pos + len(band)], img.shape[1])
        pos += len(band)
    planes, fmt = in_coding_order(model, img), StreamFormat.of(version)
    enc = entropy.PixelEncoder(model.predictor_weights, calibrate=fmt.calibrated, refine=fmt.refined)
    enc.code_rows(planes, np.zeros(planes.shape, np.int16), feats, 0, 0, planes.shape[0])
    data = enc.finish()
    best = float("inf")
    for _ in range(repeat):
        out = np.zeros_like(planes)
        t = time.perf_counter()
        dec = entropy.PixelDecoder(model.predictor_weights, data, calibrate=fmt.calibrated, refine=fmt.refined)
        dec.code_rows(out, np.zeros(planes.shape, np.int16), feats, 0, 0, planes.shape[0])
        best = min(best, time.perf_counter() - t)
        assert np.array_equal(out, planes)
    return best


def baseline(img: np.ndarray, root: str, repeat: int) -> float:
    """The same measurement with commit 2d6604d's package (its own API)."""
    sys.path.insert(0, root)
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower() and "skbc" not in repr(f).lower()]
    from lora_codec import codec, entropy  # the baseline's modules
    from lora_codec.models.registry import load_model_file

    model = load_model_file(f"{root}/lora_codec/weights/base.safetensors")
    weights = codec.CodingWeights.of(model)
    grid = codec.tile_grid(img.shape[0], img.shape[1], model.cfg.tile)
    latents = codec.encode_latents(model, img, grid)
    feats, pos = [], 0
    for band in grid:
        feats.append(codec._band_features(model, weights, band, latents[pos : pos + len(band)], img.shape[1], None))
        pos += len(band)
    enc = entropy.PixelEncoder(weights.predictor)
    for band, f in zip(grid, feats):
        enc.code_rows(img, np.zeros(img.shape, np.int16), f, band[0].y0, band[0].y0, band[0].y1, None)
    data = enc.finish()
    best = float("inf")
    for _ in range(repeat):
        out, errors = np.zeros_like(img), np.zeros(img.shape, np.int16)
        t = time.perf_counter()
        dec = entropy.PixelDecoder(weights.predictor, data)
        for band, f in zip(grid, feats):
            dec.code_rows(out, errors, f, band[0].y0, band[0].y0, band[0].y1, None)
        best = min(best, time.perf_counter() - t)
        assert np.array_equal(out, img)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=KODIM05, help="a 384 x 256 crop of it is coded (default kodim05)")
    parser.add_argument("--version", type=int, default=5, help="pixel-stream format of the installed package")
    parser.add_argument("--baseline", metavar="DIR", help="time the package of this checkout instead")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    img = _crop(args.image)
    seconds = baseline(img, args.baseline, args.repeat) if args.baseline else current(img, args.version, args.repeat)
    label = f"baseline {args.baseline}" if args.baseline else f"format v{args.version}"
    print(f"{label}: {1e6 * seconds / img.size:.3f} µs per sub-pixel (minimum of {args.repeat})")


if __name__ == "__main__":
    main()
