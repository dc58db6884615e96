//! Text through fixed vocabularies (CodeLlama SPM, GPT-2, Llama 3, Qwen2): tokenize, every
//! produced id has a piece, detokenize and stream-detokenize agree.
//! Input: [vocab and flags][text (lossy UTF-8)...].
#![no_main]
use libfuzzer_sys::fuzz_target;
use llamette_fuzz::{check_ids_detok, vocabs};

fuzz_target!(|data: &[u8]| {
    let Some((&b, rest)) = data.split_first() else {
        return;
    };
    let vocab = &vocabs()[b as usize % 4];
    let text = String::from_utf8_lossy(rest);
    if let Ok(ids) = vocab.tokenize(&text, b & 4 != 0, b & 8 != 0) {
        check_ids_detok(vocab, &ids, b & 16 != 0);
    }
});
