"""Logprobs (llama-cpp-python's completion and chat layouts), prompt logprobs with echo, the
samplers llama-cpp-python names (typical_p, mirostat), logits processors and perf counters.

The reference numbers are llama.cpp's own logits from the golden files (log-softmax in
Python), so these tests check the library against the peer, not against itself."""

import math

import pytest

from conftest import PARIS, QUESTION, golden
from llamette import Llama

GREEDY = dict(temperature=0, repeat_penalty=1.0)


def log_softmax(logits):
    m = max(logits)
    lse = m + math.log(sum(math.exp(x - m) for x in logits))
    return [x - lse for x in logits]


def top(logprobs, n):
    return sorted(range(len(logprobs)), key=lambda i: -logprobs[i])[:n]


@pytest.fixture(scope="module")
def case():
    return golden("tiny-codellama.q8_0.json")["cases"][0]


@pytest.fixture(scope="module")
def tiny_all(tiny_path):
    with Llama(model_path=tiny_path, n_ctx=256, logits_all=True) as llm:
        yield llm


def piece(llm, t):
    return llm.token_to_piece(t).decode("utf-8", "ignore")


def test_completion_logprobs_are_llama_cpps_distribution(tiny, case):
    prompt, greedy = case["prompt"], case["greedy"]
    out = tiny(prompt, max_tokens=4, logprobs=3, **GREEDY)
    lp = out["choices"][0]["logprobs"]
    assert list(lp) == ["tokens", "text_offset", "token_logprobs", "top_logprobs"]
    assert lp["tokens"] == [piece(tiny, t) for t in greedy[:4]]
    # Offsets: from the prompt's length (ids given: its token count), then the text so far.
    text = b""
    want_offsets = []
    for t in greedy[:4]:
        want_offsets.append(len(prompt) + len(text.decode("utf-8", "ignore")))
        text += tiny.token_to_piece(t)
    assert lp["text_offset"] == want_offsets
    # The first token's numbers from llama.cpp's logits after the prompt.
    ref = log_softmax(case["last_logits"])
    assert abs(lp["token_logprobs"][0] - ref[greedy[0]]) < 1e-4
    first = lp["top_logprobs"][0]
    want = {piece(tiny, i): ref[i] for i in top(ref, 3)}
    want[piece(tiny, greedy[0])] = ref[greedy[0]]
    assert list(first) == list(want)
    for k in want:
        assert abs(first[k] - want[k]) < 1e-4, k
    # Greedy: each token is its own most likely alternative.
    for v, alts in zip(lp["token_logprobs"], lp["top_logprobs"]):
        assert abs(max(alts.values()) - v) < 1e-6
        assert len(alts) <= 3
    # Each later token's logprob is the first token's of the prompt extended by the tokens
    # before it.
    for k in range(1, 4):
        again = tiny(prompt + greedy[:k], max_tokens=1, logprobs=0, **GREEDY)
        assert again["choices"][0]["logprobs"]["token_logprobs"] == [lp["token_logprobs"][k]]


def test_echo_gives_the_prompts_logprobs_from_every_position(tiny_all, case):
    prompt, greedy = case["prompt"], case["greedy"]
    assert prompt[0] == tiny_all.token_bos()
    out = tiny_all(prompt, max_tokens=2, logprobs=2, echo=True, **GREEDY)
    ch = out["choices"][0]
    lp = ch["logprobs"]
    # BOS left out; the prompt's tokens, then the generated ones.
    all_tokens = prompt[1:] + greedy[:2]
    assert lp["tokens"] == [piece(tiny_all, t) for t in all_tokens]
    assert ch["text"] == tiny_all.detokenize(prompt).decode("utf-8", "replace") + "".join(
        tiny_all.token_to_piece(t).decode("utf-8", "replace") for t in greedy[:2])
    # As llama-cpp-python: the first entry is None (OpenAI's convention).
    assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
    text = b""
    for i, t in enumerate(all_tokens):
        assert lp["text_offset"][i] == len(text.decode("utf-8", "ignore"))
        text += tiny_all.token_to_piece(t)
    # Prompt token i+1 is predicted by llama.cpp's logits at position i.
    for i in range(1, len(prompt) - 1):
        ref = log_softmax(case["all_logits"][i])
        t = prompt[i + 1]
        assert abs(lp["token_logprobs"][i] - ref[t]) < 1e-4, i
        want = {piece(tiny_all, j): ref[j] for j in top(ref, 2)}
        want[piece(tiny_all, t)] = ref[t]
        alts = lp["top_logprobs"][i]
        assert list(alts) == list(want), i
        for k in want:
            assert abs(alts[k] - want[k]) < 1e-4, (i, k)
    ref = log_softmax(case["last_logits"])
    assert abs(lp["token_logprobs"][len(prompt) - 1] - ref[greedy[0]]) < 1e-4
    # The generated tokens' numbers are those of a completion without echo.
    plain = tiny_all(prompt, max_tokens=2, logprobs=2, **GREEDY)["choices"][0]["logprobs"]
    assert lp["token_logprobs"][-2:] == plain["token_logprobs"]
    assert lp["top_logprobs"][-2:] == plain["top_logprobs"]
    # echo evaluates the prompt again from the start.
    tiny_all.perf_context_reset()
    tiny_all(prompt, max_tokens=2, logprobs=0, echo=True, **GREEDY)
    perf = tiny_all.perf_context()
    assert (perf["n_p_eval"], perf["n_eval"], perf["n_reused"]) == (len(prompt), 2, 0)


def test_streamed_logprobs_are_the_same_entries(tiny_all, case):
    prompt = case["prompt"]
    for echo in (False, True):
        whole = tiny_all(prompt, max_tokens=6, logprobs=2, echo=echo, **GREEDY)
        lp = whole["choices"][0]["logprobs"]
        got = {k: [] for k in lp}
        text = ""
        for chunk in tiny_all(prompt, max_tokens=6, logprobs=2, echo=echo, stream=True,
                              **GREEDY):
            c = chunk["choices"][0]
            text += c["text"]
            if c["logprobs"] is not None:
                for k in lp:
                    got[k] += c["logprobs"][k]
        assert text == whole["choices"][0]["text"]
        assert got == lp, echo


def test_the_token_completing_a_stop_string_is_reported(smollm2):
    out = smollm2.create_chat_completion(QUESTION, stop=["Paris"], logprobs=True,
                                         top_logprobs=2, **GREEDY)
    ch = out["choices"][0]
    assert ch["message"]["content"] == PARIS[: PARIS.index("Paris")]
    content = ch["logprobs"]["content"]
    # ... and its tokens: those of the text, and " Paris", whose text the stop string held.
    assert "".join(e["token"] for e in content) == PARIS[: PARIS.index(" Paris")] + " Paris"
    assert ch["logprobs"]["refusal"] is None


def test_chat_logprobs_have_openais_layout(smollm2):
    out = smollm2.create_chat_completion(QUESTION, logprobs=True, top_logprobs=3, **GREEDY)
    ch = out["choices"][0]
    assert ch["message"]["content"] == PARIS
    content = ch["logprobs"]["content"]
    assert "".join(e["token"] for e in content) == PARIS
    for e in content:
        assert list(e) == ["token", "bytes", "logprob", "top_logprobs"]
        assert e["bytes"] is None and e["logprob"] <= 0
        alts = e["top_logprobs"]
        assert 1 <= len(alts) <= 3
        assert all(list(a) == ["token", "logprob", "bytes"] for a in alts)
        # Greedy without penalties: the token is the most likely one, listed first.
        assert (alts[0]["token"], alts[0]["logprob"]) == (e["token"], e["logprob"])
        assert [a["logprob"] for a in alts] == sorted((a["logprob"] for a in alts),
                                                       reverse=True)
    # The same numbers as the completion layout of the same prompt's ids.
    ids = smollm2.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=True)
    plain = smollm2(ids, max_tokens=len(content), logprobs=3, **GREEDY)
    assert [e["logprob"] for e in content] == plain["choices"][0]["logprobs"]["token_logprobs"]
    # Streamed: the chunks' entries join to the same list; no logprobs asked: None.
    streamed = []
    for chunk in smollm2.create_chat_completion(QUESTION, logprobs=True, top_logprobs=3,
                                                stream=True, **GREEDY):
        lp = chunk["choices"][0]["logprobs"]
        if lp is not None:
            streamed += lp["content"]
    assert streamed == content
    none = smollm2.create_chat_completion(QUESTION, max_tokens=2, **GREEDY)
    assert none["choices"][0]["logprobs"] is None
    zero = smollm2.create_chat_completion(QUESTION, max_tokens=2, logprobs=True, **GREEDY)
    assert [len(e["top_logprobs"]) for e in zero["choices"][0]["logprobs"]["content"]] == [1, 1]


def test_typical_p_and_mirostat_reach_the_sampler(tiny, case):
    prompt, greedy = case["prompt"], case["greedy"]
    ref = log_softmax(case["last_logits"])
    # Locally typical sampling with a tiny mass keeps one token: the one whose surprisal is
    # closest to the entropy (llama.cpp's llama_sampler_typical), whatever the draw.
    h = -sum(math.exp(v) * v for v in ref)
    typical = min(range(len(ref)), key=lambda i: abs(-ref[i] - h))
    assert typical != greedy[0]
    for seed in (1, 2, 3):
        it = tiny.generate(prompt, temp=0.8, top_k=0, top_p=1.0, min_p=0.0, typical_p=1e-6,
                           seed=seed)
        assert next(it) == typical, seed
        it.close()
        out = tiny(prompt, max_tokens=1, temperature=0.8, top_k=0, top_p=1.0, min_p=0.0,
                   typical_p=1e-6, seed=seed, repeat_penalty=1.0, logprobs=0)
        assert out["choices"][0]["logprobs"]["tokens"] == [piece(tiny, typical)]
    # Mirostat 2.0 with tau 0 keeps only the most likely token: greedy, at any temperature;
    # the same settings without mirostat draw something else.
    want = tiny(prompt, max_tokens=6, **GREEDY)["choices"][0]["text"]
    miro = tiny(prompt, max_tokens=6, temperature=1.5, seed=7, repeat_penalty=1.0,
                mirostat_mode=2, mirostat_tau=0.0, mirostat_eta=0.1)
    assert miro["choices"][0]["text"] == want
    plain = tiny(prompt, max_tokens=6, temperature=1.5, seed=7, repeat_penalty=1.0, top_k=0,
                 top_p=1.0, min_p=0.0)
    assert plain["choices"][0]["text"] != want


def test_a_logits_processor_sees_the_ids_and_changes_the_scores(tiny, case):
    prompt, greedy = case["prompt"], case["greedy"]
    seen = []

    def ban_first(input_ids, scores):
        seen.append([int(t) for t in input_ids])
        scores[greedy[0]] = -math.inf
        return scores

    out = tiny(prompt, max_tokens=3, logits_processor=[ban_first], logprobs=1, **GREEDY)
    ref = log_softmax(case["last_logits"])
    second = top(ref, 2)[1]
    lp = out["choices"][0]["logprobs"]
    # The banned token is never drawn; the next most likely one is, and the logprobs are
    # still those of the model's own distribution.
    assert lp["tokens"][0] == piece(tiny, second)
    assert abs(lp["token_logprobs"][0] - ref[second]) < 1e-4
    assert len(seen) == 3
    assert seen[0] == prompt
    assert [len(s) for s in seen] == [len(prompt), len(prompt) + 1, len(prompt) + 2]
    assert seen[1][: len(prompt)] == prompt and seen[1][-1] == second

    # generate() runs it too, and an exception in it reaches the caller.
    def boom(input_ids, scores):
        raise KeyError("from the processor")

    with pytest.raises(KeyError, match="from the processor"):
        tiny(prompt, max_tokens=3, logits_processor=boom, **GREEDY)
    it = tiny.generate(prompt, temp=0, repeat_penalty=1.0, logits_processor=[ban_first])
    assert next(it) == second
    it.close()
    # The Llama is fine afterwards.
    assert tiny(prompt, max_tokens=2, **GREEDY)["choices"][0]["text"] == \
        tiny.detokenize(greedy[:2]).decode("utf-8", "replace")


def test_perf_counters_count_prompt_and_generated_tokens(tiny_path, case):
    prompt = case["prompt"]
    with Llama(model_path=tiny_path, n_ctx=128) as llm:
        llm.perf_context_reset()
        llm(prompt, max_tokens=4, **GREEDY)
        p = llm.perf_context()
        assert (p["n_p_eval"], p["n_eval"], p["n_reused"]) == (len(prompt), 4, 0)
        assert p["t_p_eval_ms"] > 0 and p["t_eval_ms"] > 0
        # The same prompt again: all but its last token come from the cache, and a step of
        # one token counts as generation (llama.cpp counts single-token decodes in n_eval).
        llm.perf_context_reset()
        llm(prompt, max_tokens=1, **GREEDY)
        p = llm.perf_context()
        assert (p["n_p_eval"], p["n_eval"]) == (0, 2)
