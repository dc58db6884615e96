//! Arbitrary text as a Jinja chat template: `ChatTemplate::new`, then renders over messages
//! from the input; an error is fine, a panic or a hang is not.
//! Input: [template][0][role][0][content]...
//! The body is `llamette_fuzz::targets::chat_template::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::chat_template::run(data));
