"""Embeddings (Llama(embedding=True).embed / create_embedding) against llama.cpp's: the
SmolLM2 vectors llama-cpp-python 0.3.36 computes (tests/fixtures/golden/
smollm2-embeddings.json, scripts/embed_goldens.py), in its return layouts."""

import math

import pytest

from conftest import golden
from llamette import Llama

G = golden("smollm2-embeddings.json")


def rel(a, b):
    scale = max(abs(x) for x in b)
    return max(abs(x - y) for x, y in zip(a, b)) / scale


@pytest.fixture(scope="module")
def mean_llm(smollm2_path):
    with Llama(model_path=smollm2_path, n_ctx=512, embedding=True, pooling_type=1) as llm:
        yield llm


def test_mean_pooled_embeddings_equal_llama_cpps(mean_llm):
    assert [mean_llm.tokenize(t.encode()) for t in G["texts"]] == G["tokens"]
    got = mean_llm.embed(G["texts"])
    assert len(got) == 3 and all(len(v) == mean_llm.n_embd() == 576 for v in got)
    for g, w in zip(got, G["mean"]):
        assert rel(g, w) < 5e-7
    for g, w in zip(mean_llm.embed(G["texts"], normalize=True), G["mean_l2"]):
        assert rel(g, w) < 5e-7
        assert abs(math.sqrt(sum(x * x for x in g)) - 1.0) < 1e-9
    # One text: one vector; with the count of tokens evaluated.
    one, n = mean_llm.embed(G["texts"][1], return_count=True)
    assert n == len(G["tokens"][1]) and rel(one, G["mean"][1]) < 5e-7


def test_create_embedding_has_llama_cpp_pythons_layout(mean_llm):
    out = mean_llm.create_embedding(G["texts"][:2], model="smol")
    assert list(out) == ["object", "data", "model", "usage"]
    assert out["object"] == "list" and out["model"] == "smol"
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert all(d["object"] == "embedding" for d in out["data"])
    n = len(G["tokens"][0]) + len(G["tokens"][1])
    assert out["usage"] == {"prompt_tokens": n, "total_tokens": n}
    for d, w in zip(out["data"], G["mean"]):
        assert rel(d["embedding"], w) < 5e-7


def test_other_poolings_and_per_token_rows(smollm2_path):
    for pooling, name in [(3, "last"), (2, "cls")]:
        with Llama(model_path=smollm2_path, n_ctx=512, embedding=True,
                   pooling_type=pooling) as llm:
            # A row of the final norm's output: llama.cpp's bits (as f32).
            assert llm.embed(G["texts"]) == [[float(x) for x in v] for v in G[name]]
    # SmolLM2's file names no pooling: none, each token's row.
    with Llama(model_path=smollm2_path, n_ctx=512, embedding=True) as llm:
        rows = llm.embed(G["texts"][0])
        assert len(rows) == len(G["tokens"][0])
        assert rows == G["none"][0]
        both = llm.embed(G["texts"][:2])
        assert both == G["none"]


def test_embedding_needs_the_flag(tiny):
    with pytest.raises(RuntimeError, match="embedding=True"):
        tiny.embed("x")
    with pytest.raises(ValueError, match="pooling_type"):
        Llama(model_path=tiny.model_path, embedding=True, pooling_type=7)


def test_langchains_constructor_arguments_are_accepted(smollm2_path):
    # What LangChain's LlamaCppEmbeddings passes to Llama (langchain_community 0.3).
    params = dict(rope_freq_scale=None, rope_freq_base=None, n_ctx=512, n_parts=-1, seed=0,
                  f16_kv=False, logits_all=False, vocab_only=False, use_mlock=False,
                  n_threads=None, n_batch=512, verbose=False, device=None)
    with Llama(model_path=smollm2_path, embedding=True, pooling_type=1, **params) as llm:
        out = llm.create_embedding(G["texts"])
        assert all(rel(d["embedding"], w) < 5e-7 for d, w in zip(out["data"], G["mean"]))
    with pytest.raises(NotImplementedError, match="lora_path"):
        Llama(model_path=smollm2_path, lora_path="adapter.gguf")
