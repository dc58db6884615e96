//! A valid tiny model (embedded fixture), edited by the input: metadata values (type, value,
//! array length and elements, keys), tensor table (type, shape, offset, name, order, data),
//! version, raw byte pokes; re-written with `gguf::Writer`; then `Model::from_bytes`,
//! `Vocab::from_gguf`, and a context with one small evaluation.
//! Input: [fixture][n_ops][ops...][token choices...].
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use llamette::gguf::GgufFile;
use llamette::model::Model;
use llamette::tokenizer::Vocab;
use llamette_fuzz::{
    exercise_vocab, fixtures, mutate, run_small_model, walk_header, EditGguf, Input,
};

fn bases() -> &'static [EditGguf; 2] {
    static B: OnceLock<[EditGguf; 2]> = OnceLock::new();
    B.get_or_init(|| {
        let p = |b| EditGguf::from_file(&GgufFile::from_bytes(b).expect("fixture parses"));
        [p(fixtures::TINY_Q2_K), p(fixtures::TINY_TIED_Q4_K_M)]
    })
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let mut g = bases()[inp.u8() as usize & 1].clone();
    let n_ops = 1 + inp.u8() as usize % 8;
    let raw = mutate(&mut g, &mut inp, n_ops);
    let Some(mut bytes) = g.to_bytes() else {
        return;
    };
    raw.apply(&mut bytes);
    if let Ok(f) = GgufFile::from_bytes(&bytes) {
        walk_header(f.header());
        if let Ok(v) = Vocab::from_gguf(f.header()) {
            exercise_vocab(&v, "<s>Hello world </s> <step> \u{fc} \u{1f600}\n\tx");
        }
    }
    if let Ok(model) = Model::from_bytes(&bytes) {
        run_small_model(&model, bytes.len(), &mut inp);
    }
});
