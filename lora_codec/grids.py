"""The fixed-point grids and the UNet's level count: the numbers that the training path
(:mod:`lora_codec.models`, torch) and the exact decode path (:mod:`lora_codec.exact`,
numpy and the native module) share. No torch here, so decoding never imports it.
"""

from __future__ import annotations

import math

from .layout import PRED_HIDDEN_MAX, PRED_IN_FRAC, PRED_OUT_FRAC, PRED_W_FRAC, PRED_W_MAX  # noqa: F401 (re-exported)

# Predictor (runs in C++): inputs and hidden activations are integers in quarter-pixel
# units (Q2); weights are Q8; means, log-scales and logits come out in Q4. These grids are
# generated (scripts/gen_layout.py -> lora_codec/layout.py) and imported above.

# UNet decoder and guide network: activations Q4 in [0, 1024], weights Q7, biases in
# accumulator units.
DEC_ACT_FRAC = 4
DEC_ACT_MAX = 1024
DEC_W_FRAC = 7
DEC_W_MAX = 2047
FEATURE_MAX = 255  # unet features handed to the predictor, Q2 integers in [-255, 255]

# Mixture parameters handed to the coder.
MEAN_FRAC = 4
LOG_SCALE_FRAC = 4
LOG_SCALE_MIN = -64   # scale e^-4
LOG_SCALE_MAX = 160   # scale e^10
LOGIT_FRAC = 4

# The latent z: integers in [Z_MIN, Z_MAX], coded with 16-bit CDF tables.
Z_MIN = -32
Z_MAX = 31
Z_ALPHABET = Z_MAX - Z_MIN + 1
TABLE_PRECISION = 16

# Engine models code the planes of a colour group in the order G, R, B.
COLOUR_ORDER = (1, 0, 2)

# Rows of context the guide network needs on each side of a band (two 3x3 convolutions).
GUIDE_HALO = 2


def coding_order(planes: int) -> tuple[int, ...]:
    """Plane indices of an engine model's group in coding order (a permutation of range(planes))."""
    return COLOUR_ORDER if planes == 3 else tuple(range(planes))


def levels_for(height: int, width: int, core: int) -> int:
    """Number of stride-2 levels that bring ``height x width`` down to at most ``core``."""
    side = max(height, width, 1)
    return max(0, math.ceil(math.log2(side / core))) if side > core else 0
