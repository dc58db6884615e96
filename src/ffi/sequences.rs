//! Batches over several sequences and the KV cache's sequence operations, as llama.cpp's
//! `llama_batch` / `llama_decode` / `llama_get_logits_ith` / `llama_memory_seq_*`.
//!
//! Sequence ids are `int32_t` and positions `int64_t` in the signatures, as llama.cpp's
//! `llama_seq_id` and the ranges of its memory functions (a negative bound means "from the
//! start" or "to the end"); a sequence id outside `0 .. n_seq_max - 1` is
//! `LLAMETTE_ERR_INVALID_ARGUMENT`.

use alloc::format;
use core::ops::Bound;

use super::context::{context_mut, context_ref, LlametteContext};
use super::{guard, slice, Fail, LlametteStatus, Out};
use crate::model::{BatchToken, Context, SeqSet};
use crate::parallel::Parallel;

/// One token of a batch for `llamette_decode` (an entry of llama.cpp's `llama_batch`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlametteBatchToken {
    /// The token id (below the vocabulary size).
    pub token: u32,
    /// Its position in its sequences (what rope rotates by); at most `INT32_MAX`.
    pub pos: u32,
    /// The sequences it belongs to, as a bitset: bit `s` (`1ull << s`) for sequence `s`. Not 0,
    /// and only sequences below the context's `n_seq_max`. A prompt token shared by several
    /// sequences belongs to all of them (its attention follows the lowest).
    pub seqs: u64,
    /// Keep the logits after this token (`llamette_logits_ith`).
    pub logits: bool,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<LlametteBatchToken>() == 24);

impl LlametteBatchToken {
    fn to_rust(self) -> BatchToken {
        BatchToken {
            token: self.token,
            pos: self.pos as usize,
            seqs: SeqSet(self.seqs),
            logits: self.logits,
        }
    }
}

/// Evaluates a C batch with [`Context::decode`].
fn decode(
    ctx: &mut Context<'_>,
    batch: &[LlametteBatchToken],
    par: &dyn Parallel,
) -> Result<(), Fail> {
    // Converted token by token as the context reads them: nothing is copied or allocated.
    ctx.decode_with(batch.len(), &|i| batch[i].to_rust(), par, None)?;
    Ok(())
}

/// A sequence id from C: `0 ..` (the context checks it against its `n_seq_max`).
fn seq_id(seq: i32, what: &str) -> Result<usize, Fail> {
    usize::try_from(seq)
        .map_err(|_| Fail::invalid(format!("`{what}` ({seq}) is not a sequence id")))
}

/// A sequence id from C that must name one of the context's sequences.
fn known_seq(ctx: &Context<'_>, seq: i32) -> Result<usize, Fail> {
    let n_seq_max = ctx.params().n_seq_max;
    seq_id(seq, "seq")
        .ok()
        .filter(|&s| s < n_seq_max)
        .ok_or_else(|| {
            Fail::invalid(format!(
                "`seq` ({seq}) is not a sequence of this context (n_seq_max {n_seq_max})"
            ))
        })
}

/// The positions `[p0, p1)` from C's bounds: `p0 < 0` is 0, `p1 < 0` is the end.
fn range(p0: i64, p1: i64) -> (Bound<usize>, Bound<usize>) {
    let clamp = |p: i64| usize::try_from(p).unwrap_or(usize::MAX);
    let start = Bound::Included(if p0 < 0 { 0 } else { clamp(p0) });
    let end = if p1 < 0 {
        Bound::Unbounded
    } else {
        Bound::Excluded(clamp(p1))
    };
    (start, end)
}

/// Evaluates a batch of `n` tokens of any of the context's sequences, each at its own
/// position, in one pass over the weights per step of `n_batch` tokens (llama.cpp's
/// `llama_decode`); the logits of the tokens with `logits` set are then read by batch index
/// with `llamette_logits_ith` (and the last of them with `llamette_logits`). `batch` is read
/// during the call only. Each token attends to the cached cells of its (lowest) sequence at
/// positions up to its own, including the batch's earlier tokens.
///
/// The batch must be valid as a whole: a sequence's positions continue what the cache holds for
/// it (the first is one past `llamette_seq_pos_max`, or 0) and increase by one; at most
/// `n_outputs_max` tokens (`n_batch` with `logits_all`) ask for logits. On failure the context is as it was,
/// except after `LLAMETTE_ERR_PANIC`, when its logits are unspecified until the next successful
/// evaluation.
///
/// Allocates nothing.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (`n`
/// is 0, a sequence set that is empty or names a sequence at or above `n_seq_max`, a position
/// above `INT32_MAX` or out of order, too many tokens asking for logits);
/// `LLAMETTE_ERR_BAD_TOKEN`; `LLAMETTE_ERR_CONTEXT_FULL` (more tokens than free cells);
/// `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `batch` readable for `n` tokens.
#[no_mangle]
pub unsafe extern "C" fn llamette_decode(
    c: *mut LlametteContext,
    batch: *const LlametteBatchToken,
    n: usize,
) -> LlametteStatus {
    guard("llamette_decode", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        // SAFETY: readable for `n` tokens per the contract.
        let batch = unsafe { slice(batch, n, "batch") }?;
        let (ctx, par, _) = inner.parts();
        decode(ctx, batch, par)
    })
}

/// Sets `*logits` to the logits after token `i` of the last evaluated batch (`llamette_decode`,
/// or `llamette_eval`'s tokens), which must have asked for them, and `*n_vocab` to their number
/// (llama.cpp's `llama_get_logits_ith`). The array is owned by the context and valid until the
/// next call that changes the context (any call taking it as non-const) or frees it.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (token
/// `i` did not ask for logits, or the batch has no token `i`); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `logits` and `n_vocab` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_logits_ith(
    c: *const LlametteContext,
    i: usize,
    logits: *mut *const f32,
    n_vocab: *mut usize,
) -> LlametteStatus {
    guard("llamette_logits_ith", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        let logits = Out::new(logits, "logits")?;
        let n_vocab = Out::new(n_vocab, "n_vocab")?;
        let l = inner.ctx.logits_ith(i).ok_or_else(|| {
            Fail::invalid(format!(
                "token {i} of the last batch has no logits (it did not ask for them, or the \
                 batch is shorter)"
            ))
        })?;
        // SAFETY: writable per the contract.
        unsafe {
            logits.write(l.as_ptr());
            n_vocab.write(l.len());
        }
        Ok(())
    })
}

/// Removes the positions `[p0, p1)` of sequence `seq` (-1: of every sequence), as llama.cpp's
/// `llama_memory_seq_rm`; a cell shared with other sequences stays theirs. `p0 < 0` means 0,
/// `p1 < 0` the end. The logits of the last evaluation stay readable.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (`seq`
/// is not -1 nor a sequence of the context); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_seq_rm(
    c: *mut LlametteContext,
    seq: i32,
    p0: i64,
    p1: i64,
) -> LlametteStatus {
    guard("llamette_seq_rm", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        let seq = match seq {
            -1 => None,
            s => Some(seq_id(s, "seq")?),
        };
        inner.ctx.seq_rm(seq, range(p0, p1))?;
        Ok(())
    })
}

/// Adds sequence `dst` to the cells of sequence `src` at positions `[p0, p1)` (the cells are
/// shared, not copied), as llama.cpp's `llama_memory_seq_cp`: `dst` then continues from what
/// `src` holds (a forked conversation, a prompt shared by several requests). `p0 < 0` means 0,
/// `p1 < 0` the end.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (`src`
/// or `dst` is not a sequence of the context); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_seq_cp(
    c: *mut LlametteContext,
    src: i32,
    dst: i32,
    p0: i64,
    p1: i64,
) -> LlametteStatus {
    guard("llamette_seq_cp", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        let (src, dst) = (seq_id(src, "src")?, seq_id(dst, "dst")?);
        inner.ctx.seq_cp(src, dst, range(p0, p1))?;
        Ok(())
    })
}

/// Keeps sequence `seq` only: every other sequence is removed (llama.cpp's
/// `llama_memory_seq_keep`).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (`seq`
/// is not a sequence of the context); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_seq_keep(c: *mut LlametteContext, seq: i32) -> LlametteStatus {
    guard("llamette_seq_keep", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        inner.ctx.seq_keep(seq_id(seq, "seq")?)?;
        Ok(())
    })
}

/// Adds `delta` to the positions `[p0, p1)` of sequence `seq` (llama.cpp's
/// `llama_memory_seq_add`): their cached keys are re-rotated before the next evaluation
/// (K-shift), so a host can drop the oldest part of a conversation with `llamette_seq_rm` and
/// move the rest back ("context shift"). A cell whose position would fall below 0 is removed.
/// `p0 < 0` means 0, `p1 < 0` the end.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (`seq`
/// is not a sequence of the context, a position would exceed `INT32_MAX` (nothing is
/// changed), `delta` does not fit in `intptr_t`); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_seq_add(
    c: *mut LlametteContext,
    seq: i32,
    p0: i64,
    p1: i64,
    delta: i64,
) -> LlametteStatus {
    guard("llamette_seq_add", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        let seq = seq_id(seq, "seq")?;
        // Always fits on 64-bit targets.
        let delta = isize::try_from(delta)
            .map_err(|_| Fail::invalid(format!("`delta` ({delta}) does not fit in intptr_t")))?;
        inner.ctx.seq_add(seq, range(p0, p1), delta)?;
        Ok(())
    })
}

/// Divides the positions `[p0, p1)` of sequence `seq` by `d` (integer division; llama.cpp's
/// `llama_memory_seq_div`, for self-extend); their keys are re-rotated to the new positions
/// before the next evaluation. `p0 < 0` means 0, `p1 < 0` the end.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (`seq`
/// is not a sequence of the context, `d` is not positive); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_seq_div(
    c: *mut LlametteContext,
    seq: i32,
    p0: i64,
    p1: i64,
    d: i32,
) -> LlametteStatus {
    guard("llamette_seq_div", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        let seq = seq_id(seq, "seq")?;
        let d = usize::try_from(d)
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| Fail::invalid(format!("`d` ({d}) is not positive")))?;
        inner.ctx.seq_div(seq, range(p0, p1), d)?;
        Ok(())
    })
}

/// Writes to `*out` the smallest position sequence `seq` holds, -1 when it holds none
/// (llama.cpp's `llama_memory_seq_pos_min`).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (`seq`
/// is not a sequence of the context); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_seq_pos_min(
    c: *const LlametteContext,
    seq: i32,
    out: *mut i64,
) -> LlametteStatus {
    guard("llamette_seq_pos_min", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        let out = Out::new(out, "out")?;
        let seq = known_seq(&inner.ctx, seq)?;
        let p = inner.ctx.seq_pos_min(seq).map_or(-1, |p| p as i64);
        // SAFETY: writable per the contract.
        unsafe { out.write(p) };
        Ok(())
    })
}

/// Writes to `*out` the largest position sequence `seq` holds, -1 when it holds none
/// (llama.cpp's `llama_memory_seq_pos_max`): the sequence's next token goes at `*out + 1`.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (`seq`
/// is not a sequence of the context); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_seq_pos_max(
    c: *const LlametteContext,
    seq: i32,
    out: *mut i64,
) -> LlametteStatus {
    guard("llamette_seq_pos_max", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        let out = Out::new(out, "out")?;
        let seq = known_seq(&inner.ctx, seq)?;
        let p = inner.ctx.seq_pos_max(seq).map_or(-1, |p| p as i64);
        // SAFETY: writable per the contract.
        unsafe { out.write(p) };
        Ok(())
    })
}

/// Makes sequence 0 ready to hold exactly the `n` tokens of `tokens` (a new prompt): keeps the
/// longest prefix of them it already holds at positions `0 ..`, short of the last token (whose
/// logits must be computed again), and removes everything after it. Writes to `*kept` how many
/// were kept: evaluate `tokens + *kept` (`n - *kept` tokens) next, so a prompt that repeats the
/// start of the previous one is not evaluated again. `tokens` is read during the call only.
/// The logits are gone when anything was removed.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `tokens` readable for `n` ids; `kept` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_context_reuse_prefix(
    c: *mut LlametteContext,
    tokens: *const u32,
    n: usize,
    kept: *mut usize,
) -> LlametteStatus {
    guard("llamette_context_reuse_prefix", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        // SAFETY: readable for `n` ids per the contract.
        let tokens = unsafe { slice(tokens, n, "tokens") }?;
        let kept = Out::new(kept, "kept")?;
        let k = inner.ctx.reuse_prefix(tokens);
        // SAFETY: writable per the contract.
        unsafe { kept.write(k) };
        Ok(())
    })
}
