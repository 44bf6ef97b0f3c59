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
