//! Token ids and pieces against llama.cpp (0c1e570) for two real vocabularies:
//! CodeLlama-70B-Instruct (SPM, `tests/fixtures/vocab/codellama-70b-instruct-vocab.gguf`) and
//! SmolLM2-135M-Instruct (byte-level BPE, the real model `models/smollm2-135m-instruct.q4_1.gguf`,
//! fetched by `scripts/fetch-smollm2.sh`).
//!
//! For each of the 47 texts of `tests/fixtures/golden/tok-*.json`: `ids` is
//! `llama_tokenize(add_special = false, parse_special = false)`, `ids_special` is
//! `llama_tokenize(add_special = true, parse_special = true)`, and `pieces` maps every id used to
//! `llama_token_to_piece(special = true)`.

mod common;
mod tokenizer_support;

use common::{fixture, parse_json, Json};
use llamette::gguf::GgufFile;
use llamette::tokenizer::{Vocab, VocabType};
use tokenizer_support::{check_detokenization, check_streaming, vocab_from_bytes};

fn smollm2_vocab() -> Vocab {
    let path = common::smollm2_path();
    let file = GgufFile::open(&path).unwrap();
    Vocab::from_gguf(file.header()).unwrap()
}

fn codellama_vocab() -> Vocab {
    vocab_from_bytes(fixture("vocab/codellama-70b-instruct-vocab.gguf"))
}

fn golden(name: &str) -> Json {
    parse_json(std::str::from_utf8(&fixture(&format!("golden/{name}"))).unwrap()).unwrap()
}

/// Compares ids, special ids and pieces; checks detokenization of both id lists.
///
/// `special_prefix`: what detokenizing `ids_special` with `remove_special = true,
/// unparse_special = true` puts in front of a non-empty text. For SPM with BOS it is `" "`:
/// llama.cpp's `detokenize` removes the BOS and, having removed it, does *not* strip the space
/// that tokenizing prefixed (`remove_space = false` after a removed BOS). For SmolLM2 (no BOS,
/// no space prefix, no clean-up) it is `""`.
fn check_golden(vocab: &Vocab, g: &Json, special_prefix: &str) {
    let cases = g["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 47);
    let mut failures = Vec::new();
    let (mut ok_ids, mut ok_special) = (0, 0);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want = case["ids"].u32_vec();
        let got = vocab.tokenize(text, false, false).unwrap();
        if got == want {
            ok_ids += 1;
        } else {
            failures.push(format!(
                "ids of {text:?}\n    want {want:?}\n    got  {got:?}"
            ));
        }
        let want_s = case["ids_special"].u32_vec();
        let got_s = vocab.tokenize(text, true, true).unwrap();
        if got_s == want_s {
            ok_special += 1;
        } else {
            failures.push(format!(
                "ids_special of {text:?}\n    want {want_s:?}\n    got  {got_s:?}"
            ));
        }

        if let Err(e) = check_detokenization(vocab, text, &got) {
            failures.push(e);
        }
        for flags in [(false, false), (true, true)] {
            if let Err(e) = check_streaming(vocab, &got_s, flags.0, flags.1) {
                failures.push(e);
            }
        }
        let back = vocab.detokenize(&got_s, true, true).unwrap();
        let want_back = if text.is_empty() {
            String::new()
        } else {
            format!("{special_prefix}{text}")
        };
        if back != want_back.as_bytes() {
            failures.push(format!(
                "detokenize(ids_special, true, true) of {text:?}: {:?}",
                String::from_utf8_lossy(&back)
            ));
        }
    }
    let pieces = g["pieces"].as_object().unwrap();
    assert!(pieces.len() > 100);
    let mut ok_pieces = 0;
    for (id, bytes) in pieces {
        let id: u32 = id.parse().unwrap();
        let want: Vec<u8> = bytes.u32_vec().into_iter().map(|b| b as u8).collect();
        let got = vocab.token_to_piece(id, true).unwrap();
        if got == want.as_slice() {
            ok_pieces += 1;
        } else {
            failures.push(format!("piece of {id}: want {want:?}, got {got:?}"));
        }
    }
    eprintln!(
        "{}: ids {ok_ids}/47, ids_special {ok_special}/47, pieces {ok_pieces}/{}",
        g["vocab"].as_str().unwrap(),
        pieces.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn codellama_70b_instruct_matches_llama_cpp() {
    let vocab = codellama_vocab();
    assert_eq!(vocab.vocab_type(), VocabType::Spm);
    check_golden(&vocab, &golden("tok-codellama-70b-instruct.json"), " ");
}

#[test]
fn smollm2_matches_llama_cpp() {
    let vocab = smollm2_vocab();
    assert_eq!(vocab.vocab_type(), VocabType::Bpe);
    check_golden(&vocab, &golden("tok-smollm2-135m-instruct.json"), "");
}

/// `tests/fixtures/chat/codellama-70b-instruct.json`: llama.cpp tokenizing the rendered chat
/// prompt with special tokens parsed (no BOS added: the prompt starts with `<s>`). Text after
/// each special token gets SPM's space prefix again, which is why llama.cpp leaves a lone `▁`
/// (29871) on both sides of every `<step>`.
#[test]
fn codellama_chat_prompt_with_special_tokens() {
    let vocab = codellama_vocab();
    let chat =
        parse_json(std::str::from_utf8(&fixture("chat/codellama-70b-instruct.json")).unwrap())
            .unwrap();
    let prompt = chat["expected_prompt"].as_str().unwrap();
    let want = chat["llama_cpp_tokens_of_expected_prompt"].u32_vec();
    assert_eq!(vocab.tokenize(prompt, false, true).unwrap(), want);
    // With add_special a second BOS goes in front, as llama.cpp does (it only warns).
    let mut with_bos = vec![1];
    with_bos.extend_from_slice(&want);
    assert_eq!(vocab.tokenize(prompt, true, true).unwrap(), with_bos);
    // Without parse_special, `<s>` and `<step>` are text.
    let plain = vocab.tokenize(prompt, false, false).unwrap();
    assert!(!plain.contains(&1) && !plain.contains(&32015));
    // Detokenizing with unparse_special renders `<s>` and `<step>` again. The space prefix that
    // tokenizing gave the text after each special token stays: llama.cpp strips one leading
    // space only from the first piece (here `<s>`, which has none).
    let back = String::from_utf8(vocab.detokenize(&want, false, true).unwrap()).unwrap();
    assert_eq!(
        back,
        prompt.replace("<s>", "<s> ").replace("<step>", "<step> ")
    );
    // Without unparse_special the control tokens render as nothing.
    let back = String::from_utf8(vocab.detokenize(&want, false, false).unwrap()).unwrap();
    assert_eq!(back, prompt.replace("<s>", " ").replace("<step>", " "));
}

/// Special ids and end-of-generation sets, as llama.cpp's loader resolves them.
#[test]
fn special_ids_and_end_of_generation() {
    let v = codellama_vocab();
    let s = v.special();
    assert_eq!(
        (s.bos, s.eos, s.unk, s.pad),
        (Some(1), Some(2), Some(0), None)
    );
    assert_eq!(s.eot, Some(32015)); // tokenizer.ggml.eot_token_id: <step>
    assert_eq!(
        (s.fim_pre, s.fim_suf, s.fim_mid),
        (Some(32007), Some(32008), Some(32009))
    );
    assert_eq!(s.newline, Some(13)); // <0x0A>
    assert_eq!(v.eog_ids().collect::<Vec<_>>(), vec![2, 32015]);
    assert!(v.add_bos() && !v.add_eos() && v.add_space_prefix() && !v.clean_spaces());
    // `▁<PRE>` is user-defined in the file; llama.cpp makes the FIM tokens control tokens, so
    // they are no longer matched in plain text and render as nothing without `special`.
    use llamette::tokenizer::TokenAttr;
    assert!(v
        .token_attr(32007)
        .unwrap()
        .contains(TokenAttr::CONTROL | TokenAttr::USER_DEFINED));
    assert_eq!(v.token_to_piece(32007, false).unwrap(), b"");
    assert_eq!(v.token_to_piece(32007, true).unwrap(), "▁<PRE>".as_bytes());
    // `▁<EOT>` stays user-defined: matched even without parse_special.
    assert_eq!(
        v.tokenize("a▁<EOT>", false, false).unwrap(),
        vec![263, 32010]
    );

    let v = smollm2_vocab();
    let s = v.special();
    assert_eq!(
        (s.bos, s.eos, s.unk, s.pad),
        (Some(1), Some(2), Some(0), Some(2))
    );
    // No eot key: llama.cpp finds `<|im_end|>` or `<|endoftext|>` by text, whichever its hash
    // map yields first (`<|endoftext|>`, llama.cpp's `llama_vocab_eot` on this file).
    // `<reponame>` is taken as the FIM repository token, which llama.cpp counts as EOG.
    assert_eq!(s.eot, Some(0));
    assert_eq!(s.fim_rep, Some(4));
    assert_eq!(s.newline, Some(198));
    assert_eq!(v.eog_ids().collect::<Vec<_>>(), vec![0, 2, 4]);
    assert!(!v.add_bos() && !v.add_eos() && !v.add_space_prefix() && !v.clean_spaces());
    assert_eq!(v.pre_name(), "smollm");
    // Text between special tokens is tokenized on its own (" Hello world" is [38699, 905] in
    // the golden); without parse_special the markers are text.
    assert_eq!(
        v.tokenize("<|im_start|> Hello world<|im_end|>", false, true)
            .unwrap(),
        vec![1, 38699, 905, 2]
    );
    let plain = v
        .tokenize("<|im_start|> Hello world<|im_end|>", true, false)
        .unwrap();
    assert!(!plain.contains(&1) && !plain.contains(&2) && plain.len() > 4);
}
