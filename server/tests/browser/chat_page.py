#!/usr/bin/env python3
"""Drives llamette-server's built-in chat page (server/static/) in a real headless Chromium.

Browser driver: Playwright for Python, launched with executable_path=/usr/bin/chromium
(Debian's package), so no browser is downloaded (`playwright install` is never run; it
would need a CDN this machine cannot reach). Playwright drives Debian's Chromium over
CDP without trouble, its auto-waiting keeps the test short, and it needs no separate
driver binary, so the Selenium + chromium-driver fallback was not needed.

Usage: chat_page.py --url http://127.0.0.1:PORT/ --screenshot PATH [--api-key KEY]
Prints each step, the answers' full text and `screenshot: PATH`; ends with
`N passed, N failed` and exits non-zero on any failure.
"""
import argparse
import os
import sys
import time

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

QUESTION = "What is the capital of France?"
COUNT_PROMPT = "Count from 1 to 500, one number per line."
FULL_COUNT = "\n".join(str(i) for i in range(1, 501))
ANSWER_TIMEOUT_MS = 120_000
STOP_TIMEOUT_MS = 5_000

# Text of the last assistant message's content (pseudo-element decorations excluded).
LAST_TEXT = """() => {
  const a = document.querySelectorAll('#messages .message.assistant');
  const el = a[a.length - 1];
  return el ? el.querySelector('.content').textContent : null;
}"""
LAST_INFO = """() => {
  const a = document.querySelectorAll('#messages .message.assistant');
  const el = a[a.length - 1];
  if (!el) return null;
  const err = el.querySelector('.error');
  return {state: el.dataset.state || null, finish: el.dataset.finish || null,
          text: el.querySelector('.content').textContent,
          error: err ? err.textContent : null, count: a.length};
}"""
LAST_FINISHED = """() => {
  const a = document.querySelectorAll('#messages .message.assistant');
  const el = a[a.length - 1];
  return !!el && el.dataset.state !== 'streaming';
}"""


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="the server's page, e.g. http://127.0.0.1:8080/")
    ap.add_argument("--screenshot", required=True, help="where to write the full-page PNG")
    ap.add_argument("--api-key", default=os.environ.get("LLAMETTE_API_KEY", ""),
                    help="typed into the page's API key field when the server needs one")
    ap.add_argument("--temperature", default="0",
                    help="set in the page's settings before chatting (0: greedy, reproducible)")
    ap.add_argument("--chromium", default=os.environ.get("LLAMETTE_CHROMIUM", "/usr/bin/chromium"))
    args = ap.parse_args()

    check_or_exit(os.path.exists(args.chromium), f"no Chromium at {args.chromium}")
    shot = os.path.abspath(args.screenshot)
    os.makedirs(os.path.dirname(shot), exist_ok=True)
    stem, ext = os.path.splitext(shot)
    shot_stopped = stem + "-stopped" + (ext or ".png")

    passed, failed = [], []
    page_errors = []
    content_types = {}

    def step(name, fn):
        if failed:
            return
        print(f"--- {name}", flush=True)
        t0 = time.monotonic()
        try:
            fn()
            check(not page_errors, "uncaught error(s) in the page: " + "; ".join(page_errors))
        except (Failure, PlaywrightError) as e:
            print(f"FAIL {name}: {e}", flush=True)
            failed.append(name)
            return
        print(f"ok   {name} ({time.monotonic() - t0:.1f} s)", flush=True)
        passed.append(name)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True,
                                    args=["--disable-dev-shm-usage", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.on("console", lambda m: m.type in ("error", "warning")
                and print(f"  console.{m.type}: {m.text}", flush=True))

        def on_response(r):
            path = "/" + r.url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
            content_types[path] = (r.status, r.headers.get("content-type", ""))
        page.on("response", on_response)

        def load():
            resp = page.goto(args.url, wait_until="load", timeout=30_000)
            check(resp is not None and resp.ok, f"GET {args.url} -> {resp and resp.status}")
            want = {"/": "text/html", "/app.js": "javascript", "/style.css": "text/css"}
            for path, kind in want.items():
                status, ctype = content_types.get(path, (None, ""))
                print(f"  GET {path}: {status} {ctype}")
                check(status == 200, f"GET {path} -> {status}")
                check(kind in ctype, f"GET {path}: content-type {ctype!r}, want {kind}")
                if "utf-8" not in ctype.lower():
                    print(f"  warning: GET {path}: content-type {ctype!r} names no charset=utf-8")
            for sel in ("#input", "#send", "#stop", "#new-chat", "#messages"):
                check(page.locator(sel).count() == 1, f"no {sel} on the page")
            page.locator("#settings summary").click()
            page.fill("#temperature", args.temperature)
            if args.api_key:
                page.fill("#api-key", args.api_key)
                page.locator("#api-key").dispatch_event("change")
            page.locator("#settings summary").click()
            page.wait_for_function(
                "() => !document.getElementById('status').textContent.startsWith('Connecting')")
            status = page.text_content("#status")
            print(f"  status: {status}")
            check(status.startswith("Model: "), f"status line shows no model: {status!r}")

        def answer():
            page.locator("#input").press_sequentially(QUESTION)
            page.click("#send")
            page.wait_for_function(LAST_FINISHED, timeout=ANSWER_TIMEOUT_MS)
            info = page.evaluate(LAST_INFO)
            print(f"  assistant ({info['state']}, finish={info['finish']}): {info['text']!r}")
            check(info["state"] == "done", f"answer ended in state {info['state']!r}: {info['error']}")
            check("paris" in info["text"].lower(), "the answer does not mention Paris")
            users = page.locator("#messages .message.user")
            check(users.count() == 1, f"{users.count()} user bubbles, want 1")
            check(users.first.text_content().strip() == QUESTION,
                  f"user bubble shows {users.first.text_content()!r}")
            check(page.input_value("#input") == "", "#input was not cleared after sending")
            check(page.is_enabled("#send") and page.is_disabled("#stop"),
                  "Send/Stop buttons not reset after the answer")
            print(f"  status: {page.text_content('#status')}")
            page.screenshot(path=shot, full_page=True)
            print(f"screenshot: {shot}")

        def stop():
            page.fill("#input", COUNT_PROMPT)
            page.press("#input", "Enter")  # Enter sends
            page.wait_for_function(
                "() => { const a = document.querySelectorAll('#messages .message.assistant');"
                " const el = a[a.length - 1]; return a.length === 2 &&"
                " el.querySelector('.content').textContent.trim().length > 0; }",
                timeout=ANSWER_TIMEOUT_MS)
            try:
                page.click("#stop", timeout=3_000)
            except PlaywrightError:
                info = page.evaluate(LAST_INFO)
                raise Failure("could not click #stop (the answer finished first? state="
                              f"{info['state']}, finish={info['finish']}, {len(info['text'])} chars)")
            try:
                page.wait_for_function(LAST_FINISHED, timeout=STOP_TIMEOUT_MS)
            except PlaywrightError:
                raise Failure(f"still streaming {STOP_TIMEOUT_MS / 1000:.0f} s after Stop")
            info = page.evaluate(LAST_INFO)
            print(f"  assistant ({info['state']}, finish={info['finish']}, "
                  f"{len(info['text'])} chars): {info['text']!r}")
            check(info["state"] in ("done", "stopped"), f"state {info['state']!r} after Stop: {info['error']}")
            check(info["finish"] == "stopped",
                  f"finish {info['finish']!r}: the answer ended on its own before Stop took effect")
            check(info["text"].strip(), "the partial answer is empty after Stop")
            check(len(info["text"]) < len(FULL_COUNT), "the answer after Stop is as long as a full count")
            time.sleep(1.0)
            later = page.evaluate(LAST_TEXT)
            check(later == info["text"], "the answer kept growing after Stop")
            check(page.is_enabled("#send") and page.is_disabled("#stop"),
                  "Send/Stop buttons not reset after Stop")
            print(f"  status: {page.text_content('#status')}")
            page.screenshot(path=shot_stopped, full_page=True)
            print(f"screenshot: {shot_stopped}")

        def new_chat():
            page.click("#new-chat")
            n = page.evaluate("() => document.getElementById('messages').childElementCount")
            check(n == 0, f"#messages has {n} children after New chat")
            check(page.text_content("#messages").strip() == "", "#messages still has text after New chat")

        steps = [("page loads and shows the model", load),
                 ("question streams an answer mentioning Paris", answer),
                 ("Stop keeps the partial answer", stop),
                 ("New chat clears the conversation", new_chat)]
        for name, fn in steps:
            step(name, fn)
        browser.close()

    skipped = len(steps) - len(passed) - len(failed)
    print(f"browser: {len(passed)} passed, {len(failed)} failed"
          + (f", {skipped} skipped" if skipped else ""), flush=True)
    if failed:
        print("FAILED: " + ", ".join(failed), file=sys.stderr)
        sys.exit(1)


def check_or_exit(cond, msg):
    if not cond:
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
