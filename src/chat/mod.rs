//! Chat prompt formats: a conversation rendered to a string and, directly, to token ids.
//!
//! Rendering to ids is not always tokenizing the rendered string: CodeLlama-70B-Instruct's
//! reference code (Meta's `dialog_prompt_tokens`) encodes every turn on its own and joins them
//! with the `<step>` token, which tokenizing the whole string cannot reproduce (SentencePiece
//! leaves a lone `▁` around each `<step>`). So each format knows how to produce its ids.
//!
//! Formats are picked from the GGUF file's `tokenizer.chat_template` (the known templates are
//! recognised by their text, [`ChatFormat::from_template`]) or by name ([`ChatFormat::from_name`]).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::tokenizer::Vocab;

#[cfg(feature = "templates")]
pub mod template;

/// One message of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// "system", "user", "assistant" (ChatML and Llama 3 accept any role).
    pub role: &'a str,
    /// The text.
    pub content: &'a str,
}

impl<'a> Message<'a> {
    /// A message.
    pub fn new(role: &'a str, content: &'a str) -> Message<'a> {
        Message { role, content }
    }
}

/// A chat prompt format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatFormat {
    /// CodeLlama-70B-Instruct: `Source: system\n\n ... <step> Source: user\n\n ... <step>
    /// Source: assistant\nDestination: user\n\n `.
    CodeLlama70b,
    /// Llama 2 chat: `<s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s>`.
    Llama2,
    /// ChatML (SmolLM2, Qwen, ...): `<|im_start|>role\n...<|im_end|>\n`.
    ChatMl,
    /// Llama 3: `<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>`.
    Llama3,
}

impl ChatFormat {
    /// Every format, for listing.
    pub const ALL: [ChatFormat; 4] = [
        ChatFormat::CodeLlama70b,
        ChatFormat::Llama2,
        ChatFormat::ChatMl,
        ChatFormat::Llama3,
    ];

    /// The format's name, as [`ChatFormat::from_name`] takes it.
    pub fn name(self) -> &'static str {
        match self {
            ChatFormat::CodeLlama70b => "codellama-70b",
            ChatFormat::Llama2 => "llama2",
            ChatFormat::ChatMl => "chatml",
            ChatFormat::Llama3 => "llama3",
        }
    }

    /// The format named `name` (as llama.cpp's `--chat-template` names them where it has the
    /// format: "chatml", "llama2", "llama3"; and "codellama-70b").
    pub fn from_name(name: &str) -> Option<ChatFormat> {
        match name {
            "codellama-70b" | "codellama70b" | "codellama-70b-instruct" => {
                Some(ChatFormat::CodeLlama70b)
            }
            "llama2" | "llama-2" => Some(ChatFormat::Llama2),
            "chatml" => Some(ChatFormat::ChatMl),
            "llama3" | "llama-3" => Some(ChatFormat::Llama3),
            _ => None,
        }
    }

    /// Recognises a Jinja chat template by the markers of its format, as llama.cpp's
    /// `llm_chat_detect_template` does.
    pub fn from_template(template: &str) -> Option<ChatFormat> {
        if template.contains("Source: ") && template.contains("Destination: user") {
            Some(ChatFormat::CodeLlama70b)
        } else if template.contains("<|start_header_id|>") && template.contains("<|end_header_id|>")
        {
            Some(ChatFormat::Llama3)
        } else if template.contains("<|im_start|>") {
            Some(ChatFormat::ChatMl)
        } else if template.contains("[INST]") {
            Some(ChatFormat::Llama2)
        } else {
            None
        }
    }

    /// The format of a model's `tokenizer.chat_template`, if it has one llamette knows.
    pub fn from_header(header: &crate::gguf::GgufHeader<'_>) -> Option<ChatFormat> {
        header
            .get_str_opt("tokenizer.chat_template")
            .ok()
            .flatten()
            .and_then(ChatFormat::from_template)
    }

    /// Checks the conversation against the format's rules: for CodeLlama-70B and Llama 2, an
    /// optional system message first, then user and assistant messages alternating, starting
    /// with the user; an error names the first message that breaks them.
    pub fn check(self, messages: &[Message]) -> Result<()> {
        if messages.is_empty() {
            return Err(bad_chat(0, "the conversation is empty"));
        }
        match self {
            ChatFormat::CodeLlama70b | ChatFormat::Llama2 => {
                let start = usize::from(messages[0].role == "system");
                for (i, m) in messages.iter().enumerate().skip(start) {
                    let want = if (i - start) % 2 == 0 {
                        "user"
                    } else {
                        "assistant"
                    };
                    if m.role != want {
                        return Err(bad_chat(
                            i,
                            &format!(
                                "role '{}' where '{want}' is expected: after an optional system message, roles must alternate user/assistant",
                                m.role
                            ),
                        ));
                    }
                }
                Ok(())
            }
            ChatFormat::ChatMl | ChatFormat::Llama3 => {
                for (i, m) in messages.iter().enumerate() {
                    if m.role.is_empty() || m.role.contains(['\n', '<', '>']) {
                        return Err(bad_chat(i, "a role must be a plain non-empty word"));
                    }
                }
                Ok(())
            }
        }
    }

    /// The prompt as a string, ending with the assistant's header when `add_assistant` is set
    /// (what Hugging Face's template renders with `add_generation_prompt`).
    pub fn render(self, messages: &[Message], add_assistant: bool) -> Result<String> {
        self.check(messages)?;
        let mut s = String::new();
        match self {
            ChatFormat::CodeLlama70b => {
                s.push_str("<s>");
                for m in messages {
                    s.push_str("Source: ");
                    s.push_str(m.role);
                    s.push_str("\n\n ");
                    s.push_str(m.content.trim());
                    s.push_str(" <step> ");
                }
                if add_assistant {
                    s.push_str(CODELLAMA_ASSISTANT);
                }
            }
            ChatFormat::Llama2 => {
                let (system, rest) = match messages.split_first() {
                    Some((first, rest)) if first.role == "system" => (Some(first.content), rest),
                    _ => (None, messages),
                };
                for (i, m) in rest.iter().enumerate() {
                    if m.role == "user" {
                        s.push_str("<s>[INST] ");
                        if let (0, Some(sys)) = (i, system) {
                            s.push_str("<<SYS>>\n");
                            s.push_str(sys);
                            s.push_str("\n<</SYS>>\n\n");
                        }
                        s.push_str(m.content.trim());
                        s.push_str(" [/INST]");
                    } else {
                        s.push(' ');
                        s.push_str(m.content.trim());
                        s.push_str(" </s>");
                    }
                }
                // The assistant answers right after "[/INST]": nothing to add.
                let _ = add_assistant;
            }
            ChatFormat::ChatMl => {
                for m in messages {
                    s.push_str("<|im_start|>");
                    s.push_str(m.role);
                    s.push('\n');
                    s.push_str(m.content);
                    s.push_str("<|im_end|>\n");
                }
                if add_assistant {
                    s.push_str("<|im_start|>assistant\n");
                }
            }
            ChatFormat::Llama3 => {
                s.push_str("<|begin_of_text|>");
                for m in messages {
                    s.push_str("<|start_header_id|>");
                    s.push_str(m.role);
                    s.push_str("<|end_header_id|>\n\n");
                    s.push_str(m.content.trim());
                    s.push_str("<|eot_id|>");
                }
                if add_assistant {
                    s.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
                }
            }
        }
        Ok(s)
    }

    /// The prompt as token ids, as the format's reference code produces them.
    ///
    /// - CodeLlama-70B: Meta's `dialog_prompt_tokens`: BOS, then every turn
    ///   `"Source: ROLE\n\n CONTENT"` (content trimmed) encoded on its own followed by `<step>`,
    ///   then `"Source: assistant\nDestination: user\n\n "`; an empty system turn is put first
    ///   when the conversation has none (Meta's code does this, the Hugging Face template does
    ///   not, so [`ChatFormat::render`] does not).
    /// - The others: the rendered string tokenized with special tokens parsed (BOS from the
    ///   vocabulary's `add_bos` for ChatML; the Llama 2 and Llama 3 strings carry their own).
    pub fn render_ids(
        self,
        vocab: &Vocab,
        messages: &[Message],
        add_assistant: bool,
    ) -> Result<Vec<u32>> {
        match self {
            ChatFormat::CodeLlama70b => {
                self.check(messages)?;
                let step = vocab
                    .token_id("<step>")
                    .ok_or_else(|| bad_chat(0, "the vocabulary has no <step> token"))?;
                let bos = vocab
                    .bos()
                    .ok_or_else(|| bad_chat(0, "the vocabulary has no BOS token"))?;
                let mut ids = alloc::vec![bos];
                let empty_system = Message::new("system", "");
                let system = (messages[0].role != "system").then_some(&empty_system);
                for m in system.into_iter().chain(messages) {
                    let turn = format!("Source: {}\n\n {}", m.role.trim(), m.content.trim());
                    vocab.tokenize_into(&turn, false, false, &mut ids)?;
                    ids.push(step);
                }
                if add_assistant {
                    vocab.tokenize_into(CODELLAMA_ASSISTANT, false, false, &mut ids)?;
                }
                Ok(ids)
            }
            ChatFormat::ChatMl => {
                vocab.tokenize(&self.render(messages, add_assistant)?, true, true)
            }
            ChatFormat::Llama2 | ChatFormat::Llama3 => {
                vocab.tokenize(&self.render(messages, add_assistant)?, false, true)
            }
        }
    }

    /// Tokens that end the assistant's turn in this format, as found in `vocab`: `<step>` for
    /// CodeLlama-70B (its generation config stops at `</s>` or `<step>`), `<|im_end|>` for
    /// ChatML, `<|eot_id|>` for Llama 3, and the vocabulary's EOS for all.
    pub fn stop_tokens(self, vocab: &Vocab) -> Vec<u32> {
        let marker = match self {
            ChatFormat::CodeLlama70b => Some("<step>"),
            ChatFormat::ChatMl => Some("<|im_end|>"),
            ChatFormat::Llama3 => Some("<|eot_id|>"),
            ChatFormat::Llama2 => None,
        };
        let mut ids: Vec<u32> = vocab.eos().into_iter().collect();
        if let Some(id) = marker.and_then(|m| vocab.token_id(m)) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// How a model's conversations become prompts: a built-in format (which renders ids the way
/// its reference code does), or (feature `templates`) a Jinja chat template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatPrompt {
    /// A built-in format.
    Format(ChatFormat),
    /// A Jinja template, rendered as Hugging Face's `apply_chat_template` does.
    #[cfg(feature = "templates")]
    Template(alloc::boxed::Box<template::ChatTemplate>),
}

impl ChatPrompt {
    /// The model's own: the built-in format that renders its `tokenizer.chat_template`, else
    /// (with `templates`) that template itself; `None` when the file has no template llamette
    /// can render.
    pub fn of_model(header: &crate::gguf::GgufHeader<'_>) -> Result<Option<ChatPrompt>> {
        if let Some(f) = ChatFormat::from_header(header) {
            return Ok(Some(ChatPrompt::Format(f)));
        }
        #[cfg(feature = "templates")]
        if let Some(t) = template::ChatTemplate::from_gguf(header)? {
            return Ok(Some(ChatPrompt::Template(alloc::boxed::Box::new(t))));
        }
        Ok(None)
    }

    /// The conversation as text (ending with the assistant's header with `add_assistant`).
    pub fn render(&self, messages: &[Message], add_assistant: bool) -> Result<String> {
        match self {
            ChatPrompt::Format(f) => f.render(messages, add_assistant),
            #[cfg(feature = "templates")]
            ChatPrompt::Template(t) => t.render(messages, add_assistant),
        }
    }

    /// The conversation as prompt ids: a format's own ids, or a template's text tokenized with
    /// special tokens parsed and no added BOS (the template writes BOS where the model wants
    /// it).
    pub fn render_ids(
        &self,
        vocab: &Vocab,
        messages: &[Message],
        add_assistant: bool,
    ) -> Result<Vec<u32>> {
        match self {
            ChatPrompt::Format(f) => f.render_ids(vocab, messages, add_assistant),
            #[cfg(feature = "templates")]
            ChatPrompt::Template(t) => {
                vocab.tokenize(&t.render(messages, add_assistant)?, false, true)
            }
        }
    }

    /// The tokens that end the assistant's turn: a format's ([`ChatFormat::stop_tokens`]), or
    /// for a template the vocabulary's end-of-generation tokens.
    pub fn stop_tokens(&self, vocab: &Vocab) -> Vec<u32> {
        match self {
            ChatPrompt::Format(f) => f.stop_tokens(vocab),
            #[cfg(feature = "templates")]
            ChatPrompt::Template(_) => vocab.eog_ids().collect(),
        }
    }
}

/// What CodeLlama-70B-Instruct's prompt ends with: the assistant's header.
const CODELLAMA_ASSISTANT: &str = "Source: assistant\nDestination: user\n\n ";

fn bad_chat(message: usize, reason: &str) -> Error {
    Error::BadChat {
        message,
        reason: reason.to_string(),
    }
}
