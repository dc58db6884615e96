#!/usr/bin/env bash
# Remakes tests/fixtures/golden/shape/*.json with llama.cpp (scripts/shape/goldens.py) from the
# models scripts/shape/make.sh builds: only after changing the models or the prompts, on purpose.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/shape/make.sh
mkdir -p tests/fixtures/golden/shape
while read -r _ name; do
  python3 scripts/shape/goldens.py "models/shape/$name" "tests/fixtures/golden/shape/${name%.gguf}.json"
done < scripts/shape/SHA256SUMS
