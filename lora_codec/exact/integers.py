"""Integer weights from a trained model: the numbers the exact path computes with.

Integer weights come from the float weights by rounding onto their power-of-two grids;
multiplying a float32 by a power of two and rounding is exact on every IEEE machine, so
encoder and decoder derive the same integers. Adapter deltas (integers too) are added
here, clamped to each layer's weight range. Everything works on numpy arrays (a model
file's tensors, or :func:`state_of` a torch module), so decoding needs no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .. import grids as g
from ..entropy import PredictorWeights
from ..layout import LAYERS

State = Mapping[str, np.ndarray]


def state_of(module) -> dict[str, np.ndarray]:
    """A torch module's parameters as numpy arrays, keyed as in its ``state_dict``."""
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def sub_state(state: State, prefix: str) -> dict[str, np.ndarray]:
    """The entries under ``prefix`` (``"predictor."``, ...), with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def quantize(values: np.ndarray, frac_bits: int, lo: int, hi: int) -> np.ndarray:
    """round(values * 2^frac_bits) (ties to even), clamped to [lo, hi], as int64."""
    scaled = np.asarray(values, dtype=np.float64) * float(1 << frac_bits)
    return np.clip(np.round(scaled), lo, hi).astype(np.int64)


def plane_integers(plane: State, deltas: Mapping[str, np.ndarray] | None = None) -> dict:
    """Integer weights of one plane role from its state (``stage_a.weight``, ...),
    optionally plus integer adapter deltas keyed by layer name (``stage_a``, ``mean``,
    ``stage_b``, ``shape``)."""
    deltas = deltas or {}
    out: dict = {
        "in_a": int(plane["stage_a.weight"].shape[1]),
        "hidden_a": int(plane["stage_a.weight"].shape[0]),
        "in_b": int(plane["stage_b.weight"].shape[1]),
        "hidden_b": int(plane["stage_b.weight"].shape[0]),
        "components": int(plane["shape.weight"].shape[0]) // 3,
    }
    for key, name in LAYERS:
        w = quantize(plane[f"{name}.weight"], g.PRED_W_FRAC, -g.PRED_W_MAX, g.PRED_W_MAX)
        if name in deltas:
            w = np.clip(w + np.asarray(deltas[name]), -g.PRED_W_MAX, g.PRED_W_MAX)
        out[f"w_{key}"] = w.astype(np.int32)
        out[f"b_{key}"] = quantize(plane[f"{name}.bias"], g.PRED_IN_FRAC + g.PRED_W_FRAC,
                                   -(2**30), 2**30).astype(np.int32)
    return out


def predictor_weights(state: State, features: int, kind: str, deltas: Mapping | None = None) -> PredictorWeights:
    """The native predictor's integer weights from the predictor's state
    (``planes.R.stage_a.weight``, ...); ``kind`` is ``"med"`` or ``"engine"``; ``deltas``
    maps ``planes.R.layer`` to integer weight deltas from adapters."""
    deltas = deltas or {}
    roles = sorted({int(k.split(".")[1]) for k in state if k.startswith("planes.")})
    planes = []
    for role in roles:
        own = {k.split(".", 2)[2]: v for k, v in deltas.items() if k.startswith(f"planes.{role}.")}
        planes.append(plane_integers(sub_state(state, f"planes.{role}."), own))
    return PredictorWeights(features, planes, kind)


def _conv_weight(state: State, name: str, delta=None) -> np.ndarray:
    """A convolution's integer weights (Q7), plus an optional integer delta."""
    w = quantize(state[f"{name}.weight"], g.DEC_W_FRAC, -g.DEC_W_MAX, g.DEC_W_MAX)
    if delta is not None:
        w = np.clip(w + np.asarray(delta, dtype=np.int64), -g.DEC_W_MAX, g.DEC_W_MAX)
    return w.astype(np.int32)


def _conv_bias(state: State, name: str, in_frac: int) -> np.ndarray:
    """A convolution's integer bias on its accumulator grid."""
    return quantize(state[f"{name}.bias"], in_frac + g.DEC_W_FRAC, -(2**40), 2**40)


@dataclass
class DecoderIntegers:
    """Integer weights (int32, Q7) and biases (int64, accumulator grid) of the UNet decoder."""

    inp_w: np.ndarray
    inp_b: np.ndarray
    up_w: np.ndarray
    up_b: np.ndarray
    head_w: np.ndarray
    head_b: np.ndarray


def decoder_integers(state: State, deltas: Mapping | None = None) -> DecoderIntegers:
    """Integer decoder weights from the decoder's state (``inp.weight``, ...), optionally
    plus integer adapter deltas keyed by layer name."""
    deltas = deltas or {}
    return DecoderIntegers(
        inp_w=_conv_weight(state, "inp", deltas.get("inp")), inp_b=_conv_bias(state, "inp", 0),
        up_w=_conv_weight(state, "up", deltas.get("up")), up_b=_conv_bias(state, "up", g.DEC_ACT_FRAC),
        head_w=_conv_weight(state, "head", deltas.get("head")), head_b=_conv_bias(state, "head", g.DEC_ACT_FRAC),
    )


@dataclass
class GuideIntegers:
    """Integer weights and biases of an rc model's guide network."""

    conv1_w: np.ndarray
    conv1_b: np.ndarray
    conv2_w: np.ndarray
    conv2_b: np.ndarray
    head_w: np.ndarray
    head_b: np.ndarray


def guide_integers(state: State) -> GuideIntegers:
    """Integer guide-network weights from its state (``conv1.weight``, ...)."""
    return GuideIntegers(
        conv1_w=_conv_weight(state, "conv1"), conv1_b=_conv_bias(state, "conv1", 0),
        conv2_w=_conv_weight(state, "conv2"), conv2_b=_conv_bias(state, "conv2", g.DEC_ACT_FRAC),
        head_w=_conv_weight(state, "head"), head_b=_conv_bias(state, "head", g.DEC_ACT_FRAC),
    )
