//! Arbitrary bytes as a model: `Model::from_bytes`; a small model that loads is evaluated.
#![no_main]
use libfuzzer_sys::fuzz_target;
use llamette::model::Model;
use llamette::tokenizer::Vocab;
use llamette_fuzz::{exercise_vocab, run_small_model, Input};

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_bytes(data) else {
        return;
    };
    if let Ok(v) = Vocab::from_gguf(model.header()) {
        exercise_vocab(&v, "Hello <s> world");
    }
    // Token choices from the input's last bytes (the head is the file).
    let tail = &data[data.len().saturating_sub(8)..];
    run_small_model(&model, data.len(), &mut Input::new(tail));
});
