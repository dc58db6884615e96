//! Performance counters of a context, as llama.cpp's `llama_perf_context` and
//! `llama_perf_context_reset`.

use super::context::{context_mut, context_ref, LlametteContext};
use super::{guard, LlametteStatus, Out};
use crate::model::Context;

/// What a context has evaluated since it was created or since `llamette_perf_context_reset`,
/// with llama.cpp's `llama_perf_context_data` field names and layout.
///
/// A successful `llamette_eval` or `llamette_decode` (a generation's evaluations included) of
/// one token adds 1 to `n_eval` and its time to `t_eval_ms`; one of more tokens adds all of its
/// tokens to `n_p_eval` and its time to `t_p_eval_ms`: llama.cpp's rule for the tokens decoded
/// between two synchronizations (every llamette call is synchronous). A failed call counts
/// nothing; restoring a state, truncating or editing sequences changes nothing.
///
/// Unlike llama.cpp, which reports at least 1 for `n_p_eval` and `n_eval` (to keep its
/// averages finite), the counts are exact: 0 before anything was evaluated.
///
/// The layout is llama.cpp's and never changes (a later field would be another struct).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LlamettePerfContextData {
    /// When counting started (the context's creation or the last reset), in milliseconds of
    /// wall-clock time since the Unix epoch. (llama.cpp's reads ggml's monotonic clock and
    /// starts at the model's loading.)
    pub t_start_ms: f64,
    /// Always 0.0: llamette does not time loading a model.
    pub t_load_ms: f64,
    /// Milliseconds spent in evaluations of more than one token (prompts).
    pub t_p_eval_ms: f64,
    /// Milliseconds spent in evaluations of one token (generation).
    pub t_eval_ms: f64,
    /// Tokens evaluated by evaluations of more than one token (saturates at `INT32_MAX`).
    pub n_p_eval: i32,
    /// Evaluations of one token (saturates at `INT32_MAX`).
    pub n_eval: i32,
    /// Tokens kept by `llamette_context_reuse_prefix` (and the generation calls that reuse a
    /// prefix) instead of being evaluated again (saturates at `INT32_MAX`). llama.cpp's
    /// `n_reused` counts reused compute graphs, which llamette does not have.
    pub n_reused: i32,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<LlamettePerfContextData>() == 48);

impl LlamettePerfContextData {
    fn of(ctx: &Context<'_>) -> LlamettePerfContextData {
        let p = ctx.perf();
        let ms = |d: core::time::Duration| d.as_secs_f64() * 1e3;
        let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        LlamettePerfContextData {
            t_start_ms: ms(p.t_start),
            t_load_ms: 0.0,
            t_p_eval_ms: ms(p.t_p_eval),
            t_eval_ms: ms(p.t_eval),
            n_p_eval: count(p.n_p_eval),
            n_eval: count(p.n_eval),
            n_reused: count(p.n_reused),
        }
    }
}

/// Writes to `*out` what the context has evaluated since it was created or since
/// `llamette_perf_context_reset` (llama.cpp's `llama_perf_context`). `*out` is untouched on
/// failure.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (`c` or `out` NULL; llama.cpp returns
/// zeros for a NULL context); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `out` writable (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_perf_context(
    c: *const LlametteContext,
    out: *mut LlamettePerfContextData,
) -> LlametteStatus {
    guard("llamette_perf_context", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        let out = Out::new(out, "out")?;
        // SAFETY: writable per the contract.
        unsafe { out.write(LlamettePerfContextData::of(&inner.ctx)) };
        Ok(())
    })
}

/// Zeroes a context's counters and times and starts counting again from now (llama.cpp's
/// `llama_perf_context_reset`). The cache and logits stay as they are.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_perf_context_reset(c: *mut LlametteContext) -> LlametteStatus {
    guard("llamette_perf_context_reset", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        inner.ctx.perf_reset();
        Ok(())
    })
}
