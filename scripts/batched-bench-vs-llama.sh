#!/usr/bin/env bash
# batched-bench-vs-llama.sh: aggregate throughput of 1, 2, 4, 8 parallel sequences, llamette's
# `examples/batched_bench.rs` next to llama.cpp's `llama-batched-bench` (built by
# scripts/build-batched-bench.sh from the reference llama.cpp sources), alternately round
# after round on the same model and threads; prints each engine's median S_PP and S_TG per
# number of sequences and the median ratio llamette / llama.cpp (> 1: llamette is faster).
#
# Both use a unified KV cache of -c cells (-kvu), steps of 512 tokens, no flash attention and
# random tokens; llama.cpp maps the model file with its defaults otherwise (its weight
# repacking on, as scripts/bench-vs-llama.sh's peer runs).
#
# Needs: cargo, python3, llama-batched-bench (LLAMA_BATCHED_BENCH=path, else built once by
# scripts/build-batched-bench.sh, ~10 minutes). Time: a minute per round on the 1.1B bench
# model with the defaults.
# Usage: scripts/batched-bench-vs-llama.sh [-t 2] [-npp 128] [-ntg 32] [-npl 1,2,4,8] [--rounds 3] MODEL.gguf
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=2 npp=128 ntg=32 npl=1,2,4,8 rounds=3 model=
while [ $# -gt 0 ]; do
    case "$1" in
        -t) threads=$2; shift 2 ;;
        -npp) npp=$2; shift 2 ;;
        -ntg) ntg=$2; shift 2 ;;
        -npl) npl=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "batched-bench-vs-llama: unknown flag $1" >&2; exit 2 ;;
        *) model=$1; shift ;;
    esac
done
[ -f "$model" ] || { echo "batched-bench-vs-llama: model file not found: ${model:-(none)}" >&2; exit 2; }
peer=${LLAMA_BATCHED_BENCH:-$("$root/scripts/build-batched-bench.sh" | tail -n 1)}
[ -x "$peer" ] || { echo "batched-bench-vs-llama: no llama-batched-bench at $peer" >&2; exit 1; }
(cd "$root" && cargo build --release -q --example batched_bench)
ours="${CARGO_TARGET_DIR:-$root/target}/release/examples/batched_bench"
# Enough cells for the largest case.
maxpl=$(tr ',' '\n' <<<"$npl" | sort -n | tail -1)
ctx=$(( maxpl * (npp + ntg) ))
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for r in $(seq 1 "$rounds"); do
    echo "round $r/$rounds" >&2
    "$ours" -m "$model" -t "$threads" -c "$ctx" -npp "$npp" -ntg "$ntg" -npl "$npl" --jsonl >> "$log"
    "$peer" -m "$model" -t "$threads" -tb "$threads" -c "$ctx" -b 2048 -ub 512 -fa off -kvu \
        -npp "$npp" -ntg "$ntg" -npl "$npl" --output-format jsonl 2>/dev/null \
        | grep '^{' | sed 's/^{/{"engine":"llama.cpp",/' >> "$log"
done
python3 - "$log" "$model" "$threads" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    by.setdefault((r["pl"], r["engine"]), []).append(r)
print(f"\n{sys.argv[2]}, {sys.argv[3]} threads, PP {rows[0]['pp']}, TG {rows[0]['tg']}, medians of {len(by[next(iter(by))])} rounds")
print("| B | S_PP llamette | S_PP llama.cpp | ratio | S_TG llamette | S_TG llama.cpp | ratio |")
print("|---|---|---|---|---|---|---|")
for pl in sorted({k[0] for k in by}):
    ours, peer = by.get((pl, "llamette"), []), by.get((pl, "llama.cpp"), [])
    if not ours or not peer:
        continue
    med = lambda rs, k: statistics.median(r[k] for r in rs)
    rpp = statistics.median(a["speed_pp"] / b["speed_pp"] for a, b in zip(ours, peer))
    rtg = statistics.median(a["speed_tg"] / b["speed_tg"] for a, b in zip(ours, peer))
    print(f"| {pl} | {med(ours,'speed_pp'):.1f} | {med(peer,'speed_pp'):.1f} | {rpp:.2f} | {med(ours,'speed_tg'):.1f} | {med(peer,'speed_tg'):.1f} | {rtg:.2f} |")
PY
