"""Choosing rc mode's HEVC quality from the image in one pass (the paper's Q-classifier).

A small linear classifier scores each quality of :data:`lora_codec.coding.modes.MODES`
``["rc"].qualities`` from a handful of cheap statistics of the planes (size, residual
magnitudes at three scales, residual entropy) and picks the best-scoring one. It replaces
the search, which codes the image three to four times, by one coding.
``scripts/fit_quality_classifier.py`` fits it on training images outside the validation
split (labels: the file size at every quality) and writes the shipped weights.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> planes = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
>>> features(planes).shape
(8,)
>>> classifier = load_quality_classifier()
>>> classifier.predict(planes) in classifier.qualities
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

FEATURE_NAMES = (
    "log2 pixels",
    "log2 mean |MED residual| (first plane)",
    "log2 mean |MED residual| (colour differences)",
    "MED residual entropy, bits (first plane)",
    "fraction of zero MED residuals (first plane)",
    "log2 mean |MED residual| at half resolution",
    "log2 mean |MED residual| at quarter resolution",
    "log2 residual ratio, full to quarter resolution",
)
DEFAULT_FILE = Path(__file__).parent / "classifiers" / "quality.safetensors"


def _med_residual(plane: np.ndarray) -> np.ndarray:
    """The residual of the median edge detector (LOCO-I) over a 2-D int32 plane."""
    p = plane.astype(np.int32)
    if p.shape[0] < 2 or p.shape[1] < 2:
        return np.zeros((0,), np.int32)
    x, w, n, nw = p[1:, 1:], p[1:, :-1], p[:-1, 1:], p[:-1, :-1]
    lo, hi = np.minimum(w, n), np.maximum(w, n)
    pred = np.where(nw >= hi, lo, np.where(nw <= lo, hi, w + n - nw))
    return (x - pred).ravel()


def _halve(plane: np.ndarray) -> np.ndarray:
    """2×2 block means (floor), the odd row and column dropped."""
    h, w = plane.shape[0] // 2 * 2, plane.shape[1] // 2 * 2
    p = plane[:h, :w].astype(np.int32)
    return (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]) // 4


def _log_mean_abs(r: np.ndarray) -> float:
    return float(np.log2(1.0 + np.abs(r).mean())) if r.size else 0.0


def features(planes: np.ndarray) -> np.ndarray:
    """The classifier's inputs for (H, W, C) uint8 planes, C in {1, 3}: float64 (8,)."""
    if planes.ndim != 3 or planes.shape[2] not in (1, 3) or planes.dtype != np.uint8:
        raise ValueError(f"planes must be (H, W, 1 or 3) uint8, got {planes.shape} {planes.dtype}")
    first = planes[:, :, 1 if planes.shape[2] == 3 else 0].astype(np.int32)
    r = _med_residual(first)
    if planes.shape[2] == 3:
        diffs = [planes[:, :, c].astype(np.int32) - first for c in (0, 2)]
        colour = _log_mean_abs(np.concatenate([_med_residual(d) for d in diffs]))
    else:
        colour = 0.0
    if r.size:
        counts = np.bincount(np.clip(r, -255, 255) + 255, minlength=511).astype(np.float64)
        prob = counts[counts > 0] / r.size
        entropy = float(-(prob * np.log2(prob)).sum())
        zeros = float((r == 0).mean())
    else:
        entropy = zeros = 0.0
    half = _halve(first)
    quarter = _halve(half)
    full_res, quarter_res = _log_mean_abs(r), _log_mean_abs(_med_residual(quarter))
    return np.array([
        np.log2(planes.shape[0] * planes.shape[1]),
        full_res,
        colour,
        entropy,
        zeros,
        _log_mean_abs(_med_residual(half)),
        quarter_res,
        full_res - quarter_res,
    ], dtype=np.float64)


@dataclass(frozen=True)
class QualityClassifier:
    """A linear score per quality over standardized features; the best score wins."""

    qualities: tuple[int, ...]
    mean: np.ndarray     # (F,)
    scale: np.ndarray    # (F,)
    weight: np.ndarray   # (Q, F)
    bias: np.ndarray     # (Q,)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Scores (…, Q) of feature vectors (…, F)."""
        return ((x - self.mean) / self.scale) @ self.weight.T + self.bias

    def predict(self, planes: np.ndarray) -> int:
        """The HEVC quality for these planes."""
        return self.qualities[int(np.argmax(self.scores(features(planes))))]

    def save(self, path: str | Path) -> None:
        from safetensors.numpy import save_file

        save_file({"qualities": np.asarray(self.qualities, np.int64), "mean": self.mean, "scale": self.scale,
                   "weight": self.weight, "bias": self.bias}, str(path),
                  metadata={"features": "; ".join(FEATURE_NAMES)})

    @classmethod
    def load(cls, path: str | Path = DEFAULT_FILE) -> "QualityClassifier":
        from safetensors import safe_open

        with safe_open(str(path), "np") as f:
            t = {k: f.get_tensor(k) for k in f.keys()}
            named = (f.metadata() or {}).get("features", "")
        if named != "; ".join(FEATURE_NAMES):
            raise ValueError(f"{path}: the classifier was fitted on other features ({named!r})")
        q = tuple(int(v) for v in t["qualities"])
        if not q or not all(1 <= v <= 100 for v in q):
            raise ValueError(f"{path}: classifier qualities {q} are not HEVC qualities in [1, 100]")
        if t["weight"].shape != (len(q), len(FEATURE_NAMES)):
            raise ValueError(f"{path}: classifier weights {t['weight'].shape} do not match "
                             f"{len(q)} qualities x {len(FEATURE_NAMES)} features")
        shapes = {"mean": (len(FEATURE_NAMES),), "scale": (len(FEATURE_NAMES),), "bias": (len(q),)}
        for name, shape in shapes.items():
            if t[name].shape != shape:
                raise ValueError(f"{path}: classifier {name} is {t[name].shape}, not {shape}")
        return cls(q, t["mean"].astype(np.float64), t["scale"].astype(np.float64),
                   t["weight"].astype(np.float64), t["bias"].astype(np.float64))


@lru_cache(maxsize=1)
def load_quality_classifier() -> QualityClassifier:
    """The shipped classifier (cached per process)."""
    if not DEFAULT_FILE.exists():
        raise FileNotFoundError(f"the quality classifier is missing from the installation ({DEFAULT_FILE})")
    return QualityClassifier.load(DEFAULT_FILE)
