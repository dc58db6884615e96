//! `llamette-server`: an OpenAI-compatible HTTP server for llamette, with llama.cpp's
//! `llama-server` endpoints, flags and response layouts.
//!
//! - [`api`]: request bodies read field by field into typed requests, and the response layouts
//!   (OpenAI's and llama-server's), with no I/O: what the fuzz target drives.
//! - [`engine`] (feature `http`): the slots. One thread owns the model's context; every step it
//!   evaluates one batch holding each generating slot's next token and chunks of new prompts
//!   (continuous batching), samples each slot's next token and sends it to its request.
//! - [`http`] (feature `http`): the routes on axum, the chat page, authentication, metrics.
//! - [`args`]: the command line, in llama-server's spelling.
//!
//! The engine is driven through llamette's public Rust API only.

#![warn(missing_docs)]

pub mod api;
pub mod args;
#[cfg(feature = "http")]
pub mod engine;
#[cfg(feature = "http")]
pub mod http;
