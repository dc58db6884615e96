//! Tokenizers built from the vocabulary inside a GGUF file, matching llama.cpp token for token.
//!
//! [`Vocab::from_gguf`] reads `tokenizer.ggml.*` metadata for the two tokenizers llama-family
//! models use: SentencePiece-style BPE (`"llama"`: Llama 2, CodeLlama, Mistral, Phi-3) and
//! byte-level BPE (`"gpt2"`: Llama 3, Qwen2, SmolLM, StarCoder, GPT-2, ...).
//! [`Vocab::tokenize`] is `llama_tokenize`, [`Vocab::token_to_piece`] is
//! `llama_token_to_piece`, [`Vocab::detokenize`] is `llama_detokenize`, and [`Detokenizer`]
//! streams the same text token by token without ever splitting a UTF-8 character.
//!
//! Reference: llama.cpp 0c1e570, `src/llama-vocab.cpp` and `src/unicode.cpp`. The suites of
//! llama.cpp's `test-tokenizer-0` (`tests/fixtures/vocab/ggml-vocab-*.gguf`) pass in full; see
//! `tests/tokenizer_*.rs`.
//!
//! Known differences from llama.cpp, all outside its defined behaviour:
//! - when several tokens carry texts that llama.cpp recognises as EOT or fill-in-the-middle
//!   markers (and no metadata key names the id), llama.cpp picks the first its hash map yields;
//!   here that order is GCC libstdc++'s on 64-bit targets (llama.cpp built with libc++ or for
//!   32 bits may pick another);
//! - special tokens of equal text length are matched in id order (llama.cpp: unstable sort);
//! - where llama.cpp throws (a byte token the text needs is missing, BOS asked for but absent) an
//!   `Err` is returned;
//! - `*_token_id` keys may have any integer type whose value fits in u32 (llama.cpp wants u32);
//!   a model named like Phi-3 that lacks one of the tokens llama.cpp adjusts by text still loads
//!   (llama.cpp throws).

pub mod pretokenize;
pub mod unicode;

mod bpe;
mod detok;
pub(crate) mod index;
mod spm;
mod vocab;

pub use detok::{Detokenizer, Utf8Decoder};
pub use vocab::{SpecialTokens, TokenAttr, Vocab, VocabType};
