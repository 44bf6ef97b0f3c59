"""Per-image sizes under environment-overridden online hyper-parameters (probe build)."""
import json, os, sys, time
import numpy as np
from PIL import Image
sys.meta_path[:] = [f for f in sys.meta_path if "Redirect" not in type(f).__name__ and "Editable" not in type(f).__name__]
SITE = os.environ["PROBE_SITE"]  # where the patched build is installed
sys.path.insert(0, SITE)
import lora_codec
assert lora_codec.__file__.startswith(SITE), lora_codec.__file__
out = sys.argv[1]; files = sys.argv[2:]
c = lora_codec.Codec(threads=1) if hasattr(lora_codec, 'Codec') else None
with open(out, 'a') as fh:
    for f in files:
        a = np.asarray(Image.open(f).convert('RGB'))
        t = time.time()
        n = len(c.compress(a, fallback=False))
        fh.write(json.dumps({'file': os.path.basename(f), 'env': os.environ.get('PVAR', 'base'), 'bytes': n, 's': time.time() - t}) + '\n')
