"""The command line through main(argv): outputs, --force, batches and every bad input."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lora_codec.cli import main
from lora_codec.container import VERSION

from helpers import smooth_image


@pytest.fixture
def image_file(tmp_path) -> Path:
    path = tmp_path / "img.png"
    Image.fromarray(smooth_image(24, 40)).save(path)
    return path


def _load(path: Path) -> tuple[str, np.ndarray]:
    with Image.open(path) as img:
        return img.mode, np.asarray(img).copy()


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_compress_decompress_round_trip(tmp_path, image_file, capsys):
    out = tmp_path / "img.lcz"
    assert main(["compress", str(image_file), "-o", str(out), "--quiet", "--verify"]) == 0
    png = tmp_path / "back.png"
    assert main(["decompress", str(out), "-o", str(png), "--quiet"]) == 0
    assert np.array_equal(_load(png)[1], _load(image_file)[1])
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize("fmt, mode", [("PPM", "RGB"), ("TIFF", "RGBA"), ("BMP", "RGB"), ("WEBP", "RGB"), ("PNG", "LA"), ("PNG", "L")])
def test_reads_the_documented_formats(tmp_path, fmt, mode):
    img = Image.fromarray(smooth_image(17, 23, planes=4)).convert(mode)
    src = tmp_path / f"in.{fmt.lower()}"
    img.save(src, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    mode, original = _load(src)
    assert main(["compress", str(src), "-o", str(tmp_path / "x.lcz"), "--quiet"]) == 0
    assert main(["decompress", str(tmp_path / "x.lcz"), "-o", str(tmp_path / "x.png"), "--quiet"]) == 0
    back_mode, back = _load(tmp_path / "x.png")
    assert back_mode == mode
    assert np.array_equal(back, original)


def test_a_panorama_wider_than_65536_pixels_round_trips_and_a_wider_one_gets_one_line(tmp_path, capsys):
    wide = np.tile(smooth_image(2, 40), (1, 1700, 1))[:, :66000]  # 2 x 66,000 pixels (format v19 on)
    src = tmp_path / "wide.png"
    Image.fromarray(wide).save(src)
    assert main(["compress", str(src), "-o", str(tmp_path / "wide.lcz"), "--quiet"]) == 0
    assert main(["decompress", str(tmp_path / "wide.lcz"), "-o", str(tmp_path / "back.png"), "--quiet"]) == 0
    assert np.array_equal(_load(tmp_path / "back.png")[1], wide)
    Image.fromarray(np.zeros((1, (1 << 18) + 1), np.uint8)).save(tmp_path / "wider.png")
    capsys.readouterr()
    assert main(["compress", str(tmp_path / "wider.png"), "-o", str(tmp_path / "wider.lcz"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "too large (limit 262144 px a side" in err[0]
    assert not (tmp_path / "wider.lcz").exists()


def test_default_output_name_and_no_overwrite_without_force(tmp_path, image_file, capsys):
    assert main(["compress", str(image_file), "--quiet"]) == 0
    target = image_file.with_suffix(".lcz")
    first = target.read_bytes()
    target.write_bytes(b"keep me")
    capsys.readouterr()
    assert main(["compress", str(image_file), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already exists" in err and "--force" in err
    assert target.read_bytes() == b"keep me"
    assert main(["compress", str(image_file), "--quiet", "--force"]) == 0
    assert target.read_bytes() == first


def test_batch_with_one_failure_keeps_the_others(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(10, 12, seed=i)).save(src / f"ok{i}.png")
    (src / "bad.png").write_bytes(b"not an image at all")
    out = tmp_path / "out"
    assert main(["compress", str(src), "--out-dir", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "bad.png" in err and "2 of 3 files done, 1 failed" in err
    assert _files(out) == {"ok0.lcz", "ok1.lcz"}


def test_json_output_is_one_object_per_file(tmp_path, image_file, capsys):
    out = tmp_path / "j.lcz"
    assert main(["compress", str(image_file), "-o", str(out), "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip())
    assert record["ok"] and record["bytes"] == out.stat().st_size
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["width"] == 40 and info["height"] == 24 and info["colour"] == "RGB"
    assert set(info["split_bpsp"]) >= {"adapter", "z", "pixels"}
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pixels" in text and f"model {info['model_id']}" in text


def _lcz(tmp_path, image_file) -> bytes:
    out = tmp_path / "good.lcz"
    assert main(["compress", str(image_file), "-o", str(out), "--quiet"]) == 0
    return out.read_bytes()


BAD_LCZ = {
    "truncated": lambda d: d[: len(d) // 2],
    "bit-flipped": lambda d: d[:-5] + bytes([d[-5] ^ 0x10]) + d[-4:],
    "foreign": lambda d: b"GIF89a" + d[6:],
    "wrong magic": lambda d: b"\x89LCX" + d[4:],
    "empty": lambda d: b"",
    "unknown version": lambda d: d[:8] + bytes([VERSION + 1]) + d[9:],
}


@pytest.mark.parametrize("kind", sorted(BAD_LCZ))
def test_bad_lcz_files_fail_cleanly(tmp_path, image_file, capsys, kind):
    bad = tmp_path / "bad.lcz"
    bad.write_bytes(BAD_LCZ[kind](_lcz(tmp_path, image_file)))
    capsys.readouterr()
    before = _files(tmp_path)
    assert main(["decompress", str(bad), "-o", str(tmp_path / "out.png")]) == 1
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and captured.err.startswith("lora-codec: error:")
    assert "Traceback" not in captured.err
    assert _files(tmp_path) == before


def test_unknown_model_is_named(tmp_path, image_file, capsys):
    from lora_codec import container

    data = _lcz(tmp_path, image_file)
    c = container.unpack(data)
    other = container.Container(container.Header(**{**c.header.__dict__, "model_id": b"\xaa" * 8}), c.sections)
    bad = tmp_path / "other.lcz"
    bad.write_bytes(container.pack(other))
    capsys.readouterr()
    assert main(["decompress", str(bad), "-o", str(tmp_path / "o.png")]) == 1
    assert "needs model aaaaaaaaaaaaaaaa" in capsys.readouterr().err


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: d / "missing.png", "no such file"),
        (lambda d: (d / "text.png").write_text("hello") and d / "text.png", "not an image"),
        (lambda d: _truncated_png(d), "truncated or corrupt"),
    ],
)
def test_bad_images_fail_cleanly(tmp_path, capsys, setup, message):
    src = setup(tmp_path)
    before = _files(tmp_path)
    assert main(["compress", str(src), "-o", str(tmp_path / "o.lcz")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert _files(tmp_path) == before


def _truncated_png(folder: Path) -> Path:
    path = folder / "cut.png"
    Image.fromarray(smooth_image(64, 64)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    return path


def test_usage_errors(tmp_path, image_file, capsys):
    assert main(["compress", str(image_file), str(image_file), "-o", str(tmp_path / "x.lcz")]) == 1
    assert "use --out-dir" in capsys.readouterr().err
    assert main(["compress", str(image_file), "--steps", "-3"]) == 1
    assert "--steps" in capsys.readouterr().err
    for budget in ("0", "-2", "nan", "inf"):
        assert main(["compress", str(image_file), "--time-budget", budget, "-o", str(tmp_path / "b.lcz")]) == 1
        err = capsys.readouterr().err
        assert "--time-budget" in err and err.count("\n") == 1
    assert not (tmp_path / "b.lcz").exists()
    assert main(["compress", str(image_file), "--threads", "0"]) == 1
    assert main(["frobnicate"]) == 1


def test_time_budget_compresses_and_round_trips(tmp_path, image_file):
    out = tmp_path / "b.lcz"
    assert main(["compress", str(image_file), "--time-budget", "0.5", "-o", str(out), "--quiet"]) == 0
    assert main(["decompress", str(out), "-o", str(tmp_path / "b.png"), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), np.asarray(Image.open(image_file)))


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception):
        main(["decompress", str(tmp_path / "nope.lcz"), "-o", str(tmp_path / "x.png"), "--debug"])


def test_input_is_never_touched(tmp_path, image_file):
    before = image_file.read_bytes(), image_file.stat().st_mtime_ns
    assert main(["compress", str(image_file), "--out-dir", str(tmp_path / "o"), "--quiet"]) == 0
    assert (image_file.read_bytes(), image_file.stat().st_mtime_ns) == before


def test_verify_decodes_every_file_and_writes_nothing(tmp_path, capsys):
    folder = tmp_path / "archive"
    folder.mkdir()
    for k, planes in enumerate((1, 3, 4)):
        Image.fromarray(smooth_image(20 + k, 30, planes=planes).squeeze()).save(tmp_path / f"i{k}.png")
    assert main(["compress", *(str(tmp_path / f"i{k}.png") for k in range(3)), "--out-dir", str(folder),
                 "--quiet"]) == 0
    capsys.readouterr()
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert main(["verify", str(folder)]) == 0
    out = capsys.readouterr().err  # one summary line a file, on stderr as for the other commands
    assert [line.split(":")[0].rsplit("/", 1)[-1] for line in out.splitlines()] == ["i0.lcz", "i1.lcz", "i2.lcz"]
    assert all(": ok, " in line for line in out.splitlines())
    assert "21x30" not in out and "30x21 RGB" in out  # width x height, and the file's colour type
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


@pytest.mark.parametrize("kind", sorted(BAD_LCZ))
def test_verify_names_each_bad_file_on_one_line_and_goes_on(tmp_path, image_file, capsys, kind):
    good = tmp_path / "a_good.lcz"
    good.write_bytes(_lcz(tmp_path, image_file))
    bad = tmp_path / "b_bad.lcz"
    bad.write_bytes(BAD_LCZ[kind](good.read_bytes()))
    capsys.readouterr()
    before = _files(tmp_path)
    assert main(["verify", str(good), str(bad), "--json"]) == 1
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [(Path(r["input"]).name, r["ok"]) for r in records] == [("a_good.lcz", True), ("b_bad.lcz", False)]
    assert "output" not in records[0] and records[0]["width"] == 40 and records[0]["bytes"] == good.stat().st_size
    errors = captured.err.strip().splitlines()
    assert errors[0].startswith("lora-codec: error:") and "b_bad.lcz" in errors[0] and "Traceback" not in captured.err
    assert errors[1] == "lora-codec: 1 of 2 files verified, 1 failed"
    assert _files(tmp_path) == before


def test_verify_catches_pixels_that_decode_but_differ(tmp_path, image_file, capsys):
    """A file whose sections are intact but whose stored pixel CRC disagrees (a writer's
    bug, not a flipped bit: the header's CRC is recomputed) fails verification."""
    from lora_codec import container

    c = container.unpack(_lcz(tmp_path, image_file))
    header = container.Header(**{**c.header.__dict__, "pixel_crc": c.header.pixel_crc ^ 1})
    bad = tmp_path / "crc.lcz"
    bad.write_bytes(container.pack(container.Container(header, c.sections)))
    capsys.readouterr()
    assert main(["verify", str(bad)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "crc.lcz" in err


def test_recursive_folders_keep_their_tree_under_out_dir(tmp_path, capsys):
    tree = tmp_path / "photos"
    (tree / "2024" / "june").mkdir(parents=True)
    (tree / ".cache").mkdir()
    images = {"top.png": smooth_image(12, 20, seed=1), "2024/a.png": smooth_image(20, 12, seed=2),
              "2024/june/top.png": smooth_image(16, 16, seed=3), ".cache/thumb.png": smooth_image(8, 8, seed=4)}
    for name, pixels in images.items():
        Image.fromarray(pixels).save(tree / name)
    packed, back = tmp_path / "packed", tmp_path / "back"
    assert main(["compress", str(tree), "--out-dir", str(packed)]) == 0  # without -r: the top only
    assert "its subfolders are skipped (-r codes them too)" in capsys.readouterr().err
    assert main(["compress", str(tree), "--out-dir", str(packed), "--quiet", "--force"]) == 0
    assert capsys.readouterr().err == ""  # --quiet: no note either
    assert sorted(p.relative_to(packed).as_posix() for p in packed.rglob("*.lcz")) == ["top.lcz"]
    assert main(["compress", "-r", str(tree), "--out-dir", str(packed), "--quiet", "--force"]) == 0
    expected = sorted(n[:-4] + ".lcz" for n in images)
    assert sorted(p.relative_to(packed).as_posix() for p in packed.rglob("*.lcz")) == expected
    assert main(["verify", "--recursive", str(packed), "--json"]) == 0
    assert [json.loads(line)["ok"] for line in capsys.readouterr().out.splitlines()] == [True] * 4
    assert main(["decompress", "-r", str(packed), "--out-dir", str(back), "--quiet"]) == 0
    for name, pixels in images.items():
        assert np.array_equal(_load(back / name)[1], pixels), name


def test_recursive_without_out_dir_writes_beside_each_input(tmp_path, capsys):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    Image.fromarray(smooth_image(10, 14)).save(tmp_path / "in" / "sub" / "x.png")
    assert main(["compress", "-r", str(tmp_path / "in"), "--quiet"]) == 0
    assert (tmp_path / "in" / "sub" / "x.lcz").is_file()
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    capsys.readouterr()
    assert main(["compress", "-r", str(tmp_path / "empty")]) == 1
    assert "no matching files in this directory or below it" in capsys.readouterr().err


def test_info_describes_several_files_and_names_a_bad_one(tmp_path, image_file, capsys):
    good = tmp_path / "a.lcz"
    good.write_bytes(_lcz(tmp_path, image_file))
    (tmp_path / "b.lcz").write_bytes(b"\x89LCZ broken")
    capsys.readouterr()
    assert main(["info", str(good), str(tmp_path / "b.lcz"), str(good), "--json"]) == 1
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [(Path(r["input"]).name, r["ok"]) for r in records] == [("a.lcz", True), ("b.lcz", False), ("a.lcz", True)]
    assert records[0]["width"] == 40 and records[0]["bytes"] == good.stat().st_size
    errors = captured.err.strip().splitlines()
    assert len(errors) == 2 and "b.lcz" in errors[0] and errors[1] == "lora-codec: 2 of 3 files described, 1 failed"
    assert main(["info", str(tmp_path)]) == 1  # a folder: its .lcz files (a, b and good.lcz)
    assert capsys.readouterr().out.count(": 40x24 RGB, mode ") == 2  # a line each, however long the path


def test_compressing_a_lcz_file_says_to_decompress_it(tmp_path, image_file, capsys):
    lcz = tmp_path / "done.lcz"
    lcz.write_bytes(_lcz(tmp_path, image_file))
    capsys.readouterr()
    assert main(["compress", str(lcz), "-o", str(tmp_path / "again.lcz")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already a lora-codec (.lcz) file; decompress it" in err
    assert not (tmp_path / "again.lcz").exists()
    damaged = tmp_path / "crlf.lcz"  # "\r\n" in the signature became "\n", as a text-mode transfer does
    damaged.write_bytes(lcz.read_bytes().replace(b"\r\n", b"\n", 1))
    assert main(["compress", str(damaged), "-o", str(tmp_path / "again.lcz")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lora-codec (.lcz) file with a damaged signature" in err
    assert not (tmp_path / "again.lcz").exists()
