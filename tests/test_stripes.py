"""Stripes (format v4: 1024 rows; v8: STRIPE_ROWS = 256): the pixels of taller images are
coded in independent streams, in parallel on --threads."""

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
    assert groups.stripes(2 * 256 + 1) == [(0, 256), (256, 513)]  # a short last stripe joins the one before
    assert groups.stripes(2 * 256 + 128) == [(0, 256), (256, 512), (512, 640)]
    assert groups.stripes(383) == [(0, 383)]
    assert groups.StreamFormat.of(7).stripes(1025) == [(0, 1024), (1024, 1025)]  # versions 4-7 kept it


@given(st.integers(1, 5000), st.sampled_from([4, 5, 6, 7, 8]))
def test_stripes_are_whole_bands_covering_every_row_once(height, version):
    parts = groups.StreamFormat.of(version).stripes(height)
    assert parts[0][0] == 0 and parts[-1][1] == height
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    assert all(y0 % 256 == 0 and y1 > y0 for y0, y1 in parts)


@pytest.fixture(scope="module")
def tall():
    img = smooth_image(groups.STRIPE_ROWS + 200, 24, planes=3, seed=4)  # two stripes
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


class RecordingProgress:
    """The part of rich's Progress that decoding uses, recording the calls."""

    def __init__(self):
        self.tasks, self.advances, self.removed = {}, [], []

    def add_task(self, description, total, note):
        self.tasks[len(self.tasks)] = (description, total)
        return len(self.tasks) - 1

    def advance(self, task):
        self.advances.append(task)

    def remove_task(self, task):
        self.removed.append(task)


@pytest.mark.parametrize("threads", [1, 2])
def test_decoding_advances_a_progress_task_once_a_stripe_and_removes_it(tall, threads):
    img, data = tall
    progress = RecordingProgress()
    assert np.array_equal(Codec(threads=threads).decompress(data, progress=progress), img)
    assert progress.tasks == {0: ("decode", 2)} and progress.advances == [0, 0] and progress.removed == [0]


def test_encoding_advances_a_coding_task_once_a_stripe(tall):
    img, data = tall
    progress = RecordingProgress()
    assert Codec(threads=2).compress(img, progress=progress) == data  # the bytes do not depend on it
    assert progress.tasks and all(task == ("code", 2) for task in progress.tasks.values())
    assert len(progress.advances) == 2 * len(progress.tasks) and sorted(progress.removed) == list(progress.tasks)


def test_a_failing_decode_removes_its_progress_task(tall):
    _, data = tall
    c = container.unpack(data)
    tag = sections.SECTION_TAGS["colour"][1]
    first, second = groups.split_streams(c.sections[tag], 2)
    c.sections[tag] = groups.join_streams([first, second[:40]])  # the second stripe runs out of bytes
    progress = RecordingProgress()
    with pytest.raises(DecodeError, match="corrupt"):
        Codec(threads=1).decompress(container.pack(c), progress=progress)
    assert progress.advances == [0] and progress.removed == [0]  # it failed in the second stripe


def test_threads_must_be_positive():
    with pytest.raises(ValueError):
        Codec(threads=0)


def test_the_format_names_its_stripe_height():
    assert groups.StreamFormat.of(8).stripe_rows == groups.STRIPE_ROWS == 256
    assert groups.StreamFormat.of(8).shortest_last_stripe == 128
    assert all(groups.StreamFormat.of(v).stripe_rows == groups.STRIPE_ROWS_V4 for v in (4, 5, 6, 7))
    assert all(groups.StreamFormat.of(v).shortest_last_stripe == 0 for v in (4, 5, 6, 7))
    assert groups.StreamFormat.of(3).stripes(5000) == [(0, 5000)]


def test_a_model_whose_tile_does_not_divide_the_stripes_is_refused(tall):
    import dataclasses

    codec = Codec()
    model = codec.model
    odd = dataclasses.replace(model, cfg=dataclasses.replace(model.cfg, tile=96))
    with pytest.raises(ValueError, match="does not divide"):
        groups.encode_group(odd, groups.CodingWeights.of(odd), tall[0])


def test_the_command_line_defaults_to_the_cores_it_may_use_at_most_eight(monkeypatch):
    from lora_codec import cli

    monkeypatch.setattr(cli.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert cli.available_cores() == cli.DEFAULT_MAX_THREADS == 8
    monkeypatch.setattr(cli.os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert cli.available_cores() == 1


def test_the_command_line_codes_on_the_default_threads_unless_told(tmp_path, monkeypatch, tall):
    import lora_codec.codec as codec_module
    from lora_codec import cli

    seen = []
    real_init = codec_module.Codec.__init__

    def init(self, *args, threads=1, **kwargs):
        seen.append(threads)
        real_init(self, *args, threads=threads, **kwargs)

    monkeypatch.setattr(codec_module.Codec, "__init__", init)
    monkeypatch.setattr(cli, "available_cores", lambda: 3)
    src = tmp_path / "tall.lcz"
    src.write_bytes(tall[1])
    assert cli.main(["decompress", str(src), "-o", str(tmp_path / "a.png"), "--quiet"]) == 0
    assert cli.main(["decompress", str(src), "-o", str(tmp_path / "b.png"), "--quiet", "--threads", "2"]) == 0
    assert seen == [3, 2]
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_a_model_config_whose_tile_does_not_divide_the_stripes_is_refused(tmp_path):
    from lora_codec import config

    assert config.TILE_MULTIPLE_OF == groups.STRIPE_ROWS
    path = tmp_path / "odd.toml"
    path.write_text("[model]\ntile = 512\n")
    with pytest.raises(ValueError, match="tile must divide 256"):
        config.load_config(path)
    path.write_text("[model]\ntile = 128\n")
    assert config.load_config(path).model.tile == 128


def test_a_file_whose_model_tile_does_not_divide_its_stripes_is_a_decode_error(tall):
    import dataclasses

    model = Codec().model
    odd = dataclasses.replace(model, cfg=dataclasses.replace(model.cfg, tile=96))  # same id
    with pytest.raises(DecodeError, match="do not divide the stripes"):
        Codec(model=odd).decompress(tall[1])
