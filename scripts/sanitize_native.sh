#!/usr/bin/env bash
# Builds native/selftest/selftest.cpp under AddressSanitizer + UndefinedBehaviorSanitizer
# and runs it: coder and predictor round trips, truncated and random streams.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${TMPDIR:-/tmp}/lora_codec_selftest"
g++ -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
    native/selftest/selftest.cpp -o "$out"
"$out"
