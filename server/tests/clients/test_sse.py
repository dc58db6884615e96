"""(e) Raw Server-Sent Events framing, as `curl -N` sees it."""

import json
import shutil
import subprocess
import tempfile

import pytest

from conftest import CHATML_PROMPT, QUESTION

CURL = shutil.which("curl")


def curl_stream(url, body, extra_headers=()):
    """POST body with curl -N; returns (http status, content-type, raw body bytes)."""
    assert CURL, "curl is not installed (apt-get install curl)"
    with tempfile.NamedTemporaryFile() as hdr:
        cmd = [CURL, "-sS", "-N", "--max-time", "120", "-D", hdr.name,
               "-H", "Content-Type: application/json", "-d", json.dumps(body)]
        for h in extra_headers:
            cmd += ["-H", h]
        cmd.append(url)
        p = subprocess.run(cmd, capture_output=True, timeout=150)
        assert p.returncode == 0, f"curl exited {p.returncode}: {p.stderr.decode(errors='replace')}"
        head = open(hdr.name, "rb").read().decode("latin-1")
    status_lines = [l for l in head.split("\r\n") if l.startswith("HTTP/")]
    status = int(status_lines[-1].split()[1])
    ctype = ""
    for line in head.split("\r\n"):
        if line.lower().startswith("content-type:"):
            ctype = line.split(":", 1)[1].strip()
    return status, ctype, p.stdout


def check_framing(raw):
    """Every event is one `data: ` line holding a JSON object or [DONE], events separated by
    exactly one blank line, the last one `data: [DONE]`. Returns the JSON objects."""
    assert raw, "empty stream"
    nl = b"\r\n" if raw.endswith(b"\r\n\r\n") else b"\n"
    sep = nl + nl
    assert raw.endswith(b"data: [DONE]" + sep), f"stream does not end with data: [DONE]: {raw[-200:]!r}"
    if nl == b"\n":
        assert b"\r" not in raw, "mixed line endings"
    events = raw.split(sep)
    assert events[-1] == b"", "bytes after the last blank line"
    events = events[:-1]
    objs = []
    for i, ev in enumerate(events):
        assert ev, f"event {i}: more than one blank line between events: {raw[:400]!r}"
        assert nl not in ev, f"event {i} spans several lines: {ev[:200]!r}"
        assert ev.startswith(b"data: "), f"event {i} is not a data: line: {ev[:200]!r}"
        payload = ev[len(b"data: "):]
        if i == len(events) - 1:
            assert payload == b"[DONE]"
            break
        assert payload != b"[DONE]", f"[DONE] at event {i} of {len(events)}"
        obj = json.loads(payload)
        assert isinstance(obj, dict), f"event {i} is not a JSON object: {payload[:200]!r}"
        objs.append(obj)
    return objs


def test_sse_chat_framing(base_url, model_id):
    status, ctype, raw = curl_stream(base_url + "/v1/chat/completions", {
        "model": model_id,
        "messages": [{"role": "user", "content": QUESTION}],
        "temperature": 0,
        "max_tokens": 64,
        "stream": True,
        "stream_options": {"include_usage": True},
    })
    assert status == 200
    assert ctype.split(";")[0].strip() == "text/event-stream", ctype
    objs = check_framing(raw)
    assert all(o["object"] == "chat.completion.chunk" for o in objs)
    assert len({o["id"] for o in objs}) == 1
    assert objs[0]["choices"][0]["delta"].get("role") == "assistant"
    assert objs[0]["choices"][0]["delta"].get("content") in (None, "")
    final = [o for o in objs if o["choices"]][-1]["choices"][0]
    assert final["finish_reason"] == "stop" and final["delta"] == {}
    assert objs[-1]["choices"] == [] and objs[-1]["usage"]["completion_tokens"] > 0


def test_sse_completions_framing(base_url, model_id):
    status, ctype, raw = curl_stream(base_url + "/v1/completions", {
        "model": model_id, "prompt": CHATML_PROMPT, "temperature": 0, "max_tokens": 16, "stream": True,
    })
    assert status == 200
    assert ctype.split(";")[0].strip() == "text/event-stream", ctype
    objs = check_framing(raw)
    assert all(o["object"] == "text_completion" for o in objs)
    assert objs[-1]["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_sse_error_is_not_a_stream(base_url, path):
    """A request refused before generating (here: negative max_tokens) is an HTTP error with the
    JSON error body, not a 200 event stream."""
    body = {"stream": True, "max_tokens": -5}
    body.update({"messages": [{"role": "user", "content": "hi"}]} if "chat" in path else {"prompt": "hi"})
    status, ctype, raw = curl_stream(base_url + path, body)
    assert status == 400, (status, raw[:300])
    assert "application/json" in ctype
    assert json.loads(raw)["error"]["code"] == 400
