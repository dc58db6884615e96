//! The K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (weights) and Q8_K (activations), super-blocks of
//! 256 elements with 6- or 8-bit sub-block scales.
//!
//! Layouts: `ggml/src/ggml-common.h` (`block_q2_K` ... `block_q8_K`). Dequantization and the
//! Q8_K reference quantizer: `ggml/src/ggml-quants.c` (`dequantize_row_q2_K`,
//! `quantize_row_q8_K_ref`, ...). Dot products: `ggml/src/ggml-cpu/quants.c`
//! (`ggml_vec_dot_q2_K_q8_K_generic`, ...).

use super::{f16_le, Block, GgmlType, QK_K};

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

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// `fabsf`, exactly: clears the sign bit (`f32::abs` is not in `core` on our MSRV).
#[inline(always)]
fn fabsf(x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0x7fff_ffff)
}

/// `nearest_int` in ggml-quants.c: round to nearest, ties to even, by adding 1.5 * 2^23 so that
/// the FPU's own rounding puts the integer in the low mantissa bits. Valid for
/// `|fval| <= 4194303`; outside that range it returns garbage like the C code, but never panics.
#[inline(always)]
fn nearest_int(fval: f32) -> i32 {
    let val = fval + 12_582_912.0;
    (val.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
}

/// The f32 scale of a Q8_K block.
#[inline(always)]
fn q8k_d(b: &BlockQ8K) -> f32 {
    f32::from_le_bytes(b.d)
}

/// The sixteen `bsums` of a Q8_K block.
#[inline(always)]
fn q8k_bsums(b: &BlockQ8K) -> [i16; QK_K / 16] {
    b.bsums.map(i16::from_le_bytes)
}

/// Reads the 12 packed scale bytes of Q3_K/Q4_K/Q5_K as three little-endian u32 words, the way
/// the C code's `memcpy(aux, x[i].scales, 12)` does on a little-endian host.
#[inline(always)]
fn scale_words(s: &[u8; 12]) -> [u32; 3] {
    [
        u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        u32::from_le_bytes([s[4], s[5], s[6], s[7]]),
        u32::from_le_bytes([s[8], s[9], s[10], s[11]]),
    ]
}

/// The sixteen 6-bit Q3_K scales (0..=63, before the `- 32`), unpacked with the `kmask1` /
/// `kmask2` word trick of `dequantize_row_q3_K` and `ggml_vec_dot_q3_K_q8_K_generic`.
///
/// Per scale `k`: the low 4 bits are the low nibble of byte `k` (k < 8) or the high nibble of
/// byte `k - 8` (k >= 8); the high 2 bits are bits `2*(k/4)..` of byte `8 + k%4`.
fn q3k_scales(packed: &[u8; 12]) -> [u8; QK_K / 16] {
    const KMASK1: u32 = 0x0303_0303;
    const KMASK2: u32 = 0x0f0f_0f0f;
    let [a0, a1, tmp] = scale_words(packed);
    let words = [
        (a0 & KMASK2) | ((tmp & KMASK1) << 4),
        (a1 & KMASK2) | (((tmp >> 2) & KMASK1) << 4),
        ((a0 >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4),
        ((a1 >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4),
    ];
    let mut out = [0u8; QK_K / 16];
    for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// `get_scale_min_k4` in ggml-quants.c: the 6-bit scale and minimum of sub-block `j` (0..8) of
/// a Q4_K/Q5_K block. (The `utmp`/`kmask1..3` word trick of the `_generic` dot products yields
/// the same bytes.)
#[inline(always)]
fn get_scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// All eight (scale, minimum) pairs of a Q4_K/Q5_K block.
fn q4k_scales_mins(q: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut m = [0u8; 8];
    for j in 0..8 {
        (sc[j], m[j]) = get_scale_min_k4(j, q);
    }
    (sc, m)
}

/// The integer core shared by the Q3_K..Q6_K `_generic` dot products: the C code multiplies
/// activations by weights eight at a time (`aux16`) and adds `scale * aux16[l]` into lane
/// `aux32[l]`, so lane `l` collects every element whose index is `l` mod 8. `scales[e / group]`
/// is the sub-block scale of element `e`. Integer sums are exact, so only the lane assignment
/// matters for the float steps that follow.
#[inline(always)]
fn lane_sums(q8: &[i8; QK_K], a: &[i8; QK_K], scales: &[i32], group: usize) -> [i32; 8] {
    let mut aux32 = [0i32; 8];
    for (g, (q8g, ag)) in q8
        .chunks_exact(group)
        .zip(a.chunks_exact(group))
        .enumerate()
    {
        let scale = scales[g];
        for (e, (&q, &w)) in q8g.iter().zip(ag).enumerate() {
            // `aux16[l] = q8[l] * a[l]` fits an i16 for every K-quant (|a| <= 32).
            aux32[e % 8] += scale * (i32::from(q) * i32::from(w));
        }
    }
    aux32
}

/// `for (l = 0; l < 8; ++l) sums[l] += d * aux32[l];`
#[inline(always)]
fn add_lanes(sums: &mut [f32; 8], d: f32, aux32: &[i32; 8]) {
    for (s, &v) in sums.iter_mut().zip(aux32) {
        *s += d * v as f32;
    }
}

/// `for (l = 0; l < 8; ++l) sumf += sums[l];`
#[inline(always)]
fn fold_lanes(mut sumf: f32, sums: &[f32; 8]) -> f32 {
    for &s in sums {
        sumf += s;
    }
    sumf
}

// ---------------------------------------------------------------------------------------------
// Dequantization (ggml-quants.c)
// ---------------------------------------------------------------------------------------------

/// Dequantizes Q2_K blocks into `y` (`256 * x.len()` elements).
///
/// `dequantize_row_q2_K`: each half of 128 elements uses 32 bytes of `qs`; the four 2-bit
/// fields of a byte (shift 0, 2, 4, 6) go to four runs of 32 outputs, each run two sub-blocks of
/// 16 with their own scale byte.
pub fn dequantize_row_q2_k(x: &[BlockQ2K], y: &mut [f32]) {
    for (blk, out) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_le(blk.d);
        let min = f16_le(blk.dmin);
        let mut is = 0;
        for (q, out128) in blk.qs.chunks_exact(32).zip(out.chunks_exact_mut(128)) {
            for (j, out32) in out128.chunks_exact_mut(32).enumerate() {
                let shift = 2 * j;
                for (q16, out16) in q.chunks_exact(16).zip(out32.chunks_exact_mut(16)) {
                    let sc = blk.scales[is];
                    is += 1;
                    let dl = d * f32::from(sc & 0xf);
                    let ml = min * f32::from(sc >> 4);
                    for (o, &b) in out16.iter_mut().zip(q16) {
                        *o = dl * f32::from((b >> shift) & 3) - ml;
                    }
                }
            }
        }
    }
}

/// Dequantizes Q3_K blocks into `y`.
///
/// `dequantize_row_q3_K`: the same element order as Q2_K; bit `n*4 + j` of `hmask[l]` is the
/// third bit of the element taken from `qs` at shift `2*j` in half `n`, and a clear bit
/// subtracts 4.
pub fn dequantize_row_q3_k(x: &[BlockQ3K], y: &mut [f32]) {
    for (blk, out) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d_all = f16_le(blk.d);
        let scales = q3k_scales(&blk.scales);
        let mut is = 0;
        let mut m: u8 = 1;
        for (q, out128) in blk.qs.chunks_exact(32).zip(out.chunks_exact_mut(128)) {
            for (j, out32) in out128.chunks_exact_mut(32).enumerate() {
                let shift = 2 * j;
                for ((q16, hm16), out16) in q
                    .chunks_exact(16)
                    .zip(blk.hmask.chunks_exact(16))
                    .zip(out32.chunks_exact_mut(16))
                {
                    let dl = d_all * (i32::from(scales[is]) - 32) as f32;
                    is += 1;
                    for ((o, &b), &h) in out16.iter_mut().zip(q16).zip(hm16) {
                        let q = i32::from((b >> shift) & 3) - if h & m != 0 { 0 } else { 4 };
                        *o = dl * q as f32;
                    }
                }
                m <<= 1;
            }
        }
    }
}

/// Dequantizes Q4_K blocks into `y`.
///
/// `dequantize_row_q4_K`: each 64 outputs use 32 bytes of `qs`, low nibbles first (sub-block
/// `2k`), then high nibbles (sub-block `2k + 1`).
pub fn dequantize_row_q4_k(x: &[BlockQ4K], y: &mut [f32]) {
    for (blk, out) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_le(blk.d);
        let min = f16_le(blk.dmin);
        for (k, (q, out64)) in blk
            .qs
            .chunks_exact(32)
            .zip(out.chunks_exact_mut(64))
            .enumerate()
        {
            let (sc, m) = get_scale_min_k4(2 * k, &blk.scales);
            let (d1, m1) = (d * f32::from(sc), min * f32::from(m));
            let (sc, m) = get_scale_min_k4(2 * k + 1, &blk.scales);
            let (d2, m2) = (d * f32::from(sc), min * f32::from(m));
            let (lo, hi) = out64.split_at_mut(32);
            for (o, &b) in lo.iter_mut().zip(q) {
                *o = d1 * f32::from(b & 0xf) - m1;
            }
            for (o, &b) in hi.iter_mut().zip(q) {
                *o = d2 * f32::from(b >> 4) - m2;
            }
        }
    }
}

/// Dequantizes Q5_K blocks into `y`.
///
/// `dequantize_row_q5_K`: as Q4_K, with bit `2k` (low nibbles) or `2k + 1` (high nibbles) of
/// `qh[l]` adding 16.
pub fn dequantize_row_q5_k(x: &[BlockQ5K], y: &mut [f32]) {
    for (blk, out) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_le(blk.d);
        let min = f16_le(blk.dmin);
        for (k, (ql, out64)) in blk
            .qs
            .chunks_exact(32)
            .zip(out.chunks_exact_mut(64))
            .enumerate()
        {
            let (u1, u2) = (1u8 << (2 * k), 2u8 << (2 * k));
            let (sc, m) = get_scale_min_k4(2 * k, &blk.scales);
            let (d1, m1) = (d * f32::from(sc), min * f32::from(m));
            let (sc, m) = get_scale_min_k4(2 * k + 1, &blk.scales);
            let (d2, m2) = (d * f32::from(sc), min * f32::from(m));
            let (lo, hi) = out64.split_at_mut(32);
            for ((o, &b), &h) in lo.iter_mut().zip(ql).zip(&blk.qh) {
                let q = (b & 0xf) + if h & u1 != 0 { 16 } else { 0 };
                *o = d1 * f32::from(q) - m1;
            }
            for ((o, &b), &h) in hi.iter_mut().zip(ql).zip(&blk.qh) {
                let q = (b >> 4) + if h & u2 != 0 { 16 } else { 0 };
                *o = d2 * f32::from(q) - m2;
            }
        }
    }
}

/// The 256 signed 6-bit quants (`q - 32`, in -32..=31) of a Q6_K block, in element order
/// (`dequantize_row_q6_K`): in each half, `ql[l]`/`ql[l + 32]` low nibbles give elements `l` and
/// `l + 32`, their high nibbles `l + 64` and `l + 96`; bits 0-1, 2-3, 4-5, 6-7 of `qh[l]` are
/// the top bits of those four.
fn q6k_quants(blk: &BlockQ6K) -> [i8; QK_K] {
    let mut a = [0i8; QK_K];
    for ((ql, qh), a128) in blk
        .ql
        .chunks_exact(64)
        .zip(blk.qh.chunks_exact(32))
        .zip(a.chunks_exact_mut(128))
    {
        for (l, &h) in qh.iter().enumerate() {
            let (b0, b1) = (ql[l], ql[l + 32]);
            let six = |nib: u8, sh: u32| (nib | (((h >> sh) & 3) << 4)) as i8 - 32;
            a128[l] = six(b0 & 0xf, 0);
            a128[l + 32] = six(b1 & 0xf, 2);
            a128[l + 64] = six(b0 >> 4, 4);
            a128[l + 96] = six(b1 >> 4, 6);
        }
    }
    a
}

/// Dequantizes Q6_K blocks into `y`.
///
/// `dequantize_row_q6_K`: `y = d * sc * q` with `sc` the signed scale of the element's
/// sub-block of 16, evaluated left to right as in C.
pub fn dequantize_row_q6_k(x: &[BlockQ6K], y: &mut [f32]) {
    for (blk, out) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_le(blk.d);
        let q = q6k_quants(blk);
        for ((out16, q16), &sc) in out
            .chunks_exact_mut(16)
            .zip(q.chunks_exact(16))
            .zip(&blk.scales)
        {
            let ds = d * f32::from(sc);
            for (o, &v) in out16.iter_mut().zip(q16) {
                *o = ds * f32::from(v);
            }
        }
    }
}

/// Dequantizes Q8_K blocks into `y`.
///
/// `dequantize_row_q8_K`: `y = d * q`.
pub fn dequantize_row_q8_k(x: &[BlockQ8K], y: &mut [f32]) {
    for (blk, out) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = q8k_d(blk);
        for (o, &q) in out.iter_mut().zip(&blk.qs) {
            *o = d * f32::from(q);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Activation quantization (ggml-quants.c)
// ---------------------------------------------------------------------------------------------

/// Quantizes `x` to Q8_K exactly as `quantize_row_q8_K_ref` does.
///
/// The element of largest magnitude (the first one, on ties) fixes `iscale = -127 / max` (ggml
/// at this commit uses 127, not 128, so the quants lie in -127..=127); `q = min(127,
/// nearest_int(iscale * x))`, `d = 1 / iscale`, `bsums` are the sums of each 16 quants. An
/// all-zero block gets `d = 0` and zero quants; its `bsums` are zeroed too (the C code leaves
/// them untouched, which only matters to uninitialised memory, since they are multiplied by
/// `d = 0`).
pub fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut max = 0f32;
        let mut amax = 0f32;
        for &v in xb {
            let ax = fabsf(v);
            if ax > amax {
                amax = ax;
                max = v;
            }
        }
        if amax == 0.0 {
            yb.d = 0f32.to_le_bytes();
            yb.qs = [0; QK_K];
            yb.bsums = [[0; 2]; QK_K / 16];
            continue;
        }
        let iscale = -127.0f32 / max;
        for (q, &v) in yb.qs.iter_mut().zip(xb) {
            // `y[i].qs[j] = MIN(127, v)` stores into an int8_t: truncation, as `as i8` does.
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (bs, q16) in yb.bsums.iter_mut().zip(yb.qs.chunks_exact(16)) {
            let sum: i32 = q16.iter().map(|&q| i32::from(q)).sum();
            *bs = (sum as i16).to_le_bytes();
        }
        yb.d = (1.0f32 / iscale).to_le_bytes();
    }
}

// ---------------------------------------------------------------------------------------------
// Dot products (ggml-cpu/quants.c, `_generic`)
// ---------------------------------------------------------------------------------------------

/// Q2_K weights against Q8_K activations (`ggml_vec_dot_q2_K_q8_K_generic`).
///
/// Per block: `sumf += dall * isum - dmin * summs`, with `isum` the scaled integer dot product
/// and `summs = sum(bsums[j] * min[j])`.
pub fn vec_dot_q2_k_q8_k(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    let mut sumf = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let summs: i32 = q8k_bsums(yb)
            .iter()
            .zip(&xb.scales)
            .map(|(&b, &sc)| i32::from(b) * i32::from(sc >> 4))
            .sum();
        let yd = q8k_d(yb);
        let dall = yd * f16_le(xb.d);
        let dmin = yd * f16_le(xb.dmin);

        let mut isum = 0i32;
        let mut is = 0;
        let mut q8 = yb.qs.chunks_exact(16);
        for q2 in xb.qs.chunks_exact(32) {
            for j in 0..4 {
                let shift = 2 * j;
                for q2_16 in q2.chunks_exact(16) {
                    let d = i32::from(xb.scales[is] & 0xf);
                    is += 1;
                    let q8_16 = q8.next().unwrap_or(&[]);
                    let isuml: i32 = q8_16
                        .iter()
                        .zip(q2_16)
                        .map(|(&a, &b)| i32::from(a) * i32::from((b >> shift) & 3))
                        .sum();
                    isum += d * isuml;
                }
            }
        }
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}

/// Q3_K weights against Q8_K activations (`ggml_vec_dot_q3_K_q8_K_generic`).
///
/// Integer products go into eight lanes per block, which are scaled into eight float sums
/// carried across blocks and added up at the end, in the C code's order.
pub fn vec_dot_q3_k_q8_k(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    let mut sums = [0f32; 8];
    for (xb, yb) in x.iter().zip(y) {
        // aux8: the signed 3-bit quants (-4..=3) in element order.
        let mut a = [0i8; QK_K];
        let mut m: u8 = 1;
        for (q3, a128) in xb.qs.chunks_exact(32).zip(a.chunks_exact_mut(128)) {
            for (j, a32) in a128.chunks_exact_mut(32).enumerate() {
                let shift = 2 * j;
                for ((o, &b), &h) in a32.iter_mut().zip(q3).zip(&xb.hmask) {
                    *o = ((b >> shift) & 3) as i8 - if h & m != 0 { 0 } else { 4 };
                }
                m <<= 1;
            }
        }
        let scales = q3k_scales(&xb.scales).map(|s| i32::from(s) - 32);
        let aux32 = lane_sums(&yb.qs, &a, &scales, 16);
        let d = f16_le(xb.d) * q8k_d(yb);
        add_lanes(&mut sums, d, &aux32);
    }
    fold_lanes(0.0, &sums)
}

/// The (scale, minimum) pairs of a Q4_K/Q5_K block as i32, and the minimums' contribution
/// `sumi = sum(bsums[j] * mins[j / 2])`.
fn q4k_scales_and_sumi(scales: &[u8; 12], yb: &BlockQ8K) -> ([i32; 8], i32) {
    let (sc, mins) = q4k_scales_mins(scales);
    let sumi = q8k_bsums(yb)
        .iter()
        .enumerate()
        .map(|(j, &b)| i32::from(b) * i32::from(mins[j / 2]))
        .sum();
    (sc.map(i32::from), sumi)
}

/// Q4_K weights against Q8_K activations (`ggml_vec_dot_q4_K_q8_K_generic`).
///
/// As Q3_K, plus `sumf -= dmin * sumi` for the minimums, per block, before the lanes are added.
pub fn vec_dot_q4_k_q8_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    let mut sums = [0f32; 8];
    let mut sumf = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let mut a = [0i8; QK_K];
        for (q4, a64) in xb.qs.chunks_exact(32).zip(a.chunks_exact_mut(64)) {
            let (lo, hi) = a64.split_at_mut(32);
            for ((l, h), &b) in lo.iter_mut().zip(hi.iter_mut()).zip(q4) {
                *l = (b & 0xf) as i8;
                *h = (b >> 4) as i8;
            }
        }
        let (scales, sumi) = q4k_scales_and_sumi(&xb.scales, yb);
        let aux32 = lane_sums(&yb.qs, &a, &scales, 32);
        let yd = q8k_d(yb);
        let d = f16_le(xb.d) * yd;
        add_lanes(&mut sums, d, &aux32);
        let dmin = f16_le(xb.dmin) * yd;
        sumf -= dmin * sumi as f32;
    }
    fold_lanes(sumf, &sums)
}

/// Q5_K weights against Q8_K activations (`ggml_vec_dot_q5_K_q8_K_generic`).
///
/// As Q4_K, with the fifth bit from `qh` adding 16 to each quant.
pub fn vec_dot_q5_k_q8_k(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    let mut sums = [0f32; 8];
    let mut sumf = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let mut a = [0i8; QK_K];
        for (k, (q4, a64)) in xb
            .qs
            .chunks_exact(32)
            .zip(a.chunks_exact_mut(64))
            .enumerate()
        {
            let (u1, u2) = (1u8 << (2 * k), 2u8 << (2 * k));
            let (lo, hi) = a64.split_at_mut(32);
            for (((l, h), &b), &hb) in lo.iter_mut().zip(hi.iter_mut()).zip(q4).zip(&xb.qh) {
                *l = ((b & 0xf) + if hb & u1 != 0 { 16 } else { 0 }) as i8;
                *h = ((b >> 4) + if hb & u2 != 0 { 16 } else { 0 }) as i8;
            }
        }
        let (scales, sumi) = q4k_scales_and_sumi(&xb.scales, yb);
        let aux32 = lane_sums(&yb.qs, &a, &scales, 32);
        let yd = q8k_d(yb);
        let d = f16_le(xb.d) * yd;
        add_lanes(&mut sums, d, &aux32);
        let dmin = f16_le(xb.dmin) * yd;
        sumf -= dmin * sumi as f32;
    }
    fold_lanes(sumf, &sums)
}

/// Q6_K weights against Q8_K activations (`ggml_vec_dot_q6_K_q8_K_generic`).
///
/// As Q3_K, with the signed 8-bit scales of Q6_K.
pub fn vec_dot_q6_k_q8_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    let mut sums = [0f32; 8];
    for (xb, yb) in x.iter().zip(y) {
        let a = q6k_quants(xb);
        let scales = xb.scales.map(i32::from);
        let aux32 = lane_sums(&yb.qs, &a, &scales, 16);
        let d = f16_le(xb.d) * q8k_d(yb);
        add_lanes(&mut sums, d, &aux32);
    }
    fold_lanes(0.0, &sums)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{as_blocks_mut, to_f16_le};
    use alloc::vec;
    use alloc::vec::Vec;

    use crate::quant::test_rng::Rng;

    /// `n` blocks of `B` made of random bytes, then `fix` run on each (to set d/dmin).
    fn random_blocks<B: Block>(
        rng: &mut Rng,
        n: usize,
        mut fix: impl FnMut(&mut B, &mut Rng),
    ) -> Vec<B> {
        let mut bytes = vec![0u8; n * core::mem::size_of::<B>()];
        rng.fill(&mut bytes);
        let mut out: Vec<B> = as_blocks_mut::<B>(&mut bytes).unwrap().to_vec();
        for b in &mut out {
            fix(b, rng);
        }
        out
    }

    /// A reasonable super-block scale, as f16 bytes.
    fn q8k(x: &[f32]) -> Vec<BlockQ8K> {
        let zero = BlockQ8K {
            d: [0; 4],
            qs: [0; QK_K],
            bsums: [[0; 2]; QK_K / 16],
        };
        let mut y = vec![zero; x.len() / QK_K];
        quantize_row_q8_k(x, &mut y);
        y
    }

    fn dot64(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum()
    }

    fn abs_dot64(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
            .sum()
    }

    /// Splits weight blocks into (scale part only, minimum part only).
    type SplitFn<B> = fn(&[B]) -> (Vec<B>, Vec<B>);

    /// Checks one weight type's `vec_dot` against float64 references, over many random rows.
    ///
    /// `deq` dequantizes; `split` returns the same blocks with `dmin` zeroed and with `d`
    /// zeroed (identity pair for types without minimums), so that the scale and minimum parts
    /// of each weight, which the dot product sums separately, can be bounded separately.
    fn check_vec_dot<B: Block>(
        seed: u64,
        fix: impl Fn(&mut B, &mut Rng) + Copy,
        deq: fn(&[B], &mut [f32]),
        dot: fn(&[B], &[BlockQ8K]) -> f32,
        split: SplitFn<B>,
    ) {
        let mut rng = Rng(seed);
        for case in 0..64 {
            let nb = 1 + case % 8;
            let n = nb * QK_K;
            let w = random_blocks::<B>(&mut rng, nb, fix);
            // Activations of varied magnitude, one scale per case.
            let amp = [1.0f32, 100.0, 1e-3][case % 3];
            let x: Vec<f32> = (0..n).map(|_| rng.range(-amp, amp)).collect();
            let act = q8k(&x);

            let mut wf = vec![0f32; n];
            deq(&w, &mut wf);
            let mut af = vec![0f32; n];
            dequantize_row_q8_k(&act, &mut af);
            let got = f64::from(dot(&w, &act));

            // (1) Against the dequantized operands. Both sides are the same sum of exact
            // integer products times the same scales; they differ only by f32 rounding: on the
            // vec_dot side `d = dw * da`, `d * aux32`, the running sums over at most 8 blocks,
            // the 8-lane fold and the minimum term (about 20 roundings on any path); on the
            // reference side the 2-3 roundings inside each dequantized value. Each rounding is
            // at most 2^-24 relative to the magnitude it touches, and every magnitude is
            // bounded by `mag`, the sum of |scale part| and |minimum part| times |activation|.
            // So |got - want| <= ~25 * 2^-24 * mag; we allow 32 * 2^-23 * mag (4e-6 relative
            // to the magnitude, far below any real bug, which shifts whole terms).
            let (w_scale, w_min) = split(&w);
            let (mut ws, mut wm) = (vec![0f32; n], vec![0f32; n]);
            deq(&w_scale, &mut ws);
            deq(&w_min, &mut wm);
            let mag = abs_dot64(&ws, &af) + abs_dot64(&wm, &af);
            let want = dot64(&wf, &af);
            let tol = 32.0 * f64::from(f32::EPSILON) * mag;
            assert!(
                (got - want).abs() <= tol,
                "case {case}: vec_dot {got} vs dequantized dot {want} (tol {tol})"
            );

            // (2) Against the original activations. Q8_K rounds each x to the nearest multiple
            // of its block's `d`, so |x - a| <= |d|/2, plus a few f32 roundings of `iscale * x`,
            // `1 / iscale` and `d * q` (each <= 127 * |d| * 2^-24): |x - a| <= |d| * 0.50003.
            // Hence |dot(w, x) - dot(w, a)| <= sum over blocks of |d_b| * 0.50003 * sum|w_i|;
            // add the bound of (1) for the f32 rounding of vec_dot itself.
            let quant_err: f64 = act
                .iter()
                .zip(wf.chunks_exact(QK_K))
                .map(|(b, wb)| {
                    let d = f64::from(q8k_d(b)).abs();
                    d * 0.50003 * wb.iter().map(|&v| f64::from(v).abs()).sum::<f64>()
                })
                .sum();
            let exact = dot64(&wf, &x);
            assert!(
                (got - exact).abs() <= quant_err + tol,
                "case {case}: vec_dot {got} vs exact dot {exact} (tol {})",
                quant_err + tol
            );
        }
    }

    fn no_split<B: Block>(w: &[B]) -> (Vec<B>, Vec<B>) {
        (w.to_vec(), vec![])
    }

    #[test]
    fn vec_dot_q2_k_matches_float_references() {
        check_vec_dot::<BlockQ2K>(
            1,
            |b, r| {
                b.d = r.f16_scale();
                b.dmin = r.f16_scale();
            },
            dequantize_row_q2_k,
            vec_dot_q2_k_q8_k,
            |w| {
                let s = w.iter().map(|b| BlockQ2K { dmin: [0; 2], ..*b }).collect();
                let m = w.iter().map(|b| BlockQ2K { d: [0; 2], ..*b }).collect();
                (s, m)
            },
        );
    }

    #[test]
    fn vec_dot_q3_k_matches_float_references() {
        check_vec_dot::<BlockQ3K>(
            2,
            |b, r| b.d = r.f16_scale(),
            dequantize_row_q3_k,
            vec_dot_q3_k_q8_k,
            no_split,
        );
    }

    #[test]
    fn vec_dot_q4_k_matches_float_references() {
        check_vec_dot::<BlockQ4K>(
            3,
            |b, r| {
                b.d = r.f16_scale();
                b.dmin = r.f16_scale();
            },
            dequantize_row_q4_k,
            vec_dot_q4_k_q8_k,
            |w| {
                let s = w.iter().map(|b| BlockQ4K { dmin: [0; 2], ..*b }).collect();
                let m = w.iter().map(|b| BlockQ4K { d: [0; 2], ..*b }).collect();
                (s, m)
            },
        );
    }

    #[test]
    fn vec_dot_q5_k_matches_float_references() {
        check_vec_dot::<BlockQ5K>(
            4,
            |b, r| {
                b.d = r.f16_scale();
                b.dmin = r.f16_scale();
            },
            dequantize_row_q5_k,
            vec_dot_q5_k_q8_k,
            |w| {
                let s = w.iter().map(|b| BlockQ5K { dmin: [0; 2], ..*b }).collect();
                let m = w.iter().map(|b| BlockQ5K { d: [0; 2], ..*b }).collect();
                (s, m)
            },
        );
    }

    #[test]
    fn vec_dot_q6_k_matches_float_references() {
        check_vec_dot::<BlockQ6K>(
            5,
            |b, r| b.d = r.f16_scale(),
            dequantize_row_q6_k,
            vec_dot_q6_k_q8_k,
            no_split,
        );
    }

    #[test]
    fn vec_dot_of_empty_rows_is_zero() {
        assert_eq!(vec_dot_q2_k_q8_k(&[], &[]), 0.0);
        assert_eq!(vec_dot_q3_k_q8_k(&[], &[]), 0.0);
        assert_eq!(vec_dot_q4_k_q8_k(&[], &[]), 0.0);
        assert_eq!(vec_dot_q5_k_q8_k(&[], &[]), 0.0);
        assert_eq!(vec_dot_q6_k_q8_k(&[], &[]), 0.0);
    }

    // ----- quantize_row_q8_k -----

    fn garbage_q8k() -> BlockQ8K {
        BlockQ8K {
            d: 7.0f32.to_le_bytes(),
            qs: [5; QK_K],
            bsums: [[9, 9]; QK_K / 16],
        }
    }

    #[test]
    fn quantize_q8_k_all_zero_block() {
        let mut y = [garbage_q8k(); 2];
        let mut x = [0f32; 2 * QK_K];
        x[QK_K] = 1.0; // the second block is not zero
        x[3] = -0.0; // -0.0 counts as zero
        quantize_row_q8_k(&x, &mut y);
        assert_eq!(y[0].d, 0f32.to_le_bytes());
        assert_eq!(y[0].qs, [0; QK_K]);
        assert_eq!(y[0].bsums, [[0; 2]; QK_K / 16]);
        assert_eq!(q8k_d(&y[1]), 1.0 / (-127.0f32 / 1.0));
        assert_eq!(y[1].qs[0], -127);
        assert_eq!(q8k_bsums(&y[1])[0], -127);
    }

    #[test]
    fn quantize_q8_k_largest_magnitude_keeps_its_sign() {
        // max = -2 (the first of the two elements of magnitude 2), so iscale = -127 / -2 = 63.5
        // and the negative extreme maps to -127 (ggml at this commit uses 127, not 128, so
        // -128 never appears), the positive one to +127.
        let mut x = [0f32; QK_K];
        x[10] = -2.0;
        x[20] = 2.0;
        x[30] = 1.0; // 63.5: a tie, to even: 64
        x[31] = -1.0; // -63.5: -64
        x[32] = 0.5; // 31.75: 32
        x[33] = 0.25; // 15.875: 16
        x[34] = 3.0 / 127.0; // about 1.5, not exactly: whatever f32 gives, then rounded
        let mut y = [garbage_q8k()];
        quantize_row_q8_k(&x, &mut y);
        let iscale = -127.0f32 / -2.0;
        assert_eq!(iscale, 63.5);
        assert_eq!(q8k_d(&y[0]), 1.0f32 / 63.5);
        assert_eq!(y[0].qs[10], -127);
        assert_eq!(y[0].qs[20], 127);
        assert_eq!(y[0].qs[30], 64);
        assert_eq!(y[0].qs[31], -64);
        assert_eq!(y[0].qs[32], 32);
        assert_eq!(y[0].qs[33], 16);
        assert_eq!(i32::from(y[0].qs[34]), (iscale * x[34]).round() as i32);
        assert_eq!(y[0].qs[0], 0);
        // bsums: group 0 holds indices 0..16 (only -127), group 1 holds 16..32, group 2 32..48.
        let bs = q8k_bsums(&y[0]);
        assert_eq!(bs[0], -127);
        assert_eq!(bs[1], 127 + 64 - 64);
        assert_eq!(bs[2], 32 + 16 + i16::from(y[0].qs[34]));
        assert!(bs[3..].iter().all(|&s| s == 0));

        // The other order: +2 first, so iscale = -63.5 and the signs flip.
        x[10] = 2.0;
        x[20] = -2.0;
        quantize_row_q8_k(&x, &mut y);
        assert_eq!(q8k_d(&y[0]), 1.0f32 / -63.5);
        assert_eq!((y[0].qs[10], y[0].qs[20], y[0].qs[30]), (-127, 127, -64));
    }

    #[test]
    fn quantize_q8_k_rounds_half_to_even() {
        // max = -127 gives iscale = 1 exactly, so every x below is itself the value rounded.
        let mut x = [0f32; QK_K];
        x[0] = -127.0;
        let ties = [
            (0.5f32, 0i8),
            (1.5, 2),
            (2.5, 2),
            (3.5, 4),
            (-0.5, 0),
            (-1.5, -2),
            (-2.5, -2),
            (-3.5, -4),
            (126.5, 126),
            (2.4999998, 2),
            (2.5000002, 3),
        ];
        for (i, &(v, _)) in ties.iter().enumerate() {
            x[1 + i] = v;
        }
        let mut y = [garbage_q8k()];
        quantize_row_q8_k(&x, &mut y);
        assert_eq!(q8k_d(&y[0]), 1.0);
        assert_eq!(y[0].qs[0], -127);
        for (i, &(v, q)) in ties.iter().enumerate() {
            assert_eq!(y[0].qs[1 + i], q, "x = {v}");
        }
        // nearest_int itself.
        assert_eq!(nearest_int(0.5), 0);
        assert_eq!(nearest_int(1.5), 2);
        assert_eq!(nearest_int(-2.5), -2);
        assert_eq!(nearest_int(-127.0), -127);
        assert_eq!(nearest_int(4_194_303.0), 4_194_303);
        assert_eq!(nearest_int(-4_194_303.0), -4_194_303);
    }

    #[test]
    fn quantize_q8_k_bsums_are_sums_of_quants() {
        let mut rng = Rng(99);
        let x: Vec<f32> = (0..4 * QK_K).map(|_| rng.range(-3.0, 3.0)).collect();
        let y = q8k(&x);
        for (b, xb) in y.iter().zip(x.chunks_exact(QK_K)) {
            let d = q8k_d(b);
            for (s, q16) in q8k_bsums(b).iter().zip(b.qs.chunks_exact(16)) {
                assert_eq!(
                    i32::from(*s),
                    q16.iter().map(|&q| i32::from(q)).sum::<i32>()
                );
            }
            // Every quant is the value rounded to the grid, within half a step.
            for (&q, &v) in b.qs.iter().zip(xb) {
                assert!((q as f32 * d - v).abs() <= d.abs() * 0.5001);
            }
            assert!(b.qs.iter().all(|&q| q != -128));
        }
    }

    // ----- scale unpacking -----

    #[test]
    fn q3_k_scales_unpack_by_hand() {
        let mut s = [0u8; 12];
        s[0] = 0x21; // scale 0 low = 1, scale 8 low = 2
        s[4] = 0x00; // scale 4 low = 0, scale 12 low = 0
        s[5] = 0x0f; // scale 5 low = 15
        s[7] = 0xa0; // scale 15 low = 10
        s[8] = 0b11_10_01_00; // high bits: scale 0: 0, scale 4: 1, scale 8: 2, scale 12: 3
        s[11] = 0b01_00_00_11; // high bits: scale 3: 3, scale 15: 1
        let sc = q3k_scales(&s);
        assert_eq!(sc[0], 1);
        assert_eq!(sc[4], 16);
        assert_eq!(sc[8], 2 | (2 << 4));
        assert_eq!(sc[12], 3 << 4);
        assert_eq!(sc[5], 15);
        assert_eq!(sc[3], 3 << 4);
        assert_eq!(sc[15], 10 | (1 << 4));
        for k in [1, 2, 6, 7, 9, 10, 11, 13, 14] {
            assert_eq!(sc[k], 0, "scale {k}");
        }
        // And the per-byte reading of the packing, on random bytes.
        let mut rng = Rng(7);
        for _ in 0..100 {
            rng.fill(&mut s);
            let sc = q3k_scales(&s);
            for (k, &v) in sc.iter().enumerate() {
                let low = if k < 8 { s[k] & 0xf } else { s[k - 8] >> 4 };
                let high = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
                assert_eq!(v, low | (high << 4), "scale {k}");
            }
        }
    }

    #[test]
    fn q4_k_scale_word_trick_equals_get_scale_min_k4() {
        // The `utmp` / kmask1..3 unpacking of ggml_vec_dot_q4_K_q8_K_generic, written out.
        fn utmp_trick(s: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
            let [u0, u1, u2] = scale_words(s);
            let (k1, k2, k3) = (0x3f3f_3f3fu32, 0x0f0f_0f0fu32, 0x0303_0303u32);
            let u3 = ((u2 >> 4) & k2) | (((u1 >> 6) & k3) << 4);
            let uaux = u1 & k1;
            let u1 = (u2 & k2) | (((u0 >> 6) & k3) << 4);
            let u2 = uaux;
            let u0 = u0 & k1;
            let mut sc = [0u8; 8];
            let mut m = [0u8; 8];
            sc[..4].copy_from_slice(&u0.to_le_bytes());
            sc[4..].copy_from_slice(&u1.to_le_bytes());
            m[..4].copy_from_slice(&u2.to_le_bytes());
            m[4..].copy_from_slice(&u3.to_le_bytes());
            (sc, m)
        }
        let mut rng = Rng(8);
        let mut s = [0u8; 12];
        for _ in 0..200 {
            rng.fill(&mut s);
            assert_eq!(q4k_scales_mins(&s), utmp_trick(&s));
        }
    }

    // ----- dequantization, by hand -----

    fn f16(v: f32) -> [u8; 2] {
        let b = to_f16_le(v);
        assert_eq!(f16_le(b), v, "{v} must be exact in f16");
        b
    }

    #[test]
    fn dequantize_q2_k_by_hand() {
        let mut b = BlockQ2K {
            scales: [0; 16],
            qs: [0; 64],
            d: f16(0.5),
            dmin: f16(0.25),
        };
        // Scale byte k serves elements 16k..16k+16: low nibble scale, high nibble minimum.
        for (k, s) in b.scales.iter_mut().enumerate() {
            *s = ((k as u8) << 4) | (15 - k as u8);
        }
        // qs[0] packs elements 0 (bits 0-1), 32 (2-3), 64 (4-5), 96 (6-7).
        b.qs[0] = 0b11_10_01_00;
        // qs[17] bits 2-3: element 16 + 32 + 1 = 49.
        b.qs[17] = 0b00_00_11_00;
        // qs[32] bits 6-7: second half, element 128 + 96 = 224.
        b.qs[32] = 0b10_00_00_00;
        let mut expected = [0f32; QK_K];
        for (e, v) in expected.iter_mut().enumerate() {
            let k = (e / 16) as f32;
            // q = 0 everywhere else: 0.5 * sc * 0 - 0.25 * m.
            *v = -0.25 * k;
        }
        expected[0] = 0.5 * 15.0 * 0.0 - 0.0;
        expected[32] = 0.5 * 13.0 * 1.0 - 0.25 * 2.0; // 6.5 - 0.5 = 6
        expected[64] = 0.5 * 11.0 * 2.0 - 0.25 * 4.0; // 11 - 1 = 10
        expected[96] = 0.5 * 9.0 * 3.0 - 0.25 * 6.0; // 13.5 - 1.5 = 12
        expected[49] = 0.5 * 12.0 * 3.0 - 0.25 * 3.0; // 18 - 0.75 = 17.25
        expected[224] = 0.5 * 1.0 * 2.0 - 0.25 * 14.0; // 1 - 3.5 = -2.5
        assert_eq!(
            (
                expected[32],
                expected[64],
                expected[96],
                expected[49],
                expected[224]
            ),
            (6.0, 10.0, 12.0, 17.25, -2.5)
        );
        let mut y = [0f32; QK_K];
        dequantize_row_q2_k(&[b], &mut y);
        assert_eq!(y, expected);
    }

    #[test]
    fn dequantize_q3_k_by_hand() {
        let mut b = BlockQ3K {
            hmask: [0; 32],
            qs: [0; 64],
            scales: [0; 12],
            d: f16(0.5),
        };
        // Scales as in q3_k_scales_unpack_by_hand: 0 -> 1, 4 -> 16, 5 -> 15, 8 -> 34, 12 -> 48,
        // 3 -> 48, 15 -> 26, the rest 0.
        b.scales[0] = 0x21;
        b.scales[5] = 0x0f;
        b.scales[7] = 0xa0;
        b.scales[8] = 0b11_10_01_00;
        b.scales[11] = 0b01_00_00_11;
        let mut sc = [0f32; 16];
        for (k, v) in [
            (0, 1),
            (3, 48),
            (4, 16),
            (5, 15),
            (8, 34),
            (12, 48),
            (15, 26),
        ] {
            sc[k] = v as f32;
        }
        // With hmask 0 and qs 0, every q is 0 - 4.
        let mut expected = [0f32; QK_K];
        for (e, v) in expected.iter_mut().enumerate() {
            *v = 0.5 * (sc[e / 16] - 32.0) * -4.0;
        }
        // Element 5: qs[5] bits 0-1, hmask[5] bit 0. q = 3.
        b.qs[5] = 0b11;
        b.hmask[5] = 0b1;
        expected[5] = 0.5 * (1.0 - 32.0) * 3.0; // -46.5
                                                // Element 200 = 128 + 2*32 + 8: qs[32 + 8] bits 4-5, hmask[8] bit 4 + 2. q = 2.
        b.qs[40] = 0b10_0000;
        b.hmask[8] = 1 << 6;
        expected[200] = 0.5 * (48.0 - 32.0) * 2.0; // 16
                                                   // Element 90 = 2*32 + 26: qs[26] bits 4-5 = 1, hmask bit 2 clear: q = 1 - 4 = -3.
        b.qs[26] = 0b01_0000;
        expected[90] = 0.5 * (15.0 - 32.0) * -3.0; // 25.5
        assert_eq!(
            (expected[5], expected[200], expected[90]),
            (-46.5, 16.0, 25.5)
        );
        let mut y = [0f32; QK_K];
        dequantize_row_q3_k(&[b], &mut y);
        assert_eq!(y, expected);
    }

    /// Scales for the Q4_K/Q5_K hand tests: (sc, m) = (1, 2), (2, 3), 0.., (19, 37) for
    /// sub-block 4, the rest 0.
    fn hand_k4_scales() -> ([u8; 12], [f32; 8], [f32; 8]) {
        let mut s = [0u8; 12];
        s[0] = 0x41; // sc0 = 1; top bits 01 -> sc4 bits 4-5
        s[1] = 0x02; // sc1 = 2
        s[4] = 0x82; // m0 = 2; top bits 10 -> m4 bits 4-5
        s[5] = 0x03; // m1 = 3
        s[8] = 0x53; // sc4 low = 3, m4 low = 5
        let mut sc = [0f32; 8];
        let mut m = [0f32; 8];
        (sc[0], m[0]) = (1.0, 2.0);
        (sc[1], m[1]) = (2.0, 3.0);
        (sc[4], m[4]) = (19.0, 37.0);
        assert_eq!(get_scale_min_k4(4, &s), (19, 37));
        (s, sc, m)
    }

    #[test]
    fn dequantize_q4_k_by_hand() {
        let (scales, sc, m) = hand_k4_scales();
        let mut b = BlockQ4K {
            d: f16(0.5),
            dmin: f16(0.25),
            scales,
            qs: [0; 128],
        };
        let mut expected = [0f32; QK_K];
        for (e, v) in expected.iter_mut().enumerate() {
            *v = 0.5 * sc[e / 32] * 0.0 - 0.25 * m[e / 32];
        }
        // qs[0]: low nibble element 0 (sub-block 0), high nibble element 32 (sub-block 1).
        b.qs[0] = 0x7f;
        expected[0] = 0.5 * 15.0 - 0.5; // 7
        expected[32] = 1.0 * 7.0 - 0.75; // 6.25
                                         // qs[67]: low nibble of the third 32 bytes: element 128 + 3, sub-block 4.
        b.qs[67] = 0x0a;
        expected[131] = 9.5 * 10.0 - 9.25; // 85.75
        assert_eq!(
            (expected[0], expected[32], expected[131]),
            (7.0, 6.25, 85.75)
        );
        let mut y = [0f32; QK_K];
        dequantize_row_q4_k(&[b], &mut y);
        assert_eq!(y, expected);
    }

    #[test]
    fn dequantize_q5_k_by_hand() {
        let (scales, sc, m) = hand_k4_scales();
        let mut b = BlockQ5K {
            d: f16(0.5),
            dmin: f16(0.25),
            scales,
            qh: [0; 32],
            qs: [0; 128],
        };
        let mut expected = [0f32; QK_K];
        for (e, v) in expected.iter_mut().enumerate() {
            *v = 0.5 * sc[e / 32] * 0.0 - 0.25 * m[e / 32];
        }
        b.qs[0] = 0x7f;
        b.qh[0] = 0b10; // bit 1: fifth bit of element 32 (sub-block 1)
        expected[0] = 0.5 * 15.0 - 0.5; // 7
        expected[32] = 1.0 * 23.0 - 0.75; // 22.25
        b.qs[67] = 0x0a;
        b.qh[3] = 1 << 4; // bit 4: sub-block 4, element 128 + 3
        expected[131] = 9.5 * 26.0 - 9.25; // 237.75
        b.qh[31] = 1 << 7; // bit 7: sub-block 7, element 7*32 + 31 = 255; sc7 = 0
        expected[255] = 0.0 * 16.0 - 0.0;
        assert_eq!(
            (expected[0], expected[32], expected[131]),
            (7.0, 22.25, 237.75)
        );
        let mut y = [0f32; QK_K];
        dequantize_row_q5_k(&[b], &mut y);
        assert_eq!(y, expected);
    }

    #[test]
    fn dequantize_q6_k_by_hand() {
        let mut b = BlockQ6K {
            ql: [0; 128],
            qh: [0; 64],
            scales: [0; 16],
            d: f16(0.5),
        };
        for (k, s) in b.scales.iter_mut().enumerate() {
            *s = k as i8 - 8;
        }
        // All-zero bits: q = -32.
        let mut expected = [0f32; QK_K];
        for (e, v) in expected.iter_mut().enumerate() {
            *v = 0.5 * ((e / 16) as f32 - 8.0) * -32.0;
        }
        // Element 70 = 64 + 6: high nibble of ql[6], bits 4-5 of qh[6]; q = 5 | 2 << 4 = 37.
        b.ql[6] = 0x50;
        b.qh[6] = 0b10 << 4;
        expected[70] = 0.5 * -4.0 * 5.0; // -10
                                         // Element 33 = 32 + 1: low nibble of ql[33], bits 2-3 of qh[1]; q = 1 | 16 = 17.
        b.ql[33] = 0x01;
        b.qh[1] = 0b01 << 2;
        expected[33] = 0.5 * -6.0 * -15.0; // 45
                                           // Element 230 = 128 + 96 + 6: high nibble of ql[64 + 32 + 6], bits 6-7 of qh[32 + 6].
        b.ql[102] = 0xf0;
        b.qh[38] = 0b11 << 6;
        expected[230] = 0.5 * 6.0 * 31.0; // 93
        assert_eq!(
            (expected[70], expected[33], expected[230]),
            (-10.0, 45.0, 93.0)
        );
        let mut y = [0f32; QK_K];
        dequantize_row_q6_k(&[b], &mut y);
        assert_eq!(y, expected);
    }

    #[test]
    fn dequantize_q8_k_by_hand() {
        let mut b = BlockQ8K {
            d: 0.5f32.to_le_bytes(),
            qs: [0; QK_K],
            bsums: [[0; 2]; 16],
        };
        b.qs[3] = -7;
        b.qs[255] = 127;
        b.qs[128] = -128;
        let mut y = [1f32; 2 * QK_K];
        let mut b2 = b;
        b2.d = (-0.25f32).to_le_bytes();
        dequantize_row_q8_k(&[b, b2], &mut y);
        let mut expected = [0f32; 2 * QK_K];
        expected[3] = -3.5;
        expected[255] = 63.5;
        expected[128] = -64.0;
        expected[256 + 3] = 1.75;
        expected[256 + 255] = -31.75;
        expected[256 + 128] = 32.0;
        assert_eq!(y, expected);
    }
}
