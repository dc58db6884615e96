//! Chat formats: a format by name or detected from a template string, messages (role,
//! content) from the input; `check`, `render`, `render_ids` with a fixed vocabulary and
//! `stop_tokens`.
//! Input: [selector][format name or template, 0-terminated][role 0 content 0 ...].
//! The body is `llamette_fuzz::targets::chat::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::chat::run(data));
