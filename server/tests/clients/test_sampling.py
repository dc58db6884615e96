"""Sampling and constrained-output fields, through the `openai` package (llama-server's own
fields go in extra_body, as a client would send them)."""

import json

from conftest import CHATML_PROMPT, EXPECTED, QUESTION, post

MESSAGES = [{"role": "user", "content": QUESTION}]


def _chat(client, model_id, **kw):
    kw.setdefault("max_tokens", 48)
    return client.chat.completions.create(model=model_id, messages=MESSAGES, **kw)


def test_top_k_1_is_greedy(client, model_id):
    r = _chat(client, model_id, temperature=1.0, extra_body={"top_k": 1})
    assert r.choices[0].message.content.strip() == EXPECTED


def test_seed_reproduces(client, model_id):
    kw = dict(temperature=1.0, top_p=0.95, seed=1234, max_tokens=24,
              messages=[{"role": "user", "content": "Write one sentence about cats."}])
    a = client.chat.completions.create(model=model_id, **kw).choices[0].message.content
    b = client.chat.completions.create(model=model_id, **kw).choices[0].message.content
    assert a == b, "the same seed gave different samples"


def test_sampling_fields_accepted(client, model_id):
    r = _chat(client, model_id, temperature=0.7, top_p=0.9, presence_penalty=0.5,
              frequency_penalty=0.5, seed=7,
              extra_body={"top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1, "n_probs": 2})
    assert r.choices[0].message.content
    assert r.choices[0].finish_reason in ("stop", "length")


def test_logit_bias_forces_a_token(base_url, client, model_id):
    tok = post(base_url, "/tokenize", {"content": "banana", "add_special": False, "with_pieces": True}).json()["tokens"][0]
    r = _chat(client, model_id, temperature=0, max_tokens=3, logit_bias={str(tok["id"]): 100})
    assert r.choices[0].message.content.startswith(tok["piece"]), r.choices[0].message.content


def test_json_object(client, model_id):
    r = client.chat.completions.create(
        model=model_id, temperature=0, max_tokens=96,
        messages=[{"role": "user", "content": "Give the capital of France as JSON with a key \"capital\"."}],
        response_format={"type": "json_object"},
    )
    c = r.choices[0]
    if c.finish_reason == "stop":
        assert isinstance(json.loads(c.message.content), dict)
    else:
        assert c.message.content.lstrip().startswith("{")


def test_json_schema(client, model_id):
    schema = {
        "type": "object",
        "properties": {"capital": {"type": "string", "enum": ["Paris", "London", "Berlin"]}},
        "required": ["capital"],
        "additionalProperties": False,
    }
    r = client.chat.completions.create(
        model=model_id, temperature=0, max_tokens=64, messages=MESSAGES,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
    )
    c = r.choices[0]
    assert c.finish_reason == "stop", c
    assert json.loads(c.message.content) == {"capital": "Paris"}


def test_gbnf_grammar(client, model_id):
    r = client.completions.create(
        model=model_id, prompt=CHATML_PROMPT, temperature=0, max_tokens=8,
        extra_body={"grammar": 'root ::= "yes" | "no"'},
    )
    assert r.choices[0].text in ("yes", "no")
    assert r.choices[0].finish_reason == "stop"
