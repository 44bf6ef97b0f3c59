"""Format v4 stripes: the pixels of images over STRIPE_ROWS rows are coded in independent
streams, in parallel on --threads."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lora_codec import container
from lora_codec.codec import Codec, DecodeError
from lora_codec.coding import groups, sections

from helpers import smooth_image


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_streams_join_and_split(streams):
    assert groups.split_streams(groups.join_streams(streams), len(streams)) == streams


def test_bad_stripe_lengths_are_refused():
    with pytest.raises(ValueError):
        groups.split_streams(b"\xff\xff", 2)
    with pytest.raises(ValueError):
        groups.split_streams(b"\x10abc", 2)  # claims 16 bytes, has 3


def test_stripes_cover_the_rows():
    assert groups.stripes(10) == [(0, 10)]
    assert groups.stripes(2 * groups.STRIPE_ROWS + 1) == [
        (0, groups.STRIPE_ROWS), (groups.STRIPE_ROWS, 2 * groups.STRIPE_ROWS),
        (2 * groups.STRIPE_ROWS, 2 * groups.STRIPE_ROWS + 1)]


@pytest.fixture(scope="module")
def tall():
    img = smooth_image(groups.STRIPE_ROWS + 40, 24, planes=3, seed=4)
    return img, Codec(threads=1).compress(img)


def test_a_tall_image_has_one_stream_per_stripe_and_any_thread_count_decodes_it(tall):
    img, data = tall
    assert Codec(threads=2).compress(img) == data  # stripes are independent of the threads
    c = container.unpack(data)
    streams = groups.split_streams(c.sections[sections.SECTION_TAGS["colour"][1]], 2)
    assert all(len(s) > 10 for s in streams)
    for threads in (1, 2):
        assert np.array_equal(Codec(threads=threads).decompress(data), img)


def test_a_corrupt_stripe_length_is_a_decode_error(tall):
    _, data = tall
    c = container.unpack(data)
    tag = sections.SECTION_TAGS["colour"][1]
    c.sections[tag] = b"\xff\xff\xff\x7f" + c.sections[tag][1:]
    bad = container.pack(c)
    with pytest.raises(DecodeError):
        Codec().decompress(bad)


def test_threads_must_be_positive():
    with pytest.raises(ValueError):
        Codec(threads=0)
