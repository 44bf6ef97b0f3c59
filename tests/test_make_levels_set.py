"""scripts/make_levels_set.py through its command line: nine variants per image, each with
the gaps in its histogram that its name says."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from helpers import smooth_image

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_levels_set.py"


def test_levels_set_has_the_gaps_its_names_say(tmp_path):
    source = tmp_path / "photo.png"
    original = smooth_image(40, 56, seed=1)
    Image.fromarray(original).save(source)
    out = tmp_path / "levels"
    run = subprocess.run([sys.executable, str(SCRIPT), str(out), str(source)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    read = {p.stem.split("_", 1)[1]: np.asarray(Image.open(p)) for p in out.iterdir()}
    assert sorted(read) == sorted(["stretch150", "stretch125", "stretch110", "gamma080", "gamma125", "lowbit1",
                                   "lowbits2", "6bit", "rgb565"])
    assert all(a.shape == original.shape for a in read.values())
    assert not (read["lowbit1"] & 1).any() and not (read["lowbits2"] & 3).any()
    assert len(np.unique(read["6bit"])) <= 64 and np.array_equal(read["6bit"] >> 2, original >> 2)
    assert len(np.unique(read["rgb565"][:, :, 0])) <= 32 and len(np.unique(read["rgb565"][:, :, 1])) <= 64
    assert np.array_equal(read["rgb565"][:, :, 1] >> 2, original[:, :, 1] >> 2)
    for name in ("stretch150", "stretch125", "stretch110"):
        stretched = read[name].astype(int)
        assert stretched.max() - stretched.min() > original.astype(int).max() - original.astype(int).min()
    assert (read["gamma080"] >= original).all() and (read["gamma125"] <= original).all()
