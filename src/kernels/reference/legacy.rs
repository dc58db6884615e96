//! Scalar dot products of the legacy block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 weights
//! against Q8_0 / Q8_1 activations) that reproduce, bit for bit, what llama.cpp (0c1e570) computes
//! on x86-64 built with AVX, AVX2, FMA, F16C, BMI2 and without AVX512 / AVX-VNNI / AMX (gcc,
//! Release, weight repacking off).
//!
//! # Which C code runs
//!
//! `ggml_compute_forward_mul_mat` (`ggml/src/ggml-cpu/ggml-cpu.c`) for a weight matrix `src0` of
//! one of these types and f32 activations `src1` with `ne11` rows (tokens):
//!
//! 1. `ggml_compute_forward_mul_mat_tiled` (`tiled/tiled.cpp`) declines: it only takes K-quants
//!    and IQ types.
//! 2. (`GGML_USE_LLAMAFILE`, on by default and in the golden build; `llamafile_sgemm` is exported
//!    by its `libggml-cpu.so`.) If `src1` is contiguous, `llamafile_sgemm` is tried with
//!    `Btype = src1->type` = F32; for a quantized `Atype` it declines (it wants `Btype` Q8_0).
//! 3. `src1` is quantized row by row to the weight type's `vec_dot_type` with the x86
//!    `quantize_row_q8_0` / `quantize_row_q8_1` (`arch/x86/quants.c`).
//! 4. `llamafile_sgemm` (`llamafile/sgemm.cpp`) is tried again with `Btype = vec_dot_type`. It
//!    returns false when `n = ne11 < 2` (single token), when `Ctype` is not F32, and for every
//!    `Atype` but F32 (with F32 B), F16, BF16, Q8_0, Q4_0, Q5_0 and IQ4_NL (the last four only
//!    with `Btype` Q8_0). So on this build **Q4_0, Q5_0 and Q8_0 weights with two or more tokens
//!    go to `tinyBLAS_Q0_AVX`** (the `*_tiny` functions here), which computes the whole
//!    `ne01 x ne11` product (per 2-D slice for batched products).
//! 5. Everything else, i.e. a single token, or **Q4_1 / Q5_1 weights for any number of tokens**,
//!    goes to `ggml_compute_forward_mul_mat_one_chunk`: one `vec_dot` call per output with
//!    `nrc = 1` (`type_traits_cpu[..].nrows` is 2 only with ARM's `__ARM_FEATURE_MATMUL_INT8`):
//!    `ggml_vec_dot_q4_0_q8_0` ... `ggml_vec_dot_q8_0_q8_0` (`arch/x86/quants.c`, `__AVX2__`
//!    branch), the `*_vec` functions here.
//!
//! # How the C code computes
//!
//! All five AVX2 `vec_dot`s handle **one block per iteration** (no unrolling, no prologue or
//! epilogue loop: the scalar tail loops after the `#if` blocks of Q4_0 and Q8_0 never run with
//! AVX2) and keep one 8-lane f32 accumulator `acc`, starting at +0. For each block:
//!
//! * the integer dot product of the 32 quants is formed as 8 lanes, lane `l` holding the sum of
//!   the products of elements `4l..4l+4` (`mul_sum_i8_pairs_float` / `mul_sum_us8_pairs_float`:
//!   `_mm256_sign_epi8`, `_mm256_maddubs_epi16`, `_mm256_madd_epi16` with ones, then
//!   `_mm256_cvtepi32_ps`, exact). For the 4-bit formats elements `0..16` are the low nibbles of
//!   `qs[0..16]` and elements `16..32` the high nibbles (`bytes_from_nibbles_32`), matched with
//!   `y.qs[0..32]`;
//! * the scale `d = fp16(x.d) * fp16(y.d)` is one f32 product (for Q5_1 it is formed as
//!   `_mm256_mul_ps(dx, dy)`, the same product); a product of two f16 values has at most 22
//!   significant bits and cannot leave the f32 normal range, so it is exact;
//! * `acc[l] = fma(d, q[l], acc[l])` (`_mm256_fmadd_ps`): the rounding that matters, since
//!   `d * q[l]` is generally not representable;
//! * Q4_1 / Q5_1 also accumulate `summs = fma(fp16(x.m), fp16(y.s), summs)` in scalar f32: the
//!   source writes `summs += m * s`, which gcc contracts into `vfmadd231ss` (seen in the
//!   installed library's disassembly). As `m * s` is exact (above), `summs + m * s` gives the
//!   same bits; the FMA is kept to mirror the machine code.
//!
//! The result is `hsum_float_8(acc)` (`((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7))`), plus `summs`
//! for Q4_1 / Q5_1 (one f32 addition).
//!
//! `tinyBLAS_Q0_AVX` gives each output element the *same* float operations: every tile kernel
//! reachable with 16 vector registers (`gemm4xN<1|2>`, `gemmMx4<1|2>`, `gemm<RM,RN>` for
//! `RM,RN <= 3`) accumulates one `__m256` per output over the blocks in order with
//! `madd` = `_mm256_fmadd_ps` (`__FMA__`), the scale being `_mm_mul_ps(da, db)` of the two
//! converted f16 scales (`gemm4xN`, `gemmMx4`; `_mm_cvtph_ps` is exact) or
//! `unhalf(a.d) * unhalf(b.d)` (`gemm`), one identical f32 product either way; `updot` is the
//! same sign/maddubs/madd sequence, and `hsum(__m256)` the same reduction as `hsum_float_8`.
//! The thread split (`ith`/`nth`) only decides which thread computes a tile, never how. So the
//! `*_tiny` functions equal the `*_vec` ones bit for bit; both exist so that callers can name the
//! path they follow. The golden (`tests/fixtures/golden/x86-legacy-kernels.bin`, made by
//! `scripts/x86_legacy_kernels/`) checks both, including every tile kernel.
//!
//! # The integer part, exactly
//!
//! `_mm256_sign_epi8(y, x)` negates `y` in 8 bits, so `y = -128` against a negative `x` stays
//! `-128` (the product comes out as `|x| * -128`, not `|x| * 128`); `_mm256_sign_epi8(x, x)`
//! maps `x = -128` to the byte 0x80, which `maddubs` reads as unsigned 128. The functions here
//! reproduce this, so they match llama.cpp even on blocks its quantizers never produce (x86
//! `quantize_row_q8_0/1` only emit `-127..=127`). `maddubs` saturates each pair sum to i16; with
//! these operand ranges that never triggers, but it is modelled anyway.

use crate::quant::f16_le;
use crate::quant::legacy::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1, QK};

/// The 8 f32 lanes of an `__m256`, lane 0 first.
type F32x8 = [f32; 8];

/// `hsum_float_8` (`ggml/src/ggml-cpu/arch/x86/quants.c`), also `hsum(__m256)` of
/// `llamafile/sgemm.cpp`: upper 128 bits plus lower, then `_mm_movehl_ps`, then
/// `_mm_movehdup_ps`.
#[inline(always)]
fn hsum_float_8(x: F32x8) -> f32 {
    let r0 = x[4] + x[0];
    let r1 = x[5] + x[1];
    let r2 = x[6] + x[2];
    let r3 = x[7] + x[3];
    (r0 + r2) + (r1 + r3)
}

/// `mul_sum_us8_pairs_float` (no VNNI): `_mm256_maddubs_epi16(ax, sy)` (u8 x i8, adjacent
/// products summed with i16 saturation), `_mm256_madd_epi16(ones, .)` (adjacent i16 summed to
/// i32), `_mm256_cvtepi32_ps` (exact: the lanes stay far below 2^24). Also llamafile's
/// `updot`.
#[inline(always)]
fn mul_sum_us8_pairs_float(ax: &[u8; QK], sy: &[i8; QK]) -> F32x8 {
    let pair = |i: usize| -> i32 {
        let s = i32::from(ax[i]) * i32::from(sy[i]) + i32::from(ax[i + 1]) * i32::from(sy[i + 1]);
        s.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
    };
    let mut out = [0f32; 8];
    for (l, o) in out.iter_mut().enumerate() {
        *o = (pair(4 * l) + pair(4 * l + 2)) as f32;
    }
    out
}

/// `mul_sum_i8_pairs_float` (no AVX-VNNI-INT8): `ax = _mm256_sign_epi8(x, x)`,
/// `sy = _mm256_sign_epi8(y, x)` (8-bit negation: -128 stays -128), then
/// [`mul_sum_us8_pairs_float`]. Also llamafile's `updot(_mm256_sign_epi8(a, a),
/// _mm256_sign_epi8(b, a))`.
#[inline(always)]
fn mul_sum_i8_pairs_float(x: &[i8; QK], y: &[i8; QK]) -> F32x8 {
    let mut ax = [0u8; QK];
    let mut sy = [0i8; QK];
    for i in 0..QK {
        ax[i] = x[i].unsigned_abs();
        sy[i] = match x[i] {
            0 => 0,
            v if v < 0 => y[i].wrapping_neg(),
            _ => y[i],
        };
    }
    mul_sum_us8_pairs_float(&ax, &sy)
}

/// `bytes_from_nibbles_32` (also llamafile's `denibble`): low nibbles of `qs[0..16]`, then the
/// high nibbles.
#[inline(always)]
fn nibbles(qs: &[u8; QK / 2]) -> [u8; QK] {
    let mut out = [0u8; QK];
    for (j, &q) in qs.iter().enumerate() {
        out[j] = q & 0x0F;
        out[j + QK / 2] = q >> 4;
    }
    out
}

/// Whether bit `j` of the little-endian `qh` is set (`bytes_from_bits_32` / llamafile's
/// `bittobyte` give 0xFF there).
#[inline(always)]
fn high_bit(qh: [u8; 4], j: usize) -> bool {
    (u32::from_le_bytes(qh) >> j) & 1 != 0
}

/// Q4_0 quants as `ggml_vec_dot_q4_0_q8_0` and llamafile's `load(const block_q4_0 *)` form them:
/// nibble - 8.
#[inline(always)]
fn q4_0_values(b: &BlockQ4_0) -> [i8; QK] {
    nibbles(&b.qs).map(|v| v as i8 - 8)
}

/// Q5_0 quants as `ggml_vec_dot_q5_0_q8_0` and llamafile's `load(const block_q5_0 *)` form them:
/// `nibble | (bit ? 0 : 0xF0)` read as i8, i.e. `nibble + 16 * bit - 16`.
#[inline(always)]
fn q5_0_values(b: &BlockQ5_0) -> [i8; QK] {
    let mut v = nibbles(&b.qs);
    for (j, q) in v.iter_mut().enumerate() {
        if !high_bit(b.qh, j) {
            *q |= 0xF0;
        }
    }
    v.map(|q| q as i8)
}

/// Q5_1 quants as `ggml_vec_dot_q5_1_q8_1` forms them: `nibble | (bit ? 0x10 : 0)`, unsigned.
#[inline(always)]
fn q5_1_values(b: &BlockQ5_1) -> [u8; QK] {
    let mut v = nibbles(&b.qs);
    for (j, q) in v.iter_mut().enumerate() {
        if high_bit(b.qh, j) {
            *q |= 0x10;
        }
    }
    v
}

/// `acc[l] = fma(d, q[l], acc[l])` (`_mm256_fmadd_ps(d, q, acc)`).
#[inline(always)]
fn fma_lanes(acc: &mut F32x8, d: f32, q: &F32x8) {
    for (a, &v) in acc.iter_mut().zip(q) {
        *a = crate::kernels::mathf::fmaf(d, v, *a);
    }
}

/// The loop shared by the AVX2 `vec_dot`s of Q4_0, Q5_0, Q8_0 and by `tinyBLAS_Q0_AVX` for
/// one output: per block `acc = fma(fp16(x.d) * fp16(y.d), mul_sum_i8_pairs_float(qx, qy),
/// acc)`, then `hsum_float_8(acc)`.
#[inline(always)]
fn dot_signed_q8_0<X>(x: &[X], y: &[BlockQ8_0], unpack: impl Fn(&X) -> ([u8; 2], [i8; QK])) -> f32 {
    assert_eq!(
        x.len(),
        y.len(),
        "weight and activation rows must have the same number of blocks"
    );
    let mut acc = [0f32; 8];
    for (xb, yb) in x.iter().zip(y) {
        let (xd, qx) = unpack(xb);
        let d = f16_le(xd) * f16_le(yb.d);
        let q = mul_sum_i8_pairs_float(&qx, &yb.qs);
        fma_lanes(&mut acc, d, &q);
    }
    hsum_float_8(acc)
}

/// The loop of the AVX2 `vec_dot`s of Q4_1 and Q5_1: per block
/// `summs = fma(fp16(x.m), fp16(y.s), summs)` and `acc = fma(fp16(x.d) * fp16(y.d),
/// mul_sum_us8_pairs_float(qx, qy), acc)`; the result is `hsum_float_8(acc) + summs`.
#[inline(always)]
fn dot_unsigned_q8_1<X>(
    x: &[X],
    y: &[BlockQ8_1],
    unpack: impl Fn(&X) -> ([u8; 2], [u8; 2], [u8; QK]),
) -> f32 {
    assert_eq!(
        x.len(),
        y.len(),
        "weight and activation rows must have the same number of blocks"
    );
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let (xd, xm, qx) = unpack(xb);
        summs = crate::kernels::mathf::fmaf(f16_le(xm), f16_le(yb.s), summs);
        let d = f16_le(xd) * f16_le(yb.d);
        let q = mul_sum_us8_pairs_float(&qx, &yb.qs);
        fma_lanes(&mut acc, d, &q);
    }
    hsum_float_8(acc) + summs
}

/// `ggml_vec_dot_q4_0_q8_0` (`ggml/src/ggml-cpu/arch/x86/quants.c`, `__AVX2__` branch) on
/// `n = 32 * x.len()` elements: the result llama.cpp's `mul_mat` gives for Q4_0 weights and a
/// single token (for two or more tokens see [`dot_q4_0_q8_0_tiny`], which is bit-identical).
///
/// Panics if `x` and `y` differ in length.
pub fn dot_q4_0_q8_0_vec(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    dot_signed_q8_0(x, y, |b| (b.d, q4_0_values(b)))
}

/// `ggml_vec_dot_q4_1_q8_1` (`arch/x86/quants.c`, `__AVX2__` branch) on `n = 32 * x.len()`
/// elements: the result of llama.cpp's `mul_mat` for Q4_1 weights for any number of tokens
/// (`llamafile_sgemm` has no Q4_1 case).
///
/// Panics if `x` and `y` differ in length.
pub fn dot_q4_1_q8_1_vec(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    dot_unsigned_q8_1(x, y, |b| (b.d, b.m, nibbles(&b.qs)))
}

/// `ggml_vec_dot_q5_0_q8_0` (`arch/x86/quants.c`, `__AVX2__` branch) on `n = 32 * x.len()`
/// elements: the result of llama.cpp's `mul_mat` for Q5_0 weights and a single token (for two or
/// more tokens see [`dot_q5_0_q8_0_tiny`], which is bit-identical).
///
/// Panics if `x` and `y` differ in length.
pub fn dot_q5_0_q8_0_vec(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    dot_signed_q8_0(x, y, |b| (b.d, q5_0_values(b)))
}

/// `ggml_vec_dot_q5_1_q8_1` (`arch/x86/quants.c`, `__AVX2__` branch) on `n = 32 * x.len()`
/// elements: the result of llama.cpp's `mul_mat` for Q5_1 weights for any number of tokens
/// (`llamafile_sgemm` has no Q5_1 case).
///
/// Panics if `x` and `y` differ in length.
pub fn dot_q5_1_q8_1_vec(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    dot_unsigned_q8_1(x, y, |b| (b.d, b.m, q5_1_values(b)))
}

/// `ggml_vec_dot_q8_0_q8_0` (`arch/x86/quants.c`, `__AVX2__` branch) on `n = 32 * x.len()`
/// elements: the result of llama.cpp's `mul_mat` for Q8_0 weights and a single token (for two or
/// more tokens see [`dot_q8_0_q8_0_tiny`], which is bit-identical).
///
/// Panics if `x` and `y` differ in length.
pub fn dot_q8_0_q8_0_vec(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    dot_signed_q8_0(x, y, |b| (b.d, b.qs))
}

/// One output element of `tinyBLAS_Q0_AVX<block_q4_0, block_q8_0, float>`
/// (`ggml/src/ggml-cpu/llamafile/sgemm.cpp`, reached through `llamafile_sgemm`): weight row `x`
/// times activation row `y`, `k = x.len()` blocks. llama.cpp's `mul_mat` uses it for Q4_0
/// weights when the activations have `n >= 2` rows (tokens) and the output is F32; every tile
/// kernel gives each element the same operations, identical to [`dot_q4_0_q8_0_vec`].
///
/// Panics if `x` and `y` differ in length.
pub fn dot_q4_0_q8_0_tiny(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    // C[j][i] = hsum(sum over l of madd(set1(unhalf(A.d) * unhalf(B.d)),
    //                updot(sign(a, a), sign(b, a)), Cv)): the vec_dot loop.
    dot_signed_q8_0(x, y, |b| (b.d, q4_0_values(b)))
}

/// One output element of `tinyBLAS_Q0_AVX<block_q5_0, block_q8_0, float>` (`llamafile/sgemm.cpp`,
/// via `llamafile_sgemm`): weight row `x` times activation row `y`. llama.cpp's `mul_mat` uses
/// it for Q5_0 weights when the activations have `n >= 2` rows (tokens); identical to
/// [`dot_q5_0_q8_0_vec`].
///
/// Panics if `x` and `y` differ in length.
pub fn dot_q5_0_q8_0_tiny(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    dot_signed_q8_0(x, y, |b| (b.d, q5_0_values(b)))
}

/// One output element of `tinyBLAS_Q0_AVX<block_q8_0, block_q8_0, float>` (`llamafile/sgemm.cpp`,
/// via `llamafile_sgemm`): weight row `x` times activation row `y`. llama.cpp's `mul_mat` uses
/// it for Q8_0 weights (and Q8_0 K/V caches in non-flash attention) when the activations have
/// `n >= 2` rows; identical to [`dot_q8_0_q8_0_vec`].
///
/// Panics if `x` and `y` differ in length.
pub fn dot_q8_0_q8_0_tiny(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    dot_signed_q8_0(x, y, |b| (b.d, b.qs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{as_blocks, Block};

    static GOLDEN: &[u8] = include_bytes!("../../../tests/fixtures/golden/x86-legacy-kernels.bin");

    // ggml type ids in the golden.
    const Q4_0: u8 = 2;
    const Q4_1: u8 = 3;
    const Q5_0: u8 = 6;
    const Q5_1: u8 = 7;
    const Q8_0: u8 = 8;
    const Q8_1: u8 = 9;

    struct Case<'a> {
        index: usize,
        tiny: bool,
        wtype: u8,
        atype: u8,
        m: usize,
        n: usize,
        k: usize,
        a: &'a [u8],
        b: &'a [u8],
        c: &'a [u8],
    }

    fn block_bytes(t: u8) -> usize {
        match t {
            Q4_0 => 18,
            Q4_1 => 20,
            Q5_0 => 22,
            Q5_1 => 24,
            Q8_0 => 34,
            Q8_1 => 36,
            _ => panic!("type {t}"),
        }
    }

    fn u16_at(b: &[u8], o: usize) -> usize {
        usize::from(u16::from_le_bytes([b[o], b[o + 1]]))
    }

    fn u32_at(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
    }

    fn cases() -> impl Iterator<Item = Case<'static>> {
        let g = GOLDEN;
        assert_eq!(&g[..8], b"LMX86LG1");
        assert_eq!(u32_at(g, 8), 1, "version");
        let n_cases = u32_at(g, 12) as usize;
        let mut off = 16;
        let mut index = 0;
        core::iter::from_fn(move || {
            if index == n_cases {
                assert_eq!(off, g.len(), "trailing bytes");
                return None;
            }
            let h = &g[off..off + 12];
            let (tiny, wtype, atype) = (h[0] == 1, h[1], h[2]);
            assert!(h[0] <= 1);
            let (m, n, k) = (u16_at(h, 4), u16_at(h, 6), u16_at(h, 8));
            off += 12;
            let a = &g[off..off + m * k * block_bytes(wtype)];
            off += a.len();
            let b = &g[off..off + n * k * block_bytes(atype)];
            off += b.len();
            let c = &g[off..off + 4 * m * n];
            off += c.len();
            index += 1;
            Some(Case {
                index: index - 1,
                tiny,
                wtype,
                atype,
                m,
                n,
                k,
                a,
                b,
                c,
            })
        })
    }

    fn blocks<B: Block>(bytes: &[u8]) -> &[B] {
        as_blocks(bytes).expect("whole blocks")
    }

    /// Row `r` (of `k` blocks) of a block matrix.
    fn row<B: Block>(bytes: &[u8], k: usize, r: usize) -> &[B] {
        &blocks::<B>(bytes)[r * k..(r + 1) * k]
    }

    /// (vec, tiny) results of weight row `i` and activation row `j`.
    fn compute(cs: &Case, i: usize, j: usize) -> (f32, Option<f32>) {
        let k = cs.k;
        match (cs.wtype, cs.atype) {
            (Q4_0, Q8_0) => {
                let (x, y) = (row::<BlockQ4_0>(cs.a, k, i), row::<BlockQ8_0>(cs.b, k, j));
                (dot_q4_0_q8_0_vec(x, y), Some(dot_q4_0_q8_0_tiny(x, y)))
            }
            (Q5_0, Q8_0) => {
                let (x, y) = (row::<BlockQ5_0>(cs.a, k, i), row::<BlockQ8_0>(cs.b, k, j));
                (dot_q5_0_q8_0_vec(x, y), Some(dot_q5_0_q8_0_tiny(x, y)))
            }
            (Q8_0, Q8_0) => {
                let (x, y) = (row::<BlockQ8_0>(cs.a, k, i), row::<BlockQ8_0>(cs.b, k, j));
                (dot_q8_0_q8_0_vec(x, y), Some(dot_q8_0_q8_0_tiny(x, y)))
            }
            (Q4_1, Q8_1) => (dot_q4_1_q8_1_vec(row(cs.a, k, i), row(cs.b, k, j)), None),
            (Q5_1, Q8_1) => (dot_q5_1_q8_1_vec(row(cs.a, k, i), row(cs.b, k, j)), None),
            p => panic!("unexpected type pair {p:?}"),
        }
    }

    #[test]
    fn golden_matches_x86_vec_dot_and_tinyblas_bit_for_bit() {
        let (mut vec_cases, mut tiny_cases, mut outputs) = (0, 0, 0);
        for cs in cases() {
            if cs.tiny {
                tiny_cases += 1;
            } else {
                vec_cases += 1;
                assert_eq!((cs.m, cs.n), (1, 1));
            }
            for j in 0..cs.n {
                for i in 0..cs.m {
                    let o = 4 * (j * cs.m + i);
                    let want = f32::from_le_bytes([cs.c[o], cs.c[o + 1], cs.c[o + 2], cs.c[o + 3]]);
                    let (v, t) = compute(&cs, i, j);
                    let what = if cs.tiny { "tinyBLAS" } else { "vec_dot" };
                    assert_eq!(
                        v.to_bits(),
                        want.to_bits(),
                        "case {} ({what}, type {} x {}, k = {}, element ({i}, {j})): vec {v:e}, llama.cpp {want:e}",
                        cs.index,
                        cs.wtype,
                        cs.atype,
                        cs.k
                    );
                    if let Some(t) = t {
                        assert_eq!(
                            t.to_bits(),
                            want.to_bits(),
                            "case {} tiny ({i}, {j})",
                            cs.index
                        );
                    }
                    outputs += 1;
                }
            }
        }
        assert_eq!((vec_cases, tiny_cases), (130, 36));
        assert!(outputs > 500, "{outputs}");
    }

    /// The golden exercises the 8-bit negation quirk of `_mm256_sign_epi8` (activation -128
    /// against a negative weight quant), and the model of it matters.
    #[test]
    fn golden_covers_sign_epi8_wraparound() {
        let mut hits = 0;
        for cs in cases().filter(|c| c.wtype == Q8_0 && !c.tiny) {
            let (x, y) = (blocks::<BlockQ8_0>(cs.a), blocks::<BlockQ8_0>(cs.b));
            for (xb, yb) in x.iter().zip(y) {
                hits += xb
                    .qs
                    .iter()
                    .zip(&yb.qs)
                    .filter(|(&a, &b)| a < 0 && b == -128)
                    .count();
            }
        }
        assert!(hits > 10, "{hits}");
        // With the quirk, -1 * -128 counts as 1 * -128.
        let x = [-1i8; QK];
        let mut y = [0i8; QK];
        y[0] = -128;
        assert_eq!(mul_sum_i8_pairs_float(&x, &y)[0], -128.0);
    }

    #[test]
    fn hsum_order() {
        // (a0 + a4) + (a2 + a6) + ((a1 + a5) + (a3 + a7)): 1e8 cancels before the small terms
        // are added only in this order.
        let x = [1e8, 1.0, 1.0, 1.0, -1e8, 1.0, 1.0, 1.0];
        assert_eq!(hsum_float_8(x), 6.0);
        let y = [1e8, 1.0, 1.0, 1.0, 1.0, 1.0, -1e8, 1.0];
        assert_eq!(hsum_float_8(y), 4.0);
    }
}
