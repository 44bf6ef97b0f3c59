"""The code's structure: generated layout current, no import cycles, and commands that
load only what they need (no peft or transformers to decode or to compress without
adaptation, no torch for --help)."""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import smooth_image

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lora_codec"


def test_generated_layout_is_current():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_layout.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def _module_imports() -> dict[str, set[str]]:
    """Module-level imports between lora_codec's modules (imports inside functions are
    deliberate late loads and do not make cycles at import time)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                if node.module is None:  # from . import name: a sibling module (maybe compiled)
                    deps.update(f"{base}.{alias.name}" for alias in node.names)
                    continue
                target = f"{base}.{node.module}"
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists() else target)
        graph[name] = {d for d in deps if d != name}
    return graph


def test_no_import_cycles():
    graph = _module_imports()
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])


def test_models_do_not_need_the_compiled_extension():
    graph = _module_imports()
    for name, deps in graph.items():
        if name.startswith("lora_codec.models"):
            assert not any(d.startswith("lora_codec.entropy") for d in deps), (name, deps)


PROBE = """
import sys
from lora_codec.cli import main
status = main(sys.argv[1:])
print("LOADED", " ".join(sorted(m for m in ("torch", "peft", "transformers") if m in sys.modules)))
sys.exit(status)
"""


def _loaded(args, cwd) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=300, cwd=cwd)
    line = [l for l in out.stdout.splitlines() if l.startswith("LOADED")]
    assert line, out.stdout + out.stderr
    return set(line[-1].split()[1:])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imports")
    img = smooth_image(40, 48, seed=2)
    Image.fromarray(img).save(folder / "a.png")
    from lora_codec.codec import Codec
    from lora_codec.lora.fit import adapt_to_image
    from lora_codec.lora.options import AdaptOptions

    codec = Codec()
    adapted = codec.encode_adapted(img, adapt_to_image(codec.model, img, "RGB", 2, AdaptOptions(crop=32, batch=1)))
    (folder / "adapted.lcz").write_bytes(adapted)
    return folder


def test_help_loads_no_torch(files):
    assert _loaded(["--help"], files) == set()


def test_compress_without_adaptation_loads_no_torch(files):
    assert _loaded(["compress", "a.png", "-o", "a.lcz", "--quiet", "--threads", "2"], files) == set()
    assert _loaded(["compress", "a.png", "-o", "rc.lcz", "--quiet", "--mode", "rc"], files) == set()


def test_compress_with_adaptation_loads_torch_and_peft(files):
    loaded = _loaded(["compress", "a.png", "-o", "steps.lcz", "--quiet", "--steps", "1"], files)
    assert {"torch", "peft"} <= loaded


def test_decompress_with_adapters_loads_no_torch(files):
    loaded = _loaded(["decompress", "adapted.lcz", "-o", "adapted.png", "--quiet"], files)
    assert loaded == set()
    assert (files / "adapted.png").exists()


def test_decompress_and_info_load_no_torch(files):
    assert _loaded(["compress", "a.png", "-o", "plain.lcz", "--quiet"], files) == set()
    assert _loaded(["decompress", "plain.lcz", "-o", "plain.png", "--quiet", "--threads", "2"], files) == set()
    assert _loaded(["info", "plain.lcz"], files) == set()


def _imports_torch_at_module_level(name: str) -> bool:
    path = PACKAGE.parent / (name.replace(".", "/") + ".py")
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "torch" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "torch":
            return True
    return False


def test_the_exact_path_does_not_need_torch():
    graph = _module_imports()
    for name in ("lora_codec.exact.integers", "lora_codec.exact.evaluate", "lora_codec.registry",
                 "lora_codec.coding.groups", "lora_codec.coding.latents", "lora_codec.lora.payload",
                 "lora_codec.grids", "lora_codec.codec", "lora_codec.coding.analysis"):
        assert not _imports_torch_at_module_level(name), name
        assert not any(d.startswith("lora_codec.models") for d in graph[name]), (name, graph[name])


def _readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks, inside, current = [], False, []
    for line in text.splitlines():
        if line.strip() == "```python":
            inside, current = True, []
        elif inside and line.strip() == "```":
            inside = False
            blocks.append("\n".join(current))
        elif inside:
            current.append(line)
    return blocks


def test_readme_python_examples_run(tmp_path, monkeypatch):
    blocks = _readme_python_blocks()
    assert blocks, "the README shows the Python API"
    monkeypatch.chdir(tmp_path)
    Image.fromarray(smooth_image(24, 32, seed=1)).save(tmp_path / "photo.png")
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)
    pixels = namespace.get("pixels")
    assert isinstance(pixels, np.ndarray) and pixels.shape == (24, 32, 3)
