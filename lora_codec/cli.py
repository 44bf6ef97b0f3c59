"""The ``lora-codec`` command line: compress, decompress, verify, info, train.

Errors, usage errors included, are one line on stderr and exit status 1 (``--debug``
shows the traceback); SIGINT exits with 130 and SIGTERM with 143, leaving no temporary
file. Outputs are written atomically (temporary file, then rename), never replace an
existing file without ``--force`` and never replace an input, even with ``--force``. An
output file takes its input file's permission bits and access and modification times (as
gzip, xz and zstd do). In a batch, one failure does not stop the others.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .container import MODEL_MODES, MODES

EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 130, 143
DEFAULT_MAX_PIXELS = 89_478_485  # as lora_codec.images (not imported here: it loads Pillow)


class UsageError(ValueError):
    """A command line that cannot be carried out as given."""


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like KeyboardInterrupt, so temporary files are removed."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one :class:`UsageError` line."""

    def error(self, message: str):
        raise UsageError(f"{message} (see: {self.prog} --help)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _quality(text: str) -> int | str:
    """--quality: an HEVC quality 1..100, or "search"."""
    if text == "search":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer or 'search': {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be in 1..100, got {value}")
    return value


DEFAULT_MAX_THREADS = 8  # each stripe in flight holds its own online state (about 40-130 MiB, README)


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one),
    at most DEFAULT_MAX_THREADS: the default of --threads."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, DEFAULT_MAX_THREADS))


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-r", "--recursive", action="store_true",
                   help="directories: their subfolders' files too (--out-dir keeps the subfolders)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads: torch's when adapting or training (default: torch's choice), and for the "
                        "independent stripes of 256 rows that images over 383 rows are coded in (default: the "
                        "cores this process may use, at most 8); the file does not depend on it, but for "
                        "adapters (--steps), which may differ by a few bytes with torch's thread count")
    p.add_argument("--jobs", type=_positive_int, default=None,
                   help="files coded at once when there are several, each on its share of --threads (default: "
                        "one a thread, as far as the memory allows; 1 with --steps or --time-budget); the files "
                        "do not depend on it")
    p.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse images of more pixels (default {DEFAULT_MAX_PIXELS}, Pillow's limit)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lora-codec", description="Learned lossless image compression.")
    parser.add_argument("--version", action="version", version=f"lora-codec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compress", help="compress images to .lcz files")
    c.add_argument("inputs", nargs="+", help="image files or directories of images ('-': standard input)")
    out = c.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", help="output file (one input only; '-': standard output)")
    out.add_argument("--out-dir", help="directory for the outputs (NAME.lcz)")
    c.add_argument("--steps", type=int, default=0, help="LoRA fine-tuning steps per image (0: base model)")
    c.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="compress each image in about this long, counted from its reading (the first "
                        "image's from the command's start): the adaptation gets what is left after coding "
                        "the image once, keeping time to code it again (as many of --steps as fit; without "
                        "--steps, as many as fit)")
    c.add_argument("--mode", choices=tuple(MODES), default="learned",
                   help="learned: the default model; rc: HEVC base layer + learned residual; indexed: palette "
                        "and context-mixed indexes (images of few colours); stored: the pixels, zlib-compressed; "
                        "upscaled: a nearest-neighbour enlargement, coded as its original without its repeated "
                        "rows and columns; deep: 16 bits per sample, the top 8 as an image, the rest modelled under it (learned and rc "
                        "fall back to stored, and to indexed when it applies, when smaller; learned also tries "
                        "upscaled where many lines repeat; a 16-bit image is always coded in mode deep, its top "
                        "8 bits in the mode asked for)")
    c.add_argument("--quality", type=_quality, default=None,
                   help="rc mode: HEVC quality 1..100, or 'search' to code several qualities and keep the "
                        "smallest file (default: the quality classifier's choice, one coding)")
    c.add_argument("--fast", action="store_true",
                   help="modes learned and rc: code without the bit refinement, for files that decode in about "
                        "half the time and are a few percent larger (a header flag since format version 10)")
    c.add_argument("--rank", type=int, default=None, help="LoRA rank")
    c.add_argument("--lr", type=float, default=None, help="LoRA learning rate")
    c.add_argument("--targets", default=None,
                   help="comma-separated layer names to adapt (default: the learned head's layers)")
    c.add_argument("--seed", type=int, default=None, help="seed of the adaptation")
    c.add_argument("--force", action="store_true", help="overwrite existing outputs")
    c.add_argument("--verify", action="store_true", help="decode and compare before writing")
    c.add_argument("--strip", action="store_true", help="drop the metadata (ICC, EXIF, XMP, PNG text and colour chunks)")
    c.add_argument("--model", help="code with this model file instead of the shipped one")
    _add_common(c)

    d = sub.add_parser("decompress", help="decompress .lcz files to PNG")
    d.add_argument("inputs", nargs="+", help=".lcz files or directories of them ('-': standard input)")
    out = d.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", help="output PNG (one input only; '-': standard output)")
    out.add_argument("--out-dir", help="directory for the outputs (NAME.png)")
    d.add_argument("--force", action="store_true", help="overwrite existing outputs")
    d.add_argument("--strip", action="store_true", help="leave the stored metadata out of the PNG")
    d.add_argument("--model", action="append", default=[], help="a model file to decode with (repeatable)")
    _add_common(d)

    v = sub.add_parser("verify", help="check that .lcz files decode exactly, writing nothing",
                       description="Decodes each .lcz file as decompress does (the PNG too, in memory) and "
                                   "checks the pixels against the CRC the file stores; writes nothing. Exit "
                                   "status 1 if any file fails, as gzip -t and xz -t do.")
    v.add_argument("inputs", nargs="+", help=".lcz files or directories of them ('-': standard input)")
    v.add_argument("--model", action="append", default=[], help="a model file to decode with (repeatable)")
    _add_common(v)

    i = sub.add_parser("info", help="describe .lcz files")
    i.add_argument("files", nargs="+", help=".lcz files or directories of them")
    i.add_argument("-r", "--recursive", action="store_true", help="directories: their subfolders' files too")
    i.add_argument("--json", action="store_true", help="print one JSON object per file")
    i.add_argument("--debug", action="store_true", help="show tracebacks")

    t = sub.add_parser("train", help="train a base model from a TOML config")
    t.add_argument("config", help="configs/*.toml (relative paths in it resolve against its folder)")
    t.add_argument("--data", help="folder of training images (overrides the config's)")
    t.add_argument("--out", help="folder for the checkpoint and log (overrides the config's)")
    t.add_argument("--export", help="write the trained model file here when done")
    t.add_argument("--force", action="store_true", help="let --export replace an existing file")
    t.add_argument("--quiet", action="store_true")
    t.add_argument("--debug", action="store_true")
    return parser


@dataclass
class Job:
    source: Path
    target: Path | None  # None: nothing is written (verify)
    make_folder: bool = False  # --out-dir: its folder is made when the first file is written


STDIO = Path("-")  # standard input as an input, standard output as an output


@dataclass
class BudgetClock:
    """What is left of each image's ``--time-budget`` when its compression starts: counted
    from the image's reading, and for the first image from the command's start (when
    known), so that one image's whole command stays within its budget.

    >>> clock = BudgetClock(30.0, command_started=time.monotonic() - 2.0)
    >>> round(clock.left(time.monotonic()))  # the first image: 2 s of start-up are spent
    28
    >>> round(clock.left(time.monotonic()))  # the next ones: their own reading only
    30
    """

    seconds: float | None
    command_started: float | None = None

    def left(self, image_started: float) -> float | None:
        if self.seconds is None:
            return None
        since = image_started if self.command_started is None else self.command_started
        self.command_started = None
        return max(self.seconds - (time.monotonic() - since), 1e-6)  # > 0: nothing left skips the adaptation


def _expand(inputs: list[str], suffixes: set[str], recursive: bool = False,
            quiet: bool = False) -> list[tuple[Path, Path]]:
    """The input files, each with its folder below the directory named on the command line
    (``Path()`` for a file named itself or lying in that directory): a directory gives
    its files whose suffix is in ``suffixes``, and with ``recursive`` its subfolders'
    too (symlinked folders are not followed; without it, unless ``quiet``, a note says
    that subfolders were skipped)."""
    if "-" in inputs and len(inputs) > 1:
        raise UsageError("'-' (standard input) must be the only input")
    files: list[tuple[Path, Path]] = []
    for item in inputs:
        p = Path(item)
        if item == "-":
            files.append((STDIO, Path()))
        elif p.is_dir():
            found = _files_below(p, suffixes, recursive, quiet)
            if not found:
                raise UsageError(f"{p}: no matching files in this directory" + (" or below it" if recursive else ""))
            files.extend(found)
        else:
            files.append((p, Path()))
    return files


def _files_below(folder: Path, suffixes: set[str], recursive: bool, quiet: bool) -> list[tuple[Path, Path]]:
    """A directory's matching files in name order, each with its folder relative to
    ``folder``; with ``recursive``, a folder's files before its subfolders'. Without it, a
    note on stderr (unless ``quiet``) says that its subfolders (but hidden ones) were
    skipped, as gzip does."""
    if not recursive:
        entries = sorted(folder.iterdir())
        if not quiet and any(e.is_dir() and not e.is_symlink() and not e.name.startswith(".") for e in entries):
            print(f"lora-codec: note: {_printable(str(folder))}: its subfolders are skipped (-r codes them too)",
                  file=sys.stderr)
        return [(f, Path()) for f in entries if f.is_file() and f.suffix.lower() in suffixes]
    found = []
    for root, dirs, names in os.walk(folder):  # followlinks=False: no loops, nothing outside the tree
        dirs.sort()
        for name in sorted(names):
            f = Path(root) / name
            if f.suffix.lower() in suffixes and f.is_file():
                found.append((f, f.parent.relative_to(folder)))
    return found


# Names that say a file is an image (or a .lcz) of another kind than the one written.
_FILE_KIND_SUFFIXES = {".png", ".apng", ".jpg", ".jpeg", ".jpe", ".jfif", ".tif", ".tiff", ".webp", ".gif",
                       ".bmp", ".jxl", ".jp2", ".j2k", ".avif", ".heic", ".heif", ".ppm", ".pgm", ".pbm",
                       ".pnm", ".tga", ".ico", ".qoi", ".lcz"}


def _plan(found: list[tuple[Path, Path]], output: str | None, out_dir: str | None, suffix: str) -> list[Job]:
    """Each input's job: its output is ``output``, or its name with ``suffix`` beside it or
    in ``out_dir`` (below which the subfolders that ``-r`` found are kept)."""
    files = [f for f, _ in found]
    if output is not None:
        if len(files) != 1:
            raise UsageError("-o names one output; use --out-dir for several inputs")
        jobs = [Job(files[0], Path(output))]
    elif files == [STDIO]:
        raise UsageError("standard input needs -o FILE (or -o - for standard output)")
    elif out_dir is not None:
        folder = Path(out_dir)
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{folder}: not a directory")
        jobs = [Job(f, folder / below / (f.stem + suffix), make_folder=True) for f, below in found]
    else:
        jobs = [Job(f, f.with_suffix(suffix)) for f in files]
    targets = [j.target.resolve() for j in jobs]
    if len(set(targets)) != len(targets):
        raise UsageError("two inputs would be written to the same output name")
    for j in jobs:
        for source in files:
            if STDIO in (source, j.target):
                continue
            if _same_file(source, j.target):
                raise UsageError(f"{j.target}: the output would replace the input {source} (even --force never "
                                 "does that)")
    named = Path(output).suffix.lower() if output is not None else suffix
    if named in _FILE_KIND_SUFFIXES and named != suffix:
        raise UsageError(f"{output}: this command writes a {suffix} file; a {named} name would mislabel it "
                         f"(name it {Path(output).stem}{suffix})")
    return jobs


def _same_file(a: Path, b: Path) -> bool:
    """True if ``a`` and ``b`` name one file: the same path, a symlink or a hard link."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


def _progress(quiet: bool):
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=quiet or not sys.stderr.isatty(), transient=True)


def _printable(text: str) -> str:
    """``text`` with control characters (e.g. a newline in a file name) escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _error(msg: str) -> None:
    """One line on standard error."""
    print(f"lora-codec: error: {_printable(msg)}", file=sys.stderr)


def _run_batch(jobs: list[Job], work, args, at_once: int = 1, done: str = "done") -> int:
    """Runs ``work(job, progress)`` for each job, ``at_once`` at a time
    (:func:`lora_codec.batch.in_order`), reporting each in the jobs' order: its summary,
    or its error on one line while the others go on (then how many were ``done``)."""
    from .batch import in_order

    failures = 0
    with _progress(args.quiet or args.json) as progress:
        files = progress.add_task("files", total=len(jobs), note="")
        for job, result in in_order(jobs, lambda job: work(job, progress), at_once,
                                    on_start=lambda job: progress.update(files, note=job.source.name)):
            if isinstance(result, Exception):  # one line per failed file; the others go on
                if args.debug:
                    raise result
                failures += 1
                _error(_describe(result, job.source))
                if args.json:
                    print(json.dumps({"input": str(job.source), "ok": False, "error": _describe(result, job.source)}))
            else:
                summary = result.pop("summary", None)
                if args.json:
                    output = {} if job.target is None else {"output": str(job.target)}
                    print(json.dumps({"input": str(job.source), **output, "ok": True, **result}))
                elif not args.quiet and summary:
                    progress.console.print(summary, highlight=False, markup=False, soft_wrap=True)
            progress.advance(files)
    return _tally(len(jobs), failures, done)


def _tally(files: int, failures: int, done: str) -> int:
    """The exit status of a command over ``files`` files, after a line on stderr that
    counts the failures when there were several files."""
    if files > 1 and failures:
        print(f"lora-codec: {files - failures} of {files} files {done}, {failures} failed", file=sys.stderr)
    return EXIT_FAILURE if failures else EXIT_OK


def _codecs(jobs: list[Job], threads: int, at_once: int, models: dict):
    """``job -> Codec``: each job's codec runs on its :func:`lora_codec.batch.file_threads`
    (one codec per thread count, made here, so that the files' threads share none)."""
    from .batch import file_threads
    from .codec import Codec

    counts = [file_threads(threads, at_once, k, len(jobs)) for k in range(len(jobs))]
    codecs = {n: Codec(**models, threads=n) for n in set(counts)}
    by_job = {id(job): codecs[n] for job, n in zip(jobs, counts)}
    return lambda job: by_job[id(job)]


def _files_at_once(jobs: list[Job], args, threads: int, adapting: bool = False) -> int:
    """How many of ``jobs`` run at once: ``--jobs``, else one a thread as far as the
    memory allows (:func:`lora_codec.batch.files_at_once`, from each input's size read
    from its header). Images are adapted one at a time: the adapters can change with
    torch's thread count, which files at once would share, and so with the memory free."""
    from .batch import available_memory, files_at_once

    if adapting:
        if args.jobs is not None and args.jobs > 1:
            raise UsageError("--jobs above 1 needs --steps 0 and no --time-budget: images are adapted one at a time")
        return 1
    if args.jobs is not None:
        return min(args.jobs, len(jobs))
    if len(jobs) < 2 or threads < 2:
        return 1
    image_limit = args.max_pixels if args.command == "compress" else None
    return files_at_once(threads, [_pixel_count(job.source, image_limit) for job in jobs], available_memory())


def _pixel_count(source: Path, image_limit: int | None = DEFAULT_MAX_PIXELS) -> int:
    """The pixels of an input, read from its header: a .lcz file's (whatever its name),
    else an image's up to ``image_limit`` pixels (None: not read as an image); 0 where it
    cannot be read (the job itself then reports why)."""
    from .container import peek_size

    try:
        with open(source, "rb") as fh:
            size = peek_size(fh.read(64))
        if size is None and image_limit is not None:
            from PIL import Image

            from .images import pillow_limit

            with pillow_limit(image_limit), Image.open(source) as img:  # the header only, no warning
                size = img.size
    except Exception:  # noqa: BLE001 - any unreadable input is the job's to report
        return 0
    return 0 if size is None else size[0] * size[1]


def _describe(exc: BaseException, source: Path) -> str:
    """The first line of ``exc``'s message, naming ``source`` (escaped, so it stays one line)."""
    shown = _printable(str(source))
    raw = str(exc).replace(str(source), shown) if str(source) else str(exc)
    text = raw.strip().splitlines()[0] if raw.strip() else type(exc).__name__
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)) and exc.filename:
        return f"{_printable(str(exc.filename))}: {exc.strerror or text}"
    if isinstance(exc, MemoryError):
        return f"{shown}: out of memory"
    return text if shown in text else f"{shown}: {text}"


def _compress(args, started: float | None = None) -> int:
    """``compress``; ``started`` is when the command started (the first image's
    ``--time-budget`` counts from it)."""
    from .coding.sections import section_stats
    from .data import IMAGE_SUFFIXES
    from .images import pillow_limit, read_image_with_metadata
    from .lora.options import AdaptOptions

    if args.steps < 0:
        raise UsageError("--steps must be >= 0")
    if args.time_budget is not None and not 0 < args.time_budget < float("inf"):
        raise UsageError("--time-budget must be a positive number of seconds")
    if args.quality is not None and args.mode != "rc":
        raise UsageError("--quality needs --mode rc")
    options = AdaptOptions.from_args(rank=args.rank, lr=args.lr, targets=args.targets, seed=args.seed,
                                     threads=args.threads)  # torch's threads, set while adapting
    jobs = _plan(_expand(args.inputs, IMAGE_SUFFIXES, args.recursive, args.quiet), args.output, args.out_dir, ".lcz")
    _check_stdout(jobs, args)
    threads = args.threads or available_cores()
    at_once = _files_at_once(jobs, args, threads, adapting=bool(args.steps or args.time_budget))
    per_file = max(1, threads // at_once)
    codec_of = _codecs(jobs, threads, at_once, _user_models(args.model, args.mode))
    clock = BudgetClock(args.time_budget, started)

    def work(job: Job, progress) -> dict:
        if job.target != STDIO and job.target.exists() and not args.force:
            raise FileExistsError(f"{job.target}: already exists (use --force to overwrite)")
        codec = codec_of(job)
        start, reading = time.perf_counter(), time.monotonic()
        pixels, colour, meta = read_image_with_metadata(str(job.source), args.max_pixels)
        source_stat = _stat(job.source)
        data = codec.compress(pixels, steps=args.steps, mode=args.mode, quality=args.quality,
                              adaptation=options, progress=progress, metadata={} if args.strip else meta,
                              time_budget=clock.left(reading), fast=args.fast)
        if args.verify and not (codec.decompress_planes(data) == pixels).all():
            raise RuntimeError(f"{job.source}: verification failed, nothing written")
        _write(job, data, args.force, source_stat)
        stats = section_stats(data)
        seconds = time.perf_counter() - start
        input_bytes = None if source_stat is None else source_stat.st_size
        return {"bytes": stats["bytes"], "bpsp": stats["bpsp"], "mode": stats["mode"],
                "hevc_quality": stats["hevc_quality"], "split_bpsp": stats["split_bpsp"], "seconds": seconds,
                "input_bytes": input_bytes,
                "summary": f"{_name(job.source)} -> {_name(job.target, True)}: {pixels.nbytes} B of pixels -> "
                           f"{stats['bytes']} B, {stats['bpsp']:.3f} bpsp, {pixels.nbytes / stats['bytes']:.2f}:1, "
                           f"{seconds:.2f} s{_larger_than_input(job.source, input_bytes, stats['bytes'])}"}

    with _blas_threads(per_file), pillow_limit(args.max_pixels):  # one state for the files read at once
        return _run_batch(jobs, work, args, at_once)


def _blas_threads(n: int):
    """A context in which numpy's BLAS (the matrix products of the UNet's analysis) runs
    on at most ``n`` threads, so that ``--threads`` bounds it too and files coded at once
    do not oversubscribe the cores."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n, user_api="blas")


def _larger_than_input(source: Path, input_bytes: int | None, output_bytes: int) -> str:
    """The summary's note when the .lcz is larger than the file it was made from: a lossy
    JPEG's decoded pixels, kept exactly, cost more than the JPEG."""
    if input_bytes is None or output_bytes <= input_bytes:
        return ""
    with open(source, "rb") as fh:
        jpeg = fh.read(3) == b"\xff\xd8\xff"
    why = (" (a lossy JPEG: the .lcz keeps its decoded pixels exactly, not the JPEG file; keep the JPEG "
           "to keep it)") if jpeg else ""
    return f"; {output_bytes / input_bytes:.2f}x the input file's {input_bytes} B{why}"


def _name(path: Path, output: bool = False) -> str:
    """A path as a summary line shows it: escaped, so that the line stays one line."""
    return ("stdout" if output else "stdin") if path == STDIO else _printable(str(path))


def _check_stdout(jobs: list[Job], args) -> None:
    if any(j.target == STDIO for j in jobs):
        if args.json:
            raise UsageError("-o - writes the file to standard output, so --json cannot share it")
        if sys.stdout is None:
            raise UsageError("-o -: standard output is closed")
        if sys.stdout.isatty():
            raise UsageError("refusing to write binary data to a terminal (redirect it, or name a file with -o)")


def _write(job: Job, data: bytes, force: bool, source_stat: os.stat_result | None) -> None:
    """Write an output; a file takes the permissions and times of its input's
    ``source_stat`` (None for standard input)."""
    from .images import atomic_write

    target = job.target
    if job.make_folder:
        target.parent.mkdir(parents=True, exist_ok=True)
    if target == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        atomic_write(target, data, force, like=source_stat)


def _stat(source: Path) -> os.stat_result | None:
    """The input's status, once it has been read; None for standard input and for
    anything but a regular file (a FIFO's or a device's permissions are not a file's)."""
    if source == STDIO:
        return None
    st = source.stat()
    return st if stat.S_ISREG(st.st_mode) else None


def _read_input(source: Path) -> bytes:
    from .codec import read_lcz

    return sys.stdin.buffer.read() if source == STDIO else read_lcz(source)


def _user_models(paths, mode: str | None = None) -> dict:
    """Codec keyword arguments for ``--model`` files (compress: one; decompress: any)."""
    from .registry import load_model_file

    if not paths:
        return {}
    if isinstance(paths, str):
        model = load_model_file(_model_path(paths))
        return {"rc_model" if mode == "rc" else "model": model}
    return {"extra_models": [load_model_file(_model_path(p)) for p in paths]}


def _model_path(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such model file")
    return p


def _decoded(codec, data: bytes, args, progress, strip: bool = False):
    """(pixels, header, PNG bytes) of a .lcz file, as ``decompress`` writes it and
    ``verify`` checks it (the decoder compares the pixels with the file's CRC)."""
    from .container import unpack
    from .images import encode_png

    pixels = codec.decompress_planes(data, max_pixels=args.max_pixels, progress=progress)
    header = unpack(data).header
    return pixels, header, encode_png(pixels, header.colour, {} if strip else codec.metadata(data))


def _decoding_jobs(jobs: list[Job], args):
    """``job -> Codec`` for decoding ``jobs``, and how many run at once."""
    threads = args.threads or available_cores()
    at_once = _files_at_once(jobs, args, threads)
    return _codecs(jobs, threads, at_once, _user_models(args.model)), at_once


def _decompress(args) -> int:
    jobs = _plan(_expand(args.inputs, {".lcz"}, args.recursive, args.quiet), args.output, args.out_dir, ".png")
    _check_stdout(jobs, args)
    codec_of, at_once = _decoding_jobs(jobs, args)

    def work(job: Job, progress) -> dict:
        if job.target != STDIO and job.target.exists() and not args.force:
            raise FileExistsError(f"{job.target}: already exists (use --force to overwrite)")
        start = time.perf_counter()
        data = _read_input(job.source)
        source_stat = _stat(job.source)
        pixels, _, png = _decoded(codec_of(job), data, args, progress, strip=args.strip)
        _write(job, png, args.force, source_stat)
        seconds = time.perf_counter() - start
        return {"width": pixels.shape[1], "height": pixels.shape[0], "seconds": seconds,
                "summary": f"{_name(job.source)} -> {_name(job.target, True)}: {pixels.shape[1]}x{pixels.shape[0]}, "
                           f"{len(data)} B -> {len(png)} B of PNG, {seconds:.2f} s"}

    return _run_batch(jobs, work, args, at_once)


def _verify(args) -> int:
    """``verify``: each file decoded as :func:`_decompress` decodes it (:func:`_decoded`),
    its PNG made in memory and dropped."""
    jobs = [Job(f, None) for f, _ in _expand(args.inputs, {".lcz"}, args.recursive, args.quiet)]
    codec_of, at_once = _decoding_jobs(jobs, args)

    def work(job: Job, progress) -> dict:
        start = time.perf_counter()
        data = _read_input(job.source)
        pixels, header, _ = _decoded(codec_of(job), data, args, progress)
        seconds = time.perf_counter() - start
        return {"width": pixels.shape[1], "height": pixels.shape[0], "mode": header.mode, "bytes": len(data),
                "seconds": seconds,
                "summary": f"{_name(job.source)}: ok, {pixels.shape[1]}x{pixels.shape[0]} {header.colour}, "
                           f"mode {header.mode}, {len(data)} B, {seconds:.2f} s"}

    return _run_batch(jobs, work, args, at_once, done="verified")


def _info(args) -> int:
    """``info``: each file's geometry, model and bits per section (the file is read, not
    decoded); one error line for a file that cannot be read while the others go on."""
    files = [f for f, _ in _expand(args.files, {".lcz"}, args.recursive)]
    if STDIO in files:
        raise UsageError("info reads files, not standard input")
    failures = 0
    for path in files:
        try:
            _describe_file(path, args.json)
        except Exception as exc:
            if args.debug:
                raise
            failures += 1
            _error(_describe(exc, path))
            if args.json:
                print(json.dumps({"input": str(path), "ok": False, "error": _describe(exc, path)}))
    return _tally(len(files), failures, "described")


def _describe_file(path: Path, as_json: bool) -> None:
    """One .lcz file's description on stdout: a JSON object, or a line and a table."""
    from .codec import read_lcz
    from .coding.sections import section_stats

    stats = section_stats(read_lcz(path))
    if as_json:
        print(json.dumps({"input": str(path), "ok": True, **stats}))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(markup=False, highlight=False)  # paths and metadata keys are text, not markup
    console.print(f"{_printable(str(path))}: {stats['width']}x{stats['height']} {stats['colour']}"
                  + (f" {stats['bit_depth']}-bit" if stats["bit_depth"] != 8 else "") + f", mode {stats['mode']}, "
                  + (f"model {stats['model_id']}" if stats["mode"] in MODEL_MODES else "no model")
                  + f", format v{stats['format_version']}" + (", fast" if stats["fast"] else "")
                  + (", one stripe" if stats["one_stripe"] else "") + (", no match model" if stats["no_match"] else ""),
                  soft_wrap=True)  # one line whatever the width, for grep
    for group, quality in stats["hevc_quality"].items():
        console.print(f"HEVC base layer ({group}): quality {quality}")
    table = Table("part", "bytes", "bpsp", "share")
    for name, size in stats["split_bytes"].items():
        table.add_row(name, str(size), f"{stats['split_bpsp'][name]:.4f}", f"{100 * size / stats['bytes']:.1f} %")
    table.add_row("total", str(stats["bytes"]), f"{stats['bpsp']:.4f}", "100 %")
    console.print(table)
    console.print("sections: " + ", ".join(f"{k} {v} B" for k, v in stats["sections"].items()))
    if stats["metadata"]:
        console.print("metadata: " + ", ".join(f"{k} {v} B" for k, v in stats["metadata"].items()))


def _train(args) -> int:
    from .config import load_config
    from .train import export_checkpoint, train

    if args.export:  # checked before hours of training, not after
        export = Path(args.export)
        if export.exists() and export.resolve() == Path(args.config).resolve():
            raise UsageError(f"{export}: --export would overwrite the config itself")
        if export.exists() and not args.force:
            raise FileExistsError(f"{export}: already exists (use --force to overwrite)")
    cfg = load_config(args.config, data=args.data, out=args.out)
    ckpt = train(cfg, quiet=args.quiet)
    if args.export:
        model_id = export_checkpoint(cfg, ckpt, args.export, force=args.force)
        print(f"wrote {args.export} (model id {model_id.hex()})")
    return EXIT_OK


def _on_sigterm(signum, frame):
    raise Terminated()


def command() -> None:
    """The ``lora-codec`` command: :func:`main` on the process's arguments, then exit.

    Before exiting, every object is frozen out of the garbage collector's reach: the
    interpreter's last collection would otherwise visit all of torch's and peft's objects
    (1.4 s after an adapted compression, measured). Objects are still released by their
    reference counts, files are closed, and standard output is flushed."""
    code = main(started=time.monotonic())
    gc.freeze()
    sys.exit(code)


def main(argv: list[str] | None = None, started: float | None = None) -> int:
    """Runs the command line ``argv`` (default: the process's arguments); returns the exit
    status. ``started`` is when the command started (``time.monotonic()``), if earlier than
    this call: the first image's ``--time-budget`` counts from it."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        return _main(argv, debug, started)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str], debug: bool, started: float | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and --version print and end here
        return int(exc.code or 0)
    except UsageError as exc:
        if debug:
            raise
        _error(str(exc))
        return EXIT_FAILURE
    try:
        if getattr(args, "threads", None) is not None:
            if args.threads < 1:
                raise UsageError("--threads must be >= 1")
            if args.command == "train":  # compress sets torch's threads while it adapts
                import torch

                torch.set_num_threads(args.threads)
        if args.command == "compress":
            return _compress(args, started)
        handler = {"decompress": _decompress, "verify": _verify, "info": _info, "train": _train}
        return handler[args.command](args)
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        _error("terminated")
        return EXIT_TERMINATED
    except Exception as exc:
        if debug:
            raise
        _error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return EXIT_FAILURE
