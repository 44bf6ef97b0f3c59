"""Compressing and decompressing images: the public API.

An image is split into colour groups (:mod:`lora_codec.coding.groups`); each is coded with
the mode's model (:mod:`lora_codec.coding.modes`): its tiles' latents z by the float UNet
encoder, then its pixels by the native causal predictor from the exact integer UNet
decoder's features. Only the encoder is float, and it runs only when compressing, once per
tile: the LoRA adaptation, the recoding with adapters and rc mode's quality search all
reuse its latents (or all-zero ones, where they make a small image's group smaller:
:data:`LATENT_RETRY_SHARE`). Decoding needs z, the integer decoder and the native
predictor, which are exact.

**rc mode** (``mode="rc"``) first codes each group with HEVC (:mod:`lora_codec.base_layer`)
at the quality the classifier of :mod:`lora_codec.quality_choice` picks (or given, or
searched), then codes the exact pixels with the default model, whose online engine also
reads the lossy reconstruction (older rc files: the MED rc model and its guide network).

>>> import numpy as np, lora_codec
>>> image = (np.arange(24 * 20 * 3) % 251).astype(np.uint8).reshape(24, 20, 3)
>>> data = lora_codec.compress(image)
>>> bool((lora_codec.decompress(data) == image).all())
True
"""

from __future__ import annotations

import os
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from . import base_layer, container, entropy, transforms
from . import metadata as meta_section
from .base_layer import BaseLayerError
from .coding import depth, enlargement, indexed, sections, stripe_layout
from .coding.latents import code_latents, zero_latents
from .coding.groups import (CodingWeights, GroupCode, decode_group, encode_group, group_latents, group_planes,
                            StreamFormat, split_streams)
from .coding.modes import MODES, Mode, mode as mode_named
from .container import FormatError, Header
from .quality_choice import load_quality_classifier
from .images import DEFAULT_MAX_PIXELS, check_max_pixels, read_image, read_image_with_metadata, regular_file
from .lora.loading import start_loading
from .registry import LoadedModel, find_model, load_shipped_model


class DecodeError(ValueError):
    """A file that cannot be decoded to the image it was made from."""


# The step cap of an adaptation bounded by its time budget alone (``steps=0``).
BUDGET_ONLY_STEPS = 100_000

# Per-image adaptation of the default model takes at most about 2 % off the learned file
# of a photograph, and 9 to 12 % off that of an enlargement by 4/3 or 3/2, whose repeated
# lines it learns (docs/design.md, "Where adaptation cannot win"). When the indexed or
# enlarged file is under this share of the learned one, it wins whatever the adaptation
# does, so the adaptation is not run.
ADAPTATION_REACH = 0.8

# A group is coded again with all-zero latents when its encoder's z costs more than this
# share of the group's bytes over theirs, and the smaller coding is kept. The shipped z
# carries almost nothing, so the file shrinks by about that share: on centred crops of the
# validation split, 13.7 % in all at 32 x 32, up to 5.4 % at 48 x 48 and 4.6 % at 64 x 64,
# never more than 0.05 % at 96 x 96; whole images' z cost at most 0.05 % (Kodak) and
# 0.26 % (validation). Below 0.3 % a second coding (twice the time) is not worth it
# (docs/design.md, "The UNet does not pay").
LATENT_RETRY_SHARE = 0.003

# Whether channel palettes pay is a property of the image's histogram, so an image of at
# least CHANNEL_PALETTE_SAMPLE_FROM rows decides it on a band of CHANNEL_PALETTE_SAMPLE_ROWS
# rows (whole stripes) across its middle, coded both ways, instead of coding all of it
# twice (docs/design.md, "Channel palettes only where they pay, and for combs").
CHANNEL_PALETTE_SAMPLE_FROM = 2048
CHANNEL_PALETTE_SAMPLE_ROWS = 512


def _check_time_budget(time_budget) -> float | None:
    if time_budget is None:
        return None
    if isinstance(time_budget, bool) or not isinstance(time_budget, Real):
        raise TypeError(f"time_budget must be a number of seconds or None, got {type(time_budget).__name__}")
    if not 0 < time_budget < float("inf"):
        raise ValueError(f"time_budget must be a positive number of seconds, got {time_budget}")
    return float(time_budget)


def _budget_left(time_budget: float, started: float) -> float:
    """Seconds of ``time_budget`` left since ``started`` (by ``time.monotonic()``); negative
    once it is spent."""
    return time_budget - (time.monotonic() - started)


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, Integral):
        raise TypeError(f"steps must be an integer, got {type(steps).__name__}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    return int(steps)


def _stream_format(fast) -> StreamFormat:
    """The current version's streams, with or without the bit refinement."""
    if not isinstance(fast, bool):
        raise ValueError(f"fast must be True or False, got {fast!r}")
    return StreamFormat.of(flags=container.FLAG_FAST if fast else 0)


def _check_quality(quality, m: Mode) -> None:
    """``quality`` is None (the classifier's choice), "search" or an integer in [1, 100],
    and only for a mode with a base layer."""
    if quality is None:
        return
    if isinstance(quality, bool) or not isinstance(quality, (Integral, str)):
        raise TypeError(f"quality must be an integer, 'search' or None, got {type(quality).__name__}")
    if not m.base_layer:
        raise ValueError("quality applies to rc mode only")
    if isinstance(quality, str) and quality != "search":
        raise ValueError(f"quality must be an integer in [1, 100] or 'search', got {quality!r}")
    if isinstance(quality, Integral) and not 1 <= quality <= 100:
        raise ValueError(f"quality must be in [1, 100], got {quality}")


def _adapting_might_win(size: int, rivals: list[int]) -> bool:
    """Whether adapting a file of ``size`` bytes might make it smaller than every file of
    ``rivals`` sizes: none is under :data:`ADAPTATION_REACH` of it."""
    return all(rival >= ADAPTATION_REACH * size for rival in rivals)


def _enlarged_file(pixels: np.ndarray, colour: str, rows: np.ndarray, columns: np.ndarray, inner: bytes,
                   extra: dict[bytes, bytes]) -> bytes:
    """The file of mode upscaled: the image as its original's file ``inner`` and the maps of
    its repeated ``rows`` and ``columns``."""
    header = Header(width=pixels.shape[1], height=pixels.shape[0], colour=colour, mode="upscaled",
                    model_id=bytes(8), pixel_crc=container.pixel_crc(pixels))
    return container.pack(container.Container(header, {enlargement.TAG: enlargement.pack(rows, columns, inner),
                                                       **extra}))


def _checked(pixels: np.ndarray, header: Header) -> np.ndarray:
    """The decoded pixels, if they match the CRC the file recorded for them."""
    if container.pixel_crc(pixels) != header.pixel_crc:
        raise DecodeError("corrupt .lcz file: the decoded pixels fail the CRC check")
    return pixels


def read_lcz(data) -> bytes:
    """The bytes of a .lcz file given as bytes-like data or as a path to a regular file."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        return regular_file(data).read_bytes()
    raise TypeError(f"data must be the bytes of a .lcz file or a path to one, got {type(data).__name__}")


@dataclass
class _Plan:
    """One way of coding an image: its transforms, the coded planes per group, their
    latents and their coded groups (base weights)."""

    coded: np.ndarray
    coded_colour: str
    chosen: transforms.Transforms  # the transforms applied
    planes: dict[str, np.ndarray]
    latents: dict[str, list[np.ndarray]]
    groups: dict[str, GroupCode]

    @property
    def size(self) -> int:
        return sections.file_size(self.groups, None) + (len(transforms.pack(self.chosen)) if self.chosen else 0)


def pixel_capacity_bits(section: bytes, height: int, fmt: StreamFormat) -> int:
    """An upper bound of the bits a valid pixel section can give its decoders (the sum of
    its streams' capacities, with 64 bits of slack each); 0 if its stripes do not parse."""
    count = len(fmt.stripes(height))
    try:
        streams = split_streams(section, count)
    except ValueError:
        return 0
    return sum(8 * entropy.stream_capacity(s) + 64 for s in streams)


class _StripeTicker:
    """A task of ``progress`` that advances once a stripe (call it). rc mode's quality
    search codes a group once a quality: :meth:`coding` names each in the task's note,
    and adds every coding after a group's first to the task's total."""

    def __init__(self, progress, description: str, groups: int, stripes_per_group: int):
        self.progress, self.stripes_per_group = progress, stripes_per_group
        self.total = groups * stripes_per_group
        self.task = progress.add_task(description, total=self.total, note="")

    def __call__(self) -> None:
        self.progress.advance(self.task)

    def coding(self, note: str, again: bool) -> None:
        self.total += self.stripes_per_group if again else 0
        self.progress.update(self.task, total=self.total, note=note)


@contextmanager
def _stripe_task(progress, description: str, fmt: StreamFormat, height: int, groups: int):
    """A ``progress`` task (a rich ``Progress``) for coding ``groups`` colour groups of
    ``height`` rows in ``fmt``, which advances once a stripe: yields the
    :class:`_StripeTicker` that advances it (None without ``progress``); the task is
    removed when the block ends."""
    if progress is None:
        yield None
        return
    ticker = _StripeTicker(progress, description, groups, len(fmt.stripes(height)))
    try:
        yield ticker
    finally:
        progress.remove_task(ticker.task)


class Codec:
    """Compresses and decompresses with the shipped models, or with the given ``model``
    (learned mode) and ``rc_model`` (rc mode); ``extra_models`` are more models that files
    may name. Models load when first needed; a file's model is also looked for in the
    folders that ``LORA_CODEC_MODELS`` lists. The independent stripes of ``groups.STRIPE_ROWS``
    rows that taller images are coded in run on up to ``threads`` threads (the bytes do
    not depend on it)."""

    def __init__(self, model: LoadedModel | None = None, rc_model: LoadedModel | None = None,
                 extra_models: list[LoadedModel] = (), threads: int = 1) -> None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
        self._given = {"learned": model, "rc": rc_model}
        self._extra = list(extra_models)  # more models that files may name (decoding)
        self.threads = threads

    def model_for(self, mode: Mode) -> LoadedModel:
        """The model a mode codes new files with."""
        return self._given.get(mode.name) or load_shipped_model(mode.model_file)

    @property
    def model(self) -> LoadedModel:
        return self.model_for(MODES["learned"])

    @property
    def rc_model(self) -> LoadedModel:
        return self.model_for(MODES["rc"])

    def compress(self, image, steps: int = 0, *, mode: str = "learned", quality: int | str | None = None,
                 adaptation=None, progress=None, max_pixels: int = DEFAULT_MAX_PIXELS, strip: bool = False,
                 metadata: dict | None = None, fallback: bool = True, time_budget: float | None = None,
                 fast: bool = False) -> bytes:
        """Compress a path, PIL image or (H, W[, C]) uint8 array to .lcz bytes (a 16-bit
        PNG or TIFF, PIL ``I;16`` image or uint16 array in mode ``deep``, the other modes
        then coding its high image).

        ``steps`` > 0 fine-tunes LoRA adapters on the image first (``adaptation``: a
        :class:`lora_codec.lora.options.AdaptOptions`); they are kept only if the file gets
        smaller, and not run when the indexed or enlarged file (below) is already smaller than
        adaptation has ever made a learned one (:data:`ADAPTATION_REACH`). ``time_budget`` (seconds) bounds the
        whole call: the adaptation gets what is left after coding the image once, less the
        time that coding took (to code it again with the adapters), and runs as many of the
        ``steps`` as fit in it (with ``steps=0``, as many as fit); none if nothing is left. ``mode="rc"`` codes an HEVC base layer plus the residual; its ``quality``
        (1..100) is chosen by the quality classifier unless given, or searched
        (``quality="search"``: the file is coded at several qualities, the smallest kept). Images of more than ``max_pixels`` pixels are
        refused. The metadata of a file or PIL image (ICC, EXIF, XMP, PNG text and colour
        chunks, :mod:`lora_codec.metadata`) is kept unless ``strip``; ``metadata`` replaces
        it (for arrays, which carry none). The stored pixels (mode ``stored``) and, for
        images of few colours, the palette and context-mixed indexes (mode ``indexed``)
        replace the coded file whenever they are smaller, unless ``fallback=False`` (for
        measurements). With the fallbacks, mode learned also tries an image whose rows or
        columns often repeat the one before (a nearest-neighbour enlargement) as its
        original without them (mode ``upscaled``, which ``mode`` may also ask for); with
        ``steps``, the original adapts too, and under a ``time_budget`` only where its file
        might win, on its share of the budget by pixels if the image's own file might win
        as well. A
        ``progress`` (a rich ``Progress``) shows the adaptation and each coding of the
        image's stripes as tasks.
        ``fast`` codes the pixel streams of modes learned and rc without the bit
        refinement: they decode in about half the time, and the file is a few percent
        larger.
        """
        started = time.monotonic()
        steps = _check_steps(steps)
        time_budget = _check_time_budget(time_budget)
        if time_budget is not None and steps == 0:
            steps = BUDGET_ONLY_STEPS
        m = mode_named(mode)
        _check_quality(quality, m)
        fmt = _stream_format(fast)
        pixels, colour, meta = read_image_with_metadata(image, max_pixels)
        meta = meta if metadata is None else metadata
        extra = {meta_section.TAG: meta_section.pack(meta)} if meta and not strip else {}
        if pixels.dtype != np.uint8 or m.deep:
            return self._deep(pixels, colour, extra, m, steps, adaptation=adaptation, progress=progress,
                              time_budget=time_budget, fast=fast, quality=quality, fallback=fallback)
        stored = self._stored(pixels, colour, extra)
        if m.stored:
            return stored
        enlarged = None  # the file of mode upscaled, for an enlargement
        original = None  # an enlargement's original, when its adaptation waits for the image's own file (budget)
        if m.enlarged or (m.name == "learned" and fallback):
            rows, columns = enlargement.repeats(pixels)
            clearly = enlargement.share_repeated(rows, columns) >= enlargement.CLEARLY_REPEATED
            if m.enlarged and not rows.any() and not columns.any():
                raise ValueError("mode upscaled codes nearest-neighbour enlargements (rows or columns equal to "
                                 "the one before); this image has none")
            if m.enlarged or clearly or (enlargement.share_repeated_detail(pixels, rows, columns)
                                         >= enlargement.MIN_REPEATED):
                alone = m.enlarged or clearly  # the image itself is not coded as well
                # Under a time budget shared with the image itself, the original adapts later (below).
                later = bool(steps) and time_budget is not None and not alone
                small = enlargement.shrink(pixels, rows, columns)  # repeats no line: never one inside another
                inner = self.compress(small, 0 if later else steps, adaptation=adaptation, progress=progress,
                                      strip=True, time_budget=time_budget if alone else None, fast=fast)
                enlarged = _enlarged_file(pixels, colour, rows, columns, inner, extra)
                if m.enlarged and not fallback:
                    return enlarged
                if alone:
                    return min(enlarged, stored, key=len)
                original = (small, rows, columns, steps, extra) if later else None
        if m.indexed:
            file = self._indexed(pixels, colour, extra)
            if file is None:
                raise ValueError(f"mode indexed codes images of at most {indexed.MAX_COLOURS} colours; "
                                 "this one has more")
            return file
        few_colours = None  # the indexed file, for images of few colours
        if fallback and indexed.worth_trying_on(pixels):
            few_colours = self._indexed(pixels, colour, extra)
        model = self.model_for(m)
        # torch and peft (4 s) load on another thread while the image is coded once, unless
        # an indexed or enlarged file may make the adaptation pointless (decided below).
        if steps and few_colours is None and enlarged is None:
            start_loading()
        # With an indexed file at hand, the learned model's own palette transform is not
        # tried: mode indexed codes the same indexes with a model made for them.
        planning = time.monotonic()
        plan, fmt = self._plan_layout(model, m, pixels, colour, quality, fmt, palette=few_colours is None,
                                      progress=progress)
        coding_seconds = time.monotonic() - planning
        coded, coded_colour, planes, latents, groups = (plan.coded, plan.coded_colour, plan.planes, plan.latents,
                                                        plan.groups)
        if plan.chosen:
            extra = {transforms.TAG: transforms.pack(plan.chosen), **extra}
        adapters = None
        # Adapt only what might still become the smallest file: the image itself, and, under
        # a time budget, the original of an enlargement (on its share by pixels if both).
        own = sections.file_size(groups, None)
        indexed_size = [len(few_colours)] if few_colours is not None else []
        if steps and not _adapting_might_win(own, indexed_size + ([len(enlarged)] if enlarged else [])):
            steps = 0  # the indexed or enlarged file wins: adapting would only cost time
        if original is not None and _adapting_might_win(len(enlarged), indexed_size + [own]):
            small, rows, columns, original_steps, outer_extra = original
            share = small.size / (small.size + pixels.size) if steps else 1.0
            inner_budget = share * _budget_left(time_budget, started)
            if inner_budget > 0:
                inner = self.compress(small, original_steps, adaptation=adaptation, progress=progress, strip=True,
                                      time_budget=inner_budget, fast=fast)
                enlarged = min(enlarged, _enlarged_file(pixels, colour, rows, columns, inner, outer_extra), key=len)
        adapt_budget = None
        if steps:
            from .lora.fit import adapt_to_image  # torch and peft are loaded (or loading) by now, inside the budget

            if time_budget is not None:  # what is left, keeping time to code the image again
                adapt_budget = _budget_left(time_budget, started) - coding_seconds
                steps = steps if adapt_budget > 0 else 0
        if steps:
            guide = groups["colour"].base.reconstruction if m.base_layer else None
            result = adapt_to_image(model, coded, coded_colour, steps, adaptation, progress, guide=guide,
                                    latents=latents["colour"], time_budget=adapt_budget)
            adapted = self._recode(model, planes, latents, groups, result.deltas, fmt, progress)
            # Keep the adaptation only where it makes the file smaller.
            if sections.file_size(adapted, result.payload) < sections.file_size(groups, None):
                groups, adapters = adapted, result.payload
        learned = sections.pack(self._header(model, m, pixels, colour, fmt), groups, adapters, extra)
        if fallback:  # never worse than the stored pixels (nor the indexed or enlarged file, if tried)
            return min((f for f in (learned, few_colours, enlarged, stored) if f is not None), key=len)
        return learned

    def _deep(self, pixels: np.ndarray, colour: str, extra: dict[bytes, bytes], m: Mode, steps: int,
              **options) -> bytes:
        """Mode deep: a 16-bit image as its high image's .lcz file, coded in mode ``m``
        (learned for mode deep itself), and the code of its low bits
        (:mod:`lora_codec.coding.depth`)."""
        if pixels.dtype != np.uint16:
            raise ValueError("mode deep codes 16-bit images; this one has 8 bits per sample")
        started = time.monotonic()
        layout, high, low = depth.split(pixels)
        inner = MODES["learned"] if m.deep else m
        # The low bits are coded first, so that a time budget bounds the whole file: the
        # high image gets what is left of it (no adaptation if nothing is).
        low_code = b"" if low is None else depth.encode_low(high, low, layout.low_bits, threads=self.threads)
        if options.get("time_budget") is not None:
            left = _budget_left(options["time_budget"], started)
            options["time_budget"] = left if left > 0 else None
            steps = steps if left > 0 else 0
        high_file = self.compress(high, steps, mode=inner.name, strip=True, **options)
        header = Header(width=pixels.shape[1], height=pixels.shape[0], colour=colour, mode=container.DEEP_MODE,
                        model_id=bytes(8), pixel_crc=container.pixel_crc(pixels), bit_depth=depth.BIT_DEPTH)
        return container.pack(container.Container(header, {depth.TAG: depth.pack(layout, high_file, low_code),
                                                           **extra}))

    @staticmethod
    def _stored(pixels: np.ndarray, colour: str, extra: dict[bytes, bytes]) -> bytes:
        """The file of mode ``stored``: the pixels, zlib-compressed (never more than a few
        bytes over their raw size)."""
        header = Header(width=pixels.shape[1], height=pixels.shape[0], colour=colour, mode="stored",
                        model_id=bytes(8), pixel_crc=container.pixel_crc(pixels))
        raw = zlib.compress(np.ascontiguousarray(pixels).tobytes(), 9)
        return container.pack(container.Container(header, {b"RAWP": raw, **extra}))

    @staticmethod
    def _indexed(pixels: np.ndarray, colour: str, extra: dict[bytes, bytes]) -> bytes | None:
        """The file of mode ``indexed`` (None for images of too many colours)."""
        fmt = StreamFormat.of()  # as the version written codes them
        coded = indexed.encode(pixels, fmt)
        if coded is None:
            return None
        header = Header(width=pixels.shape[1], height=pixels.shape[0], colour=colour, mode="indexed",
                        model_id=bytes(8), pixel_crc=container.pixel_crc(pixels))
        return container.pack(container.Container(header, {**coded, **extra}))

    @staticmethod
    def metadata(data) -> dict:
        """The metadata stored in a .lcz file (bytes or a path); empty if there is none."""
        c = container.unpack(read_lcz(data))
        if meta_section.TAG not in c.sections:
            return {}
        try:
            return meta_section.unpack(c.sections[meta_section.TAG])
        except meta_section.MetadataError as exc:
            raise DecodeError(f"corrupt .lcz file: {exc}") from None

    def encode_adapted(self, image, adapters, *, mode: str = "learned", quality: int | str | None = None,
                       fast: bool = False) -> bytes:
        """The file with these adapters (a :class:`lora_codec.lora.fit.AdaptResult`), kept
        even when they do not pay (for tests and experiments; :meth:`compress` is the
        normal entry point)."""
        m = mode_named(mode)
        _check_quality(quality, m)
        fmt = _stream_format(fast)
        pixels, colour = read_image(image)
        if pixels.dtype != np.uint8:
            raise ValueError("adapters are fitted to 8-bit images; compress() codes 16-bit ones")
        model = self.model_for(m)
        fmt, _ = self._matched_or_not(pixels, fmt)
        plan = self._plan(model, m, pixels, colour, quality, fmt)
        extra = {transforms.TAG: transforms.pack(plan.chosen)} if plan.chosen else {}
        adapted = self._recode(model, plan.planes, plan.latents, plan.groups, adapters.deltas, fmt)
        return sections.pack(self._header(model, m, pixels, colour, fmt), adapted, adapters.payload, extra)

    def _plan(self, model: LoadedModel, m: Mode, pixels: np.ndarray, colour: str, quality: int | str | None,
              fmt: StreamFormat, palette: bool = True, progress=None) -> "_Plan":
        """The image's groups coded with the base weights, under the transforms that make
        them smallest: with a palette (if ``palette`` allows it), the image is also coded
        without it, and with channel palettes also without them (an image of
        :data:`CHANNEL_PALETTE_SAMPLE_FROM` rows or more settles that last choice on a band,
        :meth:`_smaller_on_a_band`). Each candidate runs the float encoder once, and its
        latents are kept for what follows; each coding is a ``progress`` task
        (:func:`_stripe_task`)."""
        weights = CodingWeights.of(model)
        candidates = [transforms.choose(pixels, colour, palette=palette)]
        if candidates[0][2].palette is not None:
            candidates.append(transforms.choose(pixels, colour, palette=False))
        if candidates[-1][2].levels:
            without = transforms.choose(pixels, colour, palette=False, levels=False)
            if pixels.shape[0] >= CHANNEL_PALETTE_SAMPLE_FROM:
                candidates[-1] = self._smaller_on_a_band(model, weights, m, [candidates[-1], without], quality, fmt)
            else:
                candidates.append(without)
        best = None
        for coded, coded_colour, chosen in candidates:
            planes = {g: np.ascontiguousarray(coded[:, :, list(idx)]) for g, idx in group_planes(coded_colour)}
            latents = {g: group_latents(model, p) for g, p in planes.items()}
            with _stripe_task(progress, "code", fmt, coded.shape[0], len(planes)) as on_stripe:
                groups = {g: self._code_group(model, weights, m, planes[g], latents[g], quality, fmt, on_stripe)
                          for g in planes}
                for g in planes:
                    latents[g], groups[g] = self._smaller_without_z(model, weights, planes[g], latents[g], groups[g],
                                                                    fmt, on_stripe)
            plan = _Plan(coded, coded_colour, chosen, planes, latents, groups)
            if best is None or plan.size < best.size:
                best = plan
        return best

    def _smaller_on_a_band(self, model: LoadedModel, weights: CodingWeights, m: Mode, candidates: list,
                           quality: int | str | None, fmt: StreamFormat):
        """The candidate (``transforms.choose``'s triple) whose coding of a band of
        :data:`CHANNEL_PALETTE_SAMPLE_ROWS` rows across the image's middle, transforms
        included, is the smallest."""
        height = candidates[0][0].shape[0]
        top = max(0, (height - CHANNEL_PALETTE_SAMPLE_ROWS) // 2 // fmt.stripe_rows * fmt.stripe_rows)

        def band_size(candidate) -> int:
            coded, coded_colour, chosen = candidate
            band, groups = coded[top:top + CHANNEL_PALETTE_SAMPLE_ROWS], {}
            for g, idx in group_planes(coded_colour):
                planes = np.ascontiguousarray(band[:, :, list(idx)])
                latents = group_latents(model, planes)
                code = self._code_group(model, weights, m, planes, latents, quality, fmt)
                groups[g] = self._smaller_without_z(model, weights, planes, latents, code, fmt)[1]
            return sections.file_size(groups, None) + (len(transforms.pack(chosen)) if chosen else 0)

        return min(candidates, key=band_size)

    def _smaller_without_z(self, model: LoadedModel, weights: CodingWeights, planes: np.ndarray,
                           latents: list[np.ndarray], code: GroupCode, fmt: StreamFormat,
                           on_stripe=None) -> tuple[list[np.ndarray], GroupCode]:
        """(latents, code) of a group, or all-zero latents and the group coded with them
        (same base layer) where its z costs more than :data:`LATENT_RETRY_SHARE` of the
        group over them and that coding is smaller."""
        zeros = zero_latents(latents)
        if len(code.z) - len(code_latents(model, zeros)) <= LATENT_RETRY_SHARE * code.size:
            return latents, code
        if on_stripe is not None:
            on_stripe.coding("z = 0", again=True)
        guide = None if code.base is None else code.base.reconstruction
        other = GroupCode(*encode_group(model, weights, planes, zeros, guide, threads=self.threads, fmt=fmt,
                                        on_stripe=on_stripe), code.base)
        return (zeros, other) if other.size < code.size else (latents, code)

    def _plan_layout(self, model: LoadedModel, m: Mode, pixels: np.ndarray, colour: str,
                     quality: int | str | None, fmt: StreamFormat, palette: bool,
                     progress=None) -> tuple["_Plan", StreamFormat]:
        """:meth:`_plan` in stripes, without the match model where the image has too few
        repeats for it (:meth:`_matched_or_not`), and where copies lie across stripes, its
        groups also coded in one stripe (same transforms and latents), kept when
        :data:`stripe_layout.ONE_STRIPE_GAIN` smaller; and its format."""
        fmt, shares = self._matched_or_not(pixels, fmt)
        plan = self._plan(model, m, pixels, colour, quality, fmt, palette=palette, progress=progress)
        if m.base_layer or not fmt.matched or shares.across < stripe_layout.TRY_ONE_STRIPE:
            return plan, fmt
        single, weights = fmt.in_one_stripe(), CodingWeights.of(model)
        with _stripe_task(progress, "code", single, pixels.shape[0], len(plan.planes)) as on_stripe:
            groups = {g: self._code_group(model, weights, m, plan.planes[g], plan.latents[g], quality, single,
                                          on_stripe) for g in plan.planes}
        other = _Plan(plan.coded, plan.coded_colour, plan.chosen, plan.planes, plan.latents, groups)
        if other.size < (1 - stripe_layout.ONE_STRIPE_GAIN) * plan.size:
            return other, single
        return plan, fmt

    @staticmethod
    def _matched_or_not(pixels: np.ndarray, fmt: StreamFormat) -> tuple[StreamFormat, stripe_layout.RepeatShares]:
        """``fmt`` without the bit refinement's match model when fewer than
        :data:`stripe_layout.MATCH_MODEL_FROM` of the pixels repeat an earlier one (the
        no-match flag of version 16: photographs decode about 8 % faster), and the image's
        repeat shares (none measured when ``fmt`` has no match model)."""
        if not fmt.matched:
            return fmt, stripe_layout.RepeatShares(0.0, 0.0)
        shares = stripe_layout.repeat_shares(pixels, fmt.stripes(pixels.shape[0]))
        return (fmt if shares.anywhere >= stripe_layout.MATCH_MODEL_FROM else fmt.without_match()), shares

    @staticmethod
    def _header(model: LoadedModel, m: Mode, pixels: np.ndarray, colour: str, fmt: StreamFormat) -> Header:
        return Header(width=pixels.shape[1], height=pixels.shape[0], colour=colour, mode=m.name,
                      model_id=model.model_id, pixel_crc=container.pixel_crc(pixels),
                      flags=fmt.header_flags)

    def _recode(self, model: LoadedModel, planes: dict, latents: dict, groups: dict[str, GroupCode],
                deltas: dict, fmt: StreamFormat, progress=None) -> dict[str, GroupCode]:
        """The groups coded again with adapted weights (same latents, same base layers)."""
        weights = CodingWeights.of(model, deltas)
        out = {}
        height = next(iter(planes.values())).shape[0]
        with _stripe_task(progress, "code", fmt, height, len(groups)) as on_stripe:
            for g, code in groups.items():
                guide = None if code.base is None else code.base.reconstruction
                out[g] = GroupCode(*encode_group(model, weights, planes[g], latents[g], guide, threads=self.threads,
                                                 fmt=fmt, on_stripe=on_stripe), code.base)
        return out

    def _code_group(self, model: LoadedModel, weights: CodingWeights, m: Mode, planes: np.ndarray,
                    latents: list[np.ndarray], quality: int | str | None, fmt: StreamFormat,
                    on_stripe=None) -> GroupCode:
        """One group coded in mode ``m``; a base-layer mode takes the given quality, the
        classifier's (None) or the best of a search ("search")."""
        def with_quality(q: int) -> GroupCode:
            base = base_layer.encode(planes, q)
            return GroupCode(*encode_group(model, weights, planes, latents, base.reconstruction,
                                           threads=self.threads, fmt=fmt, on_stripe=on_stripe), base)

        if not m.base_layer:
            return GroupCode(*encode_group(model, weights, planes, latents, threads=self.threads, fmt=fmt,
                                           on_stripe=on_stripe))
        if quality is None:
            quality = load_quality_classifier().predict(planes)
        if quality != "search":
            return with_quality(quality)
        # Descend over the mode's qualities from the middle one to a local minimum of the size.
        tried: dict[int, GroupCode] = {}

        def cost(k: int) -> int:
            if k not in tried:
                if on_stripe is not None:
                    on_stripe.coding(f"quality {m.qualities[k]}", again=bool(tried))
                tried[k] = with_quality(m.qualities[k])
            return tried[k].size

        k = len(m.qualities) // 2
        while True:
            moves = [j for j in (k - 1, k + 1) if 0 <= j < len(m.qualities)]
            best = min(moves, key=cost)
            if cost(best) >= cost(k):
                return tried[k]
            k = best

    def decompress(self, data, *, max_pixels: int = DEFAULT_MAX_PIXELS, progress=None) -> np.ndarray:
        """The exact uint8 pixels (uint16 for a 16-bit image) of a .lcz file (bytes or a
        path): (H, W) for a grey image, as Pillow and imagecodecs give one, so that a grey
        (H, W) array comes back as it went in; (H, W, C) for grey + alpha, RGB and RGBA.
        Files of more than ``max_pixels`` pixels are refused before any decoding. A
        ``progress`` (a rich ``Progress``) shows a task that advances a stripe at a time.

        >>> grey = np.arange(6 * 5, dtype=np.uint8).reshape(6, 5)
        >>> Codec().decompress(Codec().compress(grey)).shape
        (6, 5)
        """
        pixels = self.decompress_planes(data, max_pixels=max_pixels, progress=progress)
        return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels

    def decompress_planes(self, data, *, max_pixels: int = DEFAULT_MAX_PIXELS, progress=None) -> np.ndarray:
        """:meth:`decompress`, but always (H, W, C): a grey image as (H, W, 1)."""
        max_pixels = check_max_pixels(max_pixels)
        c = container.unpack(read_lcz(data))
        header = c.header
        if header.width * header.height > max_pixels:
            raise DecodeError(f"the file holds {header.width}x{header.height} = {header.width * header.height} "
                              f"pixels, over the limit of {max_pixels} (raise it with --max-pixels / max_pixels= "
                              "if you trust the file)")
        fmt = StreamFormat.of(header.version, header.flags)
        framed = fmt.framed
        m = MODES[header.mode]
        if m.stored:
            return self._unstore(c)
        if m.indexed:
            return self._unindex(c)
        if m.enlarged:
            return self._unenlarge(c, max_pixels, progress)
        if m.deep:
            return self._undeep(c, max_pixels, progress)
        try:
            chosen = (transforms.unpack(c.sections[transforms.TAG], header.colour) if transforms.TAG in c.sections
                      else transforms.Transforms())
        except transforms.TransformError as exc:
            raise DecodeError(f"corrupt .lcz file: {exc}") from None
        coded_colour = transforms.coded_colour(header.colour, chosen)
        model = find_model(header.model_id, [x for x in self._given.values() if x is not None] + self._extra)
        if not fmt.fits_tile(model.cfg.tile):
            raise DecodeError(f"cannot decode this .lcz file: its model's tiles ({model.cfg.tile} rows) do not "
                              f"divide the stripes of format version {header.version} ({fmt.stripe_rows} rows)")
        if not model.codes(m, fmt):
            kind = "an rc-mode" if model.guided else "a learned-mode"
            raise DecodeError(f"corrupt .lcz file: its mode is {m.name} (version {header.version}), but its model "
                              f"{header.model_id.hex()} is {kind} model")
        deltas = None
        if header.flags & container.FLAG_ADAPTERS:
            from .lora.payload import decode_adapter_payload

            if sections.ADAPTER_TAG not in c.sections:
                raise FormatError("the adapter flag is set but the adapter section is missing")
            try:
                deltas = decode_adapter_payload(model, c.sections[sections.ADAPTER_TAG], framed, fmt.adapter_payload)
            except ValueError as exc:
                raise DecodeError(f"corrupt .lcz file: {exc}") from None
        elif sections.ADAPTER_TAG in c.sections:
            raise FormatError("an adapter section is present but the adapter flag is not set")
        weights = CodingWeights.of(model, deltas)
        out = np.zeros((header.height, header.width, container.COLOUR_TYPES[coded_colour][1]), dtype=np.uint8)
        groups = group_planes(coded_colour)
        with _stripe_task(progress, "decode", fmt, header.height, len(groups)) as on_stripe:
            for group, idx in groups:
                out[:, :, list(idx)] = self._decode_group(c, fmt, m, model, weights, group, idx, on_stripe)
        try:
            out = transforms.invert(out, chosen)
        except transforms.TransformError as exc:
            raise DecodeError(f"corrupt .lcz file: {exc}") from None
        return _checked(out, header)

    def _decode_group(self, c: container.Container, fmt: StreamFormat, m: Mode, model: LoadedModel,
                      weights: CodingWeights, group: str, idx: tuple[int, ...], on_stripe) -> np.ndarray:
        """One colour group's planes of a learned or rc file, checked against its sections."""
        header, framed = c.header, fmt.framed
        ztag, ptag = sections.SECTION_TAGS[group]
        needed = (ztag, ptag) + ((sections.BASE_LAYER_TAGS[group],) if m.base_layer else ())
        if any(tag not in c.sections for tag in needed):
            raise FormatError(f"the {group} sections are missing")
        if framed and pixel_capacity_bits(c.sections[ptag], header.height, fmt) < (
                header.width * header.height * len(idx) * entropy.MIN_SUBPIXEL_BITS):
            raise DecodeError(f"corrupt .lcz file: the {group} pixel section is too short for a "
                              f"{header.width}x{header.height} image")
        guide = None
        if m.base_layer:
            try:
                guide = base_layer.unpack(c.sections[sections.BASE_LAYER_TAGS[group]],
                                          (header.height, header.width, len(idx)),
                                          fmt.base_layer_payload).reconstruction
            except BaseLayerError as exc:
                raise DecodeError(f"cannot decode this .lcz file exactly: {exc}") from None
        try:
            return decode_group(model, weights, c.sections[ztag], c.sections[ptag],
                                header.height, header.width, len(idx), guide, fmt,
                                threads=self.threads, on_stripe=on_stripe)
        except entropy.CorruptStreamError as exc:
            raise DecodeError(f"corrupt .lcz file: {exc}") from None

    def _unenlarge(self, c: container.Container, max_pixels: int, progress=None) -> np.ndarray:
        """Mode upscaled: the smaller original's file, decoded and enlarged."""
        header = c.header
        if enlargement.TAG not in c.sections:
            raise FormatError("the enlargement section is missing")
        try:
            rows, columns, inner = enlargement.unpack(c.sections[enlargement.TAG], header.height, header.width)
            inner_header = container.unpack(inner).header
        except (enlargement.EnlargementError, FormatError) as exc:
            raise DecodeError(f"corrupt .lcz file: its enlarged image: {exc}") from None
        shape = (int(np.count_nonzero(~rows)), int(np.count_nonzero(~columns)))
        if (inner_header.mode == "upscaled" or inner_header.colour != header.colour
                or (inner_header.height, inner_header.width) != shape):
            raise DecodeError(f"corrupt .lcz file: its enlarged image ({inner_header.width}x{inner_header.height} "
                              f"{inner_header.colour}, mode {inner_header.mode}) is not the {shape[1]}x{shape[0]} "
                              f"{header.colour} original of its {header.width}x{header.height} image")
        small = self.decompress_planes(inner, max_pixels=max_pixels, progress=progress)
        return _checked(enlargement.enlarge(small, rows, columns), header)

    def _undeep(self, c: container.Container, max_pixels: int, progress=None) -> np.ndarray:
        """Mode deep: the high image decoded, its low bits under it, joined into 16-bit samples."""
        header = c.header
        if depth.TAG not in c.sections:
            raise FormatError("the 16-bit section is missing")
        try:
            layout, high_file, low_code = depth.unpack(c.sections[depth.TAG])
            h = container.unpack(high_file).header
        except (depth.DepthError, FormatError) as exc:
            raise DecodeError(f"corrupt .lcz file: its 16-bit image: {exc}") from None
        if MODES[h.mode].deep or h.colour != header.colour or (h.height, h.width) != (header.height, header.width):
            raise DecodeError(f"corrupt .lcz file: its 16-bit image's high part ({h.width}x{h.height} {h.colour}, "
                              f"mode {h.mode}) is not an 8-bit {header.width}x{header.height} {header.colour} image")
        high = self.decompress_planes(high_file, max_pixels=max_pixels, progress=progress)
        try:
            low = (depth.decode_low(low_code, high, layout.low_bits, version=header.version, threads=self.threads)
                   if layout.low_bits else None)
            return _checked(depth.join(layout, high, low), header)
        except depth.DepthError as exc:
            raise DecodeError(f"corrupt .lcz file: its 16-bit image: {exc}") from None

    @staticmethod
    def _unindex(c: container.Container) -> np.ndarray:
        header = c.header
        try:
            fmt = StreamFormat.of(header.version, header.flags)
            out = indexed.decode(c.sections, header.height, header.width, header.planes, fmt)
        except (indexed.PaletteError, entropy.CorruptStreamError) as exc:
            raise DecodeError(f"corrupt .lcz file: {exc}") from None
        return _checked(out, header)

    @staticmethod
    def _unstore(c: container.Container) -> np.ndarray:
        header = c.header
        if b"RAWP" not in c.sections:
            raise FormatError("the stored pixels are missing")
        size = header.width * header.height * header.planes
        try:
            inflater = zlib.decompressobj()
            raw = inflater.decompress(c.sections[b"RAWP"], size + 1)
        except zlib.error as exc:
            raise DecodeError(f"corrupt .lcz file: {exc}") from None
        if len(raw) != size or not inflater.eof:
            raise DecodeError("corrupt .lcz file: the stored pixels have the wrong size")
        return _checked(np.frombuffer(raw, np.uint8).reshape(header.height, header.width, header.planes).copy(),
                        header)


def compress(image, steps: int = 0, **kwargs) -> bytes:
    """Compress with the shipped default model. See :meth:`Codec.compress`."""
    return Codec().compress(image, steps=steps, **kwargs)


def decompress(data, **kwargs) -> np.ndarray:
    """Decompress .lcz bytes or a .lcz file with the shipped models: (H, W) for a grey image,
    (H, W, C) otherwise. See :meth:`Codec.decompress`."""
    return Codec().decompress(data, **kwargs)


def read_metadata(data) -> dict:
    """The metadata kept in a .lcz file. See :meth:`Codec.metadata`."""
    return Codec.metadata(data)
