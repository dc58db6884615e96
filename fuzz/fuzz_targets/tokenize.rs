//! Text through fixed vocabularies (CodeLlama SPM, GPT-2, Llama 3, Qwen2): tokenize, every
//! produced id has a piece, detokenize and stream-detokenize agree.
//! Input: [vocab and flags][text (lossy UTF-8)...].
//! The body is `llamette_fuzz::targets::tokenize::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::tokenize::run(data));
