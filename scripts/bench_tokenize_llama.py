#!/usr/bin/env python3
"""llama.cpp's tokenizer speed on the same 100 KB text as `cargo bench --bench tokenize`:
`llama_tokenize` (add_special=false, parse_special=false) through llama.cpp's Python package
(scripts/install-peer.sh), median of REPS runs after a warm-up, for each vocabulary.
Prints one line per vocabulary: name, milliseconds, MB/s, token count.
With --golden FILE it also writes, per vocabulary, the token count and the SHA-256 of the ids
(u32 little-endian): tests/fixtures/golden/tok-100k.txt, which tests/tokenizer_100k.rs checks.
Usage: scripts/bench_tokenize_llama.py [--reps 10] [--golden FILE]"""
import argparse, hashlib, statistics, struct, time, pathlib
import llama_cpp as L

ROOT = pathlib.Path(__file__).resolve().parent.parent
VOCABS = ["tests/fixtures/vocab/codellama-70b-instruct-vocab.gguf", "tests/fixtures/vocab/ggml-vocab-llama-spm.gguf",
          "tests/fixtures/vocab/ggml-vocab-phi-3.gguf", "tests/fixtures/vocab/ggml-vocab-gpt-2.gguf",
          "tests/fixtures/vocab/ggml-vocab-llama-bpe.gguf", "tests/fixtures/vocab/ggml-vocab-qwen2.gguf",
          "tests/fixtures/vocab/ggml-vocab-starcoder.gguf", "tests/fixtures/vocab/ggml-vocab-deepseek-coder.gguf",
          "tests/fixtures/vocab/ggml-vocab-falcon.gguf", "models/smollm2-135m-instruct.q4_1.gguf"]

ap = argparse.ArgumentParser(); ap.add_argument("--reps", type=int, default=10); ap.add_argument("--golden")
a = ap.parse_args()
golden = []
text = (ROOT / "tests/fixtures/bench/source-100k.rs.txt").read_bytes()
L.llama_backend_init()
_quiet = L.llama_log_callback(lambda level, msg, user: None)
L.llama_log_set(_quiet, None)
for rel in VOCABS:
    path = ROOT / rel
    if not path.exists():
        print(f"{path.stem}: missing"); continue
    p = L.llama_model_default_params(); p.vocab_only = True
    m = L.llama_model_load_from_file(str(path).encode(), p)
    v = L.llama_model_get_vocab(m)
    n_max = len(text) + 16
    buf = (L.llama_token * n_max)()
    times = []
    for rep in range(a.reps + 1):
        t0 = time.perf_counter()
        n = L.llama_tokenize(v, text, len(text), buf, n_max, False, False)
        t1 = time.perf_counter()
        if rep:
            times.append(t1 - t0)
    ms = statistics.median(times) * 1e3
    name = path.name.replace('.gguf', '')
    print(f"{name}: {ms:.2f} ms, {len(text) / ms / 1e3:.1f} MB/s, {n} tokens")
    ids = list(buf[:n])
    golden.append(f"{name}\t{n}\t{hashlib.sha256(struct.pack(f'<{n}I', *ids)).hexdigest()}")
    L.llama_model_free(m)
if a.golden:
    header = "# llama.cpp 0c1e570 llama_tokenize(add_special=false, parse_special=false) of tests/fixtures/bench/source-100k.rs.txt: vocabulary, token count, sha256 of the ids as u32 LE\n"
    pathlib.Path(a.golden).write_text(header + "\n".join(golden) + "\n")
