"""Colour groups: the colour planes (L or RGB) and the alpha plane are each coded as one
group, with its own latent stream and pixel stream.

For every group, the tiles' latents are decoded (exact integer UNet decoder) into
per-pixel features band by band, and the native causal predictor codes the pixels of the
band. Engine models code the planes of a colour group in the order G, R, B; the arrays
here are always in the image's order, and the permutation stays inside this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import entropy, exact
from ..base_layer import BaseLayer
from ..grids import coding_order
from ..registry import LoadedModel
from .latents import code_latents, decode_latents, encode_latents, latent_shape
from .tiles import Tile, tile_grid

GROUPS = {
    "L": (("colour", (0,)),),
    "LA": (("colour", (0,)), ("alpha", (1,))),
    "RGB": (("colour", (0, 1, 2)),),
    "RGBA": (("colour", (0, 1, 2)), ("alpha", (3,))),
}


def group_planes(colour: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """(group name, plane indices) of a colour type."""
    return GROUPS[colour]


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
        return cls(exact.predictor_weights(exact.sub_state(model.state, "predictor."), model.cfg.features,
                                           model.predictor_kind, pred),
                   exact.decoder_integers(exact.sub_state(model.state, "decoder."), dec), model.guide_integers)


@dataclass
class GroupCode:
    """The coded sections of one colour group."""

    z: bytes
    pixels: bytes
    base: BaseLayer | None = None

    @property
    def size(self) -> int:
        return len(self.z) + len(self.pixels) + (self.base.packed_size if self.base else 0)


def _order(model: LoadedModel, planes: int) -> list[int]:
    return list(coding_order(planes)) if model.engine else list(range(planes))


def in_coding_order(model: LoadedModel, planes: np.ndarray) -> np.ndarray:
    """A group's planes (H, W, P) in the order the model codes them."""
    return np.ascontiguousarray(planes[:, :, _order(model, planes.shape[2])])


def group_latents(model: LoadedModel, planes: np.ndarray) -> list[np.ndarray]:
    """The float encoder's latents of one group (planes in image order), tile by tile."""
    grid = tile_grid(planes.shape[0], planes.shape[1], model.cfg.tile)
    return encode_latents(model, in_coding_order(model, planes), grid)


def band_features(model: LoadedModel, weights: CodingWeights, band: list[Tile],
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
    if model.guided != (guide is not None):
        raise ValueError("an rc model codes with a base-layer reconstruction, a base model without one")
    if guide is not None and guide.shape != shape:
        raise ValueError(f"the reconstruction is {guide.shape}, the planes {shape}")


def encode_group(model: LoadedModel, weights: CodingWeights, planes: np.ndarray,
                 latents: list[np.ndarray] | None = None, guide: np.ndarray | None = None,
                 calibrate: bool = True) -> tuple[bytes, bytes]:
    """(latent stream, pixel stream) of one colour group (H, W, P) uint8 in image order;
    ``latents`` from :func:`group_latents` (computed here if None); ``guide`` is the base
    layer's reconstruction (rc models only); ``calibrate`` passes the mixtures through the
    online CDF calibration (format v4; False writes the pixel stream of format v3)."""
    _check_guide(model, guide, planes.shape)
    height, width, _ = planes.shape
    grid = tile_grid(height, width, model.cfg.tile)
    if latents is None:
        latents = group_latents(model, planes)
    coded = in_coding_order(model, planes)
    guide = None if guide is None else in_coding_order(model, guide)
    z_bytes = code_latents(model, latents)
    errors = np.zeros(coded.shape, dtype=np.int16)
    encoder = entropy.PixelEncoder(weights.predictor, calibrate)
    pos = 0
    for band in grid:
        feats = band_features(model, weights, band, latents[pos : pos + len(band)], width, guide)
        pos += len(band)
        encoder.code_rows(coded, errors, feats, band[0].y0, band[0].y0, band[0].y1, guide)
    return z_bytes, encoder.finish()


def decode_group(model: LoadedModel, weights: CodingWeights, z_bytes: bytes, pixel_bytes: bytes,
                 height: int, width: int, planes: int, guide: np.ndarray | None = None,
                 framed: bool = True, calibrate: bool = True) -> np.ndarray:
    """The (H, W, P) pixels of one colour group, in image order. A corrupt or exhausted
    stream stops the decoding within a row and raises :class:`entropy.CorruptStreamError`;
    ``framed=False`` reads the unframed streams of format v1, ``calibrate=False`` the
    uncalibrated ones of formats 1-3."""
    _check_guide(model, guide, (height, width, planes))
    grid = tile_grid(height, width, model.cfg.tile)
    latents = decode_latents(model, z_bytes, grid, framed)
    coded = np.zeros((height, width, planes), dtype=np.uint8)
    guide = None if guide is None else in_coding_order(model, guide)
    errors = np.zeros(coded.shape, dtype=np.int16)
    decoder = entropy.PixelDecoder(weights.predictor, pixel_bytes, framed, calibrate)
    pos = 0
    for band in grid:
        feats = band_features(model, weights, band, latents[pos : pos + len(band)], width, guide)
        pos += len(band)
        decoder.code_rows(coded, errors, feats, band[0].y0, band[0].y0, band[0].y1, guide)
        decoder.check()
    out = np.empty_like(coded)
    out[:, :, _order(model, planes)] = coded
    return out
