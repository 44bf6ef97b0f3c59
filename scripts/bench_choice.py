"""Encode-time overhead of choosing among the learned, indexed and stored files (issue 14):
``compress`` with the choice (default) against ``fallback=False`` (learned only), in one
process, one thread, the two interleaved per image; prints medians and their ratio.

    python scripts/bench_choice.py ../shared/data/kodak --limit 4 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lora_codec.codec import Codec
from lora_codec.data import list_images, load_rgb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    codec = Codec()
    codec.compress(load_rgb(list_images(args.folder)[0])[:32, :32])  # load the model first
    rows = []
    for path in list_images(args.folder)[: args.limit]:
        img = load_rgb(path)
        times = {True: [], False: []}
        for _ in range(args.repeat):
            for choice in (True, False):
                t0 = time.perf_counter()
                codec.compress(img, fallback=choice)
                times[choice].append(time.perf_counter() - t0)
        with_choice, without = statistics.median(times[True]), statistics.median(times[False])
        rows.append(with_choice / without)
        print(f"{path.name}: {with_choice:.3f} s with the choice, {without:.3f} s without, "
              f"{100 * (with_choice / without - 1):+.1f} %", flush=True)
    print(f"median overhead: {100 * (statistics.median(rows) - 1):+.1f} %")


if __name__ == "__main__":
    main()
