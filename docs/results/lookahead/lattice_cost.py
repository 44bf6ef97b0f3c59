"""Bytes of the tuning crops' even-row, even-column pixels coded as an image of their own
(the first pass of a two-level coarse-to-fine order), against the whole crops.

    python docs/results/lookahead/lattice_cost.py
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
import tuning_crops_size  # noqa: E402

import lora_codec  # noqa: E402
from lora_codec.data import load_rgb  # noqa: E402

full_bytes = lattice_bytes = subpixels = 0
for path in tuning_crops_size.tuning_images(ROOT.parent / "shared" / "data" / "train"):
    img = load_rgb(path)
    y0, x0 = (img.shape[0] - 384) // 2, (img.shape[1] - 384) // 2
    img = np.ascontiguousarray(img[y0 : y0 + 384, x0 : x0 + 384])
    full = len(lora_codec.compress(img))
    lattice = len(lora_codec.compress(np.ascontiguousarray(img[::2, ::2])))
    full_bytes, lattice_bytes, subpixels = full_bytes + full, lattice_bytes + lattice, subpixels + img.size
    print(path.name, f"{8 * full / img.size:.4f}", f"{8 * lattice / (img.size / 4):.4f}", flush=True)
print(f"whole crops {8 * full_bytes / subpixels:.4f} bpsp; lattice {8 * lattice_bytes / (subpixels / 4):.4f} bpsp "
      f"of its own sub-pixels, {100 * lattice_bytes / full_bytes:.1f} % of the whole crops' bytes")
