"""Rate against adaptation steps: bpsp (split into adapter / z / pixel bits) and encode
seconds for each ``--steps`` value, on every image of a folder.

    python scripts/sweep_steps.py ../shared/data/kodak --steps 0,25,50,100,200,400 --out results/sweep

Writes OUT/sweep.csv (one row per image and step count), OUT/sweep.md (means) and
OUT/sweep.png (stacked bpsp against steps, with encode seconds on a second axis).
Runs single-threaded; ``--limit N`` takes the first N images.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--steps", default="0,25,50,100,200,400")
    parser.add_argument("--out", required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lora_codec import Codec
    from lora_codec.coding.sections import section_stats
    from lora_codec.data import list_images, load_rgb

    torch.set_num_threads(args.threads)
    steps = [int(s) for s in args.steps.split(",")]
    files = list_images(args.folder)[: args.limit]
    if not files:
        sys.exit(f"sweep_steps.py: no images in {args.folder}")
    codec = Codec()
    rows = []
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns) as progress:
        task = progress.add_task("sweep", total=len(files) * len(steps))
        for path in files:
            img = load_rgb(path)
            for n in steps:
                t0 = time.perf_counter()
                data = codec.compress(img, steps=n)
                seconds = time.perf_counter() - t0
                split = section_stats(data)["split_bpsp"]
                rows.append({"image": path.name, "steps": n, "bpsp": 8 * len(data) / img.size,
                             "adapter_bpsp": split["adapter"], "z_bpsp": split["z"],
                             "pixel_bpsp": split["pixels"] + split["container"], "encode_s": seconds})
                progress.advance(task)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "sweep.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    means = []
    for n in steps:
        mine = [r for r in rows if r["steps"] == n]
        means.append({k: statistics.mean(r[k] for r in mine) for k in
                      ("bpsp", "adapter_bpsp", "z_bpsp", "pixel_bpsp", "encode_s")} | {"steps": n})
    base = means[0]["bpsp"] if steps[0] == 0 else None
    lines = [f"Command: `python scripts/sweep_steps.py {' '.join(sys.argv[1:])}`", "",
             f"{len(files)} images, single thread.", "",
             "| steps | bpsp | vs steps 0 | adapter | z | pixels | encode s (mean) |", "|---|---|---|---|---|---|---|"]
    for m in means:
        rel = f"{100 * (m['bpsp'] / base - 1):+.2f} %" if base else ""
        lines.append(f"| {m['steps']} | {m['bpsp']:.4f} | {rel} | {m['adapter_bpsp']:.4f} | {m['z_bpsp']:.4f} | "
                     f"{m['pixel_bpsp']:.4f} | {m['encode_s']:.1f} |")
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    _plot(out / "sweep.png", means)


def _plot(path: Path, means: list[dict]) -> None:
    """Two panels: the mean bpsp stacked from zero (pixels, z, adapters: no part hidden
    below a cut axis), and each part's change against the first step count in per cent of
    its total, with the encode seconds on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(means))
    labels = [str(m["steps"]) for m in means]
    fig, (ax, ax_rel) = plt.subplots(1, 2, figsize=(11, 4.5))
    bottom = np.zeros(len(means))
    for key, label in (("pixel_bpsp", "pixels"), ("z_bpsp", "latent z"), ("adapter_bpsp", "adapters")):
        vals = np.array([m[key] for m in means])
        ax.bar(x, vals, bottom=bottom, label=label, width=0.6)
        bottom += vals
    ax.set_ylim(0, max(m["bpsp"] for m in means) * 1.08)
    ax.set_xticks(x, labels)
    ax.set_xlabel("LoRA adaptation steps")
    ax.set_ylabel("mean bits per sub-pixel (bpsp)")
    ax.set_title("File size, stacked from zero")
    ax.legend(fontsize=8, loc="lower right")

    first = means[0]["bpsp"]
    for key, label, style in (("bpsp", "file", "o-"), ("pixel_bpsp", "pixels", "s--"),
                              ("adapter_bpsp", "adapters", "^:")):
        change = [100 * (m[key] - means[0][key]) / first for m in means]
        ax_rel.plot(x, change, style, label=label)
    ax_rel.axhline(0, color="grey", linewidth=0.8)
    ax_rel.set_xticks(x, labels)
    ax_rel.set_xlabel("LoRA adaptation steps")
    ax_rel.set_ylabel(f"change against steps {means[0]['steps']}, % of its file size")
    ax_rel.set_title("Where the bits go")
    seconds = ax_rel.twinx()
    seconds.plot(x, [m["encode_s"] for m in means], "k.-", alpha=0.5, label="encode seconds")
    seconds.set_ylim(0, None)
    seconds.set_ylabel("mean encode seconds per image (1 thread)")
    h1, l1 = ax_rel.get_legend_handles_labels()
    h2, l2 = seconds.get_legend_handles_labels()
    ax_rel.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
