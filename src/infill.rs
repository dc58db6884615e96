//! Fill-in-the-middle prompts: the code before and after the cursor, in the token layout
//! llama.cpp's server builds for `/infill` (`format_prompt_infill`), with the vocabulary's own
//! FIM tokens (`<PRE>`/`<SUF>`/`<MID>` for CodeLlama, `<|fim_prefix|>`/`<|fim_suffix|>`/
//! `<|fim_middle|>` for Qwen and StarCoder-style vocabularies, ...).
//!
//! The layout, for a vocabulary with FIM prefix, suffix and middle tokens:
//!
//! ```text
//! [extra context] [BOS if the vocabulary adds it] PRE prefix prompt SUF suffix MID
//! ```
//!
//! (`spm_infill`: `SUF suffix PRE prefix prompt MID`, BOS before the suffix part). The extra
//! context is llama.cpp's repository-level pattern: with a FIM repository token, `REP
//! "myproject\n"`; each extra chunk as `SEP "filename\n" text` (without a FIM separator token,
//! the chunk is preceded by `"\n\n--- snippet ---\n\n"`); then, with a separator token, `SEP
//! "filename\n"` for the current file. Texts are tokenized without special tokens and without
//! BOS, as the server tokenizes them. The prefix keeps its last `3 * n_batch / 4` tokens, the
//! suffix its first `n_batch / 4 - 2 - prompt.len()`, and the extra context its last
//! `n_ctx - n_batch - 2 * n_predict`, as the server trims them.
//!
//! Generation then stops at the vocabulary's end-of-generation tokens ([`stop_tokens`] lists
//! them with the FIM tokens that end a middle).

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::tokenizer::Vocab;

/// One extra file for repository-level context (llama.cpp's `input_extra` chunk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtraChunk<'a> {
    /// The file's text.
    pub text: &'a str,
    /// Its name (`None`: "tmp", as the server's default).
    pub filename: Option<&'a str>,
}

/// The budget the server trims to (its `n_batch`, `n_predict` and the slot's `n_ctx`) and the
/// order of the parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfillParams {
    /// The batch the FIM part must fit in: the prefix keeps at most `3 * n_batch / 4` tokens,
    /// the suffix `n_batch / 4 - 2 - prompt.len()` (llama.cpp's default batch is 2048).
    pub n_batch: usize,
    /// Tokens to be generated, kept free of extra context (-1: no limit, llama.cpp's default,
    /// which its arithmetic turns into 2 more tokens of context).
    pub n_predict: i32,
    /// The context's size: extra context takes at most `n_ctx - n_batch - 2 * n_predict`.
    pub n_ctx: usize,
    /// Suffix before prefix (llama.cpp's `--spm-infill`).
    pub spm_infill: bool,
}

impl Default for InfillParams {
    /// llama.cpp's server defaults: a batch of 2048, no token limit, a 4096-token context,
    /// prefix first.
    fn default() -> InfillParams {
        InfillParams {
            n_batch: 2048,
            n_predict: -1,
            n_ctx: 4096,
            spm_infill: false,
        }
    }
}

/// The prompt ids for completing between `prefix` and `suffix`, with `extra` files as
/// repository context and `prompt` (already tokenized; usually empty) right after the prefix,
/// laid out as llama.cpp's `/infill` lays them out (see the module docs).
///
/// Fails with [`Error::BadModel`] when the vocabulary lacks a FIM prefix, suffix or middle
/// token (it cannot fill in the middle), and as [`Vocab::tokenize`] does.
pub fn infill_tokens(
    vocab: &Vocab,
    prefix: &str,
    suffix: &str,
    extra: &[ExtraChunk<'_>],
    prompt: &[u32],
    p: InfillParams,
) -> Result<Vec<u32>> {
    let sp = vocab.special();
    let (Some(pre), Some(suf), Some(mid)) = (sp.fim_pre, sp.fim_suf, sp.fim_mid) else {
        return Err(Error::BadModel {
            reason: "the vocabulary has no fill-in-the-middle tokens (prefix, suffix and middle)"
                .into(),
        });
    };
    let tok = |text: &str| vocab.tokenize(text, false, false);

    let mut extra_tokens = Vec::new();
    if let Some(rep) = sp.fim_rep {
        extra_tokens.push(rep);
        extra_tokens.extend(tok("myproject\n")?);
    }
    for chunk in extra {
        if let Some(sep) = sp.fim_sep {
            let mut name = String::from(chunk.filename.unwrap_or("tmp"));
            name.push('\n');
            extra_tokens.push(sep);
            extra_tokens.extend(tok(&name)?);
        } else {
            extra_tokens.extend(tok("\n\n--- snippet ---\n\n")?);
        }
        extra_tokens.extend(tok(chunk.text)?);
    }
    if let Some(sep) = sp.fim_sep {
        extra_tokens.push(sep);
        extra_tokens.extend(tok("filename\n")?);
    }

    let mut tokens_prefix = tok(prefix)?;
    let mut tokens_suffix = tok(suffix)?;
    let n_prefix_take = tokens_prefix.len().min(3 * (p.n_batch / 4));
    let n_suffix_take = tokens_suffix
        .len()
        .min((p.n_batch / 4).saturating_sub(2 + prompt.len()));
    let room = p.n_ctx as i64 - p.n_batch as i64 - 2 * i64::from(p.n_predict);
    let n_extra_take = (room.max(0) as usize).min(extra_tokens.len());

    tokens_prefix.drain(..tokens_prefix.len() - n_prefix_take);
    tokens_suffix.truncate(n_suffix_take);
    tokens_prefix.insert(0, pre);
    tokens_prefix.extend_from_slice(prompt);
    tokens_suffix.insert(0, suf);

    let (first, second) = if p.spm_infill {
        (tokens_suffix, tokens_prefix)
    } else {
        (tokens_prefix, tokens_suffix)
    };
    let mut out = Vec::with_capacity(n_extra_take + 2 + first.len() + second.len());
    out.extend_from_slice(&extra_tokens[extra_tokens.len() - n_extra_take..]);
    if vocab.add_bos() {
        if let Some(bos) = sp.bos {
            out.push(bos);
        }
    }
    out.extend(first);
    out.extend(second);
    out.push(mid);
    Ok(out)
}

/// The tokens that end a filled-in middle: the vocabulary's end-of-generation tokens (EOS, EOT
/// such as CodeLlama's `<EOT>`, ...) and the FIM padding, repository and file-separator tokens
/// where the vocabulary has them, in ascending order without repeats.
pub fn stop_tokens(vocab: &Vocab) -> Vec<u32> {
    let sp = vocab.special();
    let mut out: Vec<u32> = vocab.eog_ids().collect();
    out.extend(
        [sp.eot, sp.fim_pad, sp.fim_rep, sp.fim_sep]
            .into_iter()
            .flatten(),
    );
    out.sort_unstable();
    out.dedup();
    out
}
