//! Helpers shared by the integration tests (each test binary uses a subset).
#![allow(dead_code, unused_imports)]

mod fixtures;
mod golden;
pub mod hostile;
mod json;
mod program;
mod sha256;
pub mod shape;

pub use fixtures::{fixture, fixture_path, smollm2_path, MODELS};
pub use golden::{argmax, check_model, top_diff, REL_TOL};
pub use json::parse as parse_json;
pub use json::Json;
pub use program::llamette_program;
pub use sha256::{hex, sha256};
