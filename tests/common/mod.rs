//! Helpers shared by the integration tests (each test binary uses a subset).
#![allow(dead_code, unused_imports)]

mod fixtures;

pub use fixtures::{fixture, fixture_path, MODELS};
