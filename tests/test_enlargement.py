"""Mode upscaled (format version 12): exact nearest-neighbour enlargements coded as their
smaller original's file; when the encoder chooses it, and what readers refuse."""

import struct
import zlib

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

from helpers import fixed_layout, smooth_image, with_header_bytes


def _repack(data: bytes, payload: bytes) -> bytes:
    """The file with another enlargement payload."""
    c = container.unpack(data)
    return container.pack(container.Container(c.header, {**c.sections, enlargement.TAG: payload}))


def _nearest(small: np.ndarray, height: int, width: int) -> np.ndarray:
    """``small`` enlarged to height x width by nearest neighbour (any factor, as PIL does)."""
    rows = (np.arange(height) * small.shape[0]) // height
    columns = (np.arange(width) * small.shape[1]) // width
    return np.ascontiguousarray(small[rows][:, columns])


@pytest.fixture(scope="module")
def sprite():
    """A 24 x 20 photo-like original enlarged 4 x 3 (many colours: not mode indexed)."""
    small = smooth_image(24, 20, planes=3, seed=2)
    return small, _nearest(small, 96, 60)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 30), st.integers(1, 30), st.integers(1, 4),
       st.integers(0, 3), st.integers(0, 3), st.integers(0, 2**32 - 1))
def test_an_enlargement_by_any_factor_or_its_crop_shrinks_to_its_original(h, w, height, width, planes, top, left,
                                                                        seed):
    small = np.random.default_rng(seed).integers(0, 256, (h, w, planes), dtype=np.uint8)
    y, x = np.mgrid[0:h, 0:w]
    small[:, :, 0] = (7 * y + 13 * x + small[0, 0, 0]) % 256  # no two neighbouring lines equal
    big = _nearest(small, max(h, height), max(w, width))[top:, left:]
    if big.size == 0:
        return
    rows, columns = enlargement.repeats(big)
    original = enlargement.shrink(big, rows, columns)
    assert original.shape[0] <= h and original.shape[1] <= w
    assert np.array_equal(enlargement.enlarge(original, rows, columns), big)
    assert not enlargement.repeats(original)[0].any() and not enlargement.repeats(original)[1].any()
    again = enlargement.unpack(enlargement.pack(rows, columns, b"x"), *big.shape[:2])
    assert np.array_equal(again[0], rows) and np.array_equal(again[1], columns) and again[2] == b"x"


def test_bars_of_one_colour_do_not_count_towards_trying_the_mode():
    photo = smooth_image(40, 48, seed=6)
    letterboxed = np.concatenate([np.zeros((10, 48, 3), np.uint8), photo, np.zeros((10, 48, 3), np.uint8)])
    rows, columns = enlargement.repeats(letterboxed)
    assert enlargement.share_repeated(rows, columns) == pytest.approx(18 / 60)
    assert enlargement.share_repeated_detail(letterboxed, rows, columns) == 0
    assert container.unpack(lora_codec.compress(letterboxed)).header.mode == "learned"
    stretched = _nearest(photo, 60, 48)  # 1.5 x down: a third of the rows repeat, none of one colour
    assert enlargement.share_repeated_detail(stretched, *enlargement.repeats(stretched)) == pytest.approx(20 / 60)


def test_an_enlargement_by_four_thirds_with_a_band_of_one_colour_is_tried():
    photo = smooth_image(36, 45, seed=7)
    photo[:4] = 255  # a white band: its repeated rows do not count
    big = _nearest(photo, 48, 45)
    rows, columns = enlargement.repeats(big)
    assert rows.sum() == 15 and enlargement.share_repeated_detail(big, rows, columns) < 0.25
    data = lora_codec.compress(big)
    assert container.unpack(data).header.mode == "upscaled"
    assert len(data) < 0.9 * len(lora_codec.compress(big, fallback=False))
    assert np.array_equal(lora_codec.decompress(data), big)


def test_photographs_repeat_no_line():
    assert enlargement.share_repeated(*enlargement.repeats(smooth_image(64, 48, seed=1))) == 0


def test_an_enlargement_is_coded_as_its_original(sprite):
    small, big = sprite
    data = lora_codec.compress(big)
    assert container.unpack(data).header.mode == "upscaled" and section_stats(data)["mode"] == "upscaled"
    assert np.array_equal(lora_codec.decompress(data), big)
    rows, columns, inner = enlargement.unpack(container.unpack(data).sections[enlargement.TAG], 96, 60)
    assert rows.sum() == 72 and columns.sum() == 40 and np.array_equal(lora_codec.decompress(inner), small)
    assert len(data) < len(lora_codec.compress(big, fallback=False)) / 2


def test_adaptation_is_not_run_on_the_image_when_its_enlarged_file_wins_anyway(adaptations):
    """An enlargement by 3/2 is not clearly one (mode upscaled is tried beside the learned
    file, not instead of it), yet its file is far smaller: only the original adapts."""
    from lora_codec.codec import ADAPTATION_REACH

    small = smooth_image(32, 42, seed=6)
    big = _nearest(small, 48, 63)
    plain = lora_codec.compress(big)
    assert container.unpack(plain).header.mode == "upscaled"
    assert len(plain) < ADAPTATION_REACH * len(lora_codec.compress(big, fallback=False))
    adapted = lora_codec.compress(big, steps=2)
    assert [shape for shape, _ in adaptations] == [(32, 42)]  # the original inside, never the enlargement itself
    assert np.array_equal(lora_codec.decompress(adapted), big)


def test_where_both_files_might_win_both_adapt_the_original_on_its_share_of_the_budget(adaptations):
    """An enlargement by 5/4: its file and the image's own are close, so both adapt, the
    original first, on a share of the time budget by pixels."""
    from lora_codec.codec import ADAPTATION_REACH

    small = smooth_image(40, 40, seed=8)
    big = _nearest(small, 40, 50)
    own, enlarged = len(lora_codec.compress(big, fallback=False)), len(lora_codec.compress(big, mode="upscaled"))
    assert ADAPTATION_REACH * own <= enlarged and ADAPTATION_REACH * enlarged <= own  # neither wins for sure
    data = lora_codec.compress(big, steps=2, time_budget=60.0)
    assert [shape for shape, _ in adaptations] == [(40, 40), (40, 50)]
    assert adaptations[0][1] < 60.0 * 40 / (40 + 50)  # the original's share, less its coding
    assert np.array_equal(lora_codec.decompress(data), big)


def test_grey_and_alpha_enlargements_round_trip():
    grey = _nearest(smooth_image(10, 12, planes=1, seed=3), 15, 23)[:, :, 0]  # 1.5 x, 1.9 x
    data = lora_codec.compress(grey)
    assert container.unpack(data).header.mode == "upscaled"
    assert np.array_equal(lora_codec.decompress(data), grey)
    rgba = _nearest(smooth_image(10, 12, planes=4, seed=4), 10, 60)
    assert np.array_equal(lora_codec.decompress(lora_codec.compress(rgba)), rgba)


def test_the_mode_asked_for_refuses_other_images_and_other_modes_do_not_enlarge(sprite):
    with pytest.raises(ValueError, match="nearest-neighbour enlargements"):
        lora_codec.compress(smooth_image(16, 16, seed=5), mode="upscaled")
    assert container.unpack(lora_codec.compress(sprite[1], mode="upscaled")).header.mode == "upscaled"
    assert container.unpack(lora_codec.compress(sprite[1], fallback=False)).header.mode == "learned"


def test_metadata_stays_in_the_outer_file(sprite):
    data = lora_codec.compress(sprite[1], metadata={"text": {"Title": "sprite"}})
    assert lora_codec.read_metadata(data) == {"text": {"Title": "sprite"}}
    inner = enlargement.unpack(container.unpack(data).sections[enlargement.TAG], 96, 60)[2]
    assert lora_codec.read_metadata(inner) == {}


def _payload(maps: bytes, inner: bytes = b"", version: int = 1, length: int | None = None) -> bytes:
    deflated = zlib.compress(maps)
    return struct.pack("<BI", version, len(deflated) if length is None else length) + deflated + inner


_ROWS = np.packbits(np.arange(96) % 4 != 0).tobytes()  # the sprite's maps: 96 rows, 60 columns
_COLUMNS = np.packbits(np.arange(60) % 3 != 0).tobytes()


@pytest.mark.parametrize("payload, message", [
    (b"\x01\x04", "truncated"),
    (_payload(_ROWS + _COLUMNS, version=2), "payload version"),
    (_payload(_ROWS + _COLUMNS, length=10**6), "line maps are truncated"),
    (struct.pack("<BI", 1, 4) + b"\x00\x01\x02\x03", "corrupt"),
    (_payload(_ROWS), "not those of a 60x96 image"),
    (_payload(_ROWS + _COLUMNS + b"\x00"), "not those of a 60x96 image"),
    (_payload(b"\x80" + _ROWS[1:] + _COLUMNS), "first line"),
    (_payload(_ROWS + _COLUMNS, b"not a file"), "enlarged image"),
])
def test_damaged_enlargement_sections_fail_in_one_line(sprite, payload, message):
    data = _repack(lora_codec.compress(sprite[1]), payload)
    with pytest.raises(DecodeError, match=message):
        lora_codec.decompress(data)


def test_an_original_of_the_wrong_size_or_an_enlargement_inside_is_refused(sprite):
    small, big = sprite
    data = lora_codec.compress(big)
    inner = enlargement.unpack(container.unpack(data).sections[enlargement.TAG], 96, 60)[2]
    halves = np.arange(96) % 2 == 1, np.arange(60) % 2 == 1  # 48 x 30 lines kept: not 24 x 20
    with pytest.raises(DecodeError, match="is not the"):
        lora_codec.decompress(_repack(data, enlargement.pack(*halves, inner)))
    nested = lora_codec.compress(_nearest(small, 48, 30))  # itself mode upscaled, 48 x 30
    assert container.unpack(nested).header.mode == "upscaled"
    with pytest.raises(DecodeError, match="mode upscaled"):
        lora_codec.decompress(_repack(data, enlargement.pack(*halves, nested)))


def test_mode_4_is_unknown_before_version_12(sprite):
    with pytest.raises(FormatError, match="unknown coding mode 4"):
        container.unpack(with_header_bytes(fixed_layout(lora_codec.compress(sprite[1])), 8, bytes([11])))


def test_the_command_line_codes_and_reports_enlargements(tmp_path, sprite, capsys):
    from PIL import Image

    src, out, back = tmp_path / "in.png", tmp_path / "in.lcz", tmp_path / "back.png"
    Image.fromarray(sprite[1]).save(src)
    assert main(["compress", str(src), "-o", str(out), "--quiet", "--verify"]) == 0
    assert main(["decompress", str(out), "-o", str(back), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(back)), sprite[1])
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    out_text = capsys.readouterr().out
    assert "mode upscaled, no model," in out_text and "model 0000" not in out_text
