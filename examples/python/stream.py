#!/usr/bin/env python3
"""Streams a completion from a GGUF model with llamette's Python binding.

    pip install ./bindings/python        # after: cargo build --release --features ffi
    python3 examples/python/stream.py models/smollm2-135m-instruct.q4_1.gguf "def fibonacci(n):"
    python3 examples/python/stream.py MODEL "What is the capital of France?" --chat --temp 0

Without the install, run it from the repository with PYTHONPATH=bindings/python.
"""

import argparse
import sys
import time

from llamette import Llama, LlametteError


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a GGUF file")
    ap.add_argument("prompt")
    ap.add_argument("-n", "--max-tokens", type=int, default=128)
    ap.add_argument("--temp", type=float, default=0.8, help="temperature (0: greedy)")
    ap.add_argument("--seed", type=int, default=None, help="-1: a random seed")
    ap.add_argument("-t", "--threads", type=int, default=None)
    ap.add_argument("--chat", action="store_true", help="ask as a chat (the model's template)")
    ap.add_argument("--stop", action="append", default=[], help="a stop string (repeatable)")
    a = ap.parse_args()
    try:
        with Llama(model_path=a.model, n_ctx=2048, n_threads=a.threads) as llm:
            t0, n = time.perf_counter(), 0
            if a.chat:
                stream = llm.create_chat_completion(
                    messages=[{"role": "user", "content": a.prompt}], max_tokens=a.max_tokens,
                    temperature=a.temp, seed=a.seed, stop=a.stop, stream=True)
                texts = (c["choices"][0]["delta"].get("content", "") for c in stream)
            else:
                print(a.prompt, end="")
                stream = llm(a.prompt, max_tokens=a.max_tokens, temperature=a.temp,
                             seed=a.seed, stop=a.stop, stream=True)
                texts = (c["choices"][0]["text"] for c in stream)
            for text in texts:
                print(text, end="", flush=True)
                n += bool(text)
            print()
            dt = time.perf_counter() - t0
            print(f"[{n} pieces in {dt:.2f} s]", file=sys.stderr)
    except LlametteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
