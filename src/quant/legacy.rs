//! The original ggml block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (weights) and Q8_0, Q8_1
//! (activations), 32 elements per block.
//!
//! Layouts: `ggml/src/ggml-common.h` (`block_q4_0` ... `block_q8_1`). Dequantization and the
//! reference quantizers: `ggml/src/ggml-quants.c` (`dequantize_row_q4_0`, `quantize_row_q8_0_ref`,
//! `quantize_row_q8_1_ref`, ...). Dot products: `ggml/src/ggml-cpu/quants.c`
//! (`ggml_vec_dot_q4_0_q8_0_generic`, ...).

use super::{f16_le, to_f16_le, Block, GgmlType};

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

/// The fifth bits of elements `j` and `j + 16` of a Q5 block, already shifted to bit 4
/// (`xh_0` / `xh_1` in `dequantize_row_q5_0` and `ggml_vec_dot_q5_1_q8_1_generic`; the
/// differently written masks in `ggml_vec_dot_q5_0_q8_0_generic` select the same bits).
#[inline(always)]
fn q5_high_bits(qh: u32, j: usize) -> (u8, u8) {
    let xh_0 = ((qh >> j) << 4) & 0x10;
    let xh_1 = (qh >> (j + 12)) & 0x10;
    // Both values are 0 or 0x10.
    (xh_0 as u8, xh_1 as u8)
}

/// Splits one block's 32 outputs into the halves fed by the low and the high nibbles.
#[inline(always)]
fn halves(out: &mut [f32]) -> (&mut [f32], &mut [f32]) {
    out.split_at_mut(QK / 2)
}

/// Dequantizes Q4_0 blocks into `y` (`32 * x.len()` elements).
pub fn dequantize_row_q4_0(x: &[BlockQ4_0], y: &mut [f32]) {
    // dequantize_row_q4_0: y[j] = ((q & 0xF) - 8) * d, y[j + 16] = ((q >> 4) - 8) * d.
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = f16_le(b.d);
        let (lo, hi) = halves(out);
        for ((&q, y0), y1) in b.qs.iter().zip(lo).zip(hi) {
            let x0 = i32::from(q & 0x0F) - 8;
            let x1 = i32::from(q >> 4) - 8;
            *y0 = x0 as f32 * d;
            *y1 = x1 as f32 * d;
        }
    }
}

/// Dequantizes Q4_1 blocks into `y`.
pub fn dequantize_row_q4_1(x: &[BlockQ4_1], y: &mut [f32]) {
    // dequantize_row_q4_1: y = q * d + m (a product, then a sum: two roundings, no FMA).
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = f16_le(b.d);
        let m = f16_le(b.m);
        let (lo, hi) = halves(out);
        for ((&q, y0), y1) in b.qs.iter().zip(lo).zip(hi) {
            let x0 = i32::from(q & 0x0F);
            let x1 = i32::from(q >> 4);
            *y0 = x0 as f32 * d + m;
            *y1 = x1 as f32 * d + m;
        }
    }
}

/// Dequantizes Q5_0 blocks into `y`.
pub fn dequantize_row_q5_0(x: &[BlockQ5_0], y: &mut [f32]) {
    // dequantize_row_q5_0: y = ((nibble | fifth bit << 4) - 16) * d.
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = f16_le(b.d);
        let qh = u32::from_le_bytes(b.qh);
        let (lo, hi) = halves(out);
        for (j, ((&q, y0), y1)) in b.qs.iter().zip(lo).zip(hi).enumerate() {
            let (xh_0, xh_1) = q5_high_bits(qh, j);
            let x0 = i32::from((q & 0x0F) | xh_0) - 16;
            let x1 = i32::from((q >> 4) | xh_1) - 16;
            *y0 = x0 as f32 * d;
            *y1 = x1 as f32 * d;
        }
    }
}

/// Dequantizes Q5_1 blocks into `y`.
pub fn dequantize_row_q5_1(x: &[BlockQ5_1], y: &mut [f32]) {
    // dequantize_row_q5_1: y = (nibble | fifth bit << 4) * d + m.
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = f16_le(b.d);
        let m = f16_le(b.m);
        let qh = u32::from_le_bytes(b.qh);
        let (lo, hi) = halves(out);
        for (j, ((&q, y0), y1)) in b.qs.iter().zip(lo).zip(hi).enumerate() {
            let (xh_0, xh_1) = q5_high_bits(qh, j);
            let x0 = i32::from((q & 0x0F) | xh_0);
            let x1 = i32::from((q >> 4) | xh_1);
            *y0 = x0 as f32 * d + m;
            *y1 = x1 as f32 * d + m;
        }
    }
}

/// Dequantizes Q8_0 blocks into `y`.
pub fn dequantize_row_q8_0(x: &[BlockQ8_0], y: &mut [f32]) {
    // dequantize_row_q8_0: y = q * d.
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = f16_le(b.d);
        for (&q, y) in b.qs.iter().zip(out) {
            *y = f32::from(q) * d;
        }
    }
}

/// Dequantizes Q8_1 blocks into `y`.
pub fn dequantize_row_q8_1(x: &[BlockQ8_1], y: &mut [f32]) {
    // ggml has no dequantize_row_q8_1 (Q8_1 is only ever an activation format); this is the
    // same `y = q * d` as dequantize_row_q8_0. The sum `s` is not needed to recover the values.
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = f16_le(b.d);
        for (&q, y) in b.qs.iter().zip(out) {
            *y = f32::from(q) * d;
        }
    }
}

/// The scale of one block as the reference quantizers compute it: `amax / 127` in f32, and its
/// inverse (0 for an all-zero block).
///
/// `amax` is accumulated with ggml's `MAX(a, b)` macro, `a > b ? a : b`, rather than
/// `f32::max`, so that NaN inputs behave as in C (a NaN is kept only if nothing after it is
/// compared greater; `MAX(NaN, v)` yields `v`).
#[inline(always)]
fn q8_scale(x: &[f32]) -> (f32, f32) {
    let amax = x.iter().fold(0.0f32, |amax, &v| {
        let a = v.abs();
        if amax > a {
            amax
        } else {
            a
        }
    });
    let d = amax / 127.0;
    // `d ? 1.0f/d : 0.0f`: NaN is truthy in C and `NaN != 0.0` is true here too.
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    (d, id)
}

/// `roundf(v)` stored to an `int8_t`. In range (|v| <= 127 plus rounding) this is exact; the
/// C conversion is undefined for NaN/out-of-range values (only reachable from non-finite
/// inputs), where Rust's saturating `as` gives 0 / +-127/-128 instead of panicking.
#[inline(always)]
fn round_to_i8(v: f32) -> i8 {
    libm::roundf(v) as i8
}

/// Quantizes `x` to Q8_0 exactly as `quantize_row_q8_0_ref` does.
pub fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    for (src, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (d, id) = q8_scale(src);
        // The scale is stored rounded to f16, but the quants use the f32 `d`/`id`, as in C.
        b.d = to_f16_le(d);
        for (&v, q) in src.iter().zip(b.qs.iter_mut()) {
            *q = round_to_i8(v * id);
        }
    }
}

/// Quantizes `x` to Q8_0 as ggml's CPU backend does on x86 (`quantize_row_q8_0` in
/// `ggml-cpu/arch/x86/quants.c`, AVX/AVX2 branch): the same stored scale `d = amax/127`, but
/// quants `round_half_even(x * (127/amax))` instead of the reference's
/// `round_half_away(x * (1/d))`. This is the format llama.cpp built for x86 feeds its Q4_0,
/// Q5_0 and Q8_0 matrix products, so llamette's products use it too; it differs from the
/// reference in about 2 quants per million on random data.
pub fn quantize_row_q8_0_x86(x: &[f32], y: &mut [BlockQ8_0]) {
    for (src, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (d, id) = q8_scale_x86(src);
        b.d = to_f16_le(d);
        for (&v, q) in src.iter().zip(b.qs.iter_mut()) {
            *q = libm::rintf(v * id) as i8;
        }
    }
}

/// Quantizes `x` to Q8_1 as ggml's CPU backend does on x86 (`quantize_row_q8_1` in
/// `ggml-cpu/arch/x86/quants.c`): as [`quantize_row_q8_0_x86`], plus `s = f16(d * sum(q))`.
pub fn quantize_row_q8_1_x86(x: &[f32], y: &mut [BlockQ8_1]) {
    for (src, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (d, id) = q8_scale_x86(src);
        b.d = to_f16_le(d);
        let mut sum: i32 = 0;
        for (&v, q) in src.iter().zip(b.qs.iter_mut()) {
            *q = libm::rintf(v * id) as i8;
            sum += i32::from(*q);
        }
        b.s = to_f16_le(d * sum as f32);
    }
}

/// `d = amax / 127` and `id = 127 / amax` (0 for an all-zero block), as the x86 kernels
/// compute them.
fn q8_scale_x86(x: &[f32]) -> (f32, f32) {
    let amax = x.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    (amax / 127.0, id)
}

/// Quantizes `x` to Q8_1 exactly as `quantize_row_q8_1_ref` does.
pub fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    for (src, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (d, id) = q8_scale(src);
        b.d = to_f16_le(d);
        // quantize_row_q8_1_ref sums the rounded *integer* quants in an `int` (order is
        // irrelevant for integers), then stores `GGML_FP32_TO_FP16(sum*d)` with the f32 `d`.
        let mut sum: i32 = 0;
        for (&v, q) in src.iter().zip(b.qs.iter_mut()) {
            *q = round_to_i8(v * id);
            sum += i32::from(*q);
        }
        // |sum| <= 32 * 128, exactly representable in f32.
        b.s = to_f16_le(sum as f32 * d);
    }
}

/// Integer dot product of one block's 32 weight values with 32 int8 activations, where
/// `val(j)` gives the weight values of elements `j` and `j + 16` (j in 0..16): `sumi0 + sumi1`
/// as in the `_generic` kernels (exact in i32: at most 32 * 31 * 128 in magnitude).
#[inline(always)]
fn block_sumi(qa: &[i8; QK], mut val: impl FnMut(usize) -> (i32, i32)) -> i32 {
    let (a_lo, a_hi) = qa.split_at(QK / 2);
    let mut sumi0 = 0i32;
    let mut sumi1 = 0i32;
    for (j, (&a0, &a1)) in a_lo.iter().zip(a_hi).enumerate() {
        let (v0, v1) = val(j);
        sumi0 += v0 * i32::from(a0);
        sumi1 += v1 * i32::from(a1);
    }
    sumi0 + sumi1
}

/// Q4_0 weights against Q8_0 activations (`ggml_vec_dot_q4_0_q8_0_generic`).
pub fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let sumi = block_sumi(&by.qs, |j| {
            let q = bx.qs[j];
            (i32::from(q & 0x0F) - 8, i32::from(q >> 4) - 8)
        });
        // C: `sumf += sumi*FP16_TO_FP32(x.d)*FP16_TO_FP32(y.d)`, i.e. ((sumi * dx) * dy).
        sumf += sumi as f32 * f16_le(bx.d) * f16_le(by.d);
    }
    sumf
}

/// Q4_1 weights against Q8_1 activations (`ggml_vec_dot_q4_1_q8_1_generic`).
pub fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let sumi = block_sumi(&by.qs, |j| {
            let q = bx.qs[j];
            (i32::from(q & 0x0F), i32::from(q >> 4))
        });
        // C: `sumf += (dx*dy)*sumi + mx*sy`: the whole right-hand side first, then the add.
        let dd = f16_le(bx.d) * f16_le(by.d);
        sumf += dd * sumi as f32 + f16_le(bx.m) * f16_le(by.s);
    }
    sumf
}

/// Q5_0 weights against Q8_0 activations (`ggml_vec_dot_q5_0_q8_0_generic`).
pub fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let qh = u32::from_le_bytes(bx.qh);
        let sumi = block_sumi(&by.qs, |j| {
            let q = bx.qs[j];
            let (xh_0, xh_1) = q5_high_bits(qh, j);
            (
                i32::from((q & 0x0F) | xh_0) - 16,
                i32::from((q >> 4) | xh_1) - 16,
            )
        });
        // C: `sumf += (dx*dy) * sumi`.
        sumf += (f16_le(bx.d) * f16_le(by.d)) * sumi as f32;
    }
    sumf
}

/// Q5_1 weights against Q8_1 activations (`ggml_vec_dot_q5_1_q8_1_generic`).
pub fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let qh = u32::from_le_bytes(bx.qh);
        let sumi = block_sumi(&by.qs, |j| {
            let q = bx.qs[j];
            let (xh_0, xh_1) = q5_high_bits(qh, j);
            (i32::from((q & 0x0F) | xh_0), i32::from((q >> 4) | xh_1))
        });
        // C: `sumf += (dx*dy)*sumi + mx*sy`.
        let dd = f16_le(bx.d) * f16_le(by.d);
        sumf += dd * sumi as f32 + f16_le(bx.m) * f16_le(by.s);
    }
    sumf
}

/// Q8_0 weights against Q8_0 activations (`ggml_vec_dot_q8_0_q8_0_generic`).
pub fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let sumi: i32 = bx
            .qs
            .iter()
            .zip(&by.qs)
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum();
        // C: `sumf += sumi*(dx*dy)`.
        sumf += sumi as f32 * (f16_le(bx.d) * f16_le(by.d));
    }
    sumf
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::quant::test_rng::Rng;

    const U: f64 = 1.0 / (1u64 << 24) as f64; // f32 unit roundoff
    const U16: f64 = 1.0 / (1u64 << 11) as f64; // f16 unit roundoff (normal range)
    const F16_MIN_HALF_ULP: f64 = 1.0 / (1u64 << 25) as f64; // half the f16 subnormal step

    fn f16_bytes(x: f32) -> [u8; 2] {
        let b = to_f16_le(x);
        assert_eq!(
            f16_le(b),
            x,
            "{x} must be exact in f16 for a hand-checked test"
        );
        b
    }

    // ---- dequantize: one hand-computed block per type --------------------------------------

    #[test]
    fn dequantize_q4_0_nibble_order() {
        let mut qs = [0x88u8; 16]; // both nibbles 8 -> 0.0
        qs[0] = 0x1F; // element 0: 15 - 8 = 7, element 16: 1 - 8 = -7
        qs[15] = 0x90; // element 15: 0 - 8 = -8, element 31: 9 - 8 = 1
        qs[3] = 0xA7; // element 3: 7 - 8 = -1, element 19: 10 - 8 = 2
        let b = BlockQ4_0 {
            d: f16_bytes(0.5),
            qs,
        };
        let mut y = [f32::NAN; 32];
        dequantize_row_q4_0(&[b], &mut y);
        let mut want = [0.0f32; 32];
        want[0] = 3.5;
        want[16] = -3.5;
        want[15] = -4.0;
        want[31] = 0.5;
        want[3] = -0.5;
        want[19] = 1.0;
        assert_eq!(y, want);
    }

    #[test]
    fn dequantize_q4_1_nibble_order_and_min() {
        let mut qs = [0u8; 16]; // -> m
        qs[0] = 0x2F; // element 0: 15*0.5 - 1 = 6.5, element 16: 2*0.5 - 1 = 0
        qs[9] = 0x03; // element 9: 1.5 - 1 = 0.5, element 25: -1
        let b = BlockQ4_1 {
            d: f16_bytes(0.5),
            m: f16_bytes(-1.0),
            qs,
        };
        let mut y = [f32::NAN; 32];
        dequantize_row_q4_1(&[b], &mut y);
        let mut want = [-1.0f32; 32];
        want[0] = 6.5;
        want[16] = 0.0;
        want[9] = 0.5;
        want[25] = -1.0;
        assert_eq!(y, want);
        // y = q*d + m is two roundings in f32: 3 * 0.1 + 0.2 in f32 differs from the exact
        // decimal, and from an FMA; pin the non-fused f32 result.
        let d = f16_le(to_f16_le(0.1));
        let m = f16_le(to_f16_le(0.2));
        let b = BlockQ4_1 {
            d: to_f16_le(0.1),
            m: to_f16_le(0.2),
            qs: [0x33; 16],
        };
        dequantize_row_q4_1(&[b], &mut y);
        assert!(y.iter().all(|&v| v.to_bits() == (3.0f32 * d + m).to_bits()));
    }

    #[test]
    fn dequantize_q5_0_fifth_bits() {
        // qh bit k is the fifth bit of element k. Set bits 0, 3, 16 and 31:
        // bytes (little-endian u32): bit 0 and 3 -> byte0 = 0x09, bit 16 -> byte2 = 0x01,
        // bit 31 -> byte3 = 0x80.
        let qh = [0x09, 0x00, 0x01, 0x80];
        let mut qs = [0u8; 16]; // all nibbles 0 -> (0 - 16) * d, or (16 - 16) * d with the bit
        qs[0] = 0xF5; // element 0: (5|16) - 16 = 5; element 16: (15|16) - 16 = 15
        qs[15] = 0x0F; // element 15: 15 - 16 = -1; element 31: (0|16) - 16 = 0
        qs[4] = 0x80; // element 4: -16; element 20: 8 - 16 = -8
        let b = BlockQ5_0 {
            d: f16_bytes(0.25),
            qh,
            qs,
        };
        let mut y = [f32::NAN; 32];
        dequantize_row_q5_0(&[b], &mut y);
        let mut want = [-4.0f32; 32];
        want[0] = 1.25;
        want[16] = 3.75;
        want[3] = 0.0; // nibble 0 with its fifth bit
        want[15] = -0.25;
        want[31] = 0.0;
        want[4] = -4.0;
        want[20] = -2.0;
        assert_eq!(y, want);
    }

    #[test]
    fn dequantize_q5_1_fifth_bits() {
        // bits 1 (byte0 = 0x02), 14 (byte1 = 0x40) and 17 (byte2 = 0x02).
        let qh = [0x02, 0x40, 0x02, 0x00];
        let mut qs = [0u8; 16];
        qs[1] = 0x21; // element 1: (1|16) = 17; element 17: (2|16) = 18
        qs[14] = 0x3F; // element 14: (15|16) = 31; element 30: 3
        let b = BlockQ5_1 {
            d: f16_bytes(0.5),
            m: f16_bytes(-2.0),
            qh,
            qs,
        };
        let mut y = [f32::NAN; 32];
        dequantize_row_q5_1(&[b], &mut y);
        let mut want = [-2.0f32; 32];
        want[1] = 6.5;
        want[17] = 7.0;
        want[14] = 13.5;
        want[30] = -0.5;
        assert_eq!(y, want);
    }

    #[test]
    fn dequantize_q8_0_and_q8_1() {
        let qs: [i8; 32] = core::array::from_fn(|i| (i as i8 - 16) * 4);
        let want: [f32; 32] = core::array::from_fn(|i| (i as f32 - 16.0) * 4.0 * 0.125);
        let mut y = [f32::NAN; 32];
        dequantize_row_q8_0(
            &[BlockQ8_0 {
                d: f16_bytes(0.125),
                qs,
            }],
            &mut y,
        );
        assert_eq!(y, want);
        let mut y = [f32::NAN; 32];
        let b = BlockQ8_1 {
            d: f16_bytes(0.125),
            s: f16_bytes(1000.0),
            qs,
        };
        dequantize_row_q8_1(&[b], &mut y);
        assert_eq!(y, want, "s plays no part in the values");
        let mut y = [f32::NAN; 64];
        let mut qs2 = qs;
        qs2[0] = -128;
        qs2[31] = 127;
        let blocks = [
            BlockQ8_0 {
                d: f16_bytes(0.125),
                qs,
            },
            BlockQ8_0 {
                d: f16_bytes(-2.0),
                qs: qs2,
            },
        ];
        dequantize_row_q8_0(&blocks, &mut y);
        assert_eq!(y[..32], want);
        assert_eq!((y[32], y[33], y[63]), (256.0, 2.0 * 60.0, -254.0));
    }

    // ---- quantize: hand-checked blocks -----------------------------------------------------

    fn q8_0(x: &[f32; 32]) -> BlockQ8_0 {
        let mut b = [BlockQ8_0 {
            d: [0xAA; 2],
            qs: [0x55; 32],
        }];
        quantize_row_q8_0(x, &mut b);
        b[0]
    }

    fn q8_1(x: &[f32; 32]) -> BlockQ8_1 {
        let mut b = [BlockQ8_1 {
            d: [0xAA; 2],
            s: [0xAA; 2],
            qs: [0x55; 32],
        }];
        quantize_row_q8_1(x, &mut b);
        b[0]
    }

    #[test]
    fn quantize_zero_block() {
        let x = [0.0f32; 32];
        assert_eq!(
            q8_0(&x),
            BlockQ8_0 {
                d: [0, 0],
                qs: [0; 32]
            }
        );
        assert_eq!(
            q8_1(&x),
            BlockQ8_1 {
                d: [0, 0],
                s: [0, 0],
                qs: [0; 32]
            }
        );
        // -0.0 inputs: amax = 0, id = 0, quants round(-0 * 0) = 0.
        let x = [-0.0f32; 32];
        assert_eq!(q8_0(&x).qs, [0; 32]);
    }

    #[test]
    fn quantize_exact_multiples() {
        // amax = 127 * 0.5, so d = 0.5 exactly, id = 2, and every x = k * 0.5 quantizes to k.
        let want: [i8; 32] = core::array::from_fn(|i| match i {
            0 => 127,
            1 => -127,
            i => (i as i8 - 16) * 5,
        });
        let x: [f32; 32] = core::array::from_fn(|i| f32::from(want[i]) * 0.5);
        let b = q8_0(&x);
        assert_eq!(
            b,
            BlockQ8_0 {
                d: f16_bytes(0.5),
                qs: want
            }
        );
        let b1 = q8_1(&x);
        assert_eq!(b1.d, f16_bytes(0.5));
        assert_eq!(b1.qs, want);
        let sum: i32 = want.iter().map(|&q| i32::from(q)).sum();
        assert_eq!(b1.s, to_f16_le(sum as f32 * 0.5));
        // Negative maximum: amax is |x|.
        let x: [f32; 32] = core::array::from_fn(|i| if i == 5 { -12.7 } else { 0.1 * i as f32 });
        let b = q8_0(&x);
        assert_eq!(b.qs[5], -127);
        assert_eq!(b.d, to_f16_le(12.7f32 / 127.0));
    }

    #[test]
    fn quantize_rounds_half_away_from_zero() {
        // d = 0.5 (max 63.5), id = 2: 0.25 -> 0.5 -> 1, 1.25 -> 2.5 -> 3 (ties-to-even would
        // give 0 and 2), and the negatives mirror them.
        let mut x = [0.0f32; 32];
        x[0] = 63.5;
        x[1] = 0.25;
        x[2] = -0.25;
        x[3] = 1.25;
        x[4] = -1.25;
        x[5] = 0.7; // 1.4 -> 1
        x[6] = -0.8; // -1.6 -> -2
        for qs in [q8_0(&x).qs, q8_1(&x).qs] {
            assert_eq!(qs[..7], [127, 1, -1, 3, -3, 1, -2]);
            assert!(qs[7..].iter().all(|&q| q == 0));
        }
    }

    #[test]
    fn quantize_uses_f32_scale_not_stored_f16() {
        // amax = 1: d = 1/127 in f32, whose f16 rounding is about 6e-5 smaller in relative
        // terms. 100.497/127 * id32 ~= 100.497 -> 100, but with the f16 scale it would be
        // ~100.503 -> 101.
        let mut x = [0.0f32; 32];
        x[0] = 1.0;
        x[1] = 100.497 / 127.0;
        let d32 = 1.0f32 / 127.0;
        let d16 = f16_le(to_f16_le(d32));
        assert!(libm::roundf(x[1] / d16) == 101.0, "test premise");
        let b = q8_0(&x);
        assert_eq!(b.d, to_f16_le(d32));
        assert_eq!(b.qs[..2], [127, 100]);
        let b = q8_1(&x);
        assert_eq!(b.qs[..2], [127, 100]);
        // s = f16(sum * d32) with the f32 d, not the stored one.
        assert_eq!(b.s, to_f16_le(227.0 * d32));
    }

    #[test]
    fn quantize_q8_1_sum_of_integer_quants() {
        // d = 12.7/127 ~= 0.1 (f32): 0.3 quantizes to 3 and the maximum to 127; s is
        // f16(sum * d) with the f32 d.
        let mut x = [0.3f32; 32];
        x[7] = 12.7;
        let b = q8_1(&x);
        let d = 12.7f32 / 127.0;
        assert!(b
            .qs
            .iter()
            .enumerate()
            .all(|(i, &q)| q == if i == 7 { 127 } else { 3 }));
        assert_eq!(b.s, to_f16_le((31 * 3 + 127) as f32 * d));
        // A block where the rounded quants cancel exactly while the floats do not:
        // +0.26 -> 2.6 -> 3 and -0.34 -> -3.4 -> -3 (d = 0.1): s = 0 exactly.
        let mut x = [0.0f32; 32];
        x[0] = 12.7;
        x[1] = -12.7;
        x[2] = 0.26;
        x[3] = -0.34;
        let b = q8_1(&x);
        assert_eq!(b.qs[..4], [127, -127, 3, -3]);
        assert_eq!(b.s, [0, 0]);
    }

    #[test]
    fn quantize_multiple_blocks_independent() {
        let mut rng = Rng(7);
        let x: [f32; 96] = core::array::from_fn(|i| rng.range(-1.0, 1.0) * (i / 32 + 1) as f32);
        let mut all = [BlockQ8_0 {
            d: [0; 2],
            qs: [0; 32],
        }; 3];
        quantize_row_q8_0(&x, &mut all);
        let mut all1 = [BlockQ8_1 {
            d: [0; 2],
            s: [0; 2],
            qs: [0; 32],
        }; 3];
        quantize_row_q8_1(&x, &mut all1);
        for (i, chunk) in x.chunks_exact(32).enumerate() {
            let c: &[f32; 32] = chunk.try_into().unwrap();
            assert_eq!(all[i], q8_0(c));
            assert_eq!(all1[i], q8_1(c));
            assert_eq!(all1[i].qs, all[i].qs);
            assert_eq!(all1[i].d, all[i].d);
        }
    }

    // ---- vec_dot against dequantized values and against the original activations ----------

    /// What a random test needs from a weight type.
    trait Weight: Block + core::fmt::Debug {
        /// The paired activation block.
        type Act: Block;
        fn random(rng: &mut Rng) -> Self;
        /// The minimum `m` (0 for the symmetric formats).
        fn min(&self) -> f32;
        fn dequantize(x: &[Self], y: &mut [f32]);
        fn quantize_act(x: &[f32], y: &mut [Self::Act]);
        fn dequantize_act(x: &[Self::Act], y: &mut [f32]);
        fn act_zero() -> Self::Act;
        /// The activation block's f16 scale and, for Q8_1, `s` and sum of quants.
        fn act_parts(a: &Self::Act) -> (f32, Option<(f32, i32)>);
        fn vec_dot(x: &[Self], y: &[Self::Act]) -> f32;
    }

    fn q8_0_parts(a: &BlockQ8_0) -> (f32, Option<(f32, i32)>) {
        (f16_le(a.d), None)
    }

    fn q8_1_parts(a: &BlockQ8_1) -> (f32, Option<(f32, i32)>) {
        let sum = a.qs.iter().map(|&q| i32::from(q)).sum();
        (f16_le(a.d), Some((f16_le(a.s), sum)))
    }

    macro_rules! act_q8_0 {
        () => {
            type Act = BlockQ8_0;
            fn quantize_act(x: &[f32], y: &mut [BlockQ8_0]) {
                quantize_row_q8_0(x, y)
            }
            fn dequantize_act(x: &[BlockQ8_0], y: &mut [f32]) {
                dequantize_row_q8_0(x, y)
            }
            fn act_zero() -> BlockQ8_0 {
                BlockQ8_0 {
                    d: [0; 2],
                    qs: [0; 32],
                }
            }
            fn act_parts(a: &BlockQ8_0) -> (f32, Option<(f32, i32)>) {
                q8_0_parts(a)
            }
        };
    }

    macro_rules! act_q8_1 {
        () => {
            type Act = BlockQ8_1;
            fn quantize_act(x: &[f32], y: &mut [BlockQ8_1]) {
                quantize_row_q8_1(x, y)
            }
            fn dequantize_act(x: &[BlockQ8_1], y: &mut [f32]) {
                dequantize_row_q8_1(x, y)
            }
            fn act_zero() -> BlockQ8_1 {
                BlockQ8_1 {
                    d: [0; 2],
                    s: [0; 2],
                    qs: [0; 32],
                }
            }
            fn act_parts(a: &BlockQ8_1) -> (f32, Option<(f32, i32)>) {
                q8_1_parts(a)
            }
        };
    }

    impl Weight for BlockQ4_0 {
        act_q8_0!();
        fn random(rng: &mut Rng) -> Self {
            BlockQ4_0 {
                d: rng.f16_scale(),
                qs: rng.bytes(),
            }
        }
        fn min(&self) -> f32 {
            0.0
        }
        fn dequantize(x: &[Self], y: &mut [f32]) {
            dequantize_row_q4_0(x, y)
        }
        fn vec_dot(x: &[Self], y: &[BlockQ8_0]) -> f32 {
            vec_dot_q4_0_q8_0(x, y)
        }
    }

    impl Weight for BlockQ4_1 {
        act_q8_1!();
        fn random(rng: &mut Rng) -> Self {
            let m = to_f16_le(-rng.range(0.1, 0.8));
            BlockQ4_1 {
                d: rng.f16_scale(),
                m,
                qs: rng.bytes(),
            }
        }
        fn min(&self) -> f32 {
            f16_le(self.m)
        }
        fn dequantize(x: &[Self], y: &mut [f32]) {
            dequantize_row_q4_1(x, y)
        }
        fn vec_dot(x: &[Self], y: &[BlockQ8_1]) -> f32 {
            vec_dot_q4_1_q8_1(x, y)
        }
    }

    impl Weight for BlockQ5_0 {
        act_q8_0!();
        fn random(rng: &mut Rng) -> Self {
            BlockQ5_0 {
                d: rng.f16_scale(),
                qh: rng.bytes(),
                qs: rng.bytes(),
            }
        }
        fn min(&self) -> f32 {
            0.0
        }
        fn dequantize(x: &[Self], y: &mut [f32]) {
            dequantize_row_q5_0(x, y)
        }
        fn vec_dot(x: &[Self], y: &[BlockQ8_0]) -> f32 {
            vec_dot_q5_0_q8_0(x, y)
        }
    }

    impl Weight for BlockQ5_1 {
        act_q8_1!();
        fn random(rng: &mut Rng) -> Self {
            let m = to_f16_le(-rng.range(0.1, 1.5));
            BlockQ5_1 {
                d: rng.f16_scale(),
                m,
                qh: rng.bytes(),
                qs: rng.bytes(),
            }
        }
        fn min(&self) -> f32 {
            f16_le(self.m)
        }
        fn dequantize(x: &[Self], y: &mut [f32]) {
            dequantize_row_q5_1(x, y)
        }
        fn vec_dot(x: &[Self], y: &[BlockQ8_1]) -> f32 {
            vec_dot_q5_1_q8_1(x, y)
        }
    }

    impl Weight for BlockQ8_0 {
        act_q8_0!();
        fn random(rng: &mut Rng) -> Self {
            let qs = rng.bytes::<32>().map(|b| b as i8);
            BlockQ8_0 {
                d: to_f16_le(rng.range(0.0005, 0.005)),
                qs,
            }
        }
        fn min(&self) -> f32 {
            0.0
        }
        fn dequantize(x: &[Self], y: &mut [f32]) {
            dequantize_row_q8_0(x, y)
        }
        fn vec_dot(x: &[Self], y: &[BlockQ8_0]) -> f32 {
            vec_dot_q8_0_q8_0(x, y)
        }
    }

    const MAX_BLOCKS: usize = 7;

    /// Random rows of `nb` blocks (1, 2, 3 and 7), several seeds each.
    ///
    /// Tight check, against `R = sum_i w_i a_i` in f64 over the dequantized weights `w` and the
    /// dequantized activations `a = q_a * d_a` (for Q8_1, plus `sum_b m_b (s_b - d_a,b sum q_a)`,
    /// i.e. the minimum term taken through the stored `s` as ggml does, since `s` is part of
    /// the activation format):
    /// * every `a_i`, every `q * d` of a weight, and `d_x * d_y` (two f16 significands,
    ///   11 bits each) are exact in f32, and `m * s` is a product of two f16s, also exact;
    /// * a block's term then takes at most two f32 roundings (`sumi * d_x`, `* d_y` for Q4_0;
    ///   `* sumi` and `+ m*s` for Q4_1/Q5_1; `* sumi` otherwise), and `nb` accumulations in
    ///   f32 add at most `nb` more;
    /// * the reference's own `w_i = q*d + m` is rounded once in f32; its f64 sum is exact to
    ///   ~1e-16 relative.
    ///
    /// So `|vec_dot - R| <= (nb + 4) * u * S` with `u = 2^-24` and
    /// `S = sum_i (|w_i| + 2|m_b|) |a_i| + sum_b |m_b s_b|`, which bounds every term's magnitude
    /// (`|q d| <= |w| + |m|`).
    ///
    /// Loose check, against the original activations `X = sum_i w_i x_i`: `a_i` differs from
    /// `x_i` by the rounding to the quantization step of the f32 scale `d` (at most `d/2`,
    /// plus ~2u|x_i| for the rounding of `id` and `x*id`), plus `|q_i| |d - d16|` from storing
    /// the scale as f16 (`<= 127 (d u16 + 2^-25)`). For Q8_1 the min term uses `s`, which is
    /// `f16(f32(sum q * d))`, instead of `d16 sum q`: `|s - d16 sum q| <= |sum q| (d u16 +
    /// 2^-25) + |sum q d| u + |s| u16 + 2^-25`. Each of these is doubled for slack.
    fn check_vec_dot<W: Weight>(seed: u64) {
        let mut rng = Rng(seed);
        for nb in [1usize, 2, 3, 7] {
            for _ in 0..8 {
                let w: [W; MAX_BLOCKS] = core::array::from_fn(|_| W::random(&mut rng));
                let w = &w[..nb];
                let x: [f32; 32 * MAX_BLOCKS] = core::array::from_fn(|_| rng.range(-1.0, 1.0));
                let x = &x[..32 * nb];
                let mut act = [W::act_zero(); MAX_BLOCKS];
                let act = &mut act[..nb];
                W::quantize_act(x, act);

                let mut wf = [0.0f32; 32 * MAX_BLOCKS];
                let wf = &mut wf[..32 * nb];
                W::dequantize(w, wf);
                let mut af = [0.0f32; 32 * MAX_BLOCKS];
                let af = &mut af[..32 * nb];
                W::dequantize_act(act, af);

                let got = f64::from(W::vec_dot(w, act));

                let mut reference = 0.0f64;
                let mut magnitude = 0.0f64;
                let mut loose_reference = 0.0f64;
                let mut loose_bound = 0.0f64;
                for b in 0..nb {
                    let m = f64::from(w[b].min());
                    let (d16, q8_1) = W::act_parts(&act[b]);
                    let d16 = f64::from(d16);
                    // The f32 scale the quants were computed with.
                    let amax = x[32 * b..32 * b + 32]
                        .iter()
                        .fold(0.0f32, |a, v| a.max(v.abs()));
                    let d32 = f64::from(amax / 127.0);
                    for i in 32 * b..32 * b + 32 {
                        let (wi, ai, xi) = (f64::from(wf[i]), f64::from(af[i]), f64::from(x[i]));
                        reference += wi * ai;
                        magnitude += (wi.abs() + 2.0 * m.abs()) * ai.abs();
                        loose_reference += wi * xi;
                        let step = d32 / 2.0 + 2.0 * U * xi.abs();
                        let scale_err = 127.0 * (d32 * U16 + F16_MIN_HALF_ULP);
                        loose_bound += wi.abs() * 2.0 * (step + scale_err);
                    }
                    if let Some((s, sum_q)) = q8_1 {
                        let (s, sum_q) = (f64::from(s), f64::from(sum_q));
                        reference += m * (s - d16 * sum_q);
                        magnitude += (m * s).abs();
                        let s_err = sum_q.abs() * (d32 * U16 + F16_MIN_HALF_ULP)
                            + (sum_q * d32).abs() * U
                            + s.abs() * U16
                            + F16_MIN_HALF_ULP;
                        loose_bound += m.abs() * 2.0 * s_err;
                    }
                }
                let tight = (nb as f64 + 4.0) * U * magnitude;
                assert!(
                    (got - reference).abs() <= tight,
                    "{:?} nb={nb}: vec_dot {got} vs dequantized {reference} (bound {tight})",
                    W::TYPE
                );
                let loose = loose_bound + tight;
                assert!(
                    (got - loose_reference).abs() <= loose,
                    "{:?} nb={nb}: vec_dot {got} vs original {loose_reference} (bound {loose})",
                    W::TYPE
                );
            }
        }
    }

    #[test]
    fn vec_dot_q4_0_matches_dequantized() {
        check_vec_dot::<BlockQ4_0>(1);
    }

    #[test]
    fn vec_dot_q4_1_matches_dequantized() {
        check_vec_dot::<BlockQ4_1>(2);
    }

    #[test]
    fn vec_dot_q5_0_matches_dequantized() {
        check_vec_dot::<BlockQ5_0>(3);
    }

    #[test]
    fn vec_dot_q5_1_matches_dequantized() {
        check_vec_dot::<BlockQ5_1>(4);
    }

    #[test]
    fn vec_dot_q8_0_matches_dequantized() {
        check_vec_dot::<BlockQ8_0>(5);
    }

    #[test]
    fn vec_dot_float_expression_order() {
        // One block, checked against the C expression written out by hand.
        let dx = f16_le(to_f16_le(0.0371));
        let dy = f16_le(to_f16_le(0.0093));
        let w = BlockQ4_0 {
            d: to_f16_le(0.0371),
            qs: [0xF0; 16],
        }; // -8 (lo), 7 (hi)
        let a = BlockQ8_0 {
            d: to_f16_le(0.0093),
            qs: [101; 32],
        };
        let sumi = 16 * (-8 * 101) + 16 * (7 * 101);
        assert_eq!(
            vec_dot_q4_0_q8_0(&[w], &[a]).to_bits(),
            ((sumi as f32 * dx) * dy).to_bits()
        );
        let w8 = BlockQ8_0 {
            d: to_f16_le(0.0371),
            qs: [-77; 32],
        };
        let sumi = 32 * (-77 * 101);
        assert_eq!(
            vec_dot_q8_0_q8_0(&[w8], &[a]).to_bits(),
            (sumi as f32 * (dx * dy)).to_bits()
        );
        let m = f16_le(to_f16_le(-0.61));
        let s = f16_le(to_f16_le(29.3));
        let w1 = BlockQ4_1 {
            d: to_f16_le(0.0371),
            m: to_f16_le(-0.61),
            qs: [0x5A; 16],
        };
        let a1 = BlockQ8_1 {
            d: to_f16_le(0.0093),
            s: to_f16_le(29.3),
            qs: [-13; 32],
        };
        let sumi = 16 * (10 * -13) + 16 * (5 * -13);
        let want = 0.0f32 + ((dx * dy) * sumi as f32 + m * s);
        assert_eq!(vec_dot_q4_1_q8_1(&[w1], &[a1]).to_bits(), want.to_bits());
        // Q5: qh = 0xFFFF_0000 sets the fifth bit of elements 16..32 only.
        let qh = [0x00, 0x00, 0xFF, 0xFF];
        let w5 = BlockQ5_0 {
            d: to_f16_le(0.0371),
            qh,
            qs: [0x5A; 16],
        };
        let sumi = 16 * ((10 - 16) * -13) + 16 * ((5 + 16 - 16) * -13);
        let want = (dx * dy) * sumi as f32;
        let a0 = BlockQ8_0 {
            d: to_f16_le(0.0093),
            qs: [-13; 32],
        };
        assert_eq!(vec_dot_q5_0_q8_0(&[w5], &[a0]).to_bits(), want.to_bits());
        let w51 = BlockQ5_1 {
            d: to_f16_le(0.0371),
            m: to_f16_le(-0.61),
            qh,
            qs: [0x5A; 16],
        };
        let sumi = 16 * (10 * -13) + 16 * ((5 + 16) * -13);
        let want = (dx * dy) * sumi as f32 + m * s;
        assert_eq!(vec_dot_q5_1_q8_1(&[w51], &[a1]).to_bits(), want.to_bits());
        // Two blocks: the per-block terms are accumulated in an f32 `sumf`, in block order.
        let t0 = (dx * dy) * sumi as f32 + m * s;
        let w51b = BlockQ5_1 {
            qs: [0x00; 16],
            qh: [0; 4],
            ..w51
        };
        let t1 = (dx * dy) * 0.0 + m * s;
        let got = vec_dot_q5_1_q8_1(&[w51, w51b], &[a1, a1]);
        assert_eq!(got.to_bits(), ((0.0f32 + t0) + t1).to_bits());
    }
}
