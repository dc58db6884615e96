#!/usr/bin/env bash
# Checks of the Swift package that need no Swift toolchain (there is none on the CI machines:
# the Swift sources are NOT compiled here; see README.md). Run from anywhere:
#
#   bash bindings/swift/check.sh
#
# 1. The CLlamette module map imports cleanly with clang (-fmodules, Objective-C `@import` and
#    C `#pragma clang module import`, -Werror), and three negative controls fail as they must
#    (no module map, a shim pointing at a missing header, a broken header): the check really
#    resolves the module through its map.
# 2. The module links against libllamette (target/release, or LLAMETTE_LIB_DIR) and a small
#    program through it renders the CodeLlama-70B dialog to Meta's reference ids.
# 3. scripts/check_names.py: no C parameter name, field or enumerator is a Swift keyword, no
#    two enumerators import to one Swift name, and every llamette_* function the Swift sources
#    call exists with the argument count used; its own negative controls must fail.
#
# Needs clang (installed with apt-get when missing and running as root) and python3. Exits
# non-zero on any problem.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

step() { printf '\n==> swift: %s\n' "$*"; }
fail() { printf 'swift check FAILED: %s\n' "$*" >&2; exit 1; }

CLANG="${CLANG:-clang}"
if ! command -v "$CLANG" > /dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    step "installing clang (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang > /dev/null
  else
    fail "clang is not installed: apt-get install clang (or set CLANG=/path/to/clang)"
  fi
fi
command -v python3 > /dev/null || fail "python3 is needed"
echo "using $("$CLANG" --version | head -n 1)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
modmap="bindings/swift/Sources/CLlamette/module.modulemap"
src="bindings/swift/scripts/import_check.m"
# -fmodules-cache-path: a fresh cache, so that a stale module from an earlier run can't hide a
# broken header. -Werror with -Wall -Wextra: types must match exactly.
mflags=(-fmodules -fmodules-cache-path="$tmp/cache" -Wall -Wextra -Werror)

step "1. the CLlamette module map imports cleanly"
"$CLANG" "${mflags[@]}" -fmodule-map-file="$modmap" -fsyntax-only -x objective-c "$src"
echo "ok: Objective-C @import CLlamette (-fsyntax-only)"
"$CLANG" "${mflags[@]}" -fmodule-map-file="$modmap" -fsyntax-only -std=c11 -x c "$src"
echo "ok: C #pragma clang module import CLlamette (-fsyntax-only)"

# Negative controls: each must fail, or the check above proves nothing.
expect_fail() { # what, then the command
  local what="$1"; shift
  if "$@" > "$tmp/neg.log" 2>&1; then
    cat "$tmp/neg.log"; fail "negative control passed but must fail: $what"
  fi
  echo "ok: fails as it must: $what ($(grep -m1 -oE '(error|PROBLEM): .*' "$tmp/neg.log" | cut -c1-110))"
}
expect_fail "no module map given" \
  "$CLANG" "${mflags[@]}" -fmodules-cache-path="$tmp/cache-none" -fsyntax-only -x objective-c "$src"
# A copy of the module whose shim includes a header that does not exist.
mkdir -p "$tmp/missing/bindings/swift/Sources/CLlamette"
cp "$modmap" "$tmp/missing/bindings/swift/Sources/CLlamette/"
sed 's#include/llamette.h#include/llamette_missing.h#' bindings/swift/Sources/CLlamette/CLlamette.h \
  > "$tmp/missing/bindings/swift/Sources/CLlamette/CLlamette.h"
expect_fail "the shim's header path is wrong" \
  "$CLANG" "${mflags[@]}" -fmodules-cache-path="$tmp/cache-missing" \
  -fmodule-map-file="$tmp/missing/bindings/swift/Sources/CLlamette/module.modulemap" -fsyntax-only -x objective-c "$src"
# The same layout with a broken copy of the header (a declaration cut short).
mkdir -p "$tmp/broken/include" "$tmp/broken/bindings/swift/Sources/CLlamette"
cp bindings/swift/Sources/CLlamette/* "$tmp/broken/bindings/swift/Sources/CLlamette/"
sed 's/^uint32_t llamette_version(void);/uint32_t llamette_version(void/' include/llamette.h > "$tmp/broken/include/llamette.h"
cmp -s include/llamette.h "$tmp/broken/include/llamette.h" && fail "could not break the header copy"
expect_fail "the header is broken" \
  "$CLANG" "${mflags[@]}" -fmodules-cache-path="$tmp/cache-broken" \
  -fmodule-map-file="$tmp/broken/bindings/swift/Sources/CLlamette/module.modulemap" -fsyntax-only -x objective-c "$src"

step "2. a program using the module links against libllamette and runs"
libdir="${LLAMETTE_LIB_DIR:-$root/${CARGO_TARGET_DIR:-target}/release}"
[ -f "$libdir/libllamette.so" ] || [ -f "$libdir/libllamette.dylib" ] \
  || fail "no libllamette in $libdir: build it with 'cargo build --release --features ffi' (or set LLAMETTE_LIB_DIR)"
# ELF has no autolinking: module.modulemap's `link "llamette"` is what SwiftPM passes on; here
# -lllamette is given by hand.
"$CLANG" "${mflags[@]}" -fmodule-map-file="$modmap" -std=c11 -x c "$src" \
  -L"$libdir" -lllamette -Wl,-rpath,"$libdir" -o "$tmp/import_check"
"$tmp/import_check" tests/fixtures/vocab/codellama-70b-instruct-vocab.gguf

step "3. the header's names map to Swift; the Swift sources call the header right"
python3 bindings/swift/scripts/check_names.py --clang "$CLANG"

# Negative controls of the name check, on a copy of the tree: a Swift keyword as a field and
# as a parameter name, and a Swift call with one argument too many, must each be caught.
neg_count=0
neg_names() { # what, sed expression on the header, sed expression on Sources/Llamette/Context.swift
  neg_count=$((neg_count + 1)); local what="$1" dir="$tmp/names-$neg_count"
  mkdir -p "$dir/include" "$dir/bindings/swift"
  sed "$2" include/llamette.h > "$dir/include/llamette.h"
  cp -r bindings/swift/Sources bindings/swift/scripts "$dir/bindings/swift/"
  sed "$3" bindings/swift/Sources/Llamette/Context.swift > "$dir/bindings/swift/Sources/Llamette/Context.swift"
  expect_fail "$what" python3 "$dir/bindings/swift/scripts/check_names.py" --clang "$CLANG"
}
neg_names "a struct field named 'protocol'" 's/^  uint32_t n_embd;/  uint32_t protocol;/' ''
neg_names "a parameter named 'in'" 's/^enum LlametteStatus llamette_eval(struct LlametteContext \*c, const uint32_t \*tokens, size_t n);/enum LlametteStatus llamette_eval(struct LlametteContext *c, const uint32_t *in, size_t n);/' ''
neg_names "two enumerators that import to one Swift case (f16)" 's/LLAMETTE_KV_F32 = 1/LLAMETTE_KV_F_16 = 1/' ''
neg_names "a Swift call with an extra argument" '' 's/llamette_context_truncate(handle, UInt32(clamping: count))/llamette_context_truncate(handle, UInt32(clamping: count), 0)/'

printf '\nswift checks: ok (the Swift sources themselves are not compiled: no Swift toolchain here)\n'
