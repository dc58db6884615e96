//! Token ids (some out of range on purpose) through fixed vocabularies: the streaming
//! `Detokenizer` and `Vocab::detokenize`. Out-of-range ids are errors (and leave the stream
//! unchanged); the streamed text equals the lossy whole-sequence text of the valid ids.
//! Input: [vocab and flags][3 bytes per id...].
//! The body is `llamette_fuzz::targets::detokenize::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::detokenize::run(data));
