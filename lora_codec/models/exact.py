"""The exact integer path: integer weights from a trained model, and the decoder's
evaluation on integers.

Integer weights come from the float weights by rounding onto their power-of-two grids;
multiplying a float32 by a power of two and rounding is exact on every IEEE machine, so
encoder and decoder derive the same integers. The UNet decoder then runs in float64 on
integer-valued tensors: every product and partial sum is an integer below 2^53, so the
result does not depend on summation order, thread count or instruction set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..entropy import PredictorWeights
from . import quant as q
from .guide import HALO, GuideNet
from .engine_predictor import EnginePredictor
from .unet import Decoder


def _w_pred(t: torch.Tensor) -> np.ndarray:
    return q.quantize_int(t, q.PRED_W_FRAC, -q.PRED_W_MAX, q.PRED_W_MAX).numpy()


def _b_pred(t: torch.Tensor) -> np.ndarray:
    return q.quantize_int(t, q.PRED_IN_FRAC + q.PRED_W_FRAC, -(2**30), 2**30).numpy()


def plane_integers(plane, deltas: dict[str, torch.Tensor] | None = None) -> dict:
    """Integer weights of one plane role, optionally plus integer adapter deltas
    (keyed by layer name: ``stage_a``, ``mean``, ``stage_b``, ``shape``)."""
    deltas = deltas or {}
    out: dict = {
        "in_a": plane.in_a,
        "hidden_a": plane.stage_a.out_features,
        "in_b": plane.in_b,
        "hidden_b": plane.stage_b.out_features,
        "components": plane.components,
    }
    for key, layer in (("a", plane.stage_a), ("m", plane.mean), ("b", plane.stage_b), ("o", plane.shape)):
        name = {"a": "stage_a", "m": "mean", "b": "stage_b", "o": "shape"}[key]
        w = _w_pred(layer.weight)
        if name in deltas:
            w = np.clip(w + np.asarray(deltas[name]), -q.PRED_W_MAX, q.PRED_W_MAX)
        out[f"w_{key}"] = w.astype(np.int32)
        out[f"b_{key}"] = _b_pred(layer.bias).astype(np.int32)
    return out


def predictor_weights(predictor, deltas: dict | None = None) -> PredictorWeights:
    """The native predictor's integer weights (a :class:`CausalPredictor` or an
    :class:`EnginePredictor`); ``deltas`` maps ``planes.R.layer`` to integer weight
    deltas from adapters."""
    deltas = deltas or {}
    planes = []
    for role, plane in enumerate(predictor.planes):
        own = {k.split(".", 2)[2]: v for k, v in deltas.items() if k.startswith(f"planes.{role}.")}
        planes.append(plane_integers(plane, own))
    kind = "engine" if isinstance(predictor, EnginePredictor) else "med"
    return PredictorWeights(predictor.planes[0].features, planes, kind)


@dataclass
class DecoderIntegers:
    """Integer-valued float64 weights and biases of the UNet decoder."""

    inp_w: torch.Tensor
    inp_b: torch.Tensor
    up_w: torch.Tensor
    up_b: torch.Tensor
    head_w: torch.Tensor
    head_b: torch.Tensor


def _conv_weight(conv, delta=None) -> torch.Tensor:
    """A QConv2d's integer weights (Q7) as float64, plus an optional integer delta."""
    w = q.quantize_int(conv.weight, q.DEC_W_FRAC, -q.DEC_W_MAX, q.DEC_W_MAX)
    if delta is not None:
        w = torch.clamp(w + torch.as_tensor(np.asarray(delta), dtype=torch.int64), -q.DEC_W_MAX, q.DEC_W_MAX)
    return w.double()


def _conv_bias(conv, in_frac: int) -> torch.Tensor:
    """A QConv2d's integer bias on its accumulator grid, as float64."""
    return q.quantize_int(conv.bias, in_frac + q.DEC_W_FRAC, -(2**40), 2**40).double()


def decoder_integers(decoder: Decoder, deltas: dict[str, torch.Tensor] | None = None) -> DecoderIntegers:
    """Integer decoder weights, optionally plus integer adapter deltas keyed by layer name."""
    deltas = deltas or {}
    return DecoderIntegers(
        inp_w=_conv_weight(decoder.inp, deltas.get("inp")), inp_b=_conv_bias(decoder.inp, 0),
        up_w=_conv_weight(decoder.up, deltas.get("up")), up_b=_conv_bias(decoder.up, q.DEC_ACT_FRAC),
        head_w=_conv_weight(decoder.head, deltas.get("head")), head_b=_conv_bias(decoder.head, q.DEC_ACT_FRAC),
    )


def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, w, padding=w.shape[-1] // 2) + b.view(1, -1, 1, 1)


def decode_features(ints: DecoderIntegers, z: np.ndarray, levels: int, height: int, width: int) -> np.ndarray:
    """Exact UNet decoder: integer z (Cz, h, w) to features (height, width, F) int16."""
    with torch.no_grad():
        x = torch.from_numpy(np.asarray(z, dtype=np.float64))[None]
        frac_in = 0
        acc = _conv(x, ints.inp_w, ints.inp_b)
        h = torch.clamp(q.round_shift(acc, frac_in + q.DEC_W_FRAC - q.DEC_ACT_FRAC), 0, q.DEC_ACT_MAX)
        shift = q.DEC_W_FRAC  # Q4 activations times Q7 weights, back to Q4
        for _ in range(levels):
            acc = _conv(h, ints.up_w, ints.up_b)
            h = F.pixel_shuffle(torch.clamp(q.round_shift(acc, shift), 0, q.DEC_ACT_MAX), 2)
        acc = _conv(h, ints.head_w, ints.head_b)
        u = torch.clamp(q.round_shift(acc, q.DEC_ACT_FRAC + q.DEC_W_FRAC - q.PRED_IN_FRAC),
                        -q.FEATURE_MAX, q.FEATURE_MAX)
        u = u[0, :, :height, :width].permute(1, 2, 0)
        return np.ascontiguousarray(u.numpy().astype(np.int16))


@dataclass
class GuideIntegers:
    """Integer-valued float64 weights and biases of an rc model's guide network."""

    conv1_w: torch.Tensor
    conv1_b: torch.Tensor
    conv2_w: torch.Tensor
    conv2_b: torch.Tensor
    head_w: torch.Tensor
    head_b: torch.Tensor


def guide_integers(guide: GuideNet) -> GuideIntegers:
    return GuideIntegers(
        conv1_w=_conv_weight(guide.conv1), conv1_b=_conv_bias(guide.conv1, 0),
        conv2_w=_conv_weight(guide.conv2), conv2_b=_conv_bias(guide.conv2, q.DEC_ACT_FRAC),
        head_w=_conv_weight(guide.head), head_b=_conv_bias(guide.head, q.DEC_ACT_FRAC),
    )


def guide_features(ints: GuideIntegers, reconstruction: np.ndarray, row0: int, row1: int) -> np.ndarray:
    """Exact guide network on rows [row0, row1) of a reconstruction (H, W, C) uint8:
    features (row1 - row0, W, F) int16. Reads :data:`HALO` rows on each side, so a band
    gets the same numbers as the whole image."""
    height = reconstruction.shape[0]
    s0, s1 = max(0, row0 - HALO), min(height, row1 + HALO)
    slab = np.asarray(reconstruction[s0:s1], dtype=np.float64)
    if slab.shape[2] == 1:
        slab = np.repeat(slab, 3, axis=2)
    with torch.no_grad():
        x = torch.from_numpy(slab.transpose(2, 0, 1).copy())[None] - 128.0
        h = torch.clamp(q.round_shift(_conv(x, ints.conv1_w, ints.conv1_b), q.DEC_W_FRAC - q.DEC_ACT_FRAC),
                        0, q.DEC_ACT_MAX)
        h = torch.clamp(q.round_shift(_conv(h, ints.conv2_w, ints.conv2_b), q.DEC_W_FRAC), 0, q.DEC_ACT_MAX)
        acc = _conv(h, ints.head_w, ints.head_b)
        u = torch.clamp(q.round_shift(acc, q.DEC_ACT_FRAC + q.DEC_W_FRAC - q.PRED_IN_FRAC),
                        -q.FEATURE_MAX, q.FEATURE_MAX)
        u = u[0, :, row0 - s0 : row1 - s0].permute(1, 2, 0)
        return np.ascontiguousarray(u.numpy().astype(np.int16))


def combine_features(unet: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Exact counterpart of :func:`lora_codec.models.guide.combine_features` (int16)."""
    total = unet.astype(np.int32) + guide.astype(np.int32)
    return np.clip(total, -q.FEATURE_MAX, q.FEATURE_MAX).astype(np.int16)
