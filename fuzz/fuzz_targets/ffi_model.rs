//! The C ABI over arbitrary bytes: `llamette_model_from_memory` (and `_from_parts` with the
//! bytes cut in two), then info, metadata, tokenize, a context and one eval of a small model,
//! and the frees. A panic inside the boundary is a crash (libFuzzer's panic hook aborts before
//! the boundary can turn it into LLAMETTE_ERR_PANIC), and so is LLAMETTE_ERR_PANIC itself.
//! Input: [cut selector][file bytes...].
//! The body is `llamette_fuzz::targets::ffi_model::run` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| llamette_fuzz::targets::ffi_model::run(data));
