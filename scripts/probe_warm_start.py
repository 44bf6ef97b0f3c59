"""Probe: would a warm start help a stripe? Codes each Kodak-width image cold, and again
after a 256 x 768 crop of a training image (outside the validation split) in the same
pixel stream, so that every online stage starts from that image's state; prints the
image's bits per sub-pixel both ways (the primed figure is the joint stream's bits minus
the crop's own).

    python scripts/probe_warm_start.py ../shared/data/kodak ../shared/data/train --limit 8
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import numpy as np

from bench_native import features
from lora_codec import entropy
from lora_codec.coding.groups import in_coding_order
from lora_codec.data import list_images, load_rgb
from lora_codec.registry import load_shipped_model

ROOT = Path(__file__).resolve().parent.parent


def stream_bits(model, img: np.ndarray) -> int:
    planes = in_coding_order(model, img)
    enc = entropy.PixelEncoder(model.predictor_weights, calibrate=True, refine=True)
    enc.code_rows(planes, np.zeros(planes.shape, np.int16), features(model, img), 0, 0, planes.shape[0])
    return 8 * len(enc.finish())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images")
    parser.add_argument("train")
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--primers", type=int, default=2)
    args = parser.parse_args()
    model = load_shipped_model("engine3.safetensors")
    held_out = set(tomllib.loads((ROOT / "configs" / "engine3.toml").read_text())["train"]["validation"])
    primers = []
    for path in list_images(args.train):
        img = load_rgb(path)
        if path.name not in held_out and img.shape[0] >= 256 and img.shape[1] >= 768 and img.shape[2] == 3:
            primers.append(np.ascontiguousarray(img[:256, :768]))
        if len(primers) == args.primers:
            break
    cold = primed = samples = 0
    for path in list_images(args.images)[: args.limit]:
        img = load_rgb(path)
        if img.shape[1] != 768 or img.shape[2] != 3:
            continue
        c = stream_bits(model, img)
        p = [stream_bits(model, np.concatenate([pr, img])) - stream_bits(model, pr) for pr in primers]
        cold, primed, samples = cold + c, primed + float(np.mean(p)), samples + img.size
        print(f"{path.name}: cold {c / img.size:.4f}, primed {', '.join(f'{x / img.size:.4f}' for x in p)} bpsp",
              flush=True)
    print(f"mean: cold {cold / samples:.4f}, primed {primed / samples:.4f} bpsp "
          f"({100 * (primed / cold - 1):+.2f} %)")


if __name__ == "__main__":
    main()
