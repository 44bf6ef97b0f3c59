"""Compressing and decompressing images: tiles, latents, pixel streams and the container.

An image is split into colour groups: the colour planes (L or RGB) and, if present, the
alpha plane, each coded as its own group. For every group:

1. the image is cut into tiles of at most ``cfg.tile`` pixels a side; the float UNet
   encoder turns each tile into an integer latent z, coded with the prior's CDF tables;
2. the exact integer decoder turns each tile's z into per-pixel features;
3. the native causal predictor codes the pixels, band of tiles by band of tiles.

Only step 1's encoder is float, and it runs only when compressing: decoding needs z,
the integer decoder and the native predictor, which are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import bitstream, entropy
from .bitstream import Container, FormatError, Header
from .images import read_image
from .models import exact
from .models.latent_prior import TABLE_PRECISION, Z_MIN
from .models.registry import LoadedModel, load_default_model, resolve_model

SECTION_TAGS = {
    "colour": (b"ZCOL", b"PCOL"),
    "alpha": (b"ZALP", b"PALP"),
}
ADAPTER_TAG = b"LORA"
BASE_LAYER_TAG = b"HEVC"


class DecodeError(ValueError):
    """A file that cannot be decoded to the image it was made from."""


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

    @classmethod
    def of(cls, model: LoadedModel, deltas: dict | None = None) -> "CodingWeights":
        if not deltas:
            return cls(model.predictor_weights, model.decoder_integers)
        pred = {k[len("predictor."):]: v for k, v in deltas.items() if k.startswith("predictor.")}
        dec = {k[len("decoder."):]: v for k, v in deltas.items() if k.startswith("decoder.")}
        return cls(exact.predictor_weights(model.model.predictor, pred),
                   exact.decoder_integers(model.model.decoder, dec))


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


def decode_latents(model: LoadedModel, data: bytes, grid: list[list[Tile]]) -> list[np.ndarray]:
    shapes = [latent_shape(model, t)[1:] for band in grid for t in band]
    symbols = entropy.decode_with_tables(data, _latent_indexes(shapes), model.latent_cdfs, TABLE_PRECISION)
    out, pos = [], 0
    for c, h, w in shapes:
        out.append((symbols[pos : pos + c * h * w].astype(np.int64) + Z_MIN).reshape(c, h, w))
        pos += c * h * w
    return out


def _band_features(model: LoadedModel, weights: CodingWeights, band: list[Tile],
                   latents: list[np.ndarray], width: int) -> np.ndarray:
    rows = band[0].y1 - band[0].y0
    feats = np.zeros((rows, width, model.cfg.features), dtype=np.int16)
    for t, z in zip(band, latents):
        levels = latent_shape(model, t)[0]
        feats[:, t.x0 : t.x1] = exact.decode_features(weights.decoder, z, levels, rows, t.x1 - t.x0)
    return feats


def encode_group(model: LoadedModel, weights: CodingWeights, planes: np.ndarray,
                 latents: list[np.ndarray] | None = None) -> tuple[bytes, bytes]:
    """(latent stream, pixel stream) of one colour group (H, W, P) uint8."""
    height, width, _ = planes.shape
    grid = tile_grid(height, width, model.cfg.tile)
    if latents is None:
        latents = encode_latents(model, planes, grid)
    z_bytes = code_latents(model, latents)
    errors = np.zeros(planes.shape, dtype=np.int16)
    encoder = entropy.PixelEncoder(weights.predictor)
    pos = 0
    for band in grid:
        feats = _band_features(model, weights, band, latents[pos : pos + len(band)], width)
        pos += len(band)
        encoder.code_rows(planes, errors, feats, band[0].y0, band[0].y0, band[0].y1)
    return z_bytes, encoder.finish()


def decode_group(model: LoadedModel, weights: CodingWeights, z_bytes: bytes, pixel_bytes: bytes,
                 height: int, width: int, planes: int) -> np.ndarray:
    grid = tile_grid(height, width, model.cfg.tile)
    latents = decode_latents(model, z_bytes, grid)
    out = np.zeros((height, width, planes), dtype=np.uint8)
    errors = np.zeros(out.shape, dtype=np.int16)
    decoder = entropy.PixelDecoder(weights.predictor, pixel_bytes)
    pos = 0
    for band in grid:
        feats = _band_features(model, weights, band, latents[pos : pos + len(band)], width)
        pos += len(band)
        decoder.code_rows(out, errors, feats, band[0].y0, band[0].y0, band[0].y1)
    decoder.check()
    return out


class Codec:
    """Compresses and decompresses with one base model (the shipped default if None)."""

    def __init__(self, model: LoadedModel | None = None) -> None:
        self.model = model or load_default_model()

    def compress(self, image, steps: int = 0, *, adaptation=None, progress=None) -> bytes:
        """Compress a path, PIL image or (H, W[, C]) uint8 array to .lcz bytes.

        ``steps`` > 0 fine-tunes LoRA adapters on the image first (``adaptation`` holds
        their options, see :mod:`lora_codec.lora`).
        """
        pixels, colour = read_image(image)
        if steps < 0:
            raise ValueError("steps must be >= 0")
        base = self._encode(pixels, colour, None, None)
        if steps == 0:
            return base
        from .lora.adapt import adapt_to_image

        result = adapt_to_image(self.model, pixels, colour, steps, adaptation, progress)
        adapted = self._encode(pixels, colour, result.payload, result.deltas)
        # Keep the adaptation only where it makes the file smaller.
        return adapted if len(adapted) < len(base) else base

    def _encode(self, pixels: np.ndarray, colour: str, payload: bytes | None, deltas: dict | None) -> bytes:
        sections: dict[bytes, bytes] = {}
        flags = 0
        if payload is not None:
            sections[ADAPTER_TAG] = payload
            flags |= bitstream.FLAG_ADAPTERS
        weights = CodingWeights.of(self.model, deltas)
        for group, idx in _group_planes(colour):
            planes = np.ascontiguousarray(pixels[:, :, idx])
            z_bytes, pix_bytes = encode_group(self.model, weights, planes)
            ztag, ptag = SECTION_TAGS[group]
            sections[ztag] = z_bytes
            sections[ptag] = pix_bytes
        header = Header(width=pixels.shape[1], height=pixels.shape[0], colour=colour,
                        model_id=self.model.model_id, pixel_crc=bitstream.pixel_crc(pixels), flags=flags)
        return bitstream.pack(Container(header, sections))

    def decompress(self, data: bytes) -> np.ndarray:
        """The exact (H, W, C) uint8 pixels of a .lcz file."""
        container = bitstream.unpack(data)
        header = container.header
        if header.mode != "learned":
            raise FormatError(f"this build cannot decode mode {header.mode!r}")
        model = resolve_model(header.model_id, [self.model])
        deltas = None
        if header.flags & bitstream.FLAG_ADAPTERS:
            from .lora.adapt import decode_adapter_payload

            if ADAPTER_TAG not in container.sections:
                raise FormatError("the adapter flag is set but the adapter section is missing")
            try:
                deltas = decode_adapter_payload(model, container.sections[ADAPTER_TAG])
            except ValueError as exc:
                raise DecodeError(f"corrupt .lcz file: {exc}") from None
        weights = CodingWeights.of(model, deltas)
        out = np.zeros((header.height, header.width, header.planes), dtype=np.uint8)
        for group, idx in _group_planes(header.colour):
            ztag, ptag = SECTION_TAGS[group]
            if ztag not in container.sections or ptag not in container.sections:
                raise FormatError(f"the {group} sections are missing")
            try:
                planes = decode_group(model, weights, container.sections[ztag], container.sections[ptag],
                                      header.height, header.width, len(idx))
            except entropy.CorruptStreamError as exc:
                raise DecodeError(f"corrupt .lcz file: {exc}") from None
            out[:, :, idx] = planes
        if bitstream.pixel_crc(out) != header.pixel_crc:
            raise DecodeError("corrupt .lcz file: the decoded pixels fail the CRC check")
        return out


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
        elif tag == BASE_LAYER_TAG:
            groups["base layer"] += len(payload)
        elif tag.startswith(b"Z"):
            groups["z"] += len(payload)
        else:
            groups["pixels"] += len(payload)
    total = len(data)
    groups["container"] = total - sum(groups.values())
    return {
        "width": h.width, "height": h.height, "colour": h.colour, "planes": h.planes,
        "mode": h.mode, "model_id": h.model_id.hex(), "format_version": bitstream.VERSION,
        "bytes": total, "bpsp": 8 * total / subpixels,
        "sections": sizes,
        "split_bytes": groups,
        "split_bpsp": {k: 8 * v / subpixels for k, v in groups.items()},
    }


def compress(image, steps: int = 0, **kwargs) -> bytes:
    """Compress with the shipped default model. See :meth:`Codec.compress`."""
    return Codec().compress(image, steps=steps, **kwargs)


def decompress(data: bytes) -> np.ndarray:
    """Decompress with the shipped default model. See :meth:`Codec.decompress`."""
    return Codec().decompress(data)


