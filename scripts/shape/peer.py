"""llama.cpp as the reference engine, through llama-cpp-python's ctypes layer (0.3.36 = llama.cpp
0c1e570, built for AVX2 by scripts/install-peer.sh), configured as every golden of this project:
CPU, f16 KV cache, flash attention off, weight repacking off, n_ctx 512, the prompt in one batch
with logits at every position, then greedy decoding one token at a time."""
import ctypes
import numpy as np
import llama_cpp as L

_backend = []

# What the reference build reports (llama_print_system_info): the AVX2 build that made every
# golden. An AVX-512 build (GGML_NATIVE on an AVX-512 machine, or a pip wheel cached from one:
# pip reuses a built wheel whatever CMAKE_ARGS say) orders its float sums differently (16-lane
# F16 dot products and softmax groups, the VNNI tiled K-quant kernel's unfused epilogue) and so
# gives other bits; goldens from it would not be llama.cpp's reference numerics.
REFERENCE_BUILD = ('CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | '
                   'LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |')


def system_info():
    return L.llama_print_system_info().decode().strip()


def open_model(path):
    """Loads a model (mapped, no repacking); returns (model, n_vocab)."""
    if not _backend:
        info = system_info()
        assert info == REFERENCE_BUILD.strip(), (
            f'llama_cpp is not the reference build: {info!r}; reinstall it with scripts/install-peer.sh '
            '(pip uninstall -y llama-cpp-python && pip cache remove llama_cpp_python first)')
        L.llama_backend_init()
        _backend.append(True)
    mp = L.llama_model_default_params()
    mp.use_mmap = True
    mp.use_extra_bufts = False
    model = L.llama_model_load_from_file(path.encode(), mp)
    assert model, f'llama.cpp could not load {path}'
    return model, L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))


def _decode(ctx, tokens, pos0, all_logits):
    b = L.llama_batch_init(len(tokens), 0, 1)
    for i, t in enumerate(tokens):
        b.token[i] = t; b.pos[i] = pos0 + i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0
        b.logits[i] = 1 if all_logits or i + 1 == len(tokens) else 0
    b.n_tokens = len(tokens)
    assert L.llama_decode(ctx, b) == 0
    L.llama_batch_free(b)


def run(model, n_vocab, prompt, n_gen, threads=2, cb_eval=None, on_prompt_done=None, all_logits=True):
    """Evaluates `prompt` then `n_gen` greedy tokens. Returns (prompt_logits [len(prompt), n_vocab],
    greedy ids, gen_logits [n_gen, n_vocab]: the logits after each greedy token). With
    all_logits=False only the last prompt position asks for logits (as llama-cli does), which
    changes the last layer's products (one row, not all) and so the bits; prompt_logits then
    holds that one row."""
    cp = L.llama_context_default_params()
    cp.n_ctx = 512; cp.n_batch = 512; cp.n_ubatch = 512
    cp.n_threads = threads; cp.n_threads_batch = threads
    cp.flash_attn_type = 0  # disabled: plain softmax attention
    if cb_eval is not None:
        cp.cb_eval = cb_eval
    ctx = L.llama_init_from_model(model, cp)
    row = lambda i: np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, i), shape=(n_vocab,)).copy()
    _decode(ctx, prompt, 0, all_logits)
    if on_prompt_done:
        on_prompt_done()
    rows = np.stack([row(i) for i in range(len(prompt))] if all_logits else [row(len(prompt) - 1)])
    gen, gen_logits, last = [], [], rows[-1]
    for k in range(n_gen):
        t = int(np.argmax(last))
        gen.append(t)
        _decode(ctx, [t], len(prompt) + k, True)
        last = row(0)
        gen_logits.append(last)
    L.llama_free(ctx)
    return rows, gen, np.stack(gen_logits) if gen_logits else np.zeros((0, n_vocab), np.float32)
