"""scripts/make_icon_set.py through its command line: one icon per image, size and palette
size, square and of at most that many colours."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from helpers import smooth_image

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_icon_set.py"


def test_icons_are_square_and_of_few_colours(tmp_path):
    sources = []
    for k in range(2):
        sources.append(tmp_path / f"photo{k}.png")
        Image.fromarray(smooth_image(40, 56, seed=k)).save(sources[-1])
    out = tmp_path / "icons"
    run = subprocess.run([sys.executable, str(SCRIPT), str(out), *map(str, sources), "--sizes", "8,16",
                          "--colours", "4,16"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"photo{k}_{s}_q{q}.png" for k in range(2) for s in (8, 16) for q in (4, 16))
    for name in names:
        size, colours = int(name.split("_")[1]), int(name.split("_q")[1][:-4])
        pixels = np.asarray(Image.open(out / name))
        assert pixels.shape == (size, size, 3)
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) <= colours
