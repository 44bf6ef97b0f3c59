"""Everyday command-line habits, through the CLI: pipes, metadata kept (or stripped),
user-trained models, train --data/--out, and one summary line per file."""

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from lora_codec.cli import main

from helpers import smooth_image

PIPE = """
import sys
from lora_codec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _cli(args, stdin: bytes = b"", cwd=None, env=None, stdout=subprocess.PIPE):
    return subprocess.run([sys.executable, "-c", PIPE, *args], input=stdin, stdout=stdout, stderr=subprocess.PIPE,
                          cwd=cwd, env=env, timeout=300)


@pytest.fixture
def png_with_metadata(tmp_path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "a test")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    info.add(b"gAMA", (45455).to_bytes(4, "big"))
    path = tmp_path / "meta.png"
    exif = Image.Exif()
    exif[0x010E] = "described"
    Image.fromarray(smooth_image(20, 24)).save(path, pnginfo=info, icc_profile=b"\x00fake icc" * 20, dpi=(300, 300),
                                               exif=exif.tobytes())
    return path


def test_pipes_in_and_out(tmp_path, png_with_metadata):
    src = png_with_metadata.read_bytes()
    enc = _cli(["compress", "-", "-o", "-"], stdin=src, cwd=tmp_path)
    assert enc.returncode == 0, enc.stderr
    assert enc.stdout[:4] == b"\x89LCZ"
    dec = _cli(["decompress", "-", "-o", "-"], stdin=enc.stdout, cwd=tmp_path)
    assert dec.returncode == 0, dec.stderr
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(dec.stdout))), np.asarray(Image.open(png_with_metadata)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.png"]  # no file named '-'


def test_standard_input_needs_an_output_and_a_terminal_gets_no_binary(tmp_path, png_with_metadata, capsys):
    assert main(["compress", "-"]) == 1
    assert "standard input needs -o" in capsys.readouterr().err
    master, slave = pty.openpty()
    try:
        out = _cli(["compress", str(png_with_metadata), "-o", "-"], cwd=tmp_path, stdout=slave)
    finally:
        os.close(slave)
        os.close(master)
    assert out.returncode == 1 and b"terminal" in out.stderr


def test_metadata_is_kept_listed_and_strippable(tmp_path, png_with_metadata, capsys):
    lcz, back = tmp_path / "m.lcz", tmp_path / "back.png"
    assert main(["compress", str(png_with_metadata), "-o", str(lcz), "--quiet"]) == 0
    assert main(["info", str(lcz), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["metadata"]
    assert {"icc", "exif", "xmp", "text:Title", "gamma", "dpi"} <= set(listed)
    assert main(["decompress", str(lcz), "-o", str(back), "--quiet"]) == 0
    with Image.open(png_with_metadata) as a, Image.open(back) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))
        assert b.info["icc_profile"] == a.info["icc_profile"]
        assert b.getexif()[0x010E] == "described"
        assert b.text["Title"] == "a test" and "xmpmeta" in b.text["XML:com.adobe.xmp"]
        assert abs(b.info["gamma"] - a.info["gamma"]) < 1e-5 and b.info["dpi"] == pytest.approx(a.info["dpi"])
    stripped = tmp_path / "s.lcz"
    assert main(["compress", str(png_with_metadata), "-o", str(stripped), "--quiet", "--strip"]) == 0
    assert stripped.stat().st_size < lcz.stat().st_size
    assert main(["decompress", str(lcz), "-o", str(tmp_path / "plain.png"), "--quiet", "--strip"]) == 0
    with Image.open(tmp_path / "plain.png") as c:
        assert "icc_profile" not in c.info and not c.text


@pytest.mark.parametrize("colour, dtype", [("L", np.uint8), ("LA", np.uint8), ("RGB", np.uint8),
                                           ("RGBA", np.uint8), ("RGB", np.uint16), ("LA", np.uint16)])
@pytest.mark.parametrize("libdeflate", [True, False])
def test_written_pngs_are_deflated_and_keep_their_chunks(colour, dtype, libdeflate, monkeypatch):
    import imagecodecs

    from lora_codec import png_writer
    from lora_codec.png_chunks import PNG_SIGNATURE, png_chunks

    monkeypatch.setattr(png_writer, "_IDAT_BYTES", 20)  # several IDAT chunks
    if not libdeflate:  # as with a build of imagecodecs without it
        monkeypatch.setattr(imagecodecs.DEFLATE, "available", False)
    ramp = np.add.outer(np.arange(60), 2 * np.arange(90)) % 256
    pixels = np.repeat(ramp[:, :, None], len(colour), axis=2).astype(dtype) * (257 if dtype == np.uint16 else 1)
    meta = {"icc": b"not checked by PNG", "text": {"Title": "a test"}, "gamma": 0.45455,
            "png_chunks": {"tIME": bytes([7, 234, 1, 2, 3, 4, 5])}}
    png = png_writer.encode_png(pixels, colour, meta)
    kinds = [kind for kind, _ in png_chunks(png)]
    first, count = kinds.index(b"IDAT"), kinds.count(b"IDAT")
    assert png.startswith(PNG_SIGNATURE) and kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert count > 1 and kinds[first : first + count] == [b"IDAT"] * count  # consecutive, as PNG requires
    assert {b"iCCP", b"iTXt", b"gAMA", b"tIME"} <= set(kinds[:first])
    assert len(png) < pixels.nbytes / 4  # deflated, not stored
    with Image.open(io.BytesIO(png)) as img:
        img.load()  # checks the chunks' CRCs and the zlib stream's checksum
        assert img.text["Title"] == "a test"
    assert np.array_equal(imagecodecs.png_decode(png).reshape(pixels.shape), pixels)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 70), st.integers(1, 70), st.sampled_from(["L", "LA", "RGB", "RGBA"]),
       st.sampled_from([np.uint8, np.uint16]), st.integers(0, 2**32 - 1), st.booleans())
def test_written_pngs_hold_exactly_the_pixels(height, width, colour, dtype, seed, flat):
    import imagecodecs

    from lora_codec.png_writer import encode_png

    rng = np.random.default_rng(seed)
    top = 256 if dtype == np.uint8 else 65536
    pixels = rng.integers(0, top, (height, width, len(colour))).astype(dtype)
    if flat:  # long runs, which deflate codes as matches
        pixels[:, : width // 2] = pixels[:1, :1]
    png = encode_png(pixels, colour, {})
    assert np.array_equal(imagecodecs.png_decode(png).reshape(pixels.shape), pixels)


def test_an_output_named_for_another_kind_of_file_is_refused(tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    assert main(["compress", str(src), "-o", str(tmp_path / "a.lcz"), "--quiet"]) == 0
    for command, source, output in (("compress", src, "b.png"), ("compress", src, "b.JPG"),
                                    ("decompress", tmp_path / "a.lcz", "b.tif"),
                                    ("decompress", tmp_path / "a.lcz", "b.lcz")):
        assert main([command, str(source), "-o", str(tmp_path / output)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "would mislabel it" in err[0] and not (tmp_path / output).exists()
    assert main(["decompress", str(tmp_path / "a.lcz"), "-o", str(tmp_path / "b.PNG"), "--quiet"]) == 0
    assert main(["compress", str(src), "-o", str(tmp_path / "a.archive"), "--quiet"]) == 0


def _tiff_with_an_exif_directory(pixels: np.ndarray) -> bytes:
    """An 8-bit grey TIFF whose first directory points to an Exif directory (Pillow's
    TIFF writer drops such directories, so the file is laid out from an EXIF block)."""
    h, w = pixels.shape
    exif = Image.Exif()
    for tag, value in ((256, w), (257, h), (258, 8), (259, 1), (262, 1), (273, 0), (277, 1), (278, h),
                       (279, h * w), (315, "A. Artist")):
        exif[tag] = value
    exif.get_ifd(0x8769).update({0x9003: "2020:01:02 03:04:05"})
    head = exif.tobytes()[6:]  # without "Exif\0\0"
    with Image.open(io.BytesIO(head + pixels.tobytes())) as probe:
        added = probe.tile[0].offset  # Pillow adds its data offset to the strip offset it writes
    exif[273] = len(head) - added
    return exif.tobytes()[6:] + pixels.tobytes()


def test_a_tiffs_descriptive_tags_and_exif_directory_travel_as_exif(tmp_path):
    import imagecodecs

    grey = smooth_image(20, 30)[:, :, 0]
    deep = (grey.astype(np.uint16) << 8) | 5
    (tmp_path / "scan16.tif").write_bytes(imagecodecs.tiff_encode(deep, description="plate 4", software="scanner 2"))
    Image.fromarray(grey).save(tmp_path / "plain.tif", tiffinfo={315: "A. Artist", 33432: "(c) A"})
    (tmp_path / "camera.tif").write_bytes(_tiff_with_an_exif_directory(grey))
    cases = {"scan16": ({270: "plate 4", 305: "scanner 2"}, {}), "plain": ({315: "A. Artist", 33432: "(c) A"}, {}),
             "camera": ({315: "A. Artist"}, {0x9003: "2020:01:02 03:04:05"})}
    for name, (tags, directory) in cases.items():
        assert main(["compress", str(tmp_path / f"{name}.tif"), "-o", str(tmp_path / f"{name}.lcz"), "--quiet"]) == 0
        assert main(["decompress", str(tmp_path / f"{name}.lcz"), "-o", str(tmp_path / f"{name}.png"), "--quiet"]) == 0
        with Image.open(tmp_path / f"{name}.png") as img:
            exif = img.getexif()
            assert {tag: exif.get(tag) for tag in tags} == tags and 274 not in exif, name
            assert dict(exif.get_ifd(0x8769)) == directory, name


def _png_chunk_bytes(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk (length, type, data, CRC), written here independently of the code
    under test."""
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@pytest.mark.parametrize("deep", [False, True])
def test_hdr_signalling_chunks_travel_into_the_png(tmp_path, capsys, deep):
    """cICP, mDCv and cLLi (how to show an HDR image) come back before the pixels, as they
    were; Pillow neither reads nor writes two of them."""
    import struct

    import imagecodecs

    from lora_codec.metadata import SIGNALLING_CHUNKS

    def chunks_of(png: bytes) -> list[tuple[bytes, bytes]]:
        out, pos = [], 8
        while pos < len(png):
            (length,) = struct.unpack_from(">I", png, pos)
            out.append((png[pos + 4: pos + 8], png[pos + 8: pos + 8 + length]))
            pos += 12 + length
        return out

    pixels = smooth_image(16, 24)
    samples = (pixels.astype(np.uint16) << 8) | 3 if deep else pixels
    plain = imagecodecs.png_encode(samples)
    signalling = {b"cICP": bytes([9, 16, 0, 1]), b"mDCv": bytes(range(24)), b"cLLi": struct.pack(">II", 10_000_000, 4_000_000),
                  b"sBIT": bytes([12 if deep else 7] * 3), b"bKGD": struct.pack(">3H", 4000 if deep else 40, 50, 60)}
    modified = {b"tIME": struct.pack(">HBBBBB", 2024, 2, 29, 23, 59, 60)}  # may follow the pixels: it does here
    src = tmp_path / "hdr.png"
    src.write_bytes(plain[:33] + b"".join(_png_chunk_bytes(k, v) for k, v in signalling.items()) + plain[33:-12]
                    + _png_chunk_bytes(b"tIME", modified[b"tIME"]) + plain[-12:])
    signalling.update(modified)
    assert main(["compress", str(src), "-o", str(tmp_path / "hdr.lcz"), "--quiet"]) == 0
    assert main(["info", str(tmp_path / "hdr.lcz"), "--json"]) == 0
    assert {f"png:{k}" for k in SIGNALLING_CHUNKS} <= set(json.loads(capsys.readouterr().out)["metadata"])
    assert main(["decompress", str(tmp_path / "hdr.lcz"), "-o", str(tmp_path / "back.png"), "--quiet"]) == 0
    back = (tmp_path / "back.png").read_bytes()
    kinds = [k for k, _ in chunks_of(back)]
    assert {k: v for k, v in chunks_of(back) if k in signalling} == signalling
    assert max(kinds.index(k) for k in signalling) < kinds.index(b"IDAT")
    assert np.array_equal(imagecodecs.png_decode(back), samples)
    assert main(["decompress", str(tmp_path / "hdr.lcz"), "-o", str(tmp_path / "plain.png"), "--quiet", "--strip"]) == 0
    assert not {k for k, _ in chunks_of((tmp_path / "plain.png").read_bytes())} & set(signalling)


def test_a_background_colour_is_kept_on_the_decoded_images_scale(tmp_path):
    """bKGD travels from a grey or colour PNG of 8 bits as it is; a palette's (an index)
    becomes the index's colour, and a 1- or 2-bit grey image's is scaled to 8 bits as its
    pixels are, since the decoded PNG is RGB or 8-bit grey; an index past the palette is
    left out."""
    import struct

    from lora_codec.metadata import png_signalling

    def with_background(img: Image.Image, background: bytes, bits: int | None = None) -> Path:
        plain = io.BytesIO()
        img.save(plain, "PNG", **({"bits": bits} if bits else {}))
        data = plain.getvalue()
        at = data.index(b"IDAT") - 4
        path = tmp_path / f"{img.mode}{bits or ''}-{background.hex()}.png"
        path.write_bytes(data[:at] + _png_chunk_bytes(b"bKGD", background) + data[at:])
        return path

    rgb = Image.fromarray(smooth_image(8, 8))
    kept = with_background(rgb, struct.pack(">3H", 1, 2, 3))
    indexed = rgb.convert("P")
    colour = indexed.getpalette()[6:9]
    palette = with_background(indexed, bytes([2]))
    past_the_palette = with_background(indexed, bytes([255]))
    bilevel = with_background(rgb.convert("1"), struct.pack(">H", 1))
    two_bit = with_background(rgb.convert("L").point(lambda v: v // 64 * 85), struct.pack(">H", 2), bits=2)
    assert two_bit.read_bytes()[24] == 2  # IHDR's bit depth
    assert png_signalling(kept) == {"bKGD": struct.pack(">3H", 1, 2, 3)}
    assert png_signalling(palette) == {"bKGD": struct.pack(">3H", *colour)}
    assert png_signalling(past_the_palette) == {}
    assert png_signalling(bilevel) == {"bKGD": struct.pack(">H", 255)}
    assert png_signalling(two_bit) == {"bKGD": struct.pack(">H", 170)}
    for source, channels in ((kept, 3), (palette, 3), (bilevel, 1), (two_bit, 1)):
        out = tmp_path / f"{source.stem}.back.png"
        assert main(["compress", str(source), "-o", str(tmp_path / "x.lcz"), "--quiet", "--force"]) == 0
        assert main(["decompress", str(tmp_path / "x.lcz"), "-o", str(out), "--quiet"]) == 0
        assert png_signalling(out) == png_signalling(source)
        assert len(np.asarray(Image.open(out)).reshape(8, 8, -1)[0, 0]) == channels


def test_a_file_larger_than_its_input_says_so_and_names_a_jpeg(tmp_path, capsys):
    """A JPEG's decoded pixels, kept exactly, cost more than the JPEG: the summary says so."""
    pixels = np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "noise.jpg", quality=30)
    Image.fromarray(smooth_image(64, 64)).save(tmp_path / "smooth.png")
    assert main(["compress", str(tmp_path / "noise.jpg"), "-o", str(tmp_path / "a.lcz")]) == 0
    line = capsys.readouterr().err.strip()
    size = (tmp_path / "noise.jpg").stat().st_size
    assert (tmp_path / "a.lcz").stat().st_size > size
    assert f"the input file's {size} B" in line and "a lossy JPEG" in line and len(line.splitlines()) == 1
    assert main(["compress", str(tmp_path / "smooth.png"), "-o", str(tmp_path / "b.lcz"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["input_bytes"] == (tmp_path / "smooth.png").stat().st_size > out["bytes"]
    assert main(["compress", str(tmp_path / "smooth.png"), "-o", str(tmp_path / "c.lcz")]) == 0
    assert "input file" not in capsys.readouterr().err


def test_an_sbit_chunk_goes_only_where_it_fits_the_written_image(tmp_path):
    """A grey PNG with a colour key is written as grey + alpha: its one-plane sBIT would
    be invalid there, so it is left out; an RGB image's is kept."""
    grey = smooth_image(16, 16)[:, :, 0]
    cases = {"keyed": (Image.fromarray(grey), {"transparency": int(grey[0, 0])}, bytes([5]), False),
             "rgb": (Image.fromarray(smooth_image(16, 16)), {}, bytes([5, 6, 7]), True)}
    for name, (img, options, sbit, kept) in cases.items():
        buf = io.BytesIO()
        img.save(buf, "PNG", **options)
        png = buf.getvalue()
        (tmp_path / f"{name}.png").write_bytes(png[:33] + _png_chunk_bytes(b"sBIT", sbit) + png[33:])
        assert main(["compress", str(tmp_path / f"{name}.png"), "-o", str(tmp_path / f"{name}.lcz"), "--quiet"]) == 0
        assert main(["decompress", str(tmp_path / f"{name}.lcz"), "-o", str(tmp_path / f"{name}.out.png"), "--quiet"]) == 0
        back = (tmp_path / f"{name}.out.png").read_bytes()
        assert (_png_chunk_bytes(b"sBIT", sbit) in back) == kept, name
        with Image.open(tmp_path / f"{name}.out.png") as out:
            out.load()


def test_a_corrupt_exif_directory_is_left_out_quietly(tmp_path, capsys):
    import warnings

    from PIL import TiffImagePlugin

    directory = TiffImagePlugin.ImageFileDirectory_v2()
    directory[0x9003] = "2020:01:02 03:04:05"
    # Pillow writes the directory's pointer without the directory: a corrupt Exif pointer
    Image.fromarray(smooth_image(8, 8)).save(tmp_path / "x.tif", tiffinfo={315: "A. Artist", 0x8769: directory})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["compress", str(tmp_path / "x.tif"), "-o", str(tmp_path / "x.lcz"), "--quiet"]) == 0
    assert not [w for w in caught if "EXIF" in str(w.message)] and not capsys.readouterr().err
    assert main(["decompress", str(tmp_path / "x.lcz"), "-o", str(tmp_path / "x.png"), "--quiet"]) == 0
    with Image.open(tmp_path / "x.png") as img:
        assert img.getexif().get(315) == "A. Artist"


@pytest.fixture(scope="module")
def user_model(tmp_path_factory) -> Path:
    """A model of one's own: the shipped one, nudged, so it codes well under a new id."""
    import copy

    import torch

    from lora_codec.codec import Codec
    from lora_codec.registry import save_model_file

    net = copy.deepcopy(Codec().model.model)
    with torch.no_grad():
        net.predictor.planes[0].shape.bias[0] += 0.01
    path = tmp_path_factory.mktemp("models") / "mine.safetensors"
    save_model_file(net, path)
    return path


def test_user_models_by_flag_and_search_path(tmp_path, user_model, capsys, monkeypatch):
    src, lcz = tmp_path / "a.png", tmp_path / "a.lcz"
    Image.fromarray(smooth_image(40, 48)).save(src)
    assert main(["compress", str(src), "-o", str(lcz), "--model", str(user_model), "--quiet"]) == 0
    from lora_codec.container import unpack

    assert unpack(lcz.read_bytes()).header.mode == "learned"
    capsys.readouterr()
    assert main(["decompress", str(lcz), "-o", str(tmp_path / "x.png"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "needs model" in err and "--model" in err and "LORA_CODEC_MODELS" in err
    assert main(["decompress", str(lcz), "-o", str(tmp_path / "y.png"), "--model", str(user_model), "--quiet"]) == 0
    monkeypatch.setenv("LORA_CODEC_MODELS", str(user_model.parent))
    assert main(["decompress", str(lcz), "-o", str(tmp_path / "z.png"), "--quiet"]) == 0
    with Image.open(tmp_path / "z.png") as img:
        assert np.array_equal(np.asarray(img), smooth_image(40, 48))


def test_train_data_and_out_override_the_config(tmp_path):
    data = tmp_path / "pics"
    data.mkdir()
    for k in range(2):
        Image.fromarray(smooth_image(40, 40, seed=k)).save(data / f"{k}.png")
    config = tmp_path / "cfg" / "tiny.toml"
    config.parent.mkdir()
    config.write_text('[model]\nhidden_a = 4\nhidden_b = 4\nchannels = 8\n[train]\ndata = "nowhere"\n'
                      'out = "runs/x"\ncrop = 32\nbatch = 1\nsteps = 2\nthreads = 1\ncheckpoint_every = 1\n')
    out = tmp_path / "out"
    assert main(["train", str(config), "--data", str(data), "--out", str(out), "--quiet",
                 "--export", str(tmp_path / "tiny.safetensors")]) == 0
    assert (out / "checkpoint.safetensors").exists() and (tmp_path / "tiny.safetensors").exists()


def test_relative_paths_in_a_config_resolve_against_it(tmp_path):
    from lora_codec.config import load_config

    config = tmp_path / "cfg" / "c.toml"
    config.parent.mkdir()
    config.write_text('[train]\ndata = "../pics"\nout = "runs/x"\n')
    cfg = load_config(config)
    assert Path(cfg.train.data) == (tmp_path / "pics").resolve()
    assert Path(cfg.train.out) == (tmp_path / "cfg" / "runs" / "x").resolve()


def test_one_summary_line_per_file(tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(16, 20)).save(src)
    assert main(["compress", str(src), "-o", str(tmp_path / "a.lcz")]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "a.png -> " in lines[0] and "bpsp" in lines[0] and " s" in lines[0]
    assert main(["decompress", str(tmp_path / "a.lcz"), "-o", str(tmp_path / "b.png"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("mode, key", [("L", 17), ("RGB", (10, 20, 30))])
def test_a_colour_key_is_kept_as_an_exact_alpha_plane(tmp_path, mode, key):
    rgb = smooth_image(20, 24, planes=3, seed=4)
    rgb[3, 5] = (17, 17, 17) if mode == "L" else key
    img = Image.fromarray(rgb).convert(mode) if mode == "L" else Image.fromarray(rgb)
    src = tmp_path / "keyed.png"
    img.save(src, transparency=key)
    with Image.open(src) as opened:
        expected = np.asarray(opened.convert("LA" if mode == "L" else "RGBA"))
    assert (expected[..., -1] == 0).any()  # the key made some pixel transparent
    assert main(["compress", str(src), "-o", str(tmp_path / "k.lcz"), "--quiet"]) == 0
    assert main(["decompress", str(tmp_path / "k.lcz"), "-o", str(tmp_path / "k.png"), "--quiet"]) == 0
    with Image.open(tmp_path / "k.png") as out:
        assert np.array_equal(np.asarray(out.convert("LA" if mode == "L" else "RGBA")), expected)


def test_an_icon_of_several_sizes_is_refused_not_cut(tmp_path, capsys):
    src = tmp_path / "two.ico"
    Image.fromarray(smooth_image(32, 32, planes=3, seed=1)).save(src, sizes=[(16, 16), (32, 32)])
    assert main(["compress", str(src), "-o", str(tmp_path / "i.lcz"), "--quiet"]) == 1
    assert "sizes" in capsys.readouterr().err and not (tmp_path / "i.lcz").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_force_never_replaces_a_fifo_with_a_file(tmp_path, capsys):
    src, fifo = tmp_path / "a.png", tmp_path / "out.lcz"
    Image.fromarray(smooth_image(16, 16)).save(src)
    os.mkfifo(fifo)
    assert main(["compress", str(src), "-o", str(fifo), "--force", "--quiet"]) == 1
    assert "not a regular file" in capsys.readouterr().err
    assert not fifo.is_file() and fifo.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "out.lcz"]


def test_an_output_name_of_250_bytes_is_written(tmp_path):
    src = tmp_path / ("n" * 246 + ".png")  # 250 bytes: legal, but its temporary name must stay short
    Image.fromarray(smooth_image(16, 16)).save(src)
    assert main(["compress", str(src), "--quiet"]) == 0
    assert (tmp_path / ("n" * 246 + ".lcz")).is_file()


def test_info_prints_markup_like_text_as_it_is(tmp_path, capsys):
    info = PngImagePlugin.PngInfo()
    info.add_text("[/b]", "x")
    src, lcz = tmp_path / "m.png", tmp_path / "y[red].lcz"
    Image.fromarray(smooth_image(16, 16)).save(src, pnginfo=info)
    assert main(["compress", str(src), "-o", str(lcz), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(lcz)]) == 0
    out = capsys.readouterr().out
    assert "y[red].lcz" in out and "text:[/b]" in out


def test_train_export_never_overwrites_without_force_nor_the_config(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[model]\n[train]\nsteps = 1\n")
    taken = tmp_path / "taken.safetensors"
    taken.write_bytes(b"precious")
    assert main(["train", str(config), "--export", str(taken), "--quiet"]) == 1
    assert "already exists" in capsys.readouterr().err and taken.read_bytes() == b"precious"
    assert main(["train", str(config), "--export", str(config), "--force", "--quiet"]) == 1
    assert "config itself" in capsys.readouterr().err and config.read_text().startswith("[model]")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "taken.safetensors"]


@pytest.mark.parametrize("item", [{"text": [1]}, {"srgb": "x"}, {"text": {"a\0b": "c"}}, {"dpi": [72]},
                                  {"gamma": True}, {"png_chunks": {"IDAT": "AAAA"}}, {"png_chunks": ["cICP"]}])
def test_a_malformed_metadata_item_is_refused_when_written_and_when_read(item):
    import zlib

    from lora_codec import metadata

    with pytest.raises(metadata.MetadataError, match="malformed"):
        metadata.pack(item)  # never written
    crafted = bytes([metadata.VERSION]) + zlib.compress(json.dumps(item).encode())
    with pytest.raises(metadata.MetadataError, match="malformed"):
        metadata.unpack(crafted)  # nor read


def test_every_item_from_pil_is_well_formed_even_odd_ones():
    from lora_codec import metadata

    meta = {"text": {"": "empty key"}, "gamma": 0.0, "srgb": 3, "dpi": [0.0, 0.0], "xmp": "",
            "chromaticity": [0.0] * 8, "icc": b"", "exif": b"x"}
    assert metadata.unpack(metadata.pack(meta)) == meta


def test_a_newline_in_a_file_name_keeps_the_error_on_one_line(tmp_path):
    run = _cli(["compress", str(tmp_path / "no\nsuch.png")], cwd=tmp_path)  # not the source tree
    lines = run.stderr.decode().splitlines()
    assert run.returncode == 1 and len(lines) == 1 and "no\\nsuch.png" in lines[0] and "no such file" in lines[0]


def test_a_newline_in_a_file_name_keeps_each_summary_on_one_line(tmp_path):
    src = tmp_path / "a\nb.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    for args in (["compress", str(src)], ["verify", str(tmp_path / "a\nb.lcz")],
                 ["decompress", str(tmp_path / "a\nb.lcz"), "-o", str(tmp_path / "c.png")],
                 ["info", str(tmp_path / "a\nb.lcz")]):
        run = _cli(args, cwd=tmp_path)
        text = (run.stdout if args[0] == "info" else run.stderr).decode()
        assert run.returncode == 0 and "a\\nb." in text.splitlines()[0], (args, text)


def test_a_closed_standard_output_is_a_one_line_error(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    run = subprocess.run(["sh", "-c", f'"{sys.executable}" -c "$1" compress "$2" -o - >&-', "sh", PIPE, str(src)],
                         stderr=subprocess.PIPE, cwd=tmp_path, timeout=300)
    lines = run.stderr.decode().splitlines()
    assert run.returncode == 1 and lines == ["lora-codec: error: -o -: standard output is closed"]


def test_force_keeps_the_replaced_files_permissions(tmp_path):
    src, out = tmp_path / "a.png", tmp_path / "a.lcz"
    Image.fromarray(smooth_image(8, 8)).save(src)
    out.write_bytes(b"old")
    out.chmod(0o600)
    assert main(["compress", str(src), "-o", str(out), "--force", "--quiet"]) == 0
    assert out.read_bytes() != b"old" and (out.stat().st_mode & 0o777) == 0o600


def test_outputs_take_their_inputs_permissions_and_times(tmp_path):
    """As gzip, xz and zstd: a private image's .lcz is private too, and the decoded file
    keeps the original's modification time; a replaced file is never made more open."""
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    src.chmod(0o640)
    os.utime(src, ns=(1_500_000_000_123_456_789, 1_600_000_000_987_654_321))
    lcz, png = tmp_path / "a.lcz", tmp_path / "b.png"
    assert main(["compress", str(src), "--quiet"]) == 0
    assert main(["decompress", str(lcz), "-o", str(png), "--quiet"]) == 0
    for out in (lcz, png):
        assert (out.stat().st_mode & 0o777) == 0o640
        assert out.stat().st_mtime_ns == 1_600_000_000_987_654_321
    for source_mode, replaced_mode in ((0o600, 0o644), (0o644, 0o600)):
        lcz.chmod(source_mode)
        png.chmod(replaced_mode)
        assert main(["decompress", str(lcz), "-o", str(png), "--quiet", "--force"]) == 0
        assert (png.stat().st_mode & 0o777) == 0o600


def test_a_model_flag_naming_no_model_file_is_a_one_line_error(tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    for model, message in ((src, "is not a lora-codec model file"), (tmp_path / "none.safetensors", "no such model file")):
        assert main(["compress", str(src), "-o", str(tmp_path / "a.lcz"), "--model", str(model), "--quiet"]) == 1
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and message in err[0] and str(model) in err[0]


def test_out_dir_is_not_made_when_nothing_is_written(tmp_path):
    folder = tmp_path / "made" / "later"
    assert main(["compress", str(tmp_path / "missing.png"), "--out-dir", str(folder), "--quiet"]) == 1
    assert not (tmp_path / "made").exists()
    Image.fromarray(smooth_image(8, 8)).save(tmp_path / "a.png")
    assert main(["compress", str(tmp_path / "a.png"), "--out-dir", str(folder), "--quiet"]) == 0
    assert (folder / "a.lcz").is_file()


def test_verify_reads_standard_input(tmp_path, png_with_metadata):
    enc = _cli(["compress", "-", "-o", "-"], stdin=png_with_metadata.read_bytes(), cwd=tmp_path)
    assert enc.returncode == 0, enc.stderr
    ok = _cli(["verify", "-"], stdin=enc.stdout, cwd=tmp_path)
    assert ok.returncode == 0 and ok.stderr.decode().startswith("stdin: ok, 24x20 RGB"), ok.stderr
    assert ok.stdout == b""
    bad = _cli(["verify", "-"], stdin=enc.stdout[:-40], cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.decode().count("\n") == 1 and b"Traceback" not in bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.png"]
