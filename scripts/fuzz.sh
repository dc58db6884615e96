#!/usr/bin/env bash
# Fuzzes llamette with cargo-fuzz (libFuzzer): builds every target in fuzz/ once, seeds
# fuzz/corpus/<target>/ from tests/fixtures/, runs each target for SECONDS, prints one summary
# line per target and exits non-zero when any target found a crash, timeout or OOM (the
# artifact path is printed; reproduce with `cargo +nightly fuzz run -O -a TARGET ARTIFACT`,
# minimize with `cargo +nightly fuzz tmin -O -a TARGET ARTIFACT`).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target)
#
# Targets are discovered with `cargo fuzz list`: a new fuzz_targets/<name>.rs plus its [[bin]]
# in fuzz/Cargo.toml is picked up with no change here.
#
# Environment: FUZZ_TOOLCHAIN (default nightly), FUZZ_SANITIZER (address | none; default
# address), FUZZ_MAX_LEN_FILE / FUZZ_MAX_LEN_TEXT (max input sizes), FUZZ_RSS_MB (2048).
set -uo pipefail

SECONDS_PER_TARGET=${1:-60}
shift $(( $# > 0 ? 1 : 0 ))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
TC=${FUZZ_TOOLCHAIN:-nightly}
SAN=${FUZZ_SANITIZER:-address}
MAX_LEN_FILE=${FUZZ_MAX_LEN_FILE:-2400000}
MAX_LEN_TEXT=${FUZZ_MAX_LEN_TEXT:-65536}
RSS_MB=${FUZZ_RSS_MB:-2048}
FIX=tests/fixtures
# -O: release; -a: debug assertions and overflow checks on (as in the crate's dev profile).
FLAGS=(-O -a -s "$SAN")

if ! cargo "+$TC" fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked || exit 2
fi

start=$(date +%s)
cargo "+$TC" fuzz build "${FLAGS[@]}" || { echo "fuzz: build failed"; exit 2; }
echo "fuzz: build took $(( $(date +%s) - start )) s (sanitizer $SAN)"

if [ $# -gt 0 ]; then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <(cargo "+$TC" fuzz list)
fi

# --- seed corpora (rebuilt each run from the fixtures; fuzz/corpus is not committed) -------

# Fixture GGUF files small enough to be inputs.
small_ggufs() {
    find "$FIX/models" "$FIX/vocab" -name '*.gguf' -size -2300k 2>/dev/null | sort
}

# Texts: each input of llama.cpp's tokenizer suites, and 4 KB pieces of the source benchmark.
texts() {  # $1: output dir for text pieces
    local out=$1 i=0 f
    mkdir -p "$out"
    for f in "$FIX"/vocab/*.inp; do
        [ -f "$f" ] || continue
        awk -v dir="$out" -v base="$(basename "$f")" '
            /^__ggml_vocab_test__$/ { n++; next }
            { file = sprintf("%s/%s.%03d", dir, base, n); printf "%s\n", $0 >> file; close(file) }
        ' "$f"
    done
    if [ -f "$FIX/bench/source-100k.rs.txt" ]; then
        split -b 4096 -a 3 "$FIX/bench/source-100k.rs.txt" "$out/source."
    fi
    for f in "$FIX"/pretok/*.txt; do
        [ -f "$f" ] && head -c 65536 "$f" >"$out/pretok.$(basename "$f")"
    done
    i=$(find "$out" -type f | wc -l)
    [ "$i" -gt 0 ]
}

# Little-endian integers and GGUF strings on stdout.
le32() { local v=$1 i; for i in 0 1 2 3; do printf "\\$(printf '%03o' $(( (v >> (8 * i)) & 255 )))"; done; }
le64() { le32 $(( $1 & 0xFFFFFFFF )); le32 $(( ($1 >> 32) & 0xFFFFFFFF )); }
gstr() { le64 ${#1}; printf '%s' "$1"; }

# A tiny GGUF: two metadata entries (a string, an array of u32) and one 4x2 F32 tensor.
gguf_tiny() {
    printf 'GGUF'; le32 3; le64 1; le64 3
    gstr general.architecture; le32 8; gstr llama
    gstr general.alignment; le32 4; le32 32
    gstr tokenizer.ggml.token_type; le32 9; le32 5; le64 3; le32 1; le32 3; le32 6
    gstr t; le32 2; le64 4; le64 2; le32 0; le64 0
    # Header so far: 4+4+8+8 + (8+20+4+8+5) + (8+17+4+4) + (8+25+4+4+8+12) + (8+1+4+16+4+8)
    # = 24 + 45 + 33 + 61 + 41 = 204 bytes; pad to 224, then 32 bytes of data.
    head -c 20 /dev/zero; head -c 32 /dev/zero | tr '\0' '\077'
}

# Seeds for the GGUF parser: tiny hand-made files and the first 32 KB of the fixtures (a
# model's whole header and tensor table is ~24 KB; the data is irrelevant to the parser).
parser_seeds() {  # $1: dir, $2: optional prefix byte
    local f
    gguf_tiny >"$1/tiny.gguf"
    { printf 'GGUF'; le32 2; le64 0; le64 0; } >"$1/empty-v2.gguf"
    for f in $(small_ggufs); do head -c 32768 "$f" >"$1/head32k.$(basename "$f")"; done
    if [ -n "${2:-}" ]; then
        for f in "$1"/tiny.gguf "$1"/empty-v2.gguf "$1"/head32k.*; do
            prefixed "$2" "$f.p" "$f" && mv "$f.p" "$f"
        done
    fi
}

# Writes $2 with byte $1 (decimal) in front of file $3.
prefixed() {
    { printf "\\$(printf '%03o' "$1")"; cat "$3"; } >"$2"
}

# One seed per case of tests/fixtures/grammar/$2 (a JSON list): jq filter $3 on the case,
# its strings joined (`strings4(list)`: the first 4 plain strings of a test list); cases the
# filter gives nothing for are skipped.
grammar_seeds() {  # $1: dir, $2: fixture file, $3: jq filter
    local f=$FIX/grammar/$2 n i
    local defs='def strings4(l): [l[] | strings] | .[:4]; def strings2(l): [l[] | strings] | .[:2];'
    n=$(jq length "$f")
    for i in $(seq 0 $((n - 1))); do
        jq -j "$defs .[$i] | $3" "$f" >"$1/${2%.json}.$i"
        [ -s "$1/${2%.json}.$i" ] || rm -f "$1/${2%.json}.$i"
    done
}

seed() {  # $1: target
    local t=$1 dir=fuzz/corpus/$1 tmp f i b
    mkdir -p "$dir"
    tmp=$(mktemp -d)
    case $t in
        gguf_parse)
            parser_seeds "$dir" ;;
        model_from_bytes)
            for f in $(small_ggufs); do cp "$f" "$dir/"; done ;;
        ffi_model)
            for f in $(small_ggufs); do prefixed 1 "$dir/$(basename "$f")" "$f"; done ;;
        model_from_parts)
            # [n_cuts][4 bytes per cut][file]: cuts at ~300 KB, ~600 KB and 1 byte in.
            for f in $(small_ggufs); do
                { printf '\002\000\300\004\000\000\100\011\000\001\000\000\000'; cat "$f"; } \
                    >"$dir/$(basename "$f")"
            done ;;
        vocab)
            # Raw mode: only the small hand-made files and headers (whole vocabulary files take
            # ~30 ms a load and would starve the structured mode; the tokenize target and the
            # vocabulary tests load them).
            parser_seeds "$dir" 0
            # Structured mode: flag words with different bits, then bytes from texts.
            texts "$tmp" >/dev/null
            i=0
            for f in $(find "$tmp" -type f | sort | head -64); do
                b=$(( (i * 2 + 1) % 256 ))
                { printf "\\001\\$(printf '%03o' $b)\\$(printf '%03o' $(( (i * 37) % 256 )))"; cat "$f"; } \
                    >"$dir/struct.$i"
                i=$((i + 1))
            done ;;
        model_mutate)
            # [fixture][n_ops][ops...][token choices]: each op kind once, on both fixtures.
            for b in 0 1; do
                for i in $(seq 0 18); do
                    { printf "\\$(printf '%03o' $b)\\000\\$(printf '%03o' "$i")"
                      head -c 24 "$FIX/bench/source-100k.rs.txt"; } >"$dir/op$i.f$b"
                done
            done ;;
        tokenize|detokenize)
            texts "$tmp" >/dev/null
            i=0
            for f in $(find "$tmp" -type f | sort); do
                # Vocabulary (low 2 bits) and flags vary across seeds.
                prefixed $(( (i * 7) % 64 )) "$dir/$(basename "$f")" "$f"
                i=$((i + 1))
            done ;;
        chat)
            local msgs='system\000You are helpful.\000user\000Hello <s> [INST] there\000assistant\000Hi!\000user\000Again <|im_start|>\000'
            for b in 0 2 4 6 8 10 12 14 16 18 20 22; do
                printf "\\$(printf '%03o' $b)chatml\\000$msgs" >"$dir/name.$b"
            done
            printf '\001{{ "Source: " }}Destination: user\000'"$msgs" >"$dir/tmpl.codellama"
            printf '\011<|start_header_id|><|end_header_id|>\000'"$msgs" >"$dir/tmpl.llama3"
            printf '\021<|im_start|>\000'"$msgs" >"$dir/tmpl.chatml"
            printf '\003[INST]\000'"$msgs" >"$dir/tmpl.llama2"
            if command -v jq >/dev/null && [ -d "$FIX/chat" ]; then
                for f in "$FIX"/chat/*.json; do
                    jq -j '.messages[] | .role, "\u0000", .content, "\u0000"' "$f" >"$tmp/m" 2>/dev/null || continue
                    for b in 0 2 4; do
                        { printf "\\$(printf '%03o' $b)codellama-70b\\000"; cat "$tmp/m"; } \
                            >"$dir/$(basename "$f").$b"
                    done
                done
            fi ;;
        grammar)
            # llama.cpp's example grammars (strings: their own bytes); each GBNF case of its
            # grammar tests with up to 4 passing and 2 failing strings after a 0 byte; the
            # parser tests' grammars; the GBNF llama.cpp makes from each schema test.
            cp "$FIX"/grammar/gbnf/*.gbnf "$dir/"
            if command -v jq >/dev/null; then
                grammar_seeds "$dir" integration.json \
                    'select(.kind == "gbnf") | .grammar, (strings4(.passing) + strings2(.failing) | .[] | "\u0000", .)'
                grammar_seeds "$dir" parser.json '.grammar'
                grammar_seeds "$dir" json_schema.json '.grammar // empty'
            fi ;;
        json_schema)
            # Any object, any value, a boolean schema; each schema of llama.cpp's
            # json-schema-to-grammar tests; each schema case of its grammar tests with up to 4
            # passing and 2 failing strings after a 0 byte.
            printf '{"type": "object"}' >"$dir/object.json"
            printf '{}' >"$dir/any.json"
            printf 'true' >"$dir/true.json"
            printf '{"type": "object", "properties": {"name": {"type": "string"}}}\000{"name": "x"}\000{}' \
                >"$dir/name.json"
            if command -v jq >/dev/null; then
                grammar_seeds "$dir" json_schema.json '.schema'
                grammar_seeds "$dir" integration.json \
                    'select(.kind == "schema") | .schema, (strings4(.passing) + strings2(.failing) | .[] | "\u0000", .)'
            fi ;;
        chat_template)
            # llama.cpp's templates (tests/fixtures/templates), each with a conversation.
            for f in "$FIX"/templates/*.jinja; do
                { cat "$f"; printf '\000system\000Be brief.\000user\000Hello \303\274 <s>\000assistant\000Hi!\000user\000Again'; } \
                    >"$dir/$(basename "$f")"
            done ;;
        server_request)
            # Request bodies of each endpoint's dialect (first byte: 0 chat, 1 completion,
            # 2 llama-server's own).
            printf '\000{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8, "stream": true, "stop": ["\\n"], "logprobs": true, "top_logprobs": 2}' >"$dir/chat.json"
            printf '\000{"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}, "logit_bias": {"15": -100}}' >"$dir/chat-parts.json"
            printf '\001{"prompt": ["Hello", 12, 13], "max_tokens": 16, "logprobs": 3, "seed": 42, "temperature": 0.5, "stream_options": {"include_usage": true}}' >"$dir/completion.json"
            printf '\002{"prompt": [[1, 2, 3]], "n_predict": -1, "n_probs": 2, "grammar": "root ::= [a-z]+", "logit_bias": [["hello", false]], "n_keep": -1}' >"$dir/native.json" ;;
        *)
            # A target this script does not know: seed it with the small files and texts.
            for f in $(small_ggufs); do cp "$f" "$dir/"; done
            texts "$tmp" >/dev/null && cp "$tmp"/* "$dir/" ;;
    esac
    rm -rf "$tmp"
}

max_len() {
    case $1 in
        tokenize|detokenize|chat) echo "$MAX_LEN_TEXT" ;;
        gguf_parse) echo 262144 ;;
        vocab) echo 65536 ;;
        model_mutate) echo 4096 ;;
        grammar|json_schema) echo 16384 ;;
        chat_template) echo 32768 ;;
        server_request) echo 65536 ;;
        *) echo "$MAX_LEN_FILE" ;;
    esac
}

# --- run ------------------------------------------------------------------------------------

mkdir -p fuzz/artifacts
failed=0
summary=()
for t in "${TARGETS[@]}"; do
    seed "$t"
    log=fuzz/artifacts/$t.log
    mkdir -p "fuzz/artifacts/$t"
    echo "fuzz: running $t for $SECONDS_PER_TARGET s (log $log)"
    cargo "+$TC" fuzz run "${FLAGS[@]}" "$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb="$RSS_MB" -malloc_limit_mb=1024 \
        -timeout=10 -max_len="$(max_len "$t")" -print_final_stats=1 \
        >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    secs=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    artifact=$(grep -o 'Test unit written to [^ ]*' "$log" | tail -1 | sed 's/Test unit written to //')
    if [ $rc -ne 0 ] || [ -n "$artifact" ]; then
        failed=1
        kind=$(basename "${artifact:-unknown}" | cut -d- -f1)
        line="fuzz $t: ${execs:-?} executions in $SECONDS_PER_TARGET s (${secs:-?}/s), 1 ${kind:-failure} (exit $rc): ${artifact:-see $log}"
        grep -m1 -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY:" "$log" | sed 's/^/    /'
    else
        line="fuzz $t: ${execs:-?} executions in $SECONDS_PER_TARGET s (${secs:-?}/s), 0 crashes"
    fi
    echo "$line"
    summary+=("$line")
done

echo "---- fuzz summary ----"
printf '%s\n' "${summary[@]}"
exit $failed
