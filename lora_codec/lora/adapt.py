"""Per-image LoRA adaptation (``compress --steps N``) and the adapter section.

The frozen base model gets peft LoRA adapters on its decoder-path layers (the integer UNet
decoder and the causal predictor). A few steps of Adam on random crops of the image
minimise the file's description length: pixel bits plus the adapters' own coded bits.
The factors are trained with fake quantization on power-of-two grids and coded under a
zero-mean logistic prior whose scale is written per tensor; the decoder rebuilds the exact
integer weight changes from them (:mod:`lora_codec.lora.quantized`).
"""

from __future__ import annotations

import copy
import math
import struct
from dataclasses import dataclass, field

import numpy as np
import torch
from peft import LoraConfig, inject_adapter_in_model
from torch.nn.utils import parametrize

from .. import entropy
from ..models import quant as q
from ..models.guide import combine_features
from ..models.predictor import mixture_bits
from ..models.registry import LoadedModel
from .quantized import FakeQuant, factor_integers, integer_delta, logistic_bits

PREDICTOR_LAYERS = ("stage_a", "mean", "stage_b", "shape")
DEFAULT_TARGETS = ("decoder.up", "decoder.head") + tuple(
    f"predictor.planes.{r}.{layer}" for r in range(3) for layer in PREDICTOR_LAYERS
)
PAYLOAD_VERSION = 1
_SYMBOL_OFFSET = 1 << 15
_ALPHABET = 1 << 16


@dataclass(frozen=True)
class AdaptOptions:
    """Options of the per-image adaptation (CLI: --rank, --lr, --targets, --seed)."""

    rank: int = 2
    lr: float = 2e-2
    targets: tuple[str, ...] = DEFAULT_TARGETS
    seed: int = 0
    crop: int = 96
    batch: int = 4
    exp_a: int = 6
    exp_b: int = 9

    @classmethod
    def from_args(cls, rank=None, lr=None, targets=None, seed=None) -> "AdaptOptions":
        base = cls()
        opts = cls(
            rank=base.rank if rank is None else int(rank),
            lr=base.lr if lr is None else float(lr),
            targets=base.targets if targets is None else tuple(t.strip() for t in targets.split(",") if t.strip()),
            seed=base.seed if seed is None else int(seed),
        )
        if not 1 <= opts.rank <= 16:
            raise ValueError("--rank must be in [1, 16]")
        if not 0 < opts.lr < 1:
            raise ValueError("--lr must be in (0, 1)")
        unknown = [t for t in opts.targets if t not in DEFAULT_TARGETS and t != "decoder.inp"]
        if unknown or not opts.targets:
            raise ValueError(f"unknown --targets {', '.join(unknown) or '(empty)'}; "
                             f"choose from decoder.inp, {', '.join(DEFAULT_TARGETS)}")
        return opts


@dataclass
class AdaptResult:
    payload: bytes
    deltas: dict[str, np.ndarray] = field(default_factory=dict)
    adapter_bits: float = 0.0


def weight_frac(name: str) -> int:
    return q.DEC_W_FRAC if name.startswith("decoder.") else q.PRED_W_FRAC


def _factor_shapes(model: LoadedModel, name: str, rank: int):
    w = model.model.get_submodule(name).weight
    if w.ndim == 2:
        return (rank, w.shape[1]), (w.shape[0], rank), tuple(w.shape)
    return (rank, w.shape[1], w.shape[2], w.shape[3]), (w.shape[0], rank, 1, 1), tuple(w.shape)


def _best_log_scale(values: np.ndarray) -> int:
    """The Q4 log-scale (of the zero-mean logistic prior) that codes ``values`` best."""
    flat = values.reshape(-1).astype(np.int32)
    spread = max(1.0, float(np.mean(np.abs(flat))))
    guess = int(round(16 * math.log(spread * math.sqrt(3) / math.pi + 0.3)))
    best, best_bits = guess, float("inf")
    for ls in range(guess - 12, guess + 13, 2):
        ls = int(np.clip(ls, q.LOG_SCALE_MIN, q.LOG_SCALE_MAX))
        bits = _factor_bits(flat, ls)
        if bits < best_bits:
            best, best_bits = ls, bits
    return best


def _mixture_args(values: np.ndarray, log_scale: int):
    n = values.size
    symbols = (values.reshape(-1) + _SYMBOL_OFFSET).astype(np.int32)
    means = np.full((n, 1), _SYMBOL_OFFSET * 16, dtype=np.int32)
    return symbols, means, np.full((n, 1), log_scale, dtype=np.int32), np.zeros((n, 1), dtype=np.int32)


def _factor_bits(values: np.ndarray, log_scale: int) -> float:
    return entropy.mixture_cdf_bits(*_mixture_args(values, log_scale), alphabet=_ALPHABET)


def encode_adapter_payload(rank: int, exp_a: int, exp_b: int, factors: list[tuple[str, np.ndarray, np.ndarray]]) -> bytes:
    """Serialise integer factors (see docs/format.md, section LORA)."""
    head = [struct.pack("<BBbbB", PAYLOAD_VERSION, rank, exp_a, exp_b, len(factors))]
    values, scales = [], []
    for name, a_int, b_int in factors:
        raw = name.encode("ascii")
        ls_a, ls_b = _best_log_scale(a_int), _best_log_scale(b_int)
        head.append(struct.pack("<B", len(raw)) + raw + struct.pack("<hh", ls_a, ls_b))
        values += [a_int.reshape(-1), b_int.reshape(-1)]
        scales += [np.full(a_int.size, ls_a), np.full(b_int.size, ls_b)]
    flat = np.concatenate(values)
    symbols, means, _, logits = _mixture_args(flat, 0)
    stream = entropy.encode_mixture(symbols, means, np.concatenate(scales).astype(np.int32)[:, None], logits,
                                    alphabet=_ALPHABET)
    return b"".join(head) + stream


def decode_adapter_payload(model: LoadedModel, payload: bytes, framed: bool = True) -> dict[str, np.ndarray]:
    """Integer weight deltas of every adapted layer, from an adapter section
    (``framed=False``: format v1)."""
    try:
        version, rank, exp_a, exp_b, count = struct.unpack_from("<BBbbB", payload, 0)
        if version != PAYLOAD_VERSION:
            raise ValueError(f"unsupported adapter payload version {version}")
        if not 1 <= rank <= 16 or not (0 <= exp_a <= 24 and 0 <= exp_b <= 24):
            raise ValueError("implausible adapter parameters")
        pos = struct.calcsize("<BBbbB")
        layers = []
        for _ in range(count):
            (length,) = struct.unpack_from("<B", payload, pos)
            name = payload[pos + 1 : pos + 1 + length].decode("ascii")
            pos += 1 + length
            ls_a, ls_b = struct.unpack_from("<hh", payload, pos)
            pos += 4
            if name not in DEFAULT_TARGETS and name != "decoder.inp":
                raise ValueError(f"unknown adapted layer {name!r}")
            layers.append((name, ls_a, ls_b))
    except (struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"corrupt adapter section ({exc})") from None
    shapes = [_factor_shapes(model, name, rank) for name, _, _ in layers]
    scales = []
    for (name, ls_a, ls_b), (sa, sb, _) in zip(layers, shapes):
        scales += [np.full(int(np.prod(sa)), ls_a), np.full(int(np.prod(sb)), ls_b)]
    scales = np.concatenate(scales).astype(np.int32)[:, None] if scales else np.zeros((0, 1), np.int32)
    n = scales.shape[0]
    means = np.full((n, 1), _SYMBOL_OFFSET * 16, dtype=np.int32)
    symbols = entropy.decode_mixture(payload[pos:], means, scales, np.zeros((n, 1), np.int32), alphabet=_ALPHABET,
                                     framed=framed)
    values = symbols.astype(np.int64) - _SYMBOL_OFFSET
    deltas, cursor = {}, 0
    for (name, _, _), (sa, sb, shape) in zip(layers, shapes):
        na, nb = int(np.prod(sa)), int(np.prod(sb))
        a_int = values[cursor : cursor + na].reshape(sa)
        b_int = values[cursor + na : cursor + na + nb].reshape(sb)
        cursor += na + nb
        deltas[name] = integer_delta(a_int, b_int, exp_a, exp_b, weight_frac(name), shape)
    return deltas


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


def adapt_to_image(model: LoadedModel, pixels: np.ndarray, colour: str, steps: int,
                   options: AdaptOptions | None = None, progress=None, guide: np.ndarray | None = None) -> AdaptResult:
    """Fine-tune adapters on one image for ``steps`` steps; returns the coded adapters.

    ``guide`` is the base layer's reconstruction of the colour planes (rc models only)."""
    from ..codec import encode_latents, latent_shape, tile_grid

    opts = options or AdaptOptions()
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    planes = np.ascontiguousarray(pixels[:, :, :3] if colour in ("RGB", "RGBA") else pixels[:, :, :1])
    grid = tile_grid(planes.shape[0], planes.shape[1], model.cfg.tile)
    tiles = [t for band in grid for t in band]
    latents = encode_latents(model, planes, grid)
    area = np.array([(t.y1 - t.y0) * (t.x1 - t.x0) for t in tiles], dtype=np.float64)
    net, factors, params = _inject(model, opts)
    optimizer = torch.optim.Adam(params, lr=opts.lr)
    total_subpixels = planes.size
    task = progress.add_task("adapt", total=steps, note="") if progress is not None else None
    ema = None
    for step in range(steps):
        for group in optimizer.param_groups:  # cosine decay to 5 % of the initial rate
            group["lr"] = opts.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        loss = torch.zeros(())
        count = 0
        for _ in range(opts.batch):
            k = rng.choice(len(tiles), p=area / area.sum())
            t, z = tiles[k], latents[k]
            levels = latent_shape(model, t)[0]
            th, tw = t.y1 - t.y0, t.x1 - t.x0
            ch, cw = min(opts.crop, th), min(opts.crop, tw)
            y = int(rng.integers(0, th - ch + 1))
            x = int(rng.integers(0, tw - cw + 1))
            feats = _crop_features(net, z, levels, y, x, ch, cw)
            window = (slice(t.y0 + y, t.y0 + y + ch), slice(t.x0 + x, t.x0 + x + cw))
            xt = torch.from_numpy(planes[window].transpose(2, 0, 1).copy()).float()[None]
            gt = None
            if guide is not None:
                gt = torch.from_numpy(guide[window].transpose(2, 0, 1).copy()).float()[None]
                with torch.no_grad():
                    g_feats = net.guide(net.colour_input(gt))
                feats = combine_features(feats, g_feats)
            means, log_scales, logits = net.predictor(xt, feats, gt)
            loss = loss + mixture_bits(xt, means, log_scales, logits)
            count += xt.numel()
        pixel_bpsp = loss / count
        objective = pixel_bpsp + _rate_bits(factors, opts) / total_subpixels
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        value = float(objective.detach())
        ema = value if ema is None else 0.9 * ema + 0.1 * value
        if task is not None:
            progress.update(task, completed=step + 1, note=f"{ema:.3f} bpsp")
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
