//! The `llamette` program, for the tests that run it.

use std::path::PathBuf;

/// The `llamette` binary, which cargo builds before the integration tests.
pub fn llamette_program() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_llamette"))
}
