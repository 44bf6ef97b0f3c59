"""scripts/probe_latent.py through its command line: it counts, on every tile, how many
feature values z changes, and those counts stay within the totals it reports."""

import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

from helpers import smooth_image

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "probe_latent.py"


def test_probe_reports_consistent_counts(tmp_path):
    Image.fromarray(smooth_image(40, 56, seed=3)).save(tmp_path / "a.png")
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    nonzero, latents = map(int, re.search(r"(\d+) of (\d+) latent values", run.stdout).groups())
    real, values, random = map(int, re.search(r"real z (\d+) of (\d+) .*random z in \[-8, 8\] (\d+)", run.stdout).groups())
    assert 0 <= nonzero <= latents > 0
    assert 0 <= real <= values and 0 <= random <= values
    assert values == 40 * 56 * 8  # one tile, 8 features per pixel


def test_probe_rejects_an_empty_folder(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "no images" in run.stderr
