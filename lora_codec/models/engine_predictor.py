"""The learned head over the online engine (model kind 1), in its parallel training form.

The online engine (``native/engine.hpp``) depends only on pixels, so its outputs for a
training crop are computed once, natively (:func:`lora_codec.entropy.engine_outputs`), and
enter here as fixed inputs: per sub-pixel the final prediction ``ref`` and the weighted,
gradient, two NLMS and blended predictions (Q4), the error energy and the weighted
predictor's max-error. Planes come in coding order (G, R, B for colour).

For each plane role a two-stage network (as in :mod:`lora_codec.models.predictor`):

* **Stage A (mean).** The 10 causal neighbours and the engine's 5 predictions relative to
  ``ref``, the energy and max-error, for each earlier plane ``x_p - ref_p``,
  ``x_p - W_p``, ``x_p - N_p`` and its error ``e_p``, and the UNet features. It gives a
  hidden layer ``hA`` and the mean ``mu = ref + m``.
* **Stage B (shape).** ``hA``, the absolute errors of 6 causal neighbours (against their
  own ``mu``), 5 absolute gradients, the energy, ``|max-error|`` and ``|e_p|``; it gives
  each component's mean offset, log-scale and logit.

Every rounding matches the native head (half up for activations and outputs, floor for
relative inputs and errors), so evaluated in float64 this module gives the integers the
coder uses, sub-pixel for sub-pixel (``tests/test_engine.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import quant as q
from ..grids import COLOUR_ORDER, coding_order  # noqa: F401 (re-exported)
from ..layout import (CROSS_A, ENGINE_FIELDS, ENGINE_INPUTS, ENGINE_PREDICTIONS, ENGINE_STATS, ERROR_NEIGHBOURS,
                      GRADIENT_INDEX, INPUT_CLAMP, NEIGHBOURS)
from .predictor import PAD, PAD_VALUE, TwoStageHead, _shift, gradients

_FIELD = {name: k for k, name in enumerate(ENGINE_FIELDS)}


def _q2_floor(numerator_q4: torch.Tensor) -> torch.Tensor:
    """floor(v / 4) of a Q4 quantity, clamped to the Q2 input range, in real units."""
    return torch.clamp(torch.floor(numerator_q4 / 4.0), -INPUT_CLAMP, INPUT_CLAMP) / 4.0


class EnginePlane(TwoStageHead):
    """The head over the engine for one plane role (0, 1 or 2 earlier planes)."""

    def __init__(self, role: int, features: int, hidden_a: int, hidden_b: int, components: int):
        super().__init__(len(NEIGHBOURS) + ENGINE_INPUTS + CROSS_A * role + features, hidden_a,
                         hidden_a + len(ERROR_NEIGHBOURS) + len(GRADIENT_INDEX) + ENGINE_STATS + role, hidden_b,
                         components)
        self.role = role
        self.features = features
        with torch.no_grad():  # start at the engine's prediction with a broad scale
            self.mean.weight.zero_()
            self.mean.bias.zero_()
            self.shape.weight.zero_()
            spread = torch.linspace(-0.5, 0.5, components) if components > 1 else torch.zeros(1)
            self.shape.bias.copy_(torch.cat([spread, torch.full((components,), 1.0), torch.zeros(components)]))


class EnginePredictor(nn.Module):
    """One :class:`EnginePlane` per plane role."""

    def __init__(self, features: int, hidden_a: int, hidden_b: int, components: int):
        super().__init__()
        self.components = components
        self.planes = nn.ModuleList(EnginePlane(r, features, hidden_a, hidden_b, components) for r in range(3))

    def forward(self, x: torch.Tensor, features: torch.Tensor, engine: torch.Tensor):
        """Mixture parameters for ``x`` (N, C, H, W) in coding order, given the UNet
        ``features`` (N, F, H, W) and the ``engine`` outputs (N, C, H, W, 8).

        Returns means, log-scales and logits, each (N, C, H, W, K), in real units.
        """
        n, c, h, w = x.shape
        xp = F.pad(x, PAD, value=PAD_VALUE)
        feats = features.permute(0, 2, 3, 1)
        cross_a, cross_b = [], []
        means, log_scales, logits = [], [], []
        for plane in range(c):
            net = self.planes[plane]
            eng = engine[:, plane]
            ref_q4 = eng[..., _FIELD["pred"]]
            nb = [_shift(xp[:, plane], di, dj, h, w) for di, dj in NEIGHBOURS]
            rel = [_q2_floor(v * 16.0 - ref_q4) for v in nb]
            preds = [_q2_floor(eng[..., _FIELD[name]] - ref_q4) for name in ENGINE_PREDICTIONS]
            energy = torch.floor(eng[..., _FIELD["energy"]] / 4.0) / 4.0
            maxerr = torch.clamp(torch.floor(eng[..., _FIELD["maxerr"]] / 2.0), -INPUT_CLAMP, INPUT_CLAMP) / 4.0
            in_a = torch.cat([torch.stack(rel + preds + [energy, maxerr] + cross_a, dim=-1), feats], dim=-1)
            h_a, m = net.mean_stage(in_a)
            mu = torch.clamp(ref_q4 / 16.0 + m, 0.0, 255.0)
            xc = x[:, plane]
            err = torch.clamp(torch.floor((xc - mu) * 4.0) / 4.0, -255.0, 255.0).detach()
            ep = F.pad(err, PAD, value=0.0)
            abs_err = [_shift(ep, di, dj, h, w).abs() for di, dj in ERROR_NEIGHBOURS]
            in_b = torch.cat([h_a, torch.stack(abs_err + gradients(nb) + [energy, maxerr.abs()] + cross_b, dim=-1)],
                             dim=-1)
            delta, ls, lg = net.shape_stage(in_b)
            means.append(torch.clamp(mu.unsqueeze(-1) + delta, -32.0, 287.0))
            log_scales.append(torch.clamp(ls, q.LOG_SCALE_MIN / 16, q.LOG_SCALE_MAX / 16))
            logits.append(lg)
            cross_a = cross_a + [_q2_floor(xc * 16.0 - ref_q4), xc - nb[0], xc - nb[2], err]
            cross_b = cross_b + [err.abs()]
        return torch.stack(means, 1), torch.stack(log_scales, 1), torch.stack(logits, 1)
