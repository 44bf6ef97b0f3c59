"""The native coder's own self-test, built under AddressSanitizer and UBSan: round trips,
truncated and random streams end cleanly, with no out-of-bounds read or undefined
behaviour."""

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "sanitize_native.sh"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None or shutil.which("bash") is None, reason="needs g++ and bash")
def test_native_selftest_under_sanitizers(tmp_path):
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=600,
                         env={"PATH": "/usr/bin:/bin:/usr/local/bin", "TMPDIR": str(tmp_path)})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "selftest: all checks passed" in out.stdout
