#!/usr/bin/env bash
# Regenerates tests/fixtures/golden/x86-float-kernels.bin (see tests/fixtures/golden/README.md).
#
# Needs: g++ (tested with Debian gcc 12.2.0), the llama.cpp source tree at commit 0c1e570 for
# the public headers (ggml/include), and the *installed* llama.cpp CPU backend whose machine
# code is the reference: libggml-base.so + libggml-cpu.so from llama-cpp-python 0.3.36 (built
# for x86-64 with GGML_NATIVE=OFF, AVX/AVX2/FMA/F16C/BMI2 on, AVX512 off). The CPU running it
# must support AVX2+FMA+F16C. Takes about 2 seconds (compile ~1.5 s, run < 0.5 s).
#
# With --check-source it afterwards also compiles ggml-cpu/vec.cpp from the llama.cpp source with
# the reference build's flags (gcc/g++ -O3 -DNDEBUG -msse4.2 -mavx -mavx2 -mfma -mf16c -mbmi2) and
# checks that it reproduces the golden's directly-called kernels (kinds 1-3, 7, 9) bit for bit
# (check_source.cpp; ~3 s more).
#
# Environment overrides:
#   LLAMA_CPP_SRC  llama.cpp source root  (default /tmp/sdist/llama_cpp_python-0.3.36/vendor/llama.cpp)
#   GGML_LIB_DIR   directory holding libggml-base.so and libggml-cpu.so
#                  (default: the lib/ folder of the installed llama_cpp Python package)
#   OUT            output file (default tests/fixtures/golden/x86-float-kernels.bin)
#
# The inputs come from a fixed integer PRNG, so the output is bit-identical on every run
# (check: sha256sum before/after).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
src="${LLAMA_CPP_SRC:-/tmp/sdist/llama_cpp_python-0.3.36/vendor/llama.cpp}"
if [[ -z "${GGML_LIB_DIR:-}" ]]; then
    GGML_LIB_DIR="$(python3 -c 'import os, llama_cpp; print(os.path.join(os.path.dirname(llama_cpp.__file__), "lib"))')"
fi
out="${OUT:-$root/tests/fixtures/golden/x86-float-kernels.bin}"

for f in "$src/ggml/include/ggml.h" "$GGML_LIB_DIR/libggml-cpu.so" "$GGML_LIB_DIR/libggml-base.so"; do
    [[ -e "$f" ]] || { echo "missing $f" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Same ISA flags as the reference build (the harness itself does no float math that matters:
# every input is an exact bit pattern, every output comes from the library).
g++ -std=c++17 -O3 -mavx -mavx2 -mfma -mf16c -mbmi2 \
    -I"$src/ggml/include" "$here/harness.cpp" -o "$work/harness" \
    -L"$GGML_LIB_DIR" -lggml-cpu -lggml-base -Wl,-rpath,"$GGML_LIB_DIR"

"$work/harness" "$out"
sha256sum "$out"

if [[ "${1:-}" == "--check-source" ]]; then
    g++ -std=c++17 -O3 -DNDEBUG -msse4.2 -mavx -mavx2 -mfma -mf16c -mbmi2 \
        -I"$src/ggml/include" -I"$src/ggml/src" -I"$src/ggml/src/ggml-cpu" \
        -c "$src/ggml/src/ggml-cpu/vec.cpp" -o "$work/vec.o"
    g++ -std=c++17 -O2 -mavx2 -mfma -mf16c "$here/check_source.cpp" "$work/vec.o" -o "$work/check_source"
    "$work/check_source" "$out"
fi
