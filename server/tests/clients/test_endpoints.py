"""(j) the llama-server endpoints besides the OpenAI ones, and llama-server's extra fields in the
OpenAI responses (timings, system_fingerprint, cached tokens)."""

import os

import pytest

from conftest import (
    CHATML_PROMPT,
    EXPECTED,
    QUESTION,
    assert_error,
    assert_serving,
    error_body,
    expected_slots,
    get,
    metrics,
    post,
)

MESSAGES = [{"role": "user", "content": QUESTION}]


def test_health(base_url):
    r = get(base_url, "/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_models_lists_the_model(base_url):
    r = get(base_url, "/v1/models")
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert body["object"] == "list"
    assert len(body["data"]) == 1
    m = body["data"][0]
    assert m["object"] == "model"
    assert isinstance(m["id"], str) and m["id"]
    assert isinstance(m["created"], int)
    assert m["owned_by"] == "llamette"
    assert isinstance(m.get("meta"), dict), f"no meta object: {m!r}"
    model_file = os.environ.get("LLAMETTE_MODEL_FILE")
    if model_file:
        # No --alias: the id is the model's file (as given to -m, or its base name).
        assert os.path.basename(m["id"]) == os.path.basename(model_file), m["id"]


def test_openai_models_list(client):
    ids = [m.id for m in client.models.list().data]
    assert len(ids) == 1 and ids[0]


def _tokenize(base_url, text, **kw):
    r = post(base_url, "/tokenize", {"content": text, **kw})
    assert r.status_code == 200, r.text[:300]
    return r.json()["tokens"]


TEXTS = [
    "Hello, world!",
    "  leading spaces, tabs\tand\nnewlines\n\n",
    "Unicode: café, naïve, 日本語, emoji 🌍🚀, math ∑∫",
    "<|im_start|>user\nhi<|im_end|>",
]


@pytest.mark.parametrize("text", TEXTS, ids=["ascii", "whitespace", "unicode", "special"])
def test_tokenize_detokenize_round_trip(base_url, text):
    toks = _tokenize(base_url, text, add_special=False)
    assert toks and all(isinstance(t, int) and t >= 0 for t in toks)
    r = post(base_url, "/detokenize", {"tokens": toks})
    assert r.status_code == 200, r.text[:300]
    assert r.json()["content"] == text


def test_tokenize_with_pieces(base_url):
    text = "Hello 🌍 world"
    plain = _tokenize(base_url, text, add_special=False)
    pieces = _tokenize(base_url, text, add_special=False, with_pieces=True)
    assert [p["id"] for p in pieces] == plain
    joined = b""
    for p in pieces:
        piece = p["piece"]
        # A piece that is not valid UTF-8 alone comes as its list of bytes.
        joined += piece.encode() if isinstance(piece, str) else bytes(piece)
    assert joined.decode() == text


def test_tokenize_special_tokens(base_url):
    toks = _tokenize(base_url, "<|im_start|>", add_special=False)
    assert len(toks) == 1, f"<|im_start|> should be one special token, got {toks}"


def test_apply_template(base_url, model_id):
    r = post(base_url, "/apply-template", {"messages": MESSAGES})
    assert r.status_code == 200, r.text[:300]
    prompt = r.json()["prompt"]
    assert QUESTION in prompt
    # The chat endpoint generates from this very prompt.
    c = post(base_url, "/v1/completions", {"model": model_id, "prompt": prompt, "temperature": 0, "max_tokens": 32})
    assert c.status_code == 200, c.text[:300]
    assert c.json()["choices"][0]["text"].strip() == EXPECTED


def test_props(base_url):
    r = get(base_url, "/props")
    assert r.status_code == 200, r.text[:300]
    p = r.json()
    assert isinstance(p["default_generation_settings"], dict)
    assert p["total_slots"] == expected_slots()
    if "chat_template" in p:
        assert "im_start" in p["chat_template"]


def test_metrics(base_url, model_id):
    before = metrics(base_url)
    assert before is not None, "GET /metrics did not answer 200"
    r = get(base_url, "/metrics")
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers.get("Content-Type")
    assert "# TYPE llamacpp:prompt_tokens_total counter" in r.text
    for name in ("llamacpp:prompt_tokens_total", "llamacpp:tokens_predicted_total",
                 "llamacpp:requests_processing", "llamacpp:requests_deferred"):
        assert name in before, f"{name} missing from /metrics"
    c = post(base_url, "/v1/completions", {"model": model_id, "prompt": "Once upon a time",
                                           "temperature": 0, "max_tokens": 5})
    assert c.status_code == 200
    after = metrics(base_url)
    assert after["llamacpp:tokens_predicted_total"] >= before["llamacpp:tokens_predicted_total"] + 5
    assert after["llamacpp:prompt_tokens_total"] > before["llamacpp:prompt_tokens_total"]
    assert after["llamacpp:requests_processing"] == 0


def test_infill(base_url):
    r = post(base_url, "/infill", {
        "input_prefix": "def add(a, b):\n    return ",
        "input_suffix": "\n\nprint(add(1, 2))\n",
        "n_predict": 8,
        "temperature": 0,
    })
    if r.status_code == 200:
        assert isinstance(r.json()["content"], str)
    else:
        # SmolLM2's vocabulary has no fill-in-the-middle tokens: llama-server answers 501.
        assert r.status_code in (400, 501), r.text[:300]
        assert error_body(r)["type"] in ("not_supported_error", "invalid_request_error")
    assert_serving(base_url, "/infill")


TIMINGS = ["cache_n", "prompt_n", "prompt_ms", "prompt_per_token_ms", "prompt_per_second",
           "predicted_n", "predicted_ms", "predicted_per_token_ms", "predicted_per_second"]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_llama_server_fields(base_url, model_id, path):
    body = {"model": model_id, "temperature": 0, "max_tokens": 16, "cache_prompt": False}
    body.update({"messages": MESSAGES} if "chat" in path else {"prompt": CHATML_PROMPT})
    r = post(base_url, path, body)
    assert r.status_code == 200, r.text[:300]
    b = r.json()
    assert isinstance(b.get("system_fingerprint"), str) and b["system_fingerprint"]
    assert b["model"]
    assert b["choices"][0].get("logprobs") is None  # not asked for
    u = b["usage"]
    assert isinstance(u["prompt_tokens_details"]["cached_tokens"], int)
    t = b["timings"]
    for k in TIMINGS:
        assert isinstance(t.get(k), (int, float)), f"timings.{k} missing: {t!r}"
    assert t["prompt_n"] + t["cache_n"] == u["prompt_tokens"], (t, u)
    assert t["predicted_n"] == u["completion_tokens"], (t, u)
    assert u["prompt_tokens_details"]["cached_tokens"] == t["cache_n"]


def test_prompt_cache_reused(base_url, model_id):
    body = {"model": model_id, "temperature": 0, "max_tokens": 4, "cache_prompt": True,
            "prompt": "The history of the Roman Empire spans many centuries. " * 8}
    first = post(base_url, "/v1/completions", body).json()
    second = post(base_url, "/v1/completions", body).json()
    assert second["choices"][0]["text"] == first["choices"][0]["text"]
    assert second["timings"]["cache_n"] > 0, "the repeated prompt was not served from the cache"
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] == second["timings"]["cache_n"]
    assert second["usage"]["prompt_tokens"] == first["usage"]["prompt_tokens"]


def test_not_found_layout(base_url):
    assert_error(get(base_url, "/v1/nothing-here"), 404, "not_found_error")
