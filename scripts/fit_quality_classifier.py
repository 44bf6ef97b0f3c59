"""Fit rc mode's quality classifier (lora_codec/quality_choice.py) from measured labels.

Two steps. ``label`` codes each image's group in rc mode at every quality of the mode and
records the sizes and the classifier's features (JSON). ``fit`` fits a linear classifier
that minimises the expected size over the labelled images (cost-sensitive softmax,
L2-regularised), reports its 5-fold cross-validated cost and match rate, and the same on
test labels (never fitted on), and writes the weights.

    python scripts/fit_quality_classifier.py label ../shared/data/train --exclude-validation \
        configs/engine3.toml --every 2 --jobs 2 --out docs/results/quality/train_labels.json
    python scripts/fit_quality_classifier.py label ../shared/data/kodak --jobs 2 \
        --out docs/results/quality/kodak_labels.json
    python scripts/fit_quality_classifier.py fit docs/results/quality/train_labels.json \
        --test docs/results/quality/kodak_labels.json --out lora_codec/classifiers/quality.safetensors

The shipped classifier was fitted this way (output: docs/results/quality/fit.txt). The
training labels were measured before the base layer's container was deflated (format 7),
so their sizes hold about 300 more bytes at every quality, which leaves their ranking as it is.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


def label_one(path: str) -> dict:
    """Sizes (bytes) of the image's first group at every rc quality, and its features."""
    import torch

    torch.set_num_threads(1)
    from lora_codec import transforms
    from lora_codec.codec import Codec
    from lora_codec.coding.groups import CodingWeights, StreamFormat, group_latents, group_planes
    from lora_codec.coding.modes import MODES
    from lora_codec.images import read_image
    from lora_codec.quality_choice import features

    codec, m = Codec(), MODES["rc"]
    model = codec.model_for(m)
    weights = CodingWeights.of(model)
    pixels, colour = read_image(path)
    coded, coded_colour, _ = transforms.choose(pixels, colour, palette=False)
    name, idx = group_planes(coded_colour)[0]
    planes = np.ascontiguousarray(coded[:, :, list(idx)])
    latents = group_latents(model, planes)
    fmt = StreamFormat.of()
    sizes = {q: codec._code_group(model, weights, m, planes, latents, q, fmt).size for q in m.qualities}
    default = codec._code_group(model, weights, MODES["learned"], planes, latents, None, fmt).size
    return {"image": Path(path).name, "group": name, "subpixels": int(planes.size),
            "features": features(planes).tolist(), "sizes": {str(q): s for q, s in sizes.items()},
            "default_size": default}


def cmd_label(args: argparse.Namespace) -> None:
    from lora_codec.config import load_config
    from lora_codec.data import list_images

    paths = list_images(Path(args.folder))
    if args.exclude_validation:
        held = set(load_config(args.exclude_validation).train.validation)
        paths = [p for p in paths if p.name not in held]
    paths = paths[args.start :: args.every]
    out = Path(args.out)
    done = {r["image"]: r for r in json.loads(out.read_text())} if out.exists() else {}
    todo = [str(p) for p in paths if p.name not in done]
    print(f"{len(paths)} images, {len(todo)} to label", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.jobs) as pool:
        for row in pool.map(label_one, todo):
            done[row["image"]] = row
            best = min(row["sizes"], key=row["sizes"].get)
            print(f"{row['image']}: best q{best}, sizes {row['sizes']}", flush=True)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(sorted(done.values(), key=lambda r: r["image"]), indent=1))
            tmp.replace(out)


def _arrays(rows: list[dict], qualities: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([r["features"] for r in rows], np.float64)
    sizes = np.array([[r["sizes"][str(q)] for q in qualities] for r in rows], np.float64)
    bits = sizes.min(axis=1, keepdims=True)
    return x, sizes / bits - 1.0, sizes  # relative excess over the best quality


def _fit(x: np.ndarray, cost: np.ndarray, l2: float, steps: int = 3000):
    """Standardisation and (Q, F) weights minimising mean expected cost + l2 |W|^2."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / scale
    n, f = z.shape
    q = cost.shape[1]
    w, b = np.zeros((q, f)), np.zeros(q)
    # Start with the best constant choice.
    b[np.argmin(cost.mean(axis=0))] = 1.0
    lr, m_w, v_w, m_b, v_b = 0.05, 0.0, 0.0, 0.0, 0.0
    c = cost * 100.0  # percent
    for t in range(1, steps + 1):
        s = z @ w.T + b
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        expected = (p * c).sum(axis=1, keepdims=True)
        g_s = p * (c - expected) / n          # d mean(expected) / d scores
        g_w, g_b = g_s.T @ z + 2 * l2 * w, g_s.sum(axis=0)
        m_w, v_w = 0.9 * m_w + 0.1 * g_w, 0.999 * v_w + 0.001 * g_w ** 2
        m_b, v_b = 0.9 * m_b + 0.1 * g_b, 0.999 * v_b + 0.001 * g_b ** 2
        w -= lr * (m_w / (1 - 0.9 ** t)) / (np.sqrt(v_w / (1 - 0.999 ** t)) + 1e-8)
        b -= lr * (m_b / (1 - 0.9 ** t)) / (np.sqrt(v_b / (1 - 0.999 ** t)) + 1e-8)
    return mean, scale, w, b


def _evaluate(pred: np.ndarray, cost: np.ndarray, sizes: np.ndarray) -> str:
    best = cost.argmin(axis=1)
    chosen = sizes[np.arange(len(pred)), pred].sum()
    return (f"matches the best quality on {int((pred == best).sum())}/{len(pred)}, "
            f"total size +{100 * (chosen / sizes.min(axis=1).sum() - 1):.3f} % over the per-image best")


def cmd_fit(args: argparse.Namespace) -> None:
    from lora_codec.coding.modes import MODES
    from lora_codec.quality_choice import QualityClassifier

    qualities = list(MODES["rc"].qualities)
    rows = json.loads(Path(args.labels).read_text())
    x, cost, sizes = _arrays(rows, qualities)
    const = int(np.argmin(sizes.sum(axis=0)))
    print(f"{len(rows)} labelled images; best quality counts "
          f"{dict(zip(qualities, np.bincount(cost.argmin(axis=1), minlength=len(qualities)).tolist()))}")
    print(f"constant q{qualities[const]}: {_evaluate(np.full(len(rows), const), cost, sizes)}")
    rng = np.random.default_rng(0)
    folds = rng.permutation(len(rows)) % 5
    for l2 in args.l2:
        pred = np.zeros(len(rows), int)
        for k in range(5):
            tr, te = folds != k, folds == k
            mean, scale, w, b = _fit(x[tr], cost[tr], l2)
            pred[te] = np.argmax(((x[te] - mean) / scale) @ w.T + b, axis=1)
        print(f"l2 {l2}: 5-fold cross-validated: {_evaluate(pred, cost, sizes)}")
    mean, scale, w, b = _fit(x, cost, args.l2[0])
    classifier = QualityClassifier(tuple(qualities), mean, scale, w, b)
    print(f"fitted (l2 {args.l2[0]}) on all: {_evaluate(np.argmax(classifier.scores(x), axis=1), cost, sizes)}")
    if args.test:
        trows = json.loads(Path(args.test).read_text())
        tx, tcost, tsizes = _arrays(trows, qualities)
        print(f"test {args.test} ({len(trows)} images): "
              f"{_evaluate(np.argmax(classifier.scores(tx), axis=1), tcost, tsizes)}; "
              f"constant q{qualities[const]}: {_evaluate(np.full(len(trows), const), tcost, tsizes)}")
    if args.out:
        classifier.save(args.out)
        print(f"wrote {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lab = sub.add_parser("label", help="measure the size at every quality")
    lab.add_argument("folder")
    lab.add_argument("--out", required=True, help="labels JSON (resumed if it exists)")
    lab.add_argument("--exclude-validation", metavar="CONFIG", help="leave out CONFIG's validation split")
    lab.add_argument("--every", type=int, default=1)
    lab.add_argument("--start", type=int, default=0)
    lab.add_argument("--jobs", type=int, default=1)
    lab.set_defaults(run=cmd_label)
    fit = sub.add_parser("fit", help="fit the classifier on labels")
    fit.add_argument("labels")
    fit.add_argument("--test", help="labels to report on, never fitted on")
    fit.add_argument("--l2", type=float, nargs="+", default=[0.001, 0.01, 0.1, 1.0],
                     help="regularisations to cross-validate (the first is kept)")
    fit.add_argument("--out", help="classifier weights (safetensors)")
    fit.set_defaults(run=cmd_fit)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
