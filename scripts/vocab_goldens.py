#!/usr/bin/env python3
"""llama.cpp's own answers about the vocabulary fixtures, for tests/vocab_special.rs and the
infill tests: every special token its vocab API exposes, whether it adds BOS/EOS, each token's
attributes, the end-of-generation set, and the fill-in-the-middle prompts its server builds
(`format_prompt_infill` in tools/server/server-common.cpp, re-stated here over llama.cpp's
tokenizer and its FIM token functions).

Needs llama.cpp's Python package (../shared/tools/install-peer.sh; llama-cpp-python 0.3.36).

    python3 scripts/vocab_goldens.py      # writes tests/fixtures/golden/vocab-special.json
"""

import ctypes
import json
from pathlib import Path

import llama_cpp as L

REPO = Path(__file__).resolve().parents[1]
VOCABS = sorted((REPO / "tests" / "fixtures" / "vocab").glob("*.gguf"))
OUT = REPO / "tests" / "fixtures" / "golden" / "vocab-special.json"

NULL = -1

# (prefix, suffix, extra [(filename or None, text)], prompt text, n_batch, n_predict, n_ctx,
#  spm_infill)
INFILL = [
    ("def add(a, b):\n    ", "\n\nprint(add(1, 2))\n", [], "", 2048, -1, 4096, False),
    ("fn main() {\n    let x = ", ";\n    println!(\"{x}\");\n}\n", [], "", 2048, -1, 4096, False),
    ("import os\n", "", [], "", 2048, -1, 4096, False),
    ("", "return x\n", [], "", 2048, -1, 4096, False),
    ("# Grüße 🦙\nclass A:\n", "    pass\n", [("util.py", "def helper():\n    return 42\n"),
                                               (None, "x = 1\n")], "", 2048, -1, 4096, False),
    ("a = [1, 2, 3]\n" * 30, "b = sum(a)\n" * 20, [], "", 64, 16, 512, False),
    ("x = ", "\ny = 2\n", [("a.py", "z = 3\n" * 40)], "", 64, 8, 96, False),
    ("int f(int n) {\n  return ", ";\n}\n", [], "n *", 2048, -1, 4096, False),
    ("def f():\n    ", "\n", [], "", 2048, -1, 4096, True),
]

ATTRS = {
    "undefined": L.LLAMA_TOKEN_ATTR_UNDEFINED,
    "unknown": L.LLAMA_TOKEN_ATTR_UNKNOWN,
    "unused": L.LLAMA_TOKEN_ATTR_UNUSED,
    "normal": L.LLAMA_TOKEN_ATTR_NORMAL,
    "control": L.LLAMA_TOKEN_ATTR_CONTROL,
    "user_defined": L.LLAMA_TOKEN_ATTR_USER_DEFINED,
    "byte": L.LLAMA_TOKEN_ATTR_BYTE,
    "normalized": L.LLAMA_TOKEN_ATTR_NORMALIZED,
    "lstrip": L.LLAMA_TOKEN_ATTR_LSTRIP,
    "rstrip": L.LLAMA_TOKEN_ATTR_RSTRIP,
    "single_word": L.LLAMA_TOKEN_ATTR_SINGLE_WORD,
}


def tokenize(vocab, text):
    data = text.encode("utf-8")
    n = len(data) + 16
    buf = (L.llama_token * n)()
    got = L.llama_tokenize(vocab, data, len(data), buf, n, False, False)
    assert got >= 0, text
    return list(buf[:got])


def infill(vocab, prefix, suffix, extra, prompt, n_batch, n_predict, n_ctx, spm):
    """format_prompt_infill, line by line."""
    extra_tokens = []
    rep, sep = L.llama_vocab_fim_rep(vocab), L.llama_vocab_fim_sep(vocab)
    tokens_prefix = tokenize(vocab, prefix)
    tokens_suffix = tokenize(vocab, suffix)
    if rep != NULL:
        extra_tokens += [rep] + tokenize(vocab, "myproject\n")
    for filename, text in extra:
        if sep != NULL:
            extra_tokens += [sep] + tokenize(vocab, (filename or "tmp") + "\n")
        else:
            extra_tokens += tokenize(vocab, "\n\n--- snippet ---\n\n")
        extra_tokens += tokenize(vocab, text)
    if sep != NULL:
        extra_tokens += [sep] + tokenize(vocab, "filename\n")
    tokens_prompt = tokenize(vocab, prompt) if prompt else []
    n_prefix_take = min(len(tokens_prefix), 3 * (n_batch // 4))
    n_suffix_take = min(len(tokens_suffix), max(0, (n_batch // 4) - (2 + len(tokens_prompt))))
    n_extra_take = min(max(0, n_ctx - n_batch - 2 * n_predict), len(extra_tokens))
    tokens_prefix = tokens_prefix[len(tokens_prefix) - n_prefix_take:]
    tokens_suffix = tokens_suffix[:n_suffix_take]
    tokens_prefix = [L.llama_vocab_fim_pre(vocab)] + tokens_prefix + tokens_prompt
    tokens_suffix = [L.llama_vocab_fim_suf(vocab)] + tokens_suffix
    embd_inp = tokens_suffix if spm else tokens_prefix
    embd_end = tokens_prefix if spm else tokens_suffix
    if L.llama_vocab_get_add_bos(vocab):
        embd_inp = [L.llama_vocab_bos(vocab)] + embd_inp
    embd_inp = extra_tokens[len(extra_tokens) - n_extra_take:] + embd_inp
    return embd_inp + embd_end + [L.llama_vocab_fim_mid(vocab)], tokens_prompt


def main():
    L.llama_backend_init()
    out = {"llama_cpp_python": L.__version__, "vocabs": {}}
    for path in VOCABS:
        p = L.llama_model_default_params()
        p.vocab_only = True
        model = L.llama_model_load_from_file(str(path).encode(), p)
        assert model, path
        vocab = L.llama_model_get_vocab(model)
        n = L.llama_vocab_n_tokens(vocab)
        special = {name: getattr(L, f"llama_vocab_{name}")(vocab) for name in
                   ["bos", "eos", "eot", "sep", "nl", "pad", "fim_pre", "fim_suf", "fim_mid",
                    "fim_pad", "fim_rep", "fim_sep"]}
        attrs = {}
        for t in range(n):
            a = L.llama_vocab_get_attr(vocab, t)
            names = [k for k, v in ATTRS.items() if v and a & v]
            if names != ["normal"]:
                attrs[str(t)] = names
        entry = {
            "n_tokens": n,
            "special": {k: (None if v == NULL else v) for k, v in special.items()},
            "add_bos": bool(L.llama_vocab_get_add_bos(vocab)),
            "add_eos": bool(L.llama_vocab_get_add_eos(vocab)),
            "eog": [t for t in range(n) if L.llama_vocab_is_eog(vocab, t)],
            "control": [t for t in range(n) if L.llama_vocab_is_control(vocab, t)],
            "attrs_not_just_normal": attrs,
            "infill": [],
        }
        if NULL not in (special["fim_pre"], special["fim_suf"], special["fim_mid"]):
            for prefix, suffix, extra, prompt, nb, npred, nctx, spm in INFILL:
                ids, prompt_ids = infill(vocab, prefix, suffix, extra, prompt, nb, npred, nctx,
                                         spm)
                entry["infill"].append({
                    "prefix": prefix, "suffix": suffix,
                    "extra": [{"filename": f, "text": t} for f, t in extra],
                    "prompt": prompt, "prompt_ids": prompt_ids, "n_batch": nb,
                    "n_predict": npred, "n_ctx": nctx, "spm_infill": spm, "ids": ids,
                })
        out["vocabs"][path.name] = entry
        L.llama_model_free(model)
    OUT.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for name, e in out["vocabs"].items():
        print(f"{name}: {len(e['eog'])} eog, {len(e['infill'])} infill cases, "
              f"special {e['special']}")


if __name__ == "__main__":
    main()
