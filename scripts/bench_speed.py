"""Speed against JPEG-XL e7, whole process and in process, one thread (or --threads N), per image.

Whole process means what a user runs: ``python -m lora_codec compress IMG -o F.lcz`` and
``python -m lora_codec decompress F.lcz -o OUT.png``, against a Python process that reads
the PNG with Pillow, encodes it with JPEG-XL e7 through imagecodecs and writes the file
(and the reverse: read, decode, write a PNG with Pillow). Both sides start Python, read
and write the same kinds of files, and run on one thread (``--threads 1``,
``numthreads=1``, ``OMP_NUM_THREADS=1``), or both on N threads with ``--threads N``.
In process means the library calls alone
(``lora_codec.compress`` / ``decompress`` against ``jpegxl_encode`` / ``jpegxl_decode``).

Each figure is the median of --repeat runs, the two codecs' runs interleaved, and the
ratios are taken within each image: the machine is shared and noisy, so quote ratios.

    python scripts/bench_speed.py ../shared/data/kodak --limit 6 --repeat 3
    python scripts/bench_speed.py ../shared/data/kodak --limit 6 --repeat 3 --threads 2

``--fast`` times lora-codec's files coded without the bit refinement (``compress --fast``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JXL_ENCODE = """
import sys
import imagecodecs, numpy as np
from PIL import Image
a = np.asarray(Image.open(sys.argv[1]))
open(sys.argv[2], "wb").write(imagecodecs.jpegxl_encode(a, lossless=True, effort=7, numthreads=int(sys.argv[3])))
"""

JXL_DECODE = """
import sys
import imagecodecs
from PIL import Image
Image.fromarray(imagecodecs.jpegxl_decode(open(sys.argv[1], "rb").read(), numthreads=int(sys.argv[3]))).save(sys.argv[2])
"""


def _run(cmd: list[str]) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_image(path: Path, repeat: int, work: Path, threads: int = 1, fast: bool = False) -> dict[str, float]:
    import imagecodecs
    import numpy as np
    from PIL import Image

    import lora_codec

    lcz, jxl, out_png = work / "a.lcz", work / "a.jxl", work / "out.png"
    py = sys.executable
    lora_c = [py, "-m", "lora_codec", "compress", str(path), "-o", str(lcz), "--force", "--quiet", "--threads", str(threads)]
    lora_c += ["--fast"] if fast else []
    lora_d = [py, "-m", "lora_codec", "decompress", str(lcz), "-o", str(out_png), "--force", "--quiet",
              "--threads", str(threads)]
    jxl_c = [py, "-c", JXL_ENCODE, str(path), str(jxl), str(threads)]
    jxl_d = [py, "-c", JXL_DECODE, str(jxl), str(out_png), str(threads)]
    codec = lora_codec.Codec(threads=threads)
    img = np.asarray(Image.open(path))
    data = codec.compress(img, fast=fast)
    coded = imagecodecs.jpegxl_encode(img, lossless=True, effort=7, numthreads=threads)
    times: dict[str, list[float]] = {k: [] for k in ("lc", "ld", "jc", "jd", "ilc", "ild", "ijc", "ijd")}
    for _ in range(repeat):  # interleaved, so drifts of the machine hit both codecs
        times["lc"].append(_run(lora_c))
        times["jc"].append(_run(jxl_c))
        times["ld"].append(_run(lora_d))
        times["jd"].append(_run(jxl_d))
        times["ilc"].append(_timed(lambda: codec.compress(img, fast=fast)))
        times["ijc"].append(_timed(lambda: imagecodecs.jpegxl_encode(img, lossless=True, effort=7,
                                                                      numthreads=threads)))
        times["ild"].append(_timed(lambda: codec.decompress(data)))
        times["ijd"].append(_timed(lambda: imagecodecs.jpegxl_decode(coded, numthreads=threads)))
    assert np.array_equal(codec.decompress(data), img)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--limit", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="threads of both codecs (stripes; JPEG-XL's groups)")
    parser.add_argument("--fast", action="store_true", help="lora-codec without the bit refinement (compress --fast)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    images = sorted(Path(args.folder).glob("*.png"))[: args.limit]
    if not images:
        sys.exit(f"no PNG images in {args.folder}")
    rows = []
    print("| image | compress s (lora / JXL e7) | ratio | decompress s (lora / JXL e7) | ratio "
          "| in process: compress ratio | decompress ratio |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for path in images:
            t = bench_image(path, args.repeat, Path(tmp), args.threads, args.fast)
            r = (t["lc"] / t["jc"], t["ld"] / t["jd"], t["ilc"] / t["ijc"], t["ild"] / t["ijd"])
            rows.append((t, r))
            print(f"| {path.name} | {t['lc']:.2f} / {t['jc']:.2f} | {r[0]:.2f}x | {t['ld']:.2f} / {t['jd']:.2f} "
                  f"| {r[1]:.2f}x | {r[2]:.2f}x | {r[3]:.2f}x |", flush=True)
    med = [statistics.median(r[k] for _, r in rows) for k in range(4)]
    lc, jc = (statistics.median(t[k] for t, _ in rows) for k in ("lc", "jc"))
    ld, jd = (statistics.median(t[k] for t, _ in rows) for k in ("ld", "jd"))
    print(f"| **median of {len(rows)}** | {lc:.2f} / {jc:.2f} | **{med[0]:.2f}x** | {ld:.2f} / {jd:.2f} "
          f"| **{med[1]:.2f}x** | {med[2]:.2f}x | {med[3]:.2f}x |")


if __name__ == "__main__":
    main()
