//! Saved states, edited by the input, restored: an error or a state that evaluates on.
//! The body is `llamette_fuzz::targets::state::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::state::run(data));
