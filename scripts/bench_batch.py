"""Whole-process time of a batch: one command over a folder's images, files one at a time
(``--jobs 1``, each file's stripes on the threads) against the default (several files at
once, lora_codec.batch), both on ``--threads N``.

For each set the images are copied (or cropped with ``--crop WxH``, which makes images
of one stripe when the height is under 384 rows) into a temporary folder, compressed
once to get the .lcz inputs, then both commands run in turn, ``--repeat`` times each,
and the medians and the ratio of the medians are printed. The outputs of the two are
compared byte for byte (a batch's files do not depend on how many run at once).

    python scripts/bench_batch.py ../shared/data/kodak --limit 8 --repeat 3 --threads 2
    python scripts/bench_batch.py ../shared/data/kodak --limit 8 --repeat 3 --threads 2 --crop 640x360
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--crop", default=None, help="WxH: the top-left corner of each image, this size")
    args = parser.parse_args()
    images = sorted(Path(args.folder).glob("*.png"))[: args.limit]
    if not images:
        sys.exit(f"no PNG images in {args.folder}")
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src, lcz = work / "src", work / "lcz"
        src.mkdir()
        for path in images:
            with Image.open(path) as img:
                if args.crop:
                    w, h = (int(v) for v in args.crop.lower().split("x"))
                    img = img.crop((0, 0, min(w, img.width), min(h, img.height)))
                img.save(src / path.name)
        subprocess.run([py, "-m", "lora_codec", "compress", str(src), "--out-dir", str(lcz), "--quiet"], check=True)
        common = ["--threads", str(args.threads), "--force", "--quiet"]
        commands = {
            "compress": lambda out: [py, "-m", "lora_codec", "compress", str(src), "--out-dir", str(out), *common],
            "decompress": lambda out: [py, "-m", "lora_codec", "decompress", str(lcz), "--out-dir", str(out), *common],
        }
        print(f"{len(images)} images{' cropped to ' + args.crop if args.crop else ''}, --threads {args.threads}, "
              f"medians of {args.repeat}")
        print("| command | files one at a time (--jobs 1) s | default (files at once) s | ratio |")
        print("|---|---|---|---|")
        for name, command in commands.items():
            one, many = work / f"{name}_one", work / f"{name}_many"
            times: dict[str, list[float]] = {"one": [], "many": []}
            for _ in range(args.repeat):
                times["one"].append(_timed(command(one) + ["--jobs", "1"]))
                times["many"].append(_timed(command(many)))
            if _outputs(one) != _outputs(many):
                sys.exit(f"{name}: the outputs differ between --jobs 1 and the default")
            a, b = statistics.median(times["one"]), statistics.median(times["many"])
            print(f"| {name} | {a:.2f} | {b:.2f} | {a / b:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
