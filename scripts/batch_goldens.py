#!/usr/bin/env python3
"""Multi-sequence goldens from llama.cpp: runs plans of batches (several sequences, each at its
own positions, prompts shared between sequences, logits for chosen tokens), KV-cache
operations (seq_rm, seq_cp, seq_keep) and greedy steps that decode one token per sequence in
one batch, through llama.cpp's own batch API (llama-cpp-python's low-level `llama_batch`,
`llama_decode`, `llama_memory_seq_*`) with a unified KV cache, and records the SHA-256 of
every logits row it returns (f32, little-endian) with its top 4 entries, and the greedy tokens.

tests/batch_golden.rs runs the same plans with llamette and compares at tolerance 0.

Usage: scripts/batch_goldens.py MODEL.gguf OUT.json [--plans smoke|full] [--threads 2]
Needs: python3 with numpy and llama_cpp (scripts/install-peer.sh builds the project's
reference llama.cpp 0c1e570 for AVX2; the goldens are only valid from that build).
Time: a second per tiny model.

Plan steps (the JSON both sides read):
  {"decode": [[token, pos, [seq, ...], want_logits], ...]}
  {"rm": [seq or -1, p0, p1 or -1]}      llama_memory_seq_rm
  {"cp": [src, dst, p0, p1 or -1]}       llama_memory_seq_cp
  {"keep": seq}                           llama_memory_seq_keep
  {"add": [seq, p0, p1 or -1, delta]}     llama_memory_seq_add (the K-shift at the next decode)
  {"greedy": {"seqs": [...], "n": N}}     N batches of one token per sequence: the argmax of
                                          the sequence's last logits, at its next position
The last logits of a sequence are those of the latest output token that belongs to it.
"""
import argparse
import ctypes
import hashlib
import json
import sys

import numpy as np
import llama_cpp as L


def plans(n_vocab, which):
    rng = np.random.default_rng(20261202)

    def toks(n):
        return [int(x) for x in rng.integers(3, min(n_vocab, 1000) - 1, size=n)]

    def seq_run(seq, tokens, start=0, want_last=True, want=()):
        return [[t, start + i, [seq], bool((want_last and i + 1 == len(tokens)) or i in want)]
                for i, t in enumerate(tokens)]

    out = []
    # Three prompts of different lengths in one batch, then generation side by side.
    a, b, c = toks(7), toks(12), toks(3)
    out.append({"name": "three_prompts", "n_ctx": 256, "n_ubatch": 512, "n_seq_max": 4, "steps": [
        {"decode": seq_run(0, [1] + a) + seq_run(1, [1] + b, want=(4,)) + seq_run(2, [1] + c)},
        {"greedy": {"seqs": [0, 1, 2], "n": 6}},
    ]})
    # A prompt shared by four sequences (each token in all four), then four continuations.
    p = [1] + toks(9)
    forced = toks(4)
    out.append({"name": "shared_prompt", "n_ctx": 256, "n_ubatch": 512, "n_seq_max": 4, "steps": [
        {"decode": [[t, i, [0, 1, 2, 3], i + 1 == len(p)] for i, t in enumerate(p)]},
        {"decode": [[forced[s], len(p), [s], True] for s in range(4)]},
        {"greedy": {"seqs": [0, 1, 2, 3], "n": 5}},
    ]})
    # Interleaved sequences; one removed, a new one in the freed cells (interleaved with the
    # survivor's), a tail removed and re-decoded.
    x, y, z = [1] + toks(7), [1] + toks(7), [1] + toks(8)
    inter = []
    for i in range(8):
        inter.append([x[i], i, [0], i == 7])
        inter.append([y[i], i, [1], i == 7 or i == 3])
    w = toks(3)
    out.append({"name": "interleaved_removed", "n_ctx": 256, "n_ubatch": 512, "n_seq_max": 4, "steps": [
        {"decode": inter},
        {"rm": [0, 0, -1]},
        {"decode": seq_run(2, z)},
        {"greedy": {"seqs": [1, 2], "n": 4}},
        {"rm": [1, 5, -1]},
        {"decode": seq_run(1, w, start=5)},
        {"greedy": {"seqs": [1, 2], "n": 3}},
    ]})
    if which == "smoke":
        return out
    # A batch longer than a step (ubatch 16): 35 tokens of two sequences in three steps.
    u, v = [1] + toks(19), [1] + toks(14)
    out.append({"name": "ubatch_split", "n_ctx": 256, "n_ubatch": 16, "n_seq_max": 2, "steps": [
        {"decode": seq_run(0, u, want=(10,)) + seq_run(1, v)},
        {"greedy": {"seqs": [0, 1], "n": 4}},
    ]})
    # Sequences copied (shared cells) and kept.
    q = [1] + toks(5)
    e = toks(2)
    out.append({"name": "copy_keep", "n_ctx": 256, "n_ubatch": 512, "n_seq_max": 3, "steps": [
        {"decode": seq_run(0, q)},
        {"cp": [0, 1, 0, -1]},
        {"cp": [0, 2, 0, 3]},
        {"decode": [[e[0], len(q), [1], True], [e[1], 3, [2], True]]},
        {"greedy": {"seqs": [0, 1, 2], "n": 3}},
        {"keep": 2},
        {"greedy": {"seqs": [2], "n": 3}},
    ]})
    # Everything removed and the cache refilled from cell 0 with the head reset.
    r1, r2 = [1] + toks(6), [1] + toks(4)
    out.append({"name": "cleared_refill", "n_ctx": 256, "n_ubatch": 512, "n_seq_max": 2, "steps": [
        {"decode": seq_run(0, r1) + seq_run(1, r2)},
        {"greedy": {"seqs": [0, 1], "n": 2}},
        {"rm": [-1, 0, -1]},
        {"decode": seq_run(1, r1)},
        {"greedy": {"seqs": [1], "n": 3}},
    ]})
    # Context shift: drop the middle of a conversation and move the rest back (the K-shift),
    # twice; then a positive shift of one of two sequences, and one that pushes cells below 0.
    cs = [1] + toks(23)
    out.append({"name": "context_shift", "n_ctx": 64, "n_ubatch": 512, "n_seq_max": 1, "steps": [
        {"decode": seq_run(0, cs)},
        {"rm": [0, 4, 12]},
        {"add": [0, 12, -1, -8]},
        {"greedy": {"seqs": [0], "n": 4}},
        {"rm": [0, 4, 8]},
        {"add": [0, 8, -1, -4]},
        {"greedy": {"seqs": [0], "n": 3}},
    ]})
    s0, s1 = [1] + toks(9), [1] + toks(9)
    out.append({"name": "shift_two_sequences", "n_ctx": 64, "n_ubatch": 512, "n_seq_max": 2, "steps": [
        {"decode": seq_run(0, s0) + seq_run(1, s1)},
        {"add": [1, 0, -1, 3]},
        {"greedy": {"seqs": [0, 1], "n": 3}},
        {"add": [1, 0, 6, -5]},
        {"rm": [1, 0, 6]},
        {"greedy": {"seqs": [0, 1], "n": 2}},
    ]})
    return out


def digest(row):
    r = np.asarray(row, dtype="<f4")
    top = [[int(i), float(r[i])] for i in np.argsort(-r, kind="stable")[:4]]
    return {"sha256": hashlib.sha256(r.tobytes()).hexdigest(), "top": top}


def run_plan(model, n_vocab, plan, threads):
    cp = L.llama_context_default_params()
    cp.n_ctx = plan["n_ctx"]
    cp.n_batch = 512
    cp.n_ubatch = plan["n_ubatch"]
    cp.n_seq_max = plan["n_seq_max"]
    cp.kv_unified = True
    cp.n_threads = threads
    cp.n_threads_batch = threads
    cp.flash_attn_type = 0  # disabled: plain softmax attention
    ctx = L.llama_init_from_model(model, cp)
    assert ctx, "context failed"
    mem = L.llama_get_memory(ctx)
    last = {}
    results = []

    def decode(entries):
        b = L.llama_batch_init(len(entries), 0, plan["n_seq_max"])
        for i, (t, pos, seqs, want) in enumerate(entries):
            b.token[i] = t
            b.pos[i] = pos
            b.n_seq_id[i] = len(seqs)
            for k, s in enumerate(seqs):
                b.seq_id[i][k] = s
            b.logits[i] = 1 if want else 0
        b.n_tokens = len(entries)
        rc = L.llama_decode(ctx, b)
        assert rc == 0, f"llama_decode returned {rc}"
        outs = []
        for i, (t, pos, seqs, want) in enumerate(entries):
            if want:
                row = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, i), shape=(n_vocab,)).copy()
                for s in seqs:
                    last[s] = row
                d = digest(row)
                d["i"] = i
                outs.append(d)
        L.llama_batch_free(b)
        return outs

    for step in plan["steps"]:
        if "decode" in step:
            results.append({"outputs": decode(step["decode"])})
        elif "rm" in step:
            s, p0, p1 = step["rm"]
            assert L.llama_memory_seq_rm(mem, s, p0, p1)
            results.append({})
        elif "cp" in step:
            src, dst, p0, p1 = step["cp"]
            L.llama_memory_seq_cp(mem, src, dst, p0, p1)
            results.append({})
        elif "add" in step:
            seq, p0, p1, delta = step["add"]
            L.llama_memory_seq_add(mem, seq, p0, p1, delta)
            results.append({})
        elif "keep" in step:
            L.llama_memory_seq_keep(mem, step["keep"])
            results.append({})
        elif "greedy" in step:
            g = step["greedy"]
            tokens = []
            outs = []
            for _ in range(g["n"]):
                entries = []
                for s in g["seqs"]:
                    t = int(np.argmax(last[s]))
                    pos = L.llama_memory_seq_pos_max(mem, s) + 1
                    entries.append([t, pos, [s], True])
                tokens.append([e[0] for e in entries])
                outs.append(decode(entries))
            results.append({"tokens": tokens, "outputs": outs})
        else:
            raise SystemExit(f"unknown step {step}")
    L.llama_free(ctx)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--plans", default="full", choices=["smoke", "full"])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    L.llama_backend_init()
    # llama.cpp's logs (loading, context sizes) would bury the result line.
    quiet = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)(lambda *_: None)
    L.llama_log_set(quiet, None)
    mp = L.llama_model_default_params()
    mp.use_mmap = True
    mp.use_extra_bufts = False  # no weight repacking: the goldens' float order
    model = L.llama_model_load_from_file(a.model.encode(), mp)
    assert model, "load failed"
    n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    with open(a.model, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    out = {
        "model": a.model.split("/")[-1],
        "sha256": sha,
        "n_vocab": n_vocab,
        "reference": "llama.cpp through llama-cpp-python " + L.__version__ + ": "
        + L.llama_print_system_info().decode().strip(),
        "plans": [],
    }
    for plan in plans(n_vocab, a.plans):
        plan = dict(plan)
        plan["results"] = run_plan(model, n_vocab, plan, a.threads)
        out["plans"].append(plan)
    L.llama_model_free(model)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"batch_goldens: {a.out}: {len(out['plans'])} plans", file=sys.stderr)


if __name__ == "__main__":
    main()
