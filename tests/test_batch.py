"""Batches of files coded several at once (lora_codec.batch, the command line's --jobs):
the plan, the order of the reports, errors, interruption, and that the files do not
depend on how many run at once."""

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hypothesis import given
from hypothesis import strategies as st

from lora_codec import batch
from lora_codec.cli import Job, _codecs, _pixel_count, main

from helpers import palette_image, smooth_image


def test_files_at_once_is_one_a_thread_within_the_files_and_the_memory():
    small = [100_000] * 5
    assert batch.files_at_once(2, small, memory=None) == 2
    assert batch.files_at_once(8, small, memory=None) == 5          # no more than the files
    assert batch.files_at_once(8, small[:1], memory=None) == 1
    big = [24_000_000, 100]                                          # the largest file decides
    room = 2 * batch.file_memory(24_000_000) * 4 // 3 + 1            # room for two of it
    assert batch.files_at_once(8, big, memory=room) == 2
    assert batch.files_at_once(8, big, memory=1) == 1                # never fewer than one
    with pytest.raises(ValueError, match="threads"):
        batch.files_at_once(0, small, memory=None)


@given(threads=st.integers(1, 16), at_once=st.integers(1, 16), count=st.integers(1, 40))
def test_file_threads_share_out_each_round_and_the_last_round_gets_all(threads, at_once, count):
    at_once = min(at_once, threads, count)  # as files_at_once plans it
    got = [batch.file_threads(threads, at_once, k, count) for k in range(count)]
    whole = count - count % at_once
    assert got[:whole] == [max(1, threads // at_once)] * whole  # rounds of at_once: their share
    if count % at_once:
        assert got[whole:] == [threads // (count % at_once)] * (count % at_once)  # fewer: more each
    assert sum(got[whole:]) <= threads and got == sorted(got)


def test_file_threads_refuses_what_no_batch_has():
    for bad in ((0, 1, 0, 1), (2, 0, 0, 1), (2, 1, 1, 1), (2, 1, -1, 1)):
        with pytest.raises(ValueError):
            batch.file_threads(*bad)


def test_the_last_file_of_a_batch_is_coded_on_every_thread():
    jobs = [Job(Path(f"{k}.png"), Path(f"{k}.lcz")) for k in range(3)]
    codec_of = _codecs(jobs, threads=2, at_once=2, models={})
    assert [codec_of(job).threads for job in jobs] == [1, 1, 2]
    assert _codecs(jobs[:1], threads=4, at_once=1, models={})(jobs[0]).threads == 4


def test_available_memory_is_positive_or_unknown():
    memory = batch.available_memory()
    assert memory is None or memory > 0


@pytest.mark.parametrize("files, room", [
    ({"memory.max": "1073741824\n", "memory.current": "73741824\n"}, 1_000_000_000),             # cgroup v2
    ({"memory/memory.limit_in_bytes": "2000000000", "memory/memory.usage_in_bytes": "500000000"}, 1_500_000_000),
    ({"memory.max": "max\n", "memory.current": "5"}, None),                                      # no limit
    ({"memory/memory.limit_in_bytes": "9223372036854771712", "memory/memory.usage_in_bytes": "1"}, None),
    ({}, None),
])
def test_a_containers_memory_limit_caps_what_is_available(tmp_path, files, room):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    memory = batch.available_memory(tmp_path)
    free = batch.available_memory(tmp_path / "none")
    if room is None:
        assert memory == free
    else:
        assert memory == (room if free is None else min(room, free))


def test_in_order_reports_in_the_items_order_when_later_ones_finish_first():
    first_may_finish = threading.Event()
    finished: list[int] = []

    def work(i: int) -> int:
        if i == 0:
            assert first_may_finish.wait(timeout=30)   # held until item 1 is done
        finished.append(i)
        if i == 1:
            first_may_finish.set()
        return i * i

    results = list(batch.in_order([0, 1, 2, 3], work, at_once=2))
    assert [item for item, _ in results] == [0, 1, 2, 3]
    assert [out for _, out in results] == [0, 1, 4, 9]
    assert finished.index(1) < finished.index(0)           # item 1 really finished first


@pytest.mark.parametrize("at_once", [1, 3])
def test_in_order_yields_an_error_and_goes_on(at_once):
    def work(i: int) -> int:
        if i == 2:
            raise OSError("disk on fire")
        return i

    results = dict(batch.in_order(list(range(5)), work, at_once))
    assert isinstance(results[2], OSError)
    assert [results[i] for i in (0, 1, 3, 4)] == [0, 1, 3, 4]


def test_in_order_interrupted_cancels_what_has_not_started_and_finishes_what_has():
    started, done = [], []
    second_started = threading.Event()

    def work(i: int) -> int:
        started.append(i)
        if i == 0:
            assert second_started.wait(timeout=30)
            raise KeyboardInterrupt   # as Ctrl-C in a worker would surface: not an Exception
        if i == 1:
            second_started.set()
        threading.Event().wait(1.0)   # still running when the interrupt arrives
        done.append(i)
        return i

    with pytest.raises(KeyboardInterrupt):
        list(batch.in_order(list(range(8)), work, at_once=2))
    assert set(started) <= {0, 1, 2}            # the rest were cancelled before they started
    assert sorted(done) == sorted(set(started) - {0})   # every started item finished


def test_in_order_one_at_a_time_lets_an_interrupt_through():
    def work(i: int) -> int:
        if i == 1:
            raise KeyboardInterrupt
        return i

    seen = []
    with pytest.raises(KeyboardInterrupt):
        for item, _ in batch.in_order([0, 1, 2], work, at_once=1):
            seen.append(item)
    assert seen == [0]


def _folder_of_images(folder: Path) -> list[Path]:
    folder.mkdir()
    images = {
        "photo.png": smooth_image(40, 56, seed=1),
        "grey.png": smooth_image(33, 20, planes=1, seed=2)[..., 0],
        "palette.png": palette_image(30, 30, 3, 6, seed=3),
        "alpha.png": smooth_image(21, 18, planes=4, seed=4),
    }
    for name, pixels in images.items():
        Image.fromarray(pixels).save(folder / name)
    return sorted(folder.iterdir())


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_files_are_the_same_whether_coded_one_at_a_time_or_at_once(tmp_path, capsys):
    src = tmp_path / "src"
    _folder_of_images(src)
    for jobs in ("1", "3"):
        assert main(["compress", str(src), "--out-dir", str(tmp_path / f"lcz{jobs}"), "--jobs", jobs,
                     "--threads", "2", "--quiet"]) == 0
        assert main(["decompress", str(tmp_path / f"lcz{jobs}"), "--out-dir", str(tmp_path / f"png{jobs}"),
                     "--jobs", jobs, "--threads", "2", "--quiet"]) == 0
    assert _contents(tmp_path / "lcz1") == _contents(tmp_path / "lcz3")
    assert _contents(tmp_path / "png1") == _contents(tmp_path / "png3")
    for original in src.iterdir():
        with Image.open(original) as a, Image.open(tmp_path / "png3" / original.name) as b:
            assert a.mode == b.mode and np.array_equal(np.asarray(a), np.asarray(b))


def test_reports_come_in_the_inputs_order_and_a_failure_keeps_the_others(tmp_path, capsys):
    src = tmp_path / "src"
    names = [p.name for p in _folder_of_images(src)]
    (src / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    assert main(["compress", str(src), "--out-dir", str(out), "--jobs", "2", "--json"]) == 1
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [Path(r["input"]).name for r in records] == sorted(names + ["broken.png"])
    assert [r["ok"] for r in records] == [Path(r["input"]).name != "broken.png" for r in records]
    assert "4 of 5 files done, 1 failed" in captured.err
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(n).stem + ".lcz" for n in names)


def test_images_adapted_at_once_start_and_end_as_they_would_alone():
    """The adapters' random start comes from torch's one generator: drawn under a lock,
    so threads adapting at once get what each would get alone."""
    from concurrent.futures import ThreadPoolExecutor

    from lora_codec.lora.fit import adapt_to_image
    from lora_codec.lora.options import AdaptOptions
    from lora_codec.registry import load_shipped_model
    from lora_codec.coding.modes import MODES

    model = load_shipped_model(MODES["learned"].model_file)
    images = [smooth_image(40, 48, seed=20 + i) for i in range(4)]

    def payload(i: int) -> bytes:
        return adapt_to_image(model, images[i], "RGB", 2, AdaptOptions(seed=i)).payload

    alone = [payload(i) for i in range(4)]
    assert len(set(alone)) == 4                       # the seeds do make them differ
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(payload, range(4))) == alone


def test_jobs_above_one_is_refused_while_adapting(tmp_path, capsys):
    src = tmp_path / "src"
    _folder_of_images(src)
    assert main(["compress", str(src), "--out-dir", str(tmp_path / "o"), "--steps", "2", "--jobs", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--jobs" in err and "--steps 0" in err
    assert not (tmp_path / "o").exists()


def test_pixel_counts_come_from_the_headers(tmp_path):
    src = tmp_path / "src"
    photo = _folder_of_images(src)[-1]   # photo.png, 40 x 56
    assert _pixel_count(photo) == 40 * 56
    lcz = tmp_path / "photo.lcz"
    assert main(["compress", str(photo), "-o", str(lcz), "--quiet"]) == 0
    assert _pixel_count(lcz) == 40 * 56
    renamed = tmp_path / "photo.bin"   # a .lcz file is known by its header, not its name
    renamed.write_bytes(lcz.read_bytes())
    assert _pixel_count(renamed) == 40 * 56
    (tmp_path / "junk.lcz").write_bytes(b"junk")
    assert _pixel_count(tmp_path / "junk.lcz") == 0
    assert _pixel_count(tmp_path / "missing.png") == 0
    assert _pixel_count(photo, image_limit=None) == 0      # decompress reads .lcz headers only


def test_an_image_over_the_limit_in_a_batch_is_one_line(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(smooth_image(30, 40, seed=7)).save(src / "big.png")      # 1200 pixels
    Image.fromarray(smooth_image(8, 10, seed=8)).save(src / "small.png")     # 80 pixels
    assert _pixel_count(src / "big.png", image_limit=700) == 1200   # measured without Pillow's warning
    out = tmp_path / "out"
    assert main(["compress", str(src), "--out-dir", str(out), "--max-pixels", "700", "--jobs", "2", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "big.png" in err[0] and "over the limit" in err[0] and "1 of 2 files done" in err[1]
    assert sorted(p.name for p in out.iterdir()) == ["small.lcz"]


def test_compress_can_hold_numpys_blas_to_a_files_share_of_the_threads():
    from threadpoolctl import threadpool_info

    from lora_codec.cli import _blas_threads

    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert pools, "numpy's BLAS was not found"
    with _blas_threads(1):
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    assert [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"] == [p["num_threads"] for p in pools]


def test_rc_files_coded_at_once_are_the_same(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.fromarray(smooth_image(48, 40, seed=10 + i)).save(src / f"rc{i}.png")
    for jobs in ("1", "3"):
        assert main(["compress", str(src), "--out-dir", str(tmp_path / f"lcz{jobs}"), "--mode", "rc", "--jobs", jobs,
                     "--threads", "2", "--quiet"]) == 0
        assert main(["decompress", str(tmp_path / f"lcz{jobs}"), "--out-dir", str(tmp_path / f"png{jobs}"),
                     "--jobs", jobs, "--quiet"]) == 0
    assert _contents(tmp_path / "lcz1") == _contents(tmp_path / "lcz3")
    assert _contents(tmp_path / "png1") == _contents(tmp_path / "png3")


def test_without_meminfo_half_the_physical_memory_is_planned_with(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "_meminfo_available", lambda: None)
    monkeypatch.setattr(batch, "_physical_memory", lambda: 8 << 30)
    assert batch.available_memory(tmp_path) == 4 << 30
    monkeypatch.setattr(batch, "_physical_memory", lambda: None)
    assert batch.available_memory(tmp_path) is None
