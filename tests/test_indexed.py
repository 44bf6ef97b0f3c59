"""Mode ``indexed`` (palette + context-mixed indexes, format v5; with a match model from
v11): exact round trips for every colour type and palette size, with and without the
match model, the encoder's choice, and clean errors on damaged palettes and index
streams."""

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lora_codec
from lora_codec import container, entropy
from lora_codec.codec import DecodeError
from lora_codec.coding import indexed, rice_palette
from lora_codec.coding.groups import StreamFormat
from lora_codec.transforms import pack_colours

from helpers import leb128, palette_image, smooth_image


def drawing(h: int = 48, w: int = 64, planes: int = 3) -> np.ndarray:
    """A chart-like image: a few flat colours in blocks and thin lines."""
    y, x = np.mgrid[0:h, 0:w]
    label = np.where((x + y) % 17 == 0, 3, ((x // 9) + (y // 6)) % 3)
    colours = np.array([[255, 255, 255, 255], [20, 90, 200, 255], [220, 50, 40, 200], [0, 0, 0, 255]], np.uint8)
    return np.ascontiguousarray(colours[label][:, :, :planes])


@given(st.integers(1, 14), st.integers(1, 14), st.sampled_from(["L", "LA", "RGB", "RGBA"]),
       st.integers(1, 400), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_indexed_sections_round_trip_exactly(h, w, colour, colours, seed):
    planes = container.COLOUR_TYPES[colour][1]
    img = palette_image(h, w, planes, colours, seed)
    sections = indexed.encode(img)
    assert np.array_equal(indexed.decode(sections, h, w, planes), img)


@given(st.integers(1, 20), st.integers(1, 20), st.integers(1, 70000), st.integers(0, 2**32 - 1), st.booleans(),
       st.integers(1, 5))
@settings(max_examples=60, deadline=None)
def test_index_planes_round_trip_for_any_palette_size(h, w, colours, seed, match, period):
    """Random planes, some repeating every ``period`` pixels so that the match model finds
    matches and loses them."""
    colours = min(colours, entropy.MAX_COLOURS)
    rng = np.random.default_rng(seed)
    plane = rng.integers(0, colours, (h, w)).astype(np.uint16)
    if period > 1:
        flat = np.resize(rng.integers(0, colours, period), h * w)
        flat[rng.integers(0, h * w, max(1, h * w // 10))] = rng.integers(0, colours)
        plane = flat.reshape(h, w).astype(np.uint16)
    data = entropy.encode_indexes(plane, colours, match)
    assert np.array_equal(entropy.decode_indexes(data, h, w, colours, match), plane)


def glyphs(h: int = 90, w: int = 132) -> np.ndarray:
    """Text-like indexes: one 9 x 11 tile of hashed "glyph" pixels, repeated with a shift
    on every row of tiles."""
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    return (((y % 9) * 2654435761 + ((x + 3 * (y // 9)) % 11) * 40503) >> 7 & 3).astype(np.uint16)


def test_the_match_model_makes_repeated_content_cheaper():
    plane = glyphs()
    without, with_match = (entropy.encode_indexes(plane, 4, match) for match in (False, True))
    assert len(with_match) < 0.9 * len(without)
    assert np.array_equal(entropy.decode_indexes(with_match, *plane.shape, 4, True), plane)


def test_files_before_version_11_decode_as_they_were_coded():
    """A version-10 indexed file (zlib'd palette, no match model) must still decode, and
    its sections differ from version 11's."""
    img = np.array([[255, 255, 240], [20, 20, 30], [120, 120, 130], [200, 30, 30]], np.uint8)[glyphs()]
    data = lora_codec.compress(img)
    c = container.unpack(data)
    assert c.header.mode == "indexed" and c.header.version == container.VERSION >= 11
    old = {**c.sections, **indexed.encode(img, StreamFormat.of(10))}
    assert all(old[tag] != c.sections[tag] for tag in (indexed.PALETTE_TAG, indexed.INDEX_TAG))
    assert np.array_equal(indexed.decode(old, *img.shape, StreamFormat.of(10)), img)
    v10 = container.pack(container.Container(c.header, old), version=10)
    assert np.array_equal(lora_codec.decompress(v10), img)


def test_a_modelled_palette_is_smaller_and_reads_back():
    rng = np.random.default_rng(4)
    ramp = np.linspace(0, 255, 300).astype(np.int64)
    colours = np.unique(np.stack([ramp, 255 - ramp, (ramp * 3 + rng.integers(0, 2, 300)) % 256], 1), axis=0)
    colours = colours[np.argsort((colours[:, 0] << 16) | (colours[:, 1] << 8) | colours[:, 2])].astype(np.uint8)
    modelled, zlibbed = indexed.pack_palette(colours), indexed.pack_palette(colours, modelled=False)
    assert len(modelled) < len(zlibbed)
    for payload, flag in ((modelled, True), (zlibbed, False)):
        assert np.array_equal(indexed.unpack_palette(payload, 3, flag), colours)


@pytest.mark.parametrize("k", [1, 16, 128, 129, 300, 65536])
def test_the_palette_size_is_leb128_from_version_17(k):
    """k - 1 in LEB128 (format v17; 1 byte up to 128 colours), a u32 before; from v18
    2 (k - 1) + m, where m = 0 is the modelled differences as in v17."""
    colours = np.stack([np.arange(k) >> 8, np.arange(k) & 255, np.zeros(k, np.int64)], 1).astype(np.uint8)
    short, long = indexed.pack_palette(colours, rice=False), indexed.pack_palette(colours, short_count=False)
    n = 1 if k <= 128 else 2 if k <= 16384 else 3
    assert long[:4] == k.to_bytes(4, "little") and short[n:] == long[4:]
    assert short[:n] == leb128(k - 1)
    assert np.array_equal(indexed.unpack_palette(short, 3, rice=False), colours)
    assert np.array_equal(indexed.unpack_palette(long, 3, short_count=False), colours)
    v18 = indexed.pack_palette(colours)
    head = 2 * (k - 1) + indexed.MODELLED
    assert v18[:len(leb128(head))] in (leb128(head), leb128(head + indexed.RICE))
    assert np.array_equal(indexed.unpack_palette(v18, 3), colours)


@pytest.mark.parametrize("prefix, message", [(b"\x8f\x00", "shortest form"), (b"\x80\x80\x08", "over the limit"),
                                             (b"\xff", "incomplete"), (b"", "incomplete")])
def test_a_bad_palette_size_is_refused(prefix, message):
    with pytest.raises(indexed.PaletteError, match=message):
        indexed.unpack_palette(prefix, 3)
    if message == "over the limit":  # v17's limit is 65535, v18's 2 x 65535 + 1
        with pytest.raises(indexed.PaletteError, match=message):
            indexed.unpack_palette(b"\x80\x80\x04", 3, rice=False)


def _icon_palette(k: int, planes: int = 3, seed: int = 0) -> np.ndarray:
    """k distinct colours of a natural-looking palette (a ramp with shared and per-plane
    noise), value-sorted."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(10, 240, k)[:, None] + rng.normal(0, 10, (k, 1)) + rng.normal(0, 6, (k, planes))
    colours = np.unique(np.clip(ramp, 0, 255).astype(np.uint8), axis=0)
    return colours[np.argsort(pack_colours(colours))]


@pytest.mark.parametrize("planes", [1, 2, 3, 4])
@pytest.mark.parametrize("k", [1, 2, 16, 256])
def test_a_small_palette_is_rice_coded_from_version_18_where_smaller(k, planes):
    """Format v18 writes a palette of at most 256 colours as Golomb-Rice codes in index
    order (the head's lowest bit 1) where that is smaller than the model's differences."""
    colours = _icon_palette(k, planes)
    k = len(colours)
    payload = indexed.pack_palette(colours)
    deltas = np.diff(colours.astype(np.int16), axis=0, prepend=0).astype(np.uint8).T
    modelled = entropy.encode_indexes(np.ascontiguousarray(deltas), 256)  # v18's mixers
    rice = rice_palette.encode(colours[indexed.index_order(colours)])
    head = leb128(2 * (k - 1) + (indexed.RICE if len(rice) < len(modelled) else indexed.MODELLED))
    assert payload == head + min(modelled, rice, key=len)
    assert np.array_equal(indexed.unpack_palette(payload, planes), colours)


def test_icons_palettes_are_smaller_rice_coded():
    sizes = [(len(indexed.pack_palette(c)), len(indexed.pack_palette(c, rice=False)))
             for c in (_icon_palette(16, 3, seed) for seed in range(8))]
    assert all(v18 < v17 for v18, v17 in sizes)


def test_rice_palettes_only_up_to_256_colours():
    colours = _icon_palette(300)
    assert len(colours) > rice_palette.MAX_COLOURS
    assert indexed.pack_palette(colours)[0] % 2 == indexed.MODELLED
    with pytest.raises(indexed.PaletteError, match="Rice-coded palette of"):
        indexed.unpack_palette(leb128(2 * (len(colours) - 1) + indexed.RICE) + b"\x00" * 64, 3)


def _rice_payload(colours: np.ndarray) -> bytes:
    return leb128(2 * (len(colours) - 1) + indexed.RICE) + rice_palette.encode(colours)


@pytest.mark.parametrize("damage, message", [
    ("value order", "index order"), ("duplicate", "index order"), ("truncated", "truncated"),
    ("trailing byte", "after its codes"), ("padding bit", "after its codes"), ("long code", "out of range"),
    ("huge", "after its codes")])
def test_bad_rice_palettes_are_refused(damage, message):
    colours = _icon_palette(16)
    in_index_order = colours[indexed.index_order(colours)]
    if damage == "value order":  # the right colours, but not in index order
        payload = _rice_payload(colours if not (colours == in_index_order).all() else colours[::-1].copy())
    elif damage == "duplicate":
        payload = _rice_payload(np.concatenate([in_index_order[:1], in_index_order]))
    elif damage == "truncated":
        payload = _rice_payload(in_index_order)[:-2]
    elif damage == "huge":  # refused by its length, before its bits are read
        payload = leb128(2 * 15 + indexed.RICE) + b"\xff" * (rice_palette.max_bytes(16, 3) + 1)
    elif damage == "trailing byte":
        payload = _rice_payload(in_index_order) + b"\x00"
    elif damage == "padding bit":  # two colours: 24 + 3 x (3 + 2) = 39 bits, one bit of padding, set
        bits = np.zeros(40, np.uint8)
        bits[[27, 32, 37, 39]] = 1  # the three codes "10" (r = 0, number 1), then the padding bit
        payload = leb128(2 * 1 + indexed.RICE) + np.packbits(bits).tobytes()
        assert np.array_equal(indexed.unpack_palette(payload[:-1] + bytes([payload[-1] & 0xFE]), 3),
                              [[0, 0, 0], [0, 1, 0]])  # without the bit, it reads
    else:  # plane 0 with r = 0 and a first code of 256 one bits: the number 256
        bits = np.array([0] * 24 + [0, 0, 0] + [1] * 256 + [0] + [0, 0, 0, 0] * 2, np.uint8)
        payload = leb128(2 * 1 + indexed.RICE) + np.packbits(bits).tobytes()
    with pytest.raises(indexed.PaletteError, match=message):
        indexed.unpack_palette(payload, 3)


def test_a_drawing_is_coded_indexed_and_below_half_the_stored_pixels():
    img = drawing(planes=4)
    data = lora_codec.compress(img)
    assert container.unpack(data).header.mode == "indexed"
    assert len(data) < len(lora_codec.compress(img, mode="stored")) / 2
    assert np.array_equal(lora_codec.decompress(data), img)


def test_photographs_are_not_tried_and_stay_learned():
    img = smooth_image(40, 48, planes=3, seed=2)
    assert not indexed.worth_trying(img, indexed.colour_count(img))
    assert not indexed.worth_trying_on(img)
    assert container.unpack(lora_codec.compress(img)).header.mode == "learned"


def test_the_encoder_keeps_the_smallest_of_its_candidates():
    img = drawing()
    chosen = len(lora_codec.compress(img))
    for mode in ("learned", "indexed", "stored"):
        assert chosen <= len(lora_codec.compress(img, mode=mode, fallback=False))


def test_one_colour_image_codes_no_index_bits():
    img = np.full((30, 20, 3), 77, np.uint8)
    data = lora_codec.compress(img, mode="indexed")
    assert np.array_equal(lora_codec.decompress(data), img)
    assert len(container.unpack(data).sections[indexed.INDEX_TAG]) <= 2


def test_mode_indexed_refuses_images_of_too_many_colours():
    y, x = np.mgrid[0:300, 0:300]
    img = np.stack([x % 256, y % 256, (x // 256) + 2 * (y // 256)], axis=2).astype(np.uint8)
    assert indexed.colour_count(img) > indexed.MAX_COLOURS
    with pytest.raises(ValueError, match="at most 65536 colours"):
        lora_codec.compress(img, mode="indexed")


@pytest.mark.parametrize("plane, colours", [(np.zeros((2, 2), np.uint16), 0), (np.zeros((2, 2), np.uint16), 65537),
                                            (np.full((2, 2), 3, np.uint16), 3), (np.zeros(4, np.uint16), 2),
                                            (np.zeros((2, 2), np.float32), 2)])
def test_encode_indexes_validates_before_native_code(plane, colours):
    with pytest.raises(ValueError):
        entropy.encode_indexes(plane, colours)


@pytest.mark.parametrize("start", [-1, 33, 2.0, True])
def test_the_mixers_start_is_validated(start):
    plane = np.zeros((2, 2), np.uint16)
    with pytest.raises(ValueError, match="mixer_start"):
        entropy.encode_indexes(plane, 2, mixer_start=start)
    with pytest.raises(ValueError, match="mixer_start"):
        entropy.decode_indexes(b"", 2, 2, 2, mixer_start=start)


def test_lighter_mixers_from_version_18_make_small_images_smaller():
    """Format v18 starts the mixers at 3/32 instead of 1/4: a small icon-like plane (a
    smooth image in 16 levels of luma) codes smaller, and each stream decodes only with
    its own start."""
    img = smooth_image(16, 16, planes=3, seed=0).astype(np.int64)
    plane = (img @ np.array([299, 587, 114]) * 16 // (1000 * 256)).astype(np.uint16)
    v17, v18 = (entropy.encode_indexes(plane, 16, True, start) for start in (entropy.MIXER_START_V5,
                                                                              entropy.MIXER_START))
    assert len(v18) < 0.95 * len(v17)
    for data, start in ((v17, entropy.MIXER_START_V5), (v18, entropy.MIXER_START)):
        assert np.array_equal(entropy.decode_indexes(data, 16, 16, 16, True, start), plane)
    try:
        misread = entropy.decode_indexes(v18, 16, 16, 16, True, entropy.MIXER_START_V5)
    except entropy.CorruptStreamError:
        return
    assert not np.array_equal(misread, plane)


def _with_sections(data: bytes, **replace) -> bytes:
    c = container.unpack(data)
    c.sections.update({k.encode(): v for k, v in replace.items()})
    return container.pack(c)


@pytest.mark.parametrize("damage", ["cut stream", "flipped stream", "empty palette", "short palette",
                                    "unsorted palette", "bad palette stream", "flipped palette", "huge count"])
def test_damaged_indexed_files_fail_cleanly(damage):
    data = lora_codec.compress(drawing(), mode="indexed")
    sections = container.unpack(data).sections
    stream, palette = sections[indexed.INDEX_TAG], sections[indexed.PALETTE_TAG]
    colours = indexed.unpack_palette(palette, 3)
    if damage == "cut stream":
        bad = _with_sections(data, IIDX=stream[: len(stream) // 3])
    elif damage == "flipped stream":
        bad = _with_sections(data, IIDX=stream[:5] + bytes([stream[5] ^ 0x40]) + stream[6:])
    elif damage == "empty palette":
        bad = _with_sections(data, IPAL=b"")
    elif damage == "short palette":
        bad = _with_sections(data, IPAL=palette[:-3])
    elif damage == "unsorted palette":
        bad = _with_sections(data, IPAL=indexed.pack_palette(colours[::-1].copy()))
    elif damage == "bad palette stream":
        bad = _with_sections(data, IPAL=palette[:4] + b"\x00" * 12)
    elif damage == "flipped palette":
        bad = _with_sections(data, IPAL=palette[:6] + bytes([palette[6] ^ 0x21]) + palette[7:])
    else:
        bad = _with_sections(data, IPAL=struct.pack("<I", 1 << 20) + palette[4:])
    with pytest.raises(DecodeError, match="corrupt"):
        lora_codec.decompress(bad)


@settings(max_examples=25, deadline=None)
@given(colours=st.integers(1, 3000), height=st.integers(1, 90), width=st.integers(1, 90), seed=st.integers(0, 99))
def test_the_sampled_decision_is_the_full_one(colours, height, width, seed):
    img = palette_image(height, width, 3, colours, seed)
    assert indexed.worth_trying_on(img) == indexed.worth_trying(img, indexed.colour_count(img))


def test_adaptation_is_not_run_when_the_indexed_file_wins_anyway(adaptations):
    from lora_codec.codec import ADAPTATION_REACH

    far = drawing(96, 128)  # indexed 194 B against 621 B learned
    plain = lora_codec.compress(far)
    assert container.unpack(plain).header.mode == "indexed"
    assert len(plain) < ADAPTATION_REACH * len(lora_codec.compress(far, fallback=False))
    assert lora_codec.compress(far, steps=3) == plain
    assert lora_codec.compress(far, time_budget=5.0) == plain
    assert adaptations == []
    near = smooth_image(48, 64, seed=1) // 16 * 16  # few colours, but the learned file is the smallest
    assert indexed.worth_trying_on(near)
    assert len(lora_codec.compress(near)) > ADAPTATION_REACH * len(lora_codec.compress(near, fallback=False))
    lora_codec.compress(near, steps=2)
    assert [shape for shape, _ in adaptations] == [(48, 64)]


@pytest.mark.parametrize("planes", [1, 3, 4])
@pytest.mark.parametrize("k", [1, 2, 256])
def test_the_longest_rice_palette_fits_its_bound(k, planes):
    """Every number 255 (or -128 as the pivot's 255) with r = 0 is the longest a palette
    can be: it reads back, and it is exactly max_bytes long."""
    colours = np.zeros((k, planes), np.int64)
    pivot = 1 if planes >= 3 else 0
    steps = np.zeros((k - 1, planes), np.int64)
    steps[:, pivot] = -128  # numbered 255 brightening first
    for c in range(planes):
        if c != pivot:  # zigzag 255 is -128, minus the pivot's step for R and B
            steps[:, c] = -128 + (steps[:, pivot] if planes >= 3 and c in (0, 2) else 0)
    colours[1:] = np.cumsum(steps, axis=0)
    colours = (colours % 256).astype(np.uint8)
    bits = [0] * (8 * planes)
    for _ in range(planes if k > 1 else 0):
        bits += [0, 0, 0] + ([1] * 255 + [0]) * (k - 1)
    payload = np.packbits(np.array(bits, np.uint8)).tobytes()
    assert len(payload) == rice_palette.max_bytes(k, planes)
    assert np.array_equal(rice_palette.decode(payload, k, planes), colours)
