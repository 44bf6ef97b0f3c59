"""Golden .lcz files (tests/golden/v<VERSION>-<MODEL ID>/, made by scripts/make_golden.py):
every version and model this build reads still decodes to the same pixels, and the
current version's files of the default model are re-encoded byte for byte."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import lora_codec
from lora_codec import container

from golden_inputs import golden_case

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(GOLDEN.glob("v*/*.lcz"))


def current_folder() -> Path:
    from lora_codec.codec import Codec

    return GOLDEN / f"v{container.VERSION}-{Codec().model.model_id.hex()}"


def _manifest(path: Path) -> dict:
    return json.loads((path.parent / "manifest.json").read_text())[path.stem]


def test_there_are_golden_files_of_the_current_version_and_model():
    assert len(list(current_folder().glob("*.lcz"))) >= 3


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_file_decodes_to_its_pixels(path):
    entry = _manifest(path)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["file_sha256"]
    pixels = lora_codec.Codec().decompress_planes(data)  # the manifest's shapes are (H, W, C)
    assert list(pixels.shape) == entry["shape"]
    assert hashlib.sha256(pixels.tobytes()).hexdigest() == entry["pixels_sha256"]


def _reencodable():
    folder = current_folder()
    manifest = json.loads((folder / "manifest.json").read_text()) if (folder / "manifest.json").exists() else {}
    return sorted(name for name, entry in manifest.items() if entry.get("reencode"))


@pytest.mark.parametrize("name", _reencodable())
def test_current_version_and_model_are_reencoded_byte_for_byte(name):
    path = current_folder() / f"{name}.lcz"
    entry = _manifest(path)
    img = golden_case(entry["recipe"])
    assert hashlib.sha256(img.tobytes()).hexdigest() == entry["pixels_sha256"]
    assert lora_codec.compress(img, fast=entry["recipe"].get("fast", False)) == path.read_bytes()
