"""Round trips through the Python API: sizes, modes and input kinds."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import lora_codec
import lora_codec.codec as codec_module
from lora_codec import container, transforms
from lora_codec.codec import LATENT_RETRY_SHARE
from lora_codec.coding.groups import group_latents
from lora_codec.coding.latents import code_latents, zero_latents
from lora_codec.coding.sections import section_stats
from lora_codec.images import ImageError

from helpers import smooth_image


SMALL_SHAPES = [(1, 1), (1, 9), (9, 1), (2, 3), (31, 17), (33, 65)]
CASES = [(s, p) for s in SMALL_SHAPES for p in (1, 2, 3, 4)] + [((257, 129), 3), ((300, 513), 3), ((129, 260), 4)]


@pytest.mark.parametrize("shape, planes", CASES)
def test_round_trip_sizes_and_modes(shape, planes):
    img = smooth_image(*shape, planes=planes, seed=shape[0] + planes)
    data = lora_codec.compress(img)
    out = lora_codec.decompress(data)
    expected = img[:, :, 0] if planes == 1 else img  # grey comes back (H, W), as Pillow gives it
    assert out.shape == expected.shape and out.dtype == np.uint8
    assert np.array_equal(out, expected)


@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 3, 4]), st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_round_trip_random_noise(h, w, planes, seed):
    img = np.random.default_rng(seed).integers(0, 256, (h, w, planes), dtype=np.uint8)
    assert np.array_equal(lora_codec.decompress(lora_codec.compress(img)), img[:, :, 0] if planes == 1 else img)


def test_accepts_path_pil_and_2d_array(tmp_path):
    img = smooth_image(20, 30, planes=3)
    path = tmp_path / "a.png"
    Image.fromarray(img).save(path)
    for source in (path, str(path), Image.fromarray(img)):
        assert np.array_equal(lora_codec.decompress(lora_codec.compress(source)), img)
    gray = img[:, :, 0]
    assert np.array_equal(lora_codec.decompress(lora_codec.compress(gray)), gray)  # same shape back


def test_grey_comes_back_as_it_went_in_and_as_planes_on_request():
    grey = smooth_image(9, 14, planes=1)[:, :, 0]
    codec = lora_codec.Codec()
    data = codec.compress(grey)
    assert codec.decompress(data).shape == (9, 14) and np.array_equal(codec.decompress(data), grey)
    assert np.array_equal(codec.decompress_planes(data), grey[:, :, None])
    assert np.array_equal(lora_codec.decompress(lora_codec.compress(grey[:, :, None])), grey)
    grey16 = grey.astype(np.uint16) * 257 + 3
    assert np.array_equal(lora_codec.decompress(lora_codec.compress(grey16)), grey16)
    both = smooth_image(9, 14, planes=2)
    assert np.array_equal(lora_codec.decompress(lora_codec.compress(both)), both)


def test_palette_and_bilevel_are_converted_as_documented(tmp_path):
    rgb = Image.fromarray(smooth_image(16, 16, planes=3))
    pal = rgb.convert("P")
    out = lora_codec.decompress(lora_codec.compress(pal))
    assert np.array_equal(out, np.asarray(pal.convert("RGB")))
    bilevel = rgb.convert("1")
    out = lora_codec.decompress(lora_codec.compress(bilevel))
    assert np.array_equal(out, np.asarray(bilevel.convert("L")))


@pytest.mark.parametrize("mode", ["F", "CMYK", "I"])  # I;16 is coded (mode deep, tests/test_depth.py)
def test_unsupported_modes_are_refused(mode):
    img = Image.new(mode, (4, 4))
    with pytest.raises(ImageError, match="unsupported image mode"):
        lora_codec.compress(img)


def test_smooth_image_compresses_better_than_noise():
    smooth = lora_codec.compress(smooth_image(64, 64))
    noise = lora_codec.compress(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert len(smooth) < 0.8 * len(noise)


def test_stats_split_adds_up():
    data = lora_codec.compress(smooth_image(40, 50))
    s = section_stats(data)
    assert sum(s["split_bytes"].values()) == len(data)
    assert s["split_bytes"]["z"] > 0 and s["split_bytes"]["pixels"] > 0 and s["split_bytes"]["adapter"] == 0
    assert abs(s["bpsp"] - 8 * len(data) / (40 * 50 * 3)) < 1e-12


def test_compress_does_not_modify_the_input_array():
    img = smooth_image(20, 20)
    copy = img.copy()
    lora_codec.compress(img)
    assert np.array_equal(img, copy)



def _coded_with(image: np.ndarray, latent_retry_share: float, monkeypatch) -> tuple[bytes, int]:
    """The learned file of ``image`` under that retry share, and how many times its group was
    coded (channel palettes off, so that the image is one candidate, not two)."""
    calls = []
    real = codec_module.encode_group
    monkeypatch.setattr(codec_module, "LATENT_RETRY_SHARE", latent_retry_share)
    monkeypatch.setattr(transforms, "SPARSE_SHARE", 0.0)
    monkeypatch.setattr(transforms, "COMB_GAPS", 257)
    monkeypatch.setattr(codec_module, "encode_group", lambda *a, **k: calls.append(1) or real(*a, **k))
    return lora_codec.Codec(threads=1).compress(image, fallback=False), len(calls)


def _zero_z_section(image: np.ndarray) -> bytes:
    model = lora_codec.Codec().model
    return code_latents(model, zero_latents(group_latents(model, image)))


def test_a_small_image_whose_z_costs_bytes_is_coded_with_z_zero(monkeypatch):
    x = np.arange(32)
    image = np.repeat(np.tile(128 + 100 * np.sin(x / 1.5), (32, 1))[:, :, None], 3, axis=2).astype(np.uint8)
    with_z, codings = _coded_with(image, float("inf"), monkeypatch)  # never retried: the encoder's z
    assert codings == 1
    data, codings = _coded_with(image, LATENT_RETRY_SHARE, monkeypatch)
    assert codings == 2 and len(data) < len(with_z)
    zeros = _zero_z_section(image)
    assert container.unpack(data).sections[b"ZCOL"] == zeros != container.unpack(with_z).sections[b"ZCOL"]
    assert np.array_equal(lora_codec.decompress(data), image)


def test_a_larger_image_keeps_its_encoders_z_without_a_second_coding(monkeypatch):
    noise = np.random.default_rng(1).integers(-20, 21, (128, 160, 3))
    image = np.clip(smooth_image(128, 160, seed=1) + noise, 0, 255).astype(np.uint8)
    data, codings = _coded_with(image, LATENT_RETRY_SHARE, monkeypatch)
    assert codings == 1
    assert len(container.unpack(data).sections[b"ZCOL"]) > len(_zero_z_section(image))  # z costs, but too little
