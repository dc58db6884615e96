#!/usr/bin/env bash
# Builds the real-shape fixture models (issue 14) into models/shape/ and checks every file's
# SHA-256 against scripts/shape/SHA256SUMS: seeded F16 weights written by the make_shape_model
# example, quantized by llama.cpp's own quantizer (llama-cpp-python 0.3.36 = llama.cpp 0c1e570,
# installed by scripts/install-peer.sh when missing). Files already present with the right
# SHA-256 are kept; a cache directory (LLAMETTE_SHAPE_CACHE, default ~/.cache/llamette/shape)
# keeps them across clones on one machine (hard links where it can). Each verified file gets a
# stamp, FILE.verified ("sha256 size mtime"), which tests/shape_golden.rs checks instead of
# hashing gigabytes again.
#
#   scripts/shape/make.sh            # every model in SHA256SUMS
#   scripts/shape/make.sh --update   # rebuild and rewrite SHA256SUMS (after changing the recipe)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=models/shape
cache=${LLAMETTE_SHAPE_CACHE:-$HOME/.cache/llamette/shape}
sums=scripts/shape/SHA256SUMS
update=${1:-}
mkdir -p "$out" "$cache"

# name: shape layers type (F16 is the generated file; the rest are quantized from it)
MODELS=(
  "shape-70b-1l f16" "shape-70b-1l q2_k" "shape-70b-1l q3_k_s" "shape-70b-1l q3_k_m" "shape-70b-1l q3_k_l"
  "shape-70b-1l q4_0" "shape-70b-1l q4_k_s" "shape-70b-1l q4_k_m" "shape-70b-1l q5_0" "shape-70b-1l q5_k_s"
  "shape-70b-1l q5_k_m" "shape-70b-1l q6_k" "shape-70b-1l q8_0"
  "shape-13b-1l f16" "shape-13b-1l q2_k" "shape-13b-1l q4_k_m" "shape-13b-1l q6_k" "shape-13b-1l q8_0"
)

want_sum() { awk -v f="$1" '$2 == f { print $1 }' "$sums" 2>/dev/null; }
stamp() { echo "$1 $(stat -c '%s %Y' "$2")"; }
ok() { # file is present with the recorded SHA-256 (a current stamp, or hashed now)
  local f=$1 w
  w=$(want_sum "$(basename "$f")")
  [[ -n $w && -f $f ]] || return 1
  [[ -f $f.verified && $(cat "$f.verified") == "$(stamp "$w" "$f")" ]] && return 0
  [[ $(sha256sum "$f" | cut -d' ' -f1) == "$w" ]] || return 1
  stamp "$w" "$f" > "$f.verified"
}
keep() { # file, destination: a hard link (the stamp stays true) or a copy
  ln -f "$1" "$2" 2>/dev/null || cp -p "$1" "$2"
  [[ -f $1.verified ]] && cp "$1.verified" "$2.verified"
  return 0
}

gen=""
need_peer=""
for m in "${MODELS[@]}"; do
  read -r base ty <<< "$m"
  f="$out/$base.$ty.gguf"
  if [[ $update != --update ]]; then
    ok "$f" && continue
    if ok "$cache/$base.$ty.gguf"; then keep "$cache/$base.$ty.gguf" "$f"; ok "$f"; continue; fi
  fi
  [[ $ty != f16 ]] && need_peer=1
  gen=1
done
if [[ -z $gen ]]; then
  echo "shape models: all present and verified in $out"
  exit 0
fi
[[ -n $need_peer ]] && bash scripts/install-peer.sh
cargo build --release -q --example make_shape_model
bin=${CARGO_TARGET_DIR:-target}/release/examples/make_shape_model
[[ $update == --update ]] && : > "$sums.new"
for m in "${MODELS[@]}"; do
  read -r base ty <<< "$m"
  f="$out/$base.$ty.gguf"
  src="$out/$base.f16.gguf"
  if [[ $update != --update ]] && ok "$f"; then continue; fi
  start=$(date +%s)
  rm -f "$f" "$f.verified" # it may be a hard link into the cache: write a new file
  if [[ $ty == f16 ]]; then
    shape=${base#shape-}; layers=${shape#*-}; shape=${shape%%-*}
    "$bin" "$shape" "${layers%l}" "$f" > /dev/null
  else
    ok "$src" || [[ $update == --update ]] || { echo "$src does not match $sums" >&2; exit 1; }
    python3 scripts/shape/quantize.py "$src" "$f" "$ty" > "$out/$base.$ty.log" 2>&1 \
      || { tail -20 "$out/$base.$ty.log" >&2; exit 1; }
  fi
  echo "$base.$ty.gguf: $(( $(date +%s) - start )) s"
  if [[ $update == --update ]]; then
    (cd "$out" && sha256sum "$base.$ty.gguf") >> "$sums.new"
  elif ! ok "$f"; then
    echo "$f: SHA-256 $(sha256sum "$f" | cut -d' ' -f1) is not the one in $sums" >&2
    echo "(a different llama.cpp or generator: rebuild on purpose with --update and remake the goldens)" >&2
    exit 1
  fi
  keep "$f" "$cache/$base.$ty.gguf"
done
if [[ $update == --update ]]; then
  mv "$sums.new" "$sums"
  for m in "${MODELS[@]}"; do read -r base ty <<< "$m"; ok "$out/$base.$ty.gguf"; ok "$cache/$base.$ty.gguf"; done
fi
echo "shape models: built and verified in $out"
