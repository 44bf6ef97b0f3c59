"""Mode upscaled (format version 12): exact nearest-neighbour enlargements coded as their
smaller original's file; when the encoder chooses it, and what readers refuse."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lora_codec
from lora_codec import container
from lora_codec.cli import main
from lora_codec.codec import DecodeError
from lora_codec.coding import enlargement
from lora_codec.coding.sections import section_stats
from lora_codec.container import FormatError

from helpers import smooth_image, with_header_bytes


def _repack(data: bytes, payload: bytes) -> bytes:
    """The file with another enlargement payload."""
    c = container.unpack(data)
    return container.pack(container.Container(c.header, {**c.sections, enlargement.TAG: payload}))


@pytest.fixture(scope="module")
def sprite():
    """A 24 x 20 photo-like original enlarged 4 x 3 (many colours: not mode indexed)."""
    small = smooth_image(24, 20, planes=3, seed=2)
    return small, enlargement.enlarge(small, 4, 3)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4),
       st.integers(0, 2**32 - 1))
def test_factors_find_the_enlargement_and_the_original_has_none(h, w, fy, fx, planes, seed):
    small = np.random.default_rng(seed).integers(0, 256, (h, w, planes), dtype=np.uint8)
    big = enlargement.enlarge(small, fy, fx)
    gy, gx = enlargement.factors(big)
    assert gy % fy == 0 and gx % fx == 0  # at least the factors used (more where the original repeats)
    original = enlargement.shrink(big, gy, gx)
    assert np.array_equal(enlargement.enlarge(original, gy, gx), big)
    assert enlargement.factors(original) == (1, 1)


def test_photographs_are_no_enlargement():
    assert enlargement.factors(smooth_image(64, 48, seed=1)) == (1, 1)


def test_an_enlargement_is_coded_as_its_original(sprite):
    small, big = sprite
    data = lora_codec.compress(big)
    assert container.unpack(data).header.mode == "upscaled" and section_stats(data)["mode"] == "upscaled"
    assert np.array_equal(lora_codec.decompress(data), big)
    fy, fx, inner = enlargement.unpack(container.unpack(data).sections[enlargement.TAG])
    assert (fy, fx) == (4, 3) and np.array_equal(lora_codec.decompress(inner), small)
    assert len(data) < len(lora_codec.compress(big, fallback=False)) / 2


def test_grey_and_alpha_enlargements_round_trip():
    grey = enlargement.enlarge(smooth_image(10, 12, planes=1, seed=3), 2, 2)[:, :, 0]
    data = lora_codec.compress(grey)
    assert container.unpack(data).header.mode == "upscaled"
    assert np.array_equal(lora_codec.decompress(data)[:, :, 0], grey)
    rgba = enlargement.enlarge(smooth_image(10, 12, planes=4, seed=4), 1, 5)
    assert np.array_equal(lora_codec.decompress(lora_codec.compress(rgba)), rgba)


def test_the_mode_asked_for_refuses_other_images_and_other_modes_do_not_enlarge(sprite):
    with pytest.raises(ValueError, match="nearest-neighbour enlargements"):
        lora_codec.compress(smooth_image(16, 16, seed=5), mode="upscaled")
    assert container.unpack(lora_codec.compress(sprite[1], mode="upscaled")).header.mode == "upscaled"
    assert container.unpack(lora_codec.compress(sprite[1], fallback=False)).header.mode == "learned"


def test_metadata_stays_in_the_outer_file(sprite):
    data = lora_codec.compress(sprite[1], metadata={"text": {"Title": "sprite"}})
    assert lora_codec.read_metadata(data) == {"text": {"Title": "sprite"}}
    inner = enlargement.unpack(container.unpack(data).sections[enlargement.TAG])[2]
    assert lora_codec.read_metadata(inner) == {}


@pytest.mark.parametrize("payload, message", [
    (b"\x01\x04", "truncated"),
    (b"\x02\x04\x00\x03\x00", "payload version"),
    (b"\x01\x01\x00\x01\x00", "implausible enlargement factors"),
    (b"\x01\x04\x00\x03\x00not a file", "enlarged image"),
])
def test_damaged_enlargement_sections_fail_in_one_line(sprite, payload, message):
    data = _repack(lora_codec.compress(sprite[1]), payload)
    with pytest.raises(DecodeError, match=message):
        lora_codec.decompress(data)


def test_an_original_of_the_wrong_size_or_an_enlargement_inside_is_refused(sprite):
    small, big = sprite
    data = lora_codec.compress(big)
    inner = enlargement.unpack(container.unpack(data).sections[enlargement.TAG])[2]
    with pytest.raises(DecodeError, match="is not the"):
        lora_codec.decompress(_repack(data, enlargement.pack(2, 3, inner)))
    nested = lora_codec.compress(enlargement.enlarge(small, 2, 1))  # itself mode upscaled
    with pytest.raises(DecodeError, match="mode upscaled"):
        lora_codec.decompress(_repack(data, enlargement.pack(2, 3, nested)))


def test_mode_4_is_unknown_before_version_12(sprite):
    with pytest.raises(FormatError, match="unknown coding mode 4"):
        container.unpack(with_header_bytes(lora_codec.compress(sprite[1]), 8, bytes([11])))


def test_the_command_line_codes_and_reports_enlargements(tmp_path, sprite, capsys):
    from PIL import Image

    src, out, back = tmp_path / "in.png", tmp_path / "in.lcz", tmp_path / "back.png"
    Image.fromarray(sprite[1]).save(src)
    assert main(["compress", str(src), "-o", str(out), "--quiet", "--verify"]) == 0
    assert main(["decompress", str(out), "-o", str(back), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(back)), sprite[1])
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    assert "mode upscaled" in capsys.readouterr().out
