//! Arbitrary text as a GBNF grammar: `Grammar::gbnf` (`gbnf_for` with a vocabulary for token
//! elements by text); a grammar that builds matches strings from the input with
//! `accepts_bytes`, and its constraint's masks on a byte vocabulary agree.
//! Input: [GBNF text][0][string][0][string]...
//! The body is `llamette_fuzz::targets::grammar::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::grammar::run(data));
