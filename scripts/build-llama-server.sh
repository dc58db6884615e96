#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the same sources as the peer Python package
# (llama-cpp-python 0.3.36's sdist, llama.cpp 0c1e570) with the same flags as
# ../shared/tools/install-peer.sh (AVX2, no AMX), for the server benchmark
# (scripts/server_bench.sh). About 15 minutes on 2 cores; the result is kept in
# ~/.cache/llamette/llama-server/bin/llama-server.
#
#   scripts/build-llama-server.sh            # prints the binary's path when done
set -euo pipefail
out="${LLAMETTE_PEER_SERVER_DIR:-$HOME/.cache/llamette/llama-server}"
if [ -x "$out/bin/llama-server" ]; then
  echo "$out/bin/llama-server"
  exit 0
fi
src="${LLAMETTE_PEER_SRC:-}"
if [ -z "$src" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  pip install -q scikit-build-core cmake ninja
  (cd "$work" && pip download -q --no-deps --no-build-isolation --no-binary llama-cpp-python llama-cpp-python==0.3.36 \
    && tar xzf llama_cpp_python-0.3.36.tar.gz)
  src="$work/llama_cpp_python-0.3.36/vendor/llama.cpp"
fi
build="$out/build"
mkdir -p "$build"
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
  -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF > "$build/configure.log"
cmake --build "$build" --target llama-server -j "${JOBS:-2}" > "$build/build.log"
mkdir -p "$out/bin"
cp "$build/bin/llama-server" "$out/bin/llama-server"
echo "$out/bin/llama-server"
