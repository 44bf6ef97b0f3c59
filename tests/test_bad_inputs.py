"""The bad-input campaign of issue 11 as tests: inputs are never overwritten, nothing is
truncated or dropped silently, nothing hangs, crafted files fail fast, every error is one
line, and the format spec matches real files."""

import hashlib
import io
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import lora_codec
from lora_codec import container
from lora_codec.container import FormatError
from lora_codec.cli import main
from lora_codec.codec import Codec, DecodeError
from lora_codec.images import ImageError

import spec_reader
from helpers import fixed_layout, smooth_image, with_header_bytes, with_size

# Golden files of the current format version (any model).
GOLDEN = sorted((Path(__file__).parent / "golden").glob(f"v{container.VERSION}-*"))[-1]
# A generous guard against hangs, not a speed measurement (those live in scripts/).
HANG_GUARD_S = 20


@pytest.fixture
def hang_guard():
    """Fails the test (TimeoutError) if it runs longer than HANG_GUARD_S, instead of
    letting a blocked read or an endless decode hang the suite."""
    def hang(signum, frame):
        raise TimeoutError(f"still running after {HANG_GUARD_S} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(HANG_GUARD_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def png(tmp_path) -> Path:
    path = tmp_path / "p.png"
    Image.fromarray(smooth_image(24, 40)).save(path)
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lora-codec: error:") and "Traceback" not in err
    return lines[0]


_repack = with_header_bytes


# 1. The input is never overwritten, with or without --force.

@pytest.mark.parametrize("link", ["same", "hard", "symlink"])
def test_compress_never_writes_over_its_input(tmp_path, png, capsys, link):
    before = png.read_bytes()
    target = {"same": png, "hard": tmp_path / "h.png", "symlink": tmp_path / "s.png"}[link]
    if link == "hard":
        os.link(png, target)
    elif link == "symlink":
        target.symlink_to(png)
    assert main(["compress", "--force", str(png), "-o", str(target)]) == 1
    assert "would replace the input" in _one_error_line(capsys)
    assert png.read_bytes() == before


def test_decompress_never_writes_over_its_input(tmp_path, png, capsys):
    lcz = tmp_path / "q.lcz"
    assert main(["compress", str(png), "-o", str(lcz), "--quiet"]) == 0
    before = lcz.read_bytes()
    assert main(["decompress", "--force", str(lcz), "-o", str(lcz)]) == 1
    assert "would replace the input" in _one_error_line(capsys)
    assert lcz.read_bytes() == before


# 2. Samples Pillow would cut to 8 bits are refused (16-bit PNG and TIFF files are read
#    exactly, tests/test_depth.py).

def test_a_pil_image_of_a_16_bit_colour_png_is_refused(tmp_path):
    import imagecodecs

    path = tmp_path / "deep.png"
    path.write_bytes(imagecodecs.png_encode(np.full((6, 7, 3), 40000, np.uint16)))
    with Image.open(path) as img:  # Pillow holds 8 bits of each sample: the rest is gone
        with pytest.raises(ImageError, match="16 or more bits"):
            lora_codec.compress(img)


def test_a_16_bit_png_with_a_transparent_colour_key_is_refused(tmp_path, capsys):
    from PIL import PngImagePlugin

    img = Image.fromarray(np.full((6, 7), 40000, np.uint16))
    info = PngImagePlugin.PngInfo()
    path = tmp_path / "keyed.png"
    img.save(path, transparency=40000, pnginfo=info)
    with Image.open(path) as check:
        assert "transparency" in check.info
    assert main(["compress", str(path), "-o", str(tmp_path / "x.lcz")]) == 1
    assert "colour key" in _one_error_line(capsys)
    assert not (tmp_path / "x.lcz").exists()


@pytest.mark.parametrize("maxval", [65535, 1023, 100])
def test_pnm_that_pillow_would_rescale_is_refused(tmp_path, maxval):
    arr = (np.arange(4 * 5 * 3).reshape(4, 5, 3) % (maxval + 1)).astype(">u2" if maxval > 255 else "u1")
    path = tmp_path / "x.ppm"
    path.write_bytes(f"P6\n5 4\n{maxval}\n".encode() + arr.tobytes())
    with pytest.raises(ImageError, match="only 255|16 or more bits"):
        lora_codec.compress(path)


def test_signed_16_bit_tiff_is_refused(tmp_path):
    import imagecodecs

    path = tmp_path / "x.tif"
    path.write_bytes(imagecodecs.tiff_encode(np.full((4, 5), -3, np.int16)))
    with pytest.raises(ImageError):
        lora_codec.compress(path)


# 3. Multi-frame inputs are refused, never cut to one frame.

@pytest.mark.parametrize("fmt", ["GIF", "PNG", "TIFF"])
def test_multi_frame_input_is_refused(tmp_path, capsys, fmt):
    frames = [Image.fromarray(smooth_image(8, 8, seed=k)) for k in range(3)]
    if fmt == "GIF":
        frames = [f.convert("P") for f in frames]
    path = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:])
    with Image.open(path) as img:
        assert img.n_frames == 3
    assert main(["compress", str(path), "-o", str(tmp_path / "x.lcz")]) == 1
    assert "3 frames" in _one_error_line(capsys)
    assert not (tmp_path / "x.lcz").exists()


# 4. FIFOs (and other non-regular files) are refused at once, never waited on.

@pytest.fixture
def fifo(tmp_path, hang_guard):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", [["compress"], ["decompress"], ["info"]])
def test_fifo_input_is_refused(tmp_path, capsys, fifo, command):
    argv = command + [str(fifo)] + (["-o", str(tmp_path / "out")] if command != ["info"] else [])
    assert main(argv) == 1
    assert "not a regular file" in _one_error_line(capsys)


def test_api_refuses_fifos(fifo):
    with pytest.raises(ImageError, match="not a regular file"):
        lora_codec.compress(fifo)
    with pytest.raises(ImageError, match="not a regular file"):
        lora_codec.decompress(fifo)


# 5. Decompression bombs: bounded work.

def test_crafted_dimensions_fail_fast(hang_guard):
    data = (GOLDEN / "learned_RGB.lcz").read_bytes()
    for width, height in [(16384, 16384), (4096, 4096), (41, 24), (40, 25), (65536, 4096)]:
        crafted = with_size(data, width, height)
        with pytest.raises((DecodeError, FormatError)):
            lora_codec.decompress(crafted, max_pixels=1 << 28)


def test_pixel_limit_refuses_large_files_before_decoding(capsys, tmp_path):
    data = with_size((GOLDEN / "learned_RGB.lcz").read_bytes(), 10000, 10000)
    with pytest.raises(DecodeError, match="over the limit"):
        lora_codec.decompress(data)
    path = tmp_path / "big.lcz"
    path.write_bytes(data)
    assert main(["decompress", str(path), "-o", str(tmp_path / "big.png")]) == 1
    assert "over the limit" in _one_error_line(capsys)
    assert main(["decompress", str(path), "-o", str(tmp_path / "big.png"), "--max-pixels", "100000000"]) == 1
    assert "corrupt" in _one_error_line(capsys)


def test_pixel_limit_refuses_large_images_in_one_line(tmp_path, capsys):
    src = tmp_path / "wide.png"
    Image.new("L", (60, 50)).save(src)
    # Pillow would warn at its own limit (pytest turns warnings into errors here).
    assert main(["compress", str(src), "-o", str(tmp_path / "x.lcz"), "--max-pixels", "2000"]) == 1
    assert "over the limit of 2000" in _one_error_line(capsys)
    assert main(["compress", str(src), "-o", str(tmp_path / "x.lcz"), "--max-pixels", "1000"]) == 1
    assert "over the limit of 1000" in _one_error_line(capsys)
    assert main(["compress", str(src), "-o", str(tmp_path / "x.lcz"), "--max-pixels", "3000"]) == 0
    with pytest.raises(ImageError, match="over the limit"):
        lora_codec.compress(np.zeros((50, 60), np.uint8), max_pixels=2999)


def test_a_truncated_pixel_stream_stops_at_once(hang_guard, monkeypatch):
    """A tall image whose last pixel stream (a stripe of two bands) lost its end: decoding
    stops in the band where the bytes ran out, instead of decoding zeros to the end of
    the image."""
    from lora_codec.coding import groups

    img = smooth_image(600, 24, planes=3, seed=2)  # stripes of rows 0-256 and 256-600 (two bands)
    parsed = container.unpack(lora_codec.compress(img))
    cut = dict(parsed.sections)
    streams = groups.split_streams(cut[b"PCOL"], 2)
    cut[b"PCOL"] = groups.join_streams([streams[0], streams[1][: len(streams[1]) // 20]])
    bands = []
    real = groups.band_features
    monkeypatch.setattr(groups, "band_features", lambda *a, **k: bands.append(1) or real(*a, **k))
    with pytest.raises(DecodeError, match="corrupt"):
        lora_codec.decompress(container.pack(container.Container(parsed.header, cut)))
    assert len(bands) == 2  # the first stripe's band, then the first band of the second


def test_a_corrupt_stripe_stops_the_stripes_not_yet_started(hang_guard, monkeypatch):
    """On several threads, the stripes still waiting when one fails are not decoded."""
    from lora_codec.codec import Codec
    from lora_codec.coding import groups

    img = smooth_image(1024, 24, planes=3, seed=2)  # 4 stripes of one band each
    parsed = container.unpack(lora_codec.compress(img))
    cut = dict(parsed.sections)
    streams = groups.split_streams(cut[b"PCOL"], 4)
    cut[b"PCOL"] = groups.join_streams([streams[0][: len(streams[0]) // 20]] + streams[1:])
    bands = []
    real = groups.band_features

    def counted(model, weights, band, *args, **kwargs):
        bands.append(band[0].y0)
        if band[0].y0 > 0:
            time.sleep(0.5)  # the sound stripes outlast the failing one by far
        return real(model, weights, band, *args, **kwargs)

    monkeypatch.setattr(groups, "band_features", counted)
    with pytest.raises(DecodeError, match="corrupt"):
        Codec(threads=2).decompress(container.pack(container.Container(parsed.header, cut)))
    assert 768 not in bands  # stripes 0 and 1 ran, the free thread took stripe 2, stripe 3 never started


# 6. SIGTERM removes the temporary file, as SIGINT does.

SIGTERM_DURING_WRITE = """
import os, signal, sys
from lora_codec.cli import main
real_fsync = os.fsync
def fsync(fd):
    os.kill(os.getpid(), signal.SIGTERM)
    real_fsync(fd)
os.fsync = fsync
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_during_the_write_leaves_no_temporary(tmp_path, png):
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-c", SIGTERM_DURING_WRITE, "compress", str(png), "-o",
                           str(out / "p.lcz")], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip() == "lora-codec: error: terminated"
    assert list(out.iterdir()) == []


# 7. One line and exit 1 for every CLI error; clear errors at the API's edge.

@pytest.mark.parametrize("argv", [
    ["compress", "x.png", "--steps", "abc"],
    ["compress"],
    [],
    ["frobnicate"],
    ["decompress", "a.lcz", "--max-pixels", "0"],
    ["compress", "a.png", "-o", "x", "--out-dir", "y"],
])
def test_usage_errors_are_one_line_and_exit_1(capsys, argv):
    assert main(argv) == 1
    _one_error_line(capsys)


def test_missing_output_folder_is_named(tmp_path, png, capsys):
    assert main(["compress", str(png), "-o", str(tmp_path / "nowhere" / "x.lcz")]) == 1
    line = _one_error_line(capsys)
    assert "nowhere: no such directory" in line and ".part" not in line


@pytest.mark.parametrize("image, error", [(None, TypeError), (b"\x89PNG....", TypeError), (3.5, TypeError),
                                          (np.zeros((2, 2), np.float32), ImageError)])
def test_compress_rejects_bad_image_arguments(image, error):
    with pytest.raises(error, match="image"):
        lora_codec.compress(image)


@pytest.mark.parametrize("steps, error", [("a", TypeError), (1.5, TypeError), (True, TypeError), (-1, ValueError)])
def test_compress_rejects_bad_steps(steps, error):
    with pytest.raises(error, match="steps"):
        lora_codec.compress(np.zeros((2, 2), np.uint8), steps=steps)


@pytest.mark.parametrize("data", [10**12, None, 3.5, ["a"]])
def test_decompress_rejects_non_bytes(data):
    with pytest.raises(TypeError, match="bytes"):
        lora_codec.decompress(data)


def test_decompress_accepts_a_path(tmp_path):
    img = smooth_image(9, 11)
    path = tmp_path / "a.lcz"
    path.write_bytes(lora_codec.compress(img))
    assert np.array_equal(lora_codec.decompress(path), img)
    assert np.array_equal(lora_codec.decompress(str(path)), img)


# 8. The spec: a reader written from docs/format.md parses the golden files.

# The newest folder, and the last one of the fixed layout (version 16).
SPEC_CASES = sorted(GOLDEN.glob("*.lcz")) + sorted(sorted((Path(__file__).parent / "golden").glob("v16-*"))[-1]
                                                    .glob("*.lcz"))


@pytest.mark.parametrize("path", SPEC_CASES, ids=lambda p: f"{p.parent.name[:3]}-{p.stem}")
def test_spec_reader_agrees_with_the_reference_reader(path):
    data = path.read_bytes()
    spec = spec_reader.read(data)
    ref = container.unpack(data)
    assert spec["header"]["width"] == ref.header.width and spec["header"]["height"] == ref.header.height
    assert spec["header"]["version"] == ref.header.version == int(path.parent.name[1:].split("-")[0])
    assert (spec["header"]["pixel_crc"], spec["header"]["model_id"]) == (ref.header.pixel_crc, ref.header.model_id)
    assert (spec["header"]["mode"], spec["header"]["colour"], spec["header"]["flags"]) == (
        container.MODES[ref.header.mode], container.COLOUR_TYPES[ref.header.colour][0], ref.header.flags)
    assert spec["sections"] == ref.sections
    for tag in (b"ZCOL", b"PCOL", b"IIDX"):  # framed streams: capacity as the spec defines it
        if tag in ref.sections:
            assert (spec_reader.stream_capacity(spec["sections"][tag])
                    == lora_codec.entropy.stream_capacity(ref.sections[tag]))
    if b"DEEP" in ref.sections:  # mode 5: the layout and the two 8-bit files, as the spec defines them
        from lora_codec.coding import depth

        layout, high, low = depth.unpack(ref.sections[b"DEEP"])
        parts = spec_reader.deep_parts(spec["sections"][b"DEEP"], ref.header.version, ref.header.height)
        assert (parts["shift"], parts["low_bits"], parts["table"]) == (layout.shift, layout.low_bits, layout.table)
        assert parts["high"]["sections"] == container.unpack(high).sections
        assert parts["low"] == (low or None)
        if parts["low_streams"] is not None:  # method 2: one stream per stripe, as the stripes of groups
            from lora_codec.coding import groups

            assert len(parts["low_streams"]) == len(groups.stripes(ref.header.height)) > 1
    if b"IPAL" in ref.sections:  # mode 3: the palette in index order, as the spec defines it
        from lora_codec.coding import indexed

        colours = indexed.unpack_palette(ref.sections[b"IPAL"], ref.header.planes,
                                         short_count=ref.header.version >= 17, rice=ref.header.version >= 18)
        inindex_order = colours[indexed.index_order(colours)]
        assert spec_reader.indexed_palette(spec["sections"][b"IPAL"], ref.header.planes, ref.header.version) == [
            tuple(int(v) for v in c) for c in inindex_order]


def test_reserved_flag_bits_are_refused():
    data = (GOLDEN / "learned_RGB.lcz").read_bytes()
    # bit 1 is the fast flag from version 10 (tests/test_fast.py), bit 2 the one-stripe
    # flag from version 12 (tests/test_one_stripe.py), bit 3 the no-match flag from
    # version 16 (tests/test_no_match.py)
    for bit in range(4, 8):
        with pytest.raises(FormatError, match="reserved"):
            container.unpack(_repack(data, 9, bytes([data[9] | (1 << bit)])))


def _with_section(data: bytes, tag: bytes) -> bytes:
    """A fixed-layout (version 16) file with one more section."""
    c = container.unpack(data)
    return container.pack(container.Container(c.header, {**c.sections, tag: b"hello"}), version=16)


def _with_section_code(data: bytes, code: int) -> bytes:
    """A compact file with one more section of this code (the count at the byte before
    the first section)."""
    h = container.unpack(data).header
    count_at = container.packed_size([], h.mode, h.width, h.height, h.model_id) - 5
    raw = (data[:count_at] + bytes([data[count_at] + 1]) + data[count_at + 1 : -4] + bytes([code, 5])
           + b"hello")
    return raw + struct.pack("<I", zlib.crc32(raw))


def test_unknown_critical_sections_are_refused_and_ancillary_ones_skipped():
    data = (GOLDEN / "learned_RGB.lcz").read_bytes()
    with pytest.raises(FormatError, match="unknown critical section code 100"):
        lora_codec.decompress(_with_section_code(data, 100))
    skipped = _with_section_code(data, 200)
    assert container.unpack(skipped).sections == container.unpack(data).sections
    assert np.array_equal(lora_codec.decompress(skipped), lora_codec.decompress(data))
    with pytest.raises(FormatError, match="duplicate section code 2"):
        container.unpack(_with_section_code(data, 2))
    # The fixed layout (versions 1 to 16) names sections by 4-byte tags.
    with pytest.raises(FormatError, match="unknown critical section 'XTRA'"):
        lora_codec.decompress(_with_section(data, b"XTRA"))
    skipped = _with_section(data, b"note")
    assert container.unpack(skipped).sections == container.unpack(data).sections
    assert np.array_equal(lora_codec.decompress(skipped), lora_codec.decompress(data))
    with pytest.raises(FormatError, match="invalid section tag"):
        container.unpack(_with_section(data, b"a b!"))


def test_a_mode_byte_edit_is_reported_as_such():
    # Before version 6 an engine model never coded rc mode.
    v5 = sorted((Path(__file__).parent / "golden").glob("v5-*"))[-1]
    data = (v5 / "learned_RGB.lcz").read_bytes()
    with pytest.raises(DecodeError, match="mode is rc.*learned-mode model"):
        lora_codec.decompress(_repack(data, 10, b"\x01"))
    # From version 6 it may: the base layer the rc mode needs is then missing.
    data = (GOLDEN / "learned_RGB.lcz").read_bytes()
    with pytest.raises(container.FormatError, match="sections are missing"):
        lora_codec.decompress(_repack(data, 10, bytes([data[10] | 1])))  # mode in bits 0-3 from version 17


# 9. The campaign: truncations, flips with CRCs recomputed, header edits.

@pytest.fixture(scope="module")
def small():
    img = smooth_image(10, 14, planes=4, seed=8)
    return img, lora_codec.compress(img)


def _fix_crcs(data: bytes) -> bytes:
    """Recompute the CRCs: the file's (compact layout), or the header's and sections' (fixed
    layout; its structure must be intact)."""
    if data[8:9] >= bytes([17]):
        return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))
    raw = bytearray(data)
    raw[34:38] = struct.pack("<I", zlib.crc32(bytes(raw[:34])))
    pos = 38
    while pos + 12 <= len(raw):
        length = struct.unpack_from("<I", raw, pos + 4)[0]
        if pos + 12 + length > len(raw):
            break
        raw[pos + 8 : pos + 12] = struct.pack("<I", zlib.crc32(bytes(raw[pos + 12 : pos + 12 + length])))
        pos += 12 + length
    return bytes(raw)


def _error_or_exact(data: bytes, img: np.ndarray) -> None:
    def hang(signum, frame):
        raise TimeoutError(f"decoding still running after {HANG_GUARD_S} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(HANG_GUARD_S)
    try:
        out = lora_codec.decompress(data, max_pixels=1 << 28)
    except (FormatError, DecodeError):
        return
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert np.array_equal(out, img)


def test_every_truncation_fails_cleanly(small, hang_guard):
    img, data = small
    for cut in range(len(data)):
        with pytest.raises((FormatError, DecodeError)):
            lora_codec.decompress(data[:cut])


@given(st.data())
@settings(max_examples=150, deadline=None)
def test_flips_with_crcs_recomputed_give_an_error_or_the_exact_pixels(small, data):
    img, good = small
    h = container.unpack(good).header
    sections_start = container.packed_size([], h.mode, h.width, h.height, h.model_id) - 4  # the header, without the file CRC
    pos = data.draw(st.integers(sections_start, len(good) - 5))
    bit = data.draw(st.integers(0, 7))
    mutated = bytearray(good)
    mutated[pos] ^= 1 << bit
    _error_or_exact(_fix_crcs(bytes(mutated)), img)


@given(st.integers(1, 70000), st.integers(1, 70000))
@settings(max_examples=60, deadline=None)
def test_header_dimension_edits_give_an_error_or_the_exact_pixels(small, width, height):
    img, good = small
    _error_or_exact(with_size(good, width, height), img)


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_container_parser_fuzz(blob):
    """The parser alone, on arbitrary bytes and on bytes behind a valid magic and header."""
    for data in (blob, _fix_crcs(container.MAGIC + bytes([2]) + blob), _fix_crcs(container.MAGIC + bytes([17]) + blob)):
        try:
            container.unpack(data)
        except FormatError:
            pass
