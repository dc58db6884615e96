#!/usr/bin/env bash
# Compare llamette with llama.cpp side by side on the same GGUF models and thread count.
#
# What it does: builds llamette's bench example once (`cargo build --release --features FEATURES
# --example bench`), then for each model runs, alternately for --rounds rounds, llamette's
# `target/release/examples/bench` and llama.cpp's `scripts/peer_bench.py` (llama-cpp-python),
# each with `--reps 1` (one warm-up run plus one timed run per process). Both print one JSON line
# {"engine","model","threads","pp","tg"} in tokens/s: pp = one batch of P prompt tokens,
# tg = N tokens decoded one at a time after it. It prints one line per round, then per model a
# Markdown table row with the median pp and tg of each engine and the median of the per-round
# ratios llamette / llama.cpp (> 1 means llamette is faster). Alternating the engines round by
# round spreads slow drifts (thermal, other load) over both.
#
# Needs: cargo, python3 with numpy and llama_cpp (scripts/install-peer.sh installs the
# reference build, about 15 minutes). The peer's driver is scripts/peer_bench.py (override with
# PEER_BENCH=/path/to/driver.py: same flags, same JSON line). Nothing outside the repository.
# Respects CARGO_TARGET_DIR (default ./target). Benchmark models from a clone:
# scripts/make-bench-models.sh (models/bench/bench-1b.{f16,q4_k_m,q4_0,q8_0}.gguf).
#
# Usage: scripts/bench-vs-llama.sh [-t THREADS] [-p 128] [-n 64] [--rounds 3] [--features avx2]
#                                  [--resident] MODEL.gguf [MODEL2.gguf ...]
#
# --resident: llamette loads the model with Model::load_resident (copied into memory backed by
# transparent huge pages) instead of mapping the file; llama.cpp maps it either way (its
# default, as peer_bench.py runs it). The table's model column then ends in "(resident)".
#
# Time: after the build, each round runs each engine twice (warm-up + timed) over P + N tokens,
# plus model loading; for a ~100M-parameter model at the defaults that is some seconds per
# round, for 7B models a minute or more per round. Rounds * models * 2 processes in all.
set -euo pipefail

usage() {
    sed -n 's/^# \{0,1\}//; /^Usage:/,/^$/p' "$0" | sed '/^$/d'
}

root=$(cd "$(dirname "$0")/.." && pwd)
threads=2 p=128 n=64 rounds=3 features=avx2
resident=()
models=()
while [ $# -gt 0 ]; do
    case "$1" in
        -t|--threads) threads=${2:?-t needs a number}; shift 2 ;;
        -p) p=${2:?-p needs a number}; shift 2 ;;
        -n) n=${2:?-n needs a number}; shift 2 ;;
        --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
        --features) features=${2:?--features needs a list}; shift 2 ;;
        --resident) resident=(--resident); shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "bench-vs-llama: unknown flag $1" >&2; usage >&2; exit 1 ;;
        *) models+=("$1"); shift ;;
    esac
done
for v in "$threads" "$p" "$n" "$rounds"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "bench-vs-llama: not a number: $v" >&2; exit 1; }
done
[ "$rounds" -ge 1 ] || { echo "bench-vs-llama: --rounds must be at least 1" >&2; exit 1; }
[ ${#models[@]} -gt 0 ] || { usage >&2; exit 1; }

for m in "${models[@]}"; do
    [ -f "$m" ] || { echo "bench-vs-llama: model file not found: $m" >&2; exit 1; }
done
peer=${PEER_BENCH:-$root/scripts/peer_bench.py}
[ -f "$peer" ] || { echo "bench-vs-llama: peer_bench.py not found at $peer (set PEER_BENCH=...)" >&2; exit 1; }
if ! python3 -c 'import numpy, llama_cpp' 2>/dev/null; then
    echo "bench-vs-llama: python3 cannot import llama_cpp (or numpy); run scripts/install-peer.sh" >&2
    exit 1
fi

echo "building: cargo build --release --features $features --example bench" >&2
(cd "$root" && cargo build --release --features "$features" --example bench) >&2
ours="${CARGO_TARGET_DIR:-$root/target}/release/examples/bench"
[ -x "$ours" ] || { echo "bench-vs-llama: $ours was not built" >&2; exit 1; }

# The last stdout line of a command, checked to be the JSON result.
last_json() {
    local out
    out=$("$@" | tail -n 1) || { echo "bench-vs-llama: failed: $*" >&2; return 1; }
    [[ "$out" == "{"* ]] || { echo "bench-vs-llama: no JSON result from: $*" >&2; return 1; }
    printf '%s\n' "$out"
}

# llama.cpp's logs go to stderr; drop them.
peer_run() { python3 "$peer" "$@" 2>/dev/null; }

rows=()
for m in "${models[@]}"; do
    results=$(mktemp)
    for ((r = 1; r <= rounds; r++)); do
        a=$(last_json "$ours" "$m" -t "$threads" -p "$p" -n "$n" --reps 1 "${resident[@]}")
        b=$(last_json peer_run "$m" -t "$threads" -p "$p" -n "$n" --reps 1)
        printf '%s\n%s\n' "$a" "$b" >>"$results"
        python3 - "$r" "$a" "$b" <<'EOF'
import json, sys
r, a, b = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
def ratio(x, y): return x / y if y else float('nan')
print(f"round {r} {a['model']} t={a['threads']}: pp {a['pp']:.2f} vs {b['pp']:.2f} "
      f"({ratio(a['pp'], b['pp']):.3f}x), tg {a['tg']:.2f} vs {b['tg']:.2f} "
      f"({ratio(a['tg'], b['tg']):.3f}x) tok/s llamette vs llama.cpp")
EOF
    done
    rows+=("$(python3 - "$results" "${#resident[@]}" <<'EOF'
import json, statistics, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ours = [l for l in lines if l['engine'] == 'llamette']
peer = [l for l in lines if l['engine'] != 'llamette']
med = statistics.median
def ratio(x, y): return x / y if y else float('nan')
def col(k):
    return (med(o[k] for o in ours), med(p[k] for p in peer),
            med(ratio(o[k], p[k]) for o, p in zip(ours, peer)))
pp, tg = col('pp'), col('tg')
name = ours[0]['model'] + (' (resident)' if sys.argv[2] != '0' else '')
print(f"| {name} | {ours[0]['threads']} | {pp[0]:.2f} | {pp[1]:.2f} | {pp[2]:.3f} "
      f"| {tg[0]:.2f} | {tg[1]:.2f} | {tg[2]:.3f} |")
EOF
)")
    rm -f "$results"
done

echo
echo "pp = $p-token prompt batch, tg = $n tokens one at a time, tokens/s, medians of $rounds round(s); ratio = llamette / llama.cpp"
echo
echo "| model | threads | pp llamette | pp llama.cpp | pp ratio | tg llamette | tg llama.cpp | tg ratio |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
