"""Concurrent use: threads each with their own Llama on one model file give the goldens;
one Llama shared by threads serializes them; the Python thread pool (n_threads > 1) gives the
same ids as the serial path."""

import itertools
import threading

from conftest import PARIS, QUESTION, golden
from llamette import Llama


def run_threads(n, target):
    barrier = threading.Barrier(n)
    results = [None] * n
    errors = []

    def main(i):
        try:
            results[i] = target(i, barrier)
        except BaseException as e:  # reported below
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=main, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_threads_with_their_own_llama_on_one_file(tiny_path):
    cases = golden("tiny-codellama.q8_0.json")["cases"]

    def job(i, barrier):
        case = cases[i % 2]
        # The last thread also runs its context on a pool of its own.
        with Llama(model_path=tiny_path, n_ctx=64, n_threads=2 if i == 3 else 1) as llm:
            barrier.wait()
            it = llm.generate(case["prompt"], temp=0)
            ids = list(itertools.islice(it, 16))
            it.close()
            text = llm(case["prompt"], max_tokens=8, temperature=0, repeat_penalty=1.0)
            return ids, text["choices"][0]["text"]

    results = run_threads(4, job)
    for i, (ids, text) in enumerate(results):
        assert ids == cases[i % 2]["greedy"][:16], f"thread {i}"
        assert text == results[i % 2][1]


def test_threads_on_smollm2(smollm2_path):
    def job(i, barrier):
        with Llama(model_path=smollm2_path, n_ctx=128) as llm:
            barrier.wait()
            out = llm.create_chat_completion(messages=QUESTION, temperature=0,
                                             stream=bool(i % 2))
            if i % 2:
                return "".join(c["choices"][0]["delta"].get("content", "") for c in out)
            return out["choices"][0]["message"]["content"]

    assert run_threads(2, job) == [PARIS, PARIS]


def test_one_llama_shared_by_threads_serializes_them(tiny):
    case = golden("tiny-codellama.q8_0.json")["cases"][0]
    want = tiny(case["prompt"], max_tokens=16, temperature=0, repeat_penalty=1.0)
    want = want["choices"][0]["text"]

    def job(i, barrier):
        barrier.wait()
        outs = []
        for _ in range(5):
            if i % 2:
                chunks = tiny(case["prompt"], max_tokens=16, temperature=0, repeat_penalty=1.0,
                              stream=True)
                outs.append("".join(c["choices"][0]["text"] for c in chunks))
            else:
                out = tiny(case["prompt"], max_tokens=16, temperature=0, repeat_penalty=1.0)
                outs.append(out["choices"][0]["text"])
        return outs

    for outs in run_threads(4, job):
        assert outs == [want] * 5


def test_pool_gives_the_serial_ids_on_smollm2(smollm2_path):
    case = golden("smollm2-135m-instruct.q4_1.json")["cases"][2]
    with Llama(model_path=smollm2_path, n_ctx=128, n_threads=2) as llm:
        it = llm.generate(case["prompt"], temp=0)
        assert list(itertools.islice(it, 16)) == case["greedy"][:16]
        it.close()
        assert llm._pool.batches > 0
        out = llm.create_chat_completion(messages=QUESTION, temperature=0)
        assert out["choices"][0]["message"]["content"] == PARIS
