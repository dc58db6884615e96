#!/usr/bin/env bash
# The black-box client suite for llamette-server: real `openai`, LangChain, curl and raw HTTP
# clients against two running servers.
#
#   bash server/tests/clients/run.sh SERVER_BIN MODEL [PYTEST_ARGS...]
#   e.g. bash server/tests/clients/run.sh target/release/llamette-server models/smollm2-135m-instruct.q4_1.gguf
#
# Creates (or reuses) a venv at ${LLAMETTE_CLIENTS_VENV:-$HOME/.cache/llamette/clients-venv} with
# requirements.txt, starts a plain server (-c 4096 -np 4 -t 2) and one with --api-key (and
# --alias) on free loopback ports, waits for /health 200 (120 s at most), runs pytest -q, stops
# both with SIGTERM and fails unless each exits with status 0 within 30 s. Server logs are printed
# on any failure. LLAMETTE_CLIENTS_PYTHON picks the python that makes the venv (default python3).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: bash $0 SERVER_BIN MODEL [PYTEST_ARGS...]" >&2
  exit 2
fi
server_bin=$1
model=$2
shift 2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${LLAMETTE_CLIENTS_VENV:-$HOME/.cache/llamette/clients-venv}
python=${LLAMETTE_CLIENTS_PYTHON:-python3}
health_timeout=${LLAMETTE_HEALTH_TIMEOUT:-120}
suite_timeout=${LLAMETTE_SUITE_TIMEOUT:-1800}

[[ -x $server_bin ]] || { echo "run.sh: server binary $server_bin is missing or not executable" >&2; exit 2; }
[[ -f $model ]] || { echo "run.sh: model $model not found" >&2; exit 2; }
command -v curl >/dev/null || { echo "run.sh: curl is needed (apt-get install curl)" >&2; exit 2; }

# --- venv -------------------------------------------------------------------------------------
req=$here/requirements.txt
stamp=$venv/.llamette-requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "run.sh: installing the clients into $venv"
  mkdir -p "$(dirname "$venv")"
  [[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  echo "$want" >"$stamp"
fi
vpy=$venv/bin/python

# --- servers ----------------------------------------------------------------------------------
logdir=$(mktemp -d "${TMPDIR:-/tmp}/llamette-clients.XXXXXX")
pids=()
names=()
logs=()
failed=1

print_logs() {
  local i
  for i in "${!logs[@]}"; do
    echo "===== ${names[$i]} server log (${logs[$i]}), last 200 lines =====" >&2
    tail -n 200 "${logs[$i]}" >&2 || true
  done
}

cleanup() {
  local rc=$?
  local pid
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [[ $failed -ne 0 ]]; then
    print_logs
    echo "run.sh: logs kept in $logdir" >&2
    [[ $rc -ne 0 ]] || rc=1
  else
    rm -rf "$logdir"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$vpy" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() { # NAME PORT ARGS...
  local name=$1 port=$2
  shift 2
  local log=$logdir/$name.log
  echo "run.sh: starting $name: $server_bin -m $model --host 127.0.0.1 --port $port $*" >&2
  "$server_bin" -m "$model" --host 127.0.0.1 --port "$port" "$@" >"$log" 2>&1 &
  pids+=("$!")
  names+=("$name")
  logs+=("$log")
}

wait_healthy() { # INDEX URL
  local i=$1 url=$2 deadline=$((SECONDS + health_timeout)) code
  while ((SECONDS < deadline)); do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      local st=0
      wait "${pids[$i]}" || st=$?
      echo "run.sh: ${names[$i]} server exited (status $st) before /health answered 200" >&2
      return 1
    fi
    code=$(curl -s -o "$logdir/health.body" -w '%{http_code}' --max-time 5 "$url/health" || true)
    if [[ $code == 200 ]]; then
      return 0
    fi
    if [[ $code == 503 ]] && ! grep -q '"unavailable_error"' "$logdir/health.body"; then
      echo "run.sh: /health 503 while loading lacks the error layout: $(cat "$logdir/health.body")" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "run.sh: ${names[$i]} server not healthy after ${health_timeout} s (last /health: ${code:-none})" >&2
  return 1
}

api_key=llamette-test-$RANDOM$RANDOM
alias_name=smollm2-alias
port_plain=$(free_port)
port_auth=$(free_port)
while [[ $port_auth == "$port_plain" ]]; do port_auth=$(free_port); done

start_server plain "$port_plain" -c 4096 -np 4 -t 2
start_server auth "$port_auth" -c 2048 -np 1 -t 1 --api-key "$api_key" --alias "$alias_name"
wait_healthy 0 "http://127.0.0.1:$port_plain"
wait_healthy 1 "http://127.0.0.1:$port_auth"

# --- the suite --------------------------------------------------------------------------------
export LLAMETTE_SERVER_URL=http://127.0.0.1:$port_plain
export LLAMETTE_SERVER_API_KEY_URL=http://127.0.0.1:$port_auth
export LLAMETTE_API_KEY=$api_key
export LLAMETTE_API_KEY_ALIAS=$alias_name
export LLAMETTE_MODEL_FILE=$model
export LLAMETTE_EXPECT_SLOTS=4
export LLAMETTE_CTX_SIZE=4096
export PYTHONDONTWRITEBYTECODE=1  # leave no __pycache__ in the tree
t0=$SECONDS
test_rc=0
(cd "$here" && timeout --signal=TERM --kill-after=30 "$suite_timeout" \
  "$vpy" -m pytest -q "$@") || test_rc=$?
echo "run.sh: pytest exited $test_rc after $((SECONDS - t0)) s" >&2

# --- graceful shutdown ------------------------------------------------------------------------
stop_rc=0
for i in "${!pids[@]}"; do
  pid=${pids[$i]}
  if ! kill -0 "$pid" 2>/dev/null; then
    st=0
    wait "$pid" || st=$?
    echo "run.sh: ${names[$i]} server had already exited (status $st) before SIGTERM" >&2
    stop_rc=1
    continue
  fi
  kill -TERM "$pid"
  deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "run.sh: ${names[$i]} server still running 30 s after SIGTERM" >&2
    stop_rc=1
    continue
  fi
  st=0
  wait "$pid" || st=$?
  if [[ $st -ne 0 ]]; then
    echo "run.sh: ${names[$i]} server exited with status $st on SIGTERM (want 0)" >&2
    stop_rc=1
  fi
done

if [[ $test_rc -eq 0 && $stop_rc -eq 0 ]]; then
  failed=0
  echo "run.sh: client suite passed; both servers shut down cleanly"
  exit 0
fi
[[ $test_rc -ne 0 ]] && exit "$test_rc"
exit 1
