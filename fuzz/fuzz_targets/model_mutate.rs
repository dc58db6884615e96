//! A valid tiny model (embedded fixture), edited by the input: metadata values (type, value,
//! array length and elements, keys), tensor table (type, shape, offset, name, order, data),
//! version, raw byte pokes; re-written with `gguf::Writer`; then `Model::from_bytes`,
//! `Vocab::from_gguf`, and a context with one small evaluation.
//! Input: [fixture][n_ops][ops...][token choices...].
//! The body is `llamette_fuzz::targets::model_mutate::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::model_mutate::run(data));
