"""The no-match flag (format version 16): the bit refinement without its match model,
which the encoder sets where an image has too few exact repeats for the model to pay;
what it changes, when the encoder sets it, and what readers refuse."""

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

from helpers import info_after_compressing, smooth_image, with_header_flags

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def photo_like():
    return smooth_image(96, 80, planes=3, seed=21)


@pytest.fixture(scope="module")
def repeats():
    """A textured tile repeated down the image: half its pixels repeat earlier ones."""
    tile = smooth_image(32, 80, planes=3, seed=22)
    return np.concatenate([tile, tile, tile]).copy()


def test_the_format_of_the_flag_has_no_match_model():
    fmt = StreamFormat.of(16, FLAG_NO_MATCH)
    assert fmt.refined and not fmt.matched and fmt.no_match and fmt.header_flags == FLAG_NO_MATCH
    assert StreamFormat.of(16).matched and StreamFormat.of(16).header_flags == 0
    assert StreamFormat.of(15, FLAG_NO_MATCH).matched  # the bit means nothing before version 16
    assert StreamFormat.of(16).without_match() == fmt
    fast = StreamFormat.of(16, FLAG_FAST)
    assert fast.without_match() == fast and fast.header_flags == FLAG_FAST  # no match model to turn off
    both = StreamFormat.of(16, FLAG_NO_MATCH | FLAG_ONE_STRIPE)
    assert both.one_stripe and not both.matched and both.header_flags == FLAG_NO_MATCH | FLAG_ONE_STRIPE


def test_the_repeat_shares_tell_repeats_from_photographs(photo_like, repeats):
    one = [(0, 96)]
    assert stripe_layout.repeat_shares(photo_like, one).anywhere < stripe_layout.MATCH_MODEL_FROM
    shares = stripe_layout.repeat_shares(repeats, one)
    assert shares.anywhere >= stripe_layout.MATCH_MODEL_FROM and shares.across == 0.0  # one stripe: none across
    split = stripe_layout.repeat_shares(repeats, [(0, 40), (40, 96)])
    assert split.anywhere == shares.anywhere and 0 < split.across <= split.anywhere


def test_photographs_are_coded_without_the_match_model(photo_like):
    data = lora_codec.compress(photo_like)
    assert data[9] == FLAG_NO_MATCH and section_stats(data)["no_match"]
    assert np.array_equal(lora_codec.decompress(data), photo_like)


def test_repeated_content_keeps_the_match_model_where_it_pays(repeats):
    data = lora_codec.compress(repeats)
    assert data[9] == 0 and not section_stats(data)["no_match"]
    assert np.array_equal(lora_codec.decompress(data), repeats)
    codec = lora_codec.Codec()
    without = codec._plan(codec.model, mode("learned"), repeats, "RGB", None, StreamFormat.of().without_match())
    assert len(data) < without.size


def test_a_file_without_the_match_model_decodes_on_any_thread_count(photo_like):
    tall = smooth_image(600, 24, planes=3, seed=23)  # stripes of 256 and 344 rows
    data = lora_codec.Codec(threads=1).compress(tall)
    assert data[9] == FLAG_NO_MATCH
    assert lora_codec.Codec(threads=2).compress(tall) == data
    for threads in (1, 2):
        assert np.array_equal(lora_codec.Codec(threads=threads).decompress(data), tall)


def test_the_match_models_stream_is_not_read_without_it(repeats):
    """A file coded with the match model, read as if without it: a clean error, never
    wrong pixels (the copies' decisions were coded under the match model's input)."""
    data = lora_codec.compress(repeats)
    with pytest.raises(ValueError):
        lora_codec.decompress(with_header_flags(data, FLAG_NO_MATCH))


def test_the_flag_is_refused_where_it_means_nothing(photo_like):
    noise = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)  # coded as stored
    stored = lora_codec.compress(noise)
    with pytest.raises(FormatError, match="no-match flag"):
        container.unpack(with_header_flags(stored, FLAG_NO_MATCH))
    fast = lora_codec.compress(photo_like, fast=True, fallback=False)
    assert fast[9] == FLAG_FAST
    with pytest.raises(FormatError, match="no-match flag.*fast flag"):
        container.unpack(with_header_flags(fast, FLAG_FAST | FLAG_NO_MATCH))
    header = container.unpack(fast).header
    with pytest.raises(ValueError, match="not valid"):
        container.pack(container.Container(container.Header(**{**header.__dict__, "flags": FLAG_FAST | FLAG_NO_MATCH})))
    v15 = (GOLDEN / "v15-9d16e6feea080739" / "learned_RGB.lcz").read_bytes()
    with pytest.raises(FormatError, match="reserved header flag"):
        container.unpack(with_header_flags(v15, FLAG_NO_MATCH))


def test_the_command_line_reports_files_without_the_match_model(tmp_path, photo_like, capsys):
    assert ", no match model" in info_after_compressing(tmp_path, photo_like, capsys)
