"""Comparison report: lora-codec beside PNG, WebP, JPEG 2000, JPEG-XL, JPEG-LS and AVIF.

Every codec runs in its own worker process, pinned to its own CPU core and single-threaded,
so no timing is taken while another job competes for that core (``--jobs`` <= cores).
Every round trip is verified pixel for pixel; a codec that is not lossless on an image is
reported as such and left out of its averages. Images are coded as they are (grey, grey +
alpha, RGB, RGBA; 8 or 16 bits): bpsp counts bits per sample of the image, and a peer that
codes colour only (WebP, AVIF) is given grey as RGB copies, as a user of it would.

    python scripts/compare.py ../shared/data/kodak --steps 0,200 --rc-steps 0 --out results/kodak

``--steps`` adds lora-codec rows in the default (learned) mode, ``--rc-steps`` rows in rc
mode (HEVC base layer + learned residual, quality chosen by the classifier; with
``--rc-search`` also rows with the quality searched per image); ``--fast`` adds rows coded
without the bit refinement (``lora-codec compress --fast``) at the ``--steps`` given.

Writes OUT/report.md (overall table, then per image), OUT/results.csv and two plots:
OUT/bpsp_per_image.png and OUT/pareto.png (bpsp against encode seconds per megapixel).
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import queue as queue_module
import statistics
import sys
import time
from pathlib import Path

import numpy as np

PEERS = ("png", "webp", "jpeg2000", "jpegxl-e7", "jpegxl-e9", "jpegls", "avif")
PUBLISHED = [
    ("L3C (Mentzer et al., CVPR 2019)", "Kodak", 3.26),
    ("DLPR (Bai et al., 2022)", "Kodak", 2.86),
    ("FLIF", "Kodak", 2.90),
    ("RC (Mentzer et al., CVPR 2020)", "Open Images 500", 2.790),
    ("RC", "CLIC mobile", 2.537),
    ("RC", "CLIC pro", 2.932),
    ("RC", "DIV2K", 3.078),
]
NOTES = {
    "jpegls": "imagecodecs' JPEG-LS applies no colour transform (planes coded independently).",
    "avif": "AVIF lossless: level 100, 4:4:4, identity matrix; verified per image.",
}


def peer_codec(name: str):
    """(encode, decode) for a peer codec, through imagecodecs, single-threaded."""
    import imagecodecs as ic

    table = {
        "png": (lambda a: ic.png_encode(a, level=9), ic.png_decode),
        "webp": (lambda a: ic.webp_encode(a, level=100, lossless=True, method=6, numthreads=1), ic.webp_decode),
        "jpeg2000": (lambda a: ic.jpeg2k_encode(a, reversible=True, numthreads=1), ic.jpeg2k_decode),
        "jpegxl-e7": (lambda a: ic.jpegxl_encode(a, lossless=True, effort=7, numthreads=1),
                      lambda d: ic.jpegxl_decode(d, numthreads=1)),
        "jpegxl-e9": (lambda a: ic.jpegxl_encode(a, lossless=True, effort=9, numthreads=1),
                      lambda d: ic.jpegxl_decode(d, numthreads=1)),
        "jpegls": (lambda a: ic.jpegls_encode(a, level=0), ic.jpegls_decode),
        "avif": (lambda a: ic.avif_encode(a, level=100, pixelformat="444", matrix=0, numthreads=1),
                 lambda d: ic.avif_decode(d, numthreads=1)),
    }
    return table[name]


def _reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(path: Path) -> np.ndarray:
    """An image's exact samples as lora-codec reads them, 8 or 16 bits: grey (H, W), grey
    + alpha (H, W, 2), RGB or RGBA (palette images as RGB(A))."""
    from lora_codec.images import read_image

    pixels, _ = read_image(path)
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def _same_image(decoded: np.ndarray, given: np.ndarray) -> bool:
    """Whether every sample came back in its place, whether a grey image is (H, W) or
    (H, W, 1); libwebp drops an alpha plane that is opaque everywhere, which then means
    the same image."""
    if given.ndim == 3 and given.shape[2] == 4 and decoded.shape == given.shape[:2] + (3,) and bool(
            (given[:, :, 3] == np.iinfo(given.dtype).max).all()):
        given = given[:, :, :3]
    return decoded.size == given.size and np.array_equal(decoded.reshape(given.shape), given)


# Planes (grey, grey + alpha) that a peer cannot code as they are (imagecodecs refuses
# them), so it gets the RGB(A) copy a user would give it.
_COLOUR_ONLY = {"webp": (1, 2), "avif": (1, 2), "jpegls": (2,)}


def _expanded(samples: np.ndarray) -> np.ndarray:
    """Grey as RGB and grey + alpha as RGBA, for the peers that code only colour (WebP,
    AVIF; JPEG-LS has no grey + alpha): what a user of those codecs would give them."""
    if samples.ndim == 2:
        return np.repeat(samples[:, :, None], 3, axis=2)
    return np.concatenate([np.repeat(samples[:, :, :1], 3, axis=2), samples[:, :, 1:]], axis=2)


def worker(codec: str, files: list[str], core: int | None, queue, model_file: str | None = None) -> None:
    """Codes every image with one codec; puts one result dict per image on ``queue``.
    ``model_file``: a lora-codec row with that model instead of the shipped default."""
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    os.environ["OMP_NUM_THREADS"] = "1"
    if codec.startswith("lora-codec"):
        import torch

        torch.set_num_threads(1)
        from lora_codec import Codec

        steps = int(codec.split("steps=")[1])
        mode = "rc" if codec.startswith("lora-codec-rc") else "learned"
        fast = codec.startswith("lora-codec-fast")
        quality = "search" if codec.startswith("lora-codec-rc-search") else None
        if model_file:
            from lora_codec.registry import load_model_file

            lc = Codec(model=load_model_file(model_file))
        else:
            lc = Codec()

        def encode(a):
            return lc.compress(a, steps=steps, mode=mode, quality=quality, fast=fast)

        decode = lc.decompress
    else:
        encode, decode = peer_codec(codec)
    for f in files:
        try:
            queue.put(_measure(codec, f, encode, decode))
        except Exception as exc:  # a failing codec is a row marked failed, never a hang
            queue.put({"codec": codec, "image": Path(f).name, "failed": True,
                       "error": (str(exc).splitlines() or [type(exc).__name__])[0]})
    queue.put({"codec": codec, "done": True})


def _measure(codec: str, f: str, encode, decode) -> dict:
    """One image through one codec: sizes, times, the round trip's verdict."""
    img = _load(Path(f))
    planes = 1 if img.ndim == 2 else img.shape[2]
    given = _expanded(img) if planes in _COLOUR_ONLY.get(codec, ()) else img
    _reset_peak_rss()
    t0 = time.perf_counter()
    data = bytes(encode(given))
    t1 = time.perf_counter()
    out = np.asarray(decode(data))
    t2 = time.perf_counter()
    lossless = _same_image(out, given)
    megapixels = img.shape[0] * img.shape[1] / 1e6
    row = {
        "codec": codec, "image": Path(f).name, "bytes": len(data), "lossless": lossless,
        "bpsp": 8 * len(data) / img.size, "encode_s": t1 - t0, "decode_s": t2 - t1,
        "encode_s_per_mp": (t1 - t0) / megapixels, "decode_s_per_mp": (t2 - t1) / megapixels,
        "peak_rss_mb": _peak_rss_mb(),
    }
    if codec.startswith("lora-codec"):
        from lora_codec.coding.sections import section_stats

        stats = section_stats(data)
        split = stats["split_bpsp"]
        row.update({"adapter_bpsp": split["adapter"], "z_bpsp": split["z"], "pixel_bpsp": split["pixels"],
                    "base_bpsp": split["base layer"],
                    "container_bpsp": split["container"] + split.get("metadata", 0.0),
                    "hevc_quality": stats["hevc_quality"].get("colour", "")})
    return row


def summarise(rows: list[dict], codecs: list[str]) -> list[dict]:
    summary = []
    for codec in codecs:
        mine = [r for r in rows if r["codec"] == codec]
        failed = [r for r in mine if r.get("failed")]
        good = [r for r in mine if not r.get("failed") and r["lossless"]]
        if not mine:
            continue
        entry = {
            "codec": codec, "images": len(mine), "failed": len(failed),
            "not_lossless": len(mine) - len(good) - len(failed),
            "bpsp": statistics.mean(r["bpsp"] for r in good) if good else float("nan"),
            "encode_s_per_mp": statistics.median(r["encode_s_per_mp"] for r in good) if good else float("nan"),
            "decode_s_per_mp": statistics.median(r["decode_s_per_mp"] for r in good) if good else float("nan"),
            "encode_s": statistics.median(r["encode_s"] for r in good) if good else float("nan"),
            "decode_s": statistics.median(r["decode_s"] for r in good) if good else float("nan"),
            "peak_rss_mb": max((r["peak_rss_mb"] for r in mine if not r.get("failed")), default=float("nan")),
        }
        for key in ("adapter_bpsp", "z_bpsp", "pixel_bpsp", "base_bpsp", "container_bpsp"):
            if good and key in good[0]:
                entry[key] = statistics.mean(r[key] for r in good)
        summary.append(entry)
    return summary


def write_report(out: Path, rows: list[dict], summary: list[dict], command: str, reference: str | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    fields = ["codec", "image", "bytes", "lossless", "bpsp", "encode_s", "decode_s", "encode_s_per_mp",
              "decode_s_per_mp", "peak_rss_mb", "adapter_bpsp", "z_bpsp", "pixel_bpsp", "base_bpsp",
              "container_bpsp", "hevc_quality", "failed", "error"]
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow(r)
    ref = next((s for s in summary if s["codec"] == reference), None)
    lines = [f"# Lossless comparison\n", f"Command: `{command}`\n",
             "Each codec ran single-threaded in its own process pinned to its own core; every round trip "
             "was verified pixel for pixel. bpsp is the mean over images; seconds are medians per image; "
             "peak RSS is the worker process's high-water mark (lora-codec's includes PyTorch).\n",
             "## Overall\n",
             "| codec | bpsp | vs " + (reference or "-") + " | encode s/MP | decode s/MP | encode s | decode s | "
             "peak RSS MB | adapter / z / pixel / HEVC / container bpsp | not lossless | failed |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in sorted(summary, key=lambda s: s["bpsp"]):
        rel = f"{100 * (s['bpsp'] / ref['bpsp'] - 1):+.1f} %" if ref else ""
        split = (f"{s['adapter_bpsp']:.3f} / {s['z_bpsp']:.3f} / {s['pixel_bpsp']:.3f} / {s['base_bpsp']:.3f} / "
                 f"{s['container_bpsp']:.3f}" if "pixel_bpsp" in s else "")
        lines.append(f"| {s['codec']} | {s['bpsp']:.3f} | {rel} | {s['encode_s_per_mp']:.2f} | "
                     f"{s['decode_s_per_mp']:.2f} | {s['encode_s']:.2f} | {s['decode_s']:.2f} | "
                     f"{s['peak_rss_mb']:.0f} | {split} | {s['not_lossless']} | {s['failed']} |")
    notes = [NOTES[s["codec"]] for s in summary if s["codec"] in NOTES]
    for codec in dict.fromkeys(r["codec"] for r in rows):
        qualities = [r["hevc_quality"] for r in rows
                     if r["codec"] == codec and r.get("hevc_quality") not in (None, "")]
        if qualities:
            counts = {q: qualities.count(q) for q in sorted(set(qualities))}
            notes.append(f"{codec}: per-image HEVC quality choices "
                         + ", ".join(f"q{q} x{n}" for q, n in counts.items()) + ".")
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    lines += ["", "## Published numbers (not measured here, cited)\n", "| method | data set | bpsp |", "|---|---|---|"]
    lines += [f"| {m} | {d} | {b:.3f} |" for m, d, b in PUBLISHED]
    lines += ["", "## Per image (bpsp)\n"]
    codecs = [s["codec"] for s in summary]
    images = sorted({r["image"] for r in rows})
    lines.append("| image | " + " | ".join(codecs) + " |")
    lines.append("|---|" + "---|" * len(codecs))
    by = {(r["codec"], r["image"]): r for r in rows}
    for im in images:
        cells = []
        for c in codecs:
            r = by.get((c, im))
            cells.append("" if r is None else ("FAILED" if r.get("failed") else
                                               f"{r['bpsp']:.3f}" if r["lossless"] else "NOT LOSSLESS"))
        lines.append(f"| {im} | " + " | ".join(cells) + " |")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    try:
        _plots(out, rows, summary, images)
    except ImportError:
        print("compare.py: no plots (they need matplotlib: pip install '.[reports]')", file=sys.stderr)


README_START = "<!-- results:start (written by scripts/compare.py --readme) -->"
README_END = "<!-- results:end -->"


def update_readme(readme: Path, out: Path) -> None:
    """Replace the README's results block with the overall table of ``OUT/report.md``."""
    report = (out / "report.md").read_text().splitlines()
    start = report.index("## Overall") + 1
    end = next(i for i, line in enumerate(report) if line.startswith("## Published numbers"))
    block = [README_START, next(line for line in report if line.startswith("Command:"))]
    block += [line for line in report[start:end]]
    block += [f"Full report, per-image table and plots: `{out}/`.", README_END]
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise SystemExit(f"compare.py: {readme} has no results markers")
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    readme.write_text(head + "\n".join(block) + tail)


def _plots(out: Path, rows: list[dict], summary: list[dict], images: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5))
    x = np.arange(len(images))
    for s in summary:
        ys = [next((r["bpsp"] for r in rows if r["codec"] == s["codec"] and r["image"] == im and r.get("lossless")),
                   np.nan) for im in images]
        ax.plot(x, ys, marker="o", ms=3, lw=1, label=f"{s['codec']} ({s['bpsp']:.3f})")
    ax.set_xticks(x, [im.rsplit(".", 1)[0].replace("kodim", "") for im in images], fontsize=8)
    ax.set_xlabel("image")
    ax.set_ylabel("bits per sub-pixel (bpsp)")
    ax.set_title("Lossless size per image (lower is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "bpsp_per_image.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    for s in summary:
        ax.scatter(s["encode_s_per_mp"], s["bpsp"], s=40)
        ax.annotate(s["codec"], (s["encode_s_per_mp"], s["bpsp"]), fontsize=8, xytext=(4, 3),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("encode time (seconds per megapixel, single thread, log scale)")
    ax.set_ylabel("mean bits per sub-pixel (bpsp)")
    ax.set_title("Size against encode time (lower left is better)")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(out / "pareto.png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--codecs", default=",".join(PEERS), help=f"peers, from {', '.join(PEERS)}")
    parser.add_argument("--steps", default="0", help="lora-codec steps to run, comma-separated ('' for none)")
    parser.add_argument("--rc-steps", default="", help="lora-codec rc-mode steps to run, comma-separated")
    parser.add_argument("--rc-search", action="store_true",
                        help="also rc-mode rows with the quality searched (--quality search) at the --rc-steps")
    parser.add_argument("--out", required=True)
    parser.add_argument("--jobs", type=int, default=1, help="parallel workers, each on its own core")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--reference", default="jpegxl-e7", help="codec the relative column compares with")
    parser.add_argument("--readme", default=None, help="also write the overall table into this README")
    parser.add_argument("--fast", action="store_true",
                        help="also lora-codec rows coded with --fast (no bit refinement) at the --steps given")
    parser.add_argument("--model-file", action="append", default=[],
                        help="also a lora-codec row (--steps 0) with this model file (repeatable)")
    args = parser.parse_args()

    from PIL import Image  # noqa: F401  (fail early if missing)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    files = sorted(str(p) for p in Path(args.folder).iterdir() if p.suffix.lower() in {".png", ".ppm", ".tif", ".bmp"})
    if args.limit:
        files = files[: args.limit]
    if not files:
        sys.exit(f"compare.py: no images in {args.folder}")
    peers = [c.strip() for c in args.codecs.split(",") if c.strip()]
    unknown = [c for c in peers if c not in PEERS]
    if unknown:
        sys.exit(f"compare.py: unknown codecs {unknown}; choose from {PEERS}")
    steps = [int(s) for s in args.steps.split(",") if s.strip()]
    rc_steps = [int(s) for s in args.rc_steps.split(",") if s.strip()]
    model_files = {f"lora-codec[{Path(m).stem}]@steps=0": m for m in args.model_file}
    codecs = ([f"lora-codec@steps={s}" for s in steps] + [f"lora-codec-rc@steps={s}" for s in rc_steps]
              + ([f"lora-codec-fast@steps={s}" for s in steps] if args.fast else [])
              + ([f"lora-codec-rc-search@steps={s}" for s in rc_steps] if args.rc_search else [])
              + list(model_files) + peers)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [None]
    jobs = max(1, min(args.jobs, len(cores), len(codecs)))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    pending = list(codecs)
    running: dict[str, tuple] = {}
    free_cores = cores[:jobs]
    rows: list[dict] = []
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns) as progress:
        tasks = {c: progress.add_task(c, total=len(files)) for c in codecs}
        while pending or running:
            while pending and free_cores:
                codec, core = pending.pop(0), free_cores.pop(0)
                proc = ctx.Process(target=worker, args=(codec, files, core, queue, model_files.get(codec)))
                proc.start()
                running[codec] = (proc, core)
            try:
                msg = queue.get(timeout=5)
            except queue_module.Empty:  # a worker that died without a word: fail its remaining images
                for codec, (proc, core) in list(running.items()):
                    if proc.exitcode is not None:
                        seen = {r["image"] for r in rows if r["codec"] == codec}
                        for f in files:
                            if Path(f).name not in seen:
                                rows.append({"codec": codec, "image": Path(f).name, "failed": True,
                                             "error": f"worker exited with status {proc.exitcode}"})
                                progress.advance(tasks[codec])
                        running.pop(codec)
                        free_cores.append(core)
                continue
            codec = msg["codec"]
            if msg.get("done"):
                proc, core = running.pop(codec)
                proc.join()
                free_cores.append(core)
                continue
            rows.append(msg)
            progress.advance(tasks[codec])
    command = "python scripts/compare.py " + " ".join(sys.argv[1:])
    summary = summarise(rows, codecs)
    write_report(Path(args.out), rows, summary, command, args.reference)
    if args.readme:
        update_readme(Path(args.readme), Path(args.out))
    for s in sorted(summary, key=lambda s: s["bpsp"]):
        print(f"{s['codec']:22s} {s['bpsp']:.3f} bpsp  enc {s['encode_s_per_mp']:.2f} s/MP  "
              f"dec {s['decode_s_per_mp']:.2f} s/MP  not lossless: {s['not_lossless']}")


if __name__ == "__main__":
    main()
