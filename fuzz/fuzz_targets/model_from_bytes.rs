//! Arbitrary bytes as a model: `Model::from_bytes`; a small model that loads is evaluated.
//! The body is `llamette_fuzz::targets::model_from_bytes::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::model_from_bytes::run(data));
