//! Contexts: memory (default, caller buffer or host allocator), host threads, evaluation.

use alloc::format;
use alloc::sync::Arc;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::alloc::Layout;
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use super::model::{model_arc, model_ref, LlametteModel, ModelInner};
use super::{arg, guard, guard_or, into_handle, slice, Fail, KvTypeArg, LlametteStatus, Out};
use crate::model::{Context, ContextParams, KvType, Model};
use crate::parallel::{Parallel, Serial};

/// Element type of the KV cache.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlametteKvType {
    /// Half precision, as llama.cpp stores it by default.
    LLAMETTE_KV_F16 = 0,
    /// Single precision: twice the memory, no rounding of keys and values.
    LLAMETTE_KV_F32 = 1,
}

/// Parameters of a context. A context made from these holds one sequence (sequence 0);
/// `LlametteContextParamsEx` (`llamette_context_new_ex`) sets more.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlametteContextParams {
    /// Positions the KV cache holds (prompt plus generated tokens); > 0.
    pub n_ctx: u32,
    /// Most tokens evaluated in one step (longer inputs are evaluated in steps); > 0.
    pub n_batch: u32,
    /// Element type of the KV cache (`LLAMETTE_KV_F16` or `LLAMETTE_KV_F32`).
    pub kv_type: KvTypeArg,
    /// Keep the logits of every position of a batch (`llamette_logits_at`); a batch may then
    /// hold at most `n_batch` tokens.
    pub logits_all: bool,
}

impl LlametteContextParams {
    fn to_rust(self) -> Result<ContextParams, Fail> {
        let kv_type = match self.kv_type.0 {
            x if x == LlametteKvType::LLAMETTE_KV_F16 as u32 => KvType::F16,
            x if x == LlametteKvType::LLAMETTE_KV_F32 as u32 => KvType::F32,
            x => return Err(Fail::invalid(format!("unknown KV type {x}"))),
        };
        Ok(ContextParams {
            n_ctx: self.n_ctx as usize,
            n_batch: self.n_batch as usize,
            kv_type,
            logits_all: self.logits_all,
            // One sequence: this struct's layout is part of the ABI, and the bindings build
            // it; `LlametteContextParamsEx` has `n_seq_max`.
            n_seq_max: 1,
            n_outputs_max: 0,
            embeddings: false,
            isolate_seqs: false,
        })
    }
}

/// Returns the default context parameters: `n_ctx` 4096, `n_batch` 512, `LLAMETTE_KV_F16`,
/// `logits_all` false.
///
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn llamette_context_default_params() -> LlametteContextParams {
    let d = ContextParams::default();
    LlametteContextParams {
        n_ctx: d.n_ctx as u32,
        n_batch: d.n_batch as u32,
        kv_type: KvTypeArg(match d.kv_type {
            KvType::F16 => LlametteKvType::LLAMETTE_KV_F16,
            KvType::F32 => LlametteKvType::LLAMETTE_KV_F32,
        } as u32),
        logits_all: d.logits_all,
    }
}

/// `*p`, or the defaults for NULL.
///
/// # Safety
///
/// A non-NULL `p` must be readable.
unsafe fn params_or_default(p: *const LlametteContextParams) -> Result<ContextParams, Fail> {
    if p.is_null() {
        return Ok(ContextParams::default());
    }
    // SAFETY: non-NULL and readable per the contract.
    unsafe { *arg(p, "p")? }.to_rust()
}

/// Parameters of a context, extensible: `llamette_context_new_ex` and friends take these. Get
/// them from `llamette_context_default_params_ex` (which sets `size`) and change the fields you
/// need.
///
/// `size` is `sizeof(LlametteContextParamsEx)` as the caller was compiled: later versions of
/// llamette only append fields and accept the sizes of earlier versions (the missing fields
/// take their defaults); a size this library does not know is `LLAMETTE_ERR_INVALID_ARGUMENT`.
/// (`LlametteContextParams` stays as it is, for the callers and bindings built against it.)
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlametteContextParamsEx {
    /// `sizeof(LlametteContextParamsEx)`; set by `llamette_context_default_params_ex`.
    pub size: usize,
    /// Cells of the KV cache, shared by all sequences (prompts plus generated tokens); > 0.
    pub n_ctx: u32,
    /// Most tokens evaluated in one step (longer inputs are evaluated in steps); > 0.
    pub n_batch: u32,
    /// Element type of the KV cache (`LLAMETTE_KV_F16` or `LLAMETTE_KV_F32`).
    pub kv_type: KvTypeArg,
    /// Keep the logits of every token of a batch (`llamette_logits_at`); a batch may then hold
    /// at most `n_batch` tokens.
    pub logits_all: bool,
    /// Sequences the context holds at once (1 to 64; sequence ids `0 .. n_seq_max - 1`): they
    /// share the `n_ctx` cells of one KV cache, as llama.cpp's unified cache.
    pub n_seq_max: u32,
    /// Tokens of one `llamette_decode` whose logits the context can keep; 0: `n_seq_max`
    /// (`n_batch` with `logits_all`), one per sequence, as generation needs. Each costs
    /// `4 * n_vocab` bytes.
    pub n_outputs_max: u32,
    /// Keep each output token's hidden state after the final norm too (llama.cpp's
    /// `embeddings`): `llamette_embeddings_ith` and `llamette_embed` read them. Each output
    /// row costs `4 * n_embd` more bytes. (Added in 0.1.x; a caller compiled before it passes
    /// the smaller size, and gets false.)
    pub embeddings: bool,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<LlametteContextParamsEx>() == 40);

/// `sizeof(LlametteContextParamsEx)` before `embeddings` was added.
const PARAMS_EX_V1_SIZE: usize = core::mem::offset_of!(LlametteContextParamsEx, embeddings)
    .next_multiple_of(core::mem::align_of::<LlametteContextParamsEx>());

impl LlametteContextParamsEx {
    /// The Rust parameters (`size` is checked by `params_ex_or_default`).
    fn to_rust(self) -> Result<ContextParams, Fail> {
        let base = LlametteContextParams {
            n_ctx: self.n_ctx,
            n_batch: self.n_batch,
            kv_type: self.kv_type,
            logits_all: self.logits_all,
        };
        Ok(ContextParams {
            n_seq_max: self.n_seq_max as usize,
            n_outputs_max: self.n_outputs_max as usize,
            embeddings: self.embeddings,
            ..base.to_rust()?
        })
    }
}

/// Returns the default extensible context parameters: `size` set to
/// `sizeof(LlametteContextParamsEx)`, the fields of `llamette_context_default_params`,
/// `n_seq_max` 1, `n_outputs_max` 0.
///
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn llamette_context_default_params_ex() -> LlametteContextParamsEx {
    let d = ContextParams::default();
    let base = llamette_context_default_params();
    LlametteContextParamsEx {
        size: core::mem::size_of::<LlametteContextParamsEx>(),
        n_ctx: base.n_ctx,
        n_batch: base.n_batch,
        kv_type: base.kv_type,
        logits_all: base.logits_all,
        n_seq_max: d.n_seq_max as u32,
        n_outputs_max: d.n_outputs_max as u32,
        embeddings: d.embeddings,
    }
}

/// `*p`, or the defaults for NULL.
///
/// # Safety
///
/// A non-NULL `p` must be readable for its first field (`size`), and for `size` bytes.
unsafe fn params_ex_or_default(p: *const LlametteContextParamsEx) -> Result<ContextParams, Fail> {
    if p.is_null() {
        return Ok(ContextParams::default());
    }
    // Read `size` alone first: a caller's struct of another size must not be read whole.
    // SAFETY: non-NULL, and its first field is readable per the contract.
    let size = unsafe { core::ptr::addr_of!((*p).size).read() };
    let full = core::mem::size_of::<LlametteContextParamsEx>();
    if size != full && size != PARAMS_EX_V1_SIZE {
        return Err(Fail::invalid(format!(
            "`p->size` is {size}, this library knows sizeof(LlametteContextParamsEx) = {full} \
             (and {PARAMS_EX_V1_SIZE}, before `embeddings`; set it with \
             llamette_context_default_params_ex)"
        )));
    }
    // The fields the caller's version has; the later ones keep their defaults.
    let mut params = llamette_context_default_params_ex();
    // SAFETY: `p` is readable for `size` bytes per the contract, `params` is writable for
    // `full >= size`; the bytes are a prefix of the same `repr(C)` struct.
    unsafe {
        core::ptr::copy_nonoverlapping(
            p.cast::<u8>(),
            (&mut params as *mut LlametteContextParamsEx).cast::<u8>(),
            size,
        )
    };
    params.to_rust()
}

/// A host memory allocator for a context's KV cache and scratch.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LlametteAllocator {
    /// Passed to `alloc` and `free` as it is.
    pub user: *mut c_void,
    /// Returns `size` bytes aligned to `align` (a power of two), or NULL.
    pub alloc:
        Option<unsafe extern "C" fn(user: *mut c_void, size: usize, align: usize) -> *mut c_void>,
    /// Releases memory from `alloc`, given the same `size` and `align`.
    pub free: Option<
        unsafe extern "C" fn(user: *mut c_void, ptr: *mut c_void, size: usize, align: usize),
    >,
}

/// Writes to `*out` the exact number of bytes a context with parameters `p` (NULL: defaults)
/// needs, including slack to align a buffer at any address: the size to give
/// `llamette_context_new_in`.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (zero
/// `n_ctx` or `n_batch`, unknown KV type, a size that overflows); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `p` readable (or NULL); `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_context_required_bytes(
    m: *const LlametteModel,
    p: *const LlametteContextParams,
    out: *mut usize,
) -> LlametteStatus {
    guard("llamette_context_required_bytes", || {
        // SAFETY: forwarded contract; `p` readable or NULL.
        unsafe { required_bytes(m, || params_or_default(p), out) }
    })
}

/// As `llamette_context_required_bytes`, with extensible parameters (NULL: the defaults of
/// `llamette_context_default_params_ex`).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (a
/// `p->size` this library does not know, zero `n_ctx` or `n_batch`, unknown KV type,
/// `n_seq_max` not 1 to 64, a size that overflows); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `p` readable for `p->size` bytes (or NULL); `out`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_context_required_bytes_ex(
    m: *const LlametteModel,
    p: *const LlametteContextParamsEx,
    out: *mut usize,
) -> LlametteStatus {
    guard("llamette_context_required_bytes_ex", || {
        // SAFETY: forwarded contract; `p` readable or NULL.
        unsafe { required_bytes(m, || params_ex_or_default(p), out) }
    })
}

/// The body of `llamette_context_required_bytes` and `_ex`; `params` reads the parameters
/// (after the model, before the output is checked, as every constructor does).
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `out` writable (or NULL).
unsafe fn required_bytes(
    m: *const LlametteModel,
    params: impl FnOnce() -> Result<ContextParams, Fail>,
    out: *mut usize,
) -> Result<(), Fail> {
    // SAFETY: a live handle or NULL per the contract.
    let inner = unsafe { model_ref(m) }?;
    let out = Out::new(out, "out")?;
    let params = params()?;
    let n = Context::required_bytes(inner.model()?, &params)?;
    // SAFETY: writable per the contract.
    unsafe { out.write(n) };
    Ok(())
}

/// A context's evaluation state. One thread at a time.
pub struct LlametteContext {
    _private: [u8; 0],
}

/// Where a context's KV cache and scratch live, and how they are given back.
enum Memory {
    /// The host's buffer (`llamette_context_new_in`): not ours to release.
    Caller,
    /// From Rust's global allocator (`llamette_context_new`).
    Global { ptr: *mut u8, layout: Layout },
    /// From the host's allocator (`llamette_context_new_with_allocator`).
    Host {
        ptr: *mut u8,
        size: usize,
        free: unsafe extern "C" fn(*mut c_void, *mut c_void, usize, usize),
        user: *mut c_void,
    },
}

/// Alignment asked of allocators (the context aligns its regions to this itself, so any
/// alignment works; this one wastes no slack).
const ALIGN: usize = 64;

impl Drop for Memory {
    fn drop(&mut self) {
        match *self {
            Memory::Caller => {}
            // SAFETY: allocated in `ContextInner::new` with this layout, released once here.
            Memory::Global { ptr, layout } => unsafe { std::alloc::dealloc(ptr, layout) },
            Memory::Host {
                ptr,
                size,
                free,
                user,
            } => {
                // SAFETY: `ptr` came from the host's `alloc(user, size, ALIGN)`; the allocator
                // contract says `free` takes it back with the same size and alignment.
                unsafe { free(user, ptr.cast(), size, ALIGN) }
            }
        }
    }
}

/// What a context handle points to.
///
/// `ctx` borrows two things with a lifetime stretched to `'static`: the model inside the `Arc`
/// held in `model`, and the bytes that `memory` owns (or the host's buffer). Struct fields are
/// dropped in declaration order, so `ctx` is dropped before `memory` releases its bytes and
/// before `model` gives up its reference; nothing else hands out those borrows, and neither the
/// model (inside the `Arc` allocation) nor the bytes (a separate allocation) move when this
/// struct does.
pub(crate) struct ContextInner {
    pub ctx: Context<'static>,
    /// Held for its `Drop`, which releases the bytes `ctx` lives in.
    _memory: Memory,
    parallel: Option<HostParallel>,
    pub model: Arc<ModelInner>,
}

impl ContextInner {
    /// A context over `memory`, `n` bytes at `ptr` (zeroed here unless `zeroed` says they are).
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for reading and writing `n` bytes, used by nothing else until
    /// `memory` is dropped (which releases it, or for `Memory::Caller` hands it back to the
    /// host when the context is freed); with `zeroed`, the bytes must be initialized.
    unsafe fn new(
        model: Arc<ModelInner>,
        params: ContextParams,
        memory: Memory,
        ptr: *mut u8,
        n: usize,
        zeroed: bool,
    ) -> Result<ContextInner, Fail> {
        if !zeroed {
            // SAFETY: writable for `n` bytes per the contract. Host memory may be
            // uninitialized: this makes every byte initialized before a `&mut [u8]` covers it.
            unsafe { core::ptr::write_bytes(ptr, 0, n) };
        }
        // SAFETY: valid, initialized and exclusively ours for `n` bytes per the contract, until
        // `memory` is dropped, which happens after `ctx` (see the struct's comment).
        let bytes: &'static mut [u8] = unsafe { core::slice::from_raw_parts_mut(ptr, n) };
        let weights: *const Model<'static> = model.model()?;
        // SAFETY: the model is owned (boxed) by the `Arc` allocation, which `ContextInner::model` keeps
        // alive and which is dropped after `ctx` (see the struct's comment); stretching the
        // borrow to 'static is sound because `ctx` never outlives the struct.
        let model_ref: &'static Model<'static> = unsafe { &*weights };
        // If this fails, `memory` is dropped on return, after the borrow `bytes` is gone.
        let ctx = Context::new_in(model_ref, params, bytes)?;
        Ok(ContextInner {
            ctx,
            _memory: memory,
            parallel: None,
            model,
        })
    }

    /// The context, how it runs tasks, and its model, borrowed at once.
    pub(crate) fn parts(&mut self) -> (&mut Context<'static>, &dyn Parallel, &ModelInner) {
        let par: &dyn Parallel = match &self.parallel {
            Some(p) => p,
            None => &Serial,
        };
        (&mut self.ctx, par, &self.model)
    }
}

/// # Safety
///
/// `c` must be NULL or a live context handle, used by one thread at a time.
pub(crate) unsafe fn context_mut<'a>(
    c: *mut LlametteContext,
) -> Result<&'a mut ContextInner, Fail> {
    // SAFETY: a live handle is a `Box<ContextInner>` pointer, exclusively ours during the call
    // per the contract.
    unsafe { c.cast::<ContextInner>().as_mut() }.ok_or_else(|| Fail::null("c"))
}

/// # Safety
///
/// As [`context_mut`].
pub(crate) unsafe fn context_ref<'a>(c: *const LlametteContext) -> Result<&'a ContextInner, Fail> {
    // SAFETY: as in `context_mut`.
    unsafe { arg(c.cast::<ContextInner>(), "c") }
}

/// Creates a context in one allocation from the system allocator (its size is
/// `llamette_context_required_bytes`), zeroed at creation.
///
/// - `m`: the model; the context keeps it alive (the model handle may be freed first).
/// - `p`: the parameters, read during the call only; NULL for the defaults.
/// - `out`: receives the new handle, owned by the caller (`llamette_context_free`). Untouched
///   on failure.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (zero
/// `n_ctx` or `n_batch`, unknown KV type, a size that overflows); `LLAMETTE_ERR_ALLOCATION`
/// (the system allocator returned NULL); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread; the new context is then used by one thread at a time.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `p` readable (or NULL); `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_context_new(
    m: *mut LlametteModel,
    p: *const LlametteContextParams,
    out: *mut *mut LlametteContext,
) -> LlametteStatus {
    guard("llamette_context_new", || {
        // SAFETY: forwarded contract; `p` readable or NULL.
        unsafe { new_global(m, || params_or_default(p), out) }
    })
}

/// As `llamette_context_new`, with extensible parameters (NULL: the defaults of
/// `llamette_context_default_params_ex`): a context of `p->n_seq_max` sequences
/// (`llamette_decode`, `llamette_seq_rm` and friends).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (a
/// `p->size` this library does not know, zero `n_ctx` or `n_batch`, unknown KV type,
/// `n_seq_max` not 1 to 64, a size that overflows); `LLAMETTE_ERR_ALLOCATION`;
/// `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread; the new context is then used by one thread at a time.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `p` readable for `p->size` bytes (or NULL); `out`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_context_new_ex(
    m: *mut LlametteModel,
    p: *const LlametteContextParamsEx,
    out: *mut *mut LlametteContext,
) -> LlametteStatus {
    guard("llamette_context_new_ex", || {
        // SAFETY: forwarded contract; `p` readable or NULL.
        unsafe { new_global(m, || params_ex_or_default(p), out) }
    })
}

/// The body of `llamette_context_new` and `_ex`.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `out` writable (or NULL).
unsafe fn new_global(
    m: *mut LlametteModel,
    params: impl FnOnce() -> Result<ContextParams, Fail>,
    out: *mut *mut LlametteContext,
) -> Result<(), Fail> {
    let out = Out::new(out, "out")?;
    // SAFETY: a live handle or NULL per the contract.
    let model = unsafe { model_arc(m) }?;
    let params = params()?;
    let n = Context::required_bytes(model.model()?, &params)?;
    if let Some(limit) = crate::sys::total_memory().filter(|&m| n as u64 > m) {
        return Err(crate::error::Error::OutOfMemory {
            what: format!("a context of {} positions", params.n_ctx),
            bytes: n,
            limit: Some(limit),
        }
        .into());
    }
    let layout = Layout::from_size_align(n, ALIGN)
        .map_err(|_| Fail::invalid(format!("a context of {n} bytes cannot be allocated")))?;
    // SAFETY: `n > 0` (the context always has a KV cache and scratch). Zeroed memory
    // comes as untouched pages for large sizes; the context zeroes it again anyway.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return Err(Fail::new(
            LlametteStatus::LLAMETTE_ERR_ALLOCATION,
            format!("the system allocator returned NULL for {n} bytes"),
        ));
    }
    let memory = Memory::Global { ptr, layout };
    // SAFETY: a fresh allocation of `n` bytes, owned by `memory`.
    let inner = unsafe { ContextInner::new(model, params, memory, ptr, n, true) }?;
    // SAFETY: writable per the contract.
    unsafe { out.write(into_handle(inner)) };
    Ok(())
}

/// Creates a context whose KV cache and scratch live in the host's buffer `buf` of `len`
/// bytes (at any alignment; at least `llamette_context_required_bytes`); only the small handle
/// is allocated. The buffer is *borrowed*: the host keeps it alive and does not touch it until
/// the context is freed. Its first `llamette_context_required_bytes` bytes are zeroed here.
///
/// - `m`, `p`, `out`: as in `llamette_context_new`.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT`;
/// `LLAMETTE_ERR_BUFFER_TOO_SMALL` (`len` is less than needed; the size is in
/// `llamette_last_error`, or ask `llamette_context_required_bytes`); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread; the new context is then used by one thread at a time.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `p` readable (or NULL); `buf` valid for reading
/// and writing `len` bytes as stated above; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_context_new_in(
    m: *mut LlametteModel,
    p: *const LlametteContextParams,
    buf: *mut c_void,
    len: usize,
    out: *mut *mut LlametteContext,
) -> LlametteStatus {
    guard("llamette_context_new_in", || {
        // SAFETY: forwarded contract; `p` readable or NULL.
        unsafe { new_in(m, || params_or_default(p), buf, len, out) }
    })
}

/// As `llamette_context_new_in`, with extensible parameters (NULL: the defaults of
/// `llamette_context_default_params_ex`); `len` at least `llamette_context_required_bytes_ex`.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (as
/// `llamette_context_new_ex`); `LLAMETTE_ERR_BUFFER_TOO_SMALL`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread; the new context is then used by one thread at a time.
///
/// # Safety
///
/// As `llamette_context_new_in`; `p` readable for `p->size` bytes (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_context_new_in_ex(
    m: *mut LlametteModel,
    p: *const LlametteContextParamsEx,
    buf: *mut c_void,
    len: usize,
    out: *mut *mut LlametteContext,
) -> LlametteStatus {
    guard("llamette_context_new_in_ex", || {
        // SAFETY: forwarded contract; `p` readable or NULL.
        unsafe { new_in(m, || params_ex_or_default(p), buf, len, out) }
    })
}

/// The body of `llamette_context_new_in` and `_ex`.
///
/// # Safety
///
/// As `llamette_context_new_in`.
unsafe fn new_in(
    m: *mut LlametteModel,
    params: impl FnOnce() -> Result<ContextParams, Fail>,
    buf: *mut c_void,
    len: usize,
    out: *mut *mut LlametteContext,
) -> Result<(), Fail> {
    let out = Out::new(out, "out")?;
    // SAFETY: a live handle or NULL per the contract.
    let model = unsafe { model_arc(m) }?;
    let params = params()?;
    if buf.is_null() {
        return Err(Fail::null("buf"));
    }
    let n = Context::required_bytes(model.model()?, &params)?;
    if len < n {
        return Err(crate::Error::BufferTooSmall {
            needed: n,
            given: len,
        }
        .into());
    }
    // SAFETY: the host lends `len >= n` bytes at `buf` until the context is freed.
    let inner = unsafe { ContextInner::new(model, params, Memory::Caller, buf.cast(), n, false) }?;
    // SAFETY: writable per the contract.
    unsafe { out.write(into_handle(inner)) };
    Ok(())
}

/// Creates a context whose KV cache and scratch come from the host's allocator: one call
/// `a->alloc(a->user, size, 64)` of `llamette_context_required_bytes`, returned with
/// `a->free(a->user, ptr, size, 64)` when the context is freed (the small handle comes from the
/// system allocator). The memory is zeroed here. `*a` is copied: the struct itself need not
/// outlive the call, but `a->user` must stay valid until `free` has been called.
///
/// - `m`, `p`, `out`: as in `llamette_context_new`.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (also `a->alloc` or `a->free` NULL);
/// `LLAMETTE_ERR_INVALID_ARGUMENT`; `LLAMETTE_ERR_ALLOCATION` (`alloc` returned NULL);
/// `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread; the new context is then used by one thread at a time. `free` is
/// called on the thread that frees the context (or that fails to create it).
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `p` readable (or NULL); `a` readable; `alloc`
/// must return NULL or memory valid for `size` bytes, which `free` accepts back; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_context_new_with_allocator(
    m: *mut LlametteModel,
    p: *const LlametteContextParams,
    a: *const LlametteAllocator,
    out: *mut *mut LlametteContext,
) -> LlametteStatus {
    guard("llamette_context_new_with_allocator", || {
        // SAFETY: forwarded contract; `p` readable or NULL.
        unsafe { new_with_allocator(m, || params_or_default(p), a, out) }
    })
}

/// As `llamette_context_new_with_allocator`, with extensible parameters (NULL: the defaults of
/// `llamette_context_default_params_ex`).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (also `a->alloc` or `a->free` NULL);
/// `LLAMETTE_ERR_INVALID_ARGUMENT` (as `llamette_context_new_ex`); `LLAMETTE_ERR_ALLOCATION`;
/// `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: as `llamette_context_new_with_allocator`.
///
/// # Safety
///
/// As `llamette_context_new_with_allocator`; `p` readable for `p->size` bytes (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_context_new_with_allocator_ex(
    m: *mut LlametteModel,
    p: *const LlametteContextParamsEx,
    a: *const LlametteAllocator,
    out: *mut *mut LlametteContext,
) -> LlametteStatus {
    guard("llamette_context_new_with_allocator_ex", || {
        // SAFETY: forwarded contract; `p` readable or NULL.
        unsafe { new_with_allocator(m, || params_ex_or_default(p), a, out) }
    })
}

/// The body of `llamette_context_new_with_allocator` and `_ex`.
///
/// # Safety
///
/// As `llamette_context_new_with_allocator`.
unsafe fn new_with_allocator(
    m: *mut LlametteModel,
    params: impl FnOnce() -> Result<ContextParams, Fail>,
    a: *const LlametteAllocator,
    out: *mut *mut LlametteContext,
) -> Result<(), Fail> {
    let out = Out::new(out, "out")?;
    // SAFETY: a live handle or NULL per the contract.
    let model = unsafe { model_arc(m) }?;
    let params = params()?;
    // SAFETY: readable or NULL per the contract.
    let a = unsafe { *arg(a, "a")? };
    let alloc = a.alloc.ok_or_else(|| Fail::null("a->alloc"))?;
    let free = a.free.ok_or_else(|| Fail::null("a->free"))?;
    let n = Context::required_bytes(model.model()?, &params)?;
    // SAFETY: calling the host's allocator as its contract describes.
    let ptr = unsafe { alloc(a.user, n, ALIGN) }.cast::<u8>();
    if ptr.is_null() {
        return Err(Fail::new(
            LlametteStatus::LLAMETTE_ERR_ALLOCATION,
            format!("the host allocator returned NULL for {n} bytes"),
        ));
    }
    let memory = Memory::Host {
        ptr,
        size: n,
        free,
        user: a.user,
    };
    // SAFETY: the host's allocation of `n` bytes, owned by `memory` (released on failure
    // too, when `memory` is dropped).
    let inner = unsafe { ContextInner::new(model, params, memory, ptr, n, false) }?;
    // SAFETY: writable per the contract.
    unsafe { out.write(into_handle(inner)) };
    Ok(())
}

/// Frees a context: its memory goes back where it came from (released, handed back to the
/// host's `free`, or, for `llamette_context_new_in`, free for the host to reuse), and its
/// reference to the model is dropped. NULL is a no-op.
///
/// Thread safety: no other call may use the context during or after this one.
///
/// # Safety
///
/// `c` must be NULL or a live context handle, not used during or after this call.
#[no_mangle]
pub unsafe extern "C" fn llamette_context_free(c: *mut LlametteContext) {
    guard_or("llamette_context_free", (), || {
        if !c.is_null() {
            // SAFETY: a live handle is a `Box<ContextInner>` from `into_handle`.
            drop(unsafe { alloc::boxed::Box::from_raw(c.cast::<ContextInner>()) });
        }
    })
}

/// A task of an operation, handed to the host's `LlametteParallelFn`: call it as
/// `task(task_ctx, index)`.
pub type LlametteTaskFn = Option<unsafe extern "C" fn(task_ctx: *mut c_void, index: u32)>;

/// The host's way to run tasks: it must call `task(task_ctx, i)` exactly once for every `i` in
/// `0 .. n_tasks - 1`, in any order, on any threads, possibly at once, and return only when all
/// calls have returned. `user` is the pointer given to `llamette_context_set_parallel`.
pub type LlametteParallelFn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        n_tasks: u32,
        task: LlametteTaskFn,
        task_ctx: *mut c_void,
    ),
>;

/// [`Parallel`] over a host callback.
struct HostParallel {
    run: unsafe extern "C" fn(*mut c_void, u32, LlametteTaskFn, *mut c_void),
    user: *mut c_void,
    width: usize,
}

// SAFETY: `Parallel` asks for `Sync` because the core may share it with the tasks it runs. A
// `HostParallel` is only ever used by the thread that holds the context (the context is
// one-thread-at-a-time), and `user` is handed to the host's own function, whose thread-safety is
// the host's contract with itself.
unsafe impl Sync for HostParallel {}

/// One `run` call's state, shared by the tasks through `task_ctx`.
struct Job<'t> {
    task: &'t (dyn Fn(usize) + Sync),
    /// Index of task 0 of this call (for operations of more than `u32::MAX` tasks).
    offset: usize,
    n: u32,
    done: AtomicUsize,
    bad_index: AtomicBool,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// The `LlametteTaskFn` llamette hands to the host.
///
/// # Safety
///
/// `task_ctx` must be the `Job` pointer given to the host with this function, called while the
/// host's parallel function has not returned (its contract).
unsafe extern "C" fn run_task(task_ctx: *mut c_void, index: u32) {
    // SAFETY: per the contract, `task_ctx` points to the `Job` on the stack of
    // `HostParallel::run`, which is waiting for the host's function to return.
    let job = unsafe { &*task_ctx.cast_const().cast::<Job<'_>>() };
    if index >= job.n {
        job.bad_index.store(true, Ordering::Relaxed);
        return;
    }
    // A panic must not unwind into the host's C frames: catch it here, report it after the
    // host's function returns.
    let task = job.task;
    match catch_unwind(AssertUnwindSafe(|| task(job.offset + index as usize))) {
        Ok(()) => {
            job.done.fetch_add(1, Ordering::Release);
        }
        Err(payload) => {
            if let Ok(mut slot) = job.panic.lock() {
                slot.get_or_insert(payload);
            } else {
                core::mem::forget(payload);
            }
        }
    }
}

impl Parallel for HostParallel {
    fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync)) {
        let mut offset = 0;
        while offset < n {
            let count = u32::try_from(n - offset).unwrap_or(u32::MAX);
            let job = Job {
                task,
                offset,
                n: count,
                done: AtomicUsize::new(0),
                bad_index: AtomicBool::new(false),
                panic: Mutex::new(None),
            };
            let ctx = core::ptr::addr_of!(job).cast_mut().cast::<c_void>();
            // SAFETY: the host's function, with the meaning `LlametteParallelFn` documents;
            // `job` outlives the call.
            unsafe { (self.run)(self.user, count, Some(run_task), ctx) };
            if let Some(payload) = job.panic.lock().ok().and_then(|mut p| p.take()) {
                resume_unwind(payload);
            }
            // The host broke its contract: the results would be garbage, so stop here (the
            // export's boundary turns this into LLAMETTE_ERR_PANIC with this message).
            assert!(
                !job.bad_index.load(Ordering::Relaxed),
                "the host's parallel function called a task with an index >= n_tasks ({count})"
            );
            let done = job.done.load(Ordering::Acquire);
            assert!(
                done == count as usize,
                "the host's parallel function returned after {done} task calls of {count} \
                 (each task must run exactly once before it returns)"
            );
            offset += count as usize;
        }
    }

    fn width(&self) -> usize {
        self.width
    }
}

/// Sets how the context runs its tasks: `f` (with `user`) runs them on the host's threads;
/// `width` says how many tasks may usefully run at once (a splitting hint; 0 is taken as 1).
/// `f` NULL runs every task inline on the calling thread (the default). llamette never starts a
/// thread of its own.
///
/// `f` is called from inside `llamette_eval` and `llamette_generate` on their thread. It must
/// not unwind or `longjmp` out, and must not call back into llamette on this context. Results
/// are identical, bit for bit, for any `f` and `width` that honour the contract. A broken
/// contract that shows (fewer or more task calls than `n_tasks`, an index out of range) is
/// reported as `LLAMETTE_ERR_PANIC`.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (`c`); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `f` must behave as `LlametteParallelFn`
/// describes; `user` must stay valid while the context may call `f`.
#[no_mangle]
pub unsafe extern "C" fn llamette_context_set_parallel(
    c: *mut LlametteContext,
    f: LlametteParallelFn,
    user: *mut c_void,
    width: u32,
) -> LlametteStatus {
    guard("llamette_context_set_parallel", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        inner.parallel = f.map(|run| HostParallel {
            run,
            user,
            width: (width as usize).max(1),
        });
        Ok(())
    })
}

/// Evaluates `n` tokens at the next positions of the context (a whole prompt at once, in steps
/// of `n_batch`) and keeps the logits of the last one (of every one with `logits_all`).
/// `tokens` is read during the call only. On failure the context is as it was, except after
/// `LLAMETTE_ERR_PANIC`, when its logits are unspecified until the next successful evaluation.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (`n`
/// is 0, or more than `n_batch` tokens with `logits_all`); `LLAMETTE_ERR_BAD_TOKEN`;
/// `LLAMETTE_ERR_CONTEXT_FULL`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `tokens` readable for `n` ids.
#[no_mangle]
pub unsafe extern "C" fn llamette_eval(
    c: *mut LlametteContext,
    tokens: *const u32,
    n: usize,
) -> LlametteStatus {
    guard("llamette_eval", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        // SAFETY: readable for `n` ids per the contract.
        let tokens = unsafe { slice(tokens, n, "tokens") }?;
        let (ctx, par, _) = inner.parts();
        ctx.eval(tokens, par)?;
        Ok(())
    })
}

/// Sets `*logits` to the logits after the last evaluated token and `*n_vocab` to their number.
/// The array is owned by the context and valid until the next call that changes the context
/// (any call that takes it as non-const: `llamette_eval`, `llamette_decode`,
/// `llamette_generate`, `llamette_context_truncate`, a sequence operation, a restored state) or
/// frees it.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT`
/// (nothing evaluated yet, or since a truncation); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `logits` and `n_vocab` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_logits(
    c: *const LlametteContext,
    logits: *mut *const f32,
    n_vocab: *mut usize,
) -> LlametteStatus {
    guard("llamette_logits", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        let logits = Out::new(logits, "logits")?;
        let n_vocab = Out::new(n_vocab, "n_vocab")?;
        let l = inner.ctx.logits();
        if l.is_empty() {
            return Err(Fail::invalid("no logits: evaluate tokens first"));
        }
        // SAFETY: writable per the contract.
        unsafe {
            logits.write(l.as_ptr());
            n_vocab.write(l.len());
        }
        Ok(())
    })
}

/// As `llamette_logits`, for token `i` of the last evaluated batch; needs `logits_all` (without
/// it only the batch's last token has logits).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (no
/// logits for `i`); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL); `logits` and `n_vocab` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_logits_at(
    c: *const LlametteContext,
    i: usize,
    logits: *mut *const f32,
    n_vocab: *mut usize,
) -> LlametteStatus {
    guard("llamette_logits_at", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_ref(c) }?;
        let logits = Out::new(logits, "logits")?;
        let n_vocab = Out::new(n_vocab, "n_vocab")?;
        let l = inner.ctx.logits_at(i).ok_or_else(|| {
            Fail::invalid(format!(
                "no logits for token {i} of the last batch (logits_all is {})",
                inner.ctx.params().logits_all
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

/// Returns the number of positions in the context's KV cache; 0 for NULL.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle or NULL.
#[no_mangle]
pub unsafe extern "C" fn llamette_context_n_past(c: *const LlametteContext) -> u32 {
    guard_or("llamette_context_n_past", 0, || {
        // SAFETY: a live handle or NULL per the contract.
        match unsafe { context_ref(c) } {
            Ok(inner) => u32::try_from(inner.ctx.n_past()).unwrap_or(u32::MAX),
            Err(_) => 0,
        }
    })
}

/// Forgets the positions from `n_keep` on, keeping the first `n_keep` (to rewind a chat to a
/// shared prefix; 0 clears the context). Does nothing when `n_keep` is not below
/// `llamette_context_n_past`. Logits are gone until the next evaluation.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per context.
///
/// # Safety
///
/// `c` must be a live context handle (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_context_truncate(
    c: *mut LlametteContext,
    n_keep: u32,
) -> LlametteStatus {
    guard("llamette_context_truncate", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { context_mut(c) }?;
        inner.ctx.truncate(n_keep as usize);
        Ok(())
    })
}
