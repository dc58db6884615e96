"""Shared fixtures and helpers for the black-box client tests of llamette-server.

The tests talk to a running server; they never start one (run.sh does). Environment:

  LLAMETTE_SERVER_URL          base URL of a plain server, e.g. http://127.0.0.1:8080
                               (started with -c 4096 -np 4, no --api-key)
  LLAMETTE_SERVER_API_KEY_URL  base URL of a second server started with --api-key KEY
  LLAMETTE_API_KEY             that KEY
  LLAMETTE_API_KEY_ALIAS       the --alias the second server was started with (optional)
  LLAMETTE_MODEL_FILE          the -m path both servers were started with (optional)
  LLAMETTE_EXPECT_SLOTS        the plain server's -np (default 4)
  LLAMETTE_CTX_SIZE            the plain server's -c (default 4096)

A missing variable that a test needs makes that test fail, with the way to start the server in
the message: nothing here is skipped.
"""

import json
import os
import re
import socket
import threading
import time
import urllib.parse

import pytest
import requests

QUESTION = "What is the capital of France?"
EXPECTED = "The capital of France is Paris."
# SmolLM2's chat template (ChatML) around QUESTION, without a system message: what the chat
# endpoint renders for a single user message, for the legacy completions endpoint.
CHATML_PROMPT = "<|im_start|>user\n" + QUESTION + "<|im_end|>\n<|im_start|>assistant\n"
N_EMBD = 576  # SmolLM2-135M's embedding width

ERROR_TYPES = {
    "invalid_request_error",
    "authentication_error",
    "not_found_error",
    "unavailable_error",
    "exceed_context_size_error",
    "server_error",
    "permission_error",
    "not_supported_error",
}

HOW_TO_START = (
    "start one with `target/release/llamette-server -m models/smollm2-135m-instruct.q4_1.gguf "
    "--host 127.0.0.1 --port PORT -c 4096 -np 4 -t 2` and export {var}=http://127.0.0.1:PORT, "
    "or run the whole suite with `bash server/tests/clients/run.sh target/release/llamette-server "
    "models/smollm2-135m-instruct.q4_1.gguf`"
)

TIMEOUT = float(os.environ.get("LLAMETTE_CLIENT_TIMEOUT", "120"))


def _env_url(var, extra=""):
    url = os.environ.get(var, "").strip().rstrip("/")
    if not url:
        pytest.fail(f"{var} is not set: " + HOW_TO_START.format(var=var) + extra, pytrace=False)
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "http" or not parsed.hostname:
        pytest.fail(f"{var}={url!r} is not an http://HOST:PORT URL", pytrace=False)
    return url


@pytest.fixture(scope="session")
def base_url():
    return _env_url("LLAMETTE_SERVER_URL")


@pytest.fixture(scope="session")
def auth_server():
    """(url, key) of the server started with --api-key."""
    how = (
        " (this second server must be started with `--api-key SECRET` added, and "
        "LLAMETTE_API_KEY=SECRET exported too)"
    )
    url = _env_url("LLAMETTE_SERVER_API_KEY_URL", how)
    key = os.environ.get("LLAMETTE_API_KEY", "")
    if not key:
        pytest.fail(
            "LLAMETTE_API_KEY is not set: export the key the server at "
            f"LLAMETTE_SERVER_API_KEY_URL={url} was started with (--api-key KEY)",
            pytrace=False,
        )
    return url, key


@pytest.fixture(scope="session")
def model_id(base_url):
    """The id the server lists (what clients send as `model`); a fixed name if /v1/models fails
    (test_endpoints checks /v1/models itself, so the other tests need not all fail on it)."""
    try:
        r = requests.get(base_url + "/v1/models", timeout=30)
        return r.json()["data"][0]["id"]
    except Exception:  # noqa: BLE001 - reported by test_models_lists_the_model
        return "smollm2"


@pytest.fixture(scope="session")
def client(base_url):
    import openai

    # max_retries=0: the client's silent retries would hide a 5xx or a dropped connection.
    return openai.OpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0, timeout=TIMEOUT)


def new_client(base_url, api_key="x"):
    import openai

    return openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0, timeout=TIMEOUT)


@pytest.fixture(scope="session")
def total_slots(base_url):
    """Slots the server says it has (/props total_slots), else LLAMETTE_EXPECT_SLOTS."""
    try:
        r = requests.get(base_url + "/props", timeout=30)
        n = r.json()["total_slots"]
        if isinstance(n, int) and n > 0:
            return n
    except Exception:  # noqa: BLE001 - test_props checks /props itself
        pass
    return 1


def expected_slots():
    return int(os.environ.get("LLAMETTE_EXPECT_SLOTS", "4"))


def ctx_size():
    return int(os.environ.get("LLAMETTE_CTX_SIZE", "4096"))


def post(base_url, path, body=None, *, data=None, headers=None, timeout=TIMEOUT, **kw):
    h = {"Content-Type": "application/json"}
    if headers:
        h.update(headers)
    if data is None:
        data = json.dumps(body).encode()
    return requests.post(base_url + path, data=data, headers=h, timeout=timeout, **kw)


def get(base_url, path, *, headers=None, timeout=TIMEOUT):
    return requests.get(base_url + path, headers=headers or {}, timeout=timeout)


def error_body(resp):
    """The `error` object of an error response, after checking the layout
    {"error": {"code": N, "message": "...", "type": "..."}}."""
    ctype = resp.headers.get("Content-Type", "")
    assert "application/json" in ctype, (
        f"error response {resp.status_code} has Content-Type {ctype!r}, body {resp.text[:300]!r}"
    )
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"error response {resp.status_code} is not JSON: {resp.text[:300]!r}")
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), (
        f"error response {resp.status_code} lacks the error object: {body!r}"
    )
    err = body["error"]
    assert err.get("code") == resp.status_code, f"error.code {err.get('code')!r} != HTTP {resp.status_code}: {body!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"error.message missing: {body!r}"
    assert err.get("type") in ERROR_TYPES, f"error.type {err.get('type')!r} not a known type: {body!r}"
    return err


def assert_error(resp, status, type_=None):
    assert resp.status_code == status, (
        f"expected HTTP {status}, got {resp.status_code}: {resp.text[:500]!r}"
    )
    err = error_body(resp)
    if type_ is not None:
        assert err["type"] == type_, f"expected error type {type_!r}, got {err!r}"
    return err


def assert_serving(base_url, what="the previous request"):
    """A normal request right after a bad one must be served."""
    try:
        r = post(
            base_url,
            "/v1/completions",
            {"prompt": "Hello", "max_tokens": 2, "temperature": 0},
            timeout=60,
        )
    except requests.RequestException as e:
        raise AssertionError(f"server stopped serving after {what}: {e!r}")
    assert r.status_code == 200, f"server fails a normal request after {what}: {r.status_code} {r.text[:300]!r}"
    body = r.json()
    assert body["choices"][0]["text"] is not None


def sse_data_lines(resp):
    """JSON payloads of a requests streaming response's `data:` events, up to [DONE]."""
    out = []
    for line in resp.iter_lines(decode_unicode=False):
        if not line:
            continue
        assert line.startswith(b"data: "), f"unexpected SSE line {line[:200]!r}"
        payload = line[len(b"data: "):]
        if payload == b"[DONE]":
            return out, True
        out.append(json.loads(payload))
    return out, False


_METRIC_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN|[+-]Inf)\s*$")


def parse_metrics(text):
    """Prometheus text exposition -> {name: float} (labels ignored, last sample wins)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC_RE.match(line)
        if m:
            out[m.group(1)] = float(m.group(3))
    return out


def metrics(base_url, headers=None):
    """Parsed /metrics, or None when the server answers anything but 200."""
    try:
        r = get(base_url, "/metrics", headers=headers, timeout=10)
    except requests.RequestException:
        return None
    if r.status_code != 200:
        return None
    return parse_metrics(r.text)


def host_port(url):
    p = urllib.parse.urlparse(url)
    return p.hostname, p.port or 80


def raw_request(url, raw, *, timeout=30.0, read_limit=1 << 20):
    """Send raw bytes to the server at url and return what it sends back until it closes the
    connection or `timeout` passes (for requests no HTTP library would send)."""
    host, port = host_port(url)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(raw)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and sum(map(len, chunks)) < read_limit:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
            if _complete_http_response(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete_http_response(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    if m:
        return len(body) >= int(m.group(1))
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        return body.endswith(b"0\r\n\r\n")
    return False


def parse_raw_response(buf):
    """(status, headers dict lower-cased, body bytes) of a raw HTTP/1.1 response."""
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines and lines[0].startswith("HTTP/1."), f"not an HTTP response: {buf[:200]!r}"
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return status, headers, body


def _dechunk(body):
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


class Poller(threading.Thread):
    """Polls /metrics every `period` s and keeps the largest requests_processing and
    requests_deferred seen, until stop()."""

    def __init__(self, base_url, period=0.2):
        super().__init__(daemon=True)
        self.base_url = base_url
        self.period = period
        self.max_processing = None
        self.max_deferred = None
        self.samples = 0
        self._stop_evt = threading.Event()

    def run(self):
        while not self._stop_evt.is_set():
            m = metrics(self.base_url)
            if m is not None:
                self.samples += 1
                p = m.get("llamacpp:requests_processing")
                d = m.get("llamacpp:requests_deferred")
                if p is not None:
                    self.max_processing = max(p, self.max_processing or 0)
                if d is not None:
                    self.max_deferred = max(d, self.max_deferred or 0)
            self._stop_evt.wait(self.period)

    def stop(self):
        self._stop_evt.set()
        self.join(timeout=15)
