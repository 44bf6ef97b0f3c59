"""scripts/compare.py through its command line: a codec that crashes becomes rows marked
failed (never a hang), and lora-codec's per-part columns add up to its total."""

import csv
import subprocess
import sys
from pathlib import Path

from PIL import Image

from helpers import smooth_image

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "compare.py"


def test_a_crashing_codec_is_reported_not_waited_for(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for k in range(2):
        Image.fromarray(smooth_image(24, 32, seed=k)).save(images / f"{k}.png")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(SCRIPT), str(images), "--codecs", "", "--steps", "0",
                          "--model-file", str(broken), "--out", str(out), "--jobs", "2"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    failed = [r for r in rows if r["codec"] == "lora-codec[broken]@steps=0"]
    assert len(failed) == 2 and all(r["failed"] == "True" for r in failed)
    good = [r for r in rows if r["codec"] == "lora-codec@steps=0"]
    assert len(good) == 2
    for r in good:
        parts = sum(float(r[k]) for k in ("adapter_bpsp", "z_bpsp", "pixel_bpsp", "base_bpsp", "container_bpsp"))
        assert abs(parts - float(r["bpsp"])) < 1e-9
    assert "| 2 |" in (out / "report.md").read_text()  # the failed column of the broken codec


def test_images_are_compared_as_they_are_grey_alpha_and_all(tmp_path):
    """Grey, grey + alpha and RGBA images are coded with all their planes and no more:
    bpsp counts the image's own samples, and WebP (colour only) gets grey as RGB."""
    import numpy as np

    images = tmp_path / "images"
    images.mkdir()
    rgb = smooth_image(24, 32, seed=3)
    planes = {"grey": 1, "grey_alpha": 2, "rgba": 4, "opaque": 4}
    Image.fromarray(rgb[:, :, 0]).save(images / "grey.png")
    Image.fromarray(np.dstack([rgb[:, :, 0], rgb[:, :, 1]]), "LA").save(images / "grey_alpha.png")
    Image.fromarray(np.dstack([rgb, 255 - rgb[:, :, :1]])).save(images / "rgba.png")
    Image.fromarray(np.dstack([rgb, np.full_like(rgb[:, :, :1], 255)])).save(images / "opaque.png")  # WebP drops it
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(SCRIPT), str(images), "--codecs", "png,webp", "--steps", "0",
                          "--out", str(out), "--jobs", "2"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12
    for r in rows:
        samples = 24 * 32 * planes[r["image"][:-4]]
        assert r["lossless"] == "True", r
        assert abs(float(r["bpsp"]) - 8 * int(r["bytes"]) / samples) < 1e-9, r
