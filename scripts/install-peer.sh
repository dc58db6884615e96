#!/usr/bin/env bash
# Installs llama.cpp's Python package (llama-cpp-python 0.3.36 = llama.cpp 0c1e570), the reference
# engine for goldens and benchmarks, built for AVX2 without AVX-512 and AMX (the goldens' float
# order is the AVX2 build's; AMX tile code also crashes in virtual machines that do not enable
# it). About 15 minutes on 2 cores; pip caches the wheel, so a second run on the same machine is
# quick. pip reuses a cached wheel whatever CMAKE_ARGS say, so a wheel built another way (say,
# natively for AVX-512) would be installed silently: the build is checked after installing,
# through llama_print_system_info, and refused when it is not the reference one.
set -euo pipefail
want='CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |'
info() { python3 -c 'import llama_cpp as L; print(L.llama_print_system_info().decode().strip())' 2>/dev/null; }
if python3 -c 'import llama_cpp' 2>/dev/null; then
  got=$(info)
  if [[ $got == "$want" ]]; then echo "llama_cpp already installed (reference build)"; exit 0; fi
  echo "llama_cpp is installed but not the reference build: $got" >&2
  echo "remove it first: pip uninstall -y llama-cpp-python && pip cache remove llama_cpp_python" >&2
  exit 1
fi
pip install -q scikit-build-core cmake ninja numpy gguf
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL=2 pip install --no-build-isolation llama-cpp-python==0.3.36
got=$(info)
if [[ $got != "$want" ]]; then
  echo "the installed llama_cpp is not the reference build: $got (a cached wheel built another way?)" >&2
  echo "pip uninstall -y llama-cpp-python && pip cache remove llama_cpp_python, then run this again" >&2
  exit 1
fi
echo "llama_cpp 0.3.36 installed: $got"
