"""Synthetic manga-like pages (a probe of content nobody trained on): ink lines, halftone
screentones on a 45-degree grid, speech bubbles with text; grey, grey stored as RGB, and
a blurred, noisy "scan".

    python docs/results/manga/make_manga.py MANGA   # writes five PNGs into MANGA (must exist)
    python scripts/compare.py MANGA --steps 0 --codecs png,webp,jpegxl-e7 --jobs 2
"""
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

def page(seed, w=1024, h=1456):
    rng = np.random.default_rng(seed)
    ss = 2
    W, H = w*ss, h*ss
    img = Image.new("L", (W, H), 255)
    d = ImageDraw.Draw(img)
    # panels
    panels = []
    y = 40*ss
    while y < H - 200*ss:
        ph = int(rng.integers(250, 450))*ss
        ph = min(ph, H - 40*ss - y)
        x = 40*ss
        ncols = int(rng.integers(1, 4))
        pw = (W - 80*ss - (ncols-1)*20*ss)//ncols
        for c in range(ncols):
            panels.append((x, y, x+pw, y+ph))
            x += pw + 20*ss
        y += ph + 25*ss
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    arr = np.array(img, dtype=np.float32)
    for (x0, y0, x1, y1) in panels:
        # screentone fill in part of the panel
        period = float(rng.choice([6, 8, 10]))*ss
        ang = np.deg2rad(45)
        u = (xx*np.cos(ang) + yy*np.sin(ang)) / period
        v = (-xx*np.sin(ang) + yy*np.cos(ang)) / period
        du = u - np.round(u); dv = v - np.round(v)
        dist = np.sqrt(du*du + dv*dv)
        # density gradient or flat
        if rng.random() < 0.5:
            dens = 0.15 + 0.3*(yy - y0)/max(1, (y1-y0))
        else:
            dens = np.full_like(yy, float(rng.uniform(0.1, 0.45)))
        r = np.sqrt(np.clip(dens, 0, 1)/np.pi)
        dots = dist < r
        mask = np.zeros_like(dots)
        # an ellipse region and a band region
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        ax, ay = rng.uniform(80, 300)*ss, rng.uniform(60, 200)*ss
        mask |= ((xx-cx)/ax)**2 + ((yy-cy)/ay)**2 < 1
        by = rng.uniform(y0, y1)
        mask |= (yy > by) & (yy < by + rng.uniform(30, 120)*ss)
        mask &= (xx > x0) & (xx < x1) & (yy > y0) & (yy < y1)
        arr[mask & dots] = 0
    img = Image.fromarray(arr.astype(np.uint8))
    d = ImageDraw.Draw(img)
    for (x0, y0, x1, y1) in panels:
        # speed lines / strokes
        for _ in range(int(rng.integers(5, 40))):
            px, py = rng.uniform(x0, x1), rng.uniform(y0, y1)
            qx, qy = px + rng.normal(0, 150)*ss, py + rng.normal(0, 150)*ss
            d.line([(px, py), (qx, qy)], fill=0, width=int(rng.integers(1, 4))*ss)
        # character-ish curves
        for _ in range(int(rng.integers(2, 6))):
            cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
            rr = rng.uniform(20, 90)*ss
            d.ellipse([cx-rr, cy-rr, cx+rr, cy+rr*1.3], outline=0, width=3*ss, fill=255 if rng.random()<0.5 else None)
        # speech bubble with text
        bx, by = rng.uniform(x0, max(x0+1, x1-220*ss)), rng.uniform(y0, max(y0+1, y1-120*ss))
        d.ellipse([bx, by, bx+200*ss, by+110*ss], outline=0, width=2*ss, fill=255)
        font = ImageFont.load_default(size=14*ss)
        for k in range(3):
            d.text((bx+35*ss, by+22*ss+k*22*ss), "".join(rng.choice(list("ABCDEFGHIJKLMNOPRSTUVW!? "), 11)), fill=0, font=font)
        d.rectangle([x0, y0, x1, y1], outline=0, width=3*ss)
    img = img.resize((w, h), Image.LANCZOS)
    return img

out = sys.argv[1]
for s in range(3):
    p = page(s)
    p.save(f"{out}/manga{s}_grey.png")
    if s == 0:
        p.convert("RGB").save(f"{out}/manga{s}_rgb.png")
    if s == 1:
        q = p.filter(ImageFilter.GaussianBlur(0.7))
        a = np.array(q, dtype=np.float32) + np.random.default_rng(9).normal(0, 2.0, q.size[::-1])
        Image.fromarray(np.clip(a, 0, 255).round().astype(np.uint8)).save(f"{out}/manga{s}_scan.png")
