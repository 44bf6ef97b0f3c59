"""Adaptation settings on real images: file bpsp with and without adapters, per image.

    python scripts/probe_adapt.py ../shared/data/kodak --steps 200 --crop 48 --core 0

Codes each image at ``--steps 0`` and at ``--steps N`` with the given AdaptOptions (the
product's defaults unless given), checks
the round trip, and prints one line per image plus the change of the mean bpsp. Pinned to
one core and single-threaded so that two probes can run side by side. ``--learned-only``
measures the learned model alone, on images whose files would otherwise be indexed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from lora_codec.lora.options import AdaptOptions  # no torch: the defaults below are the product's

    d = AdaptOptions()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=d.batch, help="crops per step")
    parser.add_argument("--crop", type=int, default=d.crop)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--rank", type=int, default=d.rank)
    parser.add_argument("--images", default=None, help="comma-separated file names (default: all)")
    parser.add_argument("--targets", default=None, help="comma-separated layers to adapt (default: AdaptOptions')")
    parser.add_argument("--schedule", default=d.schedule, help="crop schedule: rate (costliest first, the default) or uniform")
    parser.add_argument("--exp-a", type=int, default=d.exp_a, help="A's grid is 2^-EXP_A")
    parser.add_argument("--exp-b", type=int, default=d.exp_b, help="B's grid is 2^-EXP_B")
    parser.add_argument("--core", type=int, default=None, help="pin to this CPU core")
    parser.add_argument("--learned-only", action="store_true",
                        help="the learned model's files only (no indexed or stored file replaces them)")
    args = parser.parse_args()
    if args.core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    import torch
    from PIL import Image

    from lora_codec import Codec

    torch.set_num_threads(1)
    codec = Codec()
    targets = AdaptOptions.from_args(targets=args.targets).targets
    options = AdaptOptions(batch=args.batch, crop=args.crop, lr=args.lr, rank=args.rank, targets=targets,
                           schedule=args.schedule, exp_a=args.exp_a, exp_b=args.exp_b)
    folder = Path(args.folder)
    names = args.images.split(",") if args.images else sorted(p.name for p in folder.glob("*.png"))
    base, adapted = [], []
    for name in names:
        with Image.open(folder / name) as img:
            pixels = np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
        plain = codec.compress(pixels, fallback=not args.learned_only)
        t0 = time.perf_counter()
        data = codec.compress(pixels, steps=args.steps, adaptation=options, fallback=not args.learned_only)
        seconds = time.perf_counter() - t0
        if not np.array_equal(codec.decompress(data), pixels):
            raise SystemExit(f"{name}: round trip failed")
        base.append(8 * len(plain) / pixels.size)
        adapted.append(8 * len(data) / pixels.size)
        print(f"{name} steps0 {base[-1]:.4f} steps{args.steps} {adapted[-1]:.4f} "
              f"{100 * (adapted[-1] / base[-1] - 1):+.2f} % {seconds:.1f} s", flush=True)
    print(f"mean steps0 {statistics.mean(base):.4f} steps{args.steps} {statistics.mean(adapted):.4f} "
          f"{100 * (statistics.mean(adapted) / statistics.mean(base) - 1):+.2f} %")


if __name__ == "__main__":
    main()
