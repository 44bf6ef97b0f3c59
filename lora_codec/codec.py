"""Compressing and decompressing images: tiles, latents, pixel streams and the container.

An image is split into colour groups: the colour planes (L or RGB) and, if present, the
alpha plane, each coded as its own group. For every group:

1. the image is cut into tiles of at most ``cfg.tile`` pixels a side; the float UNet
   encoder turns each tile into an integer latent z, coded with the prior's CDF tables;
2. the exact integer decoder turns each tile's z into per-pixel features;
3. the native causal predictor codes the pixels, band of tiles by band of tiles.

Only step 1's encoder is float, and it runs only when compressing: decoding needs z,
the integer decoder and the native predictor, which are exact.

**rc mode** (``mode="rc"``) first codes each group with HEVC (:mod:`lora_codec.base_layer`)
at the quality that makes the file smallest, then codes the exact pixels with the rc
model, which adds features of the lossy reconstruction and predicts each pixel's residual
against it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import torch

from . import base_layer, bitstream, entropy
from .base_layer import BaseLayer, BaseLayerError
from .bitstream import Container, FormatError, Header
from .images import DEFAULT_MAX_PIXELS, check_max_pixels, read_image, regular_file
from .models import exact
from .models.latent_prior import TABLE_PRECISION, Z_MIN
from .models.registry import (DEFAULT_MODEL, DEFAULT_RC_MODEL, LoadedModel, file_model_id, load_default_model,
                              load_default_rc_model, resolve_model)

SECTION_TAGS = {
    "colour": (b"ZCOL", b"PCOL"),
    "alpha": (b"ZALP", b"PALP"),
}
BASE_LAYER_TAGS = {"colour": b"HEVC", "alpha": b"HALP"}
ADAPTER_TAG = b"LORA"
MODES = tuple(bitstream.MODES)  # "learned", "rc": the container defines the modes
# HEVC qualities that rc mode searches, low to high (a descent from the middle one).
RC_QUALITIES = (10, 20, 30, 40, 50, 60, 70)


class DecodeError(ValueError):
    """A file that cannot be decoded to the image it was made from."""


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, Integral):
        raise TypeError(f"steps must be an integer, got {type(steps).__name__}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    return int(steps)


def read_lcz(data) -> bytes:
    """The bytes of a .lcz file given as bytes-like data or as a path to a regular file."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        return regular_file(data).read_bytes()
    raise TypeError(f"data must be the bytes of a .lcz file or a path to one, got {type(data).__name__}")


@dataclass(frozen=True)
class Tile:
    y0: int
    y1: int
    x0: int
    x1: int


def tile_grid(height: int, width: int, tile: int) -> list[list[Tile]]:
    """Bands (rows) of tiles of at most ``tile`` x ``tile`` pixels covering the image."""
    return [
        [Tile(y, min(height, y + tile), x, min(width, x + tile)) for x in range(0, width, tile)]
        for y in range(0, height, tile)
    ]


@dataclass
class CodingWeights:
    """The integer weights that the exact path codes with (base model, maybe adapted)."""

    predictor: entropy.PredictorWeights
    decoder: exact.DecoderIntegers
    guide: exact.GuideIntegers | None = None

    @classmethod
    def of(cls, model: LoadedModel, deltas: dict | None = None) -> "CodingWeights":
        if not deltas:
            return cls(model.predictor_weights, model.decoder_integers, model.guide_integers)
        pred = {k[len("predictor."):]: v for k, v in deltas.items() if k.startswith("predictor.")}
        dec = {k[len("decoder."):]: v for k, v in deltas.items() if k.startswith("decoder.")}
        return cls(exact.predictor_weights(model.model.predictor, pred),
                   exact.decoder_integers(model.model.decoder, dec), model.guide_integers)


@dataclass
class CodingStats:
    """Sizes of one compressed file, for ``info`` and reports."""

    sections: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _group_planes(colour: str) -> list[tuple[str, list[int]]]:
    return {
        "L": [("colour", [0])],
        "LA": [("colour", [0]), ("alpha", [1])],
        "RGB": [("colour", [0, 1, 2])],
        "RGBA": [("colour", [0, 1, 2]), ("alpha", [3])],
    }[colour]


def latent_shape(model: LoadedModel, tile: Tile) -> tuple[int, int, int, int]:
    """(levels, channels, rows, cols) of a tile's latent."""
    h, w = tile.y1 - tile.y0, tile.x1 - tile.x0
    levels = model.model.levels(h, w)
    m = 1 << levels
    return levels, model.cfg.latent_channels, -(-h // m), -(-w // m)


def encode_latents(model: LoadedModel, planes: np.ndarray, grid: list[list[Tile]]) -> list[np.ndarray]:
    """Float encoder: one integer latent (C, h, w) per tile, in band order."""
    latents = []
    with torch.no_grad():
        for band in grid:
            for t in band:
                x = torch.from_numpy(planes[t.y0 : t.y1, t.x0 : t.x1].transpose(2, 0, 1).copy())
                z, _ = model.model.analyse(x.float()[None])
                latents.append(z[0].to(torch.int64).numpy())
    return latents


def _latent_indexes(shapes: list[tuple[int, int, int]]) -> np.ndarray:
    return np.concatenate([np.repeat(np.arange(c, dtype=np.int32), h * w) for c, h, w in shapes])


def code_latents(model: LoadedModel, latents: list[np.ndarray]) -> bytes:
    symbols = np.concatenate([z.reshape(-1) for z in latents]) - Z_MIN
    indexes = _latent_indexes([z.shape for z in latents])
    return entropy.encode_with_tables(symbols.astype(np.int32), indexes, model.latent_cdfs, TABLE_PRECISION)


def decode_latents(model: LoadedModel, data: bytes, grid: list[list[Tile]], framed: bool = True) -> list[np.ndarray]:
    shapes = [latent_shape(model, t)[1:] for band in grid for t in band]
    symbols = entropy.decode_with_tables(data, _latent_indexes(shapes), model.latent_cdfs, TABLE_PRECISION,
                                         framed=framed)
    out, pos = [], 0
    for c, h, w in shapes:
        out.append((symbols[pos : pos + c * h * w].astype(np.int64) + Z_MIN).reshape(c, h, w))
        pos += c * h * w
    return out


def _band_features(model: LoadedModel, weights: CodingWeights, band: list[Tile],
                   latents: list[np.ndarray], width: int, guide: np.ndarray | None = None) -> np.ndarray:
    rows = band[0].y1 - band[0].y0
    feats = np.zeros((rows, width, model.cfg.features), dtype=np.int16)
    for t, z in zip(band, latents):
        levels = latent_shape(model, t)[0]
        feats[:, t.x0 : t.x1] = exact.decode_features(weights.decoder, z, levels, rows, t.x1 - t.x0)
    if guide is not None:
        feats = exact.combine_features(feats, exact.guide_features(weights.guide, guide, band[0].y0, band[0].y1))
    return feats


def _check_guide(model: LoadedModel, guide: np.ndarray | None, shape: tuple) -> None:
    if model.model.guided != (guide is not None):
        raise ValueError("an rc model codes with a base-layer reconstruction, a base model without one")
    if guide is not None and guide.shape != shape:
        raise ValueError(f"the reconstruction is {guide.shape}, the planes {shape}")


def encode_group(model: LoadedModel, weights: CodingWeights, planes: np.ndarray,
                 latents: list[np.ndarray] | None = None, guide: np.ndarray | None = None) -> tuple[bytes, bytes]:
    """(latent stream, pixel stream) of one colour group (H, W, P) uint8; ``guide`` is the
    base layer's reconstruction (rc models only)."""
    _check_guide(model, guide, planes.shape)
    height, width, _ = planes.shape
    grid = tile_grid(height, width, model.cfg.tile)
    if latents is None:
        latents = encode_latents(model, planes, grid)
    z_bytes = code_latents(model, latents)
    errors = np.zeros(planes.shape, dtype=np.int16)
    encoder = entropy.PixelEncoder(weights.predictor)
    pos = 0
    for band in grid:
        feats = _band_features(model, weights, band, latents[pos : pos + len(band)], width, guide)
        pos += len(band)
        encoder.code_rows(planes, errors, feats, band[0].y0, band[0].y0, band[0].y1, guide)
    return z_bytes, encoder.finish()


def decode_group(model: LoadedModel, weights: CodingWeights, z_bytes: bytes, pixel_bytes: bytes,
                 height: int, width: int, planes: int, guide: np.ndarray | None = None,
                 framed: bool = True) -> np.ndarray:
    """The (H, W, P) pixels of one colour group. A corrupt or exhausted stream stops the
    decoding within a row and raises :class:`entropy.CorruptStreamError`; ``framed=False``
    reads the unframed streams of format v1."""
    _check_guide(model, guide, (height, width, planes))
    grid = tile_grid(height, width, model.cfg.tile)
    latents = decode_latents(model, z_bytes, grid, framed)
    out = np.zeros((height, width, planes), dtype=np.uint8)
    errors = np.zeros(out.shape, dtype=np.int16)
    decoder = entropy.PixelDecoder(weights.predictor, pixel_bytes, framed)
    pos = 0
    for band in grid:
        feats = _band_features(model, weights, band, latents[pos : pos + len(band)], width, guide)
        pos += len(band)
        decoder.code_rows(out, errors, feats, band[0].y0, band[0].y0, band[0].y1, guide)
        decoder.check()
    return out


@dataclass
class GroupCode:
    """The coded sections of one colour group."""

    z: bytes
    pixels: bytes
    base: BaseLayer | None = None

    @property
    def size(self) -> int:
        return len(self.z) + len(self.pixels) + (self.base.packed_size if self.base else 0)


class Codec:
    """Compresses and decompresses with one base model (the shipped default if None) and,
    for rc mode, one rc model (the shipped one if None, loaded when first needed)."""

    def __init__(self, model: LoadedModel | None = None, rc_model: LoadedModel | None = None) -> None:
        self.model = model or load_default_model()
        self._rc_model = rc_model

    @property
    def rc_model(self) -> LoadedModel:
        if self._rc_model is None:
            self._rc_model = load_default_rc_model()
        return self._rc_model

    def compress(self, image, steps: int = 0, *, mode: str = "learned", quality: int | None = None,
                 adaptation=None, progress=None, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
        """Compress a path, PIL image or (H, W[, C]) uint8 array to .lcz bytes.

        ``steps`` > 0 fine-tunes LoRA adapters on the image first (``adaptation`` holds
        their options, see :mod:`lora_codec.lora`). ``mode="rc"`` codes an HEVC base layer
        plus the residual; its ``quality`` is searched per image unless given. Images of
        more than ``max_pixels`` pixels are refused.
        """
        steps = _check_steps(steps)
        if not isinstance(mode, str) or mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if quality is not None and (isinstance(quality, bool) or not isinstance(quality, Integral)):
            raise TypeError(f"quality must be an integer or None, got {type(quality).__name__}")
        if quality is not None and (mode != "rc" or not 1 <= quality <= 100):
            raise ValueError("quality applies to rc mode and must be in [1, 100]")
        pixels, colour = read_image(image, max_pixels)
        model = self.model if mode == "learned" else self.rc_model
        groups = self._plan_groups(model, pixels, colour, mode, quality)
        base = self._pack(model, pixels, colour, mode, groups, None)
        if steps == 0:
            return base
        from .lora.adapt import adapt_to_image

        guide = groups["colour"].base.reconstruction if mode == "rc" else None
        result = adapt_to_image(model, pixels, colour, steps, adaptation, progress, guide=guide)
        adapted = self._pack(model, pixels, colour, mode, self._recode(model, pixels, colour, groups, result.deltas),
                             result.payload)
        # Keep the adaptation only where it makes the file smaller.
        return adapted if len(adapted) < len(base) else base

    def encode_adapted(self, image, adapters, *, mode: str = "learned", quality: int | None = None) -> bytes:
        """The file with these adapters (an ``AdaptResult``), kept even when they do not pay
        (for tests and experiments; :meth:`compress` is the normal entry point)."""
        pixels, colour = read_image(image)
        model = self.model if mode == "learned" else self.rc_model
        groups = self._plan_groups(model, pixels, colour, mode, quality)
        return self._pack(model, pixels, colour, mode, self._recode(model, pixels, colour, groups, adapters.deltas),
                          adapters.payload)

    def _recode(self, model: LoadedModel, pixels: np.ndarray, colour: str, groups: dict[str, "GroupCode"],
                deltas: dict) -> dict[str, "GroupCode"]:
        """The groups coded again with adapted weights (same base layers)."""
        weights = CodingWeights.of(model, deltas)
        return {name: self._code_group(model, weights, pixels[:, :, idx], groups[name].base)
                for name, idx in _group_planes(colour)}

    @staticmethod
    def _code_group(model: LoadedModel, weights: CodingWeights, planes: np.ndarray,
                    base: BaseLayer | None) -> GroupCode:
        planes = np.ascontiguousarray(planes)
        guide = None if base is None else base.reconstruction
        z, pix = encode_group(model, weights, planes, guide=guide)
        return GroupCode(z, pix, base)

    def _plan_groups(self, model: LoadedModel, pixels: np.ndarray, colour: str, mode: str,
                     quality: int | None) -> dict[str, GroupCode]:
        weights = CodingWeights.of(model)
        out = {}
        for group, idx in _group_planes(colour):
            planes = np.ascontiguousarray(pixels[:, :, idx])
            if mode == "learned":
                out[group] = self._code_group(model, weights, planes, None)
            elif quality is not None:
                out[group] = self._code_group(model, weights, planes, base_layer.encode(planes, quality))
            else:
                out[group] = self._search_quality(model, weights, planes)
        return out

    def _search_quality(self, model: LoadedModel, weights: CodingWeights, planes: np.ndarray) -> GroupCode:
        """Descend over :data:`RC_QUALITIES` from the middle to a local minimum of the size."""
        tried: dict[int, GroupCode] = {}

        def cost(k: int) -> int:
            if k not in tried:
                tried[k] = self._code_group(model, weights, planes, base_layer.encode(planes, RC_QUALITIES[k]))
            return tried[k].size

        k = len(RC_QUALITIES) // 2
        while True:
            moves = [j for j in (k - 1, k + 1) if 0 <= j < len(RC_QUALITIES)]
            best = min(moves, key=cost)
            if cost(best) >= cost(k):
                return tried[k]
            k = best

    def _pack(self, model: LoadedModel, pixels: np.ndarray, colour: str, mode: str,
              groups: dict[str, GroupCode], payload: bytes | None) -> bytes:
        sections: dict[bytes, bytes] = {}
        flags = 0
        if payload is not None:
            sections[ADAPTER_TAG] = payload
            flags |= bitstream.FLAG_ADAPTERS
        for group, code in groups.items():
            if code.base is not None:
                sections[BASE_LAYER_TAGS[group]] = code.base.pack()
            ztag, ptag = SECTION_TAGS[group]
            sections[ztag] = code.z
            sections[ptag] = code.pixels
        header = Header(width=pixels.shape[1], height=pixels.shape[0], colour=colour, mode=mode,
                        model_id=model.model_id, pixel_crc=bitstream.pixel_crc(pixels), flags=flags)
        return bitstream.pack(Container(header, sections))

    def decompress(self, data, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
        """The exact (H, W, C) uint8 pixels of a .lcz file (bytes or a path). Files of more
        than ``max_pixels`` pixels are refused before any decoding."""
        max_pixels = check_max_pixels(max_pixels)
        container = bitstream.unpack(read_lcz(data))
        header = container.header
        if header.width * header.height > max_pixels:
            raise DecodeError(f"the file holds {header.width}x{header.height} = {header.width * header.height} "
                              f"pixels, over the limit of {max_pixels} (raise it with --max-pixels / max_pixels= "
                              "if you trust the file)")
        framed = header.version >= 2
        rc = header.mode == "rc"
        model = self._model_for(header)
        deltas = None
        if header.flags & bitstream.FLAG_ADAPTERS:
            from .lora.adapt import decode_adapter_payload

            if ADAPTER_TAG not in container.sections:
                raise FormatError("the adapter flag is set but the adapter section is missing")
            try:
                deltas = decode_adapter_payload(model, container.sections[ADAPTER_TAG], framed)
            except ValueError as exc:
                raise DecodeError(f"corrupt .lcz file: {exc}") from None
        elif ADAPTER_TAG in container.sections:
            raise FormatError("an adapter section is present but the adapter flag is not set")
        weights = CodingWeights.of(model, deltas)
        out = np.zeros((header.height, header.width, header.planes), dtype=np.uint8)
        for group, idx in _group_planes(header.colour):
            ztag, ptag = SECTION_TAGS[group]
            needed = (ztag, ptag) + ((BASE_LAYER_TAGS[group],) if rc else ())
            if any(tag not in container.sections for tag in needed):
                raise FormatError(f"the {group} sections are missing")
            if framed and (8 * entropy.stream_capacity(container.sections[ptag]) + 64
                           < header.width * header.height * len(idx) * entropy.MIN_SUBPIXEL_BITS):
                raise DecodeError(f"corrupt .lcz file: the {group} pixel section is too short for a "
                                  f"{header.width}x{header.height} image")
            guide = None
            if rc:
                try:
                    guide = base_layer.unpack(container.sections[BASE_LAYER_TAGS[group]],
                                              (header.height, header.width, len(idx))).reconstruction
                except BaseLayerError as exc:
                    raise DecodeError(f"cannot decode this .lcz file exactly: {exc}") from None
            try:
                planes = decode_group(model, weights, container.sections[ztag], container.sections[ptag],
                                      header.height, header.width, len(idx), guide, framed)
            except entropy.CorruptStreamError as exc:
                raise DecodeError(f"corrupt .lcz file: {exc}") from None
            out[:, :, idx] = planes
        if bitstream.pixel_crc(out) != header.pixel_crc:
            raise DecodeError("corrupt .lcz file: the decoded pixels fail the CRC check")
        return out

    def _model_for(self, header: Header) -> LoadedModel:
        """The model a file was made with; a file whose mode names another mode's shipped
        model is reported as such, not as a missing model."""
        rc = header.mode == "rc"
        own = self.rc_model if rc else self.model
        if own.model_id == header.model_id:
            return own
        other_mode, other_path = ("learned", DEFAULT_MODEL) if rc else ("rc", DEFAULT_RC_MODEL)
        if other_path.exists() and file_model_id(other_path) == header.model_id:
            raise DecodeError(f"corrupt .lcz file: its mode is {header.mode}, but its model "
                              f"{header.model_id.hex()} is the {other_mode}-mode model")
        return resolve_model(header.model_id, [own])


def section_stats(data: bytes) -> dict:
    """Geometry, mode, model id and bits per section of a .lcz file (for ``info``)."""
    container = bitstream.unpack(data)
    h = container.header
    subpixels = h.width * h.height * h.planes
    groups = {"adapter": 0, "z": 0, "pixels": 0, "base layer": 0}
    sizes = {}
    for tag, payload in container.sections.items():
        name = tag.decode("ascii", "replace")
        sizes[name] = len(payload)
        if tag == ADAPTER_TAG:
            groups["adapter"] += len(payload)
        elif tag in BASE_LAYER_TAGS.values():
            groups["base layer"] += len(payload)
        elif tag.startswith(b"Z"):
            groups["z"] += len(payload)
        else:
            groups["pixels"] += len(payload)
    total = len(data)
    groups["container"] = total - sum(groups.values())
    qualities = {}
    for group, tag in BASE_LAYER_TAGS.items():
        if tag in container.sections and base_layer.quality_of(container.sections[tag]) is not None:
            qualities[group] = base_layer.quality_of(container.sections[tag])
    return {
        "width": h.width, "height": h.height, "colour": h.colour, "planes": h.planes,
        "hevc_quality": qualities,
        "mode": h.mode, "model_id": h.model_id.hex(), "format_version": h.version,
        "bytes": total, "bpsp": 8 * total / subpixels,
        "sections": sizes,
        "split_bytes": groups,
        "split_bpsp": {k: 8 * v / subpixels for k, v in groups.items()},
    }


def compress(image, steps: int = 0, **kwargs) -> bytes:
    """Compress with the shipped default model. See :meth:`Codec.compress`."""
    return Codec().compress(image, steps=steps, **kwargs)


def decompress(data, **kwargs) -> np.ndarray:
    """Decompress .lcz bytes or a .lcz file with the shipped models. See :meth:`Codec.decompress`."""
    return Codec().decompress(data, **kwargs)


