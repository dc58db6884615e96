#!/usr/bin/env bash
# The C ABI's tests: builds the library (cargo build --release --features ffi), compiles every
# tests/c/test_*.c against the staticlib and against the cdylib, and runs each under valgrind
# memcheck (any error or definite/indirect leak fails); then the chat example (both builds)
# end to end, and `make install` + pkg-config into a temporary prefix (programs built with
# `cc $(pkg-config --cflags --libs llamette) ...` must run with LD_LIBRARY_PATH unset).
#
#   bash tests/c/run.sh        (from anywhere; honours CARGO_TARGET_DIR, CC)
#
# Needs a C compiler, make, pkg-config and valgrind (installed with apt-get when missing and
# this runs as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export CARGO_TERM_COLOR=never
CC=${CC:-cc}
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$root/$target ;; esac
export CARGO_TARGET_DIR=$target
lib=$target/release

step() { printf '\n==> %s\n' "$*"; }
# Whether ldd lists TEXT for a program (no `grep -q` in a pipe: with pipefail, ldd could die of
# SIGPIPE when grep stops reading early).
ldd_has() { ldd "$1" | grep -F -- "$2" > /dev/null; }
t_start=$(date +%s)

step "tools"
if ! command -v valgrind > /dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind > /dev/null
  else
    echo "valgrind is missing (apt-get install valgrind)" >&2
    exit 1
  fi
fi
for tool in "$CC" make pkg-config valgrind; do
  command -v "$tool" > /dev/null || { echo "$tool is missing" >&2; exit 1; }
done
valgrind --version

step "library: cargo build --release --features ffi"
cargo build --release --features ffi
test -f include/llamette.h
test -f "$lib/libllamette.a"
test -f "$lib/libllamette.so"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CFLAGS=(-std=c11 -O1 -g -Wall -Wextra -Wpedantic -Werror -Iinclude -Iexamples/c)
NATIVE=(-lpthread -ldl -lm)
# tests/c/valgrind.supp: false positives in dependencies, each explained there.
VALGRIND=(valgrind -q --error-exitcode=99 --leak-check=full
          --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
          --suppressions=tests/c/valgrind.supp)

step "compile the C tests (staticlib and cdylib)"
names=()
for src in tests/c/test_*.c; do
  name=$(basename "$src" .c)
  "$CC" "${CFLAGS[@]}" "$src" "$lib/libllamette.a" "${NATIVE[@]}" -o "$work/$name-static"
  "$CC" "${CFLAGS[@]}" "$src" -L"$lib" -lllamette -Wl,-rpath,"$lib" "${NATIVE[@]}" \
    -o "$work/$name-shared"
  names+=("$name")
done
# The static builds carry the library; the shared ones load the cdylib just built.
if ldd_has "$work/${names[0]}-static" libllamette; then
  echo "${names[0]}-static is linked to a shared libllamette" >&2
  exit 1
fi
ldd_has "$work/${names[0]}-shared" "libllamette.so => $lib/libllamette.so"

step "run them under valgrind memcheck (the static and the shared builds side by side)"
# One lane per build: valgrind runs a program's threads one at a time, so two lanes use the
# two cores. C_TEST_LANES=1 runs everything in one lane.
lane() {
  local variant=$1 name t0 rc
  for name in "${names[@]}"; do
    t0=$(date +%s%N)
    if "${VALGRIND[@]}" "$work/$name-$variant" tests/fixtures > "$work/$name-$variant.log" 2>&1; then
      printf '    %-28s %6d ms\n' "$name-$variant" $(( ($(date +%s%N) - t0) / 1000000 ))
    else
      rc=$?
      cat "$work/$name-$variant.log" >&2
      echo "FAILED: $name-$variant (exit $rc; 99 = valgrind found errors or leaks)" >&2
      return 1
    fi
  done
}
failed=0
if [ "${C_TEST_LANES:-2}" = 1 ]; then
  lane static || failed=1
  lane shared || failed=1
else
  lane static > "$work/lane-static.txt" & p1=$!
  lane shared > "$work/lane-shared.txt" & p2=$!
  wait "$p1" || failed=1
  wait "$p2" || failed=1
  cat "$work/lane-static.txt" "$work/lane-shared.txt"
fi
[ "$failed" = 0 ] || exit 1
# What the tests print besides "ok" (notes about gaps), once.
cat "$work"/*-static.log | grep -v ': ok (' || true

step "the chat example (make examples), under valgrind"
make -s examples CC="$CC" CFLAGS="-std=c11 -O2 -g -Wall -Wextra -Wpedantic -Werror"
ldd_has examples/c/chat-shared "libllamette.so => $lib/libllamette.so"
if ldd_has examples/c/chat libllamette; then echo "chat is not static" >&2; exit 1; fi
model=tests/fixtures/models/tiny-codellama.q8_0.gguf
for exe in chat chat-shared; do
  # Two turns on the tiny model (no chat template of its own: --format), greedy, 8 tokens each,
  # on a 2-thread pool of the example's.
  t0=$(date +%s%N)
  printf 'Hello there\nAnd a second question\n' |
    "${VALGRIND[@]}" examples/c/$exe "$model" -t 2 -n 8 --temp 0 -c 256 --format codellama-70b \
      -v > "$work/$exe.out" 2> "$work/$exe.err"
  test "$(wc -l < "$work/$exe.out")" -eq 2
  # Turn 1 starts from an empty cache; turn 2 reuses the shared prefix of the conversation.
  cached=($(sed -n 's/.*tokens, \([0-9]*\) from the cache.*/\1/p' "$work/$exe.err"))
  test "${#cached[@]}" -eq 2 && test "${cached[0]}" -eq 0 && test "${cached[1]}" -gt 0
  printf '    %-28s %6d ms\n' "$exe" $(( ($(date +%s%N) - t0) / 1000000 ))
done
cat "$work/chat.err"
cmp "$work/chat.out" "$work/chat-shared.out"
# Errors: llamette's message on stderr, exit 1; bad usage: exit 2.
set +e
examples/c/chat /nonexistent/model.gguf < /dev/null 2> "$work/err"; rc=$?
set -e
test "$rc" -eq 1
grep -q "/nonexistent/model.gguf" "$work/err"
cat "$work/err"
set +e
examples/c/chat "$model" < /dev/null 2> "$work/err"; rc=$?   # no template, no --format
set -e
test "$rc" -eq 1
cat "$work/err"
set +e
examples/c/chat 2> /dev/null; rc=$?
set -e
test "$rc" -eq 2

step "make install + pkg-config"
prefix=$work/prefix
make -s install PREFIX="$prefix"
test -f "$prefix/include/llamette.h" && test -f "$prefix/lib/libllamette.a" &&
  test -f "$prefix/lib/libllamette.so" && test -f "$prefix/lib/pkgconfig/llamette.pc"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
pkg-config --modversion llamette
# The command line as users type it (flags first), and the conventional order (sources
# first); both link the cdylib, and both run without LD_LIBRARY_PATH: the .pc's Libs carry
# -rpath ${libdir}, so the programs find the installed libllamette.so themselves.
smoke_want="llamette $(pkg-config --modversion llamette): n_vocab 1024, n_embd 256, n_layer 2"
pkg-config --libs llamette | grep -F -- "-Wl,-rpath,$prefix/lib" > /dev/null ||
  { echo "llamette.pc's Libs lack -Wl,-rpath,$prefix/lib: $(pkg-config --libs llamette)" >&2; exit 1; }
# Runs a smoke program with LD_LIBRARY_PATH unset; it must exit 0 and print smoke_want, and
# the loader must have taken libllamette.so from the prefix.
smoke_run() {
  local exe=$1 out rc=0
  out=$(env -u LD_LIBRARY_PATH "$exe" "$model") || rc=$?
  [ "$rc" = 0 ] && [ "$out" = "$smoke_want" ] ||
    { echo "$exe (no LD_LIBRARY_PATH): exit $rc, printed \"$out\", wanted \"$smoke_want\"" >&2; exit 1; }
  env -u LD_LIBRARY_PATH ldd "$exe" | grep -F -- "libllamette.so => $prefix/lib/libllamette.so" \
    > /dev/null || { echo "$exe does not load $prefix/lib/libllamette.so" >&2; exit 1; }
  echo "    $(basename "$exe") without LD_LIBRARY_PATH: $out"
}
# shellcheck disable=SC2046
"$CC" $(pkg-config --cflags --libs llamette) tests/c/pkgconfig_smoke.c -o "$work/smoke"
smoke_run "$work/smoke"
# shellcheck disable=SC2046
"$CC" tests/c/pkgconfig_smoke.c $(pkg-config --cflags --libs llamette) -o "$work/smoke2"
smoke_run "$work/smoke2"
# Fully static linking of libllamette (pkg-config --static adds Libs.private).
# shellcheck disable=SC2046
"$CC" tests/c/pkgconfig_smoke.c $(pkg-config --cflags llamette) "$prefix/lib/libllamette.a" \
  $(pkg-config --static --libs-only-l llamette | sed 's/-lllamette//') -o "$work/smoke-static"
"$work/smoke-static" "$model"

step "summary"
echo "C tests: ${#names[@]} programs x 2 builds passed under valgrind; chat example and install ok ($(( $(date +%s) - t_start )) s)"
