#!/usr/bin/env bash
# build-batched-bench.sh: builds llama.cpp's `llama-batched-bench` from the same llama.cpp
# sources as the project's reference (the llama-cpp-python 0.3.36 sdist, llama.cpp 0c1e570),
# with the reference's CPU flags (AVX2 + FMA + F16C, no AVX-512: scripts/install-peer.sh),
# into ~/.cache/llamette/batched-bench/llama-batched-bench (or $OUT).
#
# Needs: python3 with pip (downloads the sdist, ~60 MB), cmake, a C++17 compiler.
# Time: about 10 minutes on 2 cores the first time; seconds when the binary exists.
# Usage: scripts/build-batched-bench.sh            (prints the binary's path last)
set -euo pipefail

OUT="${OUT:-$HOME/.cache/llamette/batched-bench}"
BIN="$OUT/llama-batched-bench"
if [ -x "$BIN" ]; then
    echo "$BIN"
    exit 0
fi
command -v cmake >/dev/null || { echo "build-batched-bench: cmake is needed" >&2; exit 1; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/batched-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
python3 -m pip download -q --no-deps --no-build-isolation --no-binary llama-cpp-python \
    llama-cpp-python==0.3.36 -d "$WORK" >&2
tar -xzf "$WORK"/llama_cpp_python-0.3.36.tar.gz -C "$WORK"
SRC="$WORK/llama_cpp_python-0.3.36/vendor/llama.cpp"
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
    -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$WORK/build" --target llama-batched-bench -j "$(nproc)" >&2
mkdir -p "$OUT"
cp "$WORK/build/bin/llama-batched-bench" "$BIN"
echo "$BIN"
