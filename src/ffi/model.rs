//! Models, metadata, tokens and the streaming detokenizer.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::c_char;

use super::chat::LlametteChatFormat;
use super::{
    arg, c_str, guard, guard_or, slice, text, write_c_string, write_list, Fail, LlametteStatus, Out,
};
use crate::chat::ChatFormat;
use crate::error::Error;
use crate::gguf::{GgufFile, GgufHeader, Value};
use crate::model::{Config, Model};
use crate::tokenizer::{Utf8Decoder, Vocab};

/// A loaded model: immutable, shareable across threads (every function taking a
/// `const LlametteModel *` may run concurrently with any other on the same model).
/// Reference-counted internally: contexts, samplers and detokenizers keep their model alive.
pub struct LlametteModel {
    _private: [u8; 0],
}

/// What a model handle holds: a model with weights, or only a vocabulary (a GGUF file without
/// tensors, like llama.cpp's `ggml-vocab-*.gguf`), which tokenizes and renders chats but cannot
/// be evaluated.
pub(crate) enum Weights {
    /// A whole model. For `llamette_model_from_memory`/`_from_parts` its `'static` is a promise
    /// of the host's (see [`model_from_host_bytes`]); for `llamette_model_load` it is real (the
    /// model owns its mappings).
    Model(alloc::boxed::Box<Model<'static>>),
    /// A vocabulary-only file (same lifetime rules).
    VocabOnly(GgufFile<'static>),
}

/// What a model handle points to (through `Arc::into_raw`).
pub(crate) struct ModelInner {
    /// The model, or only its vocabulary file.
    pub weights: Weights,
    /// The hyperparameters, when the metadata has them (always for a model with weights).
    pub config: Option<Config>,
    /// The vocabulary, built once at load.
    pub vocab: Vocab,
    /// The chat format of `tokenizer.chat_template`, when llamette knows it.
    pub chat: Option<ChatFormat>,
}

impl ModelInner {
    fn new(model: Model<'static>) -> Result<ModelInner, Fail> {
        let vocab = Vocab::from_gguf(model.header())?;
        let chat = ChatFormat::from_header(model.header());
        let config = Some(model.config().clone());
        Ok(ModelInner {
            weights: Weights::Model(alloc::boxed::Box::new(model)),
            config,
            vocab,
            chat,
        })
    }

    /// A handle over a vocabulary-only file, or the model's error when the file has tensors
    /// (a model that failed to build is not a vocabulary).
    fn vocab_only(file: GgufFile<'static>, model_error: Error) -> Result<ModelInner, Fail> {
        if file.tensor_count() != 0 {
            return Err(model_error.into());
        }
        let vocab = Vocab::from_gguf(&file)?;
        let chat = ChatFormat::from_header(&file);
        let config = Config::from_header(&file).ok();
        Ok(ModelInner {
            weights: Weights::VocabOnly(file),
            config,
            vocab,
            chat,
        })
    }

    /// The metadata.
    pub fn header(&self) -> &GgufHeader<'static> {
        match &self.weights {
            Weights::Model(m) => m.header(),
            Weights::VocabOnly(f) => f.header(),
        }
    }

    /// The model with weights, or an error for a vocabulary-only handle.
    pub fn model(&self) -> Result<&Model<'static>, Fail> {
        match &self.weights {
            Weights::Model(m) => Ok(m),
            Weights::VocabOnly(_) => Err(Fail::invalid(
                "this handle holds a vocabulary-only file: it has no weights to evaluate",
            )),
        }
    }
}

/// The model behind a handle, borrowed.
///
/// # Safety
///
/// `m` must be NULL or a live handle from a `llamette_model_*` constructor; the model lives at
/// least as long as the handle, which the caller keeps for `'a`.
pub(crate) unsafe fn model_ref<'a>(m: *const LlametteModel) -> Result<&'a ModelInner, Fail> {
    // SAFETY: a live handle is an `Arc<ModelInner>` pointer (`Arc::into_raw`) per the contract.
    unsafe { arg(m.cast::<ModelInner>(), "m") }
}

/// A new strong reference to the model behind a handle (for a context, sampler or
/// detokenizer, which then outlive the handle safely).
///
/// # Safety
///
/// As [`model_ref`].
pub(crate) unsafe fn model_arc(m: *const LlametteModel) -> Result<Arc<ModelInner>, Fail> {
    if m.is_null() {
        return Err(Fail::null("m"));
    }
    let p = m.cast::<ModelInner>();
    // SAFETY: `p` came from `Arc::into_raw` and the handle holds one strong count, so the
    // allocation is live; incrementing and then taking ownership of one count leaves the
    // handle's count in place.
    unsafe {
        Arc::increment_strong_count(p);
        Ok(Arc::from_raw(p))
    }
}

fn into_model_handle(inner: ModelInner) -> *mut LlametteModel {
    Arc::into_raw(Arc::new(inner))
        .cast_mut()
        .cast::<LlametteModel>()
}

/// Builds a model over host bytes.
///
/// # Safety
///
/// Every part must be valid for reading its length, and stay alive and unchanged until the
/// model and everything made from it are freed: the contract `llamette_model_from_memory` and
/// `llamette_model_from_parts` state in the header.
unsafe fn model_from_host_bytes(parts: &[(*const u8, usize)]) -> Result<ModelInner, Fail> {
    let mut slices: Vec<&'static [u8]> = Vec::with_capacity(parts.len());
    for (i, &(p, len)) in parts.iter().enumerate() {
        if p.is_null() {
            return Err(Fail::null(&format!("parts[{i}]")));
        }
        if len > isize::MAX as usize {
            return Err(Fail::invalid(format!("lens[{i}] = {len} is too large")));
        }
        // SAFETY: the lifetime is extended to 'static on the host's promise (this function's
        // contract) that the bytes outlive the model and every context, sampler and
        // detokenizer that holds it; the model is only reachable through those handles, so no
        // reference into the bytes is used after the last of them is freed. Non-NULL, and
        // readable for `len` bytes per the contract.
        slices.push(unsafe { core::slice::from_raw_parts(p, len) });
    }
    match Model::from_parts(&slices) {
        Ok(model) => ModelInner::new(model),
        Err(e) if slices.len() == 1 => match GgufFile::from_bytes(slices[0]) {
            Ok(file) => ModelInner::vocab_only(file, e),
            Err(_) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// Loads a model from a GGUF file the host holds in memory, without copying it.
///
/// - `data`, `len`: the file's bytes (any alignment). They are *borrowed*: the host keeps them
///   alive and unchanged until the model and every context, sampler and detokenizer made from
///   it are freed.
/// - `out`: receives the new handle, owned by the caller, to be released with
///   `llamette_model_free`. Untouched on failure.
///
/// A vocabulary-only GGUF file (no tensors, like llama.cpp's `ggml-vocab-*.gguf`) also gives a
/// handle: it tokenizes, detokenizes and renders chats; making a context from it fails with
/// `LLAMETTE_ERR_INVALID_ARGUMENT`, and `llamette_model_info` reports the hyperparameters its
/// metadata has (zeros otherwise).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (`data` or `out` NULL);
/// `LLAMETTE_ERR_BAD_FILE` (malformed file or model); `LLAMETTE_ERR_UNSUPPORTED` (architecture,
/// tensor type or GGUF version); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread.
///
/// # Safety
///
/// `data` must be readable for `len` bytes as stated above; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_model_from_memory(
    data: *const u8,
    len: usize,
    out: *mut *mut LlametteModel,
) -> LlametteStatus {
    guard("llamette_model_from_memory", || {
        let out = Out::new(out, "out")?;
        if data.is_null() {
            return Err(Fail::null("data"));
        }
        // SAFETY: the host's contract for `data` is this function's.
        let inner = unsafe { model_from_host_bytes(&[(data, len)]) }?;
        // SAFETY: `out` is writable per the contract.
        unsafe { out.write(into_model_handle(inner)) };
        Ok(())
    })
}

/// Loads a model stored as several parts in host memory, in order: llama.cpp's gguf-split
/// shards, or the pieces of one file cut at arbitrary offsets (`model.gguf-split-a`, `-b`, ...).
/// Tensors inside one part are borrowed; a tensor straddling a cut is copied
/// (`LlametteModelInfo.copied_bytes`).
///
/// - `parts[i]`, `lens[i]` for `i < n_parts`: the parts' bytes, *borrowed* as in
///   `llamette_model_from_memory` (the arrays `parts` and `lens` themselves are only read
///   during the call).
/// - `out`: receives the new handle (caller-owned, `llamette_model_free`); untouched on
///   failure.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (`parts`, `lens`, a `parts[i]` or `out`
/// NULL); `LLAMETTE_ERR_INVALID_ARGUMENT` (`n_parts` is 0); `LLAMETTE_ERR_BAD_FILE`;
/// `LLAMETTE_ERR_UNSUPPORTED`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread.
///
/// # Safety
///
/// `parts` and `lens` must be readable for `n_parts` elements, each part for its length, as
/// stated above; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_model_from_parts(
    parts: *const *const u8,
    lens: *const usize,
    n_parts: usize,
    out: *mut *mut LlametteModel,
) -> LlametteStatus {
    guard("llamette_model_from_parts", || {
        let out = Out::new(out, "out")?;
        if parts.is_null() {
            return Err(Fail::null("parts"));
        }
        if lens.is_null() {
            return Err(Fail::null("lens"));
        }
        if n_parts == 0 {
            return Err(Fail::invalid("`n_parts` is 0"));
        }
        // SAFETY: both arrays are readable for `n_parts` elements per the contract.
        let (parts, lens) = unsafe {
            (
                slice(parts, n_parts, "parts")?,
                slice(lens, n_parts, "lens")?,
            )
        };
        let pairs: Vec<(*const u8, usize)> =
            parts.iter().copied().zip(lens.iter().copied()).collect();
        // SAFETY: the host's contract for the parts is this function's.
        let inner = unsafe { model_from_host_bytes(&pairs) }?;
        // SAFETY: `out` is writable per the contract.
        unsafe { out.write(into_model_handle(inner)) };
        Ok(())
    })
}

/// Loads a model from a file, mapping it into memory (the mapping lives as long as the model;
/// the file must not be modified meanwhile). For a split model give the first part
/// (`name-00001-of-0000N.gguf` or `name-split-a`); the others are found next to it.
///
/// - `path`: NUL-terminated, read during the call only (on Unix any bytes; elsewhere UTF-8).
/// - `out`: receives the new handle (caller-owned, `llamette_model_free`); untouched on
///   failure.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (a
/// path that is not UTF-8 where that matters); `LLAMETTE_ERR_IO` (cannot open or map);
/// `LLAMETTE_ERR_BAD_FILE`; `LLAMETTE_ERR_UNSUPPORTED`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread.
///
/// # Safety
///
/// `path` must be a NUL-terminated string; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_model_load(
    path: *const c_char,
    out: *mut *mut LlametteModel,
) -> LlametteStatus {
    guard("llamette_model_load", || {
        let out = Out::new(out, "out")?;
        // SAFETY: NUL-terminated per the contract.
        let path = unsafe { c_str(path, "path") }?;
        #[cfg(unix)]
        let path = {
            use std::os::unix::ffi::OsStrExt;
            std::path::Path::new(std::ffi::OsStr::from_bytes(path.to_bytes()))
        };
        #[cfg(not(unix))]
        let path = std::path::Path::new(
            path.to_str()
                .map_err(|_| Fail::invalid("`path` is not UTF-8"))?,
        );
        let inner = match Model::load(path) {
            Ok(model) => ModelInner::new(model)?,
            Err(e) => match GgufFile::open(path) {
                Ok(file) => ModelInner::vocab_only(file, e)?,
                Err(_) => return Err(e.into()),
            },
        };
        // SAFETY: `out` is writable per the contract.
        unsafe { out.write(into_model_handle(inner)) };
        Ok(())
    })
}

/// Releases the caller's model handle. The model itself lives on while contexts, samplers or
/// detokenizers made from it exist; the host's bytes (for `llamette_model_from_memory` and
/// `_from_parts`) must stay alive until the last of those is freed too. NULL is a no-op.
///
/// Thread safety: any thread, but no other call may use this handle during or after it.
///
/// # Safety
///
/// `m` must be NULL or a live model handle, not freed before.
#[no_mangle]
pub unsafe extern "C" fn llamette_model_free(m: *mut LlametteModel) {
    guard_or("llamette_model_free", (), || {
        if !m.is_null() {
            // SAFETY: a live handle owns one strong count of an `Arc<ModelInner>`
            // (`into_model_handle`); this gives it back.
            drop(unsafe { Arc::from_raw(m.cast_const().cast::<ModelInner>()) });
        }
    })
}

/// A model's hyperparameters and special tokens.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LlametteModelInfo {
    /// Vocabulary size; token ids are `0 .. n_vocab - 1`.
    pub n_vocab: u32,
    /// Width of the residual stream (embedding length).
    pub n_embd: u32,
    /// Transformer blocks.
    pub n_layer: u32,
    /// Hidden width of the feed-forward network.
    pub n_ff: u32,
    /// Query heads.
    pub n_head: u32,
    /// Key/value heads (fewer than `n_head`: grouped-query attention).
    pub n_head_kv: u32,
    /// Elements per head.
    pub head_dim: u32,
    /// Context length the model was trained with.
    pub n_ctx_train: u32,
    /// Rope base frequency.
    pub rope_freq_base: f32,
    /// RMS norm epsilon.
    pub rms_eps: f32,
    /// Beginning-of-sequence token, -1 when absent.
    pub bos: i32,
    /// End-of-sequence token, -1 when absent.
    pub eos: i32,
    /// End-of-turn token, -1 when absent.
    pub eot: i32,
    /// The chat format of `tokenizer.chat_template`; `LLAMETTE_CHAT_NONE` when there is none
    /// or llamette does not know it.
    pub chat_format: LlametteChatFormat,
    /// Bytes of weights copied at load (tensors straddling a cut between byte-split parts).
    pub copied_bytes: u64,
}

fn sat_u32(x: usize) -> u32 {
    u32::try_from(x).unwrap_or(u32::MAX)
}

pub(crate) fn token_i32(t: Option<u32>) -> i32 {
    t.and_then(|t| i32::try_from(t).ok()).unwrap_or(-1)
}

/// Writes the model's hyperparameters and special tokens to `*out` (untouched on failure).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `out` must be writable (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_model_info(
    m: *const LlametteModel,
    out: *mut LlametteModelInfo,
) -> LlametteStatus {
    guard("llamette_model_info", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        let out = Out::new(out, "out")?;
        let zero = Config {
            arch: String::new(),
            n_vocab: inner.vocab.n_tokens(),
            n_embd: 0,
            n_layer: 0,
            n_ff: 0,
            n_head: 0,
            n_head_kv: 0,
            head_dim: 0,
            n_rot: 0,
            rms_eps: 0.0,
            rope_freq_base: 0.0,
            rope_scaling: crate::model::RopeScaling::None,
            n_ctx_train: 0,
        };
        let c = inner.config.as_ref().unwrap_or(&zero);
        let v = &inner.vocab;
        let info = LlametteModelInfo {
            n_vocab: sat_u32(c.n_vocab),
            n_embd: sat_u32(c.n_embd),
            n_layer: sat_u32(c.n_layer),
            n_ff: sat_u32(c.n_ff),
            n_head: sat_u32(c.n_head),
            n_head_kv: sat_u32(c.n_head_kv),
            head_dim: sat_u32(c.head_dim),
            n_ctx_train: sat_u32(c.n_ctx_train),
            rope_freq_base: c.rope_freq_base,
            rms_eps: c.rms_eps,
            bos: token_i32(v.bos()),
            eos: token_i32(v.eos()),
            eot: token_i32(v.eot()),
            chat_format: LlametteChatFormat::from_format(inner.chat),
            copied_bytes: inner.model().map_or(0, |m| m.copied_bytes() as u64),
        };
        // SAFETY: writable per the contract.
        unsafe { out.write(info) };
        Ok(())
    })
}

/// Writes the model's architecture (`general.architecture`, e.g. "llama") NUL-terminated to
/// `buf` and its length without the NUL to `*n_out`.
///
/// With `cap < *n_out + 1` nothing is written to `buf`, `*n_out` is set and the call returns
/// `LLAMETTE_ERR_BUFFER_TOO_SMALL` (`buf` may be NULL when `cap` is 0, to ask for the size).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (`m`, `n_out`, or `buf` with `cap > 0`);
/// `LLAMETTE_ERR_BUFFER_TOO_SMALL`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `buf` writable for `cap` bytes; `n_out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_model_architecture(
    m: *const LlametteModel,
    buf: *mut c_char,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_model_architecture", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        let arch = inner
            .header()
            .get_str_opt("general.architecture")
            .ok()
            .flatten()
            .unwrap_or("");
        // SAFETY: the buffer contracts are this function's.
        unsafe { write_c_string(arch.as_bytes(), buf, cap, n_out) }
    })
}

/// A metadata value as text: strings as they are, numbers in decimal, booleans as
/// "true"/"false", arrays as "[n items]".
fn render_value(v: &Value<'_>) -> String {
    match v {
        Value::String(s) => (*s).to_string(),
        Value::Bool(b) => b.to_string(),
        Value::F32(x) => x.to_string(),
        Value::F64(x) => x.to_string(),
        Value::Array(a) => format!("[{} items]", a.len()),
        other => other
            .as_integer()
            .map(|i| i.to_string())
            .unwrap_or_default(),
    }
}

/// Writes the metadata value of `key` as text, NUL-terminated, to `buf` and its length to
/// `*n_out`: strings as they are, numbers in decimal, booleans as "true"/"false", arrays as
/// "[n items]". Buffer rules as in `llamette_model_architecture`.
///
/// - `key`: NUL-terminated, read during the call only.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (the
/// key is not in the file, or is not UTF-8); `LLAMETTE_ERR_BUFFER_TOO_SMALL`;
/// `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `key` NUL-terminated; `buf` writable for `cap`
/// bytes; `n_out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_model_meta_string(
    m: *const LlametteModel,
    key: *const c_char,
    buf: *mut c_char,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_model_meta_string", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        // SAFETY: NUL-terminated per the contract.
        let key = unsafe { c_str(key, "key") }?
            .to_str()
            .map_err(|_| Fail::invalid("`key` is not UTF-8"))?;
        let value = inner
            .header()
            .get(key)
            .ok_or_else(|| Fail::invalid(format!("metadata key '{key}' is missing")))?;
        // SAFETY: the buffer contracts are this function's.
        unsafe { write_c_string(render_value(&value).as_bytes(), buf, cap, n_out) }
    })
}

/// Writes to `*out` whether `token` ends generation (the vocabulary's end-of-generation set:
/// EOS, EOT and tokens the vocabulary marks so; a chat format's own turn marker, such as
/// CodeLlama-70B's `<step>`, is in `llamette_chat_stop_tokens` instead).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_BAD_TOKEN` (`token` is
/// outside the vocabulary); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_model_is_eog(
    m: *const LlametteModel,
    token: u32,
    out: *mut bool,
) -> LlametteStatus {
    guard("llamette_model_is_eog", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        let out = Out::new(out, "out")?;
        inner.vocab.token_attr(token)?;
        // SAFETY: writable per the contract.
        unsafe { out.write(inner.vocab.is_eog(token)) };
        Ok(())
    })
}

/// Tokenizes `text_len` bytes of UTF-8 `text` as llama.cpp's `llama_tokenize` does, writing at
/// most `cap` ids to `ids` and their number to `*n_out`.
///
/// - `text`: read during the call only; may be NULL when `text_len` is 0.
/// - `add_special`: put BOS in front (and EOS at the end) where the vocabulary says so.
/// - `parse_special`: control tokens written in the text (`<s>`, `<|im_start|>`) become their
///   ids; otherwise they are tokenized as text.
/// - With `cap` smaller than the number of ids, nothing is written to `ids`, `*n_out` is set to
///   the number needed and the call returns `LLAMETTE_ERR_BUFFER_TOO_SMALL` (`ids` may be NULL
///   when `cap` is 0, to ask for the size).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (`text`
/// is not UTF-8); `LLAMETTE_ERR_BAD_FILE` (the vocabulary lacks a token the text needs, or BOS
/// was asked for and is absent); `LLAMETTE_ERR_BUFFER_TOO_SMALL`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `text` readable for `text_len` bytes; `ids`
/// writable for `cap` ids; `n_out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_tokenize(
    m: *const LlametteModel,
    text: *const c_char,
    text_len: usize,
    add_special: bool,
    parse_special: bool,
    ids: *mut u32,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_tokenize", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        // SAFETY: readable for `text_len` bytes per the contract.
        let s = unsafe { self::text(text, text_len, "text") }?;
        let tokens = inner.vocab.tokenize(s, add_special, parse_special)?;
        // SAFETY: the output contracts are this function's.
        unsafe { write_list(&tokens, ids, cap, n_out, "ids") }
    })
}

/// Writes the bytes of token `id` (llama.cpp's `llama_token_to_piece`) to `buf`, *not*
/// NUL-terminated, and their number to `*n_out`. A piece may be part of a UTF-8 character
/// (byte tokens); `LlametteDetokenizer` assembles whole characters.
///
/// - `special`: render control tokens as their text (otherwise they are empty).
/// - With `cap` smaller than the piece, nothing is written to `buf`, `*n_out` is set and the
///   call returns `LLAMETTE_ERR_BUFFER_TOO_SMALL` (`buf` may be NULL when `cap` is 0).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_BAD_TOKEN`;
/// `LLAMETTE_ERR_BUFFER_TOO_SMALL`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `buf` writable for `cap` bytes; `n_out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_token_to_piece(
    m: *const LlametteModel,
    id: u32,
    special: bool,
    buf: *mut c_char,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_token_to_piece", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        let piece = inner.vocab.token_to_piece(id, special)?;
        // SAFETY: the output contracts are this function's.
        unsafe { write_list(piece, buf.cast::<u8>(), cap, n_out, "buf") }
    })
}

/// A streaming detokenizer: push token ids, get back text in whole UTF-8 characters (the
/// pieces of `llamette_token_to_piece(id, special = false)` through a UTF-8 decoder, exactly
/// the text `llamette_generate` hands out). One thread at a time.
pub struct LlametteDetokenizer {
    _private: [u8; 0],
}

pub(crate) struct DetokenizerInner {
    model: Arc<ModelInner>,
    utf8: Utf8Decoder,
    /// The text of the last call, followed by a NUL.
    text: String,
}

impl DetokenizerInner {
    /// Ends the text of a call with a NUL; returns its length without it.
    fn terminate(&mut self) -> usize {
        let n = self.text.len();
        self.text.push('\0');
        n
    }
}

/// Creates a streaming detokenizer for the model's vocabulary.
///
/// - `out`: receives the new handle, owned by the caller (`llamette_detokenizer_free`); it
///   keeps the model alive. Untouched on failure.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_detokenizer_new(
    m: *const LlametteModel,
    out: *mut *mut LlametteDetokenizer,
) -> LlametteStatus {
    guard("llamette_detokenizer_new", || {
        let out = Out::new(out, "out")?;
        // SAFETY: a live handle or NULL per the contract.
        let model = unsafe { model_arc(m) }?;
        let inner = DetokenizerInner {
            model,
            utf8: Utf8Decoder::new(),
            text: String::new(),
        };
        // SAFETY: writable per the contract.
        unsafe { out.write(super::into_handle(inner)) };
        Ok(())
    })
}

/// # Safety
///
/// `d` must be NULL or a live detokenizer handle, used by one thread at a time.
unsafe fn detok_mut<'a>(d: *mut LlametteDetokenizer) -> Result<&'a mut DetokenizerInner, Fail> {
    // SAFETY: a live handle is a `Box<DetokenizerInner>` pointer, exclusively ours during the
    // call per the contract.
    unsafe { d.cast::<DetokenizerInner>().as_mut() }.ok_or_else(|| Fail::null("d"))
}

/// Adds token `id`; sets `*text`/`*len` to the text that became complete (possibly empty; also
/// NUL-terminated). The text is owned by the detokenizer and valid until the next call on `d`.
/// An incomplete UTF-8 character is held back until its last byte arrives; invalid bytes
/// become U+FFFD.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_BAD_TOKEN` (the state is
/// unchanged); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per detokenizer.
///
/// # Safety
///
/// `d` must be a live detokenizer handle (or NULL); `text` and `len` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_detokenizer_push(
    d: *mut LlametteDetokenizer,
    id: u32,
    text: *mut *const c_char,
    len: *mut usize,
) -> LlametteStatus {
    guard("llamette_detokenizer_push", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { detok_mut(d) }?;
        let text = Out::new(text, "text")?;
        let len = Out::new(len, "len")?;
        let piece = inner.model.vocab.token_to_piece(id, false)?;
        inner.text.clear();
        inner.utf8.push(piece, &mut inner.text);
        let n = inner.terminate();
        // SAFETY: writable per the contract.
        unsafe {
            text.write(inner.text.as_ptr().cast::<c_char>());
            len.write(n);
        }
        Ok(())
    })
}

/// Ends the stream: sets `*text`/`*len` to what is still held back (an incomplete character
/// becomes U+FFFD; usually empty; also NUL-terminated), valid until the next call on `d`. The
/// detokenizer can then start a new stream.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per detokenizer.
///
/// # Safety
///
/// `d` must be a live detokenizer handle (or NULL); `text` and `len` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_detokenizer_finish(
    d: *mut LlametteDetokenizer,
    text: *mut *const c_char,
    len: *mut usize,
) -> LlametteStatus {
    guard("llamette_detokenizer_finish", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { detok_mut(d) }?;
        let text = Out::new(text, "text")?;
        let len = Out::new(len, "len")?;
        inner.text.clear();
        inner.utf8.finish(&mut inner.text);
        let n = inner.terminate();
        // SAFETY: writable per the contract.
        unsafe {
            text.write(inner.text.as_ptr().cast::<c_char>());
            len.write(n);
        }
        Ok(())
    })
}

/// Frees a detokenizer (and its reference to the model). NULL is a no-op.
///
/// Thread safety: no other call may use the detokenizer during or after this one.
///
/// # Safety
///
/// `d` must be NULL or a live detokenizer handle, not used during or after this call.
#[no_mangle]
pub unsafe extern "C" fn llamette_detokenizer_free(d: *mut LlametteDetokenizer) {
    guard_or("llamette_detokenizer_free", (), || {
        if !d.is_null() {
            // SAFETY: a live handle is a `Box<DetokenizerInner>` from `into_handle`.
            drop(unsafe { alloc::boxed::Box::from_raw(d.cast::<DetokenizerInner>()) });
        }
    })
}
