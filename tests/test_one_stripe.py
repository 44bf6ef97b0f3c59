"""The one-stripe flag (format version 12): copies across stripes, which a stripe's match
model cannot reach, coded as one stream; when the encoder sets it, and what readers
refuse."""

from pathlib import Path

import numpy as np
import pytest

import lora_codec
from lora_codec import container
from lora_codec.coding import stripe_layout
from lora_codec.coding.groups import StreamFormat
from lora_codec.coding.modes import mode
from lora_codec.coding.sections import section_stats
from lora_codec.container import FLAG_FAST, FLAG_NO_MATCH, FLAG_ONE_STRIPE, FormatError

from golden_inputs import golden_case
from helpers import info_after_compressing, smooth_image, with_header_flags

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def copies():
    """600 rows (stripes of 256 and 344): two bands of stripe 0 copied into stripe 1."""
    return golden_case({"shape": [600, 24, 3], "seed": 14, "variant": "stripe_copies"})


def test_the_format_of_the_flag_has_one_stripe_of_every_row():
    fmt = StreamFormat.of(12, FLAG_ONE_STRIPE)
    assert fmt.one_stripe and fmt.stripes(1000) == [(0, 1000)] and fmt.header_flags == FLAG_ONE_STRIPE
    assert StreamFormat.of(12).stripes(1000) == [(0, 256), (256, 512), (512, 768), (768, 1000)]
    assert not StreamFormat.of(11, FLAG_ONE_STRIPE).one_stripe  # the bit means nothing before version 12
    both = StreamFormat.of(12, FLAG_FAST | FLAG_ONE_STRIPE)
    assert both.fast and both.one_stripe and both.header_flags == FLAG_FAST | FLAG_ONE_STRIPE


def test_copies_across_stripes_are_coded_in_one_stripe(copies):
    bounds = StreamFormat.of().stripes(copies.shape[0])
    assert stripe_layout.repeat_shares(copies, bounds).across >= stripe_layout.TRY_ONE_STRIPE
    data = lora_codec.compress(copies)
    assert data[9] == FLAG_ONE_STRIPE and section_stats(data)["one_stripe"]
    assert np.array_equal(lora_codec.decompress(data), copies)
    codec = lora_codec.Codec()
    striped = codec._plan(codec.model, mode("learned"), copies, "RGB", None, StreamFormat.of())
    assert len(data) < (1 - stripe_layout.ONE_STRIPE_GAIN) * striped.size


def test_images_without_such_copies_keep_their_stripes():
    photo_like = smooth_image(600, 24, planes=3, seed=14)
    assert stripe_layout.repeat_shares(photo_like, StreamFormat.of().stripes(600)).across < 0.005
    assert lora_codec.compress(photo_like)[9] == FLAG_NO_MATCH  # and no match model (tests/test_no_match.py)


def test_the_keys_of_a_band_of_rows_are_those_of_the_whole_image(copies):
    bounds = StreamFormat.of().stripes(copies.shape[0])
    whole = stripe_layout.neighbourhood_keys(copies)
    assert np.array_equal(np.concatenate([stripe_layout.neighbourhood_keys(copies, b) for b in bounds]), whole)
    assert np.array_equal(stripe_layout.neighbourhood_keys(copies[:, :, 0], (100, 300)),
                          stripe_layout.neighbourhood_keys(copies[:, :, 0])[100 * 24 : 300 * 24])


def test_the_copy_test_works_a_stripe_at_a_time():
    """Its work memory is a stripe's arrays and an eighth of the keys: about 13 bytes a
    pixel here, where hashing the whole image at once took 64 (a 24-megapixel photo's
    compression peaked at 2.2 GiB)."""
    import tracemalloc

    image = smooth_image(1024, 1024, planes=3, seed=2)
    bounds = StreamFormat.of().stripes(1024)
    tracemalloc.start()
    try:
        stripe_layout.repeat_shares(image, bounds)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 * image.shape[0] * image.shape[1]


def test_fast_files_keep_their_stripes(copies):
    # without the bit refinement there is no match model to reach the copies
    assert lora_codec.compress(copies, fast=True, fallback=False)[9] == FLAG_FAST


def test_stored_and_indexed_files_never_carry_the_flag():
    noise = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)  # coded as stored
    data = lora_codec.compress(noise)
    assert container.unpack(data).header.mode == "stored"
    with pytest.raises(FormatError, match="one-stripe flag"):
        container.unpack(with_header_flags(data, FLAG_ONE_STRIPE))
    header = container.unpack(data).header
    with pytest.raises(ValueError, match="not valid in mode stored"):
        container.pack(container.Container(container.Header(**{**header.__dict__, "flags": FLAG_ONE_STRIPE})))


def test_a_version_11_file_with_the_flag_is_refused():
    path = GOLDEN / "v11-9d16e6feea080739" / "learned_RGB.lcz"
    with pytest.raises(FormatError, match="reserved header flag"):
        container.unpack(with_header_flags(path.read_bytes(), FLAG_ONE_STRIPE))


def test_a_striped_file_read_as_one_stripe_fails_cleanly():
    image = smooth_image(600, 24, planes=3, seed=3)
    data = lora_codec.compress(image)
    assert data[9] == FLAG_NO_MATCH
    with pytest.raises(ValueError):  # a corrupt stream or a pixel CRC mismatch, never wrong pixels
        lora_codec.decompress(with_header_flags(data, FLAG_NO_MATCH | FLAG_ONE_STRIPE))


def test_the_command_line_reports_one_stripe_files(tmp_path, copies, capsys):
    assert ", one stripe" in info_after_compressing(tmp_path, copies, capsys)
