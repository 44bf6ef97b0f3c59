"""Ablation: which context model? Trains each variant for the same number of steps (same
batch, crops and schedule) on one thread, then measures its ideal code length (float path,
z bits included) on Kodak. A fixed step budget keeps the comparison fair on a shared,
noisy machine; ``--minutes`` caps wall-clock time as well.

Variants
  causal+unet    the shipped design: UNet latent z -> integer decoder features -> the
                 per-pixel causal predictor (run natively when coding)
  causal-only    the causal predictor alone (features zeroed, no z)
  subimage-4     a parallel model: 2x2 space-to-depth groups coded in 4 passes, each a
                 small CNN conditioned on z features and the groups already decoded;
                 colour channels conditioned on earlier channels (PixelCNN++-style)

    python scripts/ablation.py VARIANT --steps 600 --out results/ablation
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lora_codec.config import ModelConfig
from lora_codec.data import CropSampler, list_images, load_rgb
from lora_codec.models.predictor import mixture_bits
from lora_codec.models.probability import ProbabilityModel


class CausalOnly(ProbabilityModel):
    """The causal predictor with zero features and no latent."""

    def forward(self, x):
        feats = torch.zeros(x.shape[0], self.cfg.features, x.shape[2], x.shape[3])
        return mixture_bits(x, *self.predictor(x, feats)), torch.zeros(())


class SubImage(ProbabilityModel):
    """Four passes over the 2x2 polyphase groups; K-logistic mixtures per channel."""

    def __init__(self, cfg: ModelConfig, width: int = 20) -> None:
        super().__init__(cfg)
        k = cfg.components
        self.k = k
        self.nets = nn.ModuleList()
        for g in range(4):
            cin = 3 * g + 4 * cfg.features  # earlier groups + features of the 4 phases
            self.nets.append(nn.Sequential(
                nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                nn.Conv2d(width, 3 * 3 * k + 3, 1)))  # per channel: means, scales, logits; 3 alphas

    def forward(self, x):
        n, c, h, w = x.shape
        z, levels = self.analyse(x)
        feats = self.features(z, levels, h, w)
        xs = F.pixel_unshuffle(x, 2)            # (n, 4c, h/2, w/2): phase-major? channel-major
        fs = F.pixel_unshuffle(feats, 2)
        xs = xs.view(n, c, 4, h // 2, w // 2)
        bits = torch.zeros(())
        known = []
        for g in range(4):
            inp = torch.cat(known + [fs], 1)
            out = self.nets[g](inp)
            k = self.k
            params = out[:, : 9 * k].view(n, 3, 3, k, h // 2, w // 2)
            alpha = out[:, 9 * k :]
            target = xs[:, :, g]                  # (n, 3, h/2, w/2)
            means = params[:, :, 0]
            means = means + 127.5
            # channel conditioning: G mean += a0 * R, B mean += a1 * R + a2 * G (centred)
            xr, xg = (target[:, 0:1] - 127.5), (target[:, 1:2] - 127.5)
            adj = torch.stack([torch.zeros_like(xr[:, 0]), alpha[:, 0] * xr[:, 0],
                               alpha[:, 1] * xr[:, 0] + alpha[:, 2] * xg[:, 0]], 1)
            means = means + adj.unsqueeze(2)
            log_scales = torch.clamp(params[:, :, 1], -4.0, 7.0)
            logits = params[:, :, 2]
            perm = lambda t: t.permute(0, 1, 3, 4, 2)  # (n, 3, H, W, k)
            bits = bits + mixture_bits(target, perm(means), perm(log_scales), perm(logits))
            known.append(target / 127.5 - 1.0)
        return bits, self.prior.bits(z)


VARIANTS = {"causal+unet": ProbabilityModel, "causal-only": CausalOnly, "subimage-4": SubImage}


def evaluate(model, folder: str, tile: int) -> float:
    """Ideal bpsp over whole images, coded as independent ``tile`` x ``tile`` tiles (the
    training crop size, so every variant sees the number of levels it was trained with)."""
    total_bits, total = 0.0, 0
    with torch.no_grad():
        for path in list_images(folder):
            img = load_rgb(path)
            h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
            for y in range(0, h, tile):
                for x0 in range(0, w, tile):
                    patch = img[y : min(h, y + tile), x0 : min(w, x0 + tile)]
                    x = torch.from_numpy(patch.transpose(2, 0, 1).copy()).float()[None]
                    bx, bz = model(x)
                    total_bits += float(bx + bz)
                    total += x.numel()
    return total_bits / total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--minutes", type=float, default=60, help="wall-clock cap")
    parser.add_argument("--data", default="../shared/data/train")
    parser.add_argument("--kodak", default="../shared/data/kodak")
    parser.add_argument("--out", default="results/ablation")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    cfg = ModelConfig()
    model = VARIANTS[args.variant](cfg)
    params = sum(p.numel() for p in model.parameters())
    crop = 128
    sampler = CropSampler([load_rgb(p) for p in list_images(args.data)], crop, 0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    t0, step = time.time(), 0
    budget = args.minutes * 60
    while step < args.steps and time.time() - t0 < budget:
        frac = step / args.steps
        for g in opt.param_groups:
            g["lr"] = 2e-3 * (0.5 * (1 + np.cos(np.pi * frac))) + 5e-5
        x = torch.from_numpy(sampler.batch(8)).float()
        bx, bz = model(x)
        loss = (bx + bz) / x.numel()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
    model.eval()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / f"{args.variant}.pt")
    bpsp = evaluate(model, args.kodak, crop)
    record = {"variant": args.variant, "params": params, "minutes": round((time.time() - t0) / 60, 1), "steps": step,
              "threads": args.threads, "eval_tile": crop, "kodak_bpsp_float": bpsp}
    (out / f"{args.variant}.json").write_text(json.dumps(record, indent=1))
    print(json.dumps(record))


if __name__ == "__main__":
    main()
