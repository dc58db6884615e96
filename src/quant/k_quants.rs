//! The K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (weights) and Q8_K (activations), super-blocks of
//! 256 elements with 6- or 8-bit sub-block scales.
//!
//! Layouts: `ggml/src/ggml-common.h` (`block_q2_K` ... `block_q8_K`). Dequantization and the
//! Q8_K reference quantizer: `ggml/src/ggml-quants.c` (`dequantize_row_q2_K`,
//! `quantize_row_q8_K_ref`, ...). Dot products: `ggml/src/ggml-cpu/quants.c`
//! (`ggml_vec_dot_q2_K_q8_K_generic`, ...).

use super::{Block, GgmlType, QK_K};

/// `block_q2_K`: 16 sub-blocks of 16; each scale byte holds a 4-bit scale (low) and a 4-bit
/// minimum (high); `x = d * sc * q - dmin * m`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ2K {
    /// Scales and minimums, 4 bits each.
    pub scales: [u8; QK_K / 16],
    /// 2-bit quants.
    pub qs: [u8; QK_K / 4],
    /// Super-block scale for the scales, f16 little-endian.
    pub d: [u8; 2],
    /// Super-block scale for the minimums, f16 little-endian.
    pub dmin: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<BlockQ2K>() == 84);
// SAFETY: repr(C) of u8 arrays: alignment 1, no padding, every bit pattern valid.
unsafe impl Block for BlockQ2K {
    const TYPE: GgmlType = GgmlType::Q2_K;
    const ELEMS: usize = QK_K;
}

/// `block_q3_K`: 16 sub-blocks of 16, 6-bit scales packed in 12 bytes, the third bit of each
/// quant in `hmask`; `x = d * (sc - 32) * (q - (hbit ? 0 : 4))`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ3K {
    /// High bit of each quant.
    pub hmask: [u8; QK_K / 8],
    /// Low 2 bits of each quant.
    pub qs: [u8; QK_K / 4],
    /// 6-bit scales, packed.
    pub scales: [u8; 12],
    /// Super-block scale, f16 little-endian.
    pub d: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<BlockQ3K>() == 110);
// SAFETY: repr(C) of u8 arrays: alignment 1, no padding, every bit pattern valid.
unsafe impl Block for BlockQ3K {
    const TYPE: GgmlType = GgmlType::Q3_K;
    const ELEMS: usize = QK_K;
}

/// `block_q4_K`: 8 sub-blocks of 32, 6-bit scales and minimums packed in 12 bytes;
/// `x = d * sc * q - dmin * m`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ4K {
    /// Super-block scale for the scales, f16 little-endian.
    pub d: [u8; 2],
    /// Super-block scale for the minimums, f16 little-endian.
    pub dmin: [u8; 2],
    /// 6-bit scales and minimums, packed.
    pub scales: [u8; 12],
    /// 4-bit quants.
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(core::mem::size_of::<BlockQ4K>() == 144);
// SAFETY: repr(C) of u8 arrays: alignment 1, no padding, every bit pattern valid.
unsafe impl Block for BlockQ4K {
    const TYPE: GgmlType = GgmlType::Q4_K;
    const ELEMS: usize = QK_K;
}

/// `block_q5_K`: as Q4_K plus a fifth bit per quant in `qh`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ5K {
    /// Super-block scale for the scales, f16 little-endian.
    pub d: [u8; 2],
    /// Super-block scale for the minimums, f16 little-endian.
    pub dmin: [u8; 2],
    /// 6-bit scales and minimums, packed.
    pub scales: [u8; 12],
    /// Fifth bit of each quant.
    pub qh: [u8; QK_K / 8],
    /// Low 4 bits of each quant.
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(core::mem::size_of::<BlockQ5K>() == 176);
// SAFETY: repr(C) of u8 arrays: alignment 1, no padding, every bit pattern valid.
unsafe impl Block for BlockQ5K {
    const TYPE: GgmlType = GgmlType::Q5_K;
    const ELEMS: usize = QK_K;
}

/// `block_q6_K`: 16 sub-blocks of 16 with 8-bit signed scales; `x = d * sc * (q - 32)`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ6K {
    /// Low 4 bits of each quant.
    pub ql: [u8; QK_K / 2],
    /// High 2 bits of each quant.
    pub qh: [u8; QK_K / 4],
    /// Signed 8-bit scales.
    pub scales: [i8; QK_K / 16],
    /// Super-block scale, f16 little-endian.
    pub d: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<BlockQ6K>() == 210);
// SAFETY: repr(C) of u8/i8 arrays: alignment 1, no padding, every bit pattern valid.
unsafe impl Block for BlockQ6K {
    const TYPE: GgmlType = GgmlType::Q6_K;
    const ELEMS: usize = QK_K;
}

/// `block_q8_K`: `x = d * q` with an f32 scale, plus the sum of each 16 quants (`bsums`) that
/// the K-quant dot products use to fold in the minimums.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ8K {
    /// Scale, f32 little-endian.
    pub d: [u8; 4],
    /// Quants.
    pub qs: [i8; QK_K],
    /// Sum of each group of 16 quants, i16 little-endian.
    pub bsums: [[u8; 2]; QK_K / 16],
}
const _: () = assert!(core::mem::size_of::<BlockQ8K>() == 292);
// SAFETY: repr(C) of u8/i8 arrays: alignment 1, no padding, every bit pattern valid.
unsafe impl Block for BlockQ8K {
    const TYPE: GgmlType = GgmlType::Q8_K;
    const ELEMS: usize = QK_K;
}

/// Dequantizes Q2_K blocks into `y` (`256 * x.len()` elements).
pub fn dequantize_row_q2_k(x: &[BlockQ2K], y: &mut [f32]) {
    let _ = (x, y);
    todo!("stub")
}

/// Dequantizes Q3_K blocks into `y`.
pub fn dequantize_row_q3_k(x: &[BlockQ3K], y: &mut [f32]) {
    let _ = (x, y);
    todo!("stub")
}

/// Dequantizes Q4_K blocks into `y`.
pub fn dequantize_row_q4_k(x: &[BlockQ4K], y: &mut [f32]) {
    let _ = (x, y);
    todo!("stub")
}

/// Dequantizes Q5_K blocks into `y`.
pub fn dequantize_row_q5_k(x: &[BlockQ5K], y: &mut [f32]) {
    let _ = (x, y);
    todo!("stub")
}

/// Dequantizes Q6_K blocks into `y`.
pub fn dequantize_row_q6_k(x: &[BlockQ6K], y: &mut [f32]) {
    let _ = (x, y);
    todo!("stub")
}

/// Dequantizes Q8_K blocks into `y`.
pub fn dequantize_row_q8_k(x: &[BlockQ8K], y: &mut [f32]) {
    let _ = (x, y);
    todo!("stub")
}

/// Quantizes `x` to Q8_K exactly as `quantize_row_q8_K_ref` does.
pub fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    let _ = (x, y);
    todo!("stub")
}

/// Q2_K weights against Q8_K activations (`ggml_vec_dot_q2_K_q8_K_generic`).
pub fn vec_dot_q2_k_q8_k(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}

/// Q3_K weights against Q8_K activations (`ggml_vec_dot_q3_K_q8_K_generic`).
pub fn vec_dot_q3_k_q8_k(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}

/// Q4_K weights against Q8_K activations (`ggml_vec_dot_q4_K_q8_K_generic`).
pub fn vec_dot_q4_k_q8_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}

/// Q5_K weights against Q8_K activations (`ggml_vec_dot_q5_K_q8_K_generic`).
pub fn vec_dot_q5_k_q8_k(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}

/// Q6_K weights against Q8_K activations (`ggml_vec_dot_q6_K_q8_K_generic`).
pub fn vec_dot_q6_k_q8_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}
