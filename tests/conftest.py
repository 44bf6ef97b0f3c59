import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def adaptations(monkeypatch):
    """The adaptations run while the test runs: per call of ``adapt_to_image``, the
    adapted image's (height, width) and its time budget (the calls still adapt)."""
    import lora_codec.lora.fit as fit

    calls = []
    real = fit.adapt_to_image

    def spy(model, pixels, *args, **kwargs):
        calls.append((pixels.shape[:2], kwargs.get("time_budget")))
        return real(model, pixels, *args, **kwargs)

    monkeypatch.setattr(fit, "adapt_to_image", spy)
    return calls
