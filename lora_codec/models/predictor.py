"""The causal per-pixel predictor, in its parallel training form.

For every plane ``c`` of a colour group (1 plane for L, 3 for RGB) and every pixel, a tiny
two-stage network maps causal context to a K-component discretized logistic mixture:

* **Stage A (mean).** Inputs: the 10 causal neighbours of the same plane relative to the
  MED prediction ``ref = median(N, W, N + W - NW)``; the MED residuals at W, N and NE; for each earlier plane ``p`` of the
  same pixel ``x_p - ref_p``, ``x_p - W_p``, ``x_p - N_p`` and its prediction error
  ``e_p``; and the UNet features. A hidden layer ``hA`` and a linear read-out over
  ``[inputs, hA]`` give the mean ``mu = ref + m``.
* **Stage B (shape).** Inputs: ``hA``, the absolute prediction errors of 6 causal
  neighbours, 5 absolute local gradients and ``|e_p|`` of earlier planes. A hidden layer
  ``hB`` gives, per component, a mean offset, a log-scale and a mixture logit.

**Guided form (rc mode).** Given the lossy reconstruction ``g`` of the image, the
reference becomes ``ref = g`` at the pixel itself, the 10 neighbour inputs become the
neighbours' residuals ``x_k - g_k`` (what the lossy layer got wrong next door), and the 3
MED-residual slots hold the reconstruction's local texture: ``g - median(gN, gW, gN + gW -
gNW)``, ``gE - g`` and ``gS - g`` (reads of ``g`` clamp to the image). Stage B and the
cross-plane inputs are unchanged, so both forms share one weight layout.

Everything is on fixed-point grids (:mod:`lora_codec.models.quant`); the native module
runs the identical integer network pixel by pixel when coding. Pixels outside the image
read as 128 and errors outside the image as 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import quant as q
from ..layout import CROSS_A, ERROR_NEIGHBOURS, GRADIENT_INDEX, MED_RESIDUAL_INDEX, NEIGHBOURS

# The input layout (neighbours, MED residuals, error neighbours, gradients) is generated
# by scripts/gen_layout.py into .layout, shared with the native coder.
NEIGHBOUR_RESIDUALS = len(MED_RESIDUAL_INDEX)
PAD_VALUE = 128.0
PAD = (2, 2, 2, 0)  # left, right, top, bottom


def _shift(padded: torch.Tensor, di: int, dj: int, h: int, w: int) -> torch.Tensor:
    return padded[..., 2 + di : 2 + di + h, 2 + dj : 2 + dj + w]


def med(n: torch.Tensor, w: torch.Tensor, nw: torch.Tensor) -> torch.Tensor:
    """LOCO-I's median edge detector."""
    hi, lo = torch.maximum(n, w), torch.minimum(n, w)
    return torch.where(nw >= hi, lo, torch.where(nw <= lo, hi, n + w - nw))


def neighbour_residuals(nb: list[torch.Tensor]) -> list[torch.Tensor]:
    """MED prediction errors at W, N and NE, from the neighbours in :data:`NEIGHBOURS` order."""
    return [nb[x] - med(nb[a], nb[b], nb[c]) for x, a, b, c in MED_RESIDUAL_INDEX]


def gradients(nb: list[torch.Tensor]) -> list[torch.Tensor]:
    """The absolute local gradients of stage B."""
    return [(nb[a] - nb[b]).abs() for a, b in GRADIENT_INDEX]


def guide_texture(replicated: torch.Tensor, h: int, w: int) -> list[torch.Tensor]:
    """``g - MED(gN, gW, gNW)``, ``gE - g`` and ``gS - g`` of a reconstruction plane padded
    by one pixel on each side with edge replication."""
    def at(di: int, dj: int) -> torch.Tensor:
        return replicated[..., 1 + di : 1 + di + h, 1 + dj : 1 + dj + w]

    g = at(0, 0)
    return [g - med(at(-1, 0), at(0, -1), at(-1, -1)), at(0, 1) - g, at(1, 0) - g]


class QLinear(nn.Linear):
    """A Linear layer whose weights (Q8) and bias (accumulator grid) are fake-quantized.

    Its inputs are Q2 integers, so the bias lives on the Q10 accumulator grid.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = q.fake_quant(self.weight, q.PRED_W_FRAC, -q.PRED_W_MAX, q.PRED_W_MAX)
        b = q.fake_quant(self.bias, q.PRED_IN_FRAC + q.PRED_W_FRAC, -(2**30), 2**30)
        return F.linear(x, w, b)


def _hidden(x: torch.Tensor) -> torch.Tensor:
    """Hidden activations, rounded half up onto Q2 as the native ``round_shift`` does."""
    return q.fake_quant_half_up(F.relu(x), q.PRED_IN_FRAC, 0, q.PRED_HIDDEN_MAX)


class TwoStageHead(nn.Module):
    """The two integer stages of a plane role's head (shared by both predictors): stage A
    gives a hidden layer and the mean offset, stage B the mixture's shape. Rounding ties
    go up, as the native ``round_shift`` does, so float64 evaluation gives its integers."""

    def __init__(self, in_a: int, hidden_a: int, in_b: int, hidden_b: int, components: int):
        super().__init__()
        self.components = components
        self.in_a, self.in_b = in_a, in_b
        self.stage_a = QLinear(in_a, hidden_a)
        self.mean = QLinear(in_a + hidden_a, 1)
        self.stage_b = QLinear(in_b, hidden_b)
        self.shape = QLinear(hidden_b, 3 * components)

    def mean_stage(self, in_a: torch.Tensor):
        """(hA, mean offset m) for channels-last inputs (..., in_a)."""
        h_a = _hidden(self.stage_a(in_a))
        m = self.mean(torch.cat([in_a, h_a], dim=-1))
        m = q.fake_quant_half_up(m, q.PRED_OUT_FRAC, -4095, 4095)
        return h_a, m[..., 0]

    def shape_stage(self, in_b: torch.Tensor):
        """(mean offsets, log-scales, logits), each (..., K), in real units."""
        h_b = _hidden(self.stage_b(in_b))
        out = q.fake_quant_half_up(self.shape(h_b), q.PRED_OUT_FRAC, -2047, 2047)
        k = self.components
        return out[..., :k], out[..., k : 2 * k], out[..., 2 * k :]


class PlanePredictor(TwoStageHead):
    """The MED-anchored head for one plane role (0, 1 or 2 earlier planes)."""

    def __init__(self, role: int, features: int, hidden_a: int, hidden_b: int, components: int):
        super().__init__(len(NEIGHBOURS) + NEIGHBOUR_RESIDUALS + CROSS_A * role + features, hidden_a,
                         hidden_a + len(ERROR_NEIGHBOURS) + len(GRADIENT_INDEX) + role, hidden_b, components)
        self.role = role
        self.features = features
        self._init_as_med(components)

    def _init_as_med(self, components: int) -> None:
        """Start as MED prediction with a broad scale, so the first losses are sane."""
        with torch.no_grad():
            self.mean.weight.zero_()
            self.mean.bias.zero_()
            self.shape.weight.mul_(0.01)
            spread = torch.linspace(-1.0, 1.0, components) if components > 1 else torch.zeros(1)
            self.shape.bias.copy_(torch.cat([spread, torch.full((components,), 2.0),
                                             torch.zeros(components)]))


class CausalPredictor(nn.Module):
    """One :class:`PlanePredictor` per plane role."""

    def __init__(self, features: int, hidden_a: int, hidden_b: int, components: int):
        super().__init__()
        self.components = components
        self.planes = nn.ModuleList(
            PlanePredictor(r, features, hidden_a, hidden_b, components) for r in range(3)
        )

    def forward(self, x: torch.Tensor, features: torch.Tensor, guide: torch.Tensor | None = None):
        """Mixture parameters for every plane of ``x`` (N, C, H, W), C in {1, 3}; ``guide``
        (same shape) is the lossy reconstruction in rc mode.

        Returns means, log-scales and logits, each (N, C, H, W, K), in real units
        (pixels, natural-log scale, natural-log weights).
        """
        n, c, h, w = x.shape
        xp = F.pad(x, PAD, value=PAD_VALUE)
        if guide is not None:
            gp = F.pad(guide, PAD, value=PAD_VALUE)
            gr = F.pad(guide, (1, 1, 1, 1), mode="replicate")
        feats = features.permute(0, 2, 3, 1)
        errors, cross_a, cross_b = [], [], []
        means, log_scales, logits = [], [], []
        for plane in range(c):
            net = self.planes[plane]
            nb = [_shift(xp[:, plane], di, dj, h, w) for di, dj in NEIGHBOURS]
            if guide is None:
                ref = med(nb[2], nb[0], nb[4])
                rel = [v - ref for v in nb]
                residuals = neighbour_residuals(nb)
            else:
                ref = guide[:, plane]
                rel = [v - _shift(gp[:, plane], di, dj, h, w) for v, (di, dj) in zip(nb, NEIGHBOURS)]
                residuals = guide_texture(gr[:, plane], h, w)
            in_a = torch.cat([torch.stack(rel + residuals + cross_a, dim=-1), feats], dim=-1)
            h_a, m = net.mean_stage(in_a)
            mu = torch.clamp(ref + m, 0.0, 255.0)
            err = q.floor_ste((x[:, plane] - mu) * 4.0) / 4.0
            err = torch.clamp(err, -255.0, 255.0).detach()
            ep = F.pad(err, PAD, value=0.0)
            abs_err = [_shift(ep, di, dj, h, w).abs() for di, dj in ERROR_NEIGHBOURS]
            in_b = torch.cat([h_a, torch.stack(abs_err + gradients(nb) + cross_b, dim=-1)], dim=-1)
            delta, ls, lg = net.shape_stage(in_b)
            means.append(torch.clamp(mu.unsqueeze(-1) + delta, -32.0, 287.0))
            log_scales.append(torch.clamp(ls, q.LOG_SCALE_MIN / 16, q.LOG_SCALE_MAX / 16))
            logits.append(lg)
            xc = x[:, plane]
            cross_a = cross_a + [xc - ref, xc - nb[0], xc - nb[2], err]
            cross_b = cross_b + [err.abs()]
            errors.append(err)
        return torch.stack(means, 1), torch.stack(log_scales, 1), torch.stack(logits, 1)


def mixture_log_probs(x: torch.Tensor, means, log_scales, logits) -> torch.Tensor:
    """Natural-log probability of every integer sub-pixel of ``x`` (N, C, H, W) under its mixture."""
    xk = x.unsqueeze(-1)
    centered = xk - means
    inv_s = torch.exp(-log_scales)
    plus_in = inv_s * (centered + 0.5)
    min_in = inv_s * (centered - 0.5)
    cdf_delta = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
    log_cdf_plus = plus_in - F.softplus(plus_in)
    log_one_minus_cdf_min = -F.softplus(min_in)
    mid_in = inv_s * centered
    log_pdf_mid = mid_in - log_scales - 2.0 * F.softplus(mid_in)
    log_mid = torch.where(
        cdf_delta > 1e-5, torch.log(cdf_delta.clamp_min(1e-12)), log_pdf_mid
    )
    log_probs = torch.where(
        xk <= 0, log_cdf_plus, torch.where(xk >= 255, log_one_minus_cdf_min, log_mid)
    )
    return torch.logsumexp(log_probs + F.log_softmax(logits, dim=-1), dim=-1)


def mixture_bits(x: torch.Tensor, means, log_scales, logits) -> torch.Tensor:
    """Code length in bits of integer pixels ``x`` (N, C, H, W) under the mixtures."""
    return -mixture_log_probs(x, means, log_scales, logits).sum() / torch.log(torch.tensor(2.0))


def mixture_bits_map(x: torch.Tensor, means, log_scales, logits) -> torch.Tensor:
    """Code length in bits of every sub-pixel of ``x`` (N, C, H, W), same shape as ``x``."""
    return -mixture_log_probs(x, means, log_scales, logits) / torch.log(torch.tensor(2.0))
