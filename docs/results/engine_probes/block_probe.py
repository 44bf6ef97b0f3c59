"""Probe: does the 8 x 8 block position (JPEG's grid) help code the engine's residuals?
Ideal code length under adaptive histograms per (plane, energy bucket), then with the
position class (on a block border or not, found by the largest mean gradient) or the
full position in the block added to the context. IMAGE or IMAGE:Q (JPEG at quality Q first).

    python docs/results/engine_probes/block_probe.py IMAGE[:Q] ...
"""
import io, sys, numpy as np
from PIL import Image
from lora_codec.entropy.pixels import engine_outputs

def load(spec):
    if ':' in spec:
        f, q = spec.split(':'); b = io.BytesIO(); Image.open(f).convert('RGB').save(b, 'JPEG', quality=int(q)); return np.array(Image.open(b).convert('RGB'))
    return np.array(Image.open(spec).convert('RGB'))

def cost(res, ctx, nctx):
    # adaptive counts per context over residual clipped to [-32, 32] + escape; returns bits
    r = np.clip(res, -32, 32) + 32
    counts = np.ones((nctx, 65)); tot = counts.sum(1)
    bits = 0.0
    # vectorised by processing in raster order via bincount chunks (approximate adaptivity: blocks of 4096)
    chunk = 4096
    for s in range(0, len(r), chunk):
        c = ctx[s:s+chunk]; v = r[s:s+chunk]
        bits += -np.log2(counts[c, v] / tot[c]).sum()
        np.add.at(counts, (c, v), 1); tot = counts.sum(1)
    return bits

for spec in sys.argv[1:]:
    a = load(spec)
    img = np.ascontiguousarray(a[:, :, [1, 0, 2]])
    eo = engine_outputs(img)
    pred = (eo[..., 0] + 8) // 16
    res = img.astype(np.int32) - pred
    en = eo[..., 6]
    H, W, C = img.shape
    eb = np.minimum(np.log2(np.maximum(en, 1)).astype(int), 15)
    plane = np.broadcast_to(np.arange(C), (H, W, C))
    # find phase: max boundary gradient ratio on G
    g = img[..., 0].astype(int); dx = np.abs(np.diff(g, axis=1)).mean(0); dy = np.abs(np.diff(g, axis=0)).mean(1)
    phx = int(np.argmax([dx[(np.arange(len(dx)) % 8) == p].mean() for p in range(8)]))
    phy = int(np.argmax([dy[(np.arange(len(dy)) % 8) == p].mean() for p in range(8)]))
    yy, xx = np.mgrid[0:H, 0:W]
    bx = ((xx % 8) == phx) | ((xx % 8) == (phx + 1) % 8)
    by = ((yy % 8) == phy) | ((yy % 8) == (phy + 1) % 8)
    cls = (bx.astype(int) + 2 * by.astype(int))[..., None] * np.ones(C, int)
    base_ctx = (plane * 16 + eb).reshape(-1)
    blk_ctx = ((plane * 16 + eb) * 4 + cls).reshape(-1)
    pos_ctx = ((plane * 16 + eb) * 64 + ((yy % 8) * 8 + xx % 8)[..., None]).reshape(-1)
    r = res.reshape(-1)
    b0 = cost(r, base_ctx, 3 * 16); b1 = cost(r, blk_ctx, 3 * 16 * 4); b2 = cost(r, pos_ctx, 3 * 16 * 64)
    n = r.size
    print(f"{spec.split('/')[-1]:45s} base {b0/n:.4f} bpsp  +boundary {100*(b1/b0-1):+.2f} %  +pos64 {100*(b2/b0-1):+.2f} %  phase {phx},{phy}", flush=True)
