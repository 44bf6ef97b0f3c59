"""Writing outputs: atomic, never clobbering without force, nothing left behind."""

import pytest

from lora_codec.images import atomic_write


def test_atomic_write_refuses_an_existing_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.lcz"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="--force"):
        atomic_write(target, b"new", force=False)
    assert target.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.lcz"]


def test_atomic_write_with_force_replaces(tmp_path):
    target = tmp_path / "out.lcz"
    target.write_bytes(b"old")
    atomic_write(target, b"new", force=True)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.lcz"]


def test_atomic_write_creates_a_new_file(tmp_path):
    target = tmp_path / "fresh.lcz"
    atomic_write(target, b"\x00\x01", force=False)
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.lcz"]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import os

    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space"):
        atomic_write(tmp_path / "x.lcz", b"data", force=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("force", [False, True])
def test_the_file_and_then_its_directory_are_synced(tmp_path, monkeypatch, force):
    import os

    synced = []  # the inode of each descriptor synced, in order
    real = os.fsync

    def record(fd):
        synced.append(os.fstat(fd).st_ino)
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    target = tmp_path / "out.lcz"
    if force:
        target.write_bytes(b"old")
    atomic_write(target, b"data", force=force)
    assert synced == [target.stat().st_ino, tmp_path.stat().st_ino]


def test_outputs_get_the_usual_permissions(tmp_path):
    import os

    umask = os.umask(0)
    os.umask(umask)
    target = tmp_path / "out.lcz"
    atomic_write(target, b"data", force=False)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
