//! Arbitrary bytes as a request body for the server: parsed as each endpoint's dialect reads
//! it; an error is fine, a panic is not. Input: [dialect][body].
//! The body is `llamette_fuzz::targets::server_request::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::server_request::run(data));
