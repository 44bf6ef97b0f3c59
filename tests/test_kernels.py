"""The native loops' kernel choice: the widest the CPU has, and LORA_CODEC_KERNEL as a cap.
That every kernel codes the same bytes is checked in test_determinism.py,
test_convolution.py and the sanitizer self-test."""

from pathlib import Path

import pytest

from lora_codec.entropy import kernels

# What each kernel needs of the CPU, as /proc/cpuinfo names the flags.
NEEDS = {"avx2": {"avx2"}, "sse2": set()}


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        pytest.skip("no /proc/cpuinfo here")
    line = next((row for row in text.splitlines() if row.startswith("flags")), None)
    if line is None:
        pytest.skip("/proc/cpuinfo lists no flags")
    return set(line.split(":", 1)[1].split())


def _widest(flags: set[str], cap: str = "avx2") -> str:
    order = ["sse2", "avx2"]
    return max((k for k in order[: order.index(cap) + 1] if NEEDS[k] <= flags), key=order.index)


def test_the_widest_kernel_the_cpu_has_is_chosen(monkeypatch):
    monkeypatch.delenv("LORA_CODEC_KERNEL", raising=False)
    monkeypatch.delenv("LORA_CODEC_HEAD_KERNEL", raising=False)
    monkeypatch.delenv("LORA_CODEC_SCALAR_HEAD", raising=False)
    assert kernels.kernel_in_use() == _widest(_cpu_flags())


@pytest.mark.parametrize("cap", ["sse2", "avx2"])
def test_the_variable_caps_the_choice(monkeypatch, cap):
    monkeypatch.setenv("LORA_CODEC_KERNEL", cap)
    assert kernels.kernel_in_use() == _widest(_cpu_flags(), cap)


def test_int64_is_the_portable_reference(monkeypatch):
    monkeypatch.setenv("LORA_CODEC_KERNEL", "int64")
    assert kernels.kernel_in_use() == "int64"
    assert kernels.KERNELS[0] == "int64"
