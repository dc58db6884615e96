//! The C ABI: opaque handles, status codes, host callbacks (`include/llamette.h`).
//!
//! This is the only module with `extern "C"`. It follows rustls-ffi's conventions:
//!
//! - Handles are opaque (`struct LlametteModel { _private: [u8; 0] }`, which cbindgen emits as
//!   `typedef struct LlametteModel LlametteModel;`). A model handle is an `Arc` of
//!   `model::ModelInner` turned into a raw pointer; contexts, samplers and detokenizers are
//!   `Box`es that hold a clone of that `Arc`, so freeing the model handle while they live is
//!   safe.
//! - Every fallible function returns a [`LlametteStatus`] with stable numbers and writes its
//!   results through out-params, only on success (sizes `*n_out` are also written with
//!   `LLAMETTE_ERR_BUFFER_TOO_SMALL`). The detailed message of the last failure on a thread is
//!   [`llamette_last_error`].
//! - Every export runs inside `guard` (or `guard_or`), a `catch_unwind` boundary: a panic
//!   never unwinds into C, it becomes `LLAMETTE_ERR_PANIC`.
//! - A struct that C passes in and that may grow starts with a `size` field (`sizeof` as the
//!   caller was compiled; [`context::LlametteContextParamsEx`]): a library reads only the
//!   fields a caller's size covers, so fields are only ever appended. Structs without one
//!   (`LlametteContextParams`) never change.
//! - Enum values that C passes *in* (a chat format, a KV type, a status) are read as integers
//!   ([`ChatFormatArg`], [`KvTypeArg`], [`StatusArg`]): C may put any integer in an enum, and an
//!   out-of-range value in a Rust enum would be undefined behaviour. cbindgen.toml renames those
//!   integer types to the C enum names, so the header shows the enums.
//!
//! The header is generated from this module by cbindgen (build.rs, feature `ffi`); the doc
//! comments here are the header's documentation.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use core::ffi::{c_char, CStr};
use std::any::Any;
use std::cell::RefCell;
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::Error;

// In the order of the header (cbindgen follows the declarations; groups keep rustfmt from
// sorting them).
pub mod model;

pub mod chat;

pub mod context;

pub mod sequences;

pub mod state;

pub mod generate;

pub mod grammar;

pub mod perf;

/// Embeddings (`llamette_embed`, `llamette_embeddings_ith`).
pub mod embed;
pub mod logprobs;
/// The rest of llama.cpp's samplers: extensible parameters and a host logits processor.
pub mod sampler_ex;
/// The model's own Jinja chat template (`llamette_chat_render_template`).
pub mod template;
/// Special tokens, token attributes and fill-in-the-middle prompts.
pub mod vocab;

#[cfg(test)]
mod tests;

// The header's thread-safety promises rest on these: a model (with its vocabulary) is used from
// any number of threads at once; a context, sampler or detokenizer moves between threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<model::ModelInner>();
    send::<crate::model::Context<'static>>();
    send::<crate::sampling::Sampler>();
    send::<crate::tokenizer::Utf8Decoder>();
};

/// Major version of the library this header belongs to.
pub const LLAMETTE_VERSION_MAJOR: u32 = 0;
/// Minor version of the library this header belongs to.
pub const LLAMETTE_VERSION_MINOR: u32 = 1;
/// Patch version of the library this header belongs to.
pub const LLAMETTE_VERSION_PATCH: u32 = 0;

/// The outcome of a call. The numbers are stable: new codes are only ever added at the end.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlametteStatus {
    /// Success.
    LLAMETTE_OK = 0,
    /// A required pointer was NULL.
    LLAMETTE_ERR_NULL_ARGUMENT = 1,
    /// A bad parameter value, text that is not UTF-8, an unknown chat format.
    LLAMETTE_ERR_INVALID_ARGUMENT = 2,
    /// A malformed GGUF file or model (truncated, bad tensor, missing key or tensor).
    LLAMETTE_ERR_BAD_FILE = 3,
    /// An architecture, tensor type or GGUF version llamette does not run.
    LLAMETTE_ERR_UNSUPPORTED = 4,
    /// A file cannot be opened or mapped.
    LLAMETTE_ERR_IO = 5,
    /// An output buffer is too small; the size out-param says how much is needed.
    LLAMETTE_ERR_BUFFER_TOO_SMALL = 6,
    /// The context has no room for the tokens.
    LLAMETTE_ERR_CONTEXT_FULL = 7,
    /// A token id outside the vocabulary.
    LLAMETTE_ERR_BAD_TOKEN = 8,
    /// A conversation that breaks its chat format's rules.
    LLAMETTE_ERR_BAD_CHAT = 9,
    /// The host allocator (or the system) returned NULL.
    LLAMETTE_ERR_ALLOCATION = 10,
    /// The abort flag was raised (reserved: `llamette_generate` reports an abort as
    /// `LLAMETTE_STOP_ABORTED` with `LLAMETTE_OK`).
    LLAMETTE_ERR_ABORTED = 11,
    /// A bug, or a broken host callback contract: a Rust panic was caught at the boundary.
    LLAMETTE_ERR_PANIC = 12,
    /// A saved state that the context cannot restore: another model, format version, kind or
    /// KV type, truncated or corrupt bytes, more cells or sequences than the context holds.
    LLAMETTE_ERR_BAD_STATE = 13,
    /// A grammar, JSON schema or regular expression that cannot be parsed or compiled; the
    /// message says where (line and column, JSON position).
    LLAMETTE_ERR_BAD_GRAMMAR = 14,
    /// A grammar allows no token at this step (sampling alone; generation stops with
    /// `LLAMETTE_STOP_GRAMMAR` instead).
    LLAMETTE_ERR_CONSTRAINT = 15,
}

use LlametteStatus::*;

/// A [`LlametteStatus`] as C passes it in: any integer (an unknown value is not undefined
/// behaviour). Shown as `LlametteStatus` in the header.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusArg(pub u32);

/// A [`chat::LlametteChatFormat`] as C passes it in: any integer; unknown values are
/// `LLAMETTE_ERR_INVALID_ARGUMENT`. Shown as `LlametteChatFormat` in the header.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatFormatArg(pub u32);

/// A [`context::LlametteKvType`] as C passes it in: any integer; unknown values are
/// `LLAMETTE_ERR_INVALID_ARGUMENT`. Shown as `LlametteKvType` in the header.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvTypeArg(pub u32);

/// A `uint32_t` that another thread may change at any time; shown as `volatile uint32_t` in
/// the header, read with a relaxed atomic load.
#[repr(transparent)]
#[derive(Debug)]
pub struct VolatileU32(pub u32);

/// Returns a static, NUL-terminated English description of `status`, never NULL (an unknown
/// value gives "unknown status").
///
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn llamette_status_message(status: StatusArg) -> *const c_char {
    let s: &'static CStr = match status.0 {
        0 => c"ok",
        1 => c"a required pointer was NULL",
        2 => c"invalid argument",
        3 => c"malformed GGUF file or model",
        4 => c"unsupported architecture, tensor type or file version",
        5 => c"cannot open or map the file",
        6 => c"buffer too small",
        7 => c"context full",
        8 => c"token id outside the vocabulary",
        9 => c"the conversation breaks its chat format's rules",
        10 => c"allocation failed",
        11 => c"aborted",
        12 => c"internal error (a Rust panic was caught)",
        13 => c"the saved state does not fit this context",
        14 => c"the grammar, JSON schema or regular expression cannot be used",
        15 => c"the grammar allows no token",
        _ => c"unknown status",
    };
    s.as_ptr()
}

/// Returns the detailed message of the last failure on the calling thread (for example
/// "llamette_model_from_memory: tensor blk.3.attn_q.weight: ..."), or "" if no call on this
/// thread has failed. Never NULL.
///
/// The string is owned by llamette and stays valid until the next failing llamette call on
/// this thread (treat it as valid only until the next llamette call on this thread). A
/// successful call leaves the message as it was.
///
/// Thread safety: any thread; each thread has its own message.
#[no_mangle]
pub extern "C" fn llamette_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// Returns the library's version as `(major << 16) | (minor << 8) | patch`: compare it with
/// `LLAMETTE_VERSION_MAJOR` and friends to check that the header matches the library.
///
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn llamette_version() -> u32 {
    (LLAMETTE_VERSION_MAJOR << 16) | (LLAMETTE_VERSION_MINOR << 8) | LLAMETTE_VERSION_PATCH
}

// ---- failures, the last-error message and the panic boundary ----

std::thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: String) {
    // A message with a NUL byte inside would be cut by C; show it as U+FFFD instead.
    let message = CString::new(message.replace('\0', "\u{FFFD}")).unwrap_or_default();
    // `try_with` fails only while the thread is being torn down; the status still tells.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = message);
}

/// A failed call: the status to return and the message for [`llamette_last_error`].
#[derive(Debug)]
pub(crate) struct Fail {
    pub status: LlametteStatus,
    pub message: String,
}

impl Fail {
    pub(crate) fn new(status: LlametteStatus, message: impl Into<String>) -> Fail {
        Fail {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn null(what: &str) -> Fail {
        Fail::new(LLAMETTE_ERR_NULL_ARGUMENT, format!("`{what}` is NULL"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Fail {
        Fail::new(LLAMETTE_ERR_INVALID_ARGUMENT, message)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::new(status_of(&e), e.to_string())
    }
}

/// The status an [`Error`] is reported as.
pub(crate) fn status_of(e: &Error) -> LlametteStatus {
    match e {
        Error::Truncated { .. }
        | Error::BadMagic { .. }
        | Error::ImplausibleCount { .. }
        | Error::TooMany { .. }
        | Error::InvalidUtf8 { .. }
        | Error::UnknownValueType { .. }
        | Error::DuplicateKey { .. }
        | Error::BadMetadata { .. }
        | Error::UnknownTensorType { .. }
        | Error::DuplicateTensor { .. }
        | Error::MissingKey { .. }
        | Error::WrongType { .. }
        | Error::MissingTensor { .. }
        | Error::BadModel { .. } => LLAMETTE_ERR_BAD_FILE,
        // `Model` reports a tensor type that this build cannot multiply with as a bad tensor
        // ("tensor type IQ2_XXS is not supported"); for C that is "unsupported", not "malformed".
        Error::BadTensor { reason, .. }
            if reason.starts_with("tensor type ") && reason.ends_with(" is not supported") =>
        {
            LLAMETTE_ERR_UNSUPPORTED
        }
        Error::BadTensor { .. } => LLAMETTE_ERR_BAD_FILE,
        Error::UnsupportedVersion { .. }
        | Error::UnsupportedType { .. }
        | Error::UnsupportedArchitecture { .. } => LLAMETTE_ERR_UNSUPPORTED,
        Error::LengthMismatch { .. } | Error::BadParams { .. } => LLAMETTE_ERR_INVALID_ARGUMENT,
        Error::BufferTooSmall { .. } => LLAMETTE_ERR_BUFFER_TOO_SMALL,
        Error::ContextFull { .. } => LLAMETTE_ERR_CONTEXT_FULL,
        Error::BadToken { .. } => LLAMETTE_ERR_BAD_TOKEN,
        Error::BadChat { .. } | Error::Template { .. } => LLAMETTE_ERR_BAD_CHAT,
        Error::Io { .. } => LLAMETTE_ERR_IO,
        Error::OutOfMemory { .. } => LLAMETTE_ERR_ALLOCATION,
        Error::BadState { .. } => LLAMETTE_ERR_BAD_STATE,
        Error::BadGrammar { .. } => LLAMETTE_ERR_BAD_GRAMMAR,
        Error::ConstraintFailed { .. } => LLAMETTE_ERR_CONSTRAINT,
    }
}

/// The text of a panic payload (`panic!` with a literal or a formatted message).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}

/// The panic boundary of every fallible export: runs `f`, turns an `Err` into its status and a
/// caught panic into `LLAMETTE_ERR_PANIC`, recording the message for [`llamette_last_error`]
/// (prefixed with the function's name).
pub(crate) fn guard(name: &str, f: impl FnOnce() -> Result<(), Fail>) -> LlametteStatus {
    // The closures only touch memory reachable from their arguments; after a panic the handle
    // involved is left as the panic found it, which the docs of LLAMETTE_ERR_PANIC allow for.
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => LLAMETTE_OK,
        Ok(Err(fail)) => {
            set_last_error(format!("{name}: {}", fail.message));
            fail.status
        }
        Err(payload) => {
            set_last_error(format!("{name}: panic: {}", panic_message(&*payload)));
            drop_payload(payload);
            LLAMETTE_ERR_PANIC
        }
    }
}

/// Drops a caught panic's payload. Its `Drop` could panic in turn (a payload type with a
/// panicking destructor): that second panic is caught too, and only its payload is leaked, so
/// nothing unwinds into C and an ordinary payload (a message) is freed.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(second) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        core::mem::forget(second);
    }
}

/// The panic boundary of an export that returns a value instead of a status (`void`
/// functions, `llamette_context_n_past`): a caught panic returns `fallback`.
pub(crate) fn guard_or<T>(name: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            set_last_error(format!("{name}: panic: {}", panic_message(&*payload)));
            drop_payload(payload);
            fallback
        }
    }
}

// ---- reading arguments and writing results ----

/// `*p` for a required input pointer.
///
/// # Safety
///
/// A non-NULL `p` must point to a valid, initialized `T` for the lifetime `'a`.
pub(crate) unsafe fn arg<'a, T>(p: *const T, what: &str) -> Result<&'a T, Fail> {
    // SAFETY: non-NULL pointers are valid per this function's contract.
    unsafe { p.as_ref() }.ok_or_else(|| Fail::null(what))
}

/// `n` elements at `p`; `p` may be NULL when `n` is 0.
///
/// # Safety
///
/// A non-NULL `p` must point to `n` valid, initialized elements that stay unchanged for `'a`.
pub(crate) unsafe fn slice<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T], Fail> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if n.checked_mul(core::mem::size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Fail::invalid(format!("`{what}`: {n} elements is too many")));
    }
    // SAFETY: non-NULL, and valid for `n` elements per this function's contract; the total
    // size fits in isize (checked above).
    Ok(unsafe { core::slice::from_raw_parts(p, n) })
}

/// `len` bytes of UTF-8 text at `p`; `p` may be NULL when `len` is 0.
///
/// # Safety
///
/// As [`slice`].
pub(crate) unsafe fn text<'a>(p: *const c_char, len: usize, what: &str) -> Result<&'a str, Fail> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { slice(p.cast::<u8>(), len, what) }?;
    core::str::from_utf8(bytes).map_err(|e| {
        Fail::invalid(format!(
            "`{what}` is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// A NUL-terminated UTF-8 string.
///
/// # Safety
///
/// A non-NULL `p` must point to a NUL-terminated string that stays unchanged for `'a`.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a CStr, Fail> {
    if p.is_null() {
        return Err(Fail::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    Ok(unsafe { CStr::from_ptr(p) })
}

/// A path: a NUL-terminated string (on Unix any bytes; elsewhere UTF-8).
///
/// # Safety
///
/// As [`c_str`].
pub(crate) unsafe fn c_path<'a>(p: *const c_char, what: &str) -> Result<&'a std::path::Path, Fail> {
    // SAFETY: forwarded contract.
    let s = unsafe { c_str(p, what) }?;
    #[cfg(unix)]
    let path = {
        use std::os::unix::ffi::OsStrExt;
        std::path::Path::new(std::ffi::OsStr::from_bytes(s.to_bytes()))
    };
    #[cfg(not(unix))]
    let path = std::path::Path::new(
        s.to_str()
            .map_err(|_| Fail::invalid(format!("`{what}` is not UTF-8")))?,
    );
    Ok(path)
}

/// A checked output pointer: written only through [`Out::write`], at the end of a successful
/// call (or for sizes, with `LLAMETTE_ERR_BUFFER_TOO_SMALL`).
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// A required out-param.
    pub(crate) fn new(p: *mut T, what: &str) -> Result<Out<T>, Fail> {
        if p.is_null() {
            Err(Fail::null(what))
        } else {
            Ok(Out(p))
        }
    }

    /// Writes the result.
    ///
    /// # Safety
    ///
    /// The pointer given to [`Out::new`] must be valid for writing a `T` (aligned, not aliased
    /// by a Rust reference).
    pub(crate) unsafe fn write(&self, v: T) {
        // SAFETY: non-NULL (checked in `new`), writable per this function's contract. `write`
        // does not drop the previous contents, which may be uninitialized host memory.
        unsafe { self.0.write(v) }
    }
}

/// An output array of `cap` elements; `p` may be NULL when `cap` is 0.
pub(crate) struct OutSlice<T> {
    p: *mut T,
    cap: usize,
}

impl<T: Copy> OutSlice<T> {
    pub(crate) fn new(p: *mut T, cap: usize, what: &str) -> Result<OutSlice<T>, Fail> {
        if p.is_null() && cap != 0 {
            return Err(Fail::null(what));
        }
        Ok(OutSlice { p, cap })
    }

    /// Copies `items` (which must fit) to the front of the array.
    ///
    /// # Safety
    ///
    /// The pointer given to [`OutSlice::new`] must be valid for writing `cap` elements.
    pub(crate) unsafe fn copy_from(&self, items: &[T]) {
        assert!(items.len() <= self.cap, "output array overflow");
        if !items.is_empty() {
            // SAFETY: `self.p` is non-NULL (cap > 0) and writable for `cap >= items.len()`
            // elements per this function's contract; `items` is Rust memory, so the two do not
            // overlap unless the host passed llamette's own memory as an output, which the
            // header forbids.
            unsafe { core::ptr::copy_nonoverlapping(items.as_ptr(), self.p, items.len()) }
        }
    }
}

/// Writes a list of `items` to an array of `cap` elements and its length to `*n_out`; with a
/// too-small array, writes only `*n_out` (the length needed) and fails with
/// `LLAMETTE_ERR_BUFFER_TOO_SMALL`.
///
/// # Safety
///
/// `p` must be valid for writing `cap` elements (or NULL with `cap` 0), `n_out` for writing a
/// `size_t` (or NULL, which fails).
pub(crate) unsafe fn write_list<T: Copy>(
    items: &[T],
    p: *mut T,
    cap: usize,
    n_out: *mut usize,
    what: &str,
) -> Result<(), Fail> {
    let n_out = Out::new(n_out, "n_out")?;
    let out = OutSlice::new(p, cap, what)?;
    if items.len() > cap {
        // SAFETY: `n_out` is writable per this function's contract.
        unsafe { n_out.write(items.len()) };
        return Err(Fail::new(
            LLAMETTE_ERR_BUFFER_TOO_SMALL,
            format!("`{what}` holds {cap}, {} needed", items.len()),
        ));
    }
    // SAFETY: `p` is writable for `cap >= items.len()` elements per this function's contract.
    unsafe { out.copy_from(items) };
    // SAFETY: `n_out` is writable per this function's contract.
    unsafe { n_out.write(items.len()) };
    Ok(())
}

/// Writes `s` NUL-terminated to a buffer of `cap` bytes and `strlen` to `*n_out`; with a
/// buffer smaller than `strlen + 1`, writes only `*n_out` (the length without the NUL) and
/// fails with `LLAMETTE_ERR_BUFFER_TOO_SMALL`.
///
/// # Safety
///
/// As [`write_list`].
pub(crate) unsafe fn write_c_string(
    s: &[u8],
    buf: *mut c_char,
    cap: usize,
    n_out: *mut usize,
) -> Result<(), Fail> {
    let n_out = Out::new(n_out, "n_out")?;
    let out = OutSlice::new(buf.cast::<u8>(), cap, "buf")?;
    if s.len() >= cap {
        // SAFETY: `n_out` is writable per this function's contract.
        unsafe { n_out.write(s.len()) };
        return Err(Fail::new(
            LLAMETTE_ERR_BUFFER_TOO_SMALL,
            format!(
                "`buf` holds {cap} bytes, {} needed (the text and its NUL)",
                s.len() + 1
            ),
        ));
    }
    // SAFETY: `buf` is writable for `cap > s.len()` bytes per this function's contract.
    unsafe { out.copy_from(s) };
    // SAFETY: `s.len() < cap`, so the NUL's position is inside the buffer.
    unsafe { buf.add(s.len()).write(0) };
    // SAFETY: `n_out` is writable per this function's contract.
    unsafe { n_out.write(s.len()) };
    Ok(())
}

/// Turns a `Box` into a handle pointer.
pub(crate) fn into_handle<T, H>(inner: T) -> *mut H {
    Box::into_raw(Box::new(inner)).cast::<H>()
}
