//! Vocabularies: (a) the input as a GGUF file -> `Vocab::from_gguf`; (b) a vocabulary built
//! from the input (tokens, scores, types, merges, model "llama"/"gpt2", a pre-tokenizer name,
//! special ids and flags) written with `gguf::Writer`, loaded, then a text from the rest of
//! the input tokenized (both parse_special settings) and detokenized.
//! Input: [mode][...]; mode even = raw GGUF, odd = structured.
//! The body is `llamette_fuzz::targets::vocab::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::vocab::run(data));
