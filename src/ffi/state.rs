//! Saved state: a whole context or one sequence to host bytes or a file and back, as
//! llama.cpp's `llama_state_*` and `llama_state_seq_*`.
//!
//! A state is versioned and carries the model's identity, the KV type and shape, and a
//! checksum; restoring one that does not fit (another model, version or KV type, truncated or
//! corrupt bytes, cells or sequences the context cannot hold) is `LLAMETTE_ERR_BAD_STATE` and
//! leaves the context as it was.

use alloc::format;

use super::context::{context_mut, context_ref, LlametteContext};
use super::{c_path, guard, slice, Fail, LlametteStatus, Out};
use crate::model::Context;

/// Writes `ctx`'s state (`seq`: one sequence's) into the host's buffer.
///
/// # Safety
///
/// `buf` must be valid for writing `len` bytes (or NULL with `len` 0); `written` writable (or
/// NULL, which fails).
unsafe fn write_state(
    ctx: &Context<'_>,
    seq: Option<usize>,
    buf: *mut u8,
    len: usize,
    written: *mut usize,
) -> Result<(), Fail> {
    let written = Out::new(written, "written")?;
    let need = match seq {
        None => ctx.state_size(),
        Some(s) => ctx.seq_state_size(s)?,
    };
    if len < need {
        // SAFETY: writable per the contract.
        unsafe { written.write(need) };
        return Err(Fail::new(
            LlametteStatus::LLAMETTE_ERR_BUFFER_TOO_SMALL,
            format!("`buf` holds {len} bytes, the state needs {need}"),
        ));
    }
    if buf.is_null() {
        return Err(Fail::null("buf"));
    }
    // SAFETY: writable for `len >= need` bytes per the contract. Host memory may be
    // uninitialized: this makes every byte initialized before a `&mut [u8]` covers it.
    let out = unsafe {
        core::ptr::write_bytes(buf, 0, need);
        core::slice::from_raw_parts_mut(buf, need)
    };
    let n = match seq {
        None => ctx.state_write(out)?,
        Some(s) => ctx.seq_state_write(s, out)?,
    };
    // SAFETY: writable per the contract.
    unsafe { written.write(n) };
    Ok(())
}

/// A sequence id from C.
fn seq_id(seq: i32) -> Result<usize, Fail> {
    usize::try_from(seq).map_err(|_| Fail::invalid(format!("`seq` ({seq}) is not a sequence id")))
}

/// Writes to `*out` the bytes `llamette_state_write` needs for the whole context now: every
/// sequence's cells with their keys and values, and the last logits (llama.cpp's
/// `llama_state_get_size`). It changes as the context fills.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_state_size(
    c: *const LlametteContext,
    out: *mut usize,
) -> LlametteStatus {
    guard("llamette_state_size", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        let out = Out::new(out, "out")?;
        // SAFETY: writable per the contract.
        unsafe { out.write(inner.ctx.state_size()) };
        Ok(())
    })
}

/// Writes the whole context's state into `buf` (`len` bytes, at least `llamette_state_size`)
/// and the bytes written to `*written` (llama.cpp's `llama_state_get_data`). The bytes belong
/// to the host; `llamette_state_read` restores them into a context of the same model and KV
/// type with at least as many cells, and continuing there gives the same logits, bit for bit,
/// as never having saved. Allocates nothing.
///
/// With `len` too small (`buf` may then be NULL), writes only `*written`, the size needed, and
/// returns `LLAMETTE_ERR_BUFFER_TOO_SMALL`.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_BUFFER_TOO_SMALL`;
/// `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `buf` writable for `len` bytes (or NULL with a
/// `len` too small), not memory of the context; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_state_write(
    c: *const LlametteContext,
    buf: *mut u8,
    len: usize,
    written: *mut usize,
) -> LlametteStatus {
    guard("llamette_state_write", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        // SAFETY: forwarded contract.
        unsafe { write_state(&inner.ctx, None, buf, len, written) }
    })
}

/// Restores a whole-context state written by `llamette_state_write` (or
/// `llamette_state_save_file`): every cell at its own index with its keys and values, and the
/// last logits (llama.cpp's `llama_state_set_data`). `buf` is read during the call only.
/// Allocates nothing.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_BAD_STATE` (another
/// model, format version, kind or KV type, truncated or corrupt bytes, more cells or sequences
/// than this context holds; the context is left as it was); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `buf` readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn llamette_state_read(
    c: *mut LlametteContext,
    buf: *const u8,
    len: usize,
) -> LlametteStatus {
    guard("llamette_state_read", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        if buf.is_null() {
            return Err(Fail::null("buf"));
        }
        // SAFETY: readable for `len` bytes per the contract.
        let bytes = unsafe { slice(buf, len, "buf") }?;
        inner.ctx.state_read(bytes)?;
        Ok(())
    })
}

/// As `llamette_state_size`, for sequence `seq` alone (llama.cpp's
/// `llama_state_seq_get_size`): the bytes `llamette_state_seq_write` needs.
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
pub unsafe extern "C" fn llamette_state_seq_size(
    c: *const LlametteContext,
    seq: i32,
    out: *mut usize,
) -> LlametteStatus {
    guard("llamette_state_seq_size", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        let out = Out::new(out, "out")?;
        let n = inner.ctx.seq_state_size(seq_id(seq)?)?;
        // SAFETY: writable per the contract.
        unsafe { out.write(n) };
        Ok(())
    })
}

/// As `llamette_state_write`, for sequence `seq` alone: its cells, keys and values, no logits
/// (llama.cpp's `llama_state_seq_get_data`). `llamette_state_seq_read` restores them as any
/// sequence of a context of the same model and KV type.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (`seq`
/// is not a sequence of the context); `LLAMETTE_ERR_BUFFER_TOO_SMALL` (`*written` says how
/// much is needed); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// As `llamette_state_write`.
#[no_mangle]
pub unsafe extern "C" fn llamette_state_seq_write(
    c: *const LlametteContext,
    seq: i32,
    buf: *mut u8,
    len: usize,
    written: *mut usize,
) -> LlametteStatus {
    guard("llamette_state_seq_write", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        let seq = seq_id(seq)?;
        // SAFETY: forwarded contract.
        unsafe { write_state(&inner.ctx, Some(seq), buf, len, written) }
    })
}

/// Restores a sequence's state written by `llamette_state_seq_write` (of this context or
/// another of the same model and KV type) as sequence `dst` (llama.cpp's
/// `llama_state_seq_set_data`): what `dst` held is removed, and the saved cells go, in order,
/// into the first run of free cells from the cache's head, with their positions. The other
/// sequences are untouched. `buf` is read during the call only. Allocates nothing.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (`dst`
/// is not a sequence of the context); `LLAMETTE_ERR_BAD_STATE` (as `llamette_state_read`);
/// `LLAMETTE_ERR_CONTEXT_FULL` (no run of free cells is long enough); the context is left as it
/// was on any failure; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `buf` readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn llamette_state_seq_read(
    c: *mut LlametteContext,
    dst: i32,
    buf: *const u8,
    len: usize,
) -> LlametteStatus {
    guard("llamette_state_seq_read", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        let dst = usize::try_from(dst)
            .map_err(|_| Fail::invalid(format!("`dst` ({dst}) is not a sequence id")))?;
        if buf.is_null() {
            return Err(Fail::null("buf"));
        }
        // SAFETY: readable for `len` bytes per the contract.
        let bytes = unsafe { slice(buf, len, "buf") }?;
        inner.ctx.seq_state_read(dst, bytes)?;
        Ok(())
    })
}

/// Writes the whole context's state (`llamette_state_write`'s bytes) to the file `path`,
/// replacing it. Allocates a buffer of `llamette_state_size` bytes for the call.
///
/// - `path`: NUL-terminated, read during the call only (on Unix any bytes; elsewhere UTF-8).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (a
/// path that is not UTF-8 where that matters); `LLAMETTE_ERR_IO` (the file cannot be written;
/// it may then be left partly written); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `path` a NUL-terminated string (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_state_save_file(
    c: *const LlametteContext,
    path: *const core::ffi::c_char,
) -> LlametteStatus {
    guard("llamette_state_save_file", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        // SAFETY: NUL-terminated or NULL per the contract.
        let path = unsafe { c_path(path, "path") }?;
        inner.ctx.save_state_file(path)?;
        Ok(())
    })
}

/// Restores a whole-context state from a file written by `llamette_state_save_file` (as
/// `llamette_state_read` restores bytes). Allocates a buffer of the file's size for the call.
///
/// - `path`: as in `llamette_state_save_file`.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (a
/// path that is not UTF-8 where that matters); `LLAMETTE_ERR_IO` (the file cannot be read);
/// `LLAMETTE_ERR_BAD_STATE` (as `llamette_state_read`); the context is left as it was on any
/// failure; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `path` a NUL-terminated string (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_state_load_file(
    c: *mut LlametteContext,
    path: *const core::ffi::c_char,
) -> LlametteStatus {
    guard("llamette_state_load_file", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        // SAFETY: NUL-terminated or NULL per the contract.
        let path = unsafe { c_path(path, "path") }?;
        inner.ctx.load_state_file(path)?;
        Ok(())
    })
}
