"""Running a command's files in order, several at once where the cores and the memory
allow.

A file coded on one thread leaves the other cores idle unless it is cut into several
stripes (images over 383 rows), and even then its reading, features and PNG run on one.
Coding whole files side by side keeps every core busy: the native coder releases the
GIL, so threads suffice. Each file's bytes are the same however many run at once.

>>> files_at_once(threads=2, pixel_counts=[400_000] * 8, memory=8 << 30)
2
>>> files_at_once(threads=8, pixel_counts=[24_000_000] * 8, memory=8 << 30)  # memory decides
3
>>> outcomes = [out for _, out in in_order([1, 2, 3], lambda x: 10 // (x - 2), at_once=2)]
>>> outcomes[0], type(outcomes[1]).__name__, outcomes[2]
(-10, 'ZeroDivisionError', 10)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

Item = TypeVar("Item")

# What one file in flight may hold, at most: measured peaks are about 41 bytes a pixel
# (a 24-megapixel photograph on two threads, scripts/bench_memory.py: 984 MiB decoding),
# plus the online state of each stripe in flight (40-130 MiB, README). Kept generous, so
# that a batch never asks for more memory than coding its files one by one would.
BYTES_PER_PIXEL = 64
BYTES_PER_FILE = 128 << 20


def file_memory(pixels: int) -> int:
    """The memory one file of ``pixels`` pixels is allowed for when planning a batch."""
    return BYTES_PER_FILE + BYTES_PER_PIXEL * max(pixels, 0)


def available_memory(cgroup: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The memory this process can be given without swapping: Linux's MemAvailable (else
    half the physical memory, where the system tells that), or less where its control
    group (a container's, under ``cgroup``) caps it; None where nothing tells."""
    free = _meminfo_available()
    if free is None:
        free = _physical_memory()
        free = None if free is None else free // 2
    known = [m for m in (free, _cgroup_room(cgroup)) if m is not None]
    return min(known) if known else None


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room(root: Path) -> int | None:
    """A control group's memory limit less its use (cgroup v2, else v1); None without a
    limit."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            limit = (root / limit_file).read_text().strip()
            usage = int((root / usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or not limit.isdigit() or int(limit) >= 1 << 60:  # no limit set
            return None
        return max(int(limit) - usage, 0)
    return None


def files_at_once(threads: int, pixel_counts: list[int], memory: int | None) -> int:
    """How many files a batch codes at once: one a thread, no more than there are files,
    and no more than the largest file's :func:`file_memory` fits in three quarters of
    ``memory`` (None: no memory limit); at least one."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    at_once = min(threads, len(pixel_counts))
    if memory is not None and pixel_counts:
        at_once = min(at_once, (3 * memory // 4) // file_memory(max(pixel_counts)))
    return max(1, at_once)


def file_threads(threads: int, at_once: int, index: int, count: int) -> int:
    """The threads of the ``index``-th of ``count`` files coded ``at_once`` at a time. The
    files run in rounds of ``at_once``, each on its share of ``threads``; the files of a
    last, incomplete round share all the threads among fewer (a last file alone gets them
    all), so that an image of several stripes there does not run on one thread while the
    others idle. A round never has more stripes in flight than ``threads`` and the last
    one has fewer files, so it needs no more memory than :func:`files_at_once` planned
    for a round. (Files of unequal sizes leave the rounds uneven; the threads may then
    exceed ``threads`` for a while. The bytes never depend on it.)

    >>> [file_threads(2, 2, k, 5) for k in range(5)]
    [1, 1, 1, 1, 2]
    >>> [file_threads(8, 4, k, 6) for k in range(6)]
    [2, 2, 2, 2, 4, 4]
    >>> [file_threads(2, 2, k, 4) for k in range(4)]  # whole rounds: every file its share
    [1, 1, 1, 1]
    """
    if threads < 1 or at_once < 1 or not 0 <= index < count:
        raise ValueError(f"need threads, at_once >= 1 and 0 <= index < count, got {threads}, {at_once}, "
                         f"{index}, {count}")
    last_round = count % at_once
    in_last_round = index >= count - last_round
    return max(1, threads // (last_round if in_last_round else at_once))


def in_order(items: list[Item], work: Callable[[Item], object], at_once: int,
             on_start: Callable[[Item], None] | None = None) -> Iterator[tuple[Item, object]]:
    """``(item, work(item))`` for each item, in the items' order, ``at_once`` running at a
    time on threads. An item whose work raises an ``Exception`` yields that exception
    instead, and the others go on; ``on_start(item)`` runs as an item starts.

    Stopping early (KeyboardInterrupt, or the caller closing the iterator) cancels the
    items not started; those running finish (their outputs are written whole or not at
    all), and the iterator returns only then."""

    def attempt(item: Item) -> object:
        if on_start is not None:
            on_start(item)
        try:
            return work(item)
        except Exception as exc:  # reported by the caller with its item; the batch goes on
            return exc

    if at_once <= 1 or len(items) <= 1:
        for item in items:
            yield item, attempt(item)
        return
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        futures = [pool.submit(attempt, item) for item in items]
        try:
            for item, future in zip(items, futures):
                yield item, future.result()
        finally:
            for future in futures:
                future.cancel()
