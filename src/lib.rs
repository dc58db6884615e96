//! llamette runs GGUF language models inside other programs.
//!
//! The core is `no_std` (with `alloc`): the host owns threads, memory and I/O, llamette owns the
//! math and the formats. A model is read from bytes the host already has ([`gguf::GgufFile`]),
//! without copying them; every block format has a scalar reference ([`quant`]) whose numerics
//! follow llama.cpp's.
//!
//! # Features
//!
//! - `std` (default): `std::error::Error` for [`Error`], file loading.
//! - `mmap` (default, needs `std`): [`gguf::GgufFile::open`] maps a file with `memmap2`.
//! - `avx2` (default): AVX2/FMA/F16C kernels for x86-64, and AVX-512BW + VNNI ones, chosen once
//!   at run time (`LLAMETTE_SCALAR=1` forces the scalar reference, `LLAMETTE_NO_AVX512=1` keeps
//!   to AVX2); every path gives the reference's bits.
//! - `neon` (default): NEON kernels for aarch64, with `SDOT` where detected
//!   (`LLAMETTE_NO_DOTPROD=1` withholds it); the reference's bits too.
//! - `ffi` (needs `std` and `mmap`): the C ABI (module `ffi`), declared in `include/llamette.h`.
//! - `grammar` (needs `std`): constrained decoding (module `grammar`): GBNF, JSON schemas,
//!   regular expressions, run by llguidance.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

// Without the `std` feature no code here can name `std` (it is not in scope), so the core stays
// free of it. On targets that have an operating system, std is still linked, unnamed, so that
// the `staticlib`/`cdylib` artifacts get the platform's panic runtime and allocator; on
// bare-metal targets (`target_os = "none"`) the final program supplies both, as usual for no_std.
#[cfg(all(not(feature = "std"), not(target_os = "none")))]
extern crate std as _;

pub mod chat;
pub mod embed;
pub mod error;
#[cfg(feature = "ffi")]
pub mod ffi;
pub mod generate;
pub mod gguf;
#[cfg(feature = "grammar")]
pub mod grammar;
pub mod infill;
pub mod kernels;
pub mod model;
pub mod parallel;
pub mod quant;
pub mod sampling;
mod sys;
pub mod tokenizer;

pub use error::{Error, Result};
pub use model::{BatchToken, Context, ContextParams, KvType, Model, PerfCounters, SeqSet};
#[cfg(feature = "std")]
pub use parallel::ThreadPool;
pub use parallel::{Parallel, Serial};
pub use quant::GgmlType;

/// The README's code examples, compiled as doc tests so the front door stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
