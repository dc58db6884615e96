//! The rest of llama.cpp's samplers in the C ABI: extensible sampler parameters (typical-p,
//! top-n-sigma, XTC, dynamic temperature, mirostat 1 and 2, DRY with its sequence breakers) and
//! a host logits processor (a callback over the candidate logits).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::ffi::{c_char, c_void};

use super::generate::{sampler_mut, LlametteSampler, LlametteSamplerParams, SamplerInner};
use super::model::{model_arc, LlametteModel};
use super::{c_str, guard, into_handle, slice, Fail, LlametteStatus, Out};
use crate::sampling::{Candidates, LogitsProcessor, Sampler, SamplerParams};

/// Sampling parameters, extensible: `llamette_sampler_new_ex` takes these. Get them from
/// `llamette_sampler_default_params_ex` (which sets `size`) and change the fields you need.
///
/// `size` is `sizeof(LlametteSamplerParamsEx)` as the caller was compiled: later versions only
/// append fields; a size this library does not know is `LLAMETTE_ERR_INVALID_ARGUMENT`.
///
/// The chain is llama.cpp's (`common_sampler`): logit bias, penalties, DRY, top-n-sigma,
/// top-k, typical-p, top-p, min-p, XTC, temperature (dynamic where `dynatemp_range > 0`), the
/// seeded draw; with `mirostat` 1 or 2: logit bias, temperature, mirostat (which draws). A
/// grammar (`llamette_sampler_set_grammar`) masks before all of them, a host logits processor
/// (`llamette_sampler_set_logits_processor`) runs first on the raw logits.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LlametteSamplerParamsEx {
    /// `sizeof(LlametteSamplerParamsEx)`; set by `llamette_sampler_default_params_ex`.
    pub size: usize,
    /// The fields of `LlametteSamplerParams` (seed, top-k, top-p, min-p, temperature,
    /// penalties, min-keep), with the same meanings and defaults.
    pub base: LlametteSamplerParams,
    /// Locally typical sampling's cumulative probability (default 1.0: off; 1.0 or more
    /// disables it).
    pub typ_p: f32,
    /// Keep the logits within `top_n_sigma` standard deviations of the largest (default -1.0:
    /// off; `<= 0` disables it).
    pub top_n_sigma: f32,
    /// XTC: the chance per step of removing the most likely tokens (default 0.0: off).
    pub xtc_probability: f32,
    /// XTC: the probability from which a token counts as a top choice (default 0.1; above 0.5
    /// disables XTC).
    pub xtc_threshold: f32,
    /// Dynamic temperature: the temperature ranges over `temp ± dynatemp_range` by the
    /// normalised entropy (default 0.0: off).
    pub dynatemp_range: f32,
    /// Dynamic temperature's exponent (default 1.0).
    pub dynatemp_exponent: f32,
    /// 0: the default chain (default); 1: mirostat; 2: mirostat 2.0. Other values are
    /// `LLAMETTE_ERR_INVALID_ARGUMENT`.
    pub mirostat: u32,
    /// Mirostat's target surprise (default 5.0); finite.
    pub mirostat_tau: f32,
    /// Mirostat's learning rate (default 0.1); finite.
    pub mirostat_eta: f32,
    /// DRY's multiplier (default 0.0: off); finite.
    pub dry_multiplier: f32,
    /// DRY's base (default 1.75; below 1.0 disables DRY); finite.
    pub dry_base: f32,
    /// DRY penalises a token that would make a repetition longer than this (default 2); at
    /// most `INT32_MAX`.
    pub dry_allowed_length: u32,
    /// How many recent tokens DRY searches (default 64; 0 disables DRY; llama.cpp's `-1`, the
    /// context size, is for the caller to resolve); at most `INT32_MAX`.
    pub dry_penalty_last_n: u32,
    /// DRY's sequence breakers, NUL-terminated UTF-8 strings (a token containing one is never
    /// penalised and no repetition spans it); NULL: llama.cpp's defaults `"\n"`, `":"`, `"\""`,
    /// `"*"`. Copied by `llamette_sampler_new_ex`.
    pub dry_sequence_breakers: *const *const c_char,
    /// Number of `dry_sequence_breakers` (0 with a non-NULL array: no breakers).
    pub n_dry_sequence_breakers: usize,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<LlametteSamplerParamsEx>() == 128);

/// Returns the default extensible sampling parameters: `size` set, `base` as
/// `llamette_sampler_default_params`, and llama.cpp's defaults for the rest (every extra stage
/// off; DRY's default breakers).
///
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn llamette_sampler_default_params_ex() -> LlametteSamplerParamsEx {
    let d = SamplerParams::default();
    let u = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    LlametteSamplerParamsEx {
        size: core::mem::size_of::<LlametteSamplerParamsEx>(),
        base: super::generate::llamette_sampler_default_params(),
        typ_p: d.typ_p,
        top_n_sigma: d.top_n_sigma,
        xtc_probability: d.xtc_probability,
        xtc_threshold: d.xtc_threshold,
        dynatemp_range: d.dynatemp_range,
        dynatemp_exponent: d.dynatemp_exponent,
        mirostat: d.mirostat,
        mirostat_tau: d.mirostat_tau,
        mirostat_eta: d.mirostat_eta,
        dry_multiplier: d.dry_multiplier,
        dry_base: d.dry_base,
        dry_allowed_length: u(d.dry_allowed_length),
        dry_penalty_last_n: u(d.dry_penalty_last_n),
        dry_sequence_breakers: core::ptr::null(),
        n_dry_sequence_breakers: 0,
    }
}

/// The Rust parameters of `*p` (checked: `size`, the breaker strings).
///
/// # Safety
///
/// `p` must be readable for its first field (`size`) and for `size` bytes; its breaker array
/// as its field's doc says.
unsafe fn params_ex(p: *const LlametteSamplerParamsEx) -> Result<SamplerParams, Fail> {
    // Read `size` alone first: a caller's struct of another size must not be read whole.
    // SAFETY: non-NULL (checked by the caller), its first field readable per the contract.
    let size = unsafe { core::ptr::addr_of!((*p).size).read() };
    if size != core::mem::size_of::<LlametteSamplerParamsEx>() {
        return Err(Fail::invalid(format!(
            "`p->size` is {size}, this library knows sizeof(LlametteSamplerParamsEx) = {} (set \
             it with llamette_sampler_default_params_ex)",
            core::mem::size_of::<LlametteSamplerParamsEx>()
        )));
    }
    // SAFETY: readable for `size` bytes, the whole struct, per the contract.
    let p = unsafe { *p };
    let breakers = if p.dry_sequence_breakers.is_null() {
        SamplerParams::default().dry_sequence_breakers
    } else {
        // SAFETY: readable for `n_dry_sequence_breakers` pointers per the contract.
        let ptrs = unsafe {
            slice(
                p.dry_sequence_breakers,
                p.n_dry_sequence_breakers,
                "p->dry_sequence_breakers",
            )
        }?;
        let mut out = Vec::with_capacity(ptrs.len());
        for (i, &s) in ptrs.iter().enumerate() {
            let what = format!("p->dry_sequence_breakers[{i}]");
            // SAFETY: each is a NUL-terminated string per the contract.
            let s = unsafe { c_str(s, &what) }?
                .to_str()
                .map_err(|_| Fail::invalid(format!("`{what}` is not UTF-8")))?;
            out.push(s.to_string());
        }
        out
    };
    Ok(SamplerParams {
        typ_p: p.typ_p,
        top_n_sigma: p.top_n_sigma,
        xtc_probability: p.xtc_probability,
        xtc_threshold: p.xtc_threshold,
        dynatemp_range: p.dynatemp_range,
        dynatemp_exponent: p.dynatemp_exponent,
        mirostat: p.mirostat,
        mirostat_tau: p.mirostat_tau,
        mirostat_eta: p.mirostat_eta,
        dry_multiplier: p.dry_multiplier,
        dry_base: p.dry_base,
        dry_allowed_length: p.dry_allowed_length as usize,
        dry_penalty_last_n: p.dry_penalty_last_n as usize,
        dry_sequence_breakers: breakers,
        ..p.base.to_rust()
    })
}

/// As `llamette_sampler_new`, with the extensible parameters (NULL: the defaults of
/// `llamette_sampler_default_params_ex`). With DRY enabled, its breakers are matched against
/// every token's text here (as `llama_sampler_init_dry` does).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (a
/// `p->size` this library does not know; penalties out of range as for
/// `llamette_sampler_new`; `mirostat` not 0, 1 or 2; `mirostat_tau`, `mirostat_eta`,
/// `dry_multiplier` or `dry_base` not finite; `dry_allowed_length` or `dry_penalty_last_n` over
/// `INT32_MAX`; a breaker that is not UTF-8); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread; the new sampler is then used by one thread at a time.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `p` readable for `p->size` bytes (or NULL) with
/// its breaker array as documented; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_sampler_new_ex(
    m: *const LlametteModel,
    p: *const LlametteSamplerParamsEx,
    out: *mut *mut LlametteSampler,
) -> LlametteStatus {
    guard("llamette_sampler_new_ex", || {
        let out = Out::new(out, "out")?;
        // SAFETY: a live handle or NULL per the contract.
        let model = unsafe { model_arc(m) }?;
        let params = if p.is_null() {
            SamplerParams::default()
        } else {
            // SAFETY: non-NULL, readable as documented per the contract.
            unsafe { params_ex(p) }?
        };
        let sampler = Sampler::with_vocab(&model.vocab, params)?;
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

/// A host logits processor: called once per sampling step with the step's logits, `n_vocab`
/// of them indexed by token id, after the grammar's mask (a token the grammar forbids is
/// `-INFINITY`) and before the logit bias and the rest of the chain, where llama-cpp-python
/// runs its `logits_processor`. It changes them in place (`-INFINITY` bans a token; raising a
/// token the grammar forbids has no effect). `logits` is valid only during the call. It runs
/// on the thread that samples (`llamette_sampler_sample`, `llamette_generate`), must not unwind
/// or `longjmp` out, and must not call llamette with the same sampler.
pub type LlametteLogitsProcessorFn =
    Option<unsafe extern "C" fn(user: *mut c_void, logits: *mut f32, n_vocab: usize)>;

/// The host's callback and its argument, as `llamette_sampler_set_logits_processor` got them.
pub(crate) type HostCallback = (
    unsafe extern "C" fn(*mut c_void, *mut f32, usize),
    *mut c_void,
);

/// A host callback as a [`LogitsProcessor`], with a vocabulary-sized array to hand it (made
/// when it is set, so sampling allocates nothing).
#[derive(Clone)]
struct HostProcessor {
    callback: HostCallback,
    logits: Vec<f32>,
}

// SAFETY: the sampler that holds it is used by one thread at a time (the header's contract);
// the host's `user` pointer is the host's to synchronise, as with every other callback.
unsafe impl Send for HostProcessor {}

impl LogitsProcessor for HostProcessor {
    fn process(&mut self, cands: &mut Candidates) {
        self.logits.fill(f32::NEG_INFINITY);
        for d in cands.iter() {
            if let Some(l) = self.logits.get_mut(d.id as usize) {
                *l = d.logit;
            }
        }
        let (f, user) = self.callback;
        // SAFETY: the array is valid for `len` floats during the call; the callback behaves
        // as `LlametteLogitsProcessorFn` says, per `llamette_sampler_set_logits_processor`'s
        // contract.
        unsafe { f(user, self.logits.as_mut_ptr(), self.logits.len()) };
        for d in cands.as_mut_slice() {
            if let Some(&l) = self.logits.get(d.id as usize) {
                d.logit = l;
            }
        }
    }

    fn box_clone(&self) -> Box<dyn LogitsProcessor> {
        Box::new(self.clone())
    }
}

/// The processor of `callback` for a sampler over `n_vocab` tokens.
pub(crate) fn host_processor(
    callback: HostCallback,
    n_vocab: usize,
) -> Result<Box<dyn LogitsProcessor>, Fail> {
    let mut logits = Vec::new();
    logits.try_reserve_exact(n_vocab).map_err(|_| {
        Fail::from(crate::Error::OutOfMemory {
            what: "the logits processor's array".into(),
            bytes: n_vocab * 4,
            limit: None,
        })
    })?;
    logits.resize(n_vocab, 0.0);
    Ok(Box::new(HostProcessor { callback, logits }))
}

/// Sets (or, with `f` NULL, removes) the sampler's logits processor: `f(user, logits, n_vocab)`
/// runs once per sampling step (see `LlametteLogitsProcessorFn`). Setting one allocates its
/// `n_vocab` floats here; sampling allocates nothing more. It stays when biases are set and on
/// reset.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (`s`); `LLAMETTE_ERR_ALLOCATION`;
/// `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per sampler.
///
/// # Safety
///
/// `s` must be a live sampler handle (or NULL); `f` must behave as `LlametteLogitsProcessorFn`
/// says, with `user`, for as long as the sampler holds it.
#[no_mangle]
pub unsafe extern "C" fn llamette_sampler_set_logits_processor(
    s: *mut LlametteSampler,
    f: LlametteLogitsProcessorFn,
    user: *mut c_void,
) -> LlametteStatus {
    guard("llamette_sampler_set_logits_processor", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { super::generate::sampler_mut(s) }?;
        let callback = f.map(|f| (f, user));
        let processor = match callback {
            Some(cb) => Some(host_processor(cb, inner.sampler.n_vocab())?),
            None => None,
        };
        inner.sampler.set_logits_processor(processor);
        inner.processor = callback;
        Ok(())
    })
}

/// Writes the sampler's state (its random generator, its recent-token histories for the
/// penalties and DRY, mirostat's `mu`) to `buf` and its length to `*n_out`, so a generation
/// restored with a saved context (`llamette_state_write`) continues exactly. With `cap` too
/// small only `*n_out` is written and the call returns `LLAMETTE_ERR_BUFFER_TOO_SMALL` (`buf`
/// may be NULL when `cap` is 0). The grammar and the logits processor are not part of it.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_BUFFER_TOO_SMALL`;
/// `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per sampler.
///
/// # Safety
///
/// `s` must be a live sampler handle (or NULL); `buf` writable for `cap` bytes; `n_out`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_sampler_state_write(
    s: *mut LlametteSampler,
    buf: *mut u8,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_sampler_state_write", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { sampler_mut(s) }?;
        let state = inner.sampler.state();
        // SAFETY: the output contracts are this function's.
        unsafe { super::write_list(&state, buf, cap, n_out, "buf") }
    })
}

/// Restores a state from `llamette_sampler_state_write` (`len` bytes) into a sampler of the
/// same vocabulary and history lengths; its grammar and logits processor stay as they are.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_BAD_STATE` (another
/// sampler's shape, another version, truncated: the sampler is left as it was);
/// `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per sampler.
///
/// # Safety
///
/// `s` must be a live sampler handle (or NULL); `buf` readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn llamette_sampler_state_read(
    s: *mut LlametteSampler,
    buf: *const u8,
    len: usize,
) -> LlametteStatus {
    guard("llamette_sampler_state_read", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { sampler_mut(s) }?;
        // SAFETY: readable per the contract.
        let bytes = unsafe { slice(buf, len, "buf") }?;
        inner.sampler.state_read(bytes)?;
        Ok(())
    })
}
