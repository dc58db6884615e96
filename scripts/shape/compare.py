#!/usr/bin/env python3
"""Compares llamette's `dump` output with llama_dump.py's, position by position and, where both
traced, tensor by tensor in graph order: the first tensor that differs is where the engines part.

Usage: compare.py OURS_DIR LLAMA_DIR N_VOCAB"""
import json, os, sys
import numpy as np

ours, theirs, n_vocab = sys.argv[1], sys.argv[2], int(sys.argv[3])
def load(d, f):
    return np.fromfile(os.path.join(d, f), dtype='<f4')
a, b = load(ours, 'logits.f32').reshape(-1, n_vocab), load(theirs, 'logits.f32').reshape(-1, n_vocab)
print('prompt positions: max |diff| / max |logit| per position')
rel = [float(np.abs(x - y).max() / np.abs(y).max()) for x, y in zip(a, b)]
print('  ', ' '.join(f'{r:.1e}' if r else '0' for r in rel))
ga, gb = open(os.path.join(ours, 'greedy.txt')).read().split(','), open(os.path.join(theirs, 'greedy.txt')).read().split(',')
same = next((i for i, (x, y) in enumerate(zip(ga, gb)) if x.strip() != y.strip()), len(ga))
print(f'greedy: {same} of {len(ga)} tokens agree')
if os.path.exists(os.path.join(ours, 'gen_logits.f32')) and os.path.exists(os.path.join(theirs, 'gen_logits.f32')):
    x, y = load(ours, 'gen_logits.f32').reshape(-1, n_vocab), load(theirs, 'gen_logits.f32').reshape(-1, n_vocab)
    print('generation steps (while the tokens agree): max |diff| / max |logit|')
    print('  ', ' '.join(f'{float(np.abs(p - q).max() / np.abs(q).max()):.1e}' for p, q in list(zip(x, y))[:same]))
idx = os.path.join(theirs, 'llama', 'index.json')
if not os.path.exists(idx):
    sys.exit(0)
last = {}
for e in json.load(open(idx)):
    last[e['name']] = e
print('tensors (ours vs llama.cpp\'s last node of that name):')
for f in sorted(os.listdir(ours), key=lambda f: os.path.getmtime(os.path.join(ours, f))):
    if not f.endswith('.f32') or f in ('logits.f32', 'gen_logits.f32'):
        continue
    name, layer = f[:-4].rsplit('-', 1)
    key = name if layer == '-' else f'{name}-{layer}'
    e = last.get(key)
    if e is None:
        print(f'  {key:16} (no llama.cpp node)')
        continue
    x = load(ours, f)
    y = np.fromfile(os.path.join(theirs, 'llama', e['file']), dtype='<f4')
    if x.size != y.size:
        # llama.cpp keeps only the output rows after the last layer's attention
        print(f'  {key:16} sizes differ: ours {x.size}, llama.cpp {y.size} (ne {e["ne"]})')
        continue
    d = np.abs(x - y)
    nz = np.flatnonzero(d)
    m = float(np.abs(y).max())
    first = f'first at {nz[0]} ({x[nz[0]]!r} vs {y[nz[0]]!r})' if nz.size else ''
    print(f'  {key:16} max |diff| {d.max():.3e} / max {m:.3e}, {nz.size} of {d.size} differ {first}')
