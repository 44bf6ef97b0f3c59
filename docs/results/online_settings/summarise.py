import json, collections, sys
import pathlib
rows = [json.loads(l) for l in open(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).with_name('sizes.jsonl'))]
by = collections.defaultdict(dict)
for r in rows: by[r['file']][r['env']] = r['bytes']
vars_ = sorted({r['env'] for r in rows})
def group(f): return 'kodak' if f.startswith('kodim') else 'val'
for g in ('kodak', 'val'):
    files = [f for f in by if group(f) == g and 'base' in by[f]]
    base = sum(by[f]['base'] for f in files)
    print(g, len(files))
    for v in vars_:
        fs = [f for f in files if v in by[f]]
        if not fs: continue
        b = sum(by[f]['base'] for f in fs); s = sum(by[f][v] for f in fs)
        wins = sum(by[f][v] < by[f]['base'] for f in fs)
        print(f'  {v:12s} n={len(fs):2d} {100*(s/b-1):+.3f}%  wins {wins}')
    # per-image best over all variants present
    fs = [f for f in files if len(by[f]) == len(vars_)]
    if fs:
        b = sum(by[f]['base'] for f in fs); s = sum(min(by[f].values()) for f in fs)
        print(f'  best-of-all n={len(fs)} {100*(s/b-1):+.3f}%')
        # additive estimate of per-dimension bests
        dims = collections.defaultdict(list)
        for v in vars_:
            if v != 'base': dims[''.join(c for c in v.split('_')[0] if c.isalpha())].append(v)
        tot = 0
        for f in fs:
            g_ = sum(min(0, min(by[f][v] for v in vs) - by[f]['base']) for d, vs in dims.items())
            tot += g_
        print(f'  additive per-dim best {100*tot/b:+.3f}%')
