//! Constrained decoding (feature `grammar`): llama.cpp's GBNF grammars, JSON schemas, regular
//! expressions and "any JSON object", as a sampling [`Constraint`].
//!
//! The engine is [`llguidance`](https://github.com/guidance-ai/llguidance) (MIT), the library
//! llama.cpp itself can use for JSON schemas: an Earley parser over a derivative-based lexer that
//! computes the set of allowed tokens by walking the vocabulary's byte trie once per step (tens
//! of microseconds on a 128k vocabulary for a JSON schema). GBNF is parsed here with
//! llama.cpp's rules and errors (line and column), checked as llama.cpp checks it (undefined
//! rules, a missing start rule, left recursion), and translated into llguidance's Lark form
//! with one-character terminals, which keeps GBNF's character-level meaning. JSON schemas go to
//! llguidance's own schema compiler, with llama.cpp's whitespace rule (nothing, one space, or one or
//! two line breaks and up to 20 spaces or tabs, between items) unless the schema says otherwise in
//! `x-guidance`.
//!
//! ```
//! use llamette::grammar::Grammar;
//!
//! let g = Grammar::gbnf(r#"root ::= "yes" | "no""#).unwrap();
//! assert!(g.accepts("yes").unwrap());
//! assert!(!g.accepts("maybe").unwrap());
//!
//! let err = Grammar::gbnf("root ::= \"a\" b").unwrap_err();
//! assert_eq!(err.to_string(), "bad grammar: GBNF line 1, column 14: undefined rule 'b'");
//! ```
//!
//! With a model: [`GrammarVocab::new`] once per vocabulary, then a [`GrammarConstraint`] per
//! generation, given to [`Sampler::with_constraint`](crate::sampling::Sampler::with_constraint).
//! Generation stops with [`StopReason::Constraint`](crate::generate::StopReason::Constraint)
//! if the grammar ever allows no token, and the end-of-generation tokens are allowed exactly
//! when the text so far is a complete match.

mod gbnf;
mod schema;

use std::string::{String, ToString};
use std::sync::{Arc, OnceLock};
use std::vec::Vec;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{self, TokEnv, TokRxInfo, TokTrie, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::sampling::{Candidates, Constraint};
use crate::tokenizer::{TokenAttr, Vocab};

use gbnf::Gbnf;

/// llama.cpp's whitespace between JSON items (`SPACE_RULE` in `json-schema-to-grammar.cpp`):
/// nothing, one space, or one or two line breaks and at most 20 spaces or tabs.
const JSON_WHITESPACE: &str = r"(?: |\n{1,2}[ \t]{0,20})?";

/// A grammar, checked and ready to be compiled for a vocabulary.
#[derive(Debug, Clone)]
pub struct Grammar {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Lark text (GBNF already translated). `bytes` is the same grammar with every token
    /// element naming a token of the byte-level vocabulary, for checking and
    /// [`Grammar::accepts`] (`None` when it has no token elements).
    Lark {
        lark: String,
        bytes: Option<String>,
        what: &'static str,
    },
    /// A JSON schema (with the whitespace options merged in).
    Schema(Value),
    /// A regular expression over the whole output.
    Regex(String),
}

impl Grammar {
    /// A GBNF grammar (llama.cpp's `grammars/README.md`) starting at its `root` rule.
    ///
    /// Errors ([`Error::BadGrammar`]) say the line and column: a syntax error, an undefined
    /// rule, no `root` rule, a left-recursive rule (`a ::= a "x"`, which llama.cpp refuses
    /// too), a repetition count over 2000. Tokens by id (`<[42]>`, `!<[42]>`) are allowed;
    /// tokens by text (`<|im_end|>`) need the vocabulary: [`Grammar::gbnf_for`].
    pub fn gbnf(text: &str) -> Result<Grammar> {
        Self::gbnf_rooted(text, "root", None)
    }

    /// As [`Grammar::gbnf`], with `vocab` to resolve tokens given by text (`<think>`: must be
    /// exactly one token of the vocabulary, as in llama.cpp).
    pub fn gbnf_for(text: &str, vocab: &Vocab) -> Result<Grammar> {
        Self::gbnf_rooted(text, "root", Some(vocab))
    }

    /// A GBNF grammar starting at the rule `root` (llama.cpp's `grammar_root`).
    pub fn gbnf_rooted(text: &str, root: &str, vocab: Option<&Vocab>) -> Result<Grammar> {
        let g = Gbnf::parse(text, root, vocab)?;
        let lark = g.to_lark(None);
        let bytes = g.to_lark(Some(BYTES_SPECIAL_TOKEN));
        let grammar = Grammar {
            kind: Kind::Lark {
                bytes: (bytes != lark).then_some(bytes),
                lark,
                what: "GBNF grammar",
            },
        };
        grammar.check()?;
        Ok(grammar)
    }

    /// A JSON schema (as text): the output is one JSON value that validates against it.
    /// Supports what llama.cpp's `json_schema_to_grammar` supports and more (llguidance's
    /// schema compiler): types, `properties`/`required`/`additionalProperties`, `enum`,
    /// `const`, `items`/`prefixItems`/`minItems`/`maxItems`, string `minLength`/`maxLength`/
    /// `pattern`/`format`, number bounds, `$ref`/`$defs`, `anyOf`/`oneOf`/`allOf`.
    ///
    /// Text that is not JSON fails with its line and column; a schema that cannot be
    /// compiled fails with the engine's message, which names the keyword or the `$ref`.
    pub fn json_schema(text: &str) -> Result<Grammar> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::BadGrammar {
            reason: format!(
                "JSON schema line {}, column {}: {}",
                e.line(),
                e.column(),
                strip_position(&e.to_string())
            ),
        })?;
        Self::json_schema_value(value)
    }

    /// A JSON schema already parsed.
    pub fn json_schema_value(mut schema: Value) -> Result<Grammar> {
        schema::normalize(&mut schema, &pattern_unsupported);
        if let Value::Object(map) = &mut schema {
            let opts = map
                .entry("x-guidance")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(o) = opts {
                o.entry("whitespace_pattern")
                    .or_insert_with(|| Value::String(JSON_WHITESPACE.to_string()));
                o.entry("lenient").or_insert(Value::Bool(true));
            }
        } else if !matches!(schema, Value::Bool(_)) {
            return Err(Error::BadGrammar {
                reason: "JSON schema: the schema must be an object or a boolean".into(),
            });
        }
        let grammar = Grammar {
            kind: Kind::Schema(schema),
        };
        grammar.check()?;
        Ok(grammar)
    }

    /// Any JSON object (llama-cpp-python's `response_format={"type": "json_object"}` without
    /// a schema; llama.cpp's `grammars/json.gbnf` has the same language).
    pub fn json_object() -> Grammar {
        Self::json_schema_value(serde_json::json!({"type": "object"}))
            .expect("the schema of any object compiles")
    }

    /// A regular expression the whole output must match (Rust `regex` syntax; no anchors
    /// needed).
    pub fn regex(rx: &str) -> Result<Grammar> {
        let grammar = Grammar {
            kind: Kind::Regex(rx.to_string()),
        };
        grammar.check()?;
        Ok(grammar)
    }

    /// A grammar in llguidance's own Lark syntax (for what GBNF cannot say: lazy matching,
    /// `%json` inside a grammar, ...).
    pub fn lark(text: &str) -> Result<Grammar> {
        let grammar = Grammar {
            kind: Kind::Lark {
                lark: text.to_string(),
                bytes: None,
                what: "Lark grammar",
            },
        };
        grammar.check()?;
        Ok(grammar)
    }

    /// The Lark text a GBNF grammar was translated into (`None` for schemas and regexes).
    pub fn lark_text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Lark { lark, .. } => Some(lark),
            _ => None,
        }
    }

    fn what(&self) -> &'static str {
        match &self.kind {
            Kind::Lark { what, .. } => what,
            Kind::Schema(_) => "JSON schema",
            Kind::Regex(_) => "regular expression",
        }
    }

    fn top_level(&self, bytes_env: bool) -> TopLevelGrammar {
        match &self.kind {
            Kind::Lark { bytes: Some(b), .. } if bytes_env => TopLevelGrammar::from_lark(b.clone()),
            Kind::Lark { lark, .. } => TopLevelGrammar::from_lark(lark.clone()),
            Kind::Schema(v) => TopLevelGrammar::from_json_schema(v.clone()),
            Kind::Regex(rx) => TopLevelGrammar::from_regex(rx),
        }
    }

    /// Compiles against the byte-level vocabulary, which finds every error the engine can.
    fn check(&self) -> Result<()> {
        self.matcher(bytes_env(), true).map(|_| ())
    }

    fn matcher(&self, env: &ParserFactory, bytes_env: bool) -> Result<Matcher> {
        let parser =
            env.create_parser(self.top_level(bytes_env))
                .map_err(|e| Error::BadGrammar {
                    reason: format!("{}: {}", self.what(), first_line(&e.to_string())),
                })?;
        let m = Matcher::new(Ok(parser));
        if let Some(e) = m.get_error() {
            return Err(Error::BadGrammar {
                reason: format!("{}: {}", self.what(), first_line(&e)),
            });
        }
        Ok(m)
    }

    /// Whether `text` as a whole matches the grammar (no model needed: the text is fed
    /// byte by byte).
    pub fn accepts(&self, text: &str) -> Result<bool> {
        self.accepts_bytes(text.as_bytes())
    }

    /// As [`accepts`](Self::accepts), for bytes that need not be UTF-8.
    pub fn accepts_bytes(&self, bytes: &[u8]) -> Result<bool> {
        let mut m = self.matcher(bytes_env(), true)?;
        for &b in bytes {
            if m.consume_token(b as u32).is_err() {
                return Ok(false);
            }
        }
        Ok(m.is_accepting().unwrap_or(false))
    }
}

/// A special token of the byte-level vocabulary (`<|tool|>`), which no text produces: what a
/// GBNF token element becomes there.
const BYTES_SPECIAL_TOKEN: u32 = 256;

/// Whether `pattern` is a regular expression the engine cannot run for what it uses
/// (look-around, back-references), rather than for being malformed (which stays an error).
fn pattern_unsupported(pattern: &str) -> bool {
    let schema = serde_json::json!({"type": "string", "pattern": pattern});
    match bytes_env().create_parser(TopLevelGrammar::from_json_schema(schema)) {
        Ok(_) => false,
        Err(e) => {
            let msg = e.to_string();
            msg.contains("look-around") || msg.contains("backreference")
        }
    }
}

/// serde_json's message without its " at line L column C" (the caller says where).
fn strip_position(msg: &str) -> &str {
    msg.find(" at line ").map_or(msg, |i| &msg[..i])
}

/// llguidance appends its parser state to some messages; the first line says what is wrong.
fn first_line(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or("").trim();
    line.strip_prefix("Parser Error: ")
        .unwrap_or(line)
        .to_string()
}

/// The engine's factory over 256 one-byte tokens (for [`Grammar::accepts`] and checking).
fn bytes_env() -> &'static ParserFactory {
    static ENV: OnceLock<ParserFactory> = OnceLock::new();
    ENV.get_or_init(|| {
        let env = toktrie::ApproximateTokEnv::single_byte_env();
        let mut f = ParserFactory::new_simple(&env).expect("the byte vocabulary is valid");
        f.quiet();
        f
    })
}

/// A vocabulary as the grammar engine sees it: every token's bytes in a trie (control tokens
/// marked special so no text matches them), made once per model and shared by every
/// [`GrammarConstraint`] on it.
#[derive(Clone)]
pub struct GrammarVocab {
    factory: Arc<ParserFactory>,
    /// End-of-generation tokens: allowed exactly when the engine allows its end token.
    eog: Vec<u32>,
    eos: u32,
    n_vocab: usize,
}

impl core::fmt::Debug for GrammarVocab {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GrammarVocab")
            .field("n_vocab", &self.n_vocab)
            .field("eog", &self.eog)
            .finish()
    }
}

struct VocabEnv {
    trie: TokTrie,
}

impl TokenizerEnv for VocabEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<u32> {
        self.trie.greedy_tokenize(s)
    }

    /// Not canonical: the engine then never forces one tokenization of text the grammar
    /// fixes, and allows every token whose bytes continue it, as llama.cpp's grammars do.
    fn tokenize_is_canonical(&self) -> bool {
        false
    }
}

impl GrammarVocab {
    /// The engine's view of `vocab` (57 ms for 32k tokens in a release build, more in a
    /// debug one: make it once per model).
    pub fn new(vocab: &Vocab) -> Result<GrammarVocab> {
        let n = vocab.n_tokens();
        if n == 0 {
            return Err(Error::BadParams {
                reason: "a grammar needs a vocabulary with tokens".into(),
            });
        }
        let mut words: Vec<Vec<u8>> = Vec::with_capacity(n);
        for id in 0..n as u32 {
            let attr = vocab.token_attr(id)?;
            let piece = vocab.token_to_piece(id, true)?;
            let special = attr
                .intersects(TokenAttr::CONTROL | TokenAttr::UNKNOWN | TokenAttr::UNUSED)
                || piece.is_empty();
            if special {
                // 0xFF marks a special token for the engine: no text can contain it.
                let mut w = vec![0xFF];
                let text = vocab.token_text(id).unwrap_or("");
                if text.is_empty() {
                    w.extend_from_slice(format!("<[{id}]>").as_bytes());
                } else {
                    w.extend_from_slice(text.as_bytes());
                }
                words.push(w);
            } else {
                words.push(piece.to_vec());
            }
        }
        let eog: Vec<u32> = vocab.eog_ids().collect();
        let eos = vocab.eos().or(vocab.eot());
        Self::build(words, eog, eos)
    }

    /// A vocabulary given as each token's bytes, with `special` the ids of control tokens
    /// (no text matches them; a grammar names them as `<[id]>`) and `eog` the
    /// end-of-generation tokens (for a host's own tokenizer, and for tests).
    pub fn from_token_bytes(
        tokens: &[&[u8]],
        special: &[u32],
        eog: &[u32],
    ) -> Result<GrammarVocab> {
        let words = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| {
                if special.contains(&(id as u32)) || t.is_empty() {
                    let mut w = vec![0xFF];
                    w.extend_from_slice(format!("<[{id}]>").as_bytes());
                    w
                } else {
                    t.to_vec()
                }
            })
            .collect();
        Self::build(words, eog.to_vec(), eog.first().copied())
    }

    fn build(words: Vec<Vec<u8>>, eog: Vec<u32>, eos: Option<u32>) -> Result<GrammarVocab> {
        let n = words.len();
        if n == 0 || n > u32::MAX as usize {
            return Err(Error::BadParams {
                reason: format!("a grammar vocabulary of {n} tokens"),
            });
        }
        if let Some(&bad) = eog.iter().find(|&&t| t as usize >= n) {
            return Err(Error::BadToken {
                token: bad,
                n_vocab: n,
            });
        }
        // The engine's end token: the first end-of-generation token; a vocabulary without one
        // has none (the engine's "invalid token", which no mask allows).
        let eos = eos
            .or_else(|| eog.first().copied())
            .unwrap_or(toktrie::INVALID_TOKEN);
        let info = TokRxInfo {
            vocab_size: n as u32,
            tok_eos: eos,
            tok_bos: None,
            tok_pad: None,
            tok_unk: None,
            tok_end_of_turn: None,
        };
        let env: TokEnv = Arc::new(VocabEnv {
            trie: TokTrie::from(&info, &words),
        });
        let mut factory = ParserFactory::new_simple(&env).map_err(|e| Error::BadGrammar {
            reason: format!("the vocabulary: {e}"),
        })?;
        factory.quiet();
        Ok(GrammarVocab {
            factory: Arc::new(factory),
            eog,
            eos,
            n_vocab: n,
        })
    }

    /// A constraint that makes the output match `grammar`.
    pub fn constraint(&self, grammar: &Grammar) -> Result<GrammarConstraint> {
        let matcher = grammar.matcher(&self.factory, false)?;
        Ok(GrammarConstraint {
            start: matcher.clone(),
            matcher,
            vocab: self.clone(),
            what: grammar.what(),
        })
    }
}

/// A grammar applied to a vocabulary: a [`Constraint`] for the sampler.
#[derive(Clone)]
pub struct GrammarConstraint {
    matcher: Matcher,
    /// The matcher before any token, for [`Constraint::reset`].
    start: Matcher,
    vocab: GrammarVocab,
    what: &'static str,
}

impl core::fmt::Debug for GrammarConstraint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GrammarConstraint")
            .field("what", &self.what)
            .finish()
    }
}

impl GrammarConstraint {
    /// `grammar` over `vocab` (builds a [`GrammarVocab`]; make one and call
    /// [`GrammarVocab::constraint`] to share it between generations).
    pub fn new(grammar: &Grammar, vocab: &Vocab) -> Result<GrammarConstraint> {
        GrammarVocab::new(vocab)?.constraint(grammar)
    }

    /// Whether the tokens accepted so far form a complete match (an end-of-generation token
    /// is allowed now).
    pub fn is_accepting(&mut self) -> bool {
        (self.matcher.is_stopped() && !self.matcher.is_error())
            || self.matcher.is_accepting().unwrap_or(false)
    }

    /// Whether nothing but the end can follow.
    pub fn is_finished(&self) -> bool {
        self.matcher.is_stopped()
    }

    fn failed(&self, why: impl core::fmt::Display) -> Error {
        let why = first_line(&why.to_string());
        // The engine's name for "no token's bytes continue the text".
        let why = if why.contains("NoExtensionBias") {
            "no token of the vocabulary continues the text".to_string()
        } else {
            why
        };
        Error::ConstraintFailed {
            reason: format!("{}: {why}", self.what),
        }
    }
}

impl Constraint for GrammarConstraint {
    fn apply(&mut self, cands: &mut Candidates) -> Result<()> {
        if let Some(e) = self.matcher.get_error() {
            return Err(self.failed(e));
        }
        if self.matcher.is_stopped() {
            // Complete, and nothing can follow: only the end.
            let eog = &self.vocab.eog;
            cands.retain(|d| eog.contains(&d.id));
            if cands.is_empty() {
                return Err(self.failed(
                    "the text is complete and the vocabulary has no end-of-generation token",
                ));
            }
            return Ok(());
        }
        let mask = self.matcher.compute_mask().map_err(|e| self.failed(e))?;
        let end_ok =
            (self.vocab.eos as usize) < self.vocab.n_vocab && mask.is_allowed(self.vocab.eos);
        let eog = &self.vocab.eog;
        cands.retain(|d| {
            if eog.contains(&d.id) {
                end_ok
            } else {
                (d.id as usize) < self.vocab.n_vocab && mask.is_allowed(d.id)
            }
        });
        if cands.is_empty() {
            return Err(self.failed("no token of the vocabulary continues the text"));
        }
        Ok(())
    }

    fn accept(&mut self, token: u32) -> Result<()> {
        if self.vocab.eog.contains(&token) {
            // The end: allowed when the text is complete; the engine needs nothing more.
            return if self.is_accepting() {
                Ok(())
            } else {
                Err(self.failed("an end-of-generation token before the grammar is complete"))
            };
        }
        // Checked first: a refused token would leave the engine in its error state.
        match self.matcher.validate_tokens(&[token]) {
            Ok(1) => self
                .matcher
                .consume_token(token)
                .map_err(|e| self.failed(e)),
            Ok(_) => Err(self.failed(format_args!("token {token} is not allowed here"))),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn reset(&mut self) {
        self.matcher = self.start.clone();
    }

    fn box_clone(&self) -> Box<dyn Constraint> {
        Box::new(self.clone())
    }

    fn describe(&self) -> &str {
        self.what
    }
}

#[cfg(test)]
mod tests;
