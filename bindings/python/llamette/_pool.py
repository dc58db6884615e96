"""A small persistent pool of Python threads that implements llamette's parallel callback.

llamette never starts a thread: a context hands its work to the host as ``n_tasks`` tasks
through a ``LlametteParallelFn``. :class:`ThreadPool` is such a host: ``n_threads - 1`` worker
threads started once, plus the thread that runs the evaluation. For every batch the workers and
the calling thread take task indices from a shared counter until none is left, and the callback
returns when every task has returned.

The tasks are C functions. ctypes releases the GIL while one runs, so tasks really do run in
parallel; the GIL is only held for the hand-off (waking the workers, taking an index, counting
the finished ones). That hand-off costs a few tens of microseconds per batch, which is why the
pool is only worth it when the tasks are large (see the package README for measurements).
"""

from __future__ import annotations

import itertools
import threading
from typing import Dict, List, Optional

from . import _ffi


class ThreadPool:
    """``n_threads - 1`` persistent worker threads plus the caller; one context at a time.

    ``callback`` is the ``LlametteParallelFn`` to give ``llamette_context_set_parallel`` and
    ``width`` its width. Call :meth:`close` to stop the workers (idempotent).
    """

    def __init__(self, n_threads: int):
        if n_threads < 2:
            raise ValueError("a ThreadPool needs at least 2 threads (1 is the serial path)")
        self.width = n_threads
        self.batches = 0  # batches that went through the workers (statistics)
        self.calls = 0  # every call of the callback (statistics)
        self.tasks = 0  # tasks run through the callback (statistics)
        self._tasks: Dict[int, object] = {}  # task address -> ctypes wrapper
        self._job: Optional[tuple] = None
        self._busy = 0
        self._mu = threading.Lock()
        self._done = threading.Lock()
        self._done.acquire()
        self._quit = False
        self._error: Optional[BaseException] = None
        self._wake: List[threading.Lock] = []
        self._threads: List[threading.Thread] = []
        for i in range(n_threads - 1):
            wake = threading.Lock()
            wake.acquire()
            t = threading.Thread(
                target=self._worker, args=(wake,), name=f"llamette-pool-{i}", daemon=True
            )
            self._wake.append(wake)
            self._threads.append(t)
            t.start()
        # Kept alive as long as the pool: llamette calls it from inside eval/generate.
        self.callback = _ffi.ParallelFn(self._run)

    def _task(self, addr: int):
        fn = self._tasks.get(addr)
        if fn is None:
            fn = self._tasks[addr] = _ffi.TaskFn(addr)
        return fn

    def _run(self, _user, n_tasks: int, task_addr: int, task_ctx: int) -> None:
        # Runs with the GIL held, on the thread inside llamette_eval/llamette_generate. Must not
        # raise (ctypes would print and return): a failure shows as missing task calls, which
        # llamette reports as LLAMETTE_ERR_PANIC.
        try:
            self.calls += 1
            self.tasks += n_tasks
            fn = self._task(task_addr)
            n_helpers = min(len(self._wake), n_tasks - 1)
            if n_helpers <= 0 or self._quit:
                for i in range(n_tasks):
                    fn(task_ctx, i)
                return
            self.batches += 1
            counter = itertools.count()
            self._job = (fn, task_ctx, n_tasks, counter)
            self._busy = n_helpers
            for w in self._wake[:n_helpers]:
                w.release()
            for i in counter:  # next() on itertools.count is atomic under the GIL
                if i >= n_tasks:
                    break
                fn(task_ctx, i)  # the GIL is released while the C task runs
            self._done.acquire()  # the last helper to finish releases it
            self._job = None
        except BaseException as e:  # pragma: no cover - defensive
            self._error = e

    def _worker(self, wake: threading.Lock) -> None:
        while True:
            wake.acquire()
            if self._quit:
                return
            fn, task_ctx, n_tasks, counter = self._job  # type: ignore[misc]
            try:
                for i in counter:
                    if i >= n_tasks:
                        break
                    fn(task_ctx, i)
            finally:
                with self._mu:
                    self._busy -= 1
                    last = self._busy == 0
                if last:
                    self._done.release()

    def close(self) -> None:
        """Stops and joins the workers. The callback then runs every task inline."""
        if self._quit:
            return
        self._quit = True
        for w in self._wake:
            try:
                w.release()
            except RuntimeError:  # already released (cannot happen between batches)
                pass
        me = threading.current_thread()
        for t in self._threads:
            if t is not me:
                t.join()
        self._threads.clear()
