//! A model cut into 1-4 parts at offsets derived from the input: `Model::from_parts`.
//! Input: [n_cuts][4 bytes per cut][file bytes...].
//! The body is `llamette_fuzz::targets::model_from_parts::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::model_from_parts::run(data));
