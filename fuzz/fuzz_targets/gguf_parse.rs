//! Arbitrary bytes as a GGUF file: `GgufFile::from_bytes` (walking every metadata value and
//! tensor) and `GgufHeader::from_prefix` (the bytes as the prefix of a longer file).
//! The body is `llamette_fuzz::targets::gguf_parse::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::gguf_parse::run(data));
