//! K-quant · Q8_K dot products with AVX2/FMA, bit-identical to
//! [`crate::kernels::reference::kquants`] (llama.cpp's AVX2 order).
//!
//! The integer parts are exact (the same integers as the reference, per AVX2 lane); the float
//! steps are the same operations in the same order: `_mm256_fmadd_ps` per block, then
//! `hsum_float_8` (vec_dot path), or the scalar `mul` / `fnmadd` / `fmadd` chain (tiled path).
//! Done: Q4_K, Q5_K and Q6_K, both paths.

use core::arch::x86_64::*;

use super::{rows_as, Avx2};
use crate::quant::k_quants::{BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::quant::{as_blocks, f16_le, GgmlType, QK_K};

/// The eight 6-bit scales and eight 6-bit minimums of a Q4_K/Q5_K block, as bytes.
#[inline(always)]
pub(super) fn q4k_scales_mins(s: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    const KMASK1: u32 = 0x3f3f_3f3f;
    const KMASK2: u32 = 0x0f0f_0f0f;
    const KMASK3: u32 = 0x0303_0303;
    let u0 = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    let u1 = u32::from_le_bytes([s[4], s[5], s[6], s[7]]);
    let u2 = u32::from_le_bytes([s[8], s[9], s[10], s[11]]);
    let u3 = ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4);
    let uaux = u1 & KMASK1;
    let u1 = (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4);
    let sc = (u64::from(u0 & KMASK1) | (u64::from(u1) << 32)).to_le_bytes();
    let mn = (u64::from(uaux) | (u64::from(u3) << 32)).to_le_bytes();
    (sc, mn)
}

/// `hsum_float_8`: `((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7))`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn hsum_float_8(x: __m256) -> f32 {
    let r = _mm_add_ps(_mm256_extractf128_ps::<1>(x), _mm256_castps256_ps128(x));
    let r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    let r = _mm_add_ss(r, _mm_movehdup_ps(r));
    _mm_cvtss_f32(r)
}

/// Sum of the four i32 lanes (integer, exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_i32_4(r: __m128i) -> i32 {
    let r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
    let r = _mm_add_epi32(r, _mm_shuffle_epi32::<0b01>(r));
    _mm_cvtsi128_si32(r)
}

/// Sum of the eight i32 lanes (integer, exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_i32_8(x: __m256i) -> i32 {
    hsum_i32_4(_mm_add_epi32(
        _mm256_extracti128_si256::<1>(x),
        _mm256_castsi256_si128(x),
    ))
}

/// Scalar `fmaf(a, b, c)` (`vfmadd` on one lane).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn fma_ss(a: f32, b: f32, c: f32) -> f32 {
    _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)))
}

#[inline(always)]
pub(super) fn arr32<T>(s: &[T]) -> &[T; 32] {
    s[..32].try_into().unwrap()
}

/// Loads 32 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn load32(p: &[u8; 32]) -> __m256i {
    // SAFETY: `p` is 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(p.as_ptr().cast()) }
}

/// The 32 activations of `y` from `off`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn load_q8(y: &BlockQ8K, off: usize) -> __m256i {
    let s: &[i8; 32] = arr32(&y.qs[off..]);
    // SAFETY: `s` is 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
}

/// `bsums` of a Q8_K block as 16 i16 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn load_bsums(y: &BlockQ8K) -> __m256i {
    // SAFETY: `bsums` is 16 * 2 = 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(y.bsums.as_ptr().cast()) }
}

/// A 16-bit scale broadcast: `lo` in the low 128 bits, `hi` in the high.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn scale2(lo: i16, hi: i16) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo))
}

/// Q4_K/Q5_K: the four lanes of the minimums' `_mm_madd_epi16(mins, q8s)`, computed in i32
/// (exact for any `bsums`): lane `k` = `mins[2k]*q8s[2k] + mins[2k+1]*q8s[2k+1]`,
/// `q8s[j] = bsums[2j] + bsums[2j+1]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4k_min_prod(mins: &[u8; 8], y: &BlockQ8K) -> __m128i {
    let q8s = _mm256_madd_epi16(load_bsums(y), _mm256_set1_epi16(1));
    let m = _mm256_cvtepu8_epi32(_mm_set_epi64x(0, i64::from_le_bytes(*mins)));
    let p = _mm256_mullo_epi32(q8s, m);
    _mm_hadd_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256::<1>(p))
}

/// Q4_K: the AVX2 `sumi` lanes (scaled products, element `e` in lane `(e % 32) / 4`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4k_sumi(x: &BlockQ4K, sc: &[u8; 8], y: &BlockQ8K) -> __m256i {
    let m4 = _mm256_set1_epi8(0xf);
    let mut sumi = _mm256_setzero_si256();
    for j in 0..QK_K / 64 {
        let q4 = load32(arr32(&x.qs[32 * j..]));
        let q4l = _mm256_and_si256(q4, m4);
        let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
        let pl = _mm256_maddubs_epi16(q4l, load_q8(y, 64 * j));
        let ph = _mm256_maddubs_epi16(q4h, load_q8(y, 64 * j + 32));
        let pl = _mm256_madd_epi16(_mm256_set1_epi16(i16::from(sc[2 * j])), pl);
        let ph = _mm256_madd_epi16(_mm256_set1_epi16(i16::from(sc[2 * j + 1])), ph);
        sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
    }
    sumi
}

/// Q5_K: as [`q4k_sumi`] with the fifth bit from `qh`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5k_sumi(x: &BlockQ5K, sc: &[u8; 8], y: &BlockQ8K) -> __m256i {
    let m4 = _mm256_set1_epi8(0xf);
    let one = _mm256_set1_epi8(1);
    let hbits = load32(&x.qh);
    let mut sumi = _mm256_setzero_si256();
    for j in 0..QK_K / 64 {
        let q4 = load32(arr32(&x.qs[32 * j..]));
        let hl = _mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * j as i32));
        let hh = _mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * j as i32 + 1));
        let hl = _mm256_slli_epi16::<4>(_mm256_and_si256(hl, one));
        let hh = _mm256_slli_epi16::<4>(_mm256_and_si256(hh, one));
        let q5l = _mm256_or_si256(_mm256_and_si256(q4, m4), hl);
        let q5h = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4), hh);
        let pl = _mm256_maddubs_epi16(q5l, load_q8(y, 64 * j));
        let ph = _mm256_maddubs_epi16(q5h, load_q8(y, 64 * j + 32));
        let pl = _mm256_madd_epi16(_mm256_set1_epi16(i16::from(sc[2 * j])), pl);
        let ph = _mm256_madd_epi16(_mm256_set1_epi16(i16::from(sc[2 * j + 1])), ph);
        sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
    }
    sumi
}

/// Q6_K: the AVX2 lanes of the scaled products of the *unsigned* quants (0..=63), or with
/// `SIGNED` of `q - 32` (`maddubs(q, q8) - maddubs(32, q8)`: no i16 overflow, |result| <= 24384).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q6k_lanes<const SIGNED: bool>(x: &BlockQ6K, y: &BlockQ8K) -> __m256i {
    let m32 = _mm256_set1_epi8(32);
    let m4 = _mm256_set1_epi8(0xf);
    let m2 = _mm256_set1_epi8(0x30);
    let s = &x.scales;
    let mut sumi = _mm256_setzero_si256();
    for h in 0..2 {
        let ql0 = load32(arr32(&x.ql[64 * h..]));
        let ql1 = load32(arr32(&x.ql[64 * h + 32..]));
        let qh = load32(arr32(&x.qh[32 * h..]));
        let lo0 = _mm256_and_si256(ql0, m4);
        let lo1 = _mm256_and_si256(ql1, m4);
        let hi0 = _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4);
        let hi1 = _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4);
        let q = [
            _mm256_or_si256(lo0, _mm256_and_si256(_mm256_slli_epi16::<4>(qh), m2)),
            _mm256_or_si256(lo1, _mm256_and_si256(_mm256_slli_epi16::<2>(qh), m2)),
            _mm256_or_si256(hi0, _mm256_and_si256(qh, m2)),
            _mm256_or_si256(hi1, _mm256_and_si256(_mm256_srli_epi16::<2>(qh), m2)),
        ];
        for (k, &qk) in q.iter().enumerate() {
            let c = 4 * h + k;
            let q8 = load_q8(y, 32 * c);
            let mut p = _mm256_maddubs_epi16(qk, q8);
            if SIGNED {
                p = _mm256_sub_epi16(p, _mm256_maddubs_epi16(m32, q8));
            }
            let sc = scale2(i16::from(s[2 * c]), i16::from(s[2 * c + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(sc, p));
        }
    }
    sumi
}

/// The sixteen Q6_K scales as i16 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q6k_scales16(x: &BlockQ6K) -> __m256i {
    // SAFETY: `scales` is 16 readable bytes; unaligned load.
    _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(x.scales.as_ptr().cast()) })
}

/// Checks that every weight row has as many blocks as the activation row.
#[inline(always)]
pub(super) fn check_rows<X, const R: usize>(x: &[&[X]; R], y: &[BlockQ8K]) {
    crate::kernels::tile_blocks(x, &[y]);
}

/// [`crate::kernels::reference::kquants::dot_q4_k_q8_k_vec`] for `R` rows at once (each row's
/// operations exactly as for one row; the activation's block sums are shared).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4k_vec_rows<const R: usize>(x: [&[BlockQ4K]; R], y: &[BlockQ8K]) -> [f32; R] {
    check_rows(&x, y);
    let mut acc = [_mm256_setzero_ps(); R];
    let mut acc_m = [_mm_setzero_ps(); R];
    for (i, yb) in y.iter().enumerate() {
        let yd = f32::from_le_bytes(yb.d);
        for r in 0..R {
            super::prefetch_next_rows::<R, _>(x[r], i);
            let xb = &x[r][i];
            // SAFETY: this function's target features include the helper's.
            let d = yd * unsafe { super::legacy::f16_to_f32(xb.d) };
            // SAFETY: as above.
            let dmin = -yd * unsafe { super::legacy::f16_to_f32(xb.dmin) };
            let (sc, mn) = q4k_scales_mins(&xb.scales);
            let prod = q4k_min_prod(&mn, yb);
            acc_m[r] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m[r]);
            let sumi = q4k_sumi(xb, &sc, yb);
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc[r]);
        }
    }
    core::array::from_fn(|r| {
        let m = _mm_add_ps(acc_m[r], _mm_movehl_ps(acc_m[r], acc_m[r]));
        let m = _mm_add_ss(m, _mm_movehdup_ps(m));
        hsum_float_8(acc[r]) + _mm_cvtss_f32(m)
    })
}

/// [`crate::kernels::reference::kquants::dot_q4_k_q8_k_vec`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4k_vec(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    // SAFETY: same target features.
    unsafe { q4k_vec_rows([x], y)[0] }
}

/// [`crate::kernels::reference::kquants::dot_q5_k_q8_k_vec`] for `R` rows at once.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5k_vec_rows<const R: usize>(x: [&[BlockQ5K]; R], y: &[BlockQ8K]) -> [f32; R] {
    check_rows(&x, y);
    let mut acc = [_mm256_setzero_ps(); R];
    let mut summs = [0f32; R];
    for (i, yb) in y.iter().enumerate() {
        let yd = f32::from_le_bytes(yb.d);
        for r in 0..R {
            super::prefetch_next_rows::<R, _>(x[r], i);
            let xb = &x[r][i];
            let d = yd * f16_le(xb.d);
            let dmin = -yd * f16_le(xb.dmin);
            let (sc, mn) = q4k_scales_mins(&xb.scales);
            let sum = hsum_i32_4(q4k_min_prod(&mn, yb));
            summs[r] = fma_ss(dmin, sum as f32, summs[r]);
            let sumi = q5k_sumi(xb, &sc, yb);
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc[r]);
        }
    }
    core::array::from_fn(|r| hsum_float_8(acc[r]) + summs[r])
}

/// [`crate::kernels::reference::kquants::dot_q5_k_q8_k_vec`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5k_vec(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    // SAFETY: same target features.
    unsafe { q5k_vec_rows([x], y)[0] }
}

/// [`crate::kernels::reference::kquants::dot_q6_k_q8_k_vec`] for `R` rows at once.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6k_vec_rows<const R: usize>(x: [&[BlockQ6K]; R], y: &[BlockQ8K]) -> [f32; R] {
    check_rows(&x, y);
    let mut acc = [_mm256_setzero_ps(); R];
    for (i, yb) in y.iter().enumerate() {
        let yd = f32::from_le_bytes(yb.d);
        let bsums = load_bsums(yb);
        for r in 0..R {
            super::prefetch_next_rows::<R, _>(x[r], i);
            let xb = &x[r][i];
            let d = yd * f16_le(xb.d);
            let lanes = q6k_lanes::<false>(xb, yb);
            let corr = _mm256_madd_epi16(bsums, q6k_scales16(xb));
            let sumi = _mm256_sub_epi32(lanes, _mm256_slli_epi32::<5>(corr));
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc[r]);
        }
    }
    acc.map(|a| hsum_float_8(a))
}

/// [`crate::kernels::reference::kquants::dot_q6_k_q8_k_vec`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6k_vec(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    // SAFETY: same target features.
    unsafe { q6k_vec_rows([x], y)[0] }
}

/// The vec_dot-order K-quant kernels for `R` rows (Q4_K, Q5_K, Q6_K).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn vec_rows<const R: usize>(ty: GgmlType, w: [&[u8]; R], a: &[u8]) -> Option<[f32; R]> {
    // SAFETY (every call below): same target features.
    Some(match ty {
        GgmlType::Q4_K => unsafe { q4k_vec_rows(rows_as(w)?, as_blocks(a)?) },
        GgmlType::Q5_K => unsafe { q5k_vec_rows(rows_as(w)?, as_blocks(a)?) },
        GgmlType::Q6_K => unsafe { q6k_vec_rows(rows_as(w)?, as_blocks(a)?) },
        _ => return None,
    })
}

/// The tiled-path Q5_K kernel for `R` rows against `T` activation rows: `out[r][t]` bit for
/// bit the pair's `dot_q5_k_q8_k_tiled`. Only the integer totals `s1` and `s2` of a block enter
/// the float chain; the scales are unpacked once per row. (Q4_K and Q6_K have the faster
/// eight-activation kernels below.)
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5k_tiled_tile<const R: usize, const T: usize>(
    x: [&[BlockQ5K]; R],
    y: [&[BlockQ8K]; T],
) -> [[f32; T]; R] {
    for yt in &y {
        check_rows(&x, yt);
    }
    let mut acc = [[0f32; T]; R];
    for i in 0..y[0].len() {
        for r in 0..R {
            super::prefetch_next_rows::<R, _>(x[r], i);
            let xb = &x[r][i];
            let (sc, mn) = q4k_scales_mins(&xb.scales);
            let (d0, dmin0) = (f16_le(xb.d), f16_le(xb.dmin));
            for t in 0..T {
                let yb = &y[t][i];
                let s1 = hsum_i32_8(q5k_sumi(xb, &sc, yb));
                let s2 = hsum_i32_4(q4k_min_prod(&mn, yb));
                acc[r][t] = tiled_step(
                    acc[r][t],
                    d0,
                    s1,
                    Some((dmin0, s2)),
                    f32::from_le_bytes(yb.d),
                );
            }
        }
    }
    acc
}

/// Lane `t` of the result is the sum of the eight lanes of `v[t]` (integer, exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn hsum_i32_8x8(v: &[__m256i; 8]) -> __m256i {
    let a0 = _mm256_hadd_epi32(v[0], v[1]);
    let a1 = _mm256_hadd_epi32(v[2], v[3]);
    let a2 = _mm256_hadd_epi32(v[4], v[5]);
    let a3 = _mm256_hadd_epi32(v[6], v[7]);
    let b0 = _mm256_hadd_epi32(a0, a1);
    let b1 = _mm256_hadd_epi32(a2, a3);
    _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(b0, b1),
        _mm256_permute2x128_si256::<0x31>(b0, b1),
    )
}

/// The tiled-path chain of [`tiled_step`] for eight pairs at once (one weight row, eight
/// activation rows in the lanes): the same three roundings per lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn tiled_step8(
    acc: __m256,
    d0: f32,
    s1: __m256i,
    min: Option<(f32, __m256i)>,
    d1: __m256,
) -> __m256 {
    let mut res = _mm256_mul_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(s1));
    if let Some((dmin0, s2)) = min {
        res = _mm256_fnmadd_ps(_mm256_set1_ps(dmin0), _mm256_cvtepi32_ps(s2), res);
    }
    _mm256_fmadd_ps(res, d1, acc)
}

/// The activation scales `y[t][i].d` of eight activation rows.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn act_scales8(y: &[&[BlockQ8K]; 8], i: usize) -> __m256 {
    let d = |t: usize| f32::from_le_bytes(y[t][i].d);
    _mm256_setr_ps(d(0), d(1), d(2), d(3), d(4), d(5), d(6), d(7))
}

/// Q4_K tiled path, `R` rows x 8 activation rows: the nibbles and scales of a weight block are
/// unpacked once for the eight activations, the eight `s1` / `s2` totals reduced together and
/// the float chain run in eight lanes (each lane the reference's scalar operations).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4k_tiled_x8<const R: usize>(x: [&[BlockQ4K]; R], y: [&[BlockQ8K]; 8]) -> [[f32; 8]; R] {
    for yt in &y {
        check_rows(&x, yt);
    }
    let m4 = _mm256_set1_epi8(0xf);
    let mut acc = [_mm256_setzero_ps(); R];
    for i in 0..y[0].len() {
        let d1 = act_scales8(&y, i);
        for r in 0..R {
            super::prefetch_next_rows::<R, _>(x[r], i);
            let xb = &x[r][i];
            let (sc, mn) = q4k_scales_mins(&xb.scales);
            let q: [__m256i; 8] = core::array::from_fn(|k| {
                let q4 = load32(arr32(&xb.qs[32 * (k / 2)..]));
                if k % 2 == 0 {
                    _mm256_and_si256(q4, m4)
                } else {
                    _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4)
                }
            });
            let scales: [__m256i; 8] =
                core::array::from_fn(|k| _mm256_set1_epi16(i16::from(sc[k])));
            // Each minimum twice, as i16, against the sixteen block sums.
            let mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(
                _mm_set_epi64x(0, i64::from_le_bytes(mn)),
                _mm_set_epi64x(0, i64::from_le_bytes(mn)),
            ));
            let mut s1 = [_mm256_setzero_si256(); 8];
            let mut s2 = [_mm256_setzero_si256(); 8];
            for t in 0..8 {
                let yb = &y[t][i];
                let mut sumi = _mm256_setzero_si256();
                for k in 0..8 {
                    let p = _mm256_maddubs_epi16(q[k], load_q8(yb, 32 * k));
                    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scales[k], p));
                }
                s1[t] = sumi;
                s2[t] = _mm256_madd_epi16(load_bsums(yb), mins16);
            }
            let (d0, dmin0) = (f16_le(xb.d), f16_le(xb.dmin));
            let min = Some((dmin0, hsum_i32_8x8(&s2)));
            acc[r] = tiled_step8(acc[r], d0, hsum_i32_8x8(&s1), min, d1);
        }
    }
    acc.map(|a| {
        let mut out = [0f32; 8];
        // SAFETY: 8 writable floats; unaligned store.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), a) };
        out
    })
}

/// Q6_K tiled path, `R` rows x 8 activation rows (see [`q4k_tiled_x8`]). `s1` is formed as
/// `sum(scale * q * q8) - 32 * sum(scale * bsum)`, the same integer as the reference's
/// `sum(scale * (q - 32) * q8)` (the activations' block sums are exact sums of their quants).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6k_tiled_x8<const R: usize>(x: [&[BlockQ6K]; R], y: [&[BlockQ8K]; 8]) -> [[f32; 8]; R] {
    for yt in &y {
        check_rows(&x, yt);
    }
    let m4 = _mm256_set1_epi8(0xf);
    let m2 = _mm256_set1_epi8(0x30);
    let mut acc = [_mm256_setzero_ps(); R];
    for i in 0..y[0].len() {
        let d1 = act_scales8(&y, i);
        for r in 0..R {
            super::prefetch_next_rows::<R, _>(x[r], i);
            let xb = &x[r][i];
            let mut q = [_mm256_setzero_si256(); 8];
            for h in 0..2 {
                let ql0 = load32(arr32(&xb.ql[64 * h..]));
                let ql1 = load32(arr32(&xb.ql[64 * h + 32..]));
                let qh = load32(arr32(&xb.qh[32 * h..]));
                q[4 * h] = _mm256_or_si256(
                    _mm256_and_si256(ql0, m4),
                    _mm256_and_si256(_mm256_slli_epi16::<4>(qh), m2),
                );
                q[4 * h + 1] = _mm256_or_si256(
                    _mm256_and_si256(ql1, m4),
                    _mm256_and_si256(_mm256_slli_epi16::<2>(qh), m2),
                );
                q[4 * h + 2] = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4),
                    _mm256_and_si256(qh, m2),
                );
                q[4 * h + 3] = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4),
                    _mm256_and_si256(_mm256_srli_epi16::<2>(qh), m2),
                );
            }
            let sc = &xb.scales;
            let scales: [__m256i; 8] =
                core::array::from_fn(|c| scale2(i16::from(sc[2 * c]), i16::from(sc[2 * c + 1])));
            let scales16 = q6k_scales16(xb);
            let mut s1 = [_mm256_setzero_si256(); 8];
            for t in 0..8 {
                let yb = &y[t][i];
                let mut sumi = _mm256_setzero_si256();
                for c in 0..8 {
                    let p = _mm256_maddubs_epi16(q[c], load_q8(yb, 32 * c));
                    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scales[c], p));
                }
                let corr = _mm256_madd_epi16(load_bsums(yb), scales16);
                s1[t] = _mm256_sub_epi32(sumi, _mm256_slli_epi32::<5>(corr));
            }
            acc[r] = tiled_step8(acc[r], f16_le(xb.d), hsum_i32_8x8(&s1), None, d1);
        }
    }
    acc.map(|a| {
        let mut out = [0f32; 8];
        // SAFETY: 8 writable floats; unaligned store.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), a) };
        out
    })
}

/// The tiled-path kernels for `R` rows x 8 activations (Q4_K, Q6_K).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tiled_x8<const R: usize>(
    ty: GgmlType,
    w: [&[u8]; R],
    a: [&[u8]; 8],
) -> Option<[[f32; 8]; R]> {
    // SAFETY (every call below): same target features.
    Some(match ty {
        GgmlType::Q4_K => unsafe { q4k_tiled_x8(rows_as(w)?, rows_as(a)?) },
        GgmlType::Q6_K => unsafe { q6k_tiled_x8(rows_as(w)?, rows_as(a)?) },
        _ => return None,
    })
}

/// The tiled-path kernel for `R` rows and `T` activations of the K-quants without an
/// eight-activation kernel (Q5_K).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tiled_tile<const R: usize, const T: usize>(
    ty: GgmlType,
    w: [&[u8]; R],
    a: [&[u8]; T],
) -> Option<[[f32; T]; R]> {
    // SAFETY (every call below): same target features.
    Some(match ty {
        GgmlType::Q5_K => unsafe { q5k_tiled_tile(rows_as(w)?, rows_as(a)?) },
        _ => return None,
    })
}

/// `res = d0 * s1; res = fmaf(-dmin0, s2, res); fmaf(res, d1, acc)` (see the reference).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn tiled_step(acc: f32, d0: f32, s1: i32, min: Option<(f32, i32)>, d1: f32) -> f32 {
    let mut res = d0 * s1 as f32;
    if let Some((dmin0, s2)) = min {
        res = fma_ss(-dmin0, s2 as f32, res);
    }
    fma_ss(res, d1, acc)
}

/// [`crate::kernels::reference::kquants::dot_q4_k_q8_k_tiled`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4k_tiled(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    let mut acc = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let (sc, mn) = q4k_scales_mins(&xb.scales);
        let s1 = hsum_i32_8(q4k_sumi(xb, &sc, yb));
        let s2 = hsum_i32_4(q4k_min_prod(&mn, yb));
        let dmin = Some((f16_le(xb.dmin), s2));
        acc = tiled_step(acc, f16_le(xb.d), s1, dmin, f32::from_le_bytes(yb.d));
    }
    acc
}

/// [`crate::kernels::reference::kquants::dot_q5_k_q8_k_tiled`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5k_tiled(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    let mut acc = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let (sc, mn) = q4k_scales_mins(&xb.scales);
        let s1 = hsum_i32_8(q5k_sumi(xb, &sc, yb));
        let s2 = hsum_i32_4(q4k_min_prod(&mn, yb));
        let dmin = Some((f16_le(xb.dmin), s2));
        acc = tiled_step(acc, f16_le(xb.d), s1, dmin, f32::from_le_bytes(yb.d));
    }
    acc
}

/// [`crate::kernels::reference::kquants::dot_q6_k_q8_k_tiled`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6k_tiled(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    let mut acc = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        // s1 = sum scale * (q - 32) * q8, from the quants and activations only (the tiled kernel
        // does not read `bsums`).
        let s1 = hsum_i32_8(q6k_lanes::<true>(xb, yb));
        acc = tiled_step(acc, f16_le(xb.d), s1, None, f32::from_le_bytes(yb.d));
    }
    acc
}

impl Avx2 {
    /// `R` rows of Q4_K, Q5_K or Q6_K weights (row bytes) against one Q8_K activation row, each
    /// bit for bit the row's `dot_*_q8_k_vec`. `None` for other types or rows that are not
    /// whole blocks.
    ///
    /// Panics if the rows differ in length.
    pub fn kquant_vec_rows<const R: usize>(
        self,
        ty: GgmlType,
        w: [&[u8]; R],
        a: &[u8],
    ) -> Option<[f32; R]> {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernels read only
        // through the slices they are given.
        unsafe { vec_rows(ty, w, a) }
    }

    /// `R` rows of Q5_K weights (row bytes) against `T` Q8_K activation rows, `out[r][t]` bit
    /// for bit the pair's `dot_q5_k_q8_k_tiled` (Q4_K and Q6_K: [`Avx2::kquant_tiled_x8`]).
    /// `None` for other types or rows that are not whole blocks.
    ///
    /// Panics if the rows differ in length.
    pub fn kquant_tiled_tile<const R: usize, const T: usize>(
        self,
        ty: GgmlType,
        w: [&[u8]; R],
        a: [&[u8]; T],
    ) -> Option<[[f32; T]; R]> {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernels read only
        // through the slices they are given.
        unsafe { tiled_tile(ty, w, a) }
    }

    /// `R` rows of Q4_K or Q6_K weights against eight Q8_K activation rows, `out[r][t]` bit for
    /// bit the pair's `dot_*_q8_k_tiled`, with the eight chains in the lanes of one vector.
    /// `None` for other types or rows that are not whole blocks.
    ///
    /// Panics if the rows differ in length.
    pub fn kquant_tiled_x8<const R: usize>(
        self,
        ty: GgmlType,
        w: [&[u8]; R],
        a: [&[u8]; 8],
    ) -> Option<[[f32; 8]; R]> {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernels read only
        // through the slices they are given.
        unsafe { tiled_x8(ty, w, a) }
    }

    /// [`crate::kernels::reference::kquants::dot_q4_k_q8_k_vec`], with AVX2.
    pub fn dot_q4_k_q8_k_vec(self, x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernel reads only
        // through the slices it is given.
        unsafe { q4k_vec(x, y) }
    }
    /// [`crate::kernels::reference::kquants::dot_q5_k_q8_k_vec`], with AVX2.
    pub fn dot_q5_k_q8_k_vec(self, x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernel reads only
        // through the slices it is given.
        unsafe { q5k_vec(x, y) }
    }
    /// [`crate::kernels::reference::kquants::dot_q6_k_q8_k_vec`], with AVX2.
    pub fn dot_q6_k_q8_k_vec(self, x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernel reads only
        // through the slices it is given.
        unsafe { q6k_vec(x, y) }
    }
    /// [`crate::kernels::reference::kquants::dot_q4_k_q8_k_tiled`], with AVX2.
    pub fn dot_q4_k_q8_k_tiled(self, x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernel reads only
        // through the slices it is given.
        unsafe { q4k_tiled(x, y) }
    }
    /// [`crate::kernels::reference::kquants::dot_q5_k_q8_k_tiled`], with AVX2.
    pub fn dot_q5_k_q8_k_tiled(self, x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernel reads only
        // through the slices it is given.
        unsafe { q5k_tiled(x, y) }
    }
    /// [`crate::kernels::reference::kquants::dot_q6_k_q8_k_tiled`], with AVX2.
    pub fn dot_q6_k_q8_k_tiled(self, x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernel reads only
        // through the slices it is given.
        unsafe { q6k_tiled(x, y) }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::kernels::reference::kquants as r;
    pub(crate) use crate::kernels::testgen::{acts, weights, Rng};
    use alloc::vec::Vec;

    /// The AVX2 token; these tests fail (never skip) without it.
    pub(crate) fn token() -> Avx2 {
        Avx2::new().expect("these tests need AVX2/FMA/F16C (and LLAMETTE_SCALAR unset)")
    }

    macro_rules! check {
        ($name:ident, $B:ty, $f16:expr, $avx:ident, $refr:path) => {
            #[test]
            fn $name() {
                let t = token();
                let mut rng = Rng(0x1234 + stringify!($name).len() as u64);
                for round in 0..40 {
                    for n in 0..=12 {
                        let x: Vec<$B> = weights(&mut rng, n, &$f16);
                        let y = acts(&mut rng, n, round % 2 == 1);
                        let got = t.$avx(&x, &y);
                        let want = $refr(&x, &y);
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "n={n} round={round}: {got} vs {want}"
                        );
                    }
                }
            }
        };
    }

    check!(
        q4k_vec,
        BlockQ4K,
        [0, 2],
        dot_q4_k_q8_k_vec,
        r::dot_q4_k_q8_k_vec
    );
    check!(
        q5k_vec,
        BlockQ5K,
        [0, 2],
        dot_q5_k_q8_k_vec,
        r::dot_q5_k_q8_k_vec
    );
    check!(
        q6k_vec,
        BlockQ6K,
        [208],
        dot_q6_k_q8_k_vec,
        r::dot_q6_k_q8_k_vec
    );
    check!(
        q4k_tiled,
        BlockQ4K,
        [0, 2],
        dot_q4_k_q8_k_tiled,
        r::dot_q4_k_q8_k_tiled
    );
    check!(
        q5k_tiled,
        BlockQ5K,
        [0, 2],
        dot_q5_k_q8_k_tiled,
        r::dot_q5_k_q8_k_tiled
    );
    check!(
        q6k_tiled,
        BlockQ6K,
        [208],
        dot_q6_k_q8_k_tiled,
        r::dot_q6_k_q8_k_tiled
    );
}
