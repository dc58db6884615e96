"""(b) legacy /v1/completions through the real `openai` package."""

import math

import pytest

from conftest import CHATML_PROMPT, EXPECTED


def test_completion_greedy(client, model_id):
    r = client.completions.create(model=model_id, prompt=CHATML_PROMPT, temperature=0, max_tokens=64)
    assert r.object == "text_completion"
    assert isinstance(r.id, str) and r.id
    assert len(r.choices) == 1
    c = r.choices[0]
    assert c.index == 0
    assert c.text.strip() == EXPECTED
    assert c.finish_reason == "stop"
    u = r.usage
    assert u.prompt_tokens > 0 and u.completion_tokens > 0
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens


def test_completion_stop_string(client, model_id):
    r = client.completions.create(
        model=model_id, prompt=CHATML_PROMPT, temperature=0, max_tokens=64, stop=[" Paris", "zzz"]
    )
    assert r.choices[0].text == "The capital of France is"
    assert r.choices[0].finish_reason == "stop"


def test_completion_stop_string_as_str(client, model_id):
    r = client.completions.create(
        model=model_id, prompt=CHATML_PROMPT, temperature=0, max_tokens=64, stop=" France"
    )
    assert r.choices[0].text == "The capital of"
    assert r.choices[0].finish_reason == "stop"


def test_completion_max_tokens_length(client, model_id):
    r = client.completions.create(model=model_id, prompt=CHATML_PROMPT, temperature=0, max_tokens=3)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 3
    assert EXPECTED.startswith(r.choices[0].text)


@pytest.mark.parametrize("stop", [None, [" Paris"]], ids=["no-stop", "stop"])
def test_completion_streamed(client, model_id, stop):
    chunks = list(client.completions.create(
        model=model_id, prompt=CHATML_PROMPT, temperature=0, max_tokens=64, stream=True, stop=stop
    ))
    with_choices = [ch for ch in chunks if ch.choices]
    assert with_choices, "no chunks with choices"
    assert len({ch.id for ch in chunks}) == 1
    assert all(ch.object == "text_completion" for ch in chunks)
    text = "".join(ch.choices[0].text or "" for ch in with_choices)
    if stop:
        assert text == "The capital of France is"
    else:
        assert text.strip() == EXPECTED
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert all(ch.choices[0].finish_reason is None for ch in with_choices[:-1])


def _completion_logprob_entries(lp):
    """Either OpenAI's legacy layout (tokens / token_logprobs / top_logprobs) or llama-server's
    ({"content": [{"token", "logprob", "top_logprobs": [{"token", "logprob"}]}]}) ->
    [(token, logprob, [(token, logprob)...])]."""
    d = lp.model_dump() if hasattr(lp, "model_dump") else dict(lp)
    if d.get("tokens"):
        tops = d.get("top_logprobs") or [{}] * len(d["tokens"])
        return [
            (t, l, sorted(top.items(), key=lambda kv: -kv[1]))
            for t, l, top in zip(d["tokens"], d["token_logprobs"], tops)
        ]
    extra = getattr(lp, "model_extra", None) or {}
    content = d.get("content") or extra.get("content")
    assert content, f"logprobs in neither layout: {d!r}"
    return [
        (e["token"], e["logprob"], [(t["token"], t["logprob"]) for t in e.get("top_logprobs", [])])
        for e in content
    ]


def test_completion_logprobs(client, model_id):
    r = client.completions.create(
        model=model_id, prompt=CHATML_PROMPT, temperature=0, max_tokens=6, logprobs=3
    )
    c = r.choices[0]
    assert c.logprobs is not None, "no logprobs"
    entries = _completion_logprob_entries(c.logprobs)
    assert len(entries) == r.usage.completion_tokens
    assert "".join(t for t, _, _ in entries) == c.text
    for tok, lp, top in entries:
        assert lp <= 1e-6 and math.isfinite(lp)
        assert 1 <= len(top) <= 3
        assert abs(lp - max(l for _, l in top)) < 1e-3, f"greedy token {tok!r} not the top one: {top}"
