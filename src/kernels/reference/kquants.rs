//! K-quant weights (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) against Q8_K activations, computed the way
//! llama.cpp's x86-64 AVX2 build does, bit for bit, in plain scalar Rust.
//!
//! The build this follows: llama.cpp 0c1e570, gcc, Release, `GGML_NATIVE=OFF` with AVX, AVX2,
//! FMA, F16C and BMI2 (no AVX-512, no AVX-VNNI, no AMX), weight repacking off. On that build a
//! matrix product with K-quant weights (`ggml_compute_forward_mul_mat`, `ggml-cpu.c`) takes one
//! of two paths, chosen per product by the number of activation rows (tokens in the batch):
//!
//! * **Tiled** (`ggml-cpu/tiled/tiled.cpp`, `tiled-kernel.cpp`): taken first, whenever the
//!   activations have at least [`TILED_MIN_ROWS`] (8) rows, for every K-quant type. It is on by
//!   default; the environment variable `GGML_CPU_TILED_MM=0` turns it off and
//!   `GGML_CPU_TILED_MM_FORCE=1` takes it for any row count. One output element is
//!   [`dot_q2_k_q8_k_tiled`] ... [`dot_q6_k_q8_k_tiled`].
//! * **vec_dot** (`ggml-cpu/arch/x86/quants.c`, `ggml_vec_dot_qN_K_q8_K`, AVX2 branch): batches
//!   of 1 to 7 rows (token generation, short prompts), or any batch with the tiled path off. One
//!   output element is [`dot_q2_k_q8_k_vec`] ... [`dot_q6_k_q8_k_vec`].
//!
//! llamafile's `sgemm` handles none of these types, and the tiled path is tried before it anyway.
//! Both paths read the same activations: each f32 activation row quantized to Q8_K by
//! `quantize_row_q8_K`, which on x86 is `quantize_row_q8_K_ref`
//! ([`crate::quant::k_quants::quantize_row_q8_k`]); the tiled path has no quantizer of its own.
//! A tiled result does not depend on the batch size, on where the output sits in the tiles, on the
//! narrow/standard tiling or on the thread count: every output element is the same sequence of
//! float operations over the blocks in order.
//!
//! The two paths round differently (both are exact in their integer parts, but they group the
//! products into float operations differently), so the same weights and activations give
//! slightly different results on the two paths: in `tests/fixtures/golden/x86-kquant-kernels.bin`
//! about 80% of the outputs differ in the last bits.
//!
//! Integer arithmetic is exact in the C code too (no `maddubs` saturation can happen with these
//! ranges), so only *which* integers meet *which* float operation matters; that is what each
//! function documents. `fmaf` is [`crate::kernels::mathf::fmaf`], a correctly rounded fused multiply-add like the
//! `vfmadd` instructions.

use crate::kernels::mathf::fmaf;
use crate::quant::k_quants::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::quant::{f16_le, QK_K};

/// The smallest number of activation rows (`src1->ne[1]`) for which llama.cpp takes the tiled
/// path (`ggml_tiled_min_batch` in `tiled.cpp`: `rows >= 8`). Below it, `ggml_vec_dot_*` is used.
pub const TILED_MIN_ROWS: usize = 8;

// ---------------------------------------------------------------------------------------------
// Block decoding (integer only)
// ---------------------------------------------------------------------------------------------

/// The f32 scale `d` of a Q8_K block.
#[inline(always)]
fn q8k_d(b: &BlockQ8K) -> f32 {
    f32::from_le_bytes(b.d)
}

/// The sixteen stored `bsums` of a Q8_K block, as i32.
#[inline(always)]
fn q8k_bsums(b: &BlockQ8K) -> [i32; 16] {
    b.bsums.map(|s| i32::from(i16::from_le_bytes(s)))
}

/// The 12 packed scale bytes as the three little-endian words of the C code's `memcpy`.
#[inline(always)]
fn scale_words(s: &[u8; 12]) -> [u32; 3] {
    [
        u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        u32::from_le_bytes([s[4], s[5], s[6], s[7]]),
        u32::from_le_bytes([s[8], s[9], s[10], s[11]]),
    ]
}

/// Four little-endian words as 16 bytes.
#[inline(always)]
fn words_bytes(w: [u32; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, w) in out.chunks_exact_mut(4).zip(w) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// The sixteen Q3_K sub-block scales minus 32 (`scales128` after `_mm_sub_epi8(.., m32)`).
fn q3k_scales(packed: &[u8; 12]) -> [i32; 16] {
    const KMASK1: u32 = 0x0303_0303;
    const KMASK2: u32 = 0x0f0f_0f0f;
    let [a0, a1, a2] = scale_words(packed);
    let bytes = words_bytes([
        (a0 & KMASK2) | ((a2 & KMASK1) << 4),
        (a1 & KMASK2) | (((a2 >> 2) & KMASK1) << 4),
        ((a0 >> 4) & KMASK2) | (((a2 >> 4) & KMASK1) << 4),
        ((a1 >> 4) & KMASK2) | (((a2 >> 6) & KMASK1) << 4),
    ]);
    bytes.map(|b| i32::from(b) - 32)
}

/// The eight 6-bit scales and eight 6-bit minimums of a Q4_K/Q5_K block (the `utmp` /
/// `kmask1..3` unpacking of the AVX2 kernels and of `tiled_unpack_src0`).
fn q4k_scales_mins(packed: &[u8; 12]) -> ([i32; 8], [i32; 8]) {
    const KMASK1: u32 = 0x3f3f_3f3f;
    const KMASK2: u32 = 0x0f0f_0f0f;
    const KMASK3: u32 = 0x0303_0303;
    let [u0, u1, u2] = scale_words(packed);
    let u3 = ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4);
    let uaux = u1 & KMASK1;
    let u1 = (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4);
    let bytes = words_bytes([u0 & KMASK1, u1, uaux, u3]);
    let mut sc = [0i32; 8];
    let mut mins = [0i32; 8];
    for j in 0..8 {
        sc[j] = i32::from(bytes[j]);
        mins[j] = i32::from(bytes[8 + j]);
    }
    (sc, mins)
}

/// Q2_K quants (0..=3) in element order: element `128*h + 32*k + l` is bits `2k..2k+2` of
/// `qs[32*h + l]`.
fn q2k_quants(x: &BlockQ2K) -> [i8; QK_K] {
    let mut a = [0i8; QK_K];
    for (q2, a128) in x.qs.chunks_exact(32).zip(a.chunks_exact_mut(128)) {
        for (k, a32) in a128.chunks_exact_mut(32).enumerate() {
            for (o, &b) in a32.iter_mut().zip(q2) {
                *o = ((b >> (2 * k)) & 3) as i8;
            }
        }
    }
    a
}

/// Q3_K quants (-4..=3) in element order: the 2 low bits as in Q2_K, minus 4 where bit
/// `4*h + k` of `hmask[l]` is clear.
fn q3k_quants(x: &BlockQ3K) -> [i8; QK_K] {
    let mut a = [0i8; QK_K];
    for (h, (q3, a128)) in
        x.qs.chunks_exact(32)
            .zip(a.chunks_exact_mut(128))
            .enumerate()
    {
        for (k, a32) in a128.chunks_exact_mut(32).enumerate() {
            let bit = 4 * h + k;
            for ((o, &b), &hm) in a32.iter_mut().zip(q3).zip(&x.hmask) {
                let low = ((b >> (2 * k)) & 3) as i8;
                *o = if (hm >> bit) & 1 != 0 { low } else { low - 4 };
            }
        }
    }
    a
}

/// Q4_K quants (0..=15) in element order: element `64*j + l` is the low nibble of
/// `qs[32*j + l]`, element `64*j + 32 + l` its high nibble.
fn q4k_quants(qs: &[u8; QK_K / 2]) -> [i8; QK_K] {
    let mut a = [0i8; QK_K];
    for (q4, a64) in qs.chunks_exact(32).zip(a.chunks_exact_mut(64)) {
        let (lo, hi) = a64.split_at_mut(32);
        for ((l, h), &b) in lo.iter_mut().zip(hi.iter_mut()).zip(q4) {
            *l = (b & 0xf) as i8;
            *h = (b >> 4) as i8;
        }
    }
    a
}

/// Q5_K quants (0..=31) in element order: Q4_K's nibbles plus 16 where bit `2*j` (low half) or
/// `2*j + 1` (high half) of `qh[l]` is set.
fn q5k_quants(x: &BlockQ5K) -> [i8; QK_K] {
    let mut a = q4k_quants(&x.qs);
    for (j, a64) in a.chunks_exact_mut(64).enumerate() {
        let (lo, hi) = a64.split_at_mut(32);
        for ((l, h), &hb) in lo.iter_mut().zip(hi.iter_mut()).zip(&x.qh) {
            *l += (((hb >> (2 * j)) & 1) << 4) as i8;
            *h += (((hb >> (2 * j + 1)) & 1) << 4) as i8;
        }
    }
    a
}

/// Q6_K quants, *unsigned* (0..=63, before the `- 32`), in element order: element
/// `128*h + 32*k + l` has low nibble `ql[64*h + l]` (k = 0), `ql[64*h + 32 + l]` (k = 1) or their
/// high nibbles (k = 2, 3), and high bits `2k..2k+2` of `qh[32*h + l]`.
fn q6k_quants(x: &BlockQ6K) -> [i8; QK_K] {
    let mut a = [0i8; QK_K];
    for (h, a128) in a.chunks_exact_mut(128).enumerate() {
        let ql = &x.ql[64 * h..64 * h + 64];
        let qh = &x.qh[32 * h..32 * h + 32];
        for (k, a32) in a128.chunks_exact_mut(32).enumerate() {
            let src = &ql[32 * (k & 1)..32 * (k & 1) + 32];
            let shift = 4 * (k >> 1);
            for ((o, &b), &hb) in a32.iter_mut().zip(src).zip(qh) {
                *o = (((b >> shift) & 0xf) | (((hb >> (2 * k)) & 3) << 4)) as i8;
            }
        }
    }
    a
}

// ---------------------------------------------------------------------------------------------
// Integer cores (exact)
// ---------------------------------------------------------------------------------------------

/// The eight i32 lanes of an AVX2 `sumi` accumulator: every 32 quants meet 32 activations in one
/// `_mm256_maddubs_epi16` + `_mm256_madd_epi16` (with the sub-block scale), so lane `L` collects
/// the elements `e` with `(e % 32) / 4 == L`, each times the scale of its sub-block
/// (`scales[e / group]`).
#[inline(always)]
fn avx2_lanes(q8: &[i8; QK_K], a: &[i8; QK_K], scales: &[i32], group: usize) -> [i32; 8] {
    let mut lanes = [0i32; 8];
    for (e, (&q, &w)) in q8.iter().zip(a).enumerate() {
        lanes[(e % 32) / 4] += scales[e / group] * (i32::from(q) * i32::from(w));
    }
    lanes
}

/// `sum(scales[e / group] * a[e] * q8[e])` over the block: the tiled kernels' `s1` (their lane
/// layout is integer-only, reduced to one i32 before any float operation).
#[inline(always)]
fn scaled_dot(q8: &[i8; QK_K], a: &[i8; QK_K], scales: &[i32], group: usize) -> i32 {
    let mut sum = 0i32;
    for (g, (q8g, ag)) in q8
        .chunks_exact(group)
        .zip(a.chunks_exact(group))
        .enumerate()
    {
        let dot: i32 = q8g
            .iter()
            .zip(ag)
            .map(|(&q, &w)| i32::from(q) * i32::from(w))
            .sum();
        sum += scales[g] * dot;
    }
    sum
}

/// The sums of each 32 activations (`bsums[2j] + bsums[2j + 1]`, the `_mm_hadd_epi16` of the
/// Q4_K/Q5_K kernels), one per Q4_K/Q5_K sub-block.
#[inline(always)]
fn bsums32(b: &[i32; 16]) -> [i32; 8] {
    core::array::from_fn(|j| b[2 * j] + b[2 * j + 1])
}

/// The four i32 lanes of `_mm_madd_epi16(mins, q8s)` in the Q4_K/Q5_K kernels:
/// lane `k` = `mins[2k] * q8s[2k] + mins[2k+1] * q8s[2k+1]`.
#[inline(always)]
fn q4k_min_lanes(mins: &[i32; 8], b: &[i32; 16]) -> [i32; 4] {
    let q8s = bsums32(b);
    core::array::from_fn(|k| mins[2 * k] * q8s[2 * k] + mins[2 * k + 1] * q8s[2 * k + 1])
}

// ---------------------------------------------------------------------------------------------
// Float steps shared by the AVX2 vec_dot kernels
// ---------------------------------------------------------------------------------------------

/// `acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc)`.
#[inline(always)]
fn fma_lanes(acc: &mut [f32; 8], d: f32, lanes: &[i32; 8]) {
    for (a, &v) in acc.iter_mut().zip(lanes) {
        *a = fmaf(d, v as f32, *a);
    }
}

/// `hsum_float_8` (arch/x86/quants.c): `((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7))`.
#[inline(always)]
fn hsum_float_8(a: &[f32; 8]) -> f32 {
    let r = [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]];
    (r[0] + r[2]) + (r[1] + r[3])
}

// ---------------------------------------------------------------------------------------------
// vec_dot path: ggml_vec_dot_qN_K_q8_K, AVX2 branch
// ---------------------------------------------------------------------------------------------

/// Q2_K · Q8_K as `ggml_vec_dot_q2_K_q8_K` (arch/x86/quants.c, `__AVX2__` branch) computes it.
///
/// Per block, with `d = y.d * f16(x.d)` and `dmin = -y.d * f16(x.dmin)`:
/// first `acc[L] = fmaf(dmin, prod[L], acc[L])` with `prod[L] = min[2L]*bsums[2L] +
/// min[2L+1]*bsums[2L+1]`, then `acc[L] = fmaf(d, sumi[L], acc[L])` with the scaled quant
/// products in AVX2 lanes (element `e` in lane `(e % 32) / 4`); the result is
/// `hsum_float_8(acc)`.
pub fn dot_q2_k_q8_k_vec(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [0f32; 8];
    for (xb, yb) in x.iter().zip(y) {
        let yd = q8k_d(yb);
        let d = yd * f16_le(xb.d);
        let dmin = -yd * f16_le(xb.dmin);
        let scales = xb.scales.map(|s| i32::from(s & 0xf));
        let mins = xb.scales.map(|s| i32::from(s >> 4));
        let b = q8k_bsums(yb);
        let prod: [i32; 8] =
            core::array::from_fn(|l| mins[2 * l] * b[2 * l] + mins[2 * l + 1] * b[2 * l + 1]);
        fma_lanes(&mut acc, dmin, &prod);
        let sumi = avx2_lanes(&yb.qs, &q2k_quants(xb), &scales, 16);
        fma_lanes(&mut acc, d, &sumi);
    }
    hsum_float_8(&acc)
}

/// Q3_K · Q8_K as `ggml_vec_dot_q3_K_q8_K` (arch/x86/quants.c, `__AVX2__` branch) computes it.
///
/// Per block, with `d = y.d * f16(x.d)`: `acc[L] = fmaf(d, sumi[L], acc[L])`, `sumi` the products
/// of the signed quants (-4..=3) with the activations times `scale - 32`, in AVX2 lanes (element
/// `e` in lane `(e % 32) / 4`); the result is `hsum_float_8(acc)`.
pub fn dot_q3_k_q8_k_vec(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [0f32; 8];
    for (xb, yb) in x.iter().zip(y) {
        let d = q8k_d(yb) * f16_le(xb.d);
        let sumi = avx2_lanes(&yb.qs, &q3k_quants(xb), &q3k_scales(&xb.scales), 16);
        fma_lanes(&mut acc, d, &sumi);
    }
    hsum_float_8(&acc)
}

/// Q4_K · Q8_K as `ggml_vec_dot_q4_K_q8_K` (arch/x86/quants.c, `__AVX2__` branch) computes it.
///
/// Per block, with `d = y.d * f16(x.d)` and `dmin = -y.d * f16(x.dmin)`: the minimums go into a
/// 4-lane accumulator, `acc_m[k] = fmaf(dmin, prod[k], acc_m[k])` with `prod[k] =
/// min[2k]*q8s[2k] + min[2k+1]*q8s[2k+1]` (`q8s[j] = bsums[2j] + bsums[2j+1]`), the quants into
/// `acc[L] = fmaf(d, sumi[L], acc[L])` (AVX2 lanes). The result is
/// `hsum_float_8(acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]))`.
pub fn dot_q4_k_q8_k_vec(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [0f32; 8];
    let mut acc_m = [0f32; 4];
    for (xb, yb) in x.iter().zip(y) {
        let yd = q8k_d(yb);
        let d = yd * f16_le(xb.d);
        let dmin = -yd * f16_le(xb.dmin);
        let (scales, mins) = q4k_scales_mins(&xb.scales);
        let prod = q4k_min_lanes(&mins, &q8k_bsums(yb));
        for (m, &p) in acc_m.iter_mut().zip(&prod) {
            *m = fmaf(dmin, p as f32, *m);
        }
        let sumi = avx2_lanes(&yb.qs, &q4k_quants(&xb.qs), &scales, 32);
        fma_lanes(&mut acc, d, &sumi);
    }
    let m = (acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]);
    hsum_float_8(&acc) + m
}

/// Q5_K · Q8_K as `ggml_vec_dot_q5_K_q8_K` (arch/x86/quants.c, `__AVX2__` branch) computes it.
///
/// Per block, with `d = y.d * f16(x.d)` and `dmin = -y.d * f16(x.dmin)`: the minimums are summed
/// to one integer `sum_j min[j] * (bsums[2j] + bsums[2j+1])` and folded into a scalar,
/// `summs = fmaf(dmin, sum, summs)` (the C source says `summs += dmin * sum`; gcc contracts it to
/// `vfmadd231ss` in this build, checked in the installed `libggml-cpu.so`), the quants into
/// `acc[L] = fmaf(d, sumi[L], acc[L])` (AVX2 lanes). The result is `hsum_float_8(acc) + summs`.
pub fn dot_q5_k_q8_k_vec(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let yd = q8k_d(yb);
        let d = yd * f16_le(xb.d);
        let dmin = -yd * f16_le(xb.dmin);
        let (scales, mins) = q4k_scales_mins(&xb.scales);
        let prod = q4k_min_lanes(&mins, &q8k_bsums(yb));
        // _mm_hadd_epi32 twice: (p0 + p1) + (p2 + p3); integer, so any order gives the same.
        let sum = (prod[0] + prod[1]) + (prod[2] + prod[3]);
        summs = fmaf(dmin, sum as f32, summs);
        let sumi = avx2_lanes(&yb.qs, &q5k_quants(xb), &scales, 32);
        fma_lanes(&mut acc, d, &sumi);
    }
    hsum_float_8(&acc) + summs
}

/// Q6_K · Q8_K as `ggml_vec_dot_q6_K_q8_K` (arch/x86/quants.c, `__AVX2__` branch) computes it.
///
/// The kernel multiplies the *unsigned* quants (0..=63) and takes the `- 32` out afterwards per
/// lane, from the activation sums: `sumi[L] = lanes[L] - 32 * (bsums[2L]*scale[2L] +
/// bsums[2L+1]*scale[2L+1])`, `lanes` the scaled products in AVX2 lanes. Per block, with
/// `d = y.d * f16(x.d)`: `acc[L] = fmaf(d, sumi[L], acc[L])`; the result is `hsum_float_8(acc)`.
/// (The lane split of the correction differs from that of the products, so computing with
/// `q - 32` directly would give other lane values and another rounding.)
pub fn dot_q6_k_q8_k_vec(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [0f32; 8];
    for (xb, yb) in x.iter().zip(y) {
        let d = q8k_d(yb) * f16_le(xb.d);
        let scales = xb.scales.map(i32::from);
        let b = q8k_bsums(yb);
        let mut sumi = avx2_lanes(&yb.qs, &q6k_quants(xb), &scales, 16);
        for (l, s) in sumi.iter_mut().enumerate() {
            *s -= (b[2 * l] * scales[2 * l] + b[2 * l + 1] * scales[2 * l + 1]) << 5;
        }
        fma_lanes(&mut acc, d, &sumi);
    }
    hsum_float_8(&acc)
}

// ---------------------------------------------------------------------------------------------
// Tiled path: tiled_run_microtile_avx2 (tiled-kernel.cpp), one output element
// ---------------------------------------------------------------------------------------------

/// The float epilogue of `tiled_run_microtile_avx2`, block by block: `res = f16(x.d) * s1`
/// (`_mm256_mul_ps`), minus the minimums `res = fmaf(-f16(x.dmin), s2, res)`
/// (`_mm256_fnmadd_ps`, only for types with minimums), then `acc = fmaf(res, y.d, acc)`
/// (`_mm256_fmadd_ps` into the zeroed tile buffer).
#[inline(always)]
fn tiled_step(acc: f32, d0: f32, s1: i32, min: Option<(f32, i32)>, d1: f32) -> f32 {
    let mut res = d0 * s1 as f32;
    if let Some((dmin0, s2)) = min {
        res = fmaf(-dmin0, s2 as f32, res);
    }
    fmaf(res, d1, acc)
}

/// One output element of llama.cpp's tiled matrix product for Q2_K weights
/// (`tiled_run_microtile<16, true, 0, false>`, AVX2; unpacked by `tiled_unpack_src0(block_q2_K)`).
///
/// Per block: `s1 = sum_s (scale[s] & 15) * dot16_s` (quants 0..=3) and
/// `s2 = sum_s (scale[s] >> 4) * bsums[s]`, both exact i32; then `res = f16(x.d) * s1;
/// res = fmaf(-f16(x.dmin), s2, res); acc = fmaf(res, y.d, acc)`, blocks in order from `acc = 0`.
pub fn dot_q2_k_q8_k_tiled(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let scales = xb.scales.map(|s| i32::from(s & 0xf));
        let b = q8k_bsums(yb);
        let s1 = scaled_dot(&yb.qs, &q2k_quants(xb), &scales, 16);
        let s2: i32 = xb
            .scales
            .iter()
            .zip(&b)
            .map(|(&s, &bs)| i32::from(s >> 4) * bs)
            .sum();
        acc = tiled_step(
            acc,
            f16_le(xb.d),
            s1,
            Some((f16_le(xb.dmin), s2)),
            q8k_d(yb),
        );
    }
    acc
}

/// One output element of llama.cpp's tiled matrix product for Q3_K weights
/// (`tiled_run_microtile<16, false, 4, true>`, AVX2; unpacked by `tiled_unpack_src0(block_q3_K)`).
///
/// The kernel biases the activations by +128 and the quants by -4 and subtracts the bias again in
/// integers (`tiled_repack_src0` / `tiled_repack_src1`), so per block
/// `s1 = sum_s (scale[s] - 32) * dot16_s` with the signed quants (-4..=3), exactly; then
/// `acc = fmaf(f16(x.d) * s1, y.d, acc)`, blocks in order from `acc = 0`.
pub fn dot_q3_k_q8_k_tiled(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let s1 = scaled_dot(&yb.qs, &q3k_quants(xb), &q3k_scales(&xb.scales), 16);
        acc = tiled_step(acc, f16_le(xb.d), s1, None, q8k_d(yb));
    }
    acc
}

/// One output element of llama.cpp's tiled matrix product for Q4_K weights
/// (`tiled_run_microtile<32, true, 0, false>`, AVX2; unpacked by `tiled_unpack_src0(block_q4_K)`).
///
/// Per block: `s1 = sum_j scale[j] * dot32_j` (quants 0..=15), `s2 = sum_j min[j] * (bsums[2j] +
/// bsums[2j+1])`, both exact; then `res = f16(x.d) * s1; res = fmaf(-f16(x.dmin), s2, res);
/// acc = fmaf(res, y.d, acc)`, blocks in order from `acc = 0`.
pub fn dot_q4_k_q8_k_tiled(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let (scales, mins) = q4k_scales_mins(&xb.scales);
        let s1 = scaled_dot(&yb.qs, &q4k_quants(&xb.qs), &scales, 32);
        let s2 = mins
            .iter()
            .zip(&bsums32(&q8k_bsums(yb)))
            .map(|(&m, &b)| m * b)
            .sum();
        acc = tiled_step(
            acc,
            f16_le(xb.d),
            s1,
            Some((f16_le(xb.dmin), s2)),
            q8k_d(yb),
        );
    }
    acc
}

/// One output element of llama.cpp's tiled matrix product for Q5_K weights
/// (`tiled_run_microtile<32, true, 0, false>`, AVX2; unpacked by `tiled_unpack_src0(block_q5_K)`).
///
/// As [`dot_q4_k_q8_k_tiled`] with the 5-bit quants (0..=31).
pub fn dot_q5_k_q8_k_tiled(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let (scales, mins) = q4k_scales_mins(&xb.scales);
        let s1 = scaled_dot(&yb.qs, &q5k_quants(xb), &scales, 32);
        let s2 = mins
            .iter()
            .zip(&bsums32(&q8k_bsums(yb)))
            .map(|(&m, &b)| m * b)
            .sum();
        acc = tiled_step(
            acc,
            f16_le(xb.d),
            s1,
            Some((f16_le(xb.dmin), s2)),
            q8k_d(yb),
        );
    }
    acc
}

/// One output element of llama.cpp's tiled matrix product for Q6_K weights
/// (`tiled_run_microtile<16, false, 32, true>`, AVX2; unpacked by `tiled_unpack_src0(block_q6_K)`).
///
/// The kernel biases the activations by +128 and the quants by -32 and subtracts the bias again
/// in integers, so per block `s1 = sum_s scale[s] * dot16_s` with the signed quants (-32..=31),
/// exactly (no `bsums` involved); then `acc = fmaf(f16(x.d) * s1, y.d, acc)`, blocks in order
/// from `acc = 0`.
pub fn dot_q6_k_q8_k_tiled(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let a = q6k_quants(xb).map(|q| q - 32);
        let s1 = scaled_dot(&yb.qs, &a, &xb.scales.map(i32::from), 16);
        acc = tiled_step(acc, f16_le(xb.d), s1, None, q8k_d(yb));
    }
    acc
}

#[cfg(test)]
mod tests {
    //! Bit-exact comparison with `tests/fixtures/golden/x86-kquant-kernels.bin`, the outputs of
    //! llama.cpp's own kernels (format: tests/fixtures/golden/README.md; made by
    //! scripts/x86_kquant_kernels/make_golden.sh).

    use super::*;
    use crate::quant::{as_blocks, quantize_row, Block, GgmlType};
    use alloc::vec;
    use alloc::vec::Vec;

    const GOLDEN: &[u8] = include_bytes!("../../../tests/fixtures/golden/x86-kquant-kernels.bin");

    struct Reader<'a>(&'a [u8]);

    impl<'a> Reader<'a> {
        fn bytes(&mut self, n: usize) -> &'a [u8] {
            let (head, tail) = self.0.split_at(n);
            self.0 = tail;
            head
        }
        fn u32(&mut self) -> usize {
            u32::from_le_bytes(self.bytes(4).try_into().unwrap()) as usize
        }
        fn f32s(&mut self, n: usize) -> Vec<f32> {
            self.bytes(4 * n)
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        }
    }

    /// One weight type's record.
    struct TypeCase<'a> {
        ty: GgmlType,
        weights: &'a [u8],
        /// `vec[n * m_rows + m]`: direct `ggml_vec_dot_*` calls, all activation rows.
        vec: Vec<f32>,
        /// Per batch size `N`: what `ggml_mul_mat` gave, `[n * m_rows + m]` for `n < N`.
        graph: Vec<(usize, Vec<f32>)>,
    }

    struct Golden<'a> {
        k: usize,
        m_rows: usize,
        act: Vec<f32>,
        q8: &'a [u8],
        types: Vec<TypeCase<'a>>,
    }

    fn parse() -> Golden<'static> {
        let mut r = Reader(GOLDEN);
        assert_eq!(r.bytes(8), b"LMKQX861");
        assert_eq!(r.u32(), 1, "version");
        let k = r.u32();
        let m_rows = r.u32();
        let n_act = r.u32();
        let n_types = r.u32();
        let n_cases = r.u32();
        let cases: Vec<usize> = (0..n_cases).map(|_| r.u32()).collect();
        let nb = k / QK_K;
        let act = r.f32s(n_act * k);
        let q8 = r.bytes(n_act * nb * 292);
        let mut types = Vec::new();
        for _ in 0..n_types {
            let ty = GgmlType::from_u32(r.u32() as u32).unwrap();
            let bs = r.u32();
            assert_eq!(bs, ty.type_size());
            let weights = r.bytes(m_rows * nb * bs);
            let vec = r.f32s(n_act * m_rows);
            let graph = cases.iter().map(|&n| (n, r.f32s(n * m_rows))).collect();
            types.push(TypeCase {
                ty,
                weights,
                vec,
                graph,
            });
        }
        assert!(r.0.is_empty(), "trailing bytes");
        Golden {
            k,
            m_rows,
            act,
            q8,
            types,
        }
    }

    /// The golden's activations quantized by llamette's Q8_K quantizer, checked against the
    /// bytes llama.cpp's `quantize_row_q8_K` produced.
    fn activations(g: &Golden) -> Vec<u8> {
        let row = GgmlType::Q8_K.row_size(g.k).unwrap();
        let n_act = g.act.len() / g.k;
        let mut q8 = vec![0u8; n_act * row];
        for (x, out) in g.act.chunks_exact(g.k).zip(q8.chunks_exact_mut(row)) {
            quantize_row(GgmlType::Q8_K, x, out).unwrap();
        }
        assert!(q8 == g.q8, "Q8_K activations differ from quantize_row_q8_K");
        q8
    }

    type Dot<B> = fn(&[B], &[BlockQ8K]) -> f32;

    /// Checks every output of one type against both paths; returns how many outputs the two
    /// paths compute differently.
    fn check<B: Block>(
        g: &Golden,
        tc: &TypeCase,
        q8: &[u8],
        vec_fn: Dot<B>,
        tiled_fn: Dot<B>,
    ) -> usize {
        assert_eq!(B::TYPE, tc.ty);
        let nb = g.k / QK_K;
        let w: &[B] = as_blocks(tc.weights).unwrap();
        let a: &[BlockQ8K] = as_blocks(q8).unwrap();
        let dot =
            |f: Dot<B>, n: usize, m: usize| f(&w[m * nb..(m + 1) * nb], &a[n * nb..(n + 1) * nb]);
        let mut differ = 0;
        for (i, &want) in tc.vec.iter().enumerate() {
            let (n, m) = (i / g.m_rows, i % g.m_rows);
            let got = dot(vec_fn, n, m);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{} vec_dot n={n} m={m}: {got:e} != {want:e}",
                tc.ty
            );
            differ += usize::from(dot(tiled_fn, n, m).to_bits() != got.to_bits());
        }
        for (batch, out) in &tc.graph {
            let tiled = *batch >= TILED_MIN_ROWS;
            for (i, &want) in out.iter().enumerate() {
                let (n, m) = (i / g.m_rows, i % g.m_rows);
                let got = dot(if tiled { tiled_fn } else { vec_fn }, n, m);
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{} mul_mat batch {batch} ({}) n={n} m={m}: {got:e} != {want:e}",
                    tc.ty,
                    if tiled { "tiled" } else { "vec_dot" }
                );
            }
        }
        differ
    }

    #[test]
    fn matches_llama_cpp_x86_kernels() {
        let g = parse();
        let q8 = activations(&g);
        assert_eq!(g.types.len(), 5);
        for tc in &g.types {
            let differ = match tc.ty {
                GgmlType::Q2_K => check(&g, tc, &q8, dot_q2_k_q8_k_vec, dot_q2_k_q8_k_tiled),
                GgmlType::Q3_K => check(&g, tc, &q8, dot_q3_k_q8_k_vec, dot_q3_k_q8_k_tiled),
                GgmlType::Q4_K => check(&g, tc, &q8, dot_q4_k_q8_k_vec, dot_q4_k_q8_k_tiled),
                GgmlType::Q5_K => check(&g, tc, &q8, dot_q5_k_q8_k_vec, dot_q5_k_q8_k_tiled),
                GgmlType::Q6_K => check(&g, tc, &q8, dot_q6_k_q8_k_vec, dot_q6_k_q8_k_tiled),
                other => panic!("unexpected type {other}"),
            };
            // The two paths really are different functions: most outputs round differently.
            assert!(
                differ > tc.vec.len() / 2,
                "{}: only {differ} outputs differ",
                tc.ty
            );
        }
    }

    #[test]
    fn golden_covers_both_paths() {
        let g = parse();
        for tc in &g.types {
            let batches: Vec<usize> = tc.graph.iter().map(|(n, _)| *n).collect();
            assert!(batches.iter().any(|&n| n < TILED_MIN_ROWS));
            assert!(batches.contains(&TILED_MIN_ROWS));
            assert!(
                batches.iter().any(|&n| n > 16),
                "standard (non-narrow) tiling"
            );
        }
    }
}
