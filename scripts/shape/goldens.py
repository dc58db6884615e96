#!/usr/bin/env python3
"""Goldens for the real-shape fixture models (issue 14), made by llama.cpp (peer.py) and small
enough to commit: the logits themselves are not stored, their SHA-256 is (the check is bit
equality), with the top logits kept to show how far apart two engines are when they differ.

Usage: goldens.py MODEL.gguf OUT.json

For each case (prompts.json): `prompt`; `greedy` (N_GEN argmax tokens, one at a time);
`top_per_pos` (8 largest [id, logit] at every prompt position); `last_top` (32 largest at the
last position); `logits_sha256` (SHA-256 of every prompt position's logits, f32 little-endian,
position-major); `last_sha256` (the last position's); `gen_sha256` (the logits after each greedy
token, concatenated); `gen_top1` (the largest [id, logit] after each greedy token); and
`last_only_sha256` / `last_only_top`: the last position's logits when only it asks for logits."""
import hashlib, json, os, sys
import numpy as np
import peer

N_GEN = 16
model_path, out = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
prompts = json.load(open(os.path.join(here, 'prompts.json')))
model, n_vocab = peer.open_model(model_path)
sha = lambda a: hashlib.sha256(np.ascontiguousarray(a, dtype='<f4').tobytes()).hexdigest()
top = lambda r, k: [[int(i), float(r[i])] for i in np.argsort(-r, kind='stable')[:k]]
cases = []
for p in prompts['cases']:
    ids = p['ids']
    rows, gen, gl = peer.run(model, n_vocab, ids, N_GEN)
    last_only, _, _ = peer.run(model, n_vocab, ids, 0, all_logits=False)
    cases.append({'name': p['name'], 'prompt': ids, 'greedy': gen,
                  'top_per_pos': [top(r, 8) for r in rows], 'last_top': top(rows[-1], 32),
                  'logits_sha256': sha(rows), 'last_sha256': sha(rows[-1]),
                  'gen_sha256': sha(gl), 'gen_top1': [top(r, 1)[0] for r in gl],
                  'last_only_sha256': sha(last_only[0]), 'last_only_top': top(last_only[0], 32)})
    print(os.path.basename(model_path), p['name'], 'greedy', gen[:8], flush=True)
file_sha = hashlib.sha256()
with open(model_path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 24), b''):
        file_sha.update(chunk)
json.dump({'model': os.path.basename(model_path), 'sha256': file_sha.hexdigest(), 'n_vocab': n_vocab,
           'reference': 'llama.cpp 0c1e570 (llama-cpp-python 0.3.36, AVX2 build of scripts/install-peer.sh), CPU, '
                        'KV cache f16, flash attention off, repacking off, n_ctx 512, 2 threads',
           'system_info': peer.system_info(),
           'cases': cases}, open(out, 'w'), indent=None, separators=(',', ':'))
