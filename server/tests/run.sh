#!/usr/bin/env bash
# The server's black-box tests, real network on 127.0.0.1, the real SmolLM2 model:
#  1. server/tests/clients/run.sh: the `openai` package, LangChain's ChatOpenAI, curl and raw
#     HTTP against a 4-slot server and an --api-key one (chat and completions streamed and not,
#     embeddings, 16 concurrent streams, a disconnect, auth, the bad-input list, every
#     endpoint), then both stopped with SIGTERM, each must exit 0;
#  2. a bounded load run (server/scripts/load.py: 200 streamed chat requests from 16 clients on
#     4 slots, a 300 s cap): zero errors, p50/p99 latency and aggregate tokens/s printed;
#  3. server/tests/browser/run.sh: the chat page in headless Chromium (the answer streams in,
#     Stop, New chat), with a screenshot whose path is printed (a CI artifact).
#
#   bash server/tests/run.sh [SERVER_BIN] [MODEL]
#   (defaults: target/release/llamette-server, models/smollm2-135m-instruct.q4_1.gguf)
#
# The last line is "server tests: N passed, M failed".
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${1:-$root/target/release/llamette-server}
model=${2:-$root/models/smollm2-135m-instruct.q4_1.gguf}
[[ -x $bin ]] || { echo "server/tests/run.sh: $bin is missing: cargo build --release -p llamette-server" >&2; exit 2; }
[[ -f $model ]] || { echo "server/tests/run.sh: $model is missing: scripts/fetch-smollm2.sh" >&2; exit 2; }

log=$(mktemp)
work=$(mktemp -d)
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  rm -f "$log"
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
status=0
bash "$root/server/tests/clients/run.sh" "$bin" "$model" 2>&1 | tee "$log" || status=1
# pytest's summary: "N passed[, M failed] in ...".
read -r p f < <(awk '/ (passed|failed)/ && / in [0-9.]+s/ {
    for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p = $i; if ($(i+1) ~ /^failed/) f = $i }
  } END { print p + 0, f + 0 }' "$log")
passed=$((passed + p))
failed=$((failed + f))
if [[ $status -ne 0 && $f -eq 0 ]]; then failed=$((failed + 1)); fi

# The load run and the chat page: a 4-slot server on a free port.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" -m "$model" --host 127.0.0.1 --port "$port" -c 4096 -np 4 -t 2 --log-disable > "$work/page-server.log" 2>&1 &
pid=$!
ok=
for _ in $(seq 1 240); do
  if curl -sf "http://127.0.0.1:$port/health" > /dev/null; then ok=1; break; fi
  sleep 0.5
done
if [[ -z $ok ]]; then
  echo "server/tests/run.sh: the page's server did not become healthy:" >&2
  cat "$work/page-server.log" >&2
  exit 1
fi
echo "load run: 200 streamed chat requests from 16 clients on 4 slots"
if python3 "$root/server/scripts/load.py" --url "http://127.0.0.1:$port" --clients 16 --requests 200 \
    --max-tokens 32 --stream --duration-cap 300 --prompt "Write one sentence about the sea." \
    --json "$work/load.json" > /dev/null; then
  passed=$((passed + 1))
else
  echo "server/tests/run.sh: the load run had errors" >&2
  failed=$((failed + 1))
fi
shot=${LLAMETTE_SCREENSHOT:-$root/target/server-tests/chat-page.png}
mkdir -p "$(dirname "$shot")"
bstatus=0
bash "$root/server/tests/browser/run.sh" "http://127.0.0.1:$port/" "$shot" 2>&1 | tee "$log" || bstatus=1
read -r p f < <(awk '/^browser: [0-9]+ passed, [0-9]+ failed/ { p = $2; f = $4 } END { print p + 0, f + 0 }' "$log")
passed=$((passed + p))
failed=$((failed + f))
if [[ $bstatus -ne 0 && $f -eq 0 ]]; then failed=$((failed + 1)); fi
kill -TERM "$pid"
if ! wait "$pid"; then
  echo "server/tests/run.sh: the page's server did not exit 0 after SIGTERM:" >&2
  tail -20 "$work/page-server.log" >&2
  failed=$((failed + 1))
fi
pid=
echo "chat page screenshot (CI artifact): $shot"
echo "server tests: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
