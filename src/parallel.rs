//! Threads belong to the host: every heavy operation is split into independent tasks and handed
//! to a [`Parallel`] implementation to run.
//!
//! [`Serial`] runs tasks inline. Under `std`, [`ThreadPool`] is a small pool for hosts that have
//! none: its workers spin briefly between jobs (an evaluation issues hundreds of jobs per token)
//! and then park. llamette never starts a thread on its own: the host creates the pool.

/// Runs independent tasks, possibly at once.
pub trait Parallel: Sync {
    /// Runs `task(i)` for every `i` in `0..n`, possibly at once; returns when all are done.
    fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync));

    /// How many tasks may usefully run at once (a hint for splitting work).
    fn width(&self) -> usize;
}

/// Runs every task inline, in order, on the calling thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Serial;

impl Parallel for Serial {
    fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync)) {
        (0..n).for_each(task);
    }

    fn width(&self) -> usize {
        1
    }
}

#[cfg(feature = "std")]
pub use pool::ThreadPool;

#[cfg(feature = "std")]
mod pool {
    use super::Parallel;
    use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::thread::{self, JoinHandle, Thread};

    /// Spins of a worker between jobs before it parks.
    const SPINS_BEFORE_PARK: u32 = 20_000;

    /// One call to `run`, living on the caller's stack for the duration of the call.
    struct Job<'t> {
        task: &'t (dyn Fn(usize) + Sync),
        n: usize,
        next: AtomicUsize,
        done: AtomicUsize,
        panicked: AtomicBool,
    }

    impl Job<'_> {
        /// Takes and runs tasks until none are left.
        fn work(&self) {
            loop {
                let i = self.next.fetch_add(1, SeqCst);
                if i >= self.n {
                    return;
                }
                let task = self.task;
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task(i))).is_err() {
                    self.panicked.store(true, SeqCst);
                }
                self.done.fetch_add(1, SeqCst);
            }
        }
    }

    struct Shared {
        /// The current job, or null between jobs. Points into the stack of a caller of `run`,
        /// which does not return before `active` is back to zero with the pointer cleared.
        job: AtomicPtr<Job<'static>>,
        /// Incremented for every job, so workers notice new work.
        generation: AtomicU64,
        /// Workers that may hold a pointer to the current job.
        active: AtomicUsize,
        /// Workers currently parked (or about to park).
        parked: AtomicUsize,
        /// Workers that have started running.
        started: AtomicUsize,
        shutdown: AtomicBool,
    }

    /// A fixed set of worker threads implementing [`Parallel`].
    ///
    /// The calling thread takes part in every job, so a pool of `n` threads starts `n - 1`
    /// workers. Jobs are issued by one caller at a time (`run` takes a lock).
    pub struct ThreadPool {
        shared: Arc<Shared>,
        workers: Vec<(JoinHandle<()>, Thread)>,
        width: usize,
        lock: std::sync::Mutex<()>,
    }

    impl core::fmt::Debug for ThreadPool {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("ThreadPool")
                .field("threads", &self.width)
                .finish()
        }
    }

    impl ThreadPool {
        /// A pool of `threads` threads in all (the caller plus `threads - 1` workers; 0 is
        /// taken as 1). Where the system refuses to start that many, the pool has the threads
        /// it could start (see its `Debug` output or [`Parallel::width`]).
        pub fn new(threads: usize) -> ThreadPool {
            let width = threads.max(1);
            let shared = Arc::new(Shared {
                job: AtomicPtr::new(core::ptr::null_mut()),
                generation: AtomicU64::new(0),
                active: AtomicUsize::new(0),
                parked: AtomicUsize::new(0),
                started: AtomicUsize::new(0),
                shutdown: AtomicBool::new(false),
            });
            // Where the system refuses a thread (a limit on threads or memory), the pool is as
            // wide as the threads it got: fewer threads, never a panic.
            let mut workers = Vec::with_capacity(width - 1);
            for i in 1..width {
                let s = Arc::clone(&shared);
                let Ok(handle) = thread::Builder::new()
                    .name(format!("llamette-{i}"))
                    .spawn(move || worker(&s))
                else {
                    break;
                };
                let t = handle.thread().clone();
                workers.push((handle, t));
            }
            let width = workers.len() + 1;
            // Return only when every worker runs: a thread's start-up allocates (its name, its
            // stack guard), and that must not happen later, inside an evaluation.
            while shared.started.load(SeqCst) < width - 1 {
                thread::yield_now();
            }
            ThreadPool {
                shared,
                workers,
                width,
                lock: std::sync::Mutex::new(()),
            }
        }
    }

    fn worker(s: &Shared) {
        s.started.fetch_add(1, SeqCst);
        let mut seen = 0u64;
        loop {
            // Wait for a new generation: spin, then park.
            let mut spins = 0u32;
            loop {
                if s.shutdown.load(SeqCst) {
                    return;
                }
                let g = s.generation.load(SeqCst);
                if g != seen {
                    seen = g;
                    break;
                }
                if spins < SPINS_BEFORE_PARK {
                    spins += 1;
                    core::hint::spin_loop();
                } else {
                    s.parked.fetch_add(1, SeqCst);
                    // Re-check after announcing: a job published before the announcement was
                    // seen here; one published after it will unpark this thread.
                    if s.generation.load(SeqCst) == seen && !s.shutdown.load(SeqCst) {
                        thread::park();
                    }
                    s.parked.fetch_sub(1, SeqCst);
                }
            }
            s.active.fetch_add(1, SeqCst);
            let job = s.job.load(SeqCst);
            if !job.is_null() {
                // SAFETY: a non-null pointer was loaded after `active` was raised; the caller of
                // `run` clears the pointer and then waits for `active` to fall to zero before
                // its `Job` goes out of scope, so the job is alive while we use it.
                unsafe { (*job).work() };
            }
            s.active.fetch_sub(1, SeqCst);
        }
    }

    impl Parallel for ThreadPool {
        fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync)) {
            if n == 0 {
                return;
            }
            if self.workers.is_empty() || n == 1 {
                (0..n).for_each(task);
                return;
            }
            let _one_caller = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            let job = Job {
                task,
                n,
                next: AtomicUsize::new(0),
                done: AtomicUsize::new(0),
                panicked: AtomicBool::new(false),
            };
            let s = &*self.shared;
            // The pointer's lifetime is erased; see `worker` for why it is never used after
            // this function returns.
            s.job
                .store((&job as *const Job<'_>).cast_mut().cast(), SeqCst);
            s.generation.fetch_add(1, SeqCst);
            if s.parked.load(SeqCst) > 0 {
                for (_, t) in &self.workers {
                    t.unpark();
                }
            }
            job.work();
            while job.done.load(SeqCst) < n {
                core::hint::spin_loop();
            }
            s.job.store(core::ptr::null_mut(), SeqCst);
            while s.active.load(SeqCst) > 0 {
                core::hint::spin_loop();
            }
            if job.panicked.load(SeqCst) {
                panic!("a task run by the llamette thread pool panicked");
            }
        }

        fn width(&self) -> usize {
            self.width
        }
    }

    impl Drop for ThreadPool {
        fn drop(&mut self) {
            self.shared.shutdown.store(true, SeqCst);
            for (handle, t) in self.workers.drain(..) {
                t.unpark();
                let _ = handle.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    fn check(p: &dyn Parallel) {
        for n in [0, 1, 2, 3, 7, 64, 1000] {
            let hits: alloc::vec::Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            p.run(n, &|i| {
                hits[i].fetch_add(1, Ordering::SeqCst);
            });
            assert!(
                hits.iter().all(|h| h.load(Ordering::SeqCst) == 1),
                "n = {n}"
            );
        }
    }

    #[test]
    fn serial_runs_every_task_once() {
        check(&Serial);
    }

    #[cfg(feature = "std")]
    #[test]
    fn pool_runs_every_task_once_many_times() {
        for threads in [1, 2, 4] {
            let pool = ThreadPool::new(threads);
            assert_eq!(pool.width(), threads);
            for _ in 0..200 {
                check(&pool);
            }
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn pool_wakes_parked_workers() {
        let pool = ThreadPool::new(3);
        check(&pool);
        // Long enough for the workers to give up spinning and park.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let sum = AtomicUsize::new(0);
        pool.run(100, &|i| {
            sum.fetch_add(i, Ordering::SeqCst);
        });
        assert_eq!(sum.load(Ordering::SeqCst), 4950);
    }

    #[cfg(feature = "std")]
    #[test]
    fn a_panicking_task_is_reported_to_the_caller() {
        let pool = ThreadPool::new(2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(8, &|i| assert!(i != 5, "task five fails"));
        }));
        assert!(r.is_err());
        // The pool still works afterwards.
        check(&pool);
    }
}
