"""Reversible transforms (grey stored as colour, channel palettes, palette) and the stored
fallback: exact round trips, the choices they make, and clean errors on damaged sections."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lora_codec
from lora_codec import container, transforms
from lora_codec.codec import DecodeError

from helpers import palette_image, smooth_image


@given(st.integers(1, 12), st.integers(1, 12), st.sampled_from(["L", "LA", "RGB", "RGBA"]),
       st.integers(1, 300), st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_transforms_invert_exactly(h, w, colour, colours, seed):
    planes = container.COLOUR_TYPES[colour][1]
    img = palette_image(h, w, planes, colours, seed)
    if seed % 3 == 0 and planes >= 3:  # grey stored as colour
        img[:, :, 1] = img[:, :, 2] = img[:, :, 0]
    coded, coded_colour, chosen = transforms.choose(img, colour)
    assert coded.shape[2] == container.COLOUR_TYPES[coded_colour][1]
    back = transforms.unpack(transforms.pack(chosen), colour) if chosen else transforms.Transforms()
    assert np.array_equal(transforms.invert(coded, back), img)


def test_grey_as_rgb_is_coded_as_one_plane():
    grey = smooth_image(40, 48, planes=1, seed=2)
    img = np.repeat(grey, 3, axis=2)
    data = lora_codec.compress(img, fallback=False)
    assert transforms.TAG in container.unpack(data).sections
    assert len(data) < 0.6 * len(lora_codec.compress(smooth_image(40, 48, planes=3, seed=2), fallback=False))
    assert np.array_equal(lora_codec.decompress(data), img)


def test_a_palette_image_round_trips_through_its_palette():
    rng = np.random.default_rng(4)
    colours = rng.integers(0, 256, (48, 3), dtype=np.uint8)
    img = colours[np.clip(smooth_image(40, 48, planes=1, seed=3)[:, :, 0].astype(int) // 6, 0, 47)]
    coded, coded_colour, chosen = transforms.choose(img, "RGB")
    assert coded_colour == "L" and chosen.palette is not None
    data = lora_codec.compress(img, fallback=False)
    assert np.array_equal(lora_codec.decompress(data), img)


def test_noise_falls_back_to_stored_pixels_never_much_larger_than_raw():
    img = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    data = lora_codec.compress(img)
    assert container.unpack(data).header.mode == "stored"
    assert len(data) <= img.size + 80
    assert np.array_equal(lora_codec.decompress(data), img)


@pytest.mark.parametrize("payload", [b"", b"\x01", b"\x02\x00\x00", b"\x01\x04\x00", b"\x01\x02\x00\x00\x01",
                                     b"\x01\x00\x01\x05" + bytes(32)])
def test_damaged_transform_sections_are_errors(payload):
    img = np.repeat(smooth_image(24, 32, planes=1, seed=5), 3, axis=2)
    c = container.unpack(lora_codec.compress(img, fallback=False))
    bad = container.pack(container.Container(c.header, {**c.sections, transforms.TAG: payload}))
    with pytest.raises(DecodeError):
        lora_codec.decompress(bad)


def _clustered_image(n: int, seed: int) -> np.ndarray:
    """Three flat regions with mild texture: few levels in use, far apart, as in a small
    crop of a photograph; its histogram looks sparse without being a channel palette."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n]
    regions = (x > n // 3).astype(int) + (y > n // 2)
    planes = [np.array([40, 120, 200])[regions] + 20 * c + 4 * np.sin(x / 2 + y / 3) + rng.normal(0, 2, (n, n))
              for c in range(3)]
    return np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8)


def _stretched_image(n: int, seed: int, factor: float = 1.5) -> np.ndarray:
    """A photo-like image with its contrast stretched: at 1.5 every third level unused, at
    1.15 about one in eight (a comb, but not a sparse histogram)."""
    img = smooth_image(n, n, planes=3, seed=seed).astype(np.float64)
    return np.clip(np.rint((img - 128) * factor + 128), 0, 255).astype(np.uint8)


def _has_channel_palettes(data: bytes) -> bool:
    section = container.unpack(data).sections.get(transforms.TAG)
    return section is not None and bool(transforms.unpack(section, "RGB").levels)


def _histogram(plane: np.ndarray) -> np.ndarray:
    return np.bincount(plane.reshape(-1), minlength=256)


def test_a_comb_qualifies_for_channel_palettes_and_a_photo_does_not():
    comb = _stretched_image(64, 0, factor=1.15)
    for c in range(3):
        counts = _histogram(comb[:, :, c])
        present = np.flatnonzero(counts)
        assert len(present) > transforms.SPARSE_SHARE * (present[-1] - present[0] + 1)  # not sparse
        assert transforms.comb_gaps(counts) >= transforms.COMB_GAPS
    assert sorted(transforms.choose(comb, "RGB")[2].levels) == [0, 1, 2]
    photo = smooth_image(64, 64, planes=3, seed=0)
    assert all(transforms.comb_gaps(_histogram(photo[:, :, c])) == 0 for c in range(3))
    assert not transforms.choose(photo, "RGB")[2]
    # gaps between rarely used levels (a histogram's thin tails) are not a comb
    assert transforms.comb_gaps(np.array([500, 1, 0, 1, 0, 1, 0, 1, 0, 1] + [0] * 246)) == 0


def test_channel_palettes_can_be_left_out():
    img = _stretched_image(48, 0)
    assert transforms.choose(img, "RGB")[2].levels
    coded, coded_colour, chosen = transforms.choose(img, "RGB", levels=False)
    assert not chosen and coded_colour == "RGB" and np.array_equal(coded, img)


@pytest.mark.parametrize("image, levels_pay", [(_clustered_image(24, 0), False), (_stretched_image(48, 0), True),
                                               (_stretched_image(64, 0, factor=1.15), True)])
def test_the_encoder_keeps_the_smaller_of_with_and_without_channel_palettes(image, levels_pay, monkeypatch):
    choose = transforms.choose
    assert choose(image, "RGB")[2].levels

    def size(levels=None):
        if levels is not None:  # only that way
            monkeypatch.setattr(transforms, "choose", lambda p, c, palette=True, **_: choose(p, c, palette, levels))
        data = lora_codec.compress(image, fallback=False)
        monkeypatch.setattr(transforms, "choose", choose)
        assert np.array_equal(lora_codec.decompress(data), image)
        return len(data), _has_channel_palettes(data)

    (with_levels, _), (without, _) = size(True), size(False)
    chosen, used_levels = size()
    assert chosen == min(with_levels, without) and used_levels == levels_pay
    assert (with_levels < without) == levels_pay


@pytest.mark.parametrize("image, levels_pay", [(_clustered_image(24, 0), False),
                                               (_stretched_image(64, 0, factor=1.15), True)])
def test_a_tall_image_chooses_channel_palettes_on_a_band(image, levels_pay, monkeypatch):
    """Tall images code only a band of rows both ways, then the whole image once, and keep
    the way the band found smaller (here, as the whole image would)."""
    import lora_codec.codec as codec_module

    monkeypatch.setattr(codec_module, "CHANNEL_PALETTE_SAMPLE_FROM", 16)
    monkeypatch.setattr(codec_module, "CHANNEL_PALETTE_SAMPLE_ROWS", 32)
    rows, real = [], codec_module.encode_group
    monkeypatch.setattr(codec_module, "encode_group", lambda model, w, planes, *a, **k: rows.append(planes.shape[0])
                        or real(model, w, planes, *a, **k))
    data = lora_codec.Codec(threads=1).compress(image, fallback=False)
    assert rows[:3] == [min(32, image.shape[0])] * 2 + [image.shape[0]]
    assert _has_channel_palettes(data) == levels_pay
    assert np.array_equal(lora_codec.decompress(data), image)
