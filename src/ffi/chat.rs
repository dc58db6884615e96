//! Chat prompt formats.

use alloc::format;
use alloc::vec::Vec;
use core::ffi::c_char;

use super::model::{model_ref, LlametteModel, ModelInner};
use super::{guard, slice, text, write_c_string, write_list, ChatFormatArg, Fail, LlametteStatus};
use crate::chat::{ChatFormat, ChatPrompt, Message};

/// A chat prompt format.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlametteChatFormat {
    /// None known; as an argument: the model's own format (from its `tokenizer.chat_template`).
    LLAMETTE_CHAT_NONE = 0,
    /// CodeLlama-70B-Instruct: `Source: system\n\n ... <step> Source: user\n\n ... <step> ...`.
    LLAMETTE_CHAT_CODELLAMA_70B = 1,
    /// Llama 2 chat: `<s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s>`.
    LLAMETTE_CHAT_LLAMA2 = 2,
    /// ChatML (SmolLM2, Qwen, ...): `<|im_start|>role\n...<|im_end|>\n`.
    LLAMETTE_CHAT_CHATML = 3,
    /// Llama 3: `<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>`.
    LLAMETTE_CHAT_LLAMA3 = 4,
}

impl LlametteChatFormat {
    pub(crate) fn from_format(f: Option<ChatFormat>) -> LlametteChatFormat {
        match f {
            None => LlametteChatFormat::LLAMETTE_CHAT_NONE,
            Some(ChatFormat::CodeLlama70b) => LlametteChatFormat::LLAMETTE_CHAT_CODELLAMA_70B,
            Some(ChatFormat::Llama2) => LlametteChatFormat::LLAMETTE_CHAT_LLAMA2,
            Some(ChatFormat::ChatMl) => LlametteChatFormat::LLAMETTE_CHAT_CHATML,
            Some(ChatFormat::Llama3) => LlametteChatFormat::LLAMETTE_CHAT_LLAMA3,
        }
    }
}

/// The format a C argument names: `LLAMETTE_CHAT_NONE` is the model's own.
fn format_of(model: &ModelInner, arg: ChatFormatArg) -> Result<ChatFormat, Fail> {
    use LlametteChatFormat::*;
    let known = [
        LLAMETTE_CHAT_CODELLAMA_70B,
        LLAMETTE_CHAT_LLAMA2,
        LLAMETTE_CHAT_CHATML,
        LLAMETTE_CHAT_LLAMA3,
    ];
    if arg.0 == LLAMETTE_CHAT_NONE as u32 {
        return model.chat.ok_or_else(|| {
            Fail::invalid(
                "the model has no chat template llamette knows (codellama-70b, llama2, chatml, \
                 llama3): name a format",
            )
        });
    }
    known
        .into_iter()
        .zip(ChatFormat::ALL)
        .find(|(c, _)| *c as u32 == arg.0)
        .map(|(_, f)| f)
        .ok_or_else(|| Fail::invalid(format!("unknown chat format {}", arg.0)))
}

/// How a C argument renders: a named format, or for `LLAMETTE_CHAT_NONE` the model's own
/// (its built-in format, else its Jinja template).
fn rendering_of(model: &ModelInner, arg: ChatFormatArg) -> Result<ChatPrompt, Fail> {
    if arg.0 == LlametteChatFormat::LLAMETTE_CHAT_NONE as u32 && model.chat.is_none() {
        return ChatPrompt::of_model(model.header())?.ok_or_else(|| {
            Fail::invalid("the model has no chat template (tokenizer.chat_template): name a format")
        });
    }
    format_of(model, arg).map(ChatPrompt::Format)
}

/// One message of a conversation: UTF-8 texts with explicit lengths (no NUL needed).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LlametteMessage {
    /// "system", "user" or "assistant" (ChatML and Llama 3 accept any plain word).
    pub role: *const c_char,
    /// Bytes of `role`.
    pub role_len: usize,
    /// The text.
    pub content: *const c_char,
    /// Bytes of `content`.
    pub content_len: usize,
}

/// The conversation as Rust messages.
///
/// # Safety
///
/// `msgs` must be readable for `n` messages, each text for its length, during `'a`.
pub(super) unsafe fn messages<'a>(
    msgs: *const LlametteMessage,
    n: usize,
) -> Result<Vec<Message<'a>>, Fail> {
    // SAFETY: readable for `n` messages per the contract.
    let msgs = unsafe { slice(msgs, n, "msgs") }?;
    msgs.iter()
        .enumerate()
        .map(|(i, m)| {
            // SAFETY: each text is readable for its length per the contract.
            let role = unsafe { text(m.role, m.role_len, &format!("msgs[{i}].role")) }?;
            // SAFETY: as above.
            let content = unsafe { text(m.content, m.content_len, &format!("msgs[{i}].content")) }?;
            Ok(Message::new(role, content))
        })
        .collect()
}

/// Renders a conversation to token ids the way the format's reference code does (for
/// CodeLlama-70B: Meta's `dialog_prompt_tokens`, every turn encoded on its own and joined with
/// `<step>`, which tokenizing the rendered string cannot reproduce), writing at most `cap` ids
/// to `ids` and their number to `*n_out`.
///
/// - `format`: a format, or `LLAMETTE_CHAT_NONE` for the model's own: its built-in format, or,
///   for a `tokenizer.chat_template` that is none of them, that Jinja template rendered as
///   `llamette_chat_render_template` does (its ids: the text tokenized with special tokens and
///   no added BOS).
/// - `msgs`, `n`: the conversation, read during the call only.
/// - `add_assistant`: end with the assistant's header, ready for generation.
/// - With `cap` smaller than the number of ids, nothing is written to `ids`, `*n_out` is set to
///   the number needed and the call returns `LLAMETTE_ERR_BUFFER_TOO_SMALL` (`ids` may be NULL
///   when `cap` is 0).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT`
/// (unknown format, `LLAMETTE_CHAT_NONE` for a model without a chat template, text not UTF-8);
/// `LLAMETTE_ERR_BAD_CHAT` (an empty conversation or roles out of order, the message's index in
/// `llamette_last_error`; a Jinja template that fails); `LLAMETTE_ERR_BUFFER_TOO_SMALL`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `msgs` readable for `n` messages and each text
/// for its length; `ids` writable for `cap` ids; `n_out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_chat_render_ids(
    m: *const LlametteModel,
    format: ChatFormatArg,
    msgs: *const LlametteMessage,
    n: usize,
    add_assistant: bool,
    ids: *mut u32,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_chat_render_ids", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        let format = rendering_of(inner, format)?;
        // SAFETY: readable per the contract.
        let msgs = unsafe { messages(msgs, n) }?;
        let tokens = format.render_ids(&inner.vocab, &msgs, add_assistant)?;
        // SAFETY: the output contracts are this function's.
        unsafe { write_list(&tokens, ids, cap, n_out, "ids") }
    })
}

/// Renders a conversation to the prompt string (what Hugging Face's template renders), written
/// NUL-terminated to `buf` with its length without the NUL in `*n_out`.
///
/// Arguments as in `llamette_chat_render_ids`. With `cap < *n_out + 1` nothing is written to
/// `buf`, `*n_out` is set and the call returns `LLAMETTE_ERR_BUFFER_TOO_SMALL` (`buf` may be
/// NULL when `cap` is 0).
///
/// Returns as `llamette_chat_render_ids`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// As `llamette_chat_render_ids`, with `buf` writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn llamette_chat_render(
    m: *const LlametteModel,
    format: ChatFormatArg,
    msgs: *const LlametteMessage,
    n: usize,
    add_assistant: bool,
    buf: *mut c_char,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_chat_render", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        let format = rendering_of(inner, format)?;
        // SAFETY: readable per the contract.
        let msgs = unsafe { messages(msgs, n) }?;
        let s = format.render(&msgs, add_assistant)?;
        // SAFETY: the output contracts are this function's.
        unsafe { write_c_string(s.as_bytes(), buf, cap, n_out) }
    })
}

/// Writes the tokens that end the assistant's turn in `format` (`LLAMETTE_CHAT_NONE`: the
/// model's own), as found in the vocabulary: EOS, plus `<step>` for CodeLlama-70B,
/// `<|im_end|>` for ChatML, `<|eot_id|>` for Llama 3; for a model that chats in its own Jinja
/// template, the vocabulary's end-of-generation tokens. Pass them to `llamette_generate` as
/// `stop_tokens`. Buffer rules as in `llamette_chat_render_ids`.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT`
/// (unknown format, or `LLAMETTE_CHAT_NONE` for a model without a chat template);
/// `LLAMETTE_ERR_BUFFER_TOO_SMALL`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `ids` writable for `cap` ids; `n_out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_chat_stop_tokens(
    m: *const LlametteModel,
    format: ChatFormatArg,
    ids: *mut u32,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_chat_stop_tokens", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        let format = rendering_of(inner, format)?;
        let tokens = format.stop_tokens(&inner.vocab);
        // SAFETY: the output contracts are this function's.
        unsafe { write_list(&tokens, ids, cap, n_out, "ids") }
    })
}
