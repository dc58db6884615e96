"""(c) /v1/embeddings through the real `openai` package (which asks for base64 by default) and
raw, as floats."""

import math

from conftest import N_EMBD, post


def _check_vec(v):
    assert len(v) == N_EMBD, f"embedding has {len(v)} floats, want {N_EMBD}"
    assert all(isinstance(x, float) and math.isfinite(x) for x in v)
    assert any(x != 0.0 for x in v)


def test_embedding_one_input(client, model_id):
    r = client.embeddings.create(model=model_id, input="The quick brown fox")
    assert r.object == "list"
    assert len(r.data) == 1
    assert r.data[0].object == "embedding"
    assert r.data[0].index == 0
    _check_vec(r.data[0].embedding)
    assert r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens


def test_embedding_three_inputs_in_order(client, model_id):
    texts = ["The quick brown fox", "jumps over", "the lazy dog"]
    r = client.embeddings.create(model=model_id, input=texts)
    assert [d.index for d in r.data] == [0, 1, 2]
    for d in r.data:
        _check_vec(d.embedding)
    # Each input's vector is the one it gets alone.
    for i, t in enumerate(texts):
        alone = client.embeddings.create(model=model_id, input=t).data[0].embedding
        assert _close(alone, r.data[i].embedding), f"input {i} differs batched and alone"
    assert not _close(r.data[0].embedding, r.data[1].embedding)


def test_embedding_identical_inputs_identical_vectors(client, model_id):
    a = client.embeddings.create(model=model_id, input="Paris is in France.").data[0].embedding
    b = client.embeddings.create(model=model_id, input="Paris is in France.").data[0].embedding
    assert a == b, "the same input gave different vectors in two requests"
    r = client.embeddings.create(model=model_id, input=["Paris is in France.", "x", "Paris is in France."])
    assert _close(r.data[0].embedding, r.data[2].embedding)
    assert _close(r.data[0].embedding, a)


def test_embedding_floats_raw(base_url, model_id):
    r = post(base_url, "/v1/embeddings",
             {"input": ["hello", "world"], "model": model_id, "encoding_format": "float"})
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert body["object"] == "list"
    assert isinstance(body["model"], str)
    assert [d["index"] for d in body["data"]] == [0, 1]
    for d in body["data"]:
        assert d["object"] == "embedding"
        _check_vec(d["embedding"])
    assert body["usage"]["prompt_tokens"] > 0
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"]


def test_embedding_token_ids_input(base_url, model_id):
    """OpenAI also accepts pre-tokenized input (a list of token ids)."""
    r = post(base_url, "/v1/embeddings",
             {"input": [[19556, 905]], "model": model_id, "encoding_format": "float"})
    assert r.status_code == 200, r.text[:300]
    _check_vec(r.json()["data"][0]["embedding"])


def _close(a, b, tol=1e-4):
    """Same vector up to batching's float reordering: cosine > 1 - tol and close norms."""
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    return len(a) == len(b) and dot / (na * nb) > 1 - tol and abs(na - nb) <= tol * max(na, nb)
