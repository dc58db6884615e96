//! The original ggml block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (weights) and Q8_0, Q8_1
//! (activations), 32 elements per block.
//!
//! Layouts: `ggml/src/ggml-common.h` (`block_q4_0` ... `block_q8_1`). Dequantization and the
//! reference quantizers: `ggml/src/ggml-quants.c` (`dequantize_row_q4_0`, `quantize_row_q8_0_ref`,
//! `quantize_row_q8_1_ref`, ...). Dot products: `ggml/src/ggml-cpu/quants.c`
//! (`ggml_vec_dot_q4_0_q8_0_generic`, ...).

use super::{Block, GgmlType};

/// Elements per block of every format in this module.
pub const QK: usize = 32;

/// `block_q4_0`: `x = d * (q - 8)`, low nibbles hold elements 0..16, high nibbles 16..32.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ4_0 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Nibbles.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(core::mem::size_of::<BlockQ4_0>() == 18);
// SAFETY: repr(C) of u8 arrays: alignment 1, no padding, every bit pattern valid.
unsafe impl Block for BlockQ4_0 {
    const TYPE: GgmlType = GgmlType::Q4_0;
    const ELEMS: usize = QK;
}

/// `block_q4_1`: `x = d * q + m`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ4_1 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Minimum, f16 little-endian.
    pub m: [u8; 2],
    /// Nibbles.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(core::mem::size_of::<BlockQ4_1>() == 20);
// SAFETY: repr(C) of u8 arrays: alignment 1, no padding, every bit pattern valid.
unsafe impl Block for BlockQ4_1 {
    const TYPE: GgmlType = GgmlType::Q4_1;
    const ELEMS: usize = QK;
}

/// `block_q5_0`: `x = d * (q - 16)`, the fifth bits in `qh` (a little-endian u32).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ5_0 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Fifth bit of each element, u32 little-endian.
    pub qh: [u8; 4],
    /// Low nibbles.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(core::mem::size_of::<BlockQ5_0>() == 22);
// SAFETY: repr(C) of u8 arrays: alignment 1, no padding, every bit pattern valid.
unsafe impl Block for BlockQ5_0 {
    const TYPE: GgmlType = GgmlType::Q5_0;
    const ELEMS: usize = QK;
}

/// `block_q5_1`: `x = d * q + m`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ5_1 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Minimum, f16 little-endian.
    pub m: [u8; 2],
    /// Fifth bit of each element, u32 little-endian.
    pub qh: [u8; 4],
    /// Low nibbles.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(core::mem::size_of::<BlockQ5_1>() == 24);
// SAFETY: repr(C) of u8 arrays: alignment 1, no padding, every bit pattern valid.
unsafe impl Block for BlockQ5_1 {
    const TYPE: GgmlType = GgmlType::Q5_1;
    const ELEMS: usize = QK;
}

/// `block_q8_0`: `x = d * q`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ8_0 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Quants.
    pub qs: [i8; QK],
}
const _: () = assert!(core::mem::size_of::<BlockQ8_0>() == 34);
// SAFETY: repr(C) of u8/i8 arrays: alignment 1, no padding, every bit pattern valid.
unsafe impl Block for BlockQ8_0 {
    const TYPE: GgmlType = GgmlType::Q8_0;
    const ELEMS: usize = QK;
}

/// `block_q8_1`: `x = d * q`, and `s = d * sum(q)` for the minimum terms of Q4_1/Q5_1.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ8_1 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// `d * sum(qs)`, f16 little-endian.
    pub s: [u8; 2],
    /// Quants.
    pub qs: [i8; QK],
}
const _: () = assert!(core::mem::size_of::<BlockQ8_1>() == 36);
// SAFETY: repr(C) of u8/i8 arrays: alignment 1, no padding, every bit pattern valid.
unsafe impl Block for BlockQ8_1 {
    const TYPE: GgmlType = GgmlType::Q8_1;
    const ELEMS: usize = QK;
}

/// Dequantizes Q4_0 blocks into `y` (`32 * x.len()` elements).
pub fn dequantize_row_q4_0(x: &[BlockQ4_0], y: &mut [f32]) {
    let _ = (x, y);
    todo!("stub")
}

/// Dequantizes Q4_1 blocks into `y`.
pub fn dequantize_row_q4_1(x: &[BlockQ4_1], y: &mut [f32]) {
    let _ = (x, y);
    todo!("stub")
}

/// Dequantizes Q5_0 blocks into `y`.
pub fn dequantize_row_q5_0(x: &[BlockQ5_0], y: &mut [f32]) {
    let _ = (x, y);
    todo!("stub")
}

/// Dequantizes Q5_1 blocks into `y`.
pub fn dequantize_row_q5_1(x: &[BlockQ5_1], y: &mut [f32]) {
    let _ = (x, y);
    todo!("stub")
}

/// Dequantizes Q8_0 blocks into `y`.
pub fn dequantize_row_q8_0(x: &[BlockQ8_0], y: &mut [f32]) {
    let _ = (x, y);
    todo!("stub")
}

/// Dequantizes Q8_1 blocks into `y`.
pub fn dequantize_row_q8_1(x: &[BlockQ8_1], y: &mut [f32]) {
    let _ = (x, y);
    todo!("stub")
}

/// Quantizes `x` to Q8_0 exactly as `quantize_row_q8_0_ref` does.
pub fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    let _ = (x, y);
    todo!("stub")
}

/// Quantizes `x` to Q8_1 exactly as `quantize_row_q8_1_ref` does.
pub fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    let _ = (x, y);
    todo!("stub")
}

/// Q4_0 weights against Q8_0 activations (`ggml_vec_dot_q4_0_q8_0_generic`).
pub fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}

/// Q4_1 weights against Q8_1 activations (`ggml_vec_dot_q4_1_q8_1_generic`).
pub fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}

/// Q5_0 weights against Q8_0 activations (`ggml_vec_dot_q5_0_q8_0_generic`).
pub fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}

/// Q5_1 weights against Q8_1 activations (`ggml_vec_dot_q5_1_q8_1_generic`).
pub fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}

/// Q8_0 weights against Q8_0 activations (`ggml_vec_dot_q8_0_q8_0_generic`).
pub fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}
