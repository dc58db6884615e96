#!/usr/bin/env python3
"""peer_bench.py: llama.cpp's prompt-processing and generation speed, measured the way
examples/bench.rs measures llamette's, so scripts/bench-vs-llama.sh can put the two side by side.

What it does: loads MODEL.gguf through llama.cpp's C API (llama-cpp-python's low-level ctypes
layer; the file is mapped, llama.cpp's default), then per run creates a fresh context
(n_ctx = P + N + 16, one batch of P) and times
  pp: one batch of the P prompt tokens (logits for the last one only);
  tg: N tokens decoded one at a time after it, each the argmax of the previous logits (the first
      is the argmax of the prompt's last logits), as bench.rs does.
The prompt is bench.rs's: a xorshift64 sequence of ordinary token ids in 100..min(n_vocab, 30000).
After one warm-up run, --reps timed runs; the median (the upper middle value for an even count,
like bench.rs) is printed as one JSON line {"engine","model","threads","pp","tg"} in tokens/s.
llama.cpp's logs are silenced.

Needs: python3 with numpy and llama_cpp (scripts/install-peer.sh installs llama-cpp-python 0.3.36,
the reference build). Time: model load plus (reps + 1) x (P + N) tokens, some seconds for a 1B
model at the defaults on 2 threads.

Usage: scripts/peer_bench.py MODEL.gguf [-t THREADS] [-p 128] [-n 64] [--reps 3]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import llama_cpp as L


def prompt_tokens(p, n_vocab):
    """bench.rs's prompt: xorshift64 (13, 7, 17) from a fixed state, ids 100..hi."""
    hi = min(max(n_vocab, 101), 30000)
    mask = (1 << 64) - 1
    state = 0x2545F4914F6CDD1D
    out = []
    for _ in range(p):
        state ^= (state << 13) & mask
        state ^= state >> 7
        state ^= (state << 17) & mask
        out.append(100 + state % (hi - 100))
    return out


def batch_of(tokens, start):
    """A batch of TOKENS at positions START.. in sequence 0, logits for the last token only."""
    b = L.llama_batch_init(len(tokens), 0, 1)
    for i, t in enumerate(tokens):
        b.token[i] = t
        b.pos[i] = start + i
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = 0
        b.logits[i] = 1 if i == len(tokens) - 1 else 0
    b.n_tokens = len(tokens)
    return b


def decode(ctx, tokens, start):
    b = batch_of(tokens, start)
    try:
        rc = L.llama_decode(ctx, b)
    finally:
        L.llama_batch_free(b)
    if rc != 0:
        sys.exit(f"peer_bench: llama_decode returned {rc}")


def argmax_last(ctx, n_vocab):
    # numpy's argmax takes the first of equal maxima, like bench.rs's.
    return int(np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)).argmax())


def median(v):
    return sorted(v)[len(v) // 2]


def main():
    ap = argparse.ArgumentParser(description="llama.cpp pp/tg speed, like examples/bench.rs")
    ap.add_argument("model")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-p", type=int, default=128, help="prompt tokens in one batch")
    ap.add_argument("-n", type=int, default=64, help="tokens decoded one at a time")
    ap.add_argument("--reps", type=int, default=3, help="timed runs after one warm-up")
    a = ap.parse_args()
    a.threads, a.p, a.reps, a.n = max(a.threads, 1), max(a.p, 1), max(a.reps, 1), max(a.n, 0)
    if not os.path.isfile(a.model):
        sys.exit(f"peer_bench: model file not found: {a.model}")

    L.llama_backend_init()
    quiet = L.llama_log_callback(lambda level, text, user: None)  # kept alive: llama.cpp holds it
    L.llama_log_set(quiet, None)
    mp = L.llama_model_default_params()
    mp.use_mmap = True
    mp.use_extra_bufts = True  # llama.cpp's default: repacked weights where the CPU has them
    model = L.llama_model_load_from_file(a.model.encode(), mp)
    if not model:
        sys.exit(f"peer_bench: llama.cpp could not load {a.model}")
    n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    prompt = prompt_tokens(a.p, n_vocab)

    pps, tgs = [], []
    for rep in range(a.reps + 1):  # run 0 warms up
        cp = L.llama_context_default_params()
        cp.n_ctx = a.p + a.n + 16
        cp.n_batch = a.p
        cp.n_ubatch = a.p
        cp.n_threads = a.threads
        cp.n_threads_batch = a.threads
        ctx = L.llama_init_from_model(model, cp)
        if not ctx:
            sys.exit("peer_bench: llama_init_from_model failed")
        t0 = time.perf_counter()
        decode(ctx, prompt, 0)
        t1 = time.perf_counter()
        tok = argmax_last(ctx, n_vocab)
        for i in range(a.n):
            decode(ctx, [tok], a.p + i)
            tok = argmax_last(ctx, n_vocab)
        t2 = time.perf_counter()
        L.llama_free(ctx)
        if rep > 0:
            pps.append(a.p / (t1 - t0))
            tgs.append(a.n / (t2 - t1))
    L.llama_model_free(model)
    print(json.dumps({
        "engine": "llama.cpp",
        "model": os.path.basename(a.model),
        "threads": a.threads,
        "pp": round(median(pps), 2),
        "tg": round(median(tgs), 2) if a.n > 0 else 0.0,
    }))


if __name__ == "__main__":
    main()
