//! llama.cpp's tokenizer test suites (`tests/test-tokenizer-0.cpp`), all eight vocabularies in
//! `tests/fixtures/vocab/`: every text of `ggml-vocab-<name>.gguf.inp` must tokenize to the ids
//! on the same line of `.out` (Hugging Face's ids, no BOS), with `add_special = false` and
//! `parse_special = false` as `test-tokenizer-0` calls `common_tokenize`. Each suite also checks
//! detokenization (round trip where llama.cpp has it, streaming, UTF-8 assembly at every split;
//! see `tokenizer_support::check_detokenization`).

mod common;
mod tokenizer_support;

use common::fixture;
use tokenizer_support::{check_detokenization, parse_out, split_inp, vocab_from_bytes};

fn run_suite(name: &str) {
    let base = format!("vocab/ggml-vocab-{name}.gguf");
    let vocab = vocab_from_bytes(fixture(&base));
    let inp = String::from_utf8(fixture(&format!("{base}.inp"))).unwrap();
    let out = String::from_utf8(fixture(&format!("{base}.out"))).unwrap();
    let texts = split_inp(&inp);
    let expected = parse_out(&out);
    assert_eq!(
        texts.len(),
        expected.len(),
        "{name}: .inp and .out disagree on the count"
    );
    assert!(texts.len() >= 40, "{name}: only {} texts", texts.len());

    let mut failures = Vec::new();
    let mut passed = 0;
    for (text, want) in texts.iter().zip(&expected) {
        let got = vocab.tokenize(text, false, false).unwrap();
        if &got == want {
            passed += 1;
        } else {
            failures.push(format!("  {text:?}\n    want {want:?}\n    got  {got:?}"));
        }
        if let Err(e) = check_detokenization(&vocab, text, &got) {
            failures.push(format!("  detokenization: {e}"));
        }
    }
    eprintln!(
        "{name}: {passed}/{} texts tokenize as llama.cpp",
        texts.len()
    );
    assert!(
        failures.is_empty(),
        "{name}: {passed}/{} passed\n{}",
        texts.len(),
        failures.join("\n")
    );
}

#[test]
fn llama_spm() {
    run_suite("llama-spm");
}

#[test]
fn phi_3() {
    run_suite("phi-3");
}

#[test]
fn gpt_2() {
    run_suite("gpt-2");
}

#[test]
fn llama_bpe() {
    run_suite("llama-bpe");
}

#[test]
fn qwen2() {
    run_suite("qwen2");
}

#[test]
fn starcoder() {
    run_suite("starcoder");
}

#[test]
fn deepseek_coder() {
    run_suite("deepseek-coder");
}

#[test]
fn falcon() {
    run_suite("falcon");
}
