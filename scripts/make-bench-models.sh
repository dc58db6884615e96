#!/usr/bin/env bash
# make-bench-models.sh: build the 1.1B benchmark models into <repo>/models/bench/ (git-ignored).
#
# What it does: writes bench-1b.f16.gguf with the make_shape_model example (shape `bench-1b`,
# 22 layers: TinyLlama-1.1B's shape, embedding 2048, 32 query heads and 4 KV heads, feed-forward
# 5632, with CodeLlama-70B-Instruct's vocabulary from
# tests/fixtures/vocab/codellama-70b-instruct-vocab.gguf; seeded random F16 weights, the same
# bytes on every machine), then quantizes it with llama.cpp's own quantizer
# (scripts/shape/quantize.py, llama_model_quantize through llama-cpp-python) into
# bench-1b.TYPE.gguf for each TYPE: by default q4_k_m, q4_0 and q8_0. Files that already exist
# are kept (delete one to remake it); each is written under a temporary name and renamed, so
# an interrupted run leaves no half-written model.
#
# Needs: cargo; python3 with llama_cpp for the quantized types (when it is missing, this runs
# scripts/install-peer.sh first, about 15 minutes on 2 cores). Nothing outside the repository.
# Respects CARGO_TARGET_DIR (default ./target).
#
# Time and space: the release build of the example (a few minutes the first time), about 10 s
# for the F16 file (2.2 GB), then per quantized type on 2 cores 10 s (q4_0, q8_0) to 2 minutes
# (the K-quants), 0.43 GB (q2_k) to 1.17 GB (q8_0) each; the default set takes about 2 minutes.
#
# Usage: scripts/make-bench-models.sh [TYPE ...]
#   scripts/make-bench-models.sh                  # f16, q4_k_m, q4_0, q8_0
#   scripts/make-bench-models.sh q2_k q3_k_m q6_k # f16 and the listed types instead
# TYPE is one of q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k_s q3_k_m q3_k_l q4_k_s q4_k_m q5_k_s
# q5_k_m q6_k (upper or lower case).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
vocab=tests/fixtures/vocab/codellama-70b-instruct-vocab.gguf
out=models/bench
python=${PYTHON:-python3}
known=" q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k_s q3_k_m q3_k_l q4_k_s q4_k_m q5_k_s q5_k_m q6_k "

die() { echo "make-bench-models: $*" >&2; exit 1; }

types=()
for t in "$@"; do
    case $t in -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac
    t=${t,,}
    [[ $known == *" $t "* ]] || die "unknown type $t (one of:$known)"
    types+=("$t")
done
[ ${#types[@]} -gt 0 ] || types=(q4_k_m q4_0 q8_0)
[ -f "$vocab" ] || die "$vocab not found"
mkdir -p "$out"

f16=$out/bench-1b.f16.gguf
if [ ! -f "$f16" ]; then
    echo "make-bench-models: building the make_shape_model example" >&2
    cargo build --release -q --example make_shape_model
    target=${CARGO_TARGET_DIR:-target}
    start=$(date +%s)
    "$target/release/examples/make_shape_model" bench-1b 22 "$f16.tmp" "$vocab" > /dev/null
    mv "$f16.tmp" "$f16"
    echo "bench-1b.f16.gguf: $(( $(date +%s) - start )) s" >&2
fi

missing=()
for t in "${types[@]}"; do [ -f "$out/bench-1b.$t.gguf" ] || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ] && ! "$python" -c 'import llama_cpp' 2> /dev/null; then
    echo "make-bench-models: llama_cpp is missing; running scripts/install-peer.sh (about 15 min)" >&2
    bash scripts/install-peer.sh
fi
for t in "${missing[@]}"; do
    f=$out/bench-1b.$t.gguf
    start=$(date +%s)
    "$python" scripts/shape/quantize.py "$f16" "$f.tmp" "$t" > "$out/bench-1b.$t.log" 2>&1 || {
        tail -n 20 "$out/bench-1b.$t.log" >&2
        rm -f "$f.tmp"
        die "quantizing to $t failed (log: $out/bench-1b.$t.log)"
    }
    mv "$f.tmp" "$f"
    rm -f "$out/bench-1b.$t.log"
    echo "bench-1b.$t.gguf: $(( $(date +%s) - start )) s" >&2
done
files=("$f16")
for t in "${types[@]}"; do files+=("$out/bench-1b.$t.gguf"); done
ls -l "${files[@]}"
