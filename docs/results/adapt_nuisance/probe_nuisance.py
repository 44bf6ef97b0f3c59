"""Adaptation with per-context nuisance parameters (what the online calibration learns
anyway) in the objective, never stored; a probe (docs/design.md). From the repository's root:

    IM=kodim01.png,kodim04.png,kodim07.png,kodim10.png,kodim13.png,kodim16.png,kodim19.png,kodim22.png
    python docs/results/adapt_nuisance/probe_nuisance.py 0 base 0 $IM      # shipped objective
    python docs/results/adapt_nuisance/probe_nuisance.py 1 nuis 0.02 $IM   # + offsets, their learning rate
"""
import os, sys, time, statistics
import numpy as np
os.sched_setaffinity(0, {int(sys.argv[1])})
import torch
torch.set_num_threads(1)
from PIL import Image
from lora_codec import Codec
from lora_codec.lora import fit
from lora_codec.models.predictor import mixture_bits

mode, lr_n = sys.argv[2], float(sys.argv[3])
state = {}

if mode != 'base':
    RealAdam = torch.optim.Adam
    class AdamWithNuisance(RealAdam):
        def __init__(self, params, lr):
            planes = 3
            state['ls'] = torch.zeros(planes, 16, requires_grad=True)
            state['mu'] = torch.zeros(planes, 16, requires_grad=True)
            groups = [{'params': list(params), 'lr': lr}]
            super().__init__(groups, lr=lr)
            self.nuis = RealAdam([state['ls'], state['mu']], lr=lr_n)
        def step(self, closure=None):
            super().step(closure); self.nuis.step()
        def zero_grad(self, set_to_none=True):
            super().zero_grad(set_to_none=set_to_none); self.nuis.zero_grad(set_to_none=set_to_none)
    fit.torch.optim.Adam = AdamWithNuisance  # only fit's module attribute path uses it

    def crops_bpsp(net, crops):
        loss = torch.zeros(()); count = 0
        for xt, feats, et, gt in fit._same_shape_batches(crops):
            means, log_scales, logits = net.predict(xt, feats, gt, et)
            with torch.no_grad():
                top = logits.argmax(-1, keepdim=True)
                ls_top = torch.gather(log_scales, -1, top).squeeze(-1)
                bucket = torch.clamp(torch.floor((torch.round(ls_top * 16) + 32) / 8), 0, 15).long()
            C = xt.shape[1]
            plane = torch.arange(C).view(1, C, 1, 1).expand_as(bucket)
            dls = state['ls'][plane, bucket].unsqueeze(-1)
            dmu = state['mu'][plane, bucket].unsqueeze(-1)
            loss = loss + mixture_bits(xt, means + dmu, log_scales + dls, logits)
            count += xt.numel()
        return loss / count
    fit._crops_bpsp = crops_bpsp

codec = Codec()
base, adapted = [], []
for name in sys.argv[4].split(','):
    px = np.asarray(Image.open(f'../shared/data/kodak/{name}').convert('RGB'), dtype=np.uint8).copy()
    plain = codec.compress(px)
    t = time.perf_counter(); data = codec.compress(px, steps=200); s = time.perf_counter() - t
    assert np.array_equal(codec.decompress(data), px)
    base.append(8 * len(plain) / px.size); adapted.append(8 * len(data) / px.size)
    print(f"{name} {base[-1]:.4f} {adapted[-1]:.4f} {100*(adapted[-1]/base[-1]-1):+.2f} % {s:.1f} s", flush=True)
print(f"{mode} lr_n={lr_n} mean {statistics.mean(base):.4f} -> {statistics.mean(adapted):.4f} {100*(statistics.mean(adapted)/statistics.mean(base)-1):+.2f} %")
