//! Logits and greedy continuations against llama.cpp's, for every tiny fixture model.
//!
//! The goldens (tests/fixtures/golden/<model>.json) were made by llama.cpp 0c1e570 on the CPU
//! backend with an f16 KV cache, flash attention off, 2 threads: for each prompt, the logits at
//! every position (or the top 8 at each position and all logits at the last), and the 32
//! tokens that greedy decoding picks after the prompt.

mod common;

use common::{check_model, fixture, parse_json, MODELS};
use llamette::{Model, Serial};

#[test]
fn every_tiny_model_matches_llama_cpp() {
    let mut report = Vec::new();
    for name in MODELS {
        let bytes = fixture(&format!("models/{name}"));
        let model = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let golden_name = format!("golden/{}", name.replace(".gguf", ".json"));
        let golden = parse_json(std::str::from_utf8(&fixture(&golden_name)).unwrap()).unwrap();
        let worst = check_model(&model, &golden, name, &Serial, 32);
        report.push(format!("{name}: max |diff| / max |logit| = {worst:.2e}"));
    }
    for line in &report {
        eprintln!("{line}");
    }
}
