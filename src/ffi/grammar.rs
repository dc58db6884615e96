//! Grammars for constrained decoding ([`crate::grammar`]): GBNF, JSON schemas, regular
//! expressions and "any JSON object", compiled once into a handle and set on samplers.
//!
//! A grammar handle is immutable. `llamette_sampler_set_grammar` compiles it for the sampler's
//! vocabulary, so the handle can be freed right after. The engine's view of a model's vocabulary
//! (every token's bytes in a trie) is built once per model and shared by all its samplers: hosts
//! make a sampler per request (the Python binding does), and the build takes far longer than
//! compiling a grammar.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use std::sync::{Mutex, PoisonError};

use super::generate::{sampler_mut, LlametteSampler};
use super::model::{model_ref, LlametteModel, ModelInner};
use super::{arg, c_str, guard, guard_or, into_handle, Fail, LlametteStatus, Out};
use crate::error::Error;
use crate::grammar::{Grammar, GrammarVocab};

/// A grammar (GBNF, a JSON schema, a regular expression, any JSON object), checked and ready
/// to be set on samplers. Immutable: every function taking a `const LlametteGrammar *` may run
/// concurrently with any other on the same grammar. It holds no reference to a model.
pub struct LlametteGrammar {
    _private: [u8; 0],
}

// The header's promise: a grammar is used from any number of threads at once.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Grammar>();
    send_sync::<GrammarVocab>();
};

/// The grammar engine's view of each model's vocabulary, built by the first grammar set on one
/// of its samplers (about 0.15 s for SmolLM2's 49k tokens on one core; compiling a grammar for
/// it then takes about a millisecond). An entry's `Weak` does not keep the model alive, and
/// keeps its allocation from being reused while the entry exists, so the address identifies the
/// model; entries of freed models are dropped at the next lookup.
static VOCABS: Mutex<Vec<(Weak<ModelInner>, GrammarVocab)>> = Mutex::new(Vec::new());

/// The engine's view of `model`'s vocabulary, built on first use. The build runs under the lock,
/// so concurrent first grammars of one model build it once.
fn grammar_vocab(model: &Arc<ModelInner>) -> Result<GrammarVocab, Fail> {
    // A panic inside the build leaves the list as it was (entries are only pushed after).
    let mut vocabs = VOCABS.lock().unwrap_or_else(PoisonError::into_inner);
    vocabs.retain(|(m, _)| m.strong_count() > 0);
    if let Some((_, v)) = vocabs
        .iter()
        .find(|(m, _)| core::ptr::eq(m.as_ptr(), Arc::as_ptr(model)))
    {
        return Ok(v.clone());
    }
    let v = GrammarVocab::new(&model.vocab)?;
    vocabs.push((Arc::downgrade(model), v.clone()));
    Ok(v)
}

/// Whether the vocabulary of the model at `model` is in [`VOCABS`] (for tests).
#[cfg(test)]
pub(crate) fn has_grammar_vocab(model: *const ModelInner) -> bool {
    let vocabs = VOCABS.lock().unwrap_or_else(PoisonError::into_inner);
    vocabs.iter().any(|(m, _)| core::ptr::eq(m.as_ptr(), model))
}

/// The grammar behind a handle, borrowed.
///
/// # Safety
///
/// `g` must be NULL or a live grammar handle, kept alive by the caller for `'a`.
unsafe fn grammar_ref<'a>(g: *const LlametteGrammar) -> Result<&'a Grammar, Fail> {
    // SAFETY: a live handle is a `Box<Grammar>` pointer (`into_handle`) per the contract; it is
    // only ever read.
    unsafe { arg(g.cast::<Grammar>(), "g") }
}

/// Writes a new grammar handle to `out`.
///
/// # Safety
///
/// The pointer given to `out` must be writable.
unsafe fn write_grammar(out: Out<*mut LlametteGrammar>, g: Grammar) {
    // SAFETY: writable per this function's contract.
    unsafe { out.write(into_handle::<Grammar, LlametteGrammar>(g)) }
}

/// Parses a GBNF grammar (llama.cpp's `grammars/README.md` syntax and rules).
///
/// - `m`: may be NULL. With a model, tokens written by text in the grammar (`<|im_end|>`,
///   `<think>`; each must be exactly one token of the vocabulary, as in llama.cpp) are resolved
///   in its vocabulary; without one, such an element is an error. Tokens by id (`<[42]>`) need
///   no model. The grammar keeps only the ids, not the model: set it on samplers of that model.
/// - `text`, `text_len`: the grammar (UTF-8, not NUL-terminated); read during the call only.
/// - `root`: the rule to start from, NUL-terminated (llama.cpp's `grammar_root`); NULL for
///   "root".
/// - `out`: receives the new handle, owned by the caller (`llamette_grammar_free`). Untouched
///   on failure.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (`out`, or `text` with `text_len > 0`);
/// `LLAMETTE_ERR_INVALID_ARGUMENT` (`text` or `root` not UTF-8); `LLAMETTE_ERR_BAD_GRAMMAR`
/// (a syntax error, an undefined rule, no start rule, a left-recursive rule, a repetition over
/// 2000, a token the vocabulary lacks; `llamette_last_error` says where: "GBNF line 1, column
/// 14: undefined rule 'b'"); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread.
///
/// # Safety
///
/// `m` must be a live model handle or NULL; `text` readable for `text_len` bytes; `root` NULL
/// or NUL-terminated; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_grammar_from_gbnf(
    m: *const LlametteModel,
    text: *const core::ffi::c_char,
    text_len: usize,
    root: *const core::ffi::c_char,
    out: *mut *mut LlametteGrammar,
) -> LlametteStatus {
    guard("llamette_grammar_from_gbnf", || {
        let out = Out::new(out, "out")?;
        let vocab = if m.is_null() {
            None
        } else {
            // SAFETY: a live handle per the contract.
            Some(&unsafe { model_ref(m) }?.vocab)
        };
        // SAFETY: readable for `text_len` bytes per the contract.
        let src = unsafe { super::text(text, text_len, "text") }?;
        let root = if root.is_null() {
            "root"
        } else {
            // SAFETY: NUL-terminated per the contract.
            unsafe { c_str(root, "root") }?
                .to_str()
                .map_err(|_| Fail::invalid("`root` is not UTF-8"))?
        };
        let g = Grammar::gbnf_rooted(src, root, vocab)?;
        // SAFETY: writable per the contract.
        unsafe { write_grammar(out, g) };
        Ok(())
    })
}

/// Compiles a JSON schema (as text): the output is one JSON value that validates against it,
/// with llama.cpp's whitespace rule between items. Supports what llama.cpp's
/// `json_schema_to_grammar` does (types, `properties`/`required`/`additionalProperties`,
/// `enum`, `const`, `items`/`prefixItems`, lengths, `pattern`, `format`, number bounds,
/// `$ref`/`$defs`, `anyOf`/`oneOf`/`allOf`).
///
/// - `text`, `text_len`: the schema (UTF-8 JSON); read during the call only.
/// - `out`: receives the new handle (`llamette_grammar_free`). Untouched on failure.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (not
/// UTF-8); `LLAMETTE_ERR_BAD_GRAMMAR` (not JSON: the message says the line and column; a schema
/// that cannot be compiled: the message names the keyword or `$ref`); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread.
///
/// # Safety
///
/// `text` must be readable for `text_len` bytes; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_grammar_from_json_schema(
    text: *const core::ffi::c_char,
    text_len: usize,
    out: *mut *mut LlametteGrammar,
) -> LlametteStatus {
    guard("llamette_grammar_from_json_schema", || {
        let out = Out::new(out, "out")?;
        // SAFETY: readable for `text_len` bytes per the contract.
        let src = unsafe { super::text(text, text_len, "text") }?;
        let g = Grammar::json_schema(src)?;
        // SAFETY: writable per the contract.
        unsafe { write_grammar(out, g) };
        Ok(())
    })
}

/// Compiles a regular expression that the whole output must match (Rust `regex` syntax, no
/// anchors needed).
///
/// - `text`, `text_len`: the expression (UTF-8); read during the call only.
/// - `out`: receives the new handle (`llamette_grammar_free`). Untouched on failure.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_INVALID_ARGUMENT` (not
/// UTF-8); `LLAMETTE_ERR_BAD_GRAMMAR` (the message says what and where); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread.
///
/// # Safety
///
/// `text` must be readable for `text_len` bytes; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_grammar_from_regex(
    text: *const core::ffi::c_char,
    text_len: usize,
    out: *mut *mut LlametteGrammar,
) -> LlametteStatus {
    guard("llamette_grammar_from_regex", || {
        let out = Out::new(out, "out")?;
        // SAFETY: readable for `text_len` bytes per the contract.
        let src = unsafe { super::text(text, text_len, "text") }?;
        let g = Grammar::regex(src)?;
        // SAFETY: writable per the contract.
        unsafe { write_grammar(out, g) };
        Ok(())
    })
}

/// Makes the grammar of any JSON object (llama-cpp-python's `response_format={"type":
/// "json_object"}`; the language of llama.cpp's `grammars/json.gbnf`).
///
/// - `out`: receives the new handle (`llamette_grammar_free`). Untouched on failure.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: any thread.
///
/// # Safety
///
/// `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn llamette_grammar_json_object(
    out: *mut *mut LlametteGrammar,
) -> LlametteStatus {
    guard("llamette_grammar_json_object", || {
        let out = Out::new(out, "out")?;
        // SAFETY: writable per the contract.
        unsafe { write_grammar(out, Grammar::json_object()) };
        Ok(())
    })
}

/// Frees a grammar. Samplers it was set on keep their own compiled copy. NULL is a no-op.
///
/// Thread safety: no other call may use the grammar during or after this one.
///
/// # Safety
///
/// `g` must be NULL or a live grammar handle, not used during or after this call.
#[no_mangle]
pub unsafe extern "C" fn llamette_grammar_free(g: *mut LlametteGrammar) {
    guard_or("llamette_grammar_free", (), || {
        if !g.is_null() {
            // SAFETY: a live handle is a `Box<Grammar>` from `into_handle`.
            drop(unsafe { Box::from_raw(g.cast::<Grammar>()) });
        }
    })
}

/// Constrains the sampler with `g` (NULL removes its grammar): from now on
/// `llamette_sampler_sample` and `llamette_generate` choose only tokens the grammar allows,
/// the end-of-generation tokens exactly when the text so far is a complete match (and only
/// those once nothing else can follow). The grammar is the first stage of the chain, before
/// the logit biases (llama.cpp's `grammar_first`), and starts at its beginning: what the
/// sampler generated before does not count.
///
/// The grammar is compiled for the vocabulary of the sampler's model and the sampler keeps its
/// own copy: `g` may be freed right after. The first grammar set on any sampler of a model also
/// builds the grammar engine's view of its vocabulary (about 0.15 s for a 49k-token vocabulary),
/// which every sampler of that model then shares; compiling a grammar takes about a
/// millisecond.
///
/// The grammar advances with each generated token: `llamette_generate` does that itself; a
/// host that samples token by token calls `llamette_sampler_accept_sampled` with each token it
/// uses (and `llamette_sampler_accept` only for prompt tokens, which the grammar does not see).
/// `llamette_sampler_reset` takes the grammar back to its beginning;
/// `llamette_sampler_set_logit_bias` keeps it where it is.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT` (`s`); `LLAMETTE_ERR_BAD_GRAMMAR` (the
/// grammar cannot be compiled for this vocabulary; the sampler is unchanged);
/// `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per sampler; `g` may be used by other threads at once.
///
/// # Safety
///
/// `s` must be a live sampler handle (or NULL); `g` a live grammar handle or NULL.
#[no_mangle]
pub unsafe extern "C" fn llamette_sampler_set_grammar(
    s: *mut LlametteSampler,
    g: *const LlametteGrammar,
) -> LlametteStatus {
    guard("llamette_sampler_set_grammar", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { sampler_mut(s) }?;
        if g.is_null() {
            inner.sampler.set_constraint(None);
            return Ok(());
        }
        // SAFETY: a live handle per the contract.
        let grammar = unsafe { grammar_ref(g) }?;
        let constraint = grammar_vocab(&inner.model)?.constraint(grammar)?;
        inner.sampler.set_constraint(Some(Box::new(constraint)));
        Ok(())
    })
}

/// Records `token`, which the host chose (from `llamette_sampler_sample`) and uses as the next
/// generated token: in the history for the penalties, as `llamette_sampler_accept` does, and in
/// the grammar, which advances past it. Without a grammar it records as
/// `llamette_sampler_accept` does.
///
/// Returns `LLAMETTE_OK`; `LLAMETTE_ERR_NULL_ARGUMENT`; `LLAMETTE_ERR_BAD_TOKEN` (outside the
/// vocabulary); `LLAMETTE_ERR_CONSTRAINT` (the grammar does not allow `token` here: nothing is
/// recorded, the grammar stays where it was); `LLAMETTE_ERR_PANIC`.
///
/// Thread safety: one thread at a time per sampler.
///
/// # Safety
///
/// `s` must be a live sampler handle (or NULL).
#[no_mangle]
pub unsafe extern "C" fn llamette_sampler_accept_sampled(
    s: *mut LlametteSampler,
    token: u32,
) -> LlametteStatus {
    guard("llamette_sampler_accept_sampled", || {
        // SAFETY: a live handle or NULL per the contract.
        let inner = unsafe { sampler_mut(s) }?;
        let n_vocab = inner.sampler.n_vocab();
        if token as usize >= n_vocab {
            return Err(Error::BadToken { token, n_vocab }.into());
        }
        inner.sampler.accept_sampled(token)?;
        Ok(())
    })
}
