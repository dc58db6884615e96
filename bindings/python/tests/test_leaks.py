"""No leaks: Llamas created and closed (or dropped) in numbers release their native handles,
their pool threads and their memory; the finalizer is the safety net for unclosed ones."""

import gc
import os
import threading
import weakref

from conftest import golden
from llamette import Llama, live_handles


def rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_close_releases_everything(tiny_path):
    base = live_handles()
    threads = threading.active_count()
    for i in range(50):
        with Llama(model_path=tiny_path, n_ctx=64, n_threads=2 if i % 5 == 0 else 1) as llm:
            assert live_handles().get("model", 0) == base.get("model", 0) + 1
            llm.tokenize(b"hello")
    assert live_handles() == base
    assert threading.active_count() == threads


def test_finalizer_frees_dropped_llamas(tiny_path):
    gc.collect()
    base = live_handles()
    threads = threading.active_count()
    refs = []
    for i in range(20):
        llm = Llama(model_path=tiny_path, n_ctx=64, n_threads=2 if i % 4 == 0 else 1)
        llm(golden("tiny-codellama.q8_0.json")["cases"][0]["prompt"], max_tokens=2)
        refs.append(weakref.ref(llm))
        del llm
    gc.collect()
    assert all(r() is None for r in refs)
    assert live_handles() == base
    assert threading.active_count() == threads


def test_dropped_streams_and_iterators_release_the_llama(tiny_path):
    gc.collect()
    base = live_handles()
    prompt = golden("tiny-codellama.q8_0.json")["cases"][0]["prompt"]
    llm = Llama(model_path=tiny_path, n_ctx=64)
    s = llm(prompt, max_tokens=16, stream=True)
    next(s)
    g = llm.generate(prompt)
    # g waits for s's generation (another thread would block): drop s first.
    del s
    next(g)
    ref = weakref.ref(llm)
    del g, llm
    gc.collect()
    assert ref() is None
    assert live_handles() == base


def test_memory_does_not_grow(tiny_path):
    prompt = golden("tiny-codellama.q8_0.json")["cases"][0]["prompt"]

    def cycle():
        with Llama(model_path=tiny_path, n_ctx=2048) as llm:
            llm(prompt, max_tokens=4)
            list(llm(prompt, max_tokens=4, stream=True))

    for _ in range(5):
        cycle()
    gc.collect()
    before = rss_bytes()
    for _ in range(60):
        cycle()
    gc.collect()
    grown = rss_bytes() - before
    # A context of 2048 positions is several MiB; 60 leaked ones would be far above this.
    assert grown < 8 << 20, f"RSS grew by {grown / 2**20:.1f} MiB over 60 Llamas"
