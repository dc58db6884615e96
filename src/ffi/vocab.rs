//! The vocabulary's special tokens and token attributes (llama.cpp's `llama_vocab_*` API), and
//! fill-in-the-middle prompts (`crate::infill`, the layout of llama.cpp's `/infill`).

use alloc::vec::Vec;
use core::ffi::c_char;

use super::model::{model_ref, token_i32 as id, LlametteModel};
use super::{guard, slice, text, write_list, Fail, LlametteStatus, Out};
use crate::infill::{self, ExtraChunk, InfillParams};

/// A token with no attribute (out of range or `UNDEFINED` in the file).
pub const LLAMETTE_TOKEN_ATTR_UNDEFINED: u32 = 0;
/// The unknown token.
pub const LLAMETTE_TOKEN_ATTR_UNKNOWN: u32 = 1 << 0;
/// An unused (reserved) token.
pub const LLAMETTE_TOKEN_ATTR_UNUSED: u32 = 1 << 1;
/// An ordinary token.
pub const LLAMETTE_TOKEN_ATTR_NORMAL: u32 = 1 << 2;
/// A control token (BOS, EOS, chat markers).
pub const LLAMETTE_TOKEN_ATTR_CONTROL: u32 = 1 << 3;
/// A user-defined token (always matched in raw text).
pub const LLAMETTE_TOKEN_ATTR_USER_DEFINED: u32 = 1 << 4;
/// A byte-fallback token (`<0xAB>`).
pub const LLAMETTE_TOKEN_ATTR_BYTE: u32 = 1 << 5;
/// Normalized.
pub const LLAMETTE_TOKEN_ATTR_NORMALIZED: u32 = 1 << 6;
/// Whitespace on its left is dropped when matched as a special token.
pub const LLAMETTE_TOKEN_ATTR_LSTRIP: u32 = 1 << 7;
/// Whitespace on its right is dropped when matched as a special token.
pub const LLAMETTE_TOKEN_ATTR_RSTRIP: u32 = 1 << 8;
/// Single word.
pub const LLAMETTE_TOKEN_ATTR_SINGLE_WORD: u32 = 1 << 9;

/// The vocabulary's special tokens, as llama.cpp's `llama_vocab_bos`, `_eos`, ... resolve them;
/// -1 where the vocabulary has none. Extensible: set `size` to `sizeof(LlametteVocabInfo)`
/// before `llamette_vocab_info`; later versions only add fields at the end.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlametteVocabInfo {
    /// `sizeof(LlametteVocabInfo)` as the caller was compiled (set by the caller).
    pub size: usize,
    /// Tokens in the vocabulary.
    pub n_tokens: u32,
    /// Beginning of sequence.
    pub bos: i32,
    /// End of sequence.
    pub eos: i32,
    /// End of turn (`<|eot_id|>`, `<|im_end|>`, CodeLlama's `<EOT>`, ...).
    pub eot: i32,
    /// End of message (`<|eom_id|>`).
    pub eom: i32,
    /// Unknown.
    pub unk: i32,
    /// Separator.
    pub sep: i32,
    /// Padding.
    pub pad: i32,
    /// Mask.
    pub mask: i32,
    /// The token of a lone newline.
    pub nl: i32,
    /// Fill-in-the-middle prefix (`<PRE>`, `<|fim_prefix|>`, ...).
    pub fim_pre: i32,
    /// Fill-in-the-middle suffix.
    pub fim_suf: i32,
    /// Fill-in-the-middle middle.
    pub fim_mid: i32,
    /// Fill-in-the-middle padding.
    pub fim_pad: i32,
    /// Fill-in-the-middle repository name.
    pub fim_rep: i32,
    /// Fill-in-the-middle file separator.
    pub fim_sep: i32,
    /// Whether tokenizing with `add_special` puts BOS in front (`llama_vocab_get_add_bos`).
    pub add_bos: bool,
    /// Whether tokenizing with `add_special` appends EOS (`llama_vocab_get_add_eos`).
    pub add_eos: bool,
    /// Whether SentencePiece text gets a space in front.
    pub add_space_prefix: bool,
}

/// Fills `*out` with the vocabulary's special tokens and flags. The caller sets `out->size`
/// (`sizeof(LlametteVocabInfo)`); the library writes the fields that fit in that many bytes
/// and leaves `size` as it is.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT`
/// (`out->size` smaller than `size` and `n_tokens`); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `out` writable for `out->size` bytes (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_vocab_info(
    m: *const LlametteModel,
    out: *mut LlametteVocabInfo,
) -> LlametteStatus {
    guard("llamette_vocab_info", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        if out.is_null() {
            return Err(Fail::null("out"));
        }
        // SAFETY: `out` is readable for its `size` field per the contract.
        let size = unsafe { core::ptr::addr_of!((*out).size).read_unaligned() };
        let min = core::mem::offset_of!(LlametteVocabInfo, bos);
        if size < min {
            return Err(Fail::invalid(alloc::format!(
                "`out->size` is {size}; set it to sizeof(LlametteVocabInfo) ({})",
                core::mem::size_of::<LlametteVocabInfo>()
            )));
        }
        let v = &inner.vocab;
        let s = v.special();
        let info = LlametteVocabInfo {
            size,
            n_tokens: u32::try_from(v.n_tokens()).unwrap_or(u32::MAX),
            bos: id(s.bos),
            eos: id(s.eos),
            eot: id(s.eot),
            eom: id(s.eom),
            unk: id(s.unk),
            sep: id(s.sep),
            pad: id(s.pad),
            mask: id(s.mask),
            nl: id(s.newline),
            fim_pre: id(s.fim_pre),
            fim_suf: id(s.fim_suf),
            fim_mid: id(s.fim_mid),
            fim_pad: id(s.fim_pad),
            fim_rep: id(s.fim_rep),
            fim_sep: id(s.fim_sep),
            add_bos: v.add_bos(),
            add_eos: v.add_eos(),
            add_space_prefix: v.add_space_prefix(),
        };
        let n = size.min(core::mem::size_of::<LlametteVocabInfo>());
        // SAFETY: `out` is writable for `size >= n` bytes per the contract; `info` is a valid
        // value of the type, read as bytes.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (&info as *const LlametteVocabInfo).cast::<u8>(),
                out.cast::<u8>(),
                n,
            )
        };
        Ok(())
    })
}

/// Writes `token`'s attributes (`LLAMETTE_TOKEN_ATTR_*` bits, llama.cpp's
/// `llama_vocab_get_attr` values) to `*out`.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_BAD_TOKEN`;
/// `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_token_attr(
    m: *const LlametteModel,
    token: u32,
    out: *mut u32,
) -> LlametteStatus {
    guard("llamette_token_attr", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        let out = Out::new(out, "out")?;
        let a = inner.vocab.token_attr(token)?;
        // SAFETY: writable per the contract.
        unsafe { out.write(u32::from(a.bits())) };
        Ok(())
    })
}

/// Writes the vocabulary's end-of-generation tokens (llama.cpp's `llama_vocab_is_eog` set:
/// EOS, EOT, EOM, the FIM padding/repository/separator tokens, `<|im_end|>`-like tokens),
/// ascending, to `ids`; their count to `*n_out`. With `cap` too small nothing is written but
/// `*n_out`, and the call returns `LLAMETTE_ERR_BUFFER_TOO_SMALL` (`ids` may be NULL when `cap`
/// is 0).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_BUFFER_TOO_SMALL`;
/// `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `ids` writable for `cap` ids; `n_out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_vocab_eog_tokens(
    m: *const LlametteModel,
    ids: *mut u32,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_vocab_eog_tokens", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        let list: Vec<u32> = inner.vocab.eog_ids().collect();
        // SAFETY: the output contracts are this function's.
        unsafe { write_list(&list, ids, cap, n_out, "ids") }
    })
}

/// One extra file for a fill-in-the-middle prompt's repository context.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LlametteInfillChunk {
    /// The file's name (UTF-8, `filename_len` bytes); NULL: "tmp".
    pub filename: *const c_char,
    /// Bytes of `filename`.
    pub filename_len: usize,
    /// The file's text (UTF-8, `text_len` bytes).
    pub text: *const c_char,
    /// Bytes of `text`.
    pub text_len: usize,
}

/// How `llamette_infill_tokens` trims, as llama.cpp's server (its `n_batch`, `n_predict` and
/// `n_ctx`), and whether the suffix comes first.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlametteInfillParams {
    /// The batch the prefix and suffix must fit in (llama.cpp's default 2048).
    pub n_batch: u32,
    /// Tokens to be generated (-1: no limit, the default).
    pub n_predict: i32,
    /// The context's positions (default 4096).
    pub n_ctx: u32,
    /// Suffix before prefix (llama.cpp's `--spm-infill`).
    pub spm_infill: bool,
}

/// Returns llama.cpp's server defaults for `llamette_infill_tokens`: a batch of 2048, no token
/// limit, 4096 positions, prefix first.
///
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn llamette_infill_default_params() -> LlametteInfillParams {
    let d = InfillParams::default();
    LlametteInfillParams {
        n_batch: d.n_batch as u32,
        n_predict: d.n_predict,
        n_ctx: d.n_ctx as u32,
        spm_infill: d.spm_infill,
    }
}

/// Writes the prompt ids for completing the code between `prefix` and `suffix` (UTF-8), with
/// `n_extra` extra files as repository context and `prompt` (`n_prompt` ids, usually none)
/// after the prefix, in the layout of llama.cpp's `/infill` (`format_prompt_infill`): `[extra
/// context] [BOS] PRE prefix prompt SUF suffix MID` with the vocabulary's FIM tokens (CodeLlama's
/// `<PRE>`/`<SUF>`/`<MID>`, the `<|fim_prefix|>` family, ...), trimmed as the server trims. `p`
/// may be NULL (`llamette_infill_default_params`). Generate from the ids and stop at
/// `llamette_infill_stop_tokens`. Buffer rules as in `llamette_vocab_eog_tokens`.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (text
/// that is not UTF-8; the vocabulary has no FIM prefix, suffix or middle token); `LLAMETTE_ERR_BAD_TOKEN` (an id of `prompt` outside the vocabulary);
/// `LLAMETTE_ERR_BUFFER_TOO_SMALL`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `prefix` and `suffix` readable for their lengths;
/// `extra` readable for `n_extra` chunks whose strings are readable for their lengths;
/// `prompt` readable for `n_prompt` ids; `p` readable (or NULL); `ids` writable for `cap` ids;
/// `n_out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_infill_tokens(
    m: *const LlametteModel,
    prefix: *const c_char,
    prefix_len: usize,
    suffix: *const c_char,
    suffix_len: usize,
    extra: *const LlametteInfillChunk,
    n_extra: usize,
    prompt: *const u32,
    n_prompt: usize,
    p: *const LlametteInfillParams,
    ids: *mut u32,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_infill_tokens", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        // SAFETY: readable per the contract.
        let prefix = unsafe { text(prefix, prefix_len, "prefix") }?;
        // SAFETY: as above.
        let suffix = unsafe { text(suffix, suffix_len, "suffix") }?;
        // SAFETY: as above.
        let raw = unsafe { slice(extra, n_extra, "extra") }?;
        let mut chunks = Vec::with_capacity(raw.len());
        for c in raw {
            let filename = if c.filename.is_null() {
                None
            } else {
                // SAFETY: readable per the contract.
                Some(unsafe { text(c.filename, c.filename_len, "extra[].filename") }?)
            };
            // SAFETY: readable per the contract.
            let text = unsafe { text(c.text, c.text_len, "extra[].text") }?;
            chunks.push(ExtraChunk { text, filename });
        }
        // SAFETY: readable per the contract.
        let prompt = unsafe { slice(prompt, n_prompt, "prompt") }?;
        for &t in prompt {
            inner.vocab.token_attr(t)?;
        }
        let params = if p.is_null() {
            InfillParams::default()
        } else {
            // SAFETY: readable per the contract.
            let p = unsafe { p.read_unaligned() };
            InfillParams {
                n_batch: p.n_batch as usize,
                n_predict: p.n_predict,
                n_ctx: p.n_ctx as usize,
                spm_infill: p.spm_infill,
            }
        };
        let list = infill::infill_tokens(&inner.vocab, prefix, suffix, &chunks, prompt, params)
            .map_err(|e| match e {
                crate::Error::BadModel { reason } => Fail::invalid(reason),
                e => e.into(),
            })?;
        // SAFETY: the output contracts are this function's.
        unsafe { write_list(&list, ids, cap, n_out, "ids") }
    })
}

/// Writes the tokens that end a filled-in middle (the end-of-generation tokens, CodeLlama's
/// `<EOT>`, the FIM padding/repository/separator tokens), ascending. Buffer rules as in
/// `llamette_vocab_eog_tokens`.
///
/// Returns as `llamette_vocab_eog_tokens`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// As `llamette_vocab_eog_tokens`.
#[no_mangle]
pub unsafe extern "C" fn llamette_infill_stop_tokens(
    m: *const LlametteModel,
    ids: *mut u32,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_infill_stop_tokens", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        let list = infill::stop_tokens(&inner.vocab);
        // SAFETY: the output contracts are this function's.
        unsafe { write_list(&list, ids, cap, n_out, "ids") }
    })
}
