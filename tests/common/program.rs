//! The `llamette` example program, for the tests that run it.

use std::path::PathBuf;
use std::process::Command;

/// The example binary, built by `cargo test` with the other targets (built here if missing).
pub fn llamette_program() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    let bin = dir.join(format!("examples/llamette{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "--example", "llamette"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap()
            .success();
        assert!(
            ok && bin.exists(),
            "could not build the llamette example ({})",
            bin.display()
        );
    }
    bin
}
