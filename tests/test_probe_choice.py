"""scripts/probe_choice.py: its code book, block sums and per-block choice, and one short
run through its command line."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from helpers import smooth_image

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "probe_choice.py"


@pytest.fixture(scope="module")
def probe_module():
    spec = importlib.util.spec_from_file_location("probe_choice", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_code_book_is_zero_then_signed_unit_codes(probe_module):
    codes = probe_module.code_book(4, 2)
    assert codes.shape == (5, 4)
    assert codes[0].abs().sum() == 0
    assert sorted(codes[1:].sum(1).tolist()) == [-1, -1, 1, 1]
    assert (codes[1:].abs().sum(1) == 1).all() and codes[:, 2:].abs().sum() == 0


def test_block_sums_add_planes_and_blocks_including_partial_ones(probe_module):
    bits = torch.rand(2, 3, 20, 12)
    sums = probe_module.block_sums(bits, 3)  # 8 x 8 blocks: 3 x 2 of them, the last ones partial
    assert sums.shape == (2, 3, 2)
    assert torch.allclose(sums[1, 2, 1], bits[1, :, 16:, 8:].sum(), rtol=1e-5)
    assert torch.allclose(sums.sum(), bits.sum(), rtol=1e-5)


def test_choice_takes_each_blocks_cheapest_code(probe_module):
    from lora_codec.entropy import engine_outputs
    from lora_codec.registry import WEIGHTS, load_model_file

    model = load_model_file(WEIGHTS / "engine3.safetensors").model.float()  # a copy of its own: prepare() changes it
    probe = probe_module.ChoiceProbe(model, probe_module.code_book(model.cfg.latent_channels, 2))
    probe_module.prepare(model, 2, 0.05, seed=1)  # codes that differ
    img = smooth_image(24, 32, seed=5)[:, :, [1, 0, 2]].copy()
    x = torch.from_numpy(img.transpose(2, 0, 1).copy()).float()[None]
    engine = torch.from_numpy(engine_outputs(img).transpose(2, 0, 1, 3).copy()).float()[None]
    costs = probe.block_costs(x, engine)
    z, choice = probe.choose(x, engine)
    assert costs.shape == (1, 3, 4, 5) and choice.shape == (1, 3, 4)
    assert torch.equal(costs.gather(-1, choice[..., None])[..., 0], costs.min(-1).values)
    assert torch.equal(z[0, :, 1, 2], probe.codes[choice[0, 1, 2]])


def test_a_short_run_reports_every_evaluation(tmp_path):
    for k, name in enumerate(["a.png", "b.png", "deb_Blinds.png"]):  # the last is in the config's validation list
        Image.fromarray(smooth_image(100, 110, seed=k)).save(tmp_path / name)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--steps", "2", "--batch", "2", "--crop", "32",
                          "--margin", "16", "--val-size", "64", "--eval-every", "1", "--explore", "1",
                          "--threads", "1", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [-1, 0, 1, 2]
    for r in rows:
        assert 0 < r["zero_pixels"] <= r["zero"] < 9 and 0 <= r["free_choice_nonzero_share"] <= 1
    assert len((out / "log.txt").read_text().splitlines()) == 2


def test_a_folder_without_the_validation_images_is_refused(tmp_path):
    Image.fromarray(smooth_image(100, 110, seed=0)).save(tmp_path / "a.png")
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "validation" in run.stderr
