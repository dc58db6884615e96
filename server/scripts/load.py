#!/usr/bin/env python3
"""Bounded load generator for an OpenAI-compatible completion server (llamette-server or
llama.cpp's llama-server: the same endpoints). Standard library only: threads + http.client.

    python3 server/scripts/load.py --url http://127.0.0.1:8080 --clients 4 --requests 32 \
        --max-tokens 64 --stream --chat

N client threads share M requests in all (each thread keeps one keep-alive connection). No new
request starts after --duration-cap seconds, and one still running at cap + --grace is cut off
(counted as `cut`, not as an error). Reports one JSON object on stdout (and --json FILE) and a
human line on stderr: requests ok / errors, latency p50/p99, time to first token p50 (streamed),
aggregate completion tokens/s (usage.completion_tokens when the server sends it, else streamed
chunks with content). Exits 1 if any request errored (or none succeeded), 2 on bad
arguments.

Loopback only by default: a non-loopback --url needs --allow-remote.
"""

import argparse
import http.client
import ipaddress
import json
import math
import socket
import sys
import threading
import time
import urllib.parse


def percentile(values, p):
    """Nearest-rank percentile of a list (None when empty)."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))
    return v[k]


class Result:
    __slots__ = ("ok", "error", "cut", "latency", "ttft", "tokens", "tokens_from", "status")

    def __init__(self):
        self.ok = False
        self.error = None
        self.cut = False
        self.latency = None
        self.ttft = None
        self.tokens = 0
        self.tokens_from = None  # "usage" or "chunks"
        self.status = None


class Cut(Exception):
    """The duration cap (plus grace) passed while the request was running."""


class Runner:
    def __init__(self, args):
        self.args = args
        u = urllib.parse.urlparse(args.url)
        self.host = u.hostname
        self.port = u.port or 80
        self.base_path = u.path.rstrip("/")
        self.path = self.base_path + ("/v1/chat/completions" if args.chat else "/v1/completions")
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if args.api_key:
            self.headers["Authorization"] = "Bearer " + args.api_key
        self.lock = threading.Lock()
        self.next_index = 0
        self.results = []
        self.t_start = None
        self.deadline_start = None  # no new request after this
        self.deadline_hard = None  # running requests are cut after this
        self.model = args.model

    # -- request bodies --------------------------------------------------------------------
    def body(self):
        a = self.args
        b = {"model": self.model, "max_tokens": a.max_tokens, "temperature": a.temperature}
        if a.chat:
            b["messages"] = [{"role": "user", "content": a.prompt}]
        else:
            b["prompt"] = a.prompt
        if a.stream:
            b["stream"] = True
            b["stream_options"] = {"include_usage": True}
        if a.ignore_eos:
            b["ignore_eos"] = True
        return json.dumps(b).encode()

    def wait_ready(self):
        """Poll GET /health until 200 (a server without /health, 404, counts as ready)."""
        deadline = time.monotonic() + self.args.wait_ready
        last = None
        while True:
            try:
                c = http.client.HTTPConnection(self.host, self.port, timeout=5)
                c.request("GET", self.base_path + "/health")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status in (200, 404):
                    return True
                last = f"HTTP {r.status}"
            except (OSError, http.client.HTTPException) as e:
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() >= deadline:
                print(f"load.py: server not ready after {self.args.wait_ready:g} s ({last})",
                      file=sys.stderr)
                return False
            time.sleep(0.25)

    def discover_model(self):
        if self.model:
            return
        self.model = "default"
        try:
            c = http.client.HTTPConnection(self.host, self.port, timeout=10)
            c.request("GET", self.base_path + "/v1/models", headers=self.headers)
            r = c.getresponse()
            data = r.read()
            c.close()
            if r.status == 200:
                self.model = json.loads(data)["data"][0]["id"]
        except (OSError, ValueError, KeyError, IndexError, http.client.HTTPException):
            pass

    # -- one request ----------------------------------------------------------------------------
    def take(self):
        with self.lock:
            if self.next_index >= self.args.requests or time.monotonic() >= self.deadline_start:
                return None
            self.next_index += 1
            return self.next_index - 1

    def set_timeout(self, conn):
        left = self.deadline_hard - time.monotonic()
        if left <= 0:
            raise Cut()
        if conn.sock is not None:
            conn.sock.settimeout(min(self.args.timeout, left))

    def send(self, conn, body):
        """POST on the keep-alive connection; once more on a fresh one if the server had closed
        the idle connection before answering (as any HTTP client does)."""
        reused = conn.sock is not None
        if not reused:
            conn.connect()
        self.set_timeout(conn)
        try:
            conn.request("POST", self.path, body=body, headers=self.headers)
            return conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            if not reused:
                raise
        conn.close()
        conn.connect()
        self.set_timeout(conn)
        conn.request("POST", self.path, body=body, headers=self.headers)
        return conn.getresponse()

    def one(self, conn, body):
        res = Result()
        t0 = time.monotonic()
        try:
            resp = self.send(conn, body)
            res.status = resp.status
            if resp.status != 200:
                data = resp.read()
                raise RuntimeError(f"HTTP {resp.status}: {data[:200]!r}")
            if self.args.stream:
                self.read_stream(conn, resp, res, t0)
            else:
                data = resp.read()
                obj = json.loads(data)
                choice = obj["choices"][0]
                text = choice["message"]["content"] if self.args.chat else choice["text"]
                if text is None or choice.get("finish_reason") is None:
                    raise RuntimeError(f"incomplete response: {data[:200]!r}")
                res.tokens = int(obj["usage"]["completion_tokens"])
                res.tokens_from = "usage"
            res.latency = time.monotonic() - t0
            res.ok = True
        except Cut:
            res.cut = True
            conn.close()
        except socket.timeout:
            if time.monotonic() >= self.deadline_hard - 0.05:
                res.cut = True
            else:
                res.error = f"timeout after {self.args.timeout} s"
            conn.close()
        except (OSError, http.client.HTTPException, ValueError, KeyError, IndexError, TypeError,
                RuntimeError) as e:
            res.error = f"{type(e).__name__}: {e}"[:300]
            conn.close()
        return res

    def read_stream(self, conn, resp, res, t0):
        chunks_with_content = 0
        usage_tokens = None
        finished = False
        done = False
        while True:
            self.set_timeout(conn)
            line = resp.readline()
            if not line:
                break
            line = line.rstrip(b"\r\n")
            if not line or line.startswith(b":"):
                continue
            if not line.startswith(b"data: "):
                raise RuntimeError(f"unexpected SSE line {line[:120]!r}")
            payload = line[6:]
            if payload == b"[DONE]":
                done = True
                break
            obj = json.loads(payload)
            if "error" in obj:
                raise RuntimeError(f"error event: {payload[:200]!r}")
            if obj.get("usage") and obj["usage"].get("completion_tokens") is not None:
                usage_tokens = int(obj["usage"]["completion_tokens"])
            for ch in obj.get("choices") or []:
                piece = (ch.get("delta") or {}).get("content") if self.args.chat else ch.get("text")
                if piece:
                    chunks_with_content += 1
                    if res.ttft is None:
                        res.ttft = time.monotonic() - t0
                if ch.get("finish_reason"):
                    finished = True
        if not done:
            raise RuntimeError("stream ended without data: [DONE]")
        if not finished:
            raise RuntimeError("stream had no finish_reason")
        resp.read()  # the chunked terminator, so the connection can be reused
        if usage_tokens is not None:
            res.tokens, res.tokens_from = usage_tokens, "usage"
        else:
            res.tokens, res.tokens_from = chunks_with_content, "chunks"

    def worker(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.args.timeout)
        body = self.body()
        try:
            while self.take() is not None:
                r = self.one(conn, body)
                with self.lock:
                    self.results.append(r)
        finally:
            conn.close()

    def run(self):
        a = self.args
        self.wait_ready()  # if it never gets ready, the requests report the errors
        self.discover_model()
        self.t_start = time.monotonic()
        self.deadline_start = self.t_start + a.duration_cap
        self.deadline_hard = self.deadline_start + a.grace
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, self.deadline_hard - time.monotonic()) + a.timeout + 5)
        wall = time.monotonic() - self.t_start
        with self.lock:
            results = list(self.results)
        stuck = sum(t.is_alive() for t in threads)
        return self.report(results, wall, stuck)

    def report(self, results, wall, stuck):
        a = self.args
        ok = [r for r in results if r.ok]
        errors = [r for r in results if r.error]
        cut = [r for r in results if r.cut]
        lat = [r.latency for r in ok]
        ttft = [r.ttft for r in ok if r.ttft is not None]
        tokens = sum(r.tokens for r in ok)
        sources = sorted({r.tokens_from for r in ok if r.tokens_from})
        err_samples = []
        for r in errors:
            if r.error not in err_samples:
                err_samples.append(r.error)
            if len(err_samples) == 5:
                break
        return {
            "url": a.url,
            "endpoint": self.path,
            "model": self.model,
            "stream": a.stream,
            "clients": a.clients,
            "requests": a.requests,
            "max_tokens": a.max_tokens,
            "duration_cap_s": a.duration_cap,
            "started": len(results),
            "not_started": a.requests - len(results) - stuck,
            "ok": len(ok),
            "errors": len(errors) + stuck,
            "cut": len(cut),
            "wall_s": round(wall, 3),
            "latency_s": {
                "p50": _r(percentile(lat, 50)),
                "p99": _r(percentile(lat, 99)),
                "min": _r(min(lat) if lat else None),
                "max": _r(max(lat) if lat else None),
                "mean": _r(sum(lat) / len(lat) if lat else None),
            },
            "ttft_s": {"p50": _r(percentile(ttft, 50)), "p99": _r(percentile(ttft, 99))},
            "completion_tokens": tokens,
            "completion_tokens_from": sources,
            "tokens_per_s": _r(tokens / wall if wall > 0 else None),
            "requests_per_s": _r(len(ok) / wall if wall > 0 else None),
            "error_samples": err_samples + (["%d client threads did not finish" % stuck] if stuck else []),
        }


def _r(x, nd=4):
    return None if x is None else round(x, nd)


def human(rep):
    def ms(x):
        return "-" if x is None else f"{x * 1000:.0f} ms"

    return (
        f"{rep['ok']}/{rep['started']} ok, {rep['errors']} errors, {rep['cut']} cut, "
        f"{rep['not_started']} not started | latency p50 {ms(rep['latency_s']['p50'])} "
        f"p99 {ms(rep['latency_s']['p99'])} | ttft p50 {ms(rep['ttft_s']['p50'])} | "
        f"{rep['completion_tokens']} tokens in {rep['wall_s']:.1f} s = "
        f"{(rep['tokens_per_s'] or 0):.1f} tok/s ({', '.join(rep['completion_tokens_from']) or '-'}) "
        f"| {rep['clients']} clients, {'stream' if rep['stream'] else 'whole'} {rep['endpoint']}"
    )


def is_loopback(host):
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    p.add_argument("--requests", type=int, default=16, help="total requests (default 16)")
    p.add_argument("--max-tokens", type=int, default=64, help="max_tokens per request (default 64)")
    p.add_argument("--duration-cap", type=float, default=120.0,
                   help="start no request after this many seconds (default 120)")
    p.add_argument("--grace", type=float, default=30.0,
                   help="cut requests still running this long after the cap (default 30)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="per-request socket timeout in seconds (default 300)")
    p.add_argument("--wait-ready", type=float, default=30.0,
                   help="first wait up to this long for GET /health 200 (default 30; 0: no wait)")
    p.add_argument("--prompt", help="the user message (--chat) or the raw prompt (--completions); "
                   "default: a short story request / the start of a story")
    p.add_argument("--stream", action="store_true", help="stream (SSE) and time the first token")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--chat", dest="chat", action="store_true", default=True,
                      help="/v1/chat/completions (default)")
    mode.add_argument("--completions", dest="chat", action="store_false", help="/v1/completions")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--ignore-eos", action="store_true",
                   help="send llama-server's ignore_eos so every request makes max_tokens tokens")
    p.add_argument("--model", help="model field (default: the id /v1/models lists)")
    p.add_argument("--api-key", help="sent as Authorization: Bearer KEY")
    p.add_argument("--json", metavar="FILE", help="also write the JSON report to FILE")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a --url that is not a loopback address")
    a = p.parse_args(argv)
    u = urllib.parse.urlparse(a.url)
    if u.scheme != "http" or not u.hostname:
        p.error("--url must be http://HOST:PORT")
    if not a.allow_remote and not is_loopback(u.hostname):
        p.error(f"{u.hostname} is not a loopback address (pass --allow-remote to load it anyway)")
    for name in ("clients", "requests", "max_tokens"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if a.duration_cap <= 0 or a.grace < 0 or a.timeout <= 0 or a.wait_ready < 0:
        p.error("--duration-cap and --timeout must be positive, --grace and --wait-ready not negative")
    a.clients = min(a.clients, a.requests)
    if a.prompt is None:
        a.prompt = ("Write a short story about a robot who learns to paint." if a.chat
                    else "Once upon a time, in a small village by the sea, there lived")
    return a


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    rep = Runner(args).run()
    out = json.dumps(rep, indent=2)
    print(out)
    if args.json:
        with open(args.json, "w") as f:
            f.write(out + "\n")
    print(human(rep), file=sys.stderr)
    for e in rep["error_samples"]:
        print("  error: " + e, file=sys.stderr)
    return 1 if rep["errors"] or not rep["ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
