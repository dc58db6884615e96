//! SmolLM2-135M-Instruct (a real model, Q4_1) against llama.cpp's goldens: three prompts, the
//! logits after each, and 48 greedily chosen tokens. The model is not committed: fetch it with
//! `scripts/fetch-smollm2.sh` (the CI script does).

mod common;

use common::{check_model, fixture, parse_json};
use llamette::{Model, ThreadPool};

#[test]
fn smollm2_matches_llama_cpp() {
    let path = common::smollm2_path();
    let model = Model::load(&path).unwrap();
    let golden = parse_json(
        std::str::from_utf8(&fixture("golden/smollm2-135m-instruct.q4_1.json")).unwrap(),
    )
    .unwrap();
    let pool = ThreadPool::new(2);
    let worst = check_model(&model, &golden, "smollm2-135m-instruct.q4_1", &pool, 48);
    eprintln!("smollm2-135m-instruct.q4_1: max |diff| / max |logit| = {worst:.2e}");
}
