//! Numerics at real model shapes (issue 14): one-layer models with CodeLlama-70B-Instruct's layer
//! shape (embedding 8192, 64 query heads and 8 KV heads of 128, feed-forward 28672, the real
//! 32016-token vocabulary) in every published quantisation, and with CodeLlama-13B's (5120, 40
//! heads of 128 without GQA, 13824, rope theta 1e6), against llama.cpp's logits and greedy
//! continuations, bit for bit.
//!
//! The models are gigabytes, so they are not committed: `scripts/shape/make.sh` rebuilds them
//! from a seeded generator (the `make_shape_model` example) and llama.cpp's quantizer, checks
//! each file against `scripts/shape/SHA256SUMS` and leaves a `.verified` stamp beside it; this
//! test refuses a file without a current stamp. The goldens (`tests/fixtures/golden/shape/`,
//! made by `scripts/shape/goldens.py`) hold the SHA-256 of the logits rather than the logits,
//! plus the top logits to measure a difference with.
//!
//! Run it as `cargo test --release --test shape_golden` (plain `cargo test` leaves it out: it
//! needs the models). `LLAMETTE_SHAPE_CASES=code,review` checks only those prompts of each
//! golden, `LLAMETTE_SHAPE_MODELS=q4_k,13b` only the files whose names contain one of those
//! (CI's scalar-reference run takes a subset); the test prints what it checked.

mod common;

use common::shape;
use llamette::ThreadPool;

#[test]
fn real_shape_models_match_llama_cpp_bit_for_bit() {
    let par = ThreadPool::new(2);
    let models = shape::expected_models();
    let filtered = std::env::var_os("LLAMETTE_SHAPE_MODELS").is_some();
    assert!(
        models.len() >= if filtered { 1 } else { 13 },
        "SHA256SUMS lists {} models (LLAMETTE_SHAPE_MODELS filters them)",
        models.len()
    );
    let mut failed = Vec::new();
    for (name, sum) in &models {
        match shape::check_file(name, sum, &par) {
            Ok(line) => eprintln!("{line}"),
            Err(report) => {
                eprintln!("{report}");
                failed.push(name.clone());
            }
        }
    }
    assert!(failed.is_empty(), "differ from llama.cpp: {failed:?}");
}
