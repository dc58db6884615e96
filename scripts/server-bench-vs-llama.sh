#!/usr/bin/env bash
# Aggregate generation tokens/s of llamette-server against llama.cpp's llama-server (built from
# the same sources as the peer by scripts/build-llama-server.sh) under the same load: for each
# number of concurrent clients, server/scripts/load.py sends 2 x clients chat requests (at least
# 4), each generating exactly --max-tokens tokens (ignore_eos, greedy), and reports completion
# tokens / wall time. The servers take turns, round after round; the medians are printed with
# their ratio. Both have -np 8 slots of -c / 8 positions, -t threads, no flash attention.
#
#   scripts/server-bench-vs-llama.sh [-t 2] [--max-tokens 64] [--rounds 2] [--clients 1,2,4,8] [MODEL]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=2
max_tokens=64
rounds=2
clients=1,2,4,8
model=$root/models/smollm2-135m-instruct.q4_1.gguf
while [[ $# -gt 0 ]]; do
  case $1 in
    -t) threads=$2; shift 2 ;;
    --max-tokens) max_tokens=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    -*) echo "unknown flag $1" >&2; exit 2 ;;
    *) model=$1; shift ;;
  esac
done
peer=${LLAMA_SERVER:-$("$root/scripts/build-llama-server.sh" | tail -n 1)}
(cd "$root" && cargo build --release -q -p llamette-server)
ours=$root/target/release/llamette-server
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pa=$(free_port); pb=$(free_port)
"$ours" -m "$model" --port "$pa" -c 8192 -np 8 -t "$threads" --log-disable > "$work/ours.log" 2>&1 &
pids+=($!)
"$peer" -m "$model" --port "$pb" -c 8192 -np 8 -t "$threads" -tb "$threads" -fa off --no-webui > "$work/peer.log" 2>&1 &
pids+=($!)
for port in "$pa" "$pb"; do
  for _ in $(seq 1 240); do curl -sf "http://127.0.0.1:$port/health" > /dev/null && break; sleep 0.5; done
  curl -sf "http://127.0.0.1:$port/health" > /dev/null || { cat "$work"/*.log; exit 1; }
done
load() { # port clients -> tokens/s
  local n=$(( $2 * 2 < 4 ? 4 : $2 * 2 ))
  python3 "$root/server/scripts/load.py" --url "http://127.0.0.1:$1" --clients "$2" --requests "$n" \
    --max-tokens "$max_tokens" --ignore-eos --temperature 0 --chat \
    --prompt "Write a story about a lighthouse keeper." --json "$work/r.json" > /dev/null 2>&1
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["tokens_per_s"])' "$work/r.json"
}
# Warm both up (page cache, first allocations).
load "$pa" 1 > /dev/null; load "$pb" 1 > /dev/null
IFS=, read -ra cs <<< "$clients"
for c in "${cs[@]}"; do : > "$work/ours.$c"; : > "$work/peer.$c"; done
for r in $(seq 1 "$rounds"); do
  for c in "${cs[@]}"; do
    load "$pa" "$c" >> "$work/ours.$c"
    load "$pb" "$c" >> "$work/peer.$c"
  done
done
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "model $(basename "$model"), $threads threads, $max_tokens tokens per request, medians of $rounds rounds"
echo "| clients | llamette-server tokens/s | llama-server tokens/s | ratio |"
echo "|---|---|---|---|"
for c in "${cs[@]}"; do
  a=$(median "$work/ours.$c"); b=$(median "$work/peer.$c")
  printf '| %s | %.1f | %.1f | %.2f |\n' "$c" "$a" "$b" "$(python3 -c "print($a / $b)")"
done
