//! The tokenizer API on small hand-made vocabularies (built with `gguf::Writer`) and on the
//! llama.cpp suite vocabularies: special-token matching, byte fallback, the BOS/EOS and
//! leading-space rules of detokenizing, the streaming detokenizer's hold-backs, and errors.
//! Expected ids follow from llama.cpp's code (`src/llama-vocab.cpp`, 0c1e570), reasoned in each
//! test.

mod common;
mod tokenizer_support;

use common::fixture;
use llamette::gguf::writer::MetaValue;
use llamette::gguf::{ValueType, Writer};
use llamette::tokenizer::pretokenize::PreTokenizer;
use llamette::tokenizer::{TokenAttr, Vocab};
use llamette::Error;
use tokenizer_support::{check_streaming, vocab_from_bytes};

const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const BYTE: i32 = 6;

fn strings(v: &[&str]) -> MetaValue {
    MetaValue::Array(
        ValueType::String,
        v.iter().map(|s| MetaValue::String(s.to_string())).collect(),
    )
}

/// A small SPM vocabulary: `<unk> <s> </s>`, the 256 byte tokens (ids 3..=258), then
/// `▁`(259) `a`(260) `b`(261) `▁a`(262) `ab`(263) `▁ab`(264) and the user-defined `<user>`(265).
fn spm_writer(with_bytes: bool) -> Writer {
    let mut toks: Vec<(String, i32, f32)> = vec![
        ("<unk>".into(), UNKNOWN, 0.0),
        ("<s>".into(), CONTROL, 0.0),
        ("</s>".into(), CONTROL, 0.0),
    ];
    for b in 0..=255u32 {
        let text = if with_bytes {
            format!("<0x{b:02X}>")
        } else {
            format!("[unused{b}]")
        };
        toks.push((text, BYTE, 0.0));
    }
    for (t, s) in [
        ("▁", -1.0),
        ("a", -2.0),
        ("b", -3.0),
        ("▁a", -4.0),
        ("ab", -5.0),
        ("▁ab", -6.0),
    ] {
        toks.push((t.into(), NORMAL, s));
    }
    toks.push(("<user>".into(), USER_DEFINED, 0.0));
    let texts: Vec<&str> = toks.iter().map(|t| t.0.as_str()).collect();
    Writer::new()
        .meta("general.architecture", MetaValue::String("llama".into()))
        .meta("tokenizer.ggml.model", MetaValue::String("llama".into()))
        .meta("tokenizer.ggml.tokens", strings(&texts))
        .meta(
            "tokenizer.ggml.scores",
            MetaValue::Array(
                ValueType::F32,
                toks.iter().map(|t| MetaValue::F32(t.2)).collect(),
            ),
        )
        .meta(
            "tokenizer.ggml.token_type",
            MetaValue::Array(
                ValueType::I32,
                toks.iter().map(|t| MetaValue::I32(t.1)).collect(),
            ),
        )
}

fn spm(w: Writer) -> Result<Vocab, Error> {
    let file = llamette::gguf::GgufFile::from_vec(w.to_bytes().unwrap()).unwrap();
    Vocab::from_gguf(file.header())
}

const BYTE0: u32 = 3;

#[test]
fn spm_merges_byte_fallback_and_user_defined_tokens() {
    let v = spm(spm_writer(true)).unwrap();
    assert_eq!(v.n_tokens(), 266);
    assert_eq!(v.special().newline, Some(BYTE0 + 10));
    // "ab" -> "▁ab": "▁a" (score -4) merges before "ab" (-5), then "▁a"+"b" = "▁ab".
    assert_eq!(v.tokenize("ab", false, false).unwrap(), vec![264]);
    // 'c' is no token: byte fallback <0x63>.
    assert_eq!(
        v.tokenize("abc", false, false).unwrap(),
        vec![264, BYTE0 + 0x63]
    );
    // BOS in front with add_special (SPM default add_bos = true, add_eos = false).
    assert_eq!(v.tokenize("a", true, false).unwrap(), vec![1, 262]);
    assert_eq!(v.tokenize("", true, false).unwrap(), vec![1]);
    assert_eq!(v.tokenize("", false, false).unwrap(), Vec::<u32>::new());
    // A user-defined token is matched without parse_special; the text after it gets the space
    // prefix again ("▁b" is no token: "▁" + "b").
    assert_eq!(
        v.tokenize("a<user>b", false, false).unwrap(),
        vec![262, 265, 259, 261]
    );
    // A control token only with parse_special; as text, "<s>" is byte tokens.
    assert_eq!(v.tokenize("<s>a", false, true).unwrap(), vec![1, 262]);
    assert_eq!(
        v.tokenize("<s>a", false, false).unwrap(),
        vec![
            259,
            BYTE0 + b'<' as u32,
            BYTE0 + b's' as u32,
            BYTE0 + b'>' as u32,
            260
        ]
    );
    // The unknown token is special too, matched only with parse_special; a text that is only
    // special tokens has no text fragment, so no space prefix either.
    assert_eq!(v.tokenize("<unk>", false, true).unwrap(), vec![0]);
    assert_eq!(v.tokenize("<unk>a", false, true).unwrap(), vec![0, 262]);
    // Pieces: ▁ is a space, byte tokens are bytes, control tokens need `special`.
    assert_eq!(v.token_to_piece(262, false).unwrap(), b" a");
    assert_eq!(v.token_to_piece(BYTE0 + 0xff, false).unwrap(), &[0xff]);
    assert_eq!(v.token_to_piece(1, false).unwrap(), b"");
    assert_eq!(v.token_to_piece(1, true).unwrap(), b"<s>");
    assert_eq!(v.token_to_piece(265, false).unwrap(), b"<user>");
    assert_eq!(v.token_attr(265).unwrap(), TokenAttr::USER_DEFINED);
}

#[test]
fn spm_detokenize_leading_space_rules() {
    let v = spm(spm_writer(true)).unwrap();
    // Without BOS the first piece loses one leading space (the one tokenizing added).
    assert_eq!(v.detokenize(&[262, 262], false, false).unwrap(), b"a a");
    // Only one space: "  a" tokenizes to "▁▁a" = [259, 262] and comes back as " a".
    assert_eq!(v.tokenize(" a", false, false).unwrap(), vec![259, 262]);
    assert_eq!(v.detokenize(&[259, 262], false, false).unwrap(), b" a");
    // A BOS in front takes the strip (it renders as nothing): the space stays.
    assert_eq!(v.detokenize(&[1, 262], false, false).unwrap(), b" a");
    assert_eq!(v.detokenize(&[1, 262], false, true).unwrap(), b"<s> a");
    // remove_special drops the BOS and then does not strip either (llama.cpp's rule).
    assert_eq!(v.detokenize(&[1, 262], true, true).unwrap(), b" a");
    // add_eos is false, so remove_special keeps a trailing EOS.
    assert_eq!(v.detokenize(&[262, 2], true, true).unwrap(), b"a</s>");
    for ids in [&[1, 262][..], &[262, 2], &[259, 262], &[1], &[]] {
        for flags in [(false, false), (true, true), (true, false), (false, true)] {
            check_streaming(&v, ids, flags.0, flags.1).unwrap();
        }
    }
}

#[test]
fn eos_is_held_back_until_known_not_to_be_last() {
    let w = spm_writer(true).meta("tokenizer.ggml.add_eos_token", MetaValue::Bool(true));
    let v = spm(w).unwrap();
    assert!(v.add_eos());
    assert_eq!(v.tokenize("a", true, false).unwrap(), vec![1, 262, 2]);
    assert_eq!(v.detokenize(&[262, 2], true, true).unwrap(), b"a");
    assert_eq!(
        v.detokenize(&[262, 2, 262], true, true).unwrap(),
        b"a</s> a"
    );
    let mut d = v.detokenizer(true, true);
    assert_eq!(d.push(262).unwrap(), "a");
    assert_eq!(d.push(2).unwrap(), ""); // might be the last token
    assert_eq!(d.push(262).unwrap(), "</s> a"); // it was not
    assert_eq!(d.push(2).unwrap(), "");
    assert_eq!(d.finish(), ""); // it was: dropped
    for ids in [&[1, 262, 2][..], &[2], &[1, 2], &[2, 2], &[262, 2, 262, 2]] {
        for flags in [(false, false), (true, true), (true, false), (false, true)] {
            check_streaming(&v, ids, flags.0, flags.1).unwrap();
        }
    }
}

#[test]
fn streaming_never_splits_a_character_and_replaces_invalid_bytes() {
    let v = spm(spm_writer(true)).unwrap();
    // "é" is no token: "▁" then the bytes C3 A9.
    let ids = v.tokenize("é", false, false).unwrap();
    assert_eq!(ids, vec![259, BYTE0 + 0xc3, BYTE0 + 0xa9]);
    let mut d = v.detokenizer(false, false);
    assert_eq!(d.push(ids[0]).unwrap(), ""); // the prefix space, stripped
    assert_eq!(d.push(ids[1]).unwrap(), ""); // half a character: held
    assert_eq!(d.push(ids[2]).unwrap(), "é");
    assert_eq!(d.finish(), "");
    // A lone continuation byte is invalid: U+FFFD at once. A lead byte at the end: U+FFFD at
    // finish.
    assert_eq!(d.push(262).unwrap(), "a");
    assert_eq!(d.push(BYTE0 + 0xa9).unwrap(), "\u{fffd}");
    assert_eq!(d.push(BYTE0 + 0xc3).unwrap(), "");
    assert_eq!(d.finish(), "\u{fffd}");
    // The whole detokenization holds the raw bytes.
    assert_eq!(
        v.detokenize(&[262, BYTE0 + 0xa9, BYTE0 + 0xc3], false, false)
            .unwrap(),
        b"a\xa9\xc3"
    );
}

#[test]
fn out_of_range_ids_are_errors() {
    let v = spm(spm_writer(true)).unwrap();
    let bad = Error::BadToken {
        token: 266,
        n_vocab: 266,
    };
    assert_eq!(v.token_to_piece(266, true).unwrap_err(), bad);
    assert_eq!(v.token_text(266).unwrap_err(), bad);
    assert_eq!(v.detokenize(&[262, 266], false, false).unwrap_err(), bad);
    let mut d = v.detokenizer(false, false);
    assert_eq!(d.push(BYTE0 + 0xc3).unwrap(), "");
    assert_eq!(d.push(266).unwrap_err(), bad);
    // The failed push changed nothing: the pending byte completes as before.
    assert_eq!(d.push(BYTE0 + 0xa9).unwrap(), "é");
    assert_eq!(
        d.push(u32::MAX).unwrap_err(),
        Error::BadToken {
            token: u32::MAX,
            n_vocab: 266
        }
    );
}

#[test]
fn end_of_generation_set_can_be_extended() {
    let mut v = spm(spm_writer(true)).unwrap();
    assert_eq!(v.eog_ids().collect::<Vec<_>>(), vec![2]); // EOS
    assert!(v.is_eog(2) && !v.is_eog(265));
    v.add_eog(265).unwrap();
    assert!(v.is_eog(265));
    assert_eq!(
        v.add_eog(266).unwrap_err(),
        Error::BadToken {
            token: 266,
            n_vocab: 266
        }
    );
    assert!(v.remove_eog(265));
    assert!(!v.remove_eog(265));
}

#[test]
fn missing_byte_tokens_are_an_error_when_needed() {
    let v = spm(spm_writer(false)).unwrap();
    assert_eq!(v.special().newline, None);
    assert_eq!(v.tokenize("ab", false, false).unwrap(), vec![264]);
    match v.tokenize("ac", false, false) {
        Err(Error::BadMetadata { key, reason }) => {
            assert_eq!(key, "tokenizer.ggml.tokens");
            assert!(reason.contains("0x63"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_metadata_is_reported_with_its_key() {
    let key_of = |r: Result<Vocab, Error>| match r {
        Err(Error::BadMetadata { key, .. }) | Err(Error::MissingKey { key }) => key,
        Err(Error::WrongType { key, .. }) => key,
        other => panic!("expected an error, got {other:?}"),
    };
    // Tokenizers other than SPM and byte-level BPE.
    let w = spm_writer(true).meta("tokenizer.ggml.model", MetaValue::String("bert".into()));
    // (the later entry of a duplicated key is rejected by the GGUF parser; build afresh)
    let _ = w;
    let w = Writer::new()
        .meta("tokenizer.ggml.model", MetaValue::String("bert".into()))
        .meta("tokenizer.ggml.tokens", strings(&["a", "b"]));
    assert_eq!(key_of(spm(w)), "tokenizer.ggml.model");
    let w = Writer::new().meta("tokenizer.ggml.model", MetaValue::String("llama".into()));
    assert_eq!(key_of(spm(w)), "tokenizer.ggml.tokens");
    let w = Writer::new();
    assert_eq!(key_of(spm(w)), "tokenizer.ggml.model");
    // Duplicate token texts (llama.cpp asserts).
    let w = Writer::new()
        .meta("tokenizer.ggml.model", MetaValue::String("llama".into()))
        .meta("tokenizer.ggml.tokens", strings(&["a", "b", "a"]));
    assert_eq!(key_of(spm(w)), "tokenizer.ggml.tokens");
    // Scores shorter than the tokens.
    let w = Writer::new()
        .meta("tokenizer.ggml.model", MetaValue::String("llama".into()))
        .meta("tokenizer.ggml.tokens", strings(&["a", "b"]))
        .meta(
            "tokenizer.ggml.scores",
            MetaValue::Array(ValueType::F32, vec![MetaValue::F32(0.0)]),
        );
    assert_eq!(key_of(spm(w)), "tokenizer.ggml.scores");
    // Token types of the wrong element type.
    let w = Writer::new()
        .meta("tokenizer.ggml.model", MetaValue::String("llama".into()))
        .meta("tokenizer.ggml.tokens", strings(&["a", "b"]))
        .meta("tokenizer.ggml.token_type", strings(&["1", "1"]));
    assert_eq!(key_of(spm(w)), "tokenizer.ggml.token_type");
    // BPE: merges are required; the pre-tokenizer must be known, and implemented.
    let bpe = |pre: Option<&str>, merges: bool| {
        let mut w = Writer::new()
            .meta("tokenizer.ggml.model", MetaValue::String("gpt2".into()))
            .meta("tokenizer.ggml.tokens", strings(&["a", "b", "ab"]));
        if let Some(p) = pre {
            w = w.meta("tokenizer.ggml.pre", MetaValue::String(p.into()));
        }
        if merges {
            w = w.meta("tokenizer.ggml.merges", strings(&["a b"]));
        }
        spm(w)
    };
    assert_eq!(key_of(bpe(Some("gpt-2"), false)), "tokenizer.ggml.merges");
    assert_eq!(key_of(bpe(Some("no-such-pre"), true)), "tokenizer.ggml.pre");
    // Names llama.cpp knows load exactly when the pre-tokenizer module implements them.
    for name in [
        "gpt-2",
        "llama-bpe",
        "qwen2",
        "tekken",
        "gpt-4o",
        "gemma4",
        "whitespace",
        "sarvam-moe",
    ] {
        match PreTokenizer::from_name(name) {
            Some(_) => assert!(bpe(Some(name), true).is_ok(), "{name}"),
            None => assert_eq!(
                key_of(bpe(Some(name), true)),
                "tokenizer.ggml.pre",
                "{name}"
            ),
        }
    }
    // A minimal BPE vocabulary works (no pre key: llama.cpp's default pre-tokenizer). BOS and
    // EOS default to 11, outside these 3 tokens, so they are null.
    let v = bpe(None, true).unwrap();
    assert_eq!(v.tokenize("ab", false, false).unwrap(), vec![2]);
    assert_eq!(v.tokenize("ba", false, false).unwrap(), vec![1, 0]);
    assert_eq!((v.bos(), v.eos()), (None, None));
    assert_eq!(v.tokenize("ab", true, false).unwrap(), vec![2]); // no add_bos for "default"
                                                                 // A character outside the vocabulary is dropped, as llama.cpp does for byte-level BPE.
    assert_eq!(v.tokenize("acb", false, false).unwrap(), vec![0, 1]);
}

/// Phi-3: llama.cpp gives every special token of a model named "phi3"/"phi-3" `RSTRIP`
/// (except `<unk>`, `<s>`, `<|endoftext|>`), so whitespace after them is dropped. `</s>` is
/// user-defined in the file, but its text is on llama.cpp's end-of-generation list, which makes
/// it a control token too: matched only with parse_special.
#[test]
fn phi3_special_tokens_strip_whitespace_on_their_right() {
    let v = vocab_from_bytes(fixture("vocab/ggml-vocab-phi-3.gguf"));
    let user = v.token_id("<|user|>").unwrap();
    assert!(v.token_attr(user).unwrap().contains(TokenAttr::RSTRIP));
    assert!(!v.token_attr(1).unwrap().contains(TokenAttr::RSTRIP));
    let hello = v.tokenize("Hello", false, false).unwrap(); // "▁Hello"
    let mut want = vec![user];
    want.extend(&hello);
    assert_eq!(v.tokenize("<|user|>\n  Hello", false, true).unwrap(), want);
    assert_eq!(v.tokenize("<|user|>Hello", false, true).unwrap(), want);
    let a = v.token_id("▁a").unwrap();
    let b = v.token_id("▁b").unwrap();
    assert!(v
        .token_attr(2)
        .unwrap()
        .contains(TokenAttr::USER_DEFINED | TokenAttr::CONTROL));
    assert_eq!(
        v.tokenize("a</s> \t b", false, true).unwrap(),
        vec![a, 2, b]
    );
    assert!(!v.tokenize("a</s> \t b", false, false).unwrap().contains(&2));
    // In Llama 2's vocabulary `</s>` is a control token: without parse_special it is text.
    let llama = vocab_from_bytes(fixture("vocab/ggml-vocab-llama-spm.gguf"));
    assert!(!llama.tokenize("a</s>b", false, false).unwrap().contains(&2));
    assert_eq!(
        llama.tokenize("a</s>b", false, true).unwrap(),
        vec![a, 2, b]
    );
    // EOG: EOS (<|endoftext|>), and `<|end|>` and `</s>` by their texts.
    let end = v.token_id("<|end|>").unwrap();
    assert_eq!(v.eog_ids().collect::<Vec<_>>(), vec![2, 32000, end]);
    // `<|endoftext|>` and `<|end|>` both look like EOT; llama.cpp takes one in hash-map order
    // (`<|end|>` here, tests/vocab_special.rs), llamette the first of llama.cpp's list.
    assert_eq!(v.eot(), Some(end));
}

#[test]
fn vocab_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Vocab>();
    assert_send_sync::<llamette::tokenizer::Detokenizer<'static>>();
}
