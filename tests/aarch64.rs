//! The model checks that matter most, as one program that runs on the main thread only: the
//! aarch64 suite run under qemu-user by `scripts/aarch64.sh` (a second thread hangs under
//! qemu-user on these machines, so no libtest harness and no thread pool here). It is an ordinary
//! test target too (`harness = false`): `cargo test --test aarch64` runs it natively.
//!
//! Each check prints `ok` or `FAILED` with its message; the last line is `N passed, M failed`,
//! and the exit status is 1 when anything failed.

mod common;

use common::{check_model, fixture, parse_json, shape, MODELS};
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

/// The real-shape models that `LLAMETTE_SHAPE_MODELS` names (scripts/shape/make.sh builds
/// them), on the prompts `LLAMETTE_SHAPE_CASES` names: logits and greedy tokens bit for bit with
/// llama.cpp's (tests/shape_golden.rs runs all of them natively).
fn shape_models() {
    let models = shape::expected_models();
    assert!(
        !models.is_empty(),
        "LLAMETTE_SHAPE_MODELS names no model of scripts/shape/SHA256SUMS"
    );
    for (name, sum) in &models {
        match shape::check_file(name, sum, &Serial) {
            Ok(line) => println!("  {line}"),
            Err(report) => panic!("{report}"),
        }
    }
}

/// Which kernels this run uses: `sdot` (NEON with the dotprod extension), `neon` (NEON
/// without it), `avx2` / `avx512` on x86-64, or `scalar` (the reference).
fn kernels() -> &'static str {
    #[cfg(target_arch = "aarch64")]
    if let Some(n) = llamette::kernels::arm::Neon::new() {
        return if n.has_dotprod() { "sdot" } else { "neon" };
    }
    #[cfg(target_arch = "x86_64")]
    if llamette::kernels::x86::Avx2::new().is_some() {
        return if llamette::kernels::x86::Avx512::new().is_some() {
            "avx512"
        } else {
            "avx2"
        };
    }
    "scalar"
}

/// `LLAMETTE_EXPECT_KERNELS` must name the kernels in use (scripts/aarch64.sh sets it, to
/// check that qemu's CPU model and the environment select the path it means to test).
fn expected_kernels() {
    let want = std::env::var("LLAMETTE_EXPECT_KERNELS").unwrap_or_default();
    assert_eq!(kernels(), want, "LLAMETTE_EXPECT_KERNELS");
}

fn main() {
    println!("kernels: {}", kernels());
    let mut checks: Vec<(&str, fn())> = vec![
        ("tiny fixture models match llama.cpp", tiny_models),
        ("SmolLM2-135M-Instruct matches llama.cpp", smollm2),
    ];
    // Only where a run says which kernels it means to test (no vacuous pass otherwise).
    if std::env::var_os("LLAMETTE_EXPECT_KERNELS").is_some() {
        checks.insert(0, ("the expected kernels are in use", expected_kernels));
    }
    // The real-shape models are gigabytes that scripts/shape/make.sh builds; scripts/aarch64.sh
    // names the ones to run (a plain `cargo test` has no such models).
    if std::env::var_os("LLAMETTE_SHAPE_MODELS").is_some() {
        checks.push(("real-shape models match llama.cpp", shape_models));
    }
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
