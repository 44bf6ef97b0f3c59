"""Options of the per-image adaptation and the layers it may adapt (no torch, no peft:
the command line reads these before deciding whether to load either)."""

from __future__ import annotations

from dataclasses import dataclass

PREDICTOR_LAYERS = ("stage_a", "mean", "stage_b", "shape")
# The head's layers, for every plane role: what the adaptation adapts by default.
DEFAULT_TARGETS = tuple(f"predictor.planes.{r}.{layer}" for r in range(3) for layer in PREDICTOR_LAYERS)
# Every layer a file's adapters may name: the UNet decoder's too (the default before
# this release; its features barely depend on z, and adapting them costs time for no gain).
# Part of the file format: adapter payload version 2 numbers the layers by their place
# here, so new layers may only be appended.
ADAPTABLE_LAYERS = ("decoder.inp", "decoder.up", "decoder.head") + DEFAULT_TARGETS


@dataclass(frozen=True)
class AdaptOptions:
    """Options of the per-image adaptation (CLI: --rank, --lr, --targets, --seed;
    ``threads`` from --threads: torch's threads while adapting, None to leave torch's
    setting alone; it is process-wide, so not for images adapted on several threads at
    once)."""

    rank: int = 2
    lr: float = 2e-2
    targets: tuple[str, ...] = DEFAULT_TARGETS
    seed: int = 0
    crop: int = 48
    batch: int = 4
    exp_a: int = 6
    exp_b: int = 9
    schedule: str = "rate"
    threads: int | None = None

    @classmethod
    def from_args(cls, rank=None, lr=None, targets=None, seed=None, threads=None) -> "AdaptOptions":
        base = cls()
        opts = cls(
            rank=base.rank if rank is None else int(rank),
            lr=base.lr if lr is None else float(lr),
            targets=base.targets if targets is None else tuple(t.strip() for t in targets.split(",") if t.strip()),
            seed=base.seed if seed is None else int(seed),
            threads=None if threads is None else int(threads),
        )
        if not 1 <= opts.rank <= 16:
            raise ValueError("--rank must be in [1, 16]")
        if not 0 < opts.lr < 1:
            raise ValueError("--lr must be in (0, 1)")
        if not 0 <= opts.seed < 2**32:
            raise ValueError("--seed must be in [0, 2^32)")
        if opts.threads is not None and opts.threads < 1:
            raise ValueError("--threads must be >= 1")
        unknown = [t for t in opts.targets if t not in ADAPTABLE_LAYERS]
        if unknown or not opts.targets:
            raise ValueError(f"unknown --targets {', '.join(unknown) or '(empty)'}; "
                             f"choose from {', '.join(ADAPTABLE_LAYERS)}")
        if len(set(opts.targets)) != len(opts.targets):
            raise ValueError("--targets names a layer more than once")
        return opts
