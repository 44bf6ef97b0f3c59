"""Benchmark: peak memory and seconds to compress and decompress one large image.

Builds a synthetic photo-like RGB image of the requested size (default 6000 x 4000 =
24 megapixels), then compresses and decompresses it in this process, printing the peak
resident set size (VmHWM) after each phase and checking the round trip. ``--threads``
codes the stripes of 256 rows in parallel; the file does not depend on it.

    python scripts/bench_memory.py [--width 6000] [--height 4000] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def synthetic(height: int, width: int) -> np.ndarray:
    """Smooth gradients, edges and noise, row band by row band (bounded memory)."""
    rng = np.random.default_rng(0)
    out = np.empty((height, width, 3), np.uint8)
    x = np.arange(width)[None, :]
    for y0 in range(0, height, 512):
        y = np.arange(y0, min(height, y0 + 512))[:, None]
        for c in range(3):
            v = 110 + 50 * np.sin(x / (37.0 + 11 * c)) * np.cos(y / 53.0) + 40 * ((x // 300 + y // 200) % 2)
            out[y0 : y0 + y.shape[0], :, c] = np.clip(v + rng.normal(0, 4, v.shape), 0, 255)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import lora_codec

    codec = lora_codec.Codec(threads=args.threads)  # stripes of 256 rows on this many threads
    img = synthetic(args.height, args.width)
    mp = img.shape[0] * img.shape[1] / 1e6
    print(f"image {args.width}x{args.height} ({mp:.1f} MP, {img.nbytes / 2**20:.0f} MiB of pixels); "
          f"baseline peak RSS {peak_rss_mb():.0f} MiB")
    reset_peak()
    t0 = time.perf_counter()
    data = codec.compress(img)
    t1 = time.perf_counter()
    print(f"compress:   {t1 - t0:.1f} s ({(t1 - t0) / mp:.2f} s/MP), {8 * len(data) / img.size:.3f} bpsp, "
          f"peak RSS {peak_rss_mb():.0f} MiB")
    reset_peak()
    t0 = time.perf_counter()
    out = codec.decompress(data)
    t1 = time.perf_counter()
    print(f"decompress: {t1 - t0:.1f} s ({(t1 - t0) / mp:.2f} s/MP), peak RSS {peak_rss_mb():.0f} MiB")
    assert np.array_equal(out, img), "round trip failed"
    print("round trip exact")


if __name__ == "__main__":
    main()
