"""python probe_run.py NATIVE_DIR: scripts/tuning_crops_size.py with the extension built in
NATIVE_DIR (a patched copy of native/) instead of the installed one."""
import glob
import importlib.util
import sys
from pathlib import Path

so = glob.glob(sys.argv.pop(1) + "/_native*.so")[0]
spec = importlib.util.spec_from_file_location("lora_codec.entropy._native", so)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.modules["lora_codec.entropy._native"] = module
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
import tuning_crops_size  # noqa: E402

sys.argv = sys.argv[:1]
tuning_crops_size.main()
