"""Per-call cost of the Python thread pool (the parallel callback) against the serial path.

    python3 bindings/python/benchmarks/pool_overhead.py [MODEL.gguf ...] [--tokens N] [--threads T]

For each model: greedy decoding of N tokens after a short prompt, with n_threads=1 (no
callback: llamette runs every task inline) and with a pool of T Python threads. Prints ms per
token, parallel calls (and tasks) per token, and the pool's net cost per parallel call:
(ms/token with the pool - ms/token serial) / calls per token. Negative: the pool wins.
The serial and pool runs alternate (best of --repeats each), since other work on the machine
skews a run.

Then the hand-off alone: the callback run on no-op C tasks (``llamette_sampler_reset(NULL)``,
which takes a pointer and does nothing), in the pool against the same tasks called inline.
"""

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from llamette import Llama  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MODELS = [
    ROOT / "models/smollm2-135m-instruct.q4_1.gguf",
    ROOT / "tests/fixtures/models/tiny-codellama.q8_0.gguf",
]


def run(llm, n_tokens, repeats):
    if True:
        prompt = llm.tokenize(b"The quick brown fox jumps over the lazy dog.")
        best = None
        for _ in range(repeats):
            llm.reset()
            pool = llm._pool
            it = llm.generate(prompt, temp=0, repeat_penalty=1.0)
            next(it)  # prompt evaluated, first token sampled
            c0 = (pool.calls, pool.tasks) if pool else (0, 0)
            t0 = time.perf_counter()
            ids = list(itertools.islice(it, n_tokens))
            dt = time.perf_counter() - t0
            it.close()
            calls = ((pool.calls - c0[0]) / n_tokens, (pool.tasks - c0[1]) / n_tokens) \
                if pool else (0.0, 0.0)
            ms = dt * 1000 / n_tokens
            if best is None or ms < best[0]:
                best = (ms, calls, ids)
        return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", type=Path, default=DEFAULT_MODELS)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print(f"{os.cpu_count()} CPUs, pool of {a.threads} threads, {a.tokens} tokens, best of "
          f"{a.repeats}")
    for path in a.models:
        with Llama(str(path), n_ctx=512, n_threads=1) as serial, \
                Llama(str(path), n_ctx=512, n_threads=a.threads) as pooled:
            s_runs, p_runs = [], []
            for _ in range(a.repeats):
                s_runs.append(run(serial, a.tokens, 1))
                p_runs.append(run(pooled, a.tokens, 1))
        serial_ms, _, serial_ids = min(s_runs, key=lambda r: r[0])
        pool_ms, (calls, tasks), pool_ids = min(p_runs, key=lambda r: r[0])
        assert pool_ids == serial_ids, "the pool changed the tokens"
        per_call_us = (pool_ms - serial_ms) * 1000 / calls if calls else float("nan")
        print(f"{path.name}: serial {serial_ms:.3f} ms/token; pool {pool_ms:.3f} ms/token "
              f"({calls:.0f} parallel calls, {tasks:.0f} tasks per token); net cost "
              f"{per_call_us:+.1f} us per parallel call ({(pool_ms / serial_ms - 1) * 100:+.0f}%)")
    dispatch(a.threads)


def dispatch(n_threads, n_calls=20000):
    import ctypes

    from llamette import _ffi
    from llamette._pool import ThreadPool

    lb = _ffi.lib()
    noop = ctypes.cast(lb.llamette_sampler_reset, ctypes.c_void_p).value
    fn = _ffi.TaskFn(noop)
    pool = ThreadPool(n_threads)
    try:
        for n_tasks in (2, 8):
            t0 = time.perf_counter()
            for _ in range(n_calls):
                for i in range(n_tasks):
                    fn(None, i)
            inline = (time.perf_counter() - t0) / n_calls * 1e6
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                for _ in range(n_calls):
                    pool.callback(None, n_tasks, noop, None)
                best = min(best, (time.perf_counter() - t0) / n_calls * 1e6)
            print(f"hand-off, {n_tasks} no-op tasks per call: inline {inline:.1f} us, "
                  f"pool of {n_threads} {best:.1f} us per parallel call")
    finally:
        pool.close()


if __name__ == "__main__":
    main()
