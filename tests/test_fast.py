"""The fast flag (format version 10): pixel streams coded without the bit refinement,
in modes learned and rc, with and without adapters; what readers refuse."""

from pathlib import Path

import numpy as np
import pytest

import lora_codec
from lora_codec import container
from lora_codec.cli import main
from lora_codec.codec import Codec
from lora_codec.coding.groups import StreamFormat
from lora_codec.coding.sections import section_stats
from lora_codec.container import FLAG_ADAPTERS, FLAG_FAST, FormatError

from helpers import smooth_image, with_header_flags

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def image():
    return smooth_image(400, 40, planes=3, seed=4)  # two stripes, of 256 and 144 rows


def test_a_fast_file_decodes_exactly_and_says_so(image):
    data = lora_codec.compress(image, fast=True)
    assert data[8] == container.VERSION >= 10 and data[9] == FLAG_FAST
    assert np.array_equal(lora_codec.decompress(data), image)
    assert section_stats(data)["fast"] and not section_stats(lora_codec.compress(image))["fast"]


def test_the_fast_streams_are_the_unrefined_ones(image):
    fast, refined = lora_codec.compress(image, fast=True), lora_codec.compress(image)
    assert fast != refined and fast[10:] != refined[10:]
    assert not StreamFormat.of(container.VERSION, FLAG_FAST).refined
    assert StreamFormat.of(container.VERSION).refined and StreamFormat.of(9, 0).refined


def test_rc_mode_and_adapters_code_fast_too(image):
    rc = lora_codec.compress(image, mode="rc", quality=40, fast=True)
    assert rc[9] == FLAG_FAST and np.array_equal(lora_codec.decompress(rc), image)
    codec = Codec()
    from lora_codec.lora.fit import adapt_to_image
    from lora_codec.lora.options import AdaptOptions

    small = np.ascontiguousarray(image[:32, :32])
    adapters = adapt_to_image(codec.model, small, "RGB", 2, AdaptOptions(seed=1, crop=32, batch=1))
    data = codec.encode_adapted(small, adapters, fast=True)
    assert data[9] == FLAG_FAST | FLAG_ADAPTERS
    assert np.array_equal(codec.decompress(data), small)


def test_stored_and_indexed_files_never_carry_the_flag():
    noise = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)  # coded as stored
    data = lora_codec.compress(noise, fast=True)
    assert container.unpack(data).header.mode == "stored" and data[9] == 0
    with pytest.raises(FormatError, match="fast flag"):
        container.unpack(with_header_flags(data, FLAG_FAST))
    header = container.unpack(data).header
    with pytest.raises(ValueError, match="not valid in mode stored"):
        container.pack(container.Container(container.Header(**{**header.__dict__, "flags": FLAG_FAST})))


def test_a_version_9_file_with_the_flag_is_refused():
    path = next((GOLDEN / "v9-9d16e6feea080739").glob("learned_RGB.lcz"))
    with pytest.raises(FormatError, match="reserved header flag"):
        container.unpack(with_header_flags(path.read_bytes(), FLAG_FAST))


def test_a_refined_file_read_as_fast_fails_cleanly(image):
    data = with_header_flags(lora_codec.compress(image), FLAG_FAST)
    with pytest.raises(ValueError):  # a corrupt stream or a pixel CRC mismatch, never wrong pixels
        lora_codec.decompress(data)


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_fast_must_be_a_bool(image, bad):
    with pytest.raises(ValueError, match="fast must be True or False"):
        lora_codec.compress(image[:8, :8], fast=bad)


def test_the_command_line_writes_and_reports_fast_files(tmp_path, image, capsys):
    from PIL import Image

    src, out = tmp_path / "in.png", tmp_path / "in.lcz"
    Image.fromarray(image).save(src)
    assert main(["compress", "--fast", str(src), "-o", str(out), "--quiet", "--verify"]) == 0
    assert out.read_bytes()[9] == FLAG_FAST
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    assert ", fast" in capsys.readouterr().out
