"""Probe: channel palettes plane by plane. Codes each image with the channel palettes of
every subset of its qualifying planes (transforms.choose patched) and prints the bytes.

    python docs/results/levels/plane_subsets.py LEVELS/*_rgb565.png ...
"""
import itertools, sys, numpy as np
from PIL import Image
import lora_codec
from lora_codec import transforms, codec as codec_mod
orig = transforms.choose
SUB = {'planes': None}
def patched(pixels, colour, palette=True, levels=True):
    coded, col, t = orig(pixels, colour, palette=palette, levels=True)
    if t.palette is not None or not t.levels:
        return coded, col, t
    keep = SUB['planes']
    out = coded.copy()
    for c in list(t.levels):
        if c not in keep:
            # undo this plane's palette
            out[:, :, c] = t.levels[c][coded[:, :, c]]
            del t.levels[c]
    return out, col, t
codec_mod.transforms.choose = patched
c = lora_codec.Codec(threads=1)
for f in sys.argv[1:]:
    px = np.array(Image.open(f).convert('RGB'))
    _, _, t = orig(px, 'RGB')
    q = sorted(t.levels)
    res = {}
    for k in range(len(q) + 1):
        for s in itertools.combinations(q, k):
            SUB['planes'] = set(s)
            res[s] = len(c.compress(f))
    best = min(res, key=res.get)
    allnone = min(res[tuple(q)], res[()])
    print(f.split('/')[-1], q, res, 'best', best, f'{100*(res[best]/allnone-1):+.3f} %', flush=True)
