#!/usr/bin/env bash
# make-bench-models.sh: build the 1.1B benchmark models (TinyLlama-1.1B's shape with
# CodeLlama-70B-Instruct's vocabulary, random weights) into <repo>/models/bench/
# (git-ignored): bench-1b.f16.gguf, then llama.cpp's quantizer makes
# bench-1b.q4_k_m.gguf, bench-1b.q4_0.gguf and bench-1b.q8_0.gguf.
#
# Needs: ../shared/tools (make_tiny_models.py, quantize.py) or SHARED_TOOLS=DIR, python3 with
# numpy and gguf, and llama_cpp (../shared/tools/install-peer.sh). About 3 GB of disk, a few
# minutes. Skips files that already exist.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${SHARED_TOOLS:-$ROOT/../shared/tools}"
VOCAB="$ROOT/tests/fixtures/vocab/codellama-70b-instruct-vocab.gguf"
OUT="$ROOT/models/bench"
PYTHON="${PYTHON:-python3}"
[ -f "$TOOLS/make_tiny_models.py" ] || { echo "make-bench-models: $TOOLS/make_tiny_models.py not found (set SHARED_TOOLS)" >&2; exit 1; }
[ -f "$VOCAB" ] || { echo "make-bench-models: $VOCAB not found" >&2; exit 1; }
mkdir -p "$OUT"
if [ ! -f "$OUT/bench-1b.f16.gguf" ]; then
    "$PYTHON" "$TOOLS/make_tiny_models.py" "$VOCAB" "$OUT" bench
fi
for t in q4_k_m q4_0 q8_0; do
    if [ ! -f "$OUT/bench-1b.$t.gguf" ]; then
        "$PYTHON" "$TOOLS/quantize.py" "$OUT/bench-1b.f16.gguf" "$OUT/bench-1b.$t.gguf.tmp" "${t^^}" >/dev/null 2>&1
        mv "$OUT/bench-1b.$t.gguf.tmp" "$OUT/bench-1b.$t.gguf"
    fi
done
ls -l "$OUT"
