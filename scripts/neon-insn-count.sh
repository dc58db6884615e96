#!/usr/bin/env bash
# neon-insn-count.sh: instructions per loop of llamette's NEON kernels and of llama.cpp's
# (ggml/src/ggml-cpu/arch/arm/quants.c), both compiled for aarch64 on this machine, so the
# kernels can be compared without ARM hardware (qemu timings mean nothing).
#
# llamette: release build for aarch64-unknown-linux-gnu with v0 symbol mangling (generic
# arguments in the names: `run_sdot::<..Tile<BlockQ4_0, 4, 1>>` is the SDOT instance, the
# public `Neon::dot_*` functions hold the plain instance inlined). llama.cpp: quants.c from the
# llama-cpp-python 0.3.36 sdist (fetched with pip into target/llama-cpp-src unless LLAMA_CPP
# names a llama.cpp checkout), aarch64-linux-gnu-gcc -O3, once with -march=armv8.2-a+dotprod
# and once with -march=armv8-a (no SDOT).
#
# Output: every loop (backward branch) of the matching functions with its length; per-block
# figures divide by the blocks one iteration handles (llama.cpp's legacy loops do 2 blocks,
# its K-quant loops 1 superblock; llamette's tiles R rows x T tokens). README has the table.
# Needs: scripts/aarch64.sh's toolchain (rustup aarch64 target, gcc-aarch64-linux-gnu).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/target/arm-insn"
LLAMA_CPP="${LLAMA_CPP:-}"
if [ -z "$LLAMA_CPP" ]; then
    SRC="$ROOT/target/llama-cpp-src"
    if [ ! -d "$SRC/llama_cpp_python-0.3.36" ]; then
        mkdir -p "$SRC"
        pip download -q --no-deps --no-build-isolation --no-binary llama-cpp-python \
            llama-cpp-python==0.3.36 -d "$SRC"
        tar -xzf "$SRC"/llama_cpp_python-0.3.36.tar.gz -C "$SRC"
    fi
    LLAMA_CPP="$SRC/llama_cpp_python-0.3.36/vendor/llama.cpp"
fi
mkdir -p "$OUT"
for v in "dotprod:-march=armv8.2-a+dotprod" "plain:-march=armv8-a"; do
    aarch64-linux-gnu-gcc -O3 "${v#*:}" -DNDEBUG -D_GNU_SOURCE -I"$LLAMA_CPP/ggml/include" \
        -I"$LLAMA_CPP/ggml/src" -I"$LLAMA_CPP/ggml/src/ggml-cpu" \
        -c "$LLAMA_CPP/ggml/src/ggml-cpu/arch/arm/quants.c" -o "$OUT/llama-quants-${v%%:*}.o"
done
CARGO_TARGET_DIR="$OUT" RUSTFLAGS="-C symbol-mangling-version=v0" \
    cargo build -q --release --target aarch64-unknown-linux-gnu --lib
RLIB="$OUT/aarch64-unknown-linux-gnu/release/libllamette.rlib"
short() { sed -E 's/llamette::(kernels::arm::|quant::(legacy|k_quants)::)//g; s/<impl llamette::kernels::arm::Neon>:://g'; }
echo "## llamette, SDOT instances (run_sdot::<kernel>)"
python3 scripts/neon-loops.py "$RLIB" "arm::run_sdot" | short
echo "## llamette, public entry points (plain instances inlined)"
python3 scripts/neon-loops.py "$RLIB" "Neon>::dot_" "Neon>::legacy_tile" "Neon>::quantize_row" | short
for v in dotprod plain; do
    echo "## llama.cpp quants.c, $v"
    python3 scripts/neon-loops.py "$OUT/llama-quants-$v.o" ggml_vec_dot_q quantize_row_q8
done
