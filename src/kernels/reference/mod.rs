//! Scalar reference kernels that reproduce llama.cpp's x86 float operation order bit for bit.

pub mod float;
pub mod kquants;
pub mod legacy;
pub mod math;
