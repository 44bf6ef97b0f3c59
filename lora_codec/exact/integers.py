"""Integer weights from a trained model: the numbers the exact path computes with.

Integer weights come from the float weights by rounding onto their power-of-two grids;
multiplying a float32 by a power of two and rounding is exact on every IEEE machine, so
encoder and decoder derive the same integers. Adapter deltas (integers too) are added
here, clamped to each layer's weight range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..entropy import PredictorWeights
from ..models import quant as q
from ..models.engine_predictor import EnginePredictor
from ..models.guide import GuideNet
from ..layout import LAYERS
from ..models.unet import Decoder


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
    for key, name in LAYERS:
        layer = getattr(plane, name)
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


