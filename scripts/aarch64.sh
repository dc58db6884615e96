#!/usr/bin/env bash
# aarch64.sh: build the crate for aarch64 on this x86-64 machine and run its aarch64 test suite
# under qemu-user, so the portable core (and, later, the NEON kernels) runs on an ARM CPU model.
#
# Why not ../shared/tools/aarch64.sh: that script uses Debian's Rust (1.85), older than this
# crate's minimum (1.89). This one uses the machine's rustup toolchain with rustup's aarch64
# standard library (`rustup target add`), Debian's aarch64 GNU linker and qemu-user-static.
# As there: a program that starts a second thread hangs under qemu-user in this sandbox, so the
# suite is `tests/aarch64.rs`, a `harness = false` target that runs on the main thread and
# prints `N passed, M failed`.
#
# Needs: rustup (network to fetch the aarch64 std once), apt (installs gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross and qemu-user-static when missing), the SmolLM2 model
# (scripts/fetch-smollm2.sh). Time: a minute or two to build, then the suite under emulation.
# Runs: the kernel unit tests (libtest with --test-threads=1, which stays on the main thread),
# then the model suite three times: on qemu's default CPU (which has dotprod: the SDOT kernels),
# on a Cortex-A53 model (no dotprod: the plain NEON kernels, chosen by run-time detection) and
# with LLAMETTE_SCALAR=1 (the reference); each run checks it got the kernels it meant to test.
# The SDOT and plain-NEON runs also check some real-shape models (issue 14; scripts/shape/make.sh
# builds them first) on their short prompt: about 90 s a CodeLlama-70B-shaped model under qemu.
# Usage, from anywhere:  scripts/aarch64.sh [extra cargo test arguments]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
have() { dpkg -s "$1" >/dev/null 2>&1; }
if ! { have gcc-aarch64-linux-gnu && have libc6-dev-arm64-cross && have qemu-user-static; }; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu \
        libc6-dev-arm64-cross qemu-user-static >/dev/null
fi
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
    || rustup target add aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L /usr/aarch64-linux-gnu"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/aarch64}"
cd "$ROOT"
T=aarch64-unknown-linux-gnu
cargo test --release --target "$T" --lib "$@" -- --test-threads=1 kernels
export LLAMETTE_SHAPE_CASES=code
LLAMETTE_EXPECT_KERNELS=sdot LLAMETTE_SHAPE_MODELS=70b-1l.q4_k_m,13b-1l.q8_0 \
    cargo test --release --target "$T" --test aarch64 "$@"
QEMU_CPU=cortex-a53 LLAMETTE_EXPECT_KERNELS=neon LLAMETTE_SHAPE_MODELS=13b-1l.q6_k,13b-1l.q2_k \
    cargo test --release --target "$T" --test aarch64 "$@"
LLAMETTE_SCALAR=1 LLAMETTE_EXPECT_KERNELS=scalar \
    cargo test --release --target "$T" --test aarch64 "$@"
