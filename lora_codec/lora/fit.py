"""Per-image LoRA adaptation (``compress --steps N``): peft adapters trained on the image.

The frozen base model gets peft LoRA adapters on the layers of its learned head (the
causal predictor; ``AdaptOptions.targets`` may name the integer UNet decoder's too). A
few steps of Adam on crops of the image minimise the file's description length: pixel
bits plus the adapters' own coded bits.
The factors are trained with fake quantization on power-of-two grids and coded under a
zero-mean logistic prior whose scale is written per tensor (:mod:`.payload`), from which
the decoder rebuilds the exact integer weight changes.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from peft import LoraConfig, inject_adapter_in_model
from torch import nn
from torch.nn.utils import parametrize

from .. import entropy
from ..coding.groups import group_latents, in_coding_order
from ..coding.latents import latent_shape
from ..coding.tiles import tile_grid
from ..models.guide import combine_features
from ..models.predictor import mixture_bits
from ..models.quant import round_ste
from ..registry import LoadedModel
from .crops import CropSampler, rate_estimate
from .options import AdaptOptions
from .payload import encode_adapter_payload, integer_delta, weight_frac


@dataclass
class AdaptResult:
    payload: bytes
    deltas: dict[str, np.ndarray] = field(default_factory=dict)
    adapter_bits: float = 0.0


class FakeQuant(nn.Module):
    """A parametrization rounding a weight to the grid 2^-exponent (straight-through)."""

    def __init__(self, exponent: int) -> None:
        super().__init__()
        self.exponent = exponent

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        scale = float(2**self.exponent)
        return torch.clamp(round_ste(w * scale), -32767, 32767) / scale


def factor_integers(weight: torch.Tensor, exponent: int) -> np.ndarray:
    """The integers of a (fake-quantized) factor."""
    scaled = weight.detach().double() * float(2**exponent)
    return torch.clamp(torch.round(scaled), -32767, 32767).to(torch.int64).numpy()


def logistic_bits(values: torch.Tensor, log_scale: float) -> torch.Tensor:
    """Bits of integer-valued ``values`` under a zero-mean discretized logistic."""
    inv = math.exp(-log_scale)
    upper = torch.sigmoid((values + 0.5) * inv)
    lower = torch.sigmoid((values - 0.5) * inv)
    return -torch.log2((upper - lower).clamp_min(1e-12)).sum()


def _inject(model: LoadedModel, opts: AdaptOptions):
    net = copy.deepcopy(model.model)
    for p in net.parameters():
        p.requires_grad_(False)
    config = LoraConfig(r=opts.rank, lora_alpha=opts.rank, target_modules=list(opts.targets),
                        lora_dropout=0.0, bias="none")
    net = inject_adapter_in_model(config, net)
    factors = []
    for name in opts.targets:
        layer = net.get_submodule(name)
        a, b = layer.lora_A["default"], layer.lora_B["default"]
        parametrize.register_parametrization(a, "weight", FakeQuant(opts.exp_a))
        parametrize.register_parametrization(b, "weight", FakeQuant(opts.exp_b))
        factors.append((name, a, b))
    params = []
    for _, a, b in factors:
        for m in (a, b):
            orig = m.parametrizations.weight.original
            orig.requires_grad_(True)
            params.append(orig)
    return net, factors, params


def _rate_bits(factors, opts: AdaptOptions) -> torch.Tensor:
    total = torch.zeros(())
    for _, a, b in factors:
        for m, e in ((a, opts.exp_a), (b, opts.exp_b)):
            v = m.weight * float(2**e)  # already on the integer grid (fake-quantized)
            ls = math.log(float(v.detach().abs().mean()) * math.sqrt(3) / math.pi + 0.3)
            total = total + logistic_bits(v, ls)
    return total


# Latent rows/columns of context the decoder needs around a window: the 3x3 convolutions
# at levels 0, 1, 2, ... reach 1, 1/2, 1/4, ... latent units, less than 2 in all.
_LATENT_HALO = 2


def _crop_features(net, z: np.ndarray, levels: int, y: int, x: int, ch: int, cw: int) -> torch.Tensor:
    """The decoder's features of the window [y, y + ch) x [x, x + cw) of a tile, computed
    from the latent window that covers it plus a halo: the same numbers as decoding the
    whole tile and cropping, at a fraction of the cost."""
    m = 1 << levels
    zy0, zx0 = max(0, y // m - _LATENT_HALO), max(0, x // m - _LATENT_HALO)
    zy1 = min(z.shape[1], -(-(y + ch) // m) + _LATENT_HALO)
    zx1 = min(z.shape[2], -(-(x + cw) // m) + _LATENT_HALO)
    window = torch.from_numpy(np.ascontiguousarray(z[:, zy0:zy1, zx0:zx1])).float()[None]
    oy, ox = y - zy0 * m, x - zx0 * m
    return net.decoder(window, levels)[:, :, oy : oy + ch, ox : ox + cw]


class TileFeatures:
    """The UNet decoder's features of crops of the image's tiles. While no parameter of
    ``net``'s decoder trains (no adapters on it), its features do not change during the
    adaptation, so each tile's are computed once (the ``keep`` most recently used tiles are
    kept); otherwise every crop's come from its latent window, with gradients to the
    decoder's adapters."""

    def __init__(self, net, model: LoadedModel, tiles, latents, keep: int = 32) -> None:
        self.net, self.model, self.tiles, self.latents = net, model, tiles, latents
        self.frozen = not any(p.requires_grad for p in net.decoder.parameters())
        self.keep = keep
        self._kept: OrderedDict[int, torch.Tensor] = OrderedDict()

    def crop(self, k: int, y: int, x: int, ch: int, cw: int) -> torch.Tensor:
        """Features (1, F, ch, cw) of the window [y, y + ch) x [x, x + cw) of tile ``k``."""
        levels = latent_shape(self.model, self.tiles[k])[0]
        if not self.frozen:
            return _crop_features(self.net, self.latents[k], levels, y, x, ch, cw)
        if k in self._kept:
            self._kept.move_to_end(k)
        else:
            with torch.no_grad():
                z = torch.from_numpy(np.ascontiguousarray(self.latents[k])).float()[None]
                self._kept[k] = self.net.decoder(z, levels)
            if len(self._kept) > self.keep:
                self._kept.popitem(last=False)
        return self._kept[k][:, :, y : y + ch, x : x + cw]


def _crop_tensors(features: TileFeatures, planes, engine, guide, k, y, x, ch, cw):
    """The tensors of one training crop ``[y, y + ch) x [x, x + cw)`` of tile ``k``: pixels,
    features, and the engine outputs and guide (or None), each with a batch axis."""
    tile = features.tiles[k]
    feats = features.crop(k, y, x, ch, cw)
    window = (slice(tile.y0 + y, tile.y0 + y + ch), slice(tile.x0 + x, tile.x0 + x + cw))
    xt = torch.from_numpy(planes[window].transpose(2, 0, 1).copy()).float()[None]
    et = gt = None
    if engine is not None:
        et = torch.from_numpy(engine[window].transpose(2, 0, 1, 3).copy()).float()[None]
    if guide is not None:
        gt = torch.from_numpy(guide[window].transpose(2, 0, 1).copy()).float()[None]
    return xt, feats, et, gt


def _crops_bpsp(net, crops) -> torch.Tensor:
    """The head's mean code length (bits per sub-pixel) of a list of crops."""
    loss = torch.zeros(())
    count = 0
    for xt, feats, et, gt in _same_shape_batches(crops):
        if gt is not None:
            with torch.no_grad():
                g_feats = net.guide(net.colour_input(gt))
            feats = combine_features(feats, g_feats)
        means, log_scales, logits = net.predict(xt, feats, gt, et)
        loss = loss + mixture_bits(xt, means, log_scales, logits)
        count += xt.numel()
    return loss / count


def _same_shape_batches(crops):
    """The crops' tensors (as from :func:`_crop_tensors`) concatenated into batches of
    equal shape, one forward pass each."""
    shapes = {}
    for k, crop in enumerate(crops):
        shapes.setdefault(tuple(crop[0].shape), []).append(k)
    for ks in shapes.values():
        yield tuple(None if crops[ks[0]][j] is None else torch.cat([crops[k][j] for k in ks]) for j in range(4))


def planned_steps(steps: int, done: int, elapsed: float, loop_seconds: float, time_budget: float | None) -> int:
    """How many steps the adaptation runs in all: ``steps``, or fewer when the steps
    ``done`` so far, which took ``loop_seconds`` of the ``elapsed`` seconds, say that the
    rest would not fit in ``time_budget`` seconds (at least the steps already done).

    >>> planned_steps(200, 8, elapsed=3.0, loop_seconds=2.0, time_budget=10.0)  # 0.25 s a step
    36
    >>> planned_steps(200, 8, elapsed=3.0, loop_seconds=2.0, time_budget=None)
    200
    """
    if time_budget is None or done == 0 or loop_seconds <= 0:  # no pace to go by yet
        return steps
    per_step = loop_seconds / done
    return max(done, min(steps, done + int((time_budget - elapsed) // per_step)))


def adapt_to_image(model: LoadedModel, pixels: np.ndarray, colour: str, steps: int,
                   options: AdaptOptions | None = None, progress=None, guide: np.ndarray | None = None,
                   latents: list[np.ndarray] | None = None, time_budget: float | None = None) -> AdaptResult:
    """Fine-tune adapters on one image for ``steps`` steps; returns the coded adapters.

    ``guide`` is the base layer's reconstruction of the colour planes (rc models only);
    ``latents`` are the colour group's latents if the caller has them already. With
    ``time_budget`` (seconds), the adaptation plans as many of the ``steps`` as fit in
    that time from the pace of the steps so far, and its learning-rate schedule follows
    the plan. Given the same arguments (and no ``time_budget``), the adapters are the same
    in every call and process: the adapters' random start is drawn from a generator
    seeded with ``options.seed``, and the caller's torch generator is left as it was."""
    opts = options or AdaptOptions()
    started = time.monotonic()  # the time budget counts from here
    with _torch_threads(opts.threads):
        with _SEEDED_DRAWS, torch.random.fork_rng(devices=[]):
            _ = model.model  # the float model, built now if not yet: its throw-away random init draws before the seed
            torch.manual_seed(opts.seed)
            injected = _inject(model, opts)  # peft draws the adapters' start from torch's generator
        return _adapt(model, pixels, colour, steps, opts, progress, guide, latents, time_budget, injected, started)


@contextmanager
def _torch_threads(threads: int | None):
    """torch on ``threads`` threads inside, as before after (nothing changed for None)."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# torch's generator is one per process: the adapters' start is drawn from it, seeded, under
# this lock, so that images adapted on several threads at once (a batch's files) start as
# each would alone. Nothing after the start draws from it.
_SEEDED_DRAWS = threading.Lock()


def _adapt(model: LoadedModel, pixels: np.ndarray, colour: str, steps: int, opts: AdaptOptions, progress,
           guide: np.ndarray | None, latents: list[np.ndarray] | None, time_budget: float | None,
           injected, started: float) -> AdaptResult:
    """:func:`adapt_to_image`'s work, from the adapters ``injected`` by :func:`_inject`
    (``started``: when it began, by ``time.monotonic()``)."""
    image_planes = np.ascontiguousarray(pixels[:, :, :3] if colour in ("RGB", "RGBA") else pixels[:, :, :1])
    planes = in_coding_order(model, image_planes)
    grid = tile_grid(planes.shape[0], planes.shape[1], model.cfg.tile)
    tiles = [t for band in grid for t in band]
    if latents is None:
        latents = group_latents(model, image_planes)
    if guide is not None:
        guide = in_coding_order(model, guide)
    engine = entropy.engine_outputs(planes, guide) if model.engine else None
    guide_planes = guide if model.cfg.guide_channels > 0 else None  # an engine model reads it in its engine
    cost = rate_estimate(planes, engine) if opts.schedule == "rate" else None
    sampler = CropSampler(tiles, cost, opts.crop, opts.schedule, opts.seed)
    net, factors, params = injected
    features = TileFeatures(net, model, tiles, latents)
    optimizer = torch.optim.Adam(params, lr=opts.lr)
    total_subpixels = planes.size
    planned = steps
    task = progress.add_task("adapt", total=planned, note="") if progress is not None else None
    ema = None
    step = 0
    loop_started = time.monotonic()
    while step < planned:
        for group in optimizer.param_groups:  # cosine decay to 5 % of the initial rate
            group["lr"] = opts.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / planned)))
        crops = [_crop_tensors(features, planes, engine, guide_planes, *sampler.draw(step, planned))
                 for _ in range(opts.batch)]
        objective = _crops_bpsp(net, crops) + _rate_bits(factors, opts) / total_subpixels
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        value = float(objective.detach())
        ema = value if ema is None else 0.9 * ema + 0.1 * value
        step += 1
        now = time.monotonic()
        planned = planned_steps(steps, step, now - started, now - loop_started, time_budget)
        if task is not None:
            left = f", {max(0.0, time_budget - (now - started)):.0f} s left" if time_budget is not None else ""
            progress.update(task, completed=step, total=planned, note=f"{ema:.3f} bpsp{left}")
    if task is not None:
        progress.remove_task(task)
    coded = []
    for name, a, b in factors:
        coded.append((name, factor_integers(a.weight, opts.exp_a), factor_integers(b.weight, opts.exp_b)))
    payload = encode_adapter_payload(opts.rank, opts.exp_a, opts.exp_b, coded)
    deltas = {name: integer_delta(a_int, b_int, opts.exp_a, opts.exp_b, weight_frac(name),
                                  tuple(model.model.get_submodule(name).weight.shape))
              for name, a_int, b_int in coded}
    return AdaptResult(payload=payload, deltas=deltas, adapter_bits=8.0 * len(payload))
