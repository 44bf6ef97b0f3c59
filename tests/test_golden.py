"""Golden .lcz files (tests/golden/v<N>/, made by scripts/make_golden.py): every version
this build reads still decodes to the same pixels, and the current version's learned-mode
files are re-encoded byte for byte."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import lora_codec
from lora_codec import container

from golden_inputs import golden_image

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(GOLDEN.glob("v*/*.lcz"))


def _manifest(path: Path) -> dict:
    return json.loads((path.parent / "manifest.json").read_text())[path.stem]


def test_there_are_golden_files_of_the_current_version():
    current = [p for p in FILES if p.parent.name == f"v{container.VERSION}"]
    assert len(current) >= 3


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_file_decodes_to_its_pixels(path):
    entry = _manifest(path)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["file_sha256"]
    pixels = lora_codec.decompress(data)
    assert list(pixels.shape) == entry["shape"]
    assert hashlib.sha256(pixels.tobytes()).hexdigest() == entry["pixels_sha256"]


@pytest.mark.parametrize("name, seed", [("learned_L", 9), ("learned_RGB", 11), ("learned_RGBA", 12)])
def test_current_version_is_reencoded_byte_for_byte(name, seed):
    path = GOLDEN / f"v{container.VERSION}" / f"{name}.lcz"
    entry = _manifest(path)
    img = golden_image(*entry["shape"], seed=seed)
    assert hashlib.sha256(img.tobytes()).hexdigest() == entry["pixels_sha256"]
    assert lora_codec.compress(img) == path.read_bytes()
