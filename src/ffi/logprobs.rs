//! Log-probabilities of tokens from a context's logits (`sampling::logprobs`), for hosts that
//! drive generation themselves: sample a token, ask for its log-probability and alternatives,
//! then accept and evaluate it.

use alloc::vec::Vec;

use super::context::{context_mut, context_ref, LlametteContext};
use super::{guard, slice, Fail, LlametteStatus, Out};
use crate::generate::prompt_logprobs;
use crate::sampling::{logprobs, TokenLogprob, MAX_TOP_LOGPROBS};

/// The most alternatives `llamette_token_logprobs` reports (llama-cpp-python's and OpenAI's
/// limit).
pub const LLAMETTE_MAX_TOP_LOGPROBS: usize = 20;

const _: () = assert!(LLAMETTE_MAX_TOP_LOGPROBS == MAX_TOP_LOGPROBS);

/// A token's log-probability and the most likely tokens at its step.
///
/// The layout never changes (a later field would be another struct).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LlametteTokenLogprob {
    /// The token asked about.
    pub token: u32,
    /// Its log-probability (`-INFINITY` for a token a bias of `-INFINITY` banned).
    pub logprob: f32,
    /// How many entries of `top_tokens`/`top_logprobs` are filled.
    pub n_top: u32,
    /// The most likely tokens, most likely first (ties: lower id first).
    pub top_tokens: [u32; LLAMETTE_MAX_TOP_LOGPROBS],
    /// Their log-probabilities.
    pub top_logprobs: [f32; LLAMETTE_MAX_TOP_LOGPROBS],
}

/// Writes to `*out` the log-probability of `token` under the context's last logits (the
/// distribution after the token the last evaluation ended with), and the `n_top` most likely
/// tokens (at most `LLAMETTE_MAX_TOP_LOGPROBS`; more is clamped). The distribution is the
/// softmax of the logits with `n_bias` biases added (`bias_tokens[i]` gets `biases[i]`, as
/// `llamette_sampler_set_logit_bias` takes them), before penalties, grammar, truncation and
/// temperature: what llama.cpp's server and llama-cpp-python report. Call it after sampling a
/// token and before evaluating it. `*out` is untouched on failure.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (`c`, `out`, or a bias array with
/// `n_bias > 0`); `LLAMETTE_ERR_INVALID_ARGUMENT` (the context has no logits yet);
/// `LLAMETTE_ERR_BAD_TOKEN` (`token` outside the vocabulary); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `bias_tokens` and `biases` readable for
/// `n_bias` elements; `out` writable (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_token_logprobs(
    c: *const LlametteContext,
    token: u32,
    n_top: u32,
    bias_tokens: *const u32,
    biases: *const f32,
    n_bias: usize,
    out: *mut LlametteTokenLogprob,
) -> LlametteStatus {
    guard("llamette_token_logprobs", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        let out = Out::new(out, "out")?;
        // SAFETY: readable for `n_bias` elements per the contract.
        let (tokens, values) = unsafe {
            (
                slice(bias_tokens, n_bias, "bias_tokens")?,
                slice(biases, n_bias, "biases")?,
            )
        };
        let bias: Vec<(u32, f32)> = tokens.iter().copied().zip(values.iter().copied()).collect();
        let logits = inner.ctx.logits();
        if logits.is_empty() {
            return Err(Fail::from(crate::Error::BadParams {
                reason: "the context has no logits: evaluate a prompt first".into(),
            }));
        }
        let Some(lp) = logprobs(logits, &bias, token, n_top as usize) else {
            return Err(Fail::from(crate::Error::BadToken {
                token,
                n_vocab: logits.len(),
            }));
        };
        // SAFETY: writable per the contract.
        unsafe { out.write(to_c(&lp)) };
        Ok(())
    })
}

/// The C form of a token's log-probability.
pub(crate) fn to_c(lp: &TokenLogprob) -> LlametteTokenLogprob {
    let mut r = LlametteTokenLogprob {
        token: lp.id,
        logprob: lp.logprob,
        n_top: lp.n_top as u32,
        top_tokens: [0; LLAMETTE_MAX_TOP_LOGPROBS],
        top_logprobs: [0.0; LLAMETTE_MAX_TOP_LOGPROBS],
    };
    for (i, &(t, l)) in lp.top().iter().enumerate() {
        r.top_tokens[i] = t;
        r.top_logprobs[i] = l;
    }
    r
}

/// Evaluates `tokens` after what the context holds (in steps of `n_batch`) and writes to
/// `out[i]` the log-probability of `tokens[i]` given everything before it, with its `n_top`
/// most likely alternatives (at most `LLAMETTE_MAX_TOP_LOGPROBS`; more is clamped): the
/// prompt log-probabilities of llama-cpp-python's `echo=True, logprobs=N`, from the same
/// distribution as `llamette_token_logprobs` (`n_bias` biases added). When the context held
/// nothing, no logits predict `tokens[0]`: `out[0]` then has `logprob` NaN and `n_top` 0.
/// Afterwards the context holds the tokens and its logits are the last one's, so generation
/// can continue (`llamette_generate` with `n_prompt` 0; record the tokens in the sampler with
/// `llamette_sampler_accept` first).
///
/// The context must keep every position's logits (`logits_all` in its parameters).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (`c`, `out` or `tokens` with
/// `n_tokens > 0`, a bias array with `n_bias > 0`); `LLAMETTE_ERR_INVALID_ARGUMENT` (no
/// `logits_all`; `n_tokens` 0); `LLAMETTE_ERR_BAD_TOKEN`; `LLAMETTE_ERR_CONTEXT_FULL`;
/// `LLAMETTE_ERR_PANIC`. On failure the context holds what it held plus the steps evaluated
/// before the failure, and `out` is unspecified.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `tokens` readable and `out` writable for
/// `n_tokens` elements; `bias_tokens` and `biases` readable for `n_bias` elements.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn llamette_prompt_logprobs(
    c: *mut LlametteContext,
    tokens: *const u32,
    n_tokens: usize,
    n_top: u32,
    bias_tokens: *const u32,
    biases: *const f32,
    n_bias: usize,
    out: *mut LlametteTokenLogprob,
) -> LlametteStatus {
    guard("llamette_prompt_logprobs", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        // SAFETY: readable for `n_tokens` ids per the contract.
        let tokens = unsafe { slice(tokens, n_tokens, "tokens") }?;
        if out.is_null() {
            return Err(Fail::null("out"));
        }
        if tokens.is_empty() {
            return Err(Fail::invalid("`n_tokens` is 0: no tokens to evaluate"));
        }
        // SAFETY: readable for `n_bias` elements per the contract.
        let (bt, bv) = unsafe {
            (
                slice(bias_tokens, n_bias, "bias_tokens")?,
                slice(biases, n_bias, "biases")?,
            )
        };
        let bias: Vec<(u32, f32)> = bt.iter().copied().zip(bv.iter().copied()).collect();
        let (ctx, par, _) = inner.parts();
        let lps = prompt_logprobs(ctx, tokens, &bias, n_top as usize, par)?;
        for (i, (lp, &t)) in lps.iter().zip(tokens).enumerate() {
            let r = match lp {
                Some(lp) => to_c(lp),
                None => LlametteTokenLogprob {
                    token: t,
                    logprob: f32::NAN,
                    n_top: 0,
                    top_tokens: [0; LLAMETTE_MAX_TOP_LOGPROBS],
                    top_logprobs: [0.0; LLAMETTE_MAX_TOP_LOGPROBS],
                },
            };
            // SAFETY: writable for `n_tokens` elements per the contract; `i < n_tokens`.
            // (`write`: the host's array may be uninitialized.)
            unsafe { out.add(i).write(r) };
        }
        Ok(())
    })
}
