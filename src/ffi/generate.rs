//! Sampling and generation.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::{c_char, c_void};
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use super::context::{context_mut, context_ref, LlametteContext};
use super::model::{model_arc, LlametteModel, ModelInner};
use super::{
    arg, c_str, guard, guard_or, into_handle, slice, text, Fail, LlametteStatus, Out, VolatileU32,
};
use crate::generate::{Generation, Step, StopReason, StopRules};
use crate::sampling::{Sampler, SamplerParams};

/// Sampling parameters (llama.cpp's chain: logit bias, penalties, top-k, top-p, min-p,
/// temperature, seeded draw).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LlametteSamplerParams {
    /// Seeds the random number generator (default 0xFFFFFFFF, a fixed seed: the host owns
    /// entropy). Same seed, same logits, same accepted tokens: same tokens drawn.
    pub seed: u64,
    /// Keep the `top_k` most likely tokens (default 40); 0 keeps all.
    pub top_k: u32,
    /// Keep the most likely tokens up to this cumulative probability (default 0.95); 1.0 or
    /// more disables it.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one (default 0.05); 0
    /// disables it.
    pub min_p: f32,
    /// Temperature (default 0.8); `<= 0` picks the most likely token (greedy).
    pub temp: f32,
    /// How many recent tokens the penalties look at (default 64); 0 disables the penalties.
    pub penalty_last_n: u32,
    /// Repeat penalty (default 1.0: off); finite and > 0.
    pub penalty_repeat: f32,
    /// Frequency penalty per occurrence (default 0.0: off); finite.
    pub penalty_freq: f32,
    /// Presence penalty (default 0.0: off); finite.
    pub penalty_present: f32,
    /// Top-p and min-p keep at least this many candidates (default 0).
    pub min_keep: u32,
}

impl LlametteSamplerParams {
    fn from_rust(p: &SamplerParams) -> LlametteSamplerParams {
        let u = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        LlametteSamplerParams {
            seed: p.seed,
            top_k: u(p.top_k),
            top_p: p.top_p,
            min_p: p.min_p,
            temp: p.temp,
            penalty_last_n: u(p.penalty_last_n),
            penalty_repeat: p.penalty_repeat,
            penalty_freq: p.penalty_freq,
            penalty_present: p.penalty_present,
            min_keep: u(p.min_keep),
        }
    }

    pub(crate) fn to_rust(self) -> SamplerParams {
        SamplerParams {
            seed: self.seed,
            top_k: self.top_k as usize,
            top_p: self.top_p,
            min_p: self.min_p,
            temp: self.temp,
            penalty_last_n: self.penalty_last_n as usize,
            penalty_repeat: self.penalty_repeat,
            penalty_freq: self.penalty_freq,
            penalty_present: self.penalty_present,
            min_keep: self.min_keep as usize,
            ..SamplerParams::default()
        }
    }
}

/// Returns llama.cpp's default sampling parameters (`common_params_sampling`): seed
/// 0xFFFFFFFF, top-k 40, top-p 0.95, min-p 0.05, temperature 0.8, penalties over the last 64
/// tokens all off (repeat 1.0, frequency 0, presence 0), min-keep 0.
///
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn llamette_sampler_default_params() -> LlametteSamplerParams {
    LlametteSamplerParams::from_rust(&SamplerParams::default())
}

/// A sampler: the chain's parameters, the recent tokens for the penalties, the random number
/// generator, and optionally a grammar (`llamette_sampler_set_grammar`). One thread at a time.
pub struct LlametteSampler {
    _private: [u8; 0],
}

pub(crate) struct SamplerInner {
    pub(crate) sampler: Sampler,
    /// Keeps the model alive as long as the sampler, as the header promises; its vocabulary is
    /// what grammars are compiled for.
    pub(crate) model: Arc<ModelInner>,
    /// The host's logits processor (`llamette_sampler_set_logits_processor`), kept to set on a
    /// rebuilt sampler.
    pub(crate) processor: Option<super::sampler_ex::HostCallback>,
}

/// # Safety
///
/// `s` must be NULL or a live sampler handle, used by one thread at a time.
pub(crate) unsafe fn sampler_mut<'a>(
    s: *mut LlametteSampler,
) -> Result<&'a mut SamplerInner, Fail> {
    // SAFETY: a live handle is a `Box<SamplerInner>` pointer, exclusively ours during the call
    // per the contract.
    unsafe { s.cast::<SamplerInner>().as_mut() }.ok_or_else(|| Fail::null("s"))
}

/// Creates a sampler for the model's vocabulary. All its memory is allocated here; sampling
/// allocates nothing.
///
/// - `p`: the parameters, read during the call only; NULL for the defaults.
/// - `out`: receives the new handle, owned by the caller (`llamette_sampler_free`); it keeps
///   the model alive. Untouched on failure.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT`
/// (penalties out of range: `penalty_repeat` not finite or `<= 0`, `penalty_freq` or
/// `penalty_present` not finite, `penalty_last_n` over `INT32_MAX`); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread; the new sampler is then used by one thread at a time.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `p` readable (or NULL); `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_sampler_new(
    m: *const LlametteModel,
    p: *const LlametteSamplerParams,
    out: *mut *mut LlametteSampler,
) -> LlametteStatus {
    guard("llamette_sampler_new", || {
        let out = Out::new(out, "out")?;
        // SAFETY: a live handle or NULL per the contract.
        let model = unsafe { model_arc(m) }?;
        let params = if p.is_null() {
            SamplerParams::default()
        } else {
            // SAFETY: non-NULL and readable per the contract.
            unsafe { *arg(p, "p")? }.to_rust()
        };
        let sampler = Sampler::new(model.vocab.n_tokens(), params)?;
        // SAFETY: writable per the contract.
        unsafe {
            out.write(into_handle(SamplerInner {
                sampler,
                model,
                processor: None,
            }))
        };
        Ok(())
    })
}

/// Replaces the sampler's logit biases with `n` pairs (`tokens[i]`, `biases[i]`), added to the
/// logits before every other stage; a bias of `-INFINITY` bans a token. `n` 0 removes all
/// biases. The arrays are copied. The penalty history and the grammar (where it is) are kept;
/// the random number generator restarts from the seed (as after `llamette_sampler_reset`), so
/// set biases before sampling.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (`s`, or an array with `n > 0`);
/// `LLAMETTE_ERR_BAD_TOKEN` (the sampler is unchanged); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per sampler.
///
/// # Safety
///
/// `s` must be a live sampler handle (or NULL); `tokens` and `biases` readable for `n`
/// elements.
#[no_mangle]
pub unsafe extern "C" fn llamette_sampler_set_logit_bias(
    s: *mut LlametteSampler,
    tokens: *const u32,
    biases: *const f32,
    n: usize,
) -> LlametteStatus {
    guard("llamette_sampler_set_logit_bias", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { sampler_mut(s) }?;
        // SAFETY: readable for `n` elements per the contract.
        let (tokens, biases) =
            unsafe { (slice(tokens, n, "tokens")?, slice(biases, n, "biases")?) };
        let n_vocab = inner.sampler.n_vocab();
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(crate::Error::BadToken { token: t, n_vocab }.into());
        }
        let params = SamplerParams {
            logit_bias: tokens.iter().copied().zip(biases.iter().copied()).collect(),
            ..inner.sampler.params().clone()
        };
        // `Sampler` takes its biases at construction: rebuild it (with DRY's breakers as they
        // were), replay the histories and carry the grammar over in its state and the logits
        // processor.
        let breakers = inner.sampler.dry_breakers().clone();
        let mut sampler = Sampler::with_dry_breakers(n_vocab, params, breakers)?;
        // Both histories hold the latest tokens: the longer one holds the other.
        let (h, d) = (inner.sampler.history(), inner.sampler.dry_history());
        for t in if d.len() > h.len() { d } else { h }.iter() {
            sampler.accept(t);
        }
        sampler.set_constraint(inner.sampler.constraint().map(|c| c.box_clone()));
        if let Some(cb) = inner.processor {
            sampler.set_logits_processor(Some(super::sampler_ex::host_processor(cb, n_vocab)?));
        }
        inner.sampler = sampler;
        Ok(())
    })
}

/// Chooses a token from the context's last logits and writes it to `*token`; with a grammar
/// (`llamette_sampler_set_grammar`), only a token it allows. Does not record it: call
/// `llamette_sampler_accept_sampled` with the token actually used (`llamette_sampler_accept`
/// with every prompt token, for the penalties).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (the
/// context has no logits yet); `LLAMETTE_ERR_CONSTRAINT` (the grammar allows no token: the text
/// so far cannot be completed; `llamette_last_error` says why); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per sampler and per context.
///
/// # Safety
///
/// `s` and `c` must be live handles (or NULL); `token` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_sampler_sample(
    s: *mut LlametteSampler,
    c: *const LlametteContext,
    token: *mut u32,
) -> LlametteStatus {
    guard("llamette_sampler_sample", || {
        // SAFETY: live handles or NULL per the contract.
        let inner = unsafe { sampler_mut(s) }?;
        // SAFETY: as above.
        let ctx = unsafe { context_ref(c) }?;
        let token = Out::new(token, "token")?;
        let constrained = inner.sampler.constraint().is_some();
        let t = inner
            .sampler
            .try_sample(ctx.ctx.logits())
            .map_err(|e| match e {
                crate::Error::ConstraintFailed { .. } if constrained => Fail::from(e),
                // Without a grammar: the chain left no candidate (a stage emptied the list).
                crate::Error::ConstraintFailed { reason } => Fail::invalid(reason),
                e => Fail::from(e),
            })?;
        // SAFETY: writable per the contract.
        unsafe { token.write(t) };
        Ok(())
    })
}

/// Records `token` in the sampler's history for the penalties (every prompt token and every
/// generated one, in order). Ids outside the vocabulary are recorded but never penalized. The
/// grammar, if any, does not see it: record generated tokens with
/// `llamette_sampler_accept_sampled` instead, which also advances the grammar.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per sampler.
///
/// # Safety
///
/// `s` must be a live sampler handle (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_sampler_accept(
    s: *mut LlametteSampler,
    token: u32,
) -> LlametteStatus {
    guard("llamette_sampler_accept", || {
        // SAFETY: a live handle or NULL per the contract.
        unsafe { sampler_mut(s) }?.sampler.accept(token);
        Ok(())
    })
}

/// Forgets the history and restarts the random number generator from the seed, so the same
/// calls give the same tokens again. NULL is a no-op.
///
/// Thread safety: one thread at a time per sampler.
///
/// # Safety
///
/// `s` must be a live sampler handle or NULL.
#[no_mangle]
pub unsafe extern "C" fn llamette_sampler_reset(s: *mut LlametteSampler) {
    guard_or("llamette_sampler_reset", (), || {
        // SAFETY: a live handle or NULL per the contract.
        if let Ok(inner) = unsafe { sampler_mut(s) } {
            inner.sampler.reset();
        }
    })
}

/// Frees a sampler (and its reference to the model). NULL is a no-op.
///
/// Thread safety: no other call may use the sampler during or after this one.
///
/// # Safety
///
/// `s` must be NULL or a live sampler handle, not used during or after this call.
#[no_mangle]
pub unsafe extern "C" fn llamette_sampler_free(s: *mut LlametteSampler) {
    guard_or("llamette_sampler_free", (), || {
        if !s.is_null() {
            // SAFETY: a live handle is a `Box<SamplerInner>` from `into_handle`.
            drop(unsafe { alloc::boxed::Box::from_raw(s.cast::<SamplerInner>()) });
        }
    })
}

/// Why `llamette_generate` stopped.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlametteStopReason {
    /// `n_predict` tokens were generated.
    LLAMETTE_STOP_LENGTH = 0,
    /// An end-of-generation token (the model's set or `stop_tokens`) was sampled; it is not
    /// evaluated, not counted and not handed out.
    LLAMETTE_STOP_EOG = 1,
    /// A stop string appeared in the text; it and what follows are not handed out.
    LLAMETTE_STOP_STRING = 2,
    /// The context has no room for another token.
    LLAMETTE_STOP_CONTEXT_FULL = 3,
    /// The piece callback returned false.
    LLAMETTE_STOP_CALLBACK = 4,
    /// The abort flag was raised.
    LLAMETTE_STOP_ABORTED = 5,
    /// The sampler's grammar allows no further token (`llamette_last_error` says why; the call
    /// returns `LLAMETTE_OK`). A grammar that is complete ends with `LLAMETTE_STOP_EOG`.
    LLAMETTE_STOP_GRAMMAR = 6,
}

/// Receives generated text: `len` bytes of complete UTF-8 characters at `text` (also
/// NUL-terminated), valid only during the call; never empty. Return false to stop. It must not
/// unwind or `longjmp` out, and must not call llamette on the same context or sampler.
pub type LlamettePieceFn =
    Option<unsafe extern "C" fn(user: *mut c_void, text: *const c_char, len: usize) -> bool>;

/// When `llamette_generate` stops, besides the model's end-of-generation tokens.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LlametteGenerateParams {
    /// Tokens to generate at most; < 0: until another rule stops.
    pub n_predict: i32,
    /// Extra tokens that end generation (e.g. `llamette_chat_stop_tokens`); may be NULL when
    /// `n_stop_tokens` is 0. Copied at the start of the call.
    pub stop_tokens: *const u32,
    /// Number of `stop_tokens`.
    pub n_stop_tokens: usize,
    /// Strings that end generation when they appear in the text (UTF-8); may be NULL when
    /// `n_stop_strings` is 0. Copied at the start of the call. Text that might begin one is
    /// held back until it is certain not to.
    pub stop_strings: *const *const c_char,
    /// Byte lengths of `stop_strings`; NULL: every stop string is NUL-terminated.
    pub stop_string_lens: *const usize,
    /// Number of `stop_strings`.
    pub n_stop_strings: usize,
    /// Optional (NULL: none). Read before every token with a relaxed atomic load; when another
    /// thread sets it non-zero (with a C11 atomic store, or a volatile store of this aligned
    /// `uint32_t`), generation stops with `LLAMETTE_STOP_ABORTED` before the next token.
    pub abort_flag: *const VolatileU32,
}

/// Receives each generated token as it is chosen, before its text (which may be held back
/// while it could begin a stop string): its id and, when `n_logprobs >= 0`, its
/// log-probability with alternatives (`logprob` valid only during the call; NULL otherwise).
/// Also called for the token that completes a stop string (counted in `n_generated`, its text
/// not handed out), never for the end-of-generation token that stops. Return false to stop
/// after this token, whose text is still handed out (`LLAMETTE_STOP_CALLBACK`; ignored for the
/// token that completed a stop string). It must not
/// unwind or `longjmp` out, and must not call llamette on the same context or sampler.
pub type LlametteTokenFn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        token: u32,
        logprob: *const super::logprobs::LlametteTokenLogprob,
    ) -> bool,
>;

/// Parameters of `llamette_generate_ex`, extensible: get them from
/// `llamette_generate_default_params_ex` (which sets `size`) and change the fields you need.
/// `size` is `sizeof(LlametteGenerateParamsEx)` as the caller was compiled: later versions only
/// append fields; a size this library does not know is `LLAMETTE_ERR_INVALID_ARGUMENT`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LlametteGenerateParamsEx {
    /// `sizeof(LlametteGenerateParamsEx)`; set by `llamette_generate_default_params_ex`.
    pub size: usize,
    /// The stop rules and abort flag, as `llamette_generate` takes them.
    pub base: LlametteGenerateParams,
    /// Keep the longest start of `prompt` the context holds, as `llamette_generate_reusing`
    /// does (`prompt` is then the whole sequence, at least one token); default false.
    pub reuse_prefix: bool,
    /// Log-probabilities for `on_token`: < 0 none (default -1); 0 to
    /// `LLAMETTE_MAX_TOP_LOGPROBS` (more is clamped): each token's log-probability with that
    /// many alternatives, from the distribution `llamette_token_logprobs` describes (the
    /// logits with the sampler's logit biases, before penalties, grammar, truncation and
    /// temperature).
    pub n_logprobs: i32,
    /// Receives each generated token (see `LlametteTokenFn`); NULL: none.
    pub on_token: LlametteTokenFn,
    /// Passed to `on_token` as it is.
    pub token_user: *mut c_void,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<LlametteGenerateParamsEx>() == 88);

/// Returns the default `llamette_generate_ex` parameters: `size` set; no token limit
/// (`n_predict` -1), no stop tokens or strings, no abort flag; no prefix reuse; no
/// log-probabilities (`n_logprobs` -1); no token callback.
///
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn llamette_generate_default_params_ex() -> LlametteGenerateParamsEx {
    LlametteGenerateParamsEx {
        size: core::mem::size_of::<LlametteGenerateParamsEx>(),
        base: LlametteGenerateParams {
            n_predict: -1,
            stop_tokens: ptr::null(),
            n_stop_tokens: 0,
            stop_strings: ptr::null(),
            stop_string_lens: ptr::null(),
            n_stop_strings: 0,
            abort_flag: ptr::null(),
        },
        reuse_prefix: false,
        n_logprobs: -1,
        on_token: None,
        token_user: ptr::null_mut(),
    }
}

/// What `generate_impl` does per token besides the text: the host's token callback and the
/// alternatives it gets.
#[derive(Clone, Copy)]
struct TokenSink {
    on_token: LlametteTokenFn,
    user: *mut c_void,
    n_logprobs: Option<usize>,
}

const NO_TOKENS: TokenSink = TokenSink {
    on_token: None,
    user: ptr::null_mut(),
    n_logprobs: None,
};

/// The stop rules of C parameters (NULL: only the model's end-of-generation tokens).
///
/// # Safety
///
/// A non-NULL `p` must be readable, its arrays and strings as its fields' docs say.
unsafe fn stop_rules(p: Option<&LlametteGenerateParams>) -> Result<StopRules, Fail> {
    let Some(p) = p else {
        return Ok(StopRules::default());
    };
    // SAFETY: readable for `n_stop_tokens` ids per the contract.
    let stop_tokens = unsafe { slice(p.stop_tokens, p.n_stop_tokens, "p->stop_tokens") }?.to_vec();
    // SAFETY: readable for `n_stop_strings` pointers per the contract.
    let strings = unsafe { slice(p.stop_strings, p.n_stop_strings, "p->stop_strings") }?;
    let lens = if p.stop_string_lens.is_null() {
        None
    } else {
        // SAFETY: readable for `n_stop_strings` lengths per the contract.
        Some(unsafe { slice(p.stop_string_lens, p.n_stop_strings, "p->stop_string_lens") }?)
    };
    let mut stop_strings = Vec::with_capacity(strings.len());
    for (i, &sp) in strings.iter().enumerate() {
        let what = format!("p->stop_strings[{i}]");
        let s = match lens {
            // SAFETY: string `i` is readable for `lens[i]` bytes per the contract.
            Some(lens) => unsafe { text(sp, lens[i], &what) }?,
            // SAFETY: without lengths, string `i` is NUL-terminated per the contract.
            None => unsafe { c_str(sp, &what) }?
                .to_str()
                .map_err(|_| Fail::invalid(format!("`{what}` is not UTF-8")))?,
        };
        stop_strings.push(s.to_string());
    }
    Ok(StopRules {
        n_predict: usize::try_from(p.n_predict).ok(),
        stop_tokens,
        stop_strings,
    })
}

/// The abort flag, checked.
fn abort_flag<'a>(p: Option<&LlametteGenerateParams>) -> Result<Option<&'a AtomicU32>, Fail> {
    let Some(flag) = p.map(|p| p.abort_flag).filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    let flag = flag.cast::<u32>().cast_mut();
    if !flag.is_aligned() {
        return Err(Fail::invalid("`p->abort_flag` is not aligned to 4 bytes"));
    }
    // SAFETY: non-NULL and aligned (checked); the header's contract says it stays valid during
    // the call and is only written by atomic stores (or aligned volatile stores, which are
    // atomic on every platform llamette supports). It is only ever loaded here.
    Ok(Some(unsafe { AtomicU32::from_ptr(flag) }))
}

/// Evaluates `prompt` after what the context holds, then samples, evaluates and hands out text
/// token by token until a stop rule fires, the callback returns false, or the abort flag is
/// raised. Exactly what `llamette_sampler_sample` + `llamette_sampler_accept_sampled` +
/// `llamette_eval` + `LlametteDetokenizer` would do one token at a time, plus the stop rules;
/// with a grammar on the sampler, it stops with `LLAMETTE_STOP_GRAMMAR` when the grammar allows
/// no token.
///
/// - `prompt`, `n_prompt`: tokens to evaluate first (each also recorded in the sampler's
///   history); `n_prompt` may be 0 to continue from the context's last logits (`prompt` may
///   then be NULL). Read during the call only.
/// - `p`: stop rules, read during the call only; NULL: no limit, only the model's
///   end-of-generation tokens (and a full context) stop.
/// - `on_piece`, `user`: receive the text (may be NULL: the text is dropped).
/// - `reason`, `n_generated` (each may be NULL): why it stopped, and how many tokens were
///   generated (evaluated; an end-of-generation token is not counted). Written only on
///   success.
///
/// Returns `LLAMETTE_OK` (also when stopped by the callback or the abort flag);
/// `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (a stop string that is not
/// UTF-8, a misaligned abort flag, nothing to sample from: no prompt and no logits);
/// `LLAMETTE_ERR_BAD_TOKEN` (in the prompt); `LLAMETTE_ERR_CONTEXT_FULL` (the prompt does not
/// fit); `LLAMETTE_ERR_PANIC`.
///
/// The sampler should be made from the same model as the context (its vocabulary size bounds
/// the tokens it can pick).
///
/// Thread safety: one thread at a time per context and per sampler; only `*p->abort_flag` may
/// be written by another thread meanwhile.
///
/// # Safety
///
/// `c` and `s` must be live handles (or NULL); `prompt` readable for `n_prompt` ids; `p`
/// readable (or NULL) with its arrays as documented; `on_piece` must behave as
/// `LlamettePieceFn` says; `reason` and `n_generated` writable (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_generate(
    c: *mut LlametteContext,
    s: *mut LlametteSampler,
    prompt: *const u32,
    n_prompt: usize,
    p: *const LlametteGenerateParams,
    on_piece: LlamettePieceFn,
    user: *mut c_void,
    reason: *mut LlametteStopReason,
    n_generated: *mut u32,
) -> LlametteStatus {
    let out = (reason, n_generated, ptr::null_mut());
    // SAFETY: the caller's contract is this function's.
    unsafe {
        generate_impl(
            "llamette_generate",
            false,
            c,
            s,
            (prompt, n_prompt),
            p,
            (on_piece, user),
            NO_TOKENS,
            out,
        )
    }
}

/// As `llamette_generate`, with `prompt` the whole of sequence 0 rather than what follows it:
/// the longest start of `prompt` that the context already holds is kept (at most all but its
/// last token, whose logits are computed again), everything after it is removed, and only the
/// rest is evaluated, so a request that repeats the start of the previous one (a chat's
/// history, a file being edited) does not evaluate it again. The kept tokens are recorded in
/// the sampler's history as if evaluated now. `*n_reused` (may be NULL): how many were kept;
/// written only on success. `n_prompt` must be at least 1.
///
/// Returns as `llamette_generate`; `LLAMETTE_ERR_INVALID_ARGUMENT` also for an empty prompt
/// (before anything changes).
///
/// Thread safety: as `llamette_generate`.
///
/// # Safety
///
/// As `llamette_generate`; `n_reused` writable (or NULL).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn llamette_generate_reusing(
    c: *mut LlametteContext,
    s: *mut LlametteSampler,
    prompt: *const u32,
    n_prompt: usize,
    p: *const LlametteGenerateParams,
    on_piece: LlamettePieceFn,
    user: *mut c_void,
    reason: *mut LlametteStopReason,
    n_generated: *mut u32,
    n_reused: *mut usize,
) -> LlametteStatus {
    if n_prompt == 0 && !c.is_null() && !s.is_null() {
        return guard("llamette_generate_reusing", || {
            Err(Fail::invalid(
                "the prompt is empty: llamette_generate_reusing needs the whole sequence"
                    .to_string(),
            ))
        });
    }
    let out = (reason, n_generated, n_reused);
    // SAFETY: the caller's contract is this function's.
    unsafe {
        generate_impl(
            "llamette_generate_reusing",
            true,
            c,
            s,
            (prompt, n_prompt),
            p,
            (on_piece, user),
            NO_TOKENS,
            out,
        )
    }
}

/// As `llamette_generate` (or, with `p->reuse_prefix`, `llamette_generate_reusing`), with a
/// callback for each generated token and its log-probabilities (`p->on_token`,
/// `p->n_logprobs`): what a host needs for OpenAI's and llama-cpp-python's `logprobs`. `p` may
/// be NULL (the defaults of `llamette_generate_default_params_ex`). `*n_reused` (may be NULL):
/// how many prompt tokens were kept (0 without `reuse_prefix`); written only on success.
///
/// Returns as `llamette_generate`; `LLAMETTE_ERR_INVALID_ARGUMENT` also for a `p->size` this
/// library does not know and, with `reuse_prefix`, an empty prompt (before anything changes).
///
/// Thread safety: as `llamette_generate`.
///
/// # Safety
///
/// As `llamette_generate_reusing`, with `p` readable for `p->size` bytes (or NULL) and
/// `p->on_token` behaving as `LlametteTokenFn` says.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn llamette_generate_ex(
    c: *mut LlametteContext,
    s: *mut LlametteSampler,
    prompt: *const u32,
    n_prompt: usize,
    p: *const LlametteGenerateParamsEx,
    on_piece: LlamettePieceFn,
    user: *mut c_void,
    reason: *mut LlametteStopReason,
    n_generated: *mut u32,
    n_reused: *mut usize,
) -> LlametteStatus {
    let name = "llamette_generate_ex";
    let mut ex = llamette_generate_default_params_ex();
    if !p.is_null() {
        // Read `size` alone first: a caller's struct of another size must not be read whole.
        // SAFETY: non-NULL, its first field readable per the contract.
        let size = unsafe { core::ptr::addr_of!((*p).size).read() };
        if size != core::mem::size_of::<LlametteGenerateParamsEx>() {
            return guard(name, || {
                Err(Fail::invalid(format!(
                    "`p->size` is {size}, this library knows sizeof(LlametteGenerateParamsEx) = \
                     {} (set it with llamette_generate_default_params_ex)",
                    core::mem::size_of::<LlametteGenerateParamsEx>()
                )))
            });
        }
        // SAFETY: readable for `size` bytes, the whole struct, per the contract.
        ex = unsafe { *p };
    }
    if ex.reuse_prefix && n_prompt == 0 && !c.is_null() && !s.is_null() {
        return guard(name, || {
            Err(Fail::invalid(
                "the prompt is empty: reuse_prefix needs the whole sequence".to_string(),
            ))
        });
    }
    let sink = TokenSink {
        on_token: ex.on_token,
        user: ex.token_user,
        n_logprobs: usize::try_from(ex.n_logprobs).ok(),
    };
    let out = (reason, n_generated, n_reused);
    // SAFETY: the caller's contract is this function's; `ex.base` is a readable copy.
    unsafe {
        generate_impl(
            name,
            ex.reuse_prefix,
            c,
            s,
            (prompt, n_prompt),
            &ex.base,
            (on_piece, user),
            sink,
            out,
        )
    }
}

/// The body of `llamette_generate` and (`reuse`) `llamette_generate_reusing`.
///
/// # Safety
///
/// As `llamette_generate_reusing`.
#[allow(clippy::too_many_arguments)]
unsafe fn generate_impl(
    name: &'static str,
    reuse: bool,
    c: *mut LlametteContext,
    s: *mut LlametteSampler,
    (prompt, n_prompt): (*const u32, usize),
    p: *const LlametteGenerateParams,
    (on_piece, user): (LlamettePieceFn, *mut c_void),
    sink: TokenSink,
    (reason, n_generated, n_reused): (*mut LlametteStopReason, *mut u32, *mut usize),
) -> LlametteStatus {
    use LlametteStopReason::*;
    guard(name, || {
        // SAFETY: a live context handle or NULL per the contract.
        let ctx = unsafe { context_mut(c) }?;
        // SAFETY: a live sampler handle or NULL per the contract.
        let sampler = unsafe { sampler_mut(s) }?;
        // SAFETY: readable for `n_prompt` ids per the contract.
        let prompt = unsafe { slice(prompt, n_prompt, "prompt") }?;
        // SAFETY: readable or NULL per the contract.
        let p = unsafe { p.as_ref() };
        // SAFETY: its arrays and strings readable as documented, per the contract.
        let rules = unsafe { stop_rules(p) }?;
        let abort = abort_flag(p)?;
        let aborted = || abort.is_some_and(|f| f.load(Ordering::Relaxed) != 0);
        let emit = |mut text: String| -> bool {
            match on_piece {
                Some(f) if !text.is_empty() => {
                    let len = text.len();
                    text.push('\0');
                    // SAFETY: the host's callback, with the meaning `LlamettePieceFn`
                    // documents; the text lives until it returns.
                    unsafe { f(user, text.as_ptr().cast::<c_char>(), len) }
                }
                _ => true,
            }
        };

        let (context, par, model) = ctx.parts();
        let kept = if reuse {
            let kept = context.reuse_prefix(prompt);
            for &t in &prompt[..kept] {
                sampler.sampler.accept(t);
            }
            kept
        } else {
            0
        };
        let prompt = &prompt[kept..];
        let mut g = Generation::new(context, &model.vocab, &mut sampler.sampler, rules);
        if let Some(n) = sink.n_logprobs {
            g = g.with_logprobs(n);
        }
        // The host's token callback for the token the last step chose; true: go on.
        let tell = |g: &Generation<'_, '_>, id: u32| -> bool {
            let Some(f) = sink.on_token else {
                return true;
            };
            let lp = g.last_logprob().map(super::logprobs::to_c);
            let lp_ptr = lp.as_ref().map_or(ptr::null(), |l| l as *const _);
            // SAFETY: the host's callback, with the meaning `LlametteTokenFn` documents; the
            // log-probability lives until it returns.
            unsafe { f(sink.user, id, lp_ptr) }
        };
        let stop = if aborted() {
            LLAMETTE_STOP_ABORTED
        } else {
            if !prompt.is_empty() {
                g.feed(prompt, par)?;
            }
            loop {
                if aborted() {
                    break LLAMETTE_STOP_ABORTED;
                }
                match g.next(par)? {
                    Step::Token { id, text } => {
                        let go_on = tell(&g, id);
                        if !emit(text) || !go_on {
                            break LLAMETTE_STOP_CALLBACK;
                        }
                    }
                    Step::Done { reason, text } => {
                        if let (StopReason::StopString(_), Some(id)) = (&reason, g.last_token()) {
                            tell(&g, id);
                        }
                        emit(text);
                        break match reason {
                            StopReason::Length => LLAMETTE_STOP_LENGTH,
                            StopReason::EndOfGeneration(_) => LLAMETTE_STOP_EOG,
                            StopReason::StopString(_) => LLAMETTE_STOP_STRING,
                            StopReason::ContextFull => LLAMETTE_STOP_CONTEXT_FULL,
                            StopReason::Constraint(why) => {
                                super::set_last_error(why);
                                LLAMETTE_STOP_GRAMMAR
                            }
                        };
                    }
                }
            }
        };
        let n = u32::try_from(g.n_generated()).unwrap_or(u32::MAX);
        // SAFETY: writable or NULL per the contract.
        // (`write`, not a reference: the host's variables may be uninitialized.)
        unsafe {
            if !reason.is_null() {
                reason.write(stop);
            }
            if !n_generated.is_null() {
                n_generated.write(n);
            }
            if !n_reused.is_null() {
                n_reused.write(kept);
            }
        }
        Ok(())
    })
}
