"""(h) --api-key: every endpoint but /health needs `Authorization: Bearer KEY`."""

import os

import pytest
import requests

from conftest import CHATML_PROMPT, QUESTION, assert_error, new_client

ENDPOINTS = [
    ("GET", "/v1/models", None),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}),
    ("POST", "/v1/completions", {"prompt": "hi", "max_tokens": 1}),
    ("POST", "/v1/embeddings", {"input": "hi"}),
    ("POST", "/tokenize", {"content": "hi"}),
    ("POST", "/detokenize", {"tokens": [1]}),
    ("POST", "/apply-template", {"messages": [{"role": "user", "content": "hi"}]}),
    ("GET", "/props", None),
    ("GET", "/metrics", None),
]


def _call(url, method, path, body, headers):
    return requests.request(method, url + path, json=body, headers=headers, timeout=60)


@pytest.mark.parametrize("method,path,body", ENDPOINTS, ids=[p for _, p, _ in ENDPOINTS])
@pytest.mark.parametrize("auth", ["none", "wrong", "not-bearer"])
def test_refused_without_the_right_key(auth_server, method, path, body, auth):
    url, key = auth_server
    headers = {
        "none": {},
        "wrong": {"Authorization": "Bearer " + key + "-wrong"},
        "not-bearer": {"Authorization": "Basic " + key},
    }[auth]
    r = _call(url, method, path, body, headers)
    assert_error(r, 401, "authentication_error")


@pytest.mark.parametrize("method,path,body", ENDPOINTS, ids=[p for _, p, _ in ENDPOINTS])
def test_served_with_the_right_key(auth_server, method, path, body):
    url, key = auth_server
    r = _call(url, method, path, body, {"Authorization": "Bearer " + key})
    assert r.status_code == 200, f"{method} {path} with the right key: {r.status_code} {r.text[:300]!r}"


def test_health_needs_no_key(auth_server):
    url, _ = auth_server
    r = requests.get(url + "/health", timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert r.json() == {"status": "ok"}


def test_openai_client_with_and_without_key(auth_server):
    import openai

    url, key = auth_server
    with pytest.raises(openai.AuthenticationError) as ei:
        new_client(url, api_key="not-" + key).chat.completions.create(
            model="any", messages=[{"role": "user", "content": QUESTION}], max_tokens=2)
    assert ei.value.status_code == 401

    c = new_client(url, api_key=key)
    r = c.chat.completions.create(
        model="any", messages=[{"role": "user", "content": QUESTION}], temperature=0, max_tokens=32)
    assert "Paris" in r.choices[0].message.content
    r = c.completions.create(model="any", prompt=CHATML_PROMPT, temperature=0, max_tokens=32)
    assert "Paris" in r.choices[0].text
    models = c.models.list()
    alias = os.environ.get("LLAMETTE_API_KEY_ALIAS")
    if alias:
        assert [m.id for m in models.data] == [alias], "--alias is not the listed model id"


def test_streaming_with_key(auth_server):
    url, key = auth_server
    c = new_client(url, api_key=key)
    chunks = list(c.chat.completions.create(
        model="any", messages=[{"role": "user", "content": QUESTION}], temperature=0,
        max_tokens=32, stream=True))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert "Paris" in text
