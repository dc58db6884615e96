#!/usr/bin/env bash
# make_golden.sh: write tests/fixtures/golden/x86-kquant-kernels.bin, the exact results of
# llama.cpp's x86-64 AVX2 K-quant matrix-product kernels (Q2_K..Q6_K weights x Q8_K activations),
# both the ggml_vec_dot_qN_K_q8_K path and the "tiled" path (format and meaning:
# tests/fixtures/golden/README.md, section x86-kquant-kernels.bin).
#
# Builds kquant_kernels.c (next to this script) against ggml's public headers from llama.cpp's
# source and links it to a ggml library build of the same commit; runs it three times (the tiled
# switch is an env var read once per process) and assembles the file. The harness checks that
# the vec_dot path, the tiled path and the batch-size rule agree with one another (see the top
# of kquant_kernels.c) and writes nothing if they do not. The output is a pure function of the
# library's code: rerunning gives the same bytes.
#
# Needs: gcc, an x86-64 CPU with AVX2/FMA/F16C, and
#   * llama.cpp's source at commit 0c1e570 (LLAMA_CPP; the copy vendored in llama-cpp-python
#     0.3.36, see scripts/make_quant_goldens.sh for how to unpack it), for the headers;
#   * the ggml libraries (GGML_LIB, a directory with libggml-base.so and libggml-cpu.so).
#     Default: the ones installed by `pip install llama-cpp-python==0.3.36` (built with
#     GGML_NATIVE=OFF AVX AVX2 FMA F16C BMI2, no AVX512, gcc, Release), i.e. the library that made
#     the logits goldens.
# Time: about 2 s.
#
# Usage: scripts/x86_kquant_kernels/make_golden.sh [--from-source] [--check]
#   --from-source  first build ggml from $LLAMA_CPP with cmake and the flags above
#                  (-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
#                  -DGGML_BMI2=ON -DGGML_AVX512=OFF, Release, gcc; a few minutes on 2 cores) into
#                  $BUILD/ggml and use that instead of GGML_LIB
#   --check        do not overwrite the golden; compare the fresh output with it (cmp) instead
# Environment: LLAMA_CPP, GGML_LIB, BUILD (scratch dir, default /tmp/llamette-kquant-build),
#   CC (default gcc).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$(dirname "$HERE")")"
LLAMA_CPP="${LLAMA_CPP:-/tmp/sdist/llama_cpp_python-0.3.36/vendor/llama.cpp}"
BUILD="${BUILD:-/tmp/llamette-kquant-build}"
CC="${CC:-gcc}"
OUT="$ROOT/tests/fixtures/golden/x86-kquant-kernels.bin"

if [ -z "${GGML_LIB:-}" ]; then
    GGML_LIB="$(python3 -c 'import os, llama_cpp; print(os.path.join(os.path.dirname(llama_cpp.__file__), "lib"))' 2>/dev/null || true)"
fi

FROM_SOURCE=0
CHECK=0
for a in "$@"; do
    case "$a" in
        --from-source) FROM_SOURCE=1 ;;
        --check) CHECK=1 ;;
        *) echo "unknown option $a" >&2; exit 2 ;;
    esac
done

G="$LLAMA_CPP/ggml"
[ -f "$G/include/ggml.h" ] || { echo "llama.cpp source not found at $LLAMA_CPP (set LLAMA_CPP)" >&2; exit 1; }
mkdir -p "$BUILD"

if [ "$FROM_SOURCE" = 1 ]; then
    echo "== building ggml from $G (AVX2 flags, Release) into $BUILD/ggml"
    # configured through llama.cpp's top-level CMakeLists (ggml's own needs ggml.pc.in, which the
    # llama-cpp-python sdist leaves out); only the ggml-cpu target (and ggml-base) is built
    cmake -S "$LLAMA_CPP" -B "$BUILD/ggml" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$CC" \
        -DCMAKE_CXX_COMPILER="${CXX:-g++}" -DBUILD_SHARED_LIBS=ON \
        -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
        -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_CPU_REPACK=OFF -DGGML_OPENMP=OFF \
        -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
        >"$BUILD/cmake.log"
    cmake --build "$BUILD/ggml" --target ggml-cpu -j 1 >>"$BUILD/cmake.log"
    GGML_LIB="$(dirname "$(find "$BUILD/ggml" -name 'libggml-cpu.so' | head -1)")"
fi
[ -f "$GGML_LIB/libggml-cpu.so" ] || { echo "libggml-cpu.so not found in '$GGML_LIB' (set GGML_LIB)" >&2; exit 1; }
echo "== ggml libraries: $GGML_LIB"

"$CC" -O2 -std=gnu11 -Wall -Wextra -I"$G/include" "$HERE/kquant_kernels.c" \
    -L"$GGML_LIB" -l:libggml-cpu.so -l:libggml-base.so -Wl,-rpath,"$GGML_LIB" \
    -o "$BUILD/kquant_kernels"

K="$BUILD/kquant_kernels"
env -u GGML_CPU_TILED_MM_FORCE GGML_CPU_TILED_MM=0 "$K" graph >"$BUILD/notiled.raw"
env -u GGML_CPU_TILED_MM GGML_CPU_TILED_MM_FORCE=1 "$K" graph >"$BUILD/forced.raw"
env -u GGML_CPU_TILED_MM -u GGML_CPU_TILED_MM_FORCE "$K" golden "$BUILD/notiled.raw" "$BUILD/forced.raw" >"$BUILD/golden.bin"

if [ "$CHECK" = 1 ]; then
    cmp "$BUILD/golden.bin" "$OUT" && echo "== identical to $OUT"
else
    cp "$BUILD/golden.bin" "$OUT"
    echo "== wrote $OUT ($(stat -c %s "$OUT") bytes)"
fi
