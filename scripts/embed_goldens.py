#!/usr/bin/env python3
"""llama.cpp's embeddings of SmolLM2-135M-Instruct (models/, scripts/fetch-smollm2.sh) for
tests/embed.rs: llama-cpp-python 0.3.36's `Llama(embedding=True, pooling_type=...)` and its
`embed()` (one llama_batch, a sequence id per input, llama_get_embeddings_seq for pooled
vectors and llama_get_embeddings_ith for per-token rows), unnormalized and L2-normalized,
with the token ids each input became.

Needs llama.cpp's Python package (../shared/tools/install-peer.sh).

    python3 scripts/embed_goldens.py   # writes tests/fixtures/golden/smollm2-embeddings.json
"""

import json
from pathlib import Path

import llama_cpp

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "smollm2-135m-instruct.q4_1.gguf"
OUT = REPO / "tests" / "fixtures" / "golden" / "smollm2-embeddings.json"

TEXTS = [
    "def add(a, b):\n    return a + b\n",
    "The capital of France is Paris.",
    "Grüße aus Köln — 日本語 🦙",
]

POOLINGS = {
    "mean": llama_cpp.LLAMA_POOLING_TYPE_MEAN,
    "last": llama_cpp.LLAMA_POOLING_TYPE_LAST,
    "cls": llama_cpp.LLAMA_POOLING_TYPE_CLS,
    "none": llama_cpp.LLAMA_POOLING_TYPE_NONE,
}


def main():
    out = {"llama_cpp_python": llama_cpp.__version__, "model": MODEL.name, "texts": TEXTS}
    for name, pooling in POOLINGS.items():
        llm = llama_cpp.Llama(model_path=str(MODEL), embedding=True, pooling_type=pooling,
                              n_ctx=512, n_batch=512, n_ubatch=512, n_threads=2,
                              verbose=False)
        if "tokens" not in out:
            out["tokens"] = [llm.tokenize(t.encode("utf-8")) for t in TEXTS]
        if name == "none":
            # One text per call: llama-cpp-python 0.3.36 reads the per-token rows of every
            # sequence after the first of a batch from a wrong offset (it advances `pos` by
            # the tokens of a sequence, not by their floats).
            out[name] = [llm.embed([t], normalize=False)[0] for t in TEXTS[:2]]
            out[name + "_l2"] = [llm.embed([t], normalize=True)[0] for t in TEXTS[:2]]
        else:
            out[name] = llm.embed(TEXTS, normalize=False)
            out[name + "_l2"] = llm.embed(TEXTS, normalize=True)
        del llm
    OUT.write_text(json.dumps(out) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(TEXTS)} texts, poolings {', '.join(POOLINGS)}")


if __name__ == "__main__":
    main()
