#!/usr/bin/env python3
"""What llama.cpp computes for a prompt, in the layout of llamette's `dump` example, for
comparing the two engines tensor by tensor (compare.py).

Usage: llama_dump.py MODEL.gguf --tokens 1,450,... --out DIR [--n-gen 16] [--trace] [--threads 2]

llama.cpp configured as for the goldens (peer.py). DIR/logits.f32 (every prompt position), DIR/greedy.txt,
DIR/gen_logits.f32; with --trace every node of the prompt's graph that the eval callback sees
goes to DIR/llama/<seq>_<name>.f32 (as f32, ggml element order, dims in DIR/llama/index.json)."""
import argparse, ctypes, json, os
import numpy as np
import llama_cpp as L
import peer

ap = argparse.ArgumentParser()
ap.add_argument('model'); ap.add_argument('--tokens', required=True); ap.add_argument('--out', required=True)
ap.add_argument('--n-gen', type=int, default=16); ap.add_argument('--trace', action='store_true')
ap.add_argument('--threads', type=int, default=2)
a = ap.parse_args()
prompt = [int(t) for t in a.tokens.split(',')]
os.makedirs(a.out, exist_ok=True)

class Tensor(ctypes.Structure):
    pass
Tensor._fields_ = [('type', ctypes.c_int), ('buffer', ctypes.c_void_p),
                   ('ne', ctypes.c_int64 * 4), ('nb', ctypes.c_size_t * 4), ('op', ctypes.c_int),
                   ('op_params', ctypes.c_int32 * 16), ('flags', ctypes.c_int32),
                   ('src', ctypes.c_void_p * 10), ('view_src', ctypes.c_void_p), ('view_offs', ctypes.c_size_t),
                   ('data', ctypes.c_void_p), ('name', ctypes.c_char * 64), ('extra', ctypes.c_void_p),
                   ('padding', ctypes.c_char * 8)]
index, tracing = [], [False]
tdir = os.path.join(a.out, 'llama')
if a.trace:
    os.makedirs(tdir, exist_ok=True)

def on_tensor(tp, ask, _ud):
    if ask:
        return True
    if not tracing[0]:
        return True
    t = ctypes.cast(tp, ctypes.POINTER(Tensor)).contents
    name = t.name.decode()
    ne, nb = list(t.ne), list(t.nb)
    dt = {0: np.float32, 1: np.float16}.get(t.type)
    if dt is None or not t.data:
        return True
    span = sum((n - 1) * s for n, s in zip(ne, nb)) + np.dtype(dt).itemsize
    raw = np.ctypeslib.as_array(ctypes.cast(t.data, ctypes.POINTER(ctypes.c_uint8)), shape=(span,))
    v = np.lib.stride_tricks.as_strided(np.frombuffer(raw.tobytes(), dtype=dt), shape=ne[::-1], strides=nb[::-1])
    fn = f'{len(index):04d}_{name}.f32'
    np.ascontiguousarray(v, dtype=np.float32).tofile(os.path.join(tdir, fn))
    index.append({'file': fn, 'name': name, 'ne': ne, 'type': int(t.type), 'op': int(t.op)})
    return True

cb = L.ggml_backend_sched_eval_callback(on_tensor)
model, n_vocab = peer.open_model(a.model)
tracing[0] = a.trace
rows, gen, gl = peer.run(model, n_vocab, prompt, a.n_gen, a.threads, cb if a.trace else None,
                         on_prompt_done=lambda: tracing.__setitem__(0, False))
rows.astype('<f4').tofile(os.path.join(a.out, 'logits.f32'))
gl.astype('<f4').tofile(os.path.join(a.out, 'gen_logits.f32'))
open(os.path.join(a.out, 'greedy.txt'), 'w').write(','.join(map(str, gen)) + '\n')
if a.trace:
    json.dump(index, open(os.path.join(tdir, 'index.json'), 'w'), indent=0)
print('greedy', ','.join(map(str, gen)))
