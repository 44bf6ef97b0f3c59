"""Mode deep (format version 13; low bits in stripes from 14): 16-bit images coded exactly
as one or two 8-bit images; reading and writing 16-bit PNG and TIFF files; what readers
refuse."""

import imagecodecs
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

import lora_codec
from lora_codec import container, entropy
from lora_codec.cli import main
from lora_codec.codec import DecodeError
from lora_codec.coding import depth
from lora_codec.container import FormatError

from helpers import fixed_layout, smooth_image, with_header_bytes


def _ten_bit(height: int = 24, width: int = 20, planes: int = 3, seed: int = 0) -> np.ndarray:
    """Photo-like 10-bit samples, MSB-aligned in 16 bits (a scanner's or camera's file)."""
    fine = smooth_image(height, width, planes, seed).astype(np.uint16) << 2
    fine |= (np.arange(fine.size, dtype=np.uint16).reshape(fine.shape) * 7 + seed) % 4
    return fine << 6


def _repack(data: bytes, payload: bytes) -> bytes:
    """The file with another 16-bit payload."""
    c = container.unpack(data)
    return container.pack(container.Container(c.header, {**c.sections, depth.TAG: payload}))


# 1. The split into 8-bit images and back.

@settings(max_examples=60, deadline=None)
@given(height=st.integers(1, 9), width=st.integers(1, 9), planes=st.integers(1, 4), bits=st.integers(0, 16),
       shift=st.integers(0, 15), widened=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_split_and_join_are_exact_for_any_samples(height, width, planes, bits, shift, widened, seed):
    rng = np.random.default_rng(seed)
    if widened:  # 8-bit values with a low byte that is a function of the high byte
        high = rng.integers(0, 256, (height, width, planes))
        samples = (high * 256 + (high * 37 + 11) % 256).astype(np.uint16)
    else:
        shift = min(shift, 16 - bits) if bits else 0
        samples = (rng.integers(0, 1 << bits, (height, width, planes)) << shift).astype(np.uint16)
    layout, high, low = depth.split(samples)
    assert high.dtype == np.uint8 and high.shape == samples.shape
    assert (low is None) == (layout.low_bits == 0)
    if low is not None:
        assert low.dtype == np.uint8 and int(low.max()) < (1 << layout.low_bits)
    assert np.array_equal(depth.join(layout, high, low), samples)
    assert depth.unpack(depth.pack(layout, b"high", b"low" if low is not None else b""))[0] == layout
    if low is not None:
        code = depth.encode_low(high, low, layout.low_bits)
        assert np.array_equal(depth.decode_low(code, high, layout.low_bits), low)


def test_the_layouts_of_common_16_bit_files():
    eight = smooth_image(16, 16, 3, 1).astype(np.uint16)
    assert depth.split(eight * 257)[0].table is not None  # 8 bits widened: no low image
    assert depth.split(eight << 8)[0] == depth.Layout(shift=8)  # 8 bits in the top byte: a shift
    assert depth.split(eight)[0] == depth.Layout()  # 8 bits in the bottom byte
    layout, high, low = depth.split(_ten_bit())
    assert (layout.shift, layout.low_bits, layout.table) == (6, 2, None)
    assert np.array_equal(high, smooth_image(24, 20, 3, 0))


@pytest.mark.parametrize("payload, message", [
    (b"\x01\x00", "truncated"),
    (b"\x02\x00\x00\x00\x00\x00\x00\x00", "version"),
    (b"\x01\x00\x00\x02\x00\x00\x00\x00", "table flag"),
    (b"\x01\x00\x00\x00\x09\x00\x00\x00abc", "truncated"),
    (b"\x01\x00\x00\x00\x01\x00\x00\x00hlow", "low bits"),  # low bytes without low bits
    (b"\x01\x00\x02\x00\x01\x00\x00\x00h", "low bits"),  # low bits without low bytes
    (b"\x01\x07\x02\x00\x01\x00\x00\x00hl", "do not fit"),  # 8 + 2 + 7 bits
    (b"\x01\x00\x00\x01\x01\x00\x00\x00" + bytes(10), "truncated"),  # the table is 256 bytes
])
def test_damaged_payloads_are_refused(payload, message):
    with pytest.raises(depth.DepthError, match=message):
        depth.unpack(payload)


# 2. The codec.

@pytest.mark.parametrize("planes", [1, 2, 3, 4])
def test_16_bit_arrays_round_trip_exactly(planes):
    samples = _ten_bit(planes=planes, seed=planes)
    data = lora_codec.compress(samples)
    header = container.unpack(data).header
    assert (header.mode, header.bit_depth, header.version) == ("deep", 16, container.VERSION)
    out = lora_codec.decompress(data)
    assert out.dtype == np.uint16 and np.array_equal(out, samples[:, :, 0] if planes == 1 else samples)


def test_widened_8_bit_samples_cost_about_what_the_8_bit_image_costs():
    eight = smooth_image(48, 40, 3, 5)
    eight_file, deep_file = lora_codec.compress(eight), lora_codec.compress(eight.astype(np.uint16) * 257)
    assert np.array_equal(lora_codec.decompress(deep_file), eight.astype(np.uint16) * 257)
    assert len(deep_file) <= len(eight_file) + 256 + 64  # the table, a header and a section


def test_a_16_bit_file_is_not_much_larger_than_its_parts_stored():
    noise = np.random.default_rng(3).integers(0, 65536, (20, 24, 3)).astype(np.uint16)
    data = lora_codec.compress(noise)
    assert np.array_equal(lora_codec.decompress(data), noise)
    assert len(data) <= noise.nbytes + 400  # two stored files inside


def test_a_pil_image_of_16_bit_grey_is_coded_exactly():
    grey = _ten_bit(planes=1)[:, :, 0]
    data = lora_codec.compress(Image.fromarray(grey))
    assert np.array_equal(lora_codec.decompress(data), grey)


def test_mode_deep_refuses_8_bit_images_and_adapters_refuse_16_bit_ones():
    with pytest.raises(ValueError, match="16-bit"):
        lora_codec.compress(smooth_image(8, 8), mode="deep")
    with pytest.raises(ValueError, match="8-bit"):
        lora_codec.Codec().encode_adapted(_ten_bit(), adapters=None)


def test_the_high_bits_are_coded_in_the_mode_asked_for():
    data = lora_codec.compress(_ten_bit(), mode="stored")
    _, high, _ = depth.unpack(container.unpack(data).sections[depth.TAG])
    assert container.unpack(high).header.mode == "stored"
    assert np.array_equal(lora_codec.decompress(data), _ten_bit())


@pytest.mark.parametrize("low_seconds, adapts", [(0.0, True), (10.0, False)])
def test_a_time_budget_counts_the_low_bits_coded_first(monkeypatch, adaptations, low_seconds, adapts):
    """The low bits are coded before the high image, which gets what is left of the
    budget: nothing (so no adaptation) when their coding took all of it."""
    import lora_codec.codec as codec_module

    clock = {"now": 0.0}
    monkeypatch.setattr(codec_module.time, "monotonic", lambda: clock["now"])
    real_low, budgets = depth.encode_low, []

    def slow_low(*args, **kwargs):
        clock["now"] += low_seconds
        return real_low(*args, **kwargs)

    real_compress = lora_codec.Codec.compress

    def spy(self, image, steps=0, **kwargs):
        if getattr(image, "dtype", None) == np.uint8:
            budgets.append(kwargs.get("time_budget"))
        return real_compress(self, image, steps, **kwargs)

    monkeypatch.setattr(depth, "encode_low", slow_low)
    monkeypatch.setattr(lora_codec.Codec, "compress", spy)
    samples = _ten_bit(24, 24, seed=7)
    data = lora_codec.Codec(threads=1).compress(samples, 2, time_budget=8.0)
    assert np.array_equal(lora_codec.decompress(data), samples)
    assert budgets == ([8.0] if adapts else [None])  # the fake clock moved only while the low bits were coded
    assert bool(adaptations) == adapts


@pytest.fixture(scope="module")
def striped_deep_file():
    """A 16-bit image of 600 rows (stripes of 256 and 344 rows) with low bits."""
    return lora_codec.compress(_ten_bit(600, 12, seed=5) >> 4)  # 10 bits shifted by 2


def test_the_low_bits_of_several_stripes_are_coded_apart_and_decode_on_any_thread_count(striped_deep_file):
    samples = _ten_bit(600, 12, seed=5) >> 4
    layout, high, code = depth.unpack(container.unpack(striped_deep_file).sections[depth.TAG])
    assert layout.low_bits == 2 and code[0] == depth.LOW_MODELLED_STRIPES
    assert lora_codec.Codec(threads=2).compress(samples) == striped_deep_file
    for threads in (1, 2):
        assert np.array_equal(lora_codec.Codec(threads=threads).decompress(striped_deep_file), samples)
    one_stripe = depth.unpack(container.unpack(lora_codec.compress(_ten_bit())).sections[depth.TAG])[2]
    assert one_stripe[0] == depth.LOW_MODELLED  # one stripe: version 13's method, byte for byte


def test_damaged_low_bit_stripes_are_refused(striped_deep_file):
    layout, high, code = depth.unpack(container.unpack(striped_deep_file).sections[depth.TAG])
    from lora_codec.coding import groups

    first, second = groups.split_streams(code[1:], 2)
    for bad, message in [(code[:1] + b"\xff" * 12, "stripe lengths are corrupt"),  # a length past the end
                         (code[:-40], "corrupt or truncated"),  # the last stripe cut short
                         (code[:1] + groups.join_streams([first[:-40], second]), "corrupt or truncated")]:
        with pytest.raises(DecodeError, match=message):
            lora_codec.decompress(_repack(striped_deep_file, depth.pack(layout, high, bad)))
    with pytest.raises(depth.DepthError, match="unknown low-bit method 2"):  # not before version 14
        depth.decode_low(code, lora_codec.Codec().decompress_planes(high), layout.low_bits, version=13)


def test_the_low_bit_tables_are_capped_by_the_files_version():
    """Version 15 caps the model's tables at 2^16 counters (v13 and v14: 2^20): a large
    stripe's stream differs between them, each decodes under its own version, and a small
    image's (tables under 2^16 either way) is the same."""
    from lora_codec.entropy.low_bits import TABLE_BITS, TABLE_BITS_V13

    assert (TABLE_BITS, TABLE_BITS_V13) == (16, 20)
    high = smooth_image(128, 128, 3, 2)  # 128 x 128 x 3 x 8 / 4 = 98,304 entries wanted: 2^17 in v14
    low = ((smooth_image(128, 128, 3, 5).astype(np.int64) * 7 + np.arange(128)[:, None, None]) % 256).astype(np.uint8)
    small, large = entropy.encode_low_bits(high, low, 8), entropy.encode_low_bits(high, low, 8, TABLE_BITS_V13)
    assert small != large
    for version, stream in ((15, small), (14, large), (13, large)):
        code = bytes([depth.LOW_MODELLED]) + stream
        assert np.array_equal(depth.decode_low(code, high, 8, version=version), low)
    try:  # under the other version's tables: an error, or other values (which the pixel CRC refuses)
        wrong = depth.decode_low(bytes([depth.LOW_MODELLED]) + large, high, 8, version=15)
    except depth.DepthError:
        pass
    else:
        assert not np.array_equal(wrong, low)
    tiny_high, tiny_low = high[:32, :32].copy(), low[:32, :32].copy()  # 6,144 entries: 2^13 either way
    assert entropy.encode_low_bits(tiny_high, tiny_low, 8) == entropy.encode_low_bits(tiny_high, tiny_low, 8,
                                                                                      TABLE_BITS_V13)
    with pytest.raises(ValueError, match="table_bits"):
        entropy.encode_low_bits(tiny_high, tiny_low, 8, 18)


# 3. Files that readers refuse.

@pytest.fixture(scope="module")
def deep_file():
    return lora_codec.compress(_ten_bit())


def test_a_part_of_the_wrong_size_colour_or_mode_is_refused(deep_file):
    layout, high, low = depth.unpack(container.unpack(deep_file).sections[depth.TAG])
    wrong_size = lora_codec.compress(smooth_image(23, 20))
    wrong_colour = lora_codec.compress(smooth_image(24, 20, planes=1))
    nested = lora_codec.compress(np.zeros((24, 20, 3), np.uint16) + 3)
    for part in (wrong_size, wrong_colour, nested):
        with pytest.raises(DecodeError, match="part"):
            lora_codec.decompress(_repack(deep_file, depth.pack(layout, part, low)))
    with pytest.raises(DecodeError, match="16-bit image"):
        lora_codec.decompress(_repack(deep_file, depth.pack(layout, high, high[:-5])))


def test_damaged_low_bits_are_refused(deep_file):
    layout, high, code = depth.unpack(container.unpack(deep_file).sections[depth.TAG])
    assert code[0] == depth.LOW_MODELLED  # a smooth image's low bits: the model's stream
    stored = bytes([depth.LOW_STORED]) + bytes(24 * 20 * 3 * 2 // 8)
    for bad, message in [(bytes([7]) + code[1:], "method"), (code[:-40], "corrupt or truncated"),
                         (stored[:-1], "stored low bits"), (stored, "CRC")]:  # the last: valid, not the image's
        with pytest.raises(DecodeError, match=message):
            lora_codec.decompress(_repack(deep_file, depth.pack(layout, high, bad)))
    one_pixel = np.zeros((1, 1, 3), np.uint8)  # 6 low bits in a byte: 2 bits of padding
    assert depth.decode_low(bytes([depth.LOW_STORED, 0b10010000]), one_pixel, 2).ravel().tolist() == [2, 1, 0]
    with pytest.raises(depth.DepthError, match="padding"):
        depth.decode_low(bytes([depth.LOW_STORED, 0b00000001]), one_pixel, 2)


def test_the_low_bits_are_stored_when_the_model_does_not_pay():
    rng = np.random.default_rng(4)
    high = smooth_image(30, 40, 3, 1)
    noise = rng.integers(0, 4, high.shape).astype(np.uint8)
    ramp = (np.arange(high.size) // 7 % 4).astype(np.uint8).reshape(high.shape)
    for low, method in [(noise, depth.LOW_STORED), (ramp, depth.LOW_MODELLED)]:
        code = depth.encode_low(high, low, 2)
        assert code[0] == method and len(code) <= 1 + (low.size * 2 + 7) // 8
        assert np.array_equal(depth.decode_low(code, high, 2), low)


@pytest.mark.parametrize("call, message", [
    (lambda: entropy.encode_low_bits(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2, 3), np.uint8), 9), "bits"),
    (lambda: entropy.encode_low_bits(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 3, 3), np.uint8), 2), "shape"),
    (lambda: entropy.encode_low_bits(np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 4, np.uint8), 2), "bits"),
    (lambda: entropy.encode_low_bits(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8), 2), "H, W"),
    (lambda: entropy.decode_low_bits(b"", np.zeros((2, 2, 5), np.uint8), 2), "H, W"),
])
def test_the_low_bit_coder_checks_its_arguments_first(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_mode_deep_needs_version_13_and_bit_depth_16(deep_file):
    with pytest.raises(FormatError, match="coding mode"):
        container.unpack(with_header_bytes(fixed_layout(deep_file), 8, bytes([12])))
    with pytest.raises(FormatError, match="bit depth"):
        container.unpack(with_header_bytes(fixed_layout(deep_file), 12, bytes([8])))
    learned = lora_codec.compress(smooth_image(8, 8))
    with pytest.raises(FormatError, match="bit depth"):
        container.unpack(with_header_bytes(fixed_layout(learned), 12, bytes([16])))


def test_a_missing_section_is_refused(deep_file):
    c = container.unpack(deep_file)
    with pytest.raises(FormatError, match="16-bit section"):
        lora_codec.decompress(container.pack(container.Container(c.header, {})))


# 4. Files: 16-bit PNG and TIFF in, 16-bit PNG out, metadata kept.

@pytest.mark.parametrize("planes", [1, 2, 3, 4])
def test_16_bit_png_files_round_trip_through_the_cli(tmp_path, capsys, planes):
    samples = _ten_bit(planes=planes, seed=planes)
    src = tmp_path / "deep.png"
    src.write_bytes(imagecodecs.png_encode(samples if planes > 1 else samples[:, :, 0]))
    assert main(["compress", str(src), "-o", str(tmp_path / "x.lcz"), "--quiet"]) == 0
    assert main(["info", str(tmp_path / "x.lcz")]) == 0
    assert "16-bit, mode deep" in capsys.readouterr().out
    assert main(["decompress", str(tmp_path / "x.lcz"), "-o", str(tmp_path / "out.png"), "--quiet"]) == 0
    out = imagecodecs.png_decode((tmp_path / "out.png").read_bytes())
    assert out.dtype == np.uint16 and np.array_equal(out.reshape(samples.shape), samples)


def test_16_bit_tiff_files_are_read_exactly(tmp_path):
    samples = _ten_bit(seed=4)
    src = tmp_path / "scan.tif"
    src.write_bytes(imagecodecs.tiff_encode(samples))
    assert np.array_equal(lora_codec.decompress(lora_codec.compress(src)), samples)


def test_a_16_bit_tiff_is_read_as_pillow_shows_the_same_file_at_8_bits(tmp_path):
    """Orientation turns the pixels and MinIsWhite inverts grey, as Pillow's 8-bit
    TIFF reader does, so the 16-bit PNG shows what the TIFF shows."""
    from lora_codec.images import orient

    grey = _ten_bit(height=12, width=7, planes=1, seed=6)[:, :, 0]
    for orientation in (3, 6):
        Image.fromarray(grey).save(tmp_path / "turned.tif", tiffinfo={274: orientation})
        with Image.open(tmp_path / "turned.tif") as img:
            shown = img.size
        out = lora_codec.decompress(lora_codec.compress(tmp_path / "turned.tif"))
        assert (out.shape[1], out.shape[0]) == shown and np.array_equal(out, orient(grey, orientation))
    assert np.array_equal(orient(grey, 3), grey[::-1, ::-1])
    (tmp_path / "white.tif").write_bytes(imagecodecs.tiff_encode(grey, photometric="miniswhite"))
    assert np.array_equal(lora_codec.decompress(lora_codec.compress(tmp_path / "white.tif")), 65535 - grey)


def test_orient_matches_pillows_transpositions():
    from PIL import ImageOps

    from lora_codec.images import orient

    pixels = np.arange(3 * 5, dtype=np.uint8).reshape(3, 5)
    for orientation in range(1, 9):
        img = Image.fromarray(pixels)
        exif = img.getexif()
        exif[274] = orientation
        img.info["exif"] = exif.tobytes()
        assert np.array_equal(np.asarray(ImageOps.exif_transpose(img)), orient(pixels, orientation)), orientation


@pytest.mark.parametrize("options, message", [
    (dict(photometric="rgb", extrasample=1), "premultiplied"),
    (dict(photometric="separated"), "photometric interpretation 5"),
])
def test_16_bit_tiffs_whose_samples_a_png_cannot_mean_are_refused(tmp_path, capsys, options, message):
    samples = _ten_bit(planes=4, seed=7)
    (tmp_path / "x.tif").write_bytes(imagecodecs.tiff_encode(samples, **options))
    assert main(["compress", str(tmp_path / "x.tif"), "-o", str(tmp_path / "x.lcz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x.lcz").exists()


def test_a_tiff_layout_pillow_cannot_open_is_named_in_one_line(tmp_path, capsys):
    samples = _ten_bit(seed=9)
    (tmp_path / "planar.tif").write_bytes(imagecodecs.tiff_encode(samples, planarconfig="separate"))
    assert main(["compress", str(tmp_path / "planar.tif"), "-o", str(tmp_path / "x.lcz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a TIFF layout Pillow cannot read" in err[0]


def test_metadata_travels_into_the_16_bit_png(tmp_path):
    samples = _ten_bit(seed=5)
    data = lora_codec.compress(samples, metadata={"text": {"Title": "scan 7"}, "dpi": [600, 600]})
    (tmp_path / "x.lcz").write_bytes(data)
    assert main(["decompress", str(tmp_path / "x.lcz"), "-o", str(tmp_path / "out.png"), "--quiet"]) == 0
    with Image.open(tmp_path / "out.png") as img:
        assert img.text["Title"] == "scan 7" and round(img.info["dpi"][0]) == 600
    assert np.array_equal(imagecodecs.png_decode((tmp_path / "out.png").read_bytes()), samples)


def test_mode_deep_asked_for_an_8_bit_image_is_one_line(tmp_path, capsys):
    src = tmp_path / "eight.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    assert main(["compress", str(src), "-o", str(tmp_path / "x.lcz"), "--mode", "deep"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "16-bit" in err[0]
    assert not (tmp_path / "x.lcz").exists()
