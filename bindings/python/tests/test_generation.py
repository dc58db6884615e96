"""Generation against the goldens: SmolLM2's greedy chat answer and llama.cpp's greedy token ids
(tests/fixtures/golden/*.json), streaming vs not, the stop rules, sampling options."""

import itertools

import pytest

from conftest import PARIS, QUESTION, golden
from llamette import Llama, StopReason


def greedy_ids(llm, prompt, n):
    it = llm.generate(prompt, temp=0, repeat_penalty=1.0)
    try:
        return list(itertools.islice(it, n))
    finally:
        it.close()


def test_smollm2_greedy_chat_answer(smollm2):
    out = smollm2.create_chat_completion(messages=QUESTION, temperature=0)
    choice = out["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": PARIS}
    assert choice["finish_reason"] == "stop"
    assert out["object"] == "chat.completion"
    prompt = smollm2.apply_chat_template(QUESTION, tokenize=True)
    assert out["usage"] == {"prompt_tokens": len(prompt), "completion_tokens": 7,
                            "total_tokens": len(prompt) + 7}
    # The same again (the context's prefix is reused), and without the repeat penalty.
    out = smollm2.create_chat_completion(messages=QUESTION, temperature=0, repeat_penalty=1.0)
    assert out["choices"][0]["message"]["content"] == PARIS


def test_smollm2_chat_prompt_is_chatml(smollm2):
    text = smollm2.apply_chat_template(QUESTION)
    assert text == ("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                    "<|im_start|>assistant\n")
    # ChatML ids are the string tokenized with special tokens parsed.
    assert smollm2.apply_chat_template(QUESTION, tokenize=True) == smollm2.tokenize(
        text.encode(), add_bos=False, special=True)
    assert smollm2.tokenize(b"<|im_end|>", add_bos=False, special=True)[0] in \
        smollm2.chat_stop_tokens()


def test_smollm2_greedy_ids_equal_llama_cpp(smollm2):
    g = golden("smollm2-135m-instruct.q4_1.json")
    assert g["n_vocab"] == smollm2.n_vocab() == 49152
    for case in g["cases"]:
        n = min(48, len(case["greedy"]))
        assert greedy_ids(smollm2, case["prompt"], n) == case["greedy"][:n]


@pytest.mark.parametrize("n_threads", [1, 2])
def test_tiny_greedy_ids_equal_llama_cpp(tiny_path, n_threads):
    g = golden("tiny-codellama.q8_0.json")
    with Llama(model_path=tiny_path, n_ctx=128, n_threads=n_threads) as llm:
        for case in g["cases"]:
            assert greedy_ids(llm, case["prompt"], 32) == case["greedy"]
        if n_threads > 1:
            assert llm._pool.batches > 0  # the pool did run batches


def test_tiny_completion_text_is_the_golden_ids_text(tiny):
    case = golden("tiny-codellama.q8_0.json")["cases"][0]
    out = tiny(case["prompt"], max_tokens=32, temperature=0, repeat_penalty=1.0)
    want = tiny.detokenize(case["greedy"]).decode("utf-8", "replace")
    assert out["choices"][0]["text"] == want
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["usage"] == {"prompt_tokens": 8, "completion_tokens": 32, "total_tokens": 40}
    assert out["object"] == "text_completion"
    assert set(out) == {"id", "object", "created", "model", "choices", "usage"}
    assert out["choices"][0]["logprobs"] is None and out["choices"][0]["index"] == 0


def test_streaming_yields_the_same_text(smollm2):
    prompt = "def fibonacci(n):"
    full = smollm2(prompt, max_tokens=24, temperature=0)
    chunks = list(smollm2(prompt, max_tokens=24, temperature=0, stream=True))
    assert all(c["id"] == chunks[0]["id"] for c in chunks)
    assert all(c["object"] == "text_completion" for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * (len(chunks) - 1) + [
        "length"]
    assert chunks[-1]["choices"][0]["text"] == ""
    assert len(chunks) > 5
    assert "".join(c["choices"][0]["text"] for c in chunks) == full["choices"][0]["text"]

    chat = list(smollm2.create_chat_completion(messages=QUESTION, temperature=0, stream=True))
    assert chat[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert chat[-1]["choices"][0]["delta"] == {}
    assert chat[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["object"] == "chat.completion.chunk" for c in chat)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chat)
    assert text == PARIS


def test_stop_rules(smollm2_path):
    with Llama(model_path=smollm2_path, n_ctx=256) as llm:
        def answer(**kw):
            out = llm.create_chat_completion(messages=QUESTION, temperature=0, **kw)
            return out["choices"][0]["message"]["content"], out["choices"][0]["finish_reason"]

        # A stop string: the text before it, never the string itself.
        assert answer(stop=[" Paris"]) == ("The capital of France is", "stop")
        assert answer(stop=" Paris") == ("The capital of France is", "stop")
        assert answer(stop=["xyz", "France"]) == ("The capital of ", "stop")
        # max_tokens.
        assert answer(max_tokens=3) == ("The capital of", "length")
        # Streaming honours stop strings too.
        chunks = list(llm.create_chat_completion(messages=QUESTION, temperature=0,
                                                 stop=[" Paris"], stream=True))
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == \
            "The capital of France is"
        n_prompt = len(llm.apply_chat_template(QUESTION, tokenize=True))
    # A full context.
    with Llama(model_path=smollm2_path, n_ctx=n_prompt + 2) as llm:
        out = llm.create_chat_completion(messages=QUESTION, temperature=0)
        assert out["choices"][0]["message"]["content"] == "The capital"
        assert out["choices"][0]["finish_reason"] == "length"


def test_echo_and_prefix_reuse(tiny_path):
    case = golden("tiny-codellama.q8_0.json")["cases"][1]
    with Llama(model_path=tiny_path, n_ctx=128) as llm:
        a = llm(case["prompt"], max_tokens=8, temperature=0, repeat_penalty=1.0)
        # A shorter prompt that shares a prefix, then the first one again: the same answers as
        # from a fresh context.
        b = llm(case["prompt"][:20], max_tokens=8, temperature=0, repeat_penalty=1.0)
        a2 = llm(case["prompt"], max_tokens=8, temperature=0, repeat_penalty=1.0)
        assert a2["choices"][0]["text"] == a["choices"][0]["text"]
        e = llm(case["prompt"], max_tokens=8, temperature=0, repeat_penalty=1.0, echo=True)
        prefix = llm.detokenize(case["prompt"]).decode("utf-8", "replace")
        assert e["choices"][0]["text"] == prefix + a["choices"][0]["text"]
    with Llama(model_path=tiny_path, n_ctx=128) as fresh:
        b2 = fresh(case["prompt"][:20], max_tokens=8, temperature=0, repeat_penalty=1.0)
        assert b2["choices"][0]["text"] == b["choices"][0]["text"]


def test_sampling_is_seeded(tiny):
    prompt = golden("tiny-codellama.q8_0.json")["cases"][0]["prompt"]
    kw = dict(max_tokens=24, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0)
    a = tiny(prompt, seed=42, **kw)["choices"][0]["text"]
    assert tiny(prompt, seed=42, **kw)["choices"][0]["text"] == a
    assert tiny(prompt, seed=43, **kw)["choices"][0]["text"] != a
    # No seed: the Llama's seed, so runs repeat.
    assert tiny(prompt, **kw)["choices"][0]["text"] == tiny(prompt, **kw)["choices"][0]["text"]
    # Streaming draws the same tokens.
    s = "".join(c["choices"][0]["text"] for c in tiny(prompt, seed=42, stream=True, **kw))
    assert s == a


def test_logit_bias_bans_a_token(tiny):
    case = golden("tiny-codellama.q8_0.json")["cases"][0]
    first = case["greedy"][0]
    ids = greedy_ids(tiny, case["prompt"], 1)
    assert ids == [first]
    it = tiny.generate(case["prompt"], temp=0, logit_bias={first: float("-inf")})
    assert next(it) != first
    it.close()


def test_leaving_a_stream_early_stops_it(smollm2):
    stream = smollm2("Once upon a time", max_tokens=200, temperature=0, stream=True)
    first = next(stream)
    assert first["choices"][0]["finish_reason"] is None
    stream.close()
    # The Llama is free again, and gives the same answer as before.
    out = smollm2.create_chat_completion(messages=QUESTION, temperature=0)
    assert out["choices"][0]["message"]["content"] == PARIS


def test_a_second_generation_inside_an_open_stream_is_refused(tiny):
    prompt = golden("tiny-codellama.q8_0.json")["cases"][0]["prompt"]
    stream = tiny(prompt, max_tokens=8, temperature=0, stream=True)
    next(stream)
    with pytest.raises(RuntimeError, match="already generating"):
        tiny(prompt, max_tokens=2)
    stream.close()
    assert tiny(prompt, max_tokens=2)["usage"]["completion_tokens"] == 2


def test_model_information(smollm2, tiny):
    assert smollm2.architecture() == "llama"
    assert smollm2.n_ctx() == 512
    assert smollm2.metadata_value("general.architecture") == "llama"
    assert smollm2.metadata_value("no.such.key") is None
    info = tiny.info
    assert info["n_vocab"] == 1024 and tiny.n_vocab() == 1024
    assert tiny.token_bos() == 1 and tiny.token_eos() == 2
    assert tiny.is_eog(2) and not tiny.is_eog(100)


def test_eval_and_logits(tiny):
    case = golden("tiny-codellama.q8_0.json")["cases"][0]
    tiny.reset()
    tiny.eval(case["prompt"])
    assert tiny.n_tokens == len(case["prompt"])
    logits = tiny.logits()
    assert len(logits) == 1024
    assert max(range(1024), key=logits.__getitem__) == case["greedy"][0]


def test_stop_reason_enum_matches_header():
    assert [r.name for r in StopReason] == ["LENGTH", "EOG", "STRING", "CONTEXT_FULL",
                                             "CALLBACK", "ABORTED", "GRAMMAR"]
