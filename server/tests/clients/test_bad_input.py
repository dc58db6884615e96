"""(i) bad input: each is refused (or served) cleanly, and the next normal request is served."""

import json
import select
import socket
import time

import pytest
import requests

from conftest import (
    assert_error,
    assert_serving,
    ctx_size,
    error_body,
    host_port,
    parse_raw_response,
    post,
    raw_request,
)

CHAT = "/v1/chat/completions"
COMPL = "/v1/completions"
HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "path,data",
    [
        (CHAT, b'{"messages": [{"role": "user", "content": "hi"}'),  # truncated
        (CHAT, b'{"messages": [{"role": "user", "content": "hi"}]} trailing'),
        (CHAT, b"{'messages': []}"),  # single quotes
        (CHAT, b""),  # empty body
        (CHAT, b"[1, 2, 3]"),  # JSON, but not an object
        (CHAT, b"null"),
        (COMPL, b'{"prompt": "hi", "max_tokens": 2,}'),  # trailing comma
        ("/v1/embeddings", b'{"input": '),
        ("/tokenize", b'{"content": '),
    ],
    ids=["truncated", "trailing-garbage", "single-quotes", "empty", "array", "null",
         "trailing-comma", "embeddings", "tokenize"],
)
def test_malformed_json(base_url, path, data):
    r = post(base_url, path, data=data)
    assert_error(r, 400, "invalid_request_error")
    assert_serving(base_url, f"malformed JSON {data[:40]!r}")


@pytest.mark.parametrize(
    "path,body",
    [
        (CHAT, {"messages": HI, "max_tokens": "ten"}),
        (CHAT, {"messages": 5}),
        (CHAT, {"messages": "hi"}),
        (CHAT, {"messages": [{"role": "user", "content": 5}]}),
        (CHAT, {"messages": HI, "temperature": "hot"}),
        (CHAT, {}),  # no messages
        (COMPL, {"prompt": "hi", "max_tokens": "ten"}),
        (COMPL, {"prompt": {"text": "hi"}}),
        (COMPL, {"max_tokens": 2}),  # no prompt
        ("/v1/embeddings", {"input": 5}),
        ("/tokenize", {"content": 5}),
        ("/detokenize", {"tokens": "abc"}),
    ],
    ids=["max_tokens-str", "messages-int", "messages-str", "content-int", "temperature-str",
         "no-messages", "compl-max_tokens-str", "prompt-object", "no-prompt",
         "embeddings-int", "tokenize-int", "detokenize-str"],
)
def test_wrong_types(base_url, path, body):
    r = post(base_url, path, body)
    assert_error(r, 400, "invalid_request_error")
    assert_serving(base_url, f"wrong types {body!r}")


def test_unknown_fields_are_ignored(base_url, model_id):
    r = post(base_url, CHAT, {
        "model": model_id, "messages": HI, "max_tokens": 2, "temperature": 0,
        "no_such_field": {"nested": [1, 2, 3]}, "another_unknown": "x", "user": "tester",
        "metadata": {"k": "v"}, "store": False, "service_tier": "auto", "parallel_tool_calls": False,
    })
    assert r.status_code == 200, r.text[:300]
    r = post(base_url, COMPL, {"prompt": "hi", "max_tokens": 2, "what_is_this": True, "best_of": 1,
                               "suffix": None, "echo": False, "user": "tester"})
    assert r.status_code == 200, r.text[:300]
    assert_serving(base_url, "unknown fields")


def test_model_name_is_not_checked(base_url):
    """As llama-server: the single loaded model answers whatever `model` says."""
    r = post(base_url, CHAT, {"model": "gpt-4o", "messages": HI, "max_tokens": 2})
    assert r.status_code == 200, r.text[:300]


def test_json_without_json_content_type(base_url):
    """`curl -d '{...}' URL` sends application/x-www-form-urlencoded; llama-server reads the JSON
    body whatever the Content-Type says."""
    r = requests.post(base_url + COMPL, data=json.dumps({"prompt": "hi", "max_tokens": 2}),
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    r = requests.post(base_url + COMPL, data=json.dumps({"prompt": "hi", "max_tokens": 2}).encode(),
                      timeout=60)  # no Content-Type at all
    assert r.status_code == 200, r.text[:300]


BIG = 20 * 1024 * 1024


def _big_body():
    filler = "a" * BIG
    return json.dumps({"messages": [{"role": "user", "content": filler}], "max_tokens": 1}).encode()


def _send_oversized(base_url, chunked):
    """Send a 20 MB body (Content-Length or chunked), stopping as soon as the server answers;
    returns the raw response."""
    host, port = host_port(base_url)
    body = _big_body()
    head = f"POST {CHAT} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {len(body)}\r\n"
    head += "Connection: close\r\n\r\n"
    s = socket.create_connection((host, port), timeout=60)
    try:
        s.sendall(head.encode())
        step = 256 * 1024
        sent_error = None
        for off in range(0, len(body), step):
            r, _, _ = select.select([s], [], [], 0)
            if r:
                break  # the server answered before reading it all
            piece = body[off:off + step]
            if chunked:
                piece = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            try:
                s.sendall(piece)
            except (BrokenPipeError, ConnectionResetError) as e:
                sent_error = e
                break
        else:
            if chunked:
                try:
                    s.sendall(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError) as e:
                    sent_error = e
        buf = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                break
            if not b:
                break
            buf += b
        assert buf, f"no response to a 20 MB body (send stopped with {sent_error!r})"
        return buf
    finally:
        s.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit(base_url, chunked):
    status, headers, body = parse_raw_response(_send_oversized(base_url, chunked))
    assert status == 413, f"20 MB body: HTTP {status} {body[:300]!r}"
    assert_serving(base_url, "a 20 MB body")


def test_invalid_utf8_prompt(base_url):
    for path, data in [
        (COMPL, b'{"prompt": "caf\xc3 \xff\xfe abc", "max_tokens": 2}'),
        (CHAT, b'{"messages": [{"role": "user", "content": "\xed\xa0\x80 \xc0\xaf"}], "max_tokens": 2}'),
        (COMPL, b'{"prompt": "lone surrogate \\ud800 here", "max_tokens": 2}'),
    ]:
        r = post(base_url, path, data=data)
        assert r.status_code in (200, 400), f"{data!r}: HTTP {r.status_code} {r.text[:300]!r}"
        if r.status_code == 400:
            assert error_body(r)["type"] == "invalid_request_error"
        assert_serving(base_url, f"invalid UTF-8 {data!r}")


def test_ten_thousand_stop_strings(base_url):
    stops = [f"zq{i}xv" for i in range(10000)]
    t0 = time.monotonic()
    try:
        r = post(base_url, COMPL, {"prompt": "Hello", "max_tokens": 4, "temperature": 0, "stop": stops},
                 timeout=120)
    except requests.RequestException as e:
        raise AssertionError(f"10,000 stop strings: no answer ({e!r})")
    assert r.status_code in (200, 400), f"HTTP {r.status_code} {r.text[:300]!r}"
    if r.status_code == 400:
        error_body(r)
    else:
        assert r.json()["choices"][0]["finish_reason"] in ("stop", "length")
    assert time.monotonic() - t0 < 120
    assert_serving(base_url, "10,000 stop strings")


@pytest.mark.parametrize("path", [CHAT, COMPL])
@pytest.mark.parametrize("value", [-5, -2])
def test_negative_max_tokens(base_url, path, value):
    body = {"max_tokens": value}
    body.update({"messages": HI} if path == CHAT else {"prompt": "hi"})
    r = post(base_url, path, body, timeout=60)
    assert_error(r, 400, "invalid_request_error")
    assert_serving(base_url, "negative max_tokens")


@pytest.mark.parametrize("method,path", [
    ("GET", "/no/such/endpoint"),
    ("POST", "/v1/chat/nope"),
    ("GET", "/v1/models/extra/segments"),
    ("POST", "/v2/completions"),
])
def test_unknown_endpoint(base_url, method, path):
    r = requests.request(method, base_url + path, json={}, timeout=30)
    assert_error(r, 404, "not_found_error")
    assert_serving(base_url, f"{method} {path}")


def test_wrong_method(base_url):
    r = requests.get(base_url + CHAT, timeout=30)
    assert r.status_code in (404, 405), r.status_code
    assert_serving(base_url, "GET on a POST endpoint")


@pytest.mark.parametrize("path", [CHAT, COMPL])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_prompt_longer_than_context(base_url, path, stream):
    text = "hello " * int(ctx_size() * 1.5)
    body = {"max_tokens": 4, "stream": stream}
    body.update({"messages": [{"role": "user", "content": text}]} if path == CHAT else {"prompt": text})
    r = post(base_url, path, body)
    assert_error(r, 400, "exceed_context_size_error")
    assert_serving(base_url, "a prompt longer than the context")


def test_raw_garbage_request_line(base_url):
    """Not HTTP at all: the server answers 400 or closes; either way it keeps serving."""
    buf = raw_request(base_url, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", timeout=10)
    if buf:
        assert buf.startswith(b"HTTP/1."), buf[:100]
        assert parse_raw_response(buf)[0] >= 400
    assert_serving(base_url, "a non-HTTP request")
