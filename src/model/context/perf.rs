//! Performance counters of a context: llama.cpp's `llama_perf_context` (`llama-context.cpp`,
//! `llama_context::synchronize`, `perf_get_data`, `perf_reset`).
//!
//! Counts are kept in every build. The core has no clock: times are measured only with the
//! `std` feature (`std::time::Instant` around each evaluation, `SystemTime` for the start) and
//! stay zero without it.

use core::time::Duration;

/// What a context has evaluated since it was created or since [`Context::perf_reset`]
/// (llama.cpp's `llama_perf_context_data`), from [`Context::perf`].
///
/// Each successful [`Context::eval`] or [`Context::decode`] is attributed as llama.cpp's
/// `synchronize` attributes the tokens queued since the last one: a call of one token adds 1
/// to `n_eval` and its time to `t_eval`; a call of more than one token adds all of its tokens
/// to `n_p_eval` (however many steps of `n_batch` it takes) and its time to `t_p_eval`. Every
/// llamette call is synchronous, so each call is one such window (llama.cpp sums single-token
/// decodes made without a synchronization in between into one "prompt" window; llamette never
/// does). A call that fails (bad input, a full context, a host `Parallel` that panics) counts
/// nothing. Restoring a state, clearing, truncating or editing sequences changes nothing here,
/// as in llama.cpp.
///
/// Times are zero without the `std` feature. With it, a call's time runs from after its
/// arguments are checked to when its logits are ready.
///
/// [`Context::perf_reset`]: super::Context::perf_reset
/// [`Context::perf`]: super::Context::perf
/// [`Context::eval`]: super::Context::eval
/// [`Context::decode`]: super::Context::decode
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerfCounters {
    /// When counting started (the context's creation or the last reset), as wall-clock time
    /// since the Unix epoch (llama.cpp's `t_start_ms` reads ggml's monotonic clock instead, and
    /// starts at the model's loading). Zero without `std`.
    pub t_start: Duration,
    /// Time spent in calls of more than one token (llama.cpp's `t_p_eval_ms`).
    pub t_p_eval: Duration,
    /// Time spent in calls of one token (llama.cpp's `t_eval_ms`).
    pub t_eval: Duration,
    /// Tokens evaluated by calls of more than one token: prompts (llama.cpp's `n_p_eval`).
    pub n_p_eval: u64,
    /// Calls of one token, which is also their tokens: generation (llama.cpp's `n_eval`).
    pub n_eval: u64,
    /// Successful evaluation calls of any size (`n_eval` of them of one token).
    pub n_calls: u64,
    /// Tokens kept by [`Context::reuse_prefix`] instead of being evaluated again, summed over
    /// its calls. llama.cpp's `n_reused` counts reused compute graphs, which llamette does not
    /// have; this is the reuse it does have.
    ///
    /// [`Context::reuse_prefix`]: super::Context::reuse_prefix
    pub n_reused: u64,
}

impl PerfCounters {
    /// Zero counts, started now.
    pub(super) fn started() -> PerfCounters {
        PerfCounters {
            t_start: clock::wall(),
            ..PerfCounters::default()
        }
    }

    /// Attributes a successful call of `n` tokens that took `took`.
    pub(super) fn record(&mut self, n: usize, took: Duration) {
        if n == 1 {
            self.n_eval = self.n_eval.saturating_add(1);
            self.t_eval = self.t_eval.saturating_add(took);
        } else {
            self.n_p_eval = self.n_p_eval.saturating_add(n as u64);
            self.t_p_eval = self.t_p_eval.saturating_add(took);
        }
        self.n_calls = self.n_calls.saturating_add(1);
    }

    /// Adds `n` tokens kept by prefix reuse.
    pub(super) fn reused(&mut self, n: usize) {
        self.n_reused = self.n_reused.saturating_add(n as u64);
    }
}

/// Reading the clock: `Instant` and `SystemTime` with `std`, nothing without.
#[cfg(feature = "std")]
pub(super) mod clock {
    use core::time::Duration;
    use std::time::{Instant, SystemTime};

    /// A reading of the monotonic clock.
    pub(crate) type Stamp = Instant;

    /// The monotonic clock now.
    pub(crate) fn now() -> Stamp {
        Instant::now()
    }

    /// The time since `t0`.
    pub(crate) fn since(t0: Stamp) -> Duration {
        t0.elapsed()
    }

    /// Wall-clock time since the Unix epoch (zero for a clock set before it).
    pub(crate) fn wall() -> Duration {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// Without `std` there is no clock: every time is zero.
#[cfg(not(feature = "std"))]
pub(super) mod clock {
    use core::time::Duration;

    /// No reading.
    #[derive(Clone, Copy)]
    pub(crate) struct Stamp;

    /// Nothing to read.
    pub(crate) fn now() -> Stamp {
        Stamp
    }

    /// Zero.
    pub(crate) fn since(_t0: Stamp) -> Duration {
        Duration::ZERO
    }

    /// Zero.
    pub(crate) fn wall() -> Duration {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_token_calls_are_eval_and_longer_ones_prompt() {
        let mut p = PerfCounters::default();
        p.record(5, Duration::from_millis(3));
        p.record(1, Duration::from_millis(1));
        p.record(1, Duration::from_millis(2));
        p.record(2, Duration::from_millis(4));
        p.reused(7);
        p.reused(0);
        assert_eq!(
            p,
            PerfCounters {
                t_start: Duration::ZERO,
                t_p_eval: Duration::from_millis(7),
                t_eval: Duration::from_millis(3),
                n_p_eval: 7,
                n_eval: 2,
                n_calls: 4,
                n_reused: 7,
            }
        );
    }
}
