"""(a) /v1/chat/completions through the real `openai` package."""

import pytest

from conftest import EXPECTED, QUESTION

MESSAGES = [{"role": "user", "content": QUESTION}]


def check_usage(usage):
    assert usage is not None, "no usage"
    assert usage.prompt_tokens > 0, usage
    assert usage.completion_tokens > 0, usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, usage


def test_chat_greedy(client, model_id):
    r = client.chat.completions.create(
        model=model_id, messages=MESSAGES, temperature=0, max_tokens=64
    )
    assert r.object == "chat.completion"
    assert isinstance(r.id, str) and r.id
    assert isinstance(r.created, int)
    assert len(r.choices) == 1
    c = r.choices[0]
    assert c.index == 0
    assert c.message.role == "assistant"
    assert c.message.content.strip() == EXPECTED
    assert c.finish_reason == "stop"
    check_usage(r.usage)


def test_chat_greedy_streamed_with_usage(client, model_id):
    stream = client.chat.completions.create(
        model=model_id,
        messages=MESSAGES,
        temperature=0,
        max_tokens=64,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks, "no chunks"
    ids = {ch.id for ch in chunks}
    assert len(ids) == 1, f"chunks carry different ids: {ids}"
    assert all(ch.object == "chat.completion.chunk" for ch in chunks)

    with_choices = [ch for ch in chunks if ch.choices]
    first = with_choices[0].choices[0]
    assert first.delta.role == "assistant", f"first chunk's delta has no role: {first.delta!r}"
    assert not first.delta.content, f"first chunk's delta carries content: {first.delta!r}"

    text = "".join(ch.choices[0].delta.content or "" for ch in with_choices)
    assert text.strip() == EXPECTED

    last = with_choices[-1].choices[0]
    assert last.finish_reason == "stop"
    assert not last.delta.content and not last.delta.role, f"last delta not empty: {last.delta!r}"
    assert all(ch.choices[0].finish_reason is None for ch in with_choices[:-1])

    # include_usage: one final chunk with no choices and the usage; no other chunk has usage.
    assert not chunks[-1].choices, "the last chunk (usage) must have choices: []"
    check_usage(chunks[-1].usage)
    assert all(ch.usage is None for ch in chunks[:-1])
    n_content = sum(1 for ch in with_choices if ch.choices[0].delta.content)
    assert chunks[-1].usage.completion_tokens >= n_content


def test_chat_stream_and_non_stream_agree(client, model_id):
    kw = dict(model=model_id, messages=[{"role": "user", "content": "Name three colors."}],
              temperature=0, max_tokens=24)
    whole = client.chat.completions.create(**kw)
    parts = client.chat.completions.create(stream=True, **kw)
    chunks = [ch for ch in parts if ch.choices]
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_chat_max_tokens_length(client, model_id, stream):
    kw = dict(model=model_id, messages=MESSAGES, temperature=0, max_tokens=3)
    if stream:
        chunks = list(client.chat.completions.create(
            stream=True, stream_options={"include_usage": True}, **kw))
        finish = [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1]
        usage = chunks[-1].usage
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    else:
        r = client.chat.completions.create(**kw)
        finish, usage, text = r.choices[0].finish_reason, r.usage, r.choices[0].message.content
    assert finish == "length"
    check_usage(usage)
    assert usage.completion_tokens == 3
    assert EXPECTED.startswith(text), f"{text!r} is not the start of the greedy answer"


def test_chat_max_completion_tokens(client, model_id):
    """OpenAI's newer spelling of max_tokens."""
    r = client.chat.completions.create(
        model=model_id, messages=MESSAGES, temperature=0, max_completion_tokens=2
    )
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 2


def test_chat_stop_string(client, model_id):
    r = client.chat.completions.create(
        model=model_id, messages=MESSAGES, temperature=0, max_tokens=64, stop=[" Paris"]
    )
    assert r.choices[0].message.content == "The capital of France is"
    assert r.choices[0].finish_reason == "stop"


def test_chat_system_and_multi_turn(client, model_id):
    r = client.chat.completions.create(
        model=model_id,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help you today?"},
            {"role": "user", "content": QUESTION},
        ],
        temperature=0,
        max_tokens=32,
    )
    assert "Paris" in r.choices[0].message.content
    assert r.usage.prompt_tokens > 20


def test_chat_logprobs(client, model_id):
    r = client.chat.completions.create(
        model=model_id, messages=MESSAGES, temperature=0, max_tokens=8,
        logprobs=True, top_logprobs=3,
    )
    c = r.choices[0]
    assert c.logprobs is not None and c.logprobs.content, f"no logprobs: {c!r}"
    entries = c.logprobs.content
    # One entry a generated token (the end-of-turn token may or may not count on either side).
    assert abs(len(entries) - r.usage.completion_tokens) <= 1, (
        f"{len(entries)} logprob entries for {r.usage.completion_tokens} tokens"
    )
    assert "".join(e.token for e in entries).startswith(c.message.content)
    for e in entries:
        assert e.logprob <= 1e-6
        assert 1 <= len(e.top_logprobs) <= 3, e
        best = max(t.logprob for t in e.top_logprobs)
        # Greedy: the chosen token is the most probable one.
        assert abs(e.logprob - best) < 1e-3, f"greedy token {e.token!r} is not the top one: {e!r}"
        assert [t.logprob for t in e.top_logprobs] == sorted((t.logprob for t in e.top_logprobs), reverse=True)
