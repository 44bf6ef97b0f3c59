"""The probability model: UNet encoder -> z -> integer decoder -> causal predictor.

An rc-mode model (``cfg.guide_channels > 0``) also has a :class:`GuideNet` and codes each
pixel given the lossy reconstruction of the whole image. An engine model
(``cfg.engine = 1``) replaces the MED-anchored predictor by the learned head over the
online engine (:mod:`lora_codec.models.engine_predictor`) and sees colour planes in
coding order (G, R, B).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .latent_prior import Z_MAX, Z_MIN, LatentPrior
from .guide import GuideNet, combine_features
from .engine_predictor import EnginePredictor
from .predictor import CausalPredictor, mixture_bits
from .quant import round_ste
from .unet import Decoder, Encoder, levels_for


class ProbabilityModel(nn.Module):
    """Predicts a distribution for every sub-pixel; trains on the total code length."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg.channels, cfg.latent_channels, cfg.heads)
        self.prior = LatentPrior(cfg.latent_channels)
        self.decoder = Decoder(cfg.latent_channels, cfg.channels, cfg.features)
        head = EnginePredictor if cfg.engine else CausalPredictor
        self.predictor = head(cfg.features, cfg.hidden_a, cfg.hidden_b, cfg.components)
        self.guide = GuideNet(3, cfg.guide_channels, cfg.features) if cfg.guide_channels > 0 else None

    @property
    def guided(self) -> bool:
        return self.guide is not None

    def levels(self, height: int, width: int) -> int:
        return levels_for(height, width, self.cfg.core)

    @staticmethod
    def colour_input(x: torch.Tensor) -> torch.Tensor:
        """The encoder always sees three planes; a grey plane is repeated."""
        return x if x.shape[1] == 3 else x[:, :1].expand(-1, 3, -1, -1)

    def analyse(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Integer latent z (straight-through rounded) and the number of levels."""
        n, c, h, w = x.shape
        levels = self.levels(h, w)
        m = 1 << levels
        ph, pw = (-h) % m, (-w) % m
        xin = F.pad(self.colour_input(x), (0, pw, 0, ph), mode="replicate")
        y = self.encoder(xin, levels)
        return torch.clamp(round_ste(y), Z_MIN, Z_MAX), levels

    def features(self, z: torch.Tensor, levels: int, height: int, width: int,
                 guide: torch.Tensor | None = None) -> torch.Tensor:
        feats = self.decoder(z, levels)[:, :, :height, :width]
        if guide is not None:
            feats = combine_features(feats, self.guide(self.colour_input(guide)))
        return feats

    def predict(self, x: torch.Tensor, feats: torch.Tensor, guide: torch.Tensor | None = None,
                engine: torch.Tensor | None = None):
        """Mixture parameters of ``x`` given the features (and the reconstruction of an rc
        model, or the engine outputs of an engine model)."""
        if self.cfg.engine:
            if engine is None:
                raise ValueError("an engine model needs the engine outputs of its input")
            return self.predictor(x, feats, engine)
        return self.predictor(x, feats, guide)

    def forward(self, x: torch.Tensor, guide: torch.Tensor | None = None,
                engine: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(pixel bits, latent bits) for integer-valued images ``x`` (N, C, H, W); an rc
        model also takes the lossy reconstruction ``guide`` (same shape), an engine model
        the engine outputs (N, C, H, W, 8) of ``x`` in coding order."""
        if self.guided != (guide is not None):
            raise ValueError("an rc model needs a guide image and a base model takes none")
        z, levels = self.analyse(x)
        feats = self.features(z, levels, x.shape[2], x.shape[3], guide)
        means, log_scales, logits = self.predict(x, feats, guide, engine)
        return mixture_bits(x, means, log_scales, logits), self.prior.bits(z)
