#!/usr/bin/env bash
# The bindings' checks (CI runs this): builds the shared library (cargo build --release
# --features ffi), then
#   Go:     go vet + go test in bindings/go (SmolLM2's greedy answer, the tiny model's golden
#           ids, concurrent contexts, cancellation, errors, leaks, parallel callbacks), and the
#           chat example end to end;
#   Python: a fresh venv, pip install pytest ./bindings/python, pytest bindings/python/tests,
#           and the streaming example;
#   Swift:  bindings/swift/check.sh (no Swift toolchain here: the module map imports with clang,
#           header names are safe in Swift, every C call in the Swift sources exists).
# Last line: `N passed, M failed` (Go tests + pytest tests + Swift checks).
#
#   bash bindings/run.sh      (from anywhere; needs scripts/fetch-smollm2.sh's model)
#
# Installs golang-go and clang with apt-get when missing (as root); pip fetches pytest and
# setuptools.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
step() { printf '\n==> %s\n' "$*"; }
need=()
command -v go > /dev/null || need+=(golang-go)
command -v clang > /dev/null || need+=(clang)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" > /dev/null
  else
    echo "missing: ${need[*]} (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
go version
test -f models/smollm2-135m-instruct.q4_1.gguf \
  || { echo "models/smollm2-135m-instruct.q4_1.gguf is missing: run scripts/fetch-smollm2.sh" >&2; exit 1; }

step "the shared library"
cargo build --release -q --features ffi
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$root/$target ;; esac
lib=$target/release
if [ "$lib" != "$root/target/release" ]; then
  # The cgo default points at target/release; add the actual location.
  export CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib"
fi
export LLAMETTE_LIB=$lib/libllamette.so
log=$(mktemp)
trap 'rm -f "$log"' EXIT

step "Go: go vet, go test (bindings/go), the chat example"
(cd bindings/go && go vet ./... && go test -count=1 -v ./... 2>&1) | tee "$log" | grep -E '^(--- |ok|FAIL|PASS)' || true
go_pass=$(grep -c '^--- PASS' "$log" || true)
go_fail=$(grep -c '^--- FAIL' "$log" || true)
grep -q '^ok' "$log" || go_fail=$((go_fail + 1))
answer=$(cd examples/go && go vet . && echo "What is the capital of France?" \
  | go run . -m ../../models/smollm2-135m-instruct.q4_1.gguf)
if [ "$answer" = "The capital of France is Paris." ]; then
  go_pass=$((go_pass + 1)); echo "example: $answer"
else
  go_fail=$((go_fail + 1)); echo "example FAILED: got '$answer'"
fi

step "Python: pip install ./bindings/python in a fresh venv, pytest, the streaming example"
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
"$venv/bin/pip" install -q pytest ./bindings/python
"$venv/bin/python" -m pytest -q bindings/python/tests 2>&1 | tee "$log" || true
py_pass=$(awk '/ passed/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^passed/) print $i }' "$log" | tail -1)
py_fail=$(awk '/ failed| error/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^(failed|errors?)/) s += $i } END { print s + 0 }' "$log")
py_pass=${py_pass:-0}
test "$py_pass" -gt 0 || py_fail=$((py_fail + 1))
out=$("$venv/bin/python" examples/python/stream.py models/smollm2-135m-instruct.q4_1.gguf \
  "def fibonacci(n):" -n 16)
if [ -n "$out" ]; then py_pass=$((py_pass + 1)); else py_fail=$((py_fail + 1)); fi
rm -rf "$(dirname "$venv")"

step "Swift: bindings/swift/check.sh (not compiled: no Swift toolchain)"
sw_pass=0; sw_fail=0
if bash bindings/swift/check.sh; then sw_pass=1; else sw_fail=1; fi

step "summary"
echo "go: $go_pass passed, $go_fail failed; python: $py_pass passed, $py_fail failed; swift checks: $sw_pass passed, $sw_fail failed"
echo "$((go_pass + py_pass + sw_pass)) passed, $((go_fail + py_fail + sw_fail)) failed"
test $((go_fail + py_fail + sw_fail)) -eq 0
