//! Arbitrary text as a JSON schema: `Grammar::json_schema`; a schema that builds matches
//! strings from the input with `accepts_bytes`, and its constraint's masks on a byte
//! vocabulary agree.
//! Input: [schema text][0][string][0][string]...
//! The body is `llamette_fuzz::targets::json_schema::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::json_schema::run(data));
