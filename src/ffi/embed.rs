//! Embeddings through the C ABI (`crate::embed`): hidden states after the final norm, per
//! token or pooled per sequence as llama.cpp pools them.

use alloc::format;
use alloc::vec::Vec;

use super::context::{context_mut, context_ref, LlametteContext};
use super::model::{model_ref, LlametteModel};
use super::{guard, slice, Fail, LlametteStatus, Out};
use crate::embed::{self, Normalize, Pooling};

/// Pooling of `llamette_embed`: as the model's file says (`<arch>.pooling_type`; none when
/// absent, as llama.cpp).
pub const LLAMETTE_POOLING_MODEL: i32 = -1;
/// Every token's own row.
pub const LLAMETTE_POOLING_NONE: i32 = 0;
/// The mean of a sequence's rows.
pub const LLAMETTE_POOLING_MEAN: i32 = 1;
/// A sequence's first token's row.
pub const LLAMETTE_POOLING_CLS: i32 = 2;
/// A sequence's last token's row.
pub const LLAMETTE_POOLING_LAST: i32 = 3;

/// Writes the model's pooling (`<arch>.pooling_type`, `LLAMETTE_POOLING_NONE` when absent) to
/// `*out`.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (a
/// vocabulary-only model); `LLAMETTE_ERR_BAD_FILE` (a pooling llamette does not have, such as
/// reranking); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_model_pooling(
    m: *const LlametteModel,
    out: *mut i32,
) -> LlametteStatus {
    guard("llamette_model_pooling", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        let out = Out::new(out, "out")?;
        let p = Pooling::of_model(inner.model()?)?;
        // SAFETY: writable per the contract.
        unsafe { out.write(pooling_code(p)) };
        Ok(())
    })
}

fn pooling_code(p: Pooling) -> i32 {
    match p {
        Pooling::None => LLAMETTE_POOLING_NONE,
        Pooling::Mean => LLAMETTE_POOLING_MEAN,
        Pooling::Cls => LLAMETTE_POOLING_CLS,
        Pooling::Last => LLAMETTE_POOLING_LAST,
    }
}

/// Points `*embd` at the embedding (the hidden state after the final norm, `*n_embd` floats)
/// of token `i` of the last `llamette_decode` (or `llamette_eval`) batch, if it asked for
/// outputs (llama.cpp's `llama_get_embeddings_ith`). The pointer stays valid until the
/// context's next evaluation or its release. The context must be made with `embeddings`
/// (`LlametteContextParamsEx`).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (no
/// embeddings in this context, or token `i` has none); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `embd` and `n_embd` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_embeddings_ith(
    c: *const LlametteContext,
    i: usize,
    embd: *mut *const f32,
    n_embd: *mut usize,
) -> LlametteStatus {
    guard("llamette_embeddings_ith", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        let embd = Out::new(embd, "embd")?;
        let n_embd = Out::new(n_embd, "n_embd")?;
        if !inner.ctx.params().embeddings {
            return Err(Fail::invalid(
                "the context keeps no embeddings (make it with LlametteContextParamsEx.embeddings)",
            ));
        }
        let e = inner.ctx.embeddings_ith(i).ok_or_else(|| {
            Fail::invalid(format!(
                "token {i} of the last batch has no embedding (it did not ask for outputs, or \
                 the batch is shorter)"
            ))
        })?;
        // SAFETY: writable per the contract.
        unsafe {
            embd.write(e.as_ptr());
            n_embd.write(e.len());
        }
        Ok(())
    })
}

/// Embeds `n_seqs` sequences (`seqs[i]`: `lens[i]` token ids, each from its own start) into
/// `out`, as llama.cpp's embeddings with `pooling` (`LLAMETTE_POOLING_*`;
/// `LLAMETTE_POOLING_MODEL`: the model's) and `normalize` (llama.cpp's `embd_normalize`: -1
/// none, 0 max-abs to int16 range, 1 taxicab, 2 Euclidean, p > 2 p-norm). The context (made
/// with `embeddings`) is cleared before and after; sequences go in batches of up to
/// `n_seq_max` sequences and as many tokens as it keeps outputs for (`n_outputs_max`), longer
/// ones in several steps.
///
/// `out` receives, sequence after sequence, `n_embd` floats per token with
/// `LLAMETTE_POOLING_NONE`, one row of `n_embd` per sequence otherwise; `*n_out` the number of
/// floats. With `cap` too small nothing is evaluated, `*n_out` is set and the call returns
/// `LLAMETTE_ERR_BUFFER_TOO_SMALL` (`out` may be NULL when `cap` is 0).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (no
/// embeddings in this context, an empty sequence, an unknown pooling); `LLAMETTE_ERR_BAD_TOKEN`;
/// `LLAMETTE_ERR_CONTEXT_FULL` (a sequence longer than the context);
/// `LLAMETTE_ERR_BUFFER_TOO_SMALL`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `seqs` and `lens` readable for `n_seqs`
/// elements, each `seqs[i]` readable for `lens[i]` ids; `out` writable for `cap` floats;
/// `n_out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_embed(
    c: *mut LlametteContext,
    seqs: *const *const u32,
    lens: *const usize,
    n_seqs: usize,
    pooling: i32,
    normalize: i32,
    out: *mut f32,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_embed", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        let n_out = Out::new(n_out, "n_out")?;
        // SAFETY: readable per the contract.
        let ptrs = unsafe { slice(seqs, n_seqs, "seqs") }?;
        // SAFETY: as above.
        let lens = unsafe { slice(lens, n_seqs, "lens") }?;
        let mut list: Vec<&[u32]> = Vec::with_capacity(n_seqs);
        for (i, (&p, &n)) in ptrs.iter().zip(lens).enumerate() {
            // SAFETY: each sequence is readable for its length per the contract.
            list.push(
                unsafe { slice(p, n, "seqs[i]") }.map_err(|f| {
                    Fail::new(f.status, format!("sequence {i}: `seqs[{i}]` is NULL"))
                })?,
            );
        }
        let pooling = match pooling {
            LLAMETTE_POOLING_MODEL => Pooling::of_model(inner.ctx.model())?,
            LLAMETTE_POOLING_NONE => Pooling::None,
            LLAMETTE_POOLING_MEAN => Pooling::Mean,
            LLAMETTE_POOLING_CLS => Pooling::Cls,
            LLAMETTE_POOLING_LAST => Pooling::Last,
            p => return Err(Fail::invalid(format!("unknown pooling {p}"))),
        };
        let d = inner.ctx.model().config().n_embd;
        let need = embed::output_len(d, &list, pooling);
        if out.is_null() && cap != 0 {
            return Err(Fail::null("out"));
        }
        if need > cap {
            // SAFETY: writable per the contract.
            unsafe { n_out.write(need) };
            return Err(Fail::new(
                super::LlametteStatus::LLAMETTE_ERR_BUFFER_TOO_SMALL,
                format!("`out` holds {cap} floats, {need} needed"),
            ));
        }
        let buf: &mut [f32] = if need == 0 {
            &mut []
        } else {
            // SAFETY: `out` is non-NULL (cap >= need > 0) and writable for `cap` floats per the
            // contract; it is host memory, not borrowed elsewhere during the call.
            unsafe { core::slice::from_raw_parts_mut(out, need) }
        };
        let (ctx, par, _) = inner.parts();
        embed::embed(
            ctx,
            &list,
            pooling,
            Normalize::from_llama(normalize),
            buf,
            par,
        )?;
        // SAFETY: writable per the contract.
        unsafe { n_out.write(need) };
        Ok(())
    })
}
