"""Model files: the models shipped in ``lora_codec/weights/`` and finding one by its id.

A model file is a safetensors file holding the float weights (``model.*``), the integer
CDF tables of the latent prior (``prior.cdf``) and the model config as metadata. Its id is
the first 8 bytes of the sha256 of the file, written in hex (16 characters). Every
shipped model stays shipped, so files made with an older default model still decode.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from . import exact
from .config import ModelConfig, model_config_from_dict

WEIGHTS = Path(__file__).resolve().parent / "weights"


def file_model_id(path: str | Path) -> bytes:
    """First 8 bytes of the sha256 of a model file."""
    return hashlib.sha256(Path(path).read_bytes()).digest()[:8]


def save_model_file(model, path: str | Path, force: bool = False) -> bytes:
    """Write ``model`` (a :class:`~lora_codec.models.probability.ProbabilityModel`) as a
    model file (atomically; an existing file only with ``force``); returns its id."""
    import torch
    from safetensors.torch import save

    from .images import atomic_write

    tensors = {f"model.{k}": v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    tensors["prior.cdf"] = torch.from_numpy(model.prior.cdf_tables())
    meta = {"config": json.dumps(asdict(model.cfg)), "format": "lora-codec-model-1"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, save(tensors, metadata=meta), force)
    return file_model_id(path)


@dataclass
class LoadedModel:
    """A model file ready for coding: its tensors as numpy arrays, the exact integer parts
    derived from them, and (built on first use, with torch) the float modules that
    encoding and adaptation need. Decoding never builds them."""

    cfg: ModelConfig
    state: dict[str, np.ndarray]  # the model's tensors, keyed as in its state_dict
    latent_cdfs: np.ndarray
    model_id: bytes

    @property
    def guided(self) -> bool:
        """An rc model of the MED kind: its guide network reads the reconstruction, and it
        codes only with one."""
        return self.cfg.guide_channels > 0

    @property
    def reads_base_layer(self) -> bool:
        """Whether the model can code with a base-layer reconstruction (rc mode): a guided
        model, or an engine model, whose online engine then reads it (format v6)."""
        return self.guided or bool(self.cfg.engine)

    def codes(self, mode, fmt) -> bool:
        """Whether files of ``mode`` (a :class:`lora_codec.coding.modes.Mode`) in format
        ``fmt`` (a ``StreamFormat``) can name this model: a guided model codes only with a
        base layer, and an engine model reads one from format v6 on."""
        if not mode.base_layer:
            return not self.guided
        return self.guided or (self.engine and fmt.guided_engine)

    @property
    def engine(self) -> bool:
        """The learned head over the online engine (colour planes coded G, R, B)."""
        return bool(self.cfg.engine)

    @property
    def predictor_kind(self) -> str:
        return "engine" if self.engine else "med"

    @cached_property
    def model(self):
        """The float :class:`~lora_codec.models.probability.ProbabilityModel` (imports torch)."""
        import torch

        from .models.probability import ProbabilityModel

        model = ProbabilityModel(self.cfg)
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.state.items()})
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    @cached_property
    def predictor_weights(self):
        return exact.predictor_weights(exact.sub_state(self.state, "predictor."), self.cfg.features,
                                       self.predictor_kind)

    @cached_property
    def decoder_integers(self):
        return exact.decoder_integers(exact.sub_state(self.state, "decoder."))

    @cached_property
    def guide_integers(self):
        """The guide network's integers (rc models), else None."""
        return exact.guide_integers(exact.sub_state(self.state, "guide.")) if self.guided else None


def load_model_file(path: str | Path) -> LoadedModel:
    """A model file's tensors and config (numpy only: no torch)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        with safe_open(str(path), "np") as fh:
            meta = fh.metadata() or {}
            if meta.get("format") != "lora-codec-model-1":
                raise ValueError(f"{path} is not a lora-codec model file")
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except ValueError:
        raise
    except Exception as exc:  # safetensors' own error types: not a safetensors file at all
        raise ValueError(f"{path} is not a lora-codec model file ({str(exc).splitlines()[0] if str(exc) else exc!r})") from None
    cfg = model_config_from_dict(json.loads(meta["config"]))
    state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    cdfs = tensors["prior.cdf"].astype(np.int32)
    return LoadedModel(cfg=cfg, state=state, latent_cdfs=cdfs, model_id=file_model_id(path))


def shipped_model_files() -> list[Path]:
    """The model files inside the package."""
    return sorted(WEIGHTS.glob("*.safetensors"))


@lru_cache(maxsize=8)
def load_shipped_model(name: str) -> LoadedModel:
    """A model shipped inside the package, by file name (cached per process)."""
    path = WEIGHTS / name
    if not path.exists():
        raise FileNotFoundError(f"the model {name} is missing from the installation ({path})")
    return load_model_file(path)


@lru_cache(maxsize=1)
def shipped_model_ids() -> dict[bytes, str]:
    """Model id -> file name of every shipped model (reads each file once per process)."""
    return {file_model_id(p): p.name for p in shipped_model_files()}


def search_path() -> list[Path]:
    """Model files in the folders (or files) that ``LORA_CODEC_MODELS`` lists, separated
    by the system's path separator."""
    found = []
    for entry in filter(None, os.environ.get("LORA_CODEC_MODELS", "").split(os.pathsep)):
        p = Path(entry)
        found += sorted(f for f in p.glob("*.safetensors") if f.is_file()) if p.is_dir() else ([p] if p.is_file() else [])
    return found


def find_model(model_id: bytes, loaded: list[LoadedModel] = ()) -> LoadedModel:
    """The model with this id: one of ``loaded``, a shipped one, or one on the search path;
    a ValueError names the id needed, the ids at hand and how to provide the model."""
    for m in loaded:
        if m.model_id == model_id:
            return m
    name = shipped_model_ids().get(model_id)
    if name is not None:
        return load_shipped_model(name)
    for path in search_path():
        if file_model_id(path) == model_id:
            return load_model_file(path)
    have = sorted({m.model_id.hex() for m in loaded} | {i.hex() for i in shipped_model_ids()})
    raise ValueError(f"the file needs model {model_id.hex()}, this installation has {', '.join(have) or 'none'}; "
                     "pass its file with --model FILE, or put it in a folder listed in LORA_CODEC_MODELS")
