"""Training the base probability model on random crops (``lora-codec train CONFIG``).

Checkpoints (safetensors: weights, Adam state, step, sampler state) are written every
``checkpoint_every`` steps to ``<out>/checkpoint.safetensors``; rerunning the same command
resumes from there. ``<out>/train.log`` receives one line per ``log_every`` steps.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from safetensors.torch import load_file, save_file

from .config import Config
from .data import CropSampler, EngineCropSampler, GuidedCropSampler, hevc_reconstructions, list_images, load_rgb
from .models.predictor import TwoStageHead
from .models.probability import ProbabilityModel


def learning_rate(step: int, total: int, base: float, floor: float) -> float:
    """Linear warm-up over 100 steps, then cosine decay from ``base`` to ``floor``."""
    if step < 100:
        return base * (step + 1) / 100
    t = min(1.0, (step - 100) / max(1, total - 100))
    return floor + 0.5 * (base - floor) * (1 + math.cos(math.pi * t))


def _save_checkpoint(path: Path, model, optimizer, step: int, sampler: CropSampler) -> None:
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    for idx, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensors[f"optim.{idx}.{name}"] = torch.as_tensor(value).detach().clone().contiguous()
    meta = {"step": str(step), "rng": json.dumps(sampler.rng.bit_generator.state)}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def _load_checkpoint(path: Path, model, optimizer, sampler: CropSampler) -> int:
    from safetensors import safe_open

    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    opt_state = optimizer.state_dict()
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    opt_state["state"] = state
    optimizer.load_state_dict(opt_state)
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata()
    sampler.rng.bit_generator.state = json.loads(meta["rng"])
    return int(meta["step"])


def _widen_head(own: TwoStageHead, source: TwoStageHead) -> None:
    """Start ``own`` (a head at least as wide, with at least as many components) as the
    function of ``source``: its units are copied, the extra hidden units read nothing out
    (their small random inputs give them gradients) and the extra components have a
    negligible weight."""
    ha, hb, k = source.stage_a.out_features, source.stage_b.out_features, source.components
    na, nb, kn = own.stage_a.out_features, own.stage_b.out_features, own.components
    rest_b = source.stage_b.in_features - ha
    with torch.no_grad():
        own.stage_a.weight.mul_(0.1)
        own.stage_a.weight[:ha] = source.stage_a.weight
        own.stage_a.bias[:ha] = source.stage_a.bias
        own.mean.weight.zero_()
        own.mean.weight[:, : source.mean.in_features] = source.mean.weight
        own.mean.bias.copy_(source.mean.bias)
        own.stage_b.weight.mul_(0.1)
        own.stage_b.weight[:hb].zero_()
        own.stage_b.weight[:hb, :ha] = source.stage_b.weight[:, :ha]
        own.stage_b.weight[:hb, na:] = source.stage_b.weight[:, ha:]
        own.stage_b.bias[:hb] = source.stage_b.bias
        own.shape.weight.zero_()
        own.shape.bias.zero_()
        for part in range(3):  # mean offsets, log-scales, logits
            own.shape.weight[part * kn : part * kn + k, :hb] = source.shape.weight[part * k : (part + 1) * k]
            own.shape.bias[part * kn : part * kn + k] = source.shape.bias[part * k : (part + 1) * k]
            own.shape.bias[part * kn + k : (part + 1) * kn] = source.shape.bias[part * k]
        own.shape.bias[2 * kn + k :] = source.shape.bias[2 * k :].min() - 8.0
    assert own.stage_b.in_features - na == rest_b


def initialise_from(model: ProbabilityModel, path: str | Path) -> None:
    """Copy the layers of a model file that ``model`` shares with it. An rc model starts its
    mean read-outs at zero, so that it first predicts the lossy reconstruction itself; an
    engine model takes the UNet and the latent prior, and from an engine model also the
    head, widened if it is wider (:func:`_widen_head`)."""
    from .registry import load_model_file

    loaded = load_model_file(path).model
    source = loaded.state_dict()
    own = model.state_dict()
    shared = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    if model.cfg.engine:  # a new head: take only the UNet (and the latent prior)
        shared = {k: v for k, v in shared.items() if not k.startswith("predictor.")}
    model.load_state_dict(shared, strict=False)
    if model.cfg.engine and loaded.cfg.engine:
        for mine, theirs in zip(model.predictor.planes, loaded.predictor.planes):
            _widen_head(mine, theirs)
    if model.guided:
        with torch.no_grad():
            for plane in model.predictor.planes:
                plane.mean.weight.zero_()
                plane.mean.bias.zero_()


def train(cfg: Config, quiet: bool = False) -> Path:
    """Run (or resume) training; returns the path of the final checkpoint."""
    tc = cfg.train
    torch.manual_seed(tc.seed)
    torch.set_num_threads(tc.threads)
    out = Path(tc.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = list_images(tc.data, tc.validation)
    images = [load_rgb(p) for p in paths]
    model = ProbabilityModel(cfg.model)
    if model.guided:
        recons = hevc_reconstructions(paths, out / "hevc", tc.hevc_per_image,
                                      (tc.hevc_min_quality, tc.hevc_max_quality), tc.seed, workers=tc.threads)
        sampler = GuidedCropSampler(images, recons, tc.crop, tc.seed)
    elif model.cfg.engine:
        sampler = EngineCropSampler(images, tc.crop, tc.seed, tc.margin)
    else:
        sampler = CropSampler(images, tc.crop, tc.seed)
    if tc.init:
        initialise_from(model, tc.init)
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr)
    ckpt = out / "checkpoint.safetensors"
    step = _load_checkpoint(ckpt, model, optimizer, sampler) if ckpt.exists() else 0
    log = open(out / "train.log", "a", buffering=1)
    log.write(f"# start step={step} config={json.dumps(cfg.__dict__, default=lambda o: o.__dict__)}\n")
    ema = None
    columns = [TextColumn("train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("{task.fields[bpsp]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, disable=quiet) as progress:
        task = progress.add_task("train", total=tc.steps, completed=step, bpsp="")
        t0 = time.time()
        while step < tc.steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, tc.steps, tc.lr, tc.min_lr)
            guide = engine = None
            if model.guided:
                xb, gb = sampler.batch(tc.batch)
                x, guide = torch.from_numpy(xb).float(), torch.from_numpy(gb).float()
            elif model.cfg.engine:
                xb, eb = sampler.batch(tc.batch)
                x, engine = torch.from_numpy(xb).float(), torch.from_numpy(eb).float()
            else:
                x = torch.from_numpy(sampler.batch(tc.batch)).float()
            bits_x, bits_z = model(x, guide, engine)
            loss = (bits_x + bits_z) / x.numel()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            value = loss.item()
            ema = value if ema is None else 0.98 * ema + 0.02 * value
            progress.update(task, completed=step, bpsp=f"{ema:.3f} bpsp")
            if step % tc.log_every == 0:
                log.write(f"step={step} bpsp={value:.4f} ema={ema:.4f} "
                          f"z={bits_z.item() / x.numel():.4f} lr={optimizer.param_groups[0]['lr']:.2e} "
                          f"sec={time.time() - t0:.0f}\n")
            if step % tc.checkpoint_every == 0 or step == tc.steps:
                _save_checkpoint(ckpt, model, optimizer, step, sampler)
    log.close()
    return ckpt


def export_checkpoint(cfg: Config, checkpoint: str | Path, path: str | Path, force: bool = False) -> bytes:
    """Write the model file (weights + integer latent tables) of a training checkpoint
    (an existing file is replaced only with ``force``)."""
    from .registry import save_model_file

    tensors = load_file(str(checkpoint))
    model = ProbabilityModel(cfg.model)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    return save_model_file(model, path, force)
