#!/usr/bin/env bash
# make_quant_goldens.sh: build scripts/ggml_quant_ref.c against llama.cpp's ggml-quants.c and
# write tests/fixtures/golden/quantize-ref.bin (the exact bytes of quantize_row_q8_0_ref,
# quantize_row_q8_1_ref and quantize_row_q8_K_ref on fixed rows; format in
# tests/fixtures/golden/README.md).
#
# Needs: gcc (C11), python3 with numpy (`pip install numpy`; --dequant-check also needs
#   `pip install gguf`), and llama.cpp's source at commit 0c1e570, e.g. the copy vendored in
#   llama-cpp-python 0.3.36:
#     pip install scikit-build-core cmake
#     pip download --no-deps --no-build-isolation --no-binary llama-cpp-python \
#         llama-cpp-python==0.3.36
#     tar xzf llama_cpp_python-0.3.36.tar.gz   # -> llama_cpp_python-0.3.36/vendor/llama.cpp
#   Point LLAMA_CPP at it (default below). No cmake / ggml library build: only two C files are
#   compiled (ggml-quants.c, plus ggml-cpu/arch/x86/quants.c for --compare-cpu).
# Time: about 3 s on a 2-core x86-64 machine (most of it compiling ggml-quants.c); about 7 s
#   with both --compare-cpu and --dequant-check.
#
# Usage: scripts/make_quant_goldens.sh [--compare-cpu] [--dequant-check]
#   --compare-cpu    also build ggml-cpu's x86 quantizers (-mavx2 -mfma -mf16c; needs a CPU with
#                    AVX2/FMA/F16C to run) and report how their output differs from _ref
#                    (report only, nothing is written)
#   --dequant-check  also dequantize every tensor of tests/fixtures/models with ggml's C
#                    dequantize_row_* and compare with gguf-py (scripts/gguf_py_dequant_digests.py
#                    --compare); report only
# Environment: LLAMA_CPP (llama.cpp source root), BUILD (scratch dir, default
#   /tmp/llamette-quant-build), CC (default gcc).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
LLAMA_CPP="${LLAMA_CPP:-/tmp/sdist/llama_cpp_python-0.3.36/vendor/llama.cpp}"
BUILD="${BUILD:-/tmp/llamette-quant-build}"
CC="${CC:-gcc}"
G="$LLAMA_CPP/ggml"

COMPARE_CPU=0
DEQUANT_CHECK=0
for a in "$@"; do
    case "$a" in
        --compare-cpu) COMPARE_CPU=1 ;;
        --dequant-check) DEQUANT_CHECK=1 ;;
        *) echo "unknown option $a" >&2; exit 2 ;;
    esac
done

[ -f "$G/src/ggml-quants.c" ] || { echo "llama.cpp source not found at $LLAMA_CPP (set LLAMA_CPP)" >&2; exit 1; }
mkdir -p "$BUILD"

# Same flags class as ggml-base in a default llama.cpp build: optimised, no -march, so no FMA
# contraction; -ffp-contract=off makes that explicit for other hosts.
CFLAGS=(-O2 -std=gnu11 -ffp-contract=off -fno-fast-math -I"$G/include" -I"$G/src")

echo "== compiling ggml-quants.c ($G)"
"$CC" "${CFLAGS[@]}" -c "$G/src/ggml-quants.c" -o "$BUILD/ggml-quants.o"
"$CC" "${CFLAGS[@]}" "$HERE/ggml_quant_ref.c" "$BUILD/ggml-quants.o" -lm -o "$BUILD/ggml_quant_ref"

PYARGS=(--ref "$BUILD/ggml_quant_ref")
if [ "$COMPARE_CPU" = 1 ]; then
    echo "== compiling ggml-cpu/arch/x86/quants.c with -mavx2 -mfma -mf16c"
    XFLAGS=(-O2 -std=gnu11 -mavx2 -mfma -mf16c -I"$G/include" -I"$G/src" -I"$G/src/ggml-cpu")
    "$CC" "${XFLAGS[@]}" -c "$G/src/ggml-cpu/arch/x86/quants.c" -o "$BUILD/x86-quants.o"
    "$CC" "${XFLAGS[@]}" -DWITH_GGML_CPU_X86 "$HERE/ggml_quant_ref.c" "$BUILD/x86-quants.o" \
        "$BUILD/ggml-quants.o" -lm -o "$BUILD/ggml_quant_cpu"
    PYARGS+=(--cpu "$BUILD/ggml_quant_cpu")
fi
if [ "$DEQUANT_CHECK" = 1 ]; then
    rm -rf "$BUILD/dequant-ggml"
    PYARGS+=(--dequant-dir "$BUILD/dequant-ggml")
fi

echo "== writing golden"
python3 "$HERE/make_quant_goldens.py" "${PYARGS[@]}" --out "$ROOT/tests/fixtures/golden/quantize-ref.bin"

if [ "$DEQUANT_CHECK" = 1 ]; then
    echo "== ggml C dequantize_row_* vs gguf-py"
    python3 "$HERE/gguf_py_dequant_digests.py" --compare "$BUILD/dequant-ggml" || true
fi
