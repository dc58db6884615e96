#!/usr/bin/env bash
# Browser test of llamette-server's chat page against a running server.
#   bash server/tests/browser/run.sh http://127.0.0.1:PORT/ SCREENSHOT.png
# Installs what it needs, idempotently: Debian's chromium (when /usr/bin/chromium is
# missing) and a venv with Playwright for Python. No browser is downloaded by
# Playwright: chat_page.py launches Debian's chromium through executable_path.
# Env: LLAMETTE_BROWSER_VENV (default ~/.cache/llamette/browser-venv),
#      LLAMETTE_CHROMIUM (default /usr/bin/chromium), LLAMETTE_API_KEY, PYTHON.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 URL SCREENSHOT_PATH" >&2
  exit 2
fi
url=$1
screenshot=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
chromium=${LLAMETTE_CHROMIUM:-/usr/bin/chromium}
venv=${LLAMETTE_BROWSER_VENV:-$HOME/.cache/llamette/browser-venv}
playwright_version=1.65.2

if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "error: $chromium is missing, and installing it needs root or sudo" >&2
    exit 1
  fi
  echo "browser test: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq chromium >/dev/null
fi

if ! "$venv/bin/python" -c "import playwright, sys; from importlib.metadata import version; \
sys.exit(version('playwright') != '$playwright_version')" 2>/dev/null; then
  echo "browser test: setting up $venv with playwright==$playwright_version" >&2
  mkdir -p "$(dirname "$venv")"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "playwright==$playwright_version"
fi

echo "browser test: $("$chromium" --version 2>/dev/null || echo chromium), playwright $playwright_version" >&2
exec "$venv/bin/python" "$here/chat_page.py" --url "$url" --screenshot "$screenshot"
