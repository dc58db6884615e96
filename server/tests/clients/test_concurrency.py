"""(f) many streaming clients at once on the 4-slot server; (g) a client that disconnects
mid-stream frees its slot."""

import http.client
import json
import socket
import threading
import time

import pytest

from conftest import Poller, expected_slots, host_port, metrics, new_client, post

N_CLIENTS = 16
STORY = [{"role": "user", "content": "Write a short story about a robot who learns to paint."}]
STORY_TOKENS = 40


def stream_chat(base_url, model_id, messages, max_tokens, barrier=None):
    c = new_client(base_url)
    if barrier is not None:
        barrier.wait(timeout=60)
    t0 = time.monotonic()
    ttft = None
    parts = []
    finish = None
    for ch in c.chat.completions.create(
        model=model_id, messages=messages, temperature=0, max_tokens=max_tokens, stream=True
    ):
        if not ch.choices:
            continue
        d = ch.choices[0].delta.content
        if d:
            if ttft is None:
                ttft = time.monotonic() - t0
            parts.append(d)
        if ch.choices[0].finish_reason:
            finish = ch.choices[0].finish_reason
    return {"text": "".join(parts), "finish": finish, "ttft": ttft, "secs": time.monotonic() - t0}


@pytest.fixture(scope="module")
def concurrent_run(base_url, model_id):
    """One lone streamed request, then N_CLIENTS of the same at once, /metrics polled meanwhile."""
    lone = stream_chat(base_url, model_id, STORY, STORY_TOKENS)
    results = [None] * N_CLIENTS
    errors = [None] * N_CLIENTS
    barrier = threading.Barrier(N_CLIENTS)

    def worker(i):
        try:
            results[i] = stream_chat(base_url, model_id, STORY, STORY_TOKENS, barrier)
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors[i] = repr(e)

    poller = Poller(base_url)
    poller.start()
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(N_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    wall = time.monotonic() - t0
    poller.stop()
    return {"lone": lone, "results": results, "errors": errors, "wall": wall, "poller": poller,
            "alive": [t.is_alive() for t in threads]}


def test_16_streams_same_greedy_text(concurrent_run):
    run = concurrent_run
    assert not any(run["alive"]), "some clients did not finish within 600 s"
    errs = [(i, e) for i, e in enumerate(run["errors"]) if e]
    assert not errs, f"{len(errs)} of {N_CLIENTS} clients failed: {errs[:3]}"
    lone = run["lone"]
    assert lone["text"] and lone["finish"] in ("stop", "length")
    for i, r in enumerate(run["results"]):
        assert r["text"] == lone["text"], (
            f"client {i} got a different greedy text than the lone request:\n"
            f"  lone:   {lone['text']!r}\n  client: {r['text']!r}"
        )
        assert r["finish"] == lone["finish"]


def test_16_streams_ran_in_parallel_slots(concurrent_run):
    """/metrics, polled during the run, saw several requests processing at once (the slots run
    together) and never more than the slots."""
    p = concurrent_run["poller"]
    assert p.samples > 0, "GET /metrics never answered 200 during the run"
    assert p.max_processing is not None, "/metrics has no llamacpp:requests_processing"
    assert 2 <= p.max_processing <= expected_slots(), (
        f"max requests_processing seen {p.max_processing}, want 2..{expected_slots()}"
    )
    if p.max_deferred is not None:
        assert p.max_deferred >= 1, "16 clients on the slots but nothing was ever deferred"


# Greedy SmolLM2-135M counts on and on here (hundreds of tokens without stopping).
COUNT = [{"role": "user", "content": "List the numbers from 1 to 1000, separated by commas."}]


def _open_stream(base_url, model_id):
    host, port = host_port(base_url)
    conn = http.client.HTTPConnection(host, port, timeout=60)
    body = json.dumps({"model": model_id, "messages": COUNT, "temperature": 0,
                       "max_tokens": 2000, "stream": True,
                       "ignore_eos": True})  # llama-server's; ignored where unknown
    conn.request("POST", "/v1/chat/completions", body=body,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()[:300]
    return conn, resp


def _read_events(resp, n):
    got = 0
    while got < n:
        line = resp.readline()
        assert line, "stream ended before a few chunks came"
        if line.startswith(b"data: "):
            assert line.strip() != b"data: [DONE]", "the long generation ended at once"
            got += 1


def _short_request(base_url, model_id):
    t0 = time.monotonic()
    r = post(base_url, "/v1/chat/completions", {
        "model": model_id, "messages": [{"role": "user", "content": "Say hi."}],
        "temperature": 0, "max_tokens": 4,
    }, timeout=120)
    assert r.status_code == 200, r.text[:300]
    return time.monotonic() - t0


def test_disconnect_frees_slots(base_url, model_id, total_slots):
    baseline = _short_request(base_url, model_id)
    # Fill every slot with a 2000-token generation, read a few chunks of each, hang up.
    streams = [_open_stream(base_url, model_id) for _ in range(total_slots)]
    for _, resp in streams:
        _read_events(resp, 4)
    for conn, resp in streams:
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        resp.close()
    t_closed = time.monotonic()

    m = metrics(base_url)
    freed_after = None
    if m is not None and "llamacpp:requests_processing" in m:
        deadline = t_closed + 5
        while time.monotonic() < deadline:
            m = metrics(base_url)
            if m and m.get("llamacpp:requests_processing") == 0:
                freed_after = time.monotonic() - t_closed
                break
            time.sleep(0.1)
        assert freed_after is not None, (
            f"llamacpp:requests_processing is still {m.get('llamacpp:requests_processing')} "
            "5 s after every client hung up"
        )

    # Whatever /metrics says: as many short requests as slots, at once, are served promptly
    # (were the slots still generating 2000 tokens each they would wait minutes).
    limit = max(10.0, 4 * baseline)
    times = [None] * total_slots
    errs = []

    def one(i):
        try:
            times[i] = _short_request(base_url, model_id)
        except Exception as e:  # noqa: BLE001
            errs.append(repr(e))

    ts = [threading.Thread(target=one, args=(i,)) for i in range(total_slots)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=180)
    assert not errs, errs
    slowest = max(times)
    assert slowest < limit, (
        f"after the disconnects a short request took {slowest:.1f} s (a lone one {baseline:.1f} s): "
        "the slots were not freed"
    )
