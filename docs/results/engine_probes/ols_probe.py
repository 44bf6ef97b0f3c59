"""Probe: would an online least-squares predictor (float, recursive, forgetting 0.998) beat
the engine's final prediction? Mean absolute errors per plane on 5 centre crops of training
images outside the validation split.

    python docs/results/engine_probes/ols_probe.py ../shared/data/train
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from lora_codec.entropy.pixels import engine_outputs

def crops():
    import glob, tomllib
    val = set(tomllib.load(open('str(Path(__file__).resolve().parents[3] / "configs" / "engine3.toml")','rb'))['train']['validation'])
    files = [f for f in sorted(glob.glob(sys.argv[1] + '/*.png')) if f.split('/')[-1] not in val]
    for f in files[5::40][:5]:
        a = np.array(Image.open(f).convert('RGB'))
        h, w = a.shape[:2]
        y, x = max(0, h//2-64), max(0, w//2-96)
        yield f.split('/')[-1], a[y:y+128, x:x+192]

def ols(img, lam=0.998, reg=0.5):
    # img in coding order (G,R,B); predicts each plane from causal nbrs + earlier planes
    H, W, C = img.shape
    p = img.astype(np.float64)
    out = np.zeros((H, W, C))
    nin = [12, 15, 18]
    A = [np.eye(n) * reg for n in nin]; b = [np.zeros(n) for n in nin]
    def nb(c, y, x):
        g = lambda yy, xx: p[min(max(yy,0),H-1), min(max(xx,0),W-1), c] if (yy < y or (yy == y and xx < x)) and yy >= 0 and 0 <= xx < W else (p[y, x-1, c] if x > 0 else (p[y-1, x, c] if y > 0 else 128.0))
        return [g(y,x-1), g(y-1,x), g(y-1,x-1), g(y-1,x+1), g(y,x-2), g(y-2,x), g(y-1,x+2), g(y-2,x+1), g(y-2,x-1), g(y-1,x-2)]
    for y in range(H):
        for x in range(W):
            for c in range(C):
                v = nb(c, y, x) + [1.0, 0.0]
                for e in range(c):
                    v += [p[y, x, e] - (p[y, x-1, e] if x else p[y-1,x,e] if y else 128), p[y, x, e] - (p[y-1, x, e] if y else p[y, x-1, e] if x else 128), p[y,x,e]]
                v = np.array(v[:nin[c]]) if len(v) >= nin[c] else np.array(v + [0.0]*(nin[c]-len(v)))
                try:
                    wts = np.linalg.solve(A[c], b[c])
                except np.linalg.LinAlgError:
                    wts = np.zeros(nin[c])
                out[y, x, c] = np.clip(v @ wts, 0, 255)
                A[c] = lam * A[c] + np.outer(v, v); b[c] = lam * b[c] + v * p[y, x, c]
    return out

for name, a in crops():
    img = np.ascontiguousarray(a[:, :, [1, 0, 2]])
    eo = engine_outputs(img)
    eng = eo[..., 0] / 16.0
    o = ols(img)
    m = slice(8, None)
    def mae(pr): return np.abs(pr[m, m] - img[m, m]).mean(axis=(0, 1))
    print(name, 'engine', mae(eng).round(3), 'ols', mae(o).round(3), 'avg', mae((eng + o) / 2).round(3), flush=True)
