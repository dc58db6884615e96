//! The model's own Jinja chat template through the C ABI (`chat::template`): a conversation
//! rendered as Hugging Face's `apply_chat_template` renders it, for models whose template is
//! none of the built-in formats.

use alloc::vec::Vec;
use core::ffi::c_char;

use super::chat::LlametteMessage;
use super::model::{model_ref, ModelInner};
use super::{guard, text, write_c_string, Fail, LlametteStatus};
use crate::chat::template::{ChatTemplate, TemplateExtra, TemplateMessage};

/// The template `spec` names for `model`: NULL the file's `tokenizer.chat_template`; the name
/// of one of its alternatives (`tokenizer.chat_template.<name>`); otherwise the Jinja text
/// itself (with the vocabulary's BOS and EOS texts).
fn template_of(model: &ModelInner, spec: Option<&str>) -> Result<ChatTemplate, Fail> {
    let header = model.header();
    match spec {
        None => ChatTemplate::from_gguf(header)?
            .ok_or_else(|| Fail::invalid("the model has no tokenizer.chat_template")),
        Some(s) => {
            if let Some(t) = ChatTemplate::named(header, s)? {
                return Ok(t);
            }
            Ok(ChatTemplate::from_text_for(header, s)?)
        }
    }
}

/// The optional template argument: NULL, or `len` bytes of UTF-8.
unsafe fn spec<'a>(p: *const c_char, len: usize) -> Result<Option<&'a str>, Fail> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: readable for `len` bytes per the caller's contract.
    unsafe { text(p, len, "template") }.map(Some)
}

/// Renders a conversation with a Jinja chat template, as Hugging Face's
/// `apply_chat_template(messages, add_generation_prompt=...)` renders it (`bos_token` and
/// `eos_token` are the vocabulary's; `tools` and `documents` are none; `strftime_now` reads the
/// clock), written NUL-terminated to `buf` with its length without the NUL in `*n_out`.
///
/// `template` (`template_len` bytes, UTF-8) picks the template: NULL the file's own
/// `tokenizer.chat_template`; the name of one of its alternatives (`tokenizer.chat_template.
/// <name>`, such as "tool_use"); anything else is taken as the Jinja text itself. Messages
/// are as in `llamette_chat_render` (any role). Tokenize the result with `parse_special` true,
/// and `add_special` false when it already starts with BOS. With `cap < *n_out + 1` nothing
/// is written, `*n_out` is set and the call returns `LLAMETTE_ERR_BUFFER_TOO_SMALL` (`buf` may
/// be NULL when `cap` is 0).
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (no
/// template in the file, text that is not UTF-8); `LLAMETTE_ERR_BAD_CHAT` (a template that
/// does not parse, calls what is not supported or raises an exception itself: the last error
/// names it and the template's line); `LLAMETTE_ERR_BUFFER_TOO_SMALL`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// `m` must be a live model handle (or NULL); `template` readable for `template_len` bytes
/// (or NULL); `msgs` readable for `n` messages whose strings are readable for their lengths;
/// `buf` writable for `cap` bytes; `n_out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_chat_render_template(
    m: *const super::model::LlametteModel,
    template: *const c_char,
    template_len: usize,
    msgs: *const LlametteMessage,
    n: usize,
    add_generation_prompt: bool,
    buf: *mut c_char,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_chat_render_template", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        // SAFETY: readable per the contract.
        let t = template_of(inner, unsafe { spec(template, template_len) }?)?;
        // SAFETY: readable per the contract.
        let list: Vec<TemplateMessage> = unsafe { super::chat::messages(msgs, n) }?
            .into_iter()
            .map(TemplateMessage::from)
            .collect();
        let s = t.render_with(&list, add_generation_prompt, TemplateExtra::default())?;
        // SAFETY: the output contracts are this function's.
        unsafe { write_c_string(s.as_bytes(), buf, cap, n_out) }
    })
}

/// As `llamette_chat_render_template`, with the conversation as OpenAI-style JSON: `messages`
/// (`messages_len` bytes) a JSON array of message objects passed to the template as they are
/// (`content` a string, null or a list of parts; `tool_calls`, `name`, ... where the template
/// reads them), `tools` (`tools_len` bytes, NULL: none) a JSON array of tool definitions, the
/// template's `tools`, and `documents` (`documents_len` bytes, NULL: none) a JSON array of
/// documents for retrieval-augmented templates, its `documents`.
///
/// Returns as `llamette_chat_render_template`; `LLAMETTE_ERR_INVALID_ARGUMENT` also for JSON
/// that does not parse (the last error says where) or messages that are not an array.
///
/// Thread safety: any thread, concurrently with other calls on the same model.
///
/// # Safety
///
/// As `llamette_chat_render_template`, with `messages` readable for `messages_len` bytes,
/// `tools` for `tools_len` and `documents` for `documents_len` (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_chat_render_template_json(
    m: *const super::model::LlametteModel,
    template: *const c_char,
    template_len: usize,
    messages: *const c_char,
    messages_len: usize,
    tools: *const c_char,
    tools_len: usize,
    documents: *const c_char,
    documents_len: usize,
    add_generation_prompt: bool,
    buf: *mut c_char,
    cap: usize,
    n_out: *mut usize,
) -> LlametteStatus {
    guard("llamette_chat_render_template_json", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { model_ref(m) }?;
        // SAFETY: readable per the contract.
        let t = template_of(inner, unsafe { spec(template, template_len) }?)?;
        let parse = |s: &str, what: &str| -> Result<serde_json::Value, Fail> {
            serde_json::from_str(s).map_err(|e| {
                Fail::invalid(alloc::format!(
                    "`{what}` is not JSON: {e} (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })
        };
        if messages.is_null() {
            return Err(Fail::null("messages"));
        }
        // SAFETY: readable per the contract.
        let msgs = parse(
            unsafe { text(messages, messages_len, "messages") }?,
            "messages",
        )?;
        let tools = if tools.is_null() {
            None
        } else {
            // SAFETY: readable per the contract.
            Some(parse(unsafe { text(tools, tools_len, "tools") }?, "tools")?)
        };
        let documents = if documents.is_null() {
            None
        } else {
            // SAFETY: readable per the contract.
            Some(parse(
                unsafe { text(documents, documents_len, "documents") }?,
                "documents",
            )?)
        };
        let extra = TemplateExtra {
            tools: tools.as_ref(),
            documents: documents.as_ref(),
        };
        let s = t
            .render_json(&msgs, add_generation_prompt, extra)
            .map_err(|e| match e {
                crate::Error::BadChat { reason, .. } => Fail::invalid(reason),
                e => e.into(),
            })?;
        // SAFETY: the output contracts are this function's.
        unsafe { write_c_string(s.as_bytes(), buf, cap, n_out) }
    })
}
