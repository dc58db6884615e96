#!/usr/bin/env bash
# make_golden.sh: build harness.cpp against llama.cpp's x86 kernels and write
# tests/fixtures/golden/x86-legacy-kernels.bin (format: tests/fixtures/golden/README.md).
#
# The golden holds the exact f32 results of ggml_vec_dot_{q4_0,q5_0,q8_0}_q8_0,
# ggml_vec_dot_{q4_1,q5_1}_q8_1 (arch/x86/quants.c, AVX2 branches) and of llamafile_sgemm's
# tinyBLAS_Q0_AVX (Q4_0/Q5_0/Q8_0 x Q8_0) on random blocks; src/kernels/reference/legacy.rs
# tests against it. See README.md in this folder.
#
# Needs: gcc and g++ (tested: Debian gcc 12.2.0), an x86-64 CPU with AVX2/FMA/F16C/BMI2 to run
#   the harness, and llama.cpp's source at commit 0c1e570, e.g. the copy vendored in
#   llama-cpp-python 0.3.36 (see scripts/make_quant_goldens.sh for how to fetch it). Point
#   LLAMA_CPP at it (default below). No cmake / ggml library build.
# Compiler flags: those of the golden llama.cpp build (cmake -DGGML_NATIVE=OFF -DGGML_AVX=ON
#   -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF, Release):
#   -O3 -DNDEBUG -msse4.2 -mf16c -mfma -mbmi2 -mavx -mavx2 (gcc's default -ffp-contract=fast,
#   as in that build).
# Time: about 10 s on a 2-core x86-64 machine (compiling; the run itself is instant).
# Output is deterministic (fixed PRNG seed in harness.cpp): rerunning rewrites the same bytes.
#
# Usage: scripts/x86_legacy_kernels/make_golden.sh [--installed [LIB]]
#   --installed [LIB]  also dlopen LIB (default: llama-cpp-python's installed libggml-cpu.so,
#                      found through python3) and check that its kernels give the same bits on
#                      every case (the golden written is the same either way)
# Environment: LLAMA_CPP (llama.cpp source root), BUILD (scratch dir, default
#   /tmp/llamette-x86-legacy-build), CC (default gcc), CXX (default g++), OUT (default
#   tests/fixtures/golden/x86-legacy-kernels.bin).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$(dirname "$HERE")")"
LLAMA_CPP="${LLAMA_CPP:-/tmp/sdist/llama_cpp_python-0.3.36/vendor/llama.cpp}"
BUILD="${BUILD:-/tmp/llamette-x86-legacy-build}"
CC="${CC:-gcc}"
CXX="${CXX:-g++}"
OUT="${OUT:-$ROOT/tests/fixtures/golden/x86-legacy-kernels.bin}"
G="$LLAMA_CPP/ggml"

INSTALLED=()
if [ "${1:-}" = "--installed" ]; then
    LIB="${2:-}"
    if [ -z "$LIB" ]; then
        LIB="$(python3 -c 'import llama_cpp, os; print(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-cpu.so"))')"
    fi
    INSTALLED=(--installed "$LIB")
elif [ $# -gt 0 ]; then
    echo "unknown option $1" >&2
    exit 2
fi

[ -f "$G/src/ggml-cpu/llamafile/sgemm.cpp" ] || { echo "llama.cpp source not found at $LLAMA_CPP (set LLAMA_CPP)" >&2; exit 1; }
mkdir -p "$BUILD"

ARCH=(-O3 -DNDEBUG -msse4.2 -mf16c -mfma -mbmi2 -mavx -mavx2)
INC=(-I"$G/include" -I"$G/src" -I"$G/src/ggml-cpu")

echo "== compiling llama.cpp objects ($G)"
# ggml-base: the *_ref quantizers arch/x86/quants.c refers to (no arch flags, as ggml-base).
"$CC" -O3 -DNDEBUG -std=gnu11 "${INC[@]}" -c "$G/src/ggml-quants.c" -o "$BUILD/ggml-quants.o"
"$CC" "${ARCH[@]}" -std=gnu11 "${INC[@]}" -c "$G/src/ggml-cpu/quants.c" -o "$BUILD/cpu-quants.o"
"$CC" "${ARCH[@]}" -std=gnu11 "${INC[@]}" -c "$G/src/ggml-cpu/arch/x86/quants.c" -o "$BUILD/x86-quants.o"
"$CXX" "${ARCH[@]}" -std=c++17 "${INC[@]}" -c "$G/src/ggml-cpu/llamafile/sgemm.cpp" -o "$BUILD/sgemm.o"
"$CXX" "${ARCH[@]}" -std=c++17 "${INC[@]}" -c "$HERE/harness.cpp" -o "$BUILD/harness.o"
"$CXX" "$BUILD/harness.o" "$BUILD/sgemm.o" "$BUILD/x86-quants.o" "$BUILD/cpu-quants.o" "$BUILD/ggml-quants.o" \
    -ldl -lm -o "$BUILD/harness"

echo "== running harness"
"$BUILD/harness" "$OUT" "${INSTALLED[@]}"
sha256sum "$OUT"
