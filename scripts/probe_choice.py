"""Does side information pay? z as a per-block choice that the encoder makes (issue 13).

The shipped UNet's latent carries nothing (docs/design.md, "The UNet does not pay"). This
probe gives z the role of JPEG-XL's MA tree or MRP's class map: on every 8 x 8 block (one
latent position at three levels) the encoder picks one of a few codes (z = 0, or +-1 on
one of ``--channels`` latent channels), and the UNet decoder turns the chosen codes into
the head's features. It is trained by hard EM ("multiple choice"), starting from a
shipped engine model:

* the decoder starts fresh (the shipped one is nearly constant) and the head's weights on
  the features start small and random, with the features the shipped decoder gave folded
  into its biases, so the codes differ from the first step;
* each step codes every training crop once per code, picks per block the code with the
  fewest bits (pixels plus z under the latent prior; for the first ``--explore`` steps
  pixels only), and trains decoder, head and prior on the chosen codes, and the UNet
  encoder (with its attention) to predict the choice;
* every ``--eval-every`` steps, on fixed crops of the validation images: the float code
  length with z = 0, with the encoder's choice, and with the best choice per block
  (z bits included), and the pixels alone with a free best choice (the bound on what any
  per-block side information could give this head).

Float code lengths of the training form, not files. Writes OUT/log.txt and OUT/eval.jsonl.

    python scripts/probe_choice.py ../shared/data/train --config configs/engine3.toml \\
        --model lora_codec/weights/engine3.safetensors --steps 400 --out results/choice
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent

def code_book(latent_channels: int, used: int) -> torch.Tensor:
    """(K, C) integer codes: all zeros, then +1 and -1 on each of the first ``used`` channels."""
    codes = [torch.zeros(latent_channels)]
    for c in range(used):
        for sign in (1.0, -1.0):
            code = torch.zeros(latent_channels)
            code[c] = sign
            codes.append(code)
    return torch.stack(codes)


def block_sums(bits: torch.Tensor, levels: int) -> torch.Tensor:
    """Bits (N, C, H, W) summed over planes and over the 2^levels blocks: (N, h, w)."""
    side = 1 << levels
    return F.avg_pool2d(bits.sum(1, keepdim=True), side, side, ceil_mode=True, divisor_override=1)[:, 0]


class ChoiceProbe:
    """A model whose latent is a per-block choice among ``codes``."""

    def __init__(self, model, codes: torch.Tensor, levels: int = 3) -> None:
        self.model, self.codes, self.levels = model, codes, levels

    def pixel_bits(self, x: torch.Tensor, engine: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        from lora_codec.models.predictor import mixture_bits_map

        feats = self.model.decoder(z, self.levels)[:, :, : x.shape[2], : x.shape[3]]
        return mixture_bits_map(x, *self.model.predictor(x, feats, engine))

    def uniform(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """z with code ``k`` on every block of ``x``."""
        side = 1 << self.levels
        n, _, h, w = x.shape
        return self.codes[k].view(1, -1, 1, 1).expand(n, -1, -(-h // side), -(-w // side)).contiguous()

    def block_costs(self, x: torch.Tensor, engine: torch.Tensor, with_z: bool = True) -> torch.Tensor:
        """(N, h, w, K): each block's bits with every block on code k (z bits if ``with_z``)."""
        costs = []
        with torch.no_grad():
            for k in range(len(self.codes)):
                z = self.uniform(x, k)
                cost = block_sums(self.pixel_bits(x, engine, z), self.levels)
                costs.append(cost + self.model.prior.bits_map(z) if with_z else cost)
        return torch.stack(costs, -1)

    def choose(self, x: torch.Tensor, engine: torch.Tensor, with_z: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, choice): per block the code of fewest bits."""
        choice = self.block_costs(x, engine, with_z).argmin(-1)
        return self.codes[choice].permute(0, 3, 1, 2).contiguous(), choice

    def encoder_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, K, h, w): the UNet encoder's scores for the codes (minus squared distance)."""
        y = self.model.encoder(self.model.colour_input(x), self.levels)
        return -2.0 * ((y.unsqueeze(1) - self.codes.view(1, *self.codes.shape, 1, 1)) ** 2).sum(2)

    def total_bits(self, x: torch.Tensor, engine: torch.Tensor, z: torch.Tensor) -> float:
        return float(self.pixel_bits(x, engine, z).sum() + self.model.prior.bits(z))


def prepare(model, used: int, head_scale: float, seed: int) -> None:
    """Restart the decoder, fold its shipped (near-constant) features into the head's
    biases, give the head small random weights on the features, and a broad prior on the
    used latent channels (a narrow one on the others)."""
    from lora_codec.models.unet import Decoder

    torch.manual_seed(seed)
    cfg = model.cfg
    with torch.no_grad():
        constant = model.decoder(torch.zeros(1, cfg.latent_channels, 16, 16), 3)[0, :, 32:96, 32:96].mean((1, 2))
        nf = cfg.features
        for plane in model.predictor.planes:
            ia = plane.stage_a.in_features
            plane.stage_a.bias += plane.stage_a.weight[:, ia - nf :] @ constant
            plane.mean.bias += plane.mean.weight[:, ia - nf : ia] @ constant
            plane.stage_a.weight[:, ia - nf :].normal_(0.0, head_scale)
            plane.mean.weight[:, ia - nf : ia].zero_()
        model.decoder.load_state_dict(Decoder(cfg.latent_channels, cfg.channels, nf).state_dict())
        model.prior.log_scale.fill_(-4.0)
        model.prior.log_scale[:used] = 0.0


def validation_crops(folder: Path, names: list[str], size: int, margin: int):
    """One centred crop per image, coding order, with its engine outputs (warm margin)."""
    from lora_codec.data import load_rgb
    from lora_codec.entropy import engine_outputs
    from lora_codec.grids import COLOUR_ORDER

    crops = []
    for name in names:
        img = load_rgb(folder / name)[:, :, list(COLOUR_ORDER)]
        side = min(size, img.shape[0] - margin, img.shape[1] - margin) // 8 * 8
        if side < 8:
            continue
        y0, x0 = (img.shape[0] - side - margin) // 2, (img.shape[1] - side - margin) // 2
        window = np.ascontiguousarray(img[y0 : y0 + side + margin, x0 : x0 + side + margin])
        engine = engine_outputs(window)[margin:, margin:].transpose(2, 0, 1, 3)
        x = torch.from_numpy(window[margin:, margin:].transpose(2, 0, 1).copy()).float()[None]
        crops.append((x, torch.from_numpy(np.ascontiguousarray(engine)).float()[None]))
    return crops


def evaluate(probe: ChoiceProbe, crops) -> dict[str, float]:
    """bpsp of the validation crops under the four choices (see the module docstring)."""
    totals = dict(zero=0.0, encoder=0.0, best=0.0, zero_pixels=0.0, free_best_pixels=0.0, chosen_share=0.0)
    subpixels = blocks = 0
    with torch.no_grad():
        for x, engine in crops:
            subpixels += x.numel()
            z0 = probe.uniform(x, 0)
            totals["zero"] += probe.total_bits(x, engine, z0)
            totals["encoder"] += probe.total_bits(x, engine, probe.codes[probe.encoder_logits(x).argmax(1)].permute(0, 3, 1, 2))
            totals["best"] += probe.total_bits(x, engine, probe.choose(x, engine)[0])
            totals["zero_pixels"] += float(probe.pixel_bits(x, engine, z0).sum())
            z_free, choice = probe.choose(x, engine, with_z=False)
            totals["free_best_pixels"] += float(probe.pixel_bits(x, engine, z_free).sum())
            totals["chosen_share"] += float((choice > 0).sum())
            blocks += choice.numel()
    out = {k: v / subpixels for k, v in totals.items() if k != "chosen_share"}
    out["free_choice_nonzero_share"] = totals["chosen_share"] / max(1, blocks)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the training folder (the config's validation images are held out)")
    parser.add_argument("--config", default=str(ROOT / "configs" / "engine3.toml"))
    parser.add_argument("--model", help="an engine model file to start from (default: the shipped engine3)")
    parser.add_argument("--out", default="results/choice")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--margin", type=int, default=64)
    parser.add_argument("--channels", type=int, default=2, help="latent channels the codes use")
    parser.add_argument("--head-scale", type=float, default=0.02)
    parser.add_argument("--explore", type=int, default=100, help="steps that choose on the pixels' bits alone")
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--val-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from lora_codec.config import load_config
    from lora_codec.data import EngineCropSampler, list_images, load_rgb
    from lora_codec.registry import WEIGHTS, load_model_file

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    validation = list(load_config(args.config).train.validation)
    names = [n for n in validation if (data / n).exists()]
    paths = list_images(data, tuple(validation))
    if not paths or not names:
        sys.exit(f"probe_choice.py: {data} needs training images and the config's validation images")
    model = load_model_file(args.model or WEIGHTS / "engine3.safetensors").model.float().train()
    if not model.cfg.engine:
        sys.exit("probe_choice.py: the probe starts from an engine model")
    for p in model.parameters():
        p.requires_grad_(True)
    probe = ChoiceProbe(model, code_book(model.cfg.latent_channels, args.channels))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    crops = validation_crops(data, names, args.val_size, args.margin)
    results = open(out / "eval.jsonl", "w", buffering=1)

    def report(step: int) -> None:
        row = {"step": step, **evaluate(probe, crops)}
        results.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)

    report(-1)  # the shipped model, its features as they are
    prepare(model, args.channels, args.head_scale, args.seed)
    report(0)
    sampler = EngineCropSampler([load_rgb(p) for p in paths], args.crop, args.seed, args.margin)
    params = list(model.parameters())
    optimizer = torch.optim.Adam(params, lr=args.lr)
    log = open(out / "log.txt", "w", buffering=1)
    start = time.time()
    for step in range(1, args.steps + 1):
        warm = min(1.0, step / 50)
        for group in optimizer.param_groups:
            group["lr"] = args.lr * warm * (0.1 + 0.45 * (1 + math.cos(math.pi * (step - 1) / args.steps)))
        xb, eb = sampler.batch(args.batch)
        x, engine = torch.from_numpy(xb).float(), torch.from_numpy(eb).float()
        z, choice = probe.choose(x, engine, with_z=step > args.explore)
        bits = probe.pixel_bits(x, engine, z).sum() + model.prior.bits(z)
        miss = F.cross_entropy(probe.encoder_logits(x), choice)
        loss = bits / x.numel() + 0.05 * miss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        share = torch.bincount(choice.flatten(), minlength=len(probe.codes)).tolist()
        log.write(f"step={step} bpsp={bits.item() / x.numel():.4f} encoder_ce={miss.item():.3f} "
                  f"choices={share} sec={time.time() - start:.0f}\n")
        if step % args.eval_every == 0 or step == args.steps:
            report(step)


if __name__ == "__main__":
    main()
