"""Benchmark: the PNG writer of ``decompress`` against Pillow's, on the same pixels, one thread.

``lora_codec.png_writer.encode_png`` lets Pillow choose the row filters and write the
chunks with the pixel data stored, then deflates that data with libdeflate; before, Pillow
deflated it with zlib at level 6. Both write the same pixels (checked); each time is the
minimum of --repeat runs, and the summary gives the sums and the median per-image ratio.

    python scripts/bench_png_writer.py ../shared/data/kodak [more.png ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lora_codec.data import list_images
from lora_codec.png_writer import encode_png


def _best_of(repeat: int, fn) -> tuple[float, bytes]:
    times, out = [], b""
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def _pillow_level_6(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="PNG files or folders of them")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paths = [p for arg in args.inputs for p in (list_images(Path(arg)) if Path(arg).is_dir() else [Path(arg)])]
    rows = []
    for path in paths:
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("RGB"))
        old_s, old = _best_of(args.repeat, lambda: _pillow_level_6(pixels))
        new_s, new = _best_of(args.repeat, lambda: encode_png(pixels, "RGB", {}))
        with Image.open(io.BytesIO(new)) as back:
            if not np.array_equal(np.asarray(back), pixels):
                raise SystemExit(f"{path.name}: the written PNG holds other pixels")
        rows.append((old_s, new_s, len(old), len(new)))
        print(f"{path.name}: Pillow zlib-6 {old_s:.3f} s {len(old)} B, lora-codec {new_s:.3f} s {len(new)} B")
    old_s, new_s, old_b, new_b = (sum(r[i] for r in rows) for i in range(4))
    ratio = statistics.median(r[1] / r[0] for r in rows)
    print(f"{len(rows)} images: {old_s:.3f} -> {new_s:.3f} s (median ratio {ratio:.2f}), "
          f"{old_b} -> {new_b} B ({100 * (new_b / old_b - 1):+.2f} %)")


if __name__ == "__main__":
    main()
