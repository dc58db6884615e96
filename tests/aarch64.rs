//! The model checks that matter most, as one program that runs on the main thread only: the
//! aarch64 suite run under qemu-user by `scripts/aarch64.sh` (a second thread hangs under
//! qemu-user on these machines, so no libtest harness and no thread pool here). It is an ordinary
//! test target too (`harness = false`): `cargo test --test aarch64` runs it natively.
//!
//! Each check prints `ok` or `FAILED` with its message; the last line is `N passed, M failed`,
//! and the exit status is 1 when anything failed.

mod common;

use common::{check_model, fixture, parse_json, MODELS};
use llamette::{Model, Serial};

/// Every tiny fixture model: logits at every prompt position and 32 greedy tokens equal
/// llama.cpp's (tolerance 0).
fn tiny_models() {
    for name in MODELS {
        let bytes = fixture(&format!("models/{name}"));
        let model = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let golden_name = format!("golden/{}", name.replace(".gguf", ".json"));
        let golden = parse_json(std::str::from_utf8(&fixture(&golden_name)).unwrap()).unwrap();
        check_model(&model, &golden, name, &Serial, 32);
    }
}

/// SmolLM2-135M-Instruct (real weights): logits after three prompts and 48 greedy tokens.
fn smollm2() {
    let model = Model::load(common::smollm2_path()).unwrap();
    let golden = parse_json(
        std::str::from_utf8(&fixture("golden/smollm2-135m-instruct.q4_1.json")).unwrap(),
    )
    .unwrap();
    check_model(&model, &golden, "smollm2-135m-instruct.q4_1", &Serial, 48);
}

fn main() {
    let checks: [(&str, fn()); 2] = [
        ("tiny fixture models match llama.cpp", tiny_models),
        ("SmolLM2-135M-Instruct matches llama.cpp", smollm2),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in checks {
        let t = std::time::Instant::now();
        match std::panic::catch_unwind(check) {
            Ok(()) => {
                passed += 1;
                println!("{name} ... ok ({:.1} s)", t.elapsed().as_secs_f64());
            }
            Err(e) => {
                failed += 1;
                let msg = e
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| e.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                println!("{name} ... FAILED: {msg}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
