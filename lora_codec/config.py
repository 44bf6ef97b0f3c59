"""Settings as dataclasses, read from TOML files (``configs/*.toml``)."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


# A model's tile must divide the stripes the current format codes in
# (lora_codec.coding.groups.STRIPE_ROWS; a test checks that they agree).
TILE_MULTIPLE_OF = 256


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the base probability model. Stored beside the weights."""

    channels: int = 16
    latent_channels: int = 4
    features: int = 8
    heads: int = 2
    core: int = 32
    hidden_a: int = 12
    hidden_b: int = 12
    components: int = 3
    tile: int = 256
    guide_channels: int = 0  # > 0: an rc-mode model, conditioned on a lossy reconstruction
    engine: int = 0          # 1: the learned head over the online engine (planes coded G, R, B)


@dataclass(frozen=True)
class TrainConfig:
    """One training run of the base model."""

    data: str = "../shared/data/train"
    out: str = "runs/base"
    crop: int = 192
    batch: int = 8
    steps: int = 4000
    lr: float = 2e-3
    min_lr: float = 1e-4
    seed: int = 0
    checkpoint_every: int = 100
    log_every: int = 20
    threads: int = 2
    init: str = ""              # start from this model file (its layers that exist here)
    validation: tuple[str, ...] = ()  # image names kept out of training (the validation split)
    margin: int = 16            # engine models: rows/columns of engine warm-up around each crop
    # rc models: HEVC reconstructions of every training image at `hevc_per_image` random
    # qualities in [hevc_min_quality, hevc_max_quality], cached in <out>/hevc/.
    hevc_per_image: int = 3
    hevc_min_quality: int = 5
    hevc_max_quality: int = 70


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def _build(cls, table: dict, where: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(table) - names
    if unknown:
        raise ValueError(f"unknown keys in [{where}]: {', '.join(sorted(unknown))}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in table.items()})


def load_config(path: str | Path, data: str | None = None, out: str | None = None) -> Config:
    """Read a TOML file with optional ``[model]`` and ``[train]`` tables. Relative paths in
    ``[train]`` (data, out, init) resolve against the config file's folder; ``data`` and
    ``out`` override the file's."""
    path = Path(path)
    with open(path, "rb") as fh:
        table = tomllib.load(fh)
    unknown = set(table) - {"model", "train"}
    if unknown:
        raise ValueError(f"unknown tables in {path}: {', '.join(sorted(unknown))}")
    train = dict(table.get("train", {}))
    for key in ("data", "out", "init"):
        if train.get(key):
            train[key] = str((path.parent / train[key]).resolve())
    if data is not None:
        train["data"] = str(Path(data).resolve())
    if out is not None:
        train["out"] = str(Path(out).resolve())
    model = _build(ModelConfig, table.get("model", {}), "model")
    if model.tile < 1 or TILE_MULTIPLE_OF % model.tile:
        raise ValueError(f"[model] tile must divide {TILE_MULTIPLE_OF} (the rows of a stripe), got {model.tile}")
    return Config(model=model, train=_build(TrainConfig, train, "train"))


def model_config_from_dict(values: dict) -> ModelConfig:
    """Rebuild a :class:`ModelConfig` from the metadata stored with the weights."""
    return _build(ModelConfig, {k: int(v) for k, v in values.items()}, "model")
