//! Tokenizers built from the vocabulary inside a GGUF file (work in progress).

pub mod pretokenize;
pub mod unicode;
