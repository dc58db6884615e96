//! Q2_K and Q3_K · Q8_K dot products with AVX2/FMA, bit-identical to
//! [`crate::kernels::reference::kquants`] (llama.cpp's AVX2 order).
//!
//! Both types have sixteen sub-blocks of 16 quants. Per 32 quants the kernels take one
//! `_mm256_maddubs_epi16` (i16 sums of adjacent pairs) and one `_mm256_madd_epi16` with the two
//! sub-block scales of those 32 quants (low 128 bits: the first sub-block, high 128 bits: the
//! second), so element `e` of a block lands in i32 lane `(e % 32) / 4`: the lane layout of the
//! reference's `avx2_lanes`. All integer steps are exact (no `maddubs` saturation or i16 overflow
//! is possible with these ranges). The float steps are the reference's, in its order:
//! `_mm256_fmadd_ps` per block then `hsum_float_8` (vec_dot path), or the scalar
//! `mul` / `fnmadd` / `fmadd` chain per block (tiled path).

use core::arch::x86_64::*;

use super::Avx2;
use crate::quant::k_quants::{BlockQ2K, BlockQ3K, BlockQ8K};
use crate::quant::{f16_le, QK_K};

/// `hsum_float_8`: `((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7))`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_float_8(x: __m256) -> f32 {
    let r = _mm_add_ps(_mm256_extractf128_ps::<1>(x), _mm256_castps256_ps128(x));
    let r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    let r = _mm_add_ss(r, _mm_movehdup_ps(r));
    _mm_cvtss_f32(r)
}

/// Sum of the eight i32 lanes (integer, exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_i32_8(x: __m256i) -> i32 {
    let r = _mm_add_epi32(_mm256_extracti128_si256::<1>(x), _mm256_castsi256_si128(x));
    let r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
    let r = _mm_add_epi32(r, _mm_shuffle_epi32::<0b01>(r));
    _mm_cvtsi128_si32(r)
}

/// Scalar `fmaf(a, b, c)` (`vfmadd` on one lane).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn fma_ss(a: f32, b: f32, c: f32) -> f32 {
    _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)))
}

/// `acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn fma_lanes(acc: __m256, d: f32, lanes: __m256i) -> __m256 {
    _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc)
}

/// The first 32 bytes of `s`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load32(s: &[u8]) -> __m256i {
    let s: &[u8; 32] = s[..32].try_into().unwrap();
    // SAFETY: `s` is 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
}

/// The 32 activations of `y` from `off`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_q8(y: &BlockQ8K, off: usize) -> __m256i {
    let s: &[i8; 32] = y.qs[off..off + 32].try_into().unwrap();
    // SAFETY: `s` is 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
}

/// `bsums` of a Q8_K block as 16 i16 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_bsums(y: &BlockQ8K) -> __m256i {
    // SAFETY: `bsums` is 16 * 2 = 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(y.bsums.as_ptr().cast()) }
}

/// The sixteen sub-block scales (as i16 lanes, sub-block `s` in lane `s`) spread over the i16
/// pair products of one `maddubs` of 32 elements: for half `h` (elements `128h..128h+128`) and
/// 32-element chunk `k` of it, the scale of sub-block `8h + 2k` in the low 128 bits and of
/// `8h + 2k + 1` in the high 128 bits. `half` is the eight scales of half `h` in both 128-bit
/// lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn chunk_scales(half: __m256i, k: usize) -> __m256i {
    // Byte indices of i16 lane 2k (low) and 2k + 1 (high) inside a 128-bit lane.
    let lo = (4 * k as i16) | ((4 * k as i16 + 1) << 8);
    let hi = lo + 0x0202;
    _mm256_shuffle_epi8(
        half,
        _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo)),
    )
}

/// The eight i16 scales of half `h` of the block (lanes `8h..8h+8` of `all`) in both 128-bit
/// lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn half_scales(all: __m256i, h: usize) -> __m256i {
    if h == 0 {
        _mm256_permute2x128_si256::<0x00>(all, all)
    } else {
        _mm256_permute2x128_si256::<0x11>(all, all)
    }
}

/// Q2_K: the sixteen 4-bit scales and the sixteen 4-bit minimums, each as i16 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q2k_scales_mins(x: &BlockQ2K) -> (__m256i, __m256i) {
    let m4 = _mm_set1_epi8(0xf);
    // SAFETY: `scales` is 16 readable bytes; unaligned load.
    let packed = unsafe { _mm_loadu_si128(x.scales.as_ptr().cast()) };
    let sc = _mm_and_si128(packed, m4);
    let mn = _mm_and_si128(_mm_srli_epi16::<4>(packed), m4);
    (_mm256_cvtepu8_epi16(sc), _mm256_cvtepu8_epi16(mn))
}

/// Q2_K: the AVX2 `sumi` lanes (quants 0..=3 times activations times the 4-bit scale, element
/// `e` in lane `(e % 32) / 4`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q2k_sumi(x: &BlockQ2K, sc: __m256i, y: &BlockQ8K) -> __m256i {
    let m3 = _mm256_set1_epi8(3);
    let mut sumi = _mm256_setzero_si256();
    for h in 0..QK_K / 128 {
        let bits = load32(&x.qs[32 * h..]);
        let half = half_scales(sc, h);
        let q = [
            _mm256_and_si256(bits, m3),
            _mm256_and_si256(_mm256_srli_epi16::<2>(bits), m3),
            _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m3),
            _mm256_and_si256(_mm256_srli_epi16::<6>(bits), m3),
        ];
        for (k, &qk) in q.iter().enumerate() {
            let q8 = load_q8(y, 128 * h + 32 * k);
            // |pair sum| <= 2 * 3 * 128: no saturation.
            let p = _mm256_maddubs_epi16(qk, q8);
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(chunk_scales(half, k), p));
        }
    }
    sumi
}

/// Q3_K: the sixteen 6-bit scales minus 32 as i16 lanes (`scales128 - 32` of the C code).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q3k_scales(x: &BlockQ3K) -> __m256i {
    const KMASK1: u32 = 0x0303_0303;
    const KMASK2: u32 = 0x0f0f_0f0f;
    let s = &x.scales;
    let a0 = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    let a1 = u32::from_le_bytes([s[4], s[5], s[6], s[7]]);
    let a2 = u32::from_le_bytes([s[8], s[9], s[10], s[11]]);
    let w = [
        (a0 & KMASK2) | ((a2 & KMASK1) << 4),
        (a1 & KMASK2) | (((a2 >> 2) & KMASK1) << 4),
        ((a0 >> 4) & KMASK2) | (((a2 >> 4) & KMASK1) << 4),
        ((a1 >> 4) & KMASK2) | (((a2 >> 6) & KMASK1) << 4),
    ];
    let v = _mm_set_epi32(w[3] as i32, w[2] as i32, w[1] as i32, w[0] as i32);
    // Bytes 0..=63 minus 32: -32..=31, sign-extended.
    _mm256_cvtepi8_epi16(_mm_sub_epi8(v, _mm_set1_epi8(32)))
}

/// Q3_K: the AVX2 `sumi` lanes (signed quants -4..=3 times activations times `scale - 32`,
/// element `e` in lane `(e % 32) / 4`). The quants are split into the unsigned low bits (0..=3)
/// and the 4 taken away where the high bit is clear, each through its own `maddubs`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q3k_sumi(x: &BlockQ3K, sc: __m256i, y: &BlockQ8K) -> __m256i {
    let m3 = _mm256_set1_epi8(3);
    let four = _mm256_set1_epi8(4);
    let zero = _mm256_setzero_si256();
    let hbits = load32(&x.hmask);
    let mut sumi = _mm256_setzero_si256();
    for h in 0..QK_K / 128 {
        let bits = load32(&x.qs[32 * h..]);
        let half = half_scales(sc, h);
        let low = [
            _mm256_and_si256(bits, m3),
            _mm256_and_si256(_mm256_srli_epi16::<2>(bits), m3),
            _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m3),
            _mm256_and_si256(_mm256_srli_epi16::<6>(bits), m3),
        ];
        for (k, &lk) in low.iter().enumerate() {
            let mask = _mm256_set1_epi8(1 << (4 * h + k));
            // 4 where the high bit is clear, else 0.
            let clear = _mm256_cmpeq_epi8(_mm256_and_si256(hbits, mask), zero);
            let sub = _mm256_and_si256(clear, four);
            let q8 = load_q8(y, 128 * h + 32 * k);
            // |pair sums| <= 768 and <= 1024, their difference <= 1792: exact in i16.
            let p = _mm256_sub_epi16(_mm256_maddubs_epi16(lk, q8), _mm256_maddubs_epi16(sub, q8));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(chunk_scales(half, k), p));
        }
    }
    sumi
}

/// [`crate::kernels::reference::kquants::dot_q2_k_q8_k_vec`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q2k_vec(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = _mm256_setzero_ps();
    for (xb, yb) in x.iter().zip(y) {
        let yd = f32::from_le_bytes(yb.d);
        let d = yd * f16_le(xb.d);
        let dmin = -yd * f16_le(xb.dmin);
        let (sc, mn) = q2k_scales_mins(xb);
        // Lane L: min[2L]*bsums[2L] + min[2L+1]*bsums[2L+1].
        let prod = _mm256_madd_epi16(mn, load_bsums(yb));
        acc = fma_lanes(acc, dmin, prod);
        acc = fma_lanes(acc, d, q2k_sumi(xb, sc, yb));
    }
    hsum_float_8(acc)
}

/// [`crate::kernels::reference::kquants::dot_q3_k_q8_k_vec`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q3k_vec(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = _mm256_setzero_ps();
    for (xb, yb) in x.iter().zip(y) {
        let d = f32::from_le_bytes(yb.d) * f16_le(xb.d);
        acc = fma_lanes(acc, d, q3k_sumi(xb, q3k_scales(xb), yb));
    }
    hsum_float_8(acc)
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

/// [`crate::kernels::reference::kquants::dot_q2_k_q8_k_tiled`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q2k_tiled(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let (sc, mn) = q2k_scales_mins(xb);
        let s1 = hsum_i32_8(q2k_sumi(xb, sc, yb));
        let s2 = hsum_i32_8(_mm256_madd_epi16(mn, load_bsums(yb)));
        let min = Some((f16_le(xb.dmin), s2));
        acc = tiled_step(acc, f16_le(xb.d), s1, min, f32::from_le_bytes(yb.d));
    }
    acc
}

/// [`crate::kernels::reference::kquants::dot_q3_k_q8_k_tiled`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q3k_tiled(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        // From the quants and activations only (the tiled kernel does not read `bsums`).
        let s1 = hsum_i32_8(q3k_sumi(xb, q3k_scales(xb), yb));
        acc = tiled_step(acc, f16_le(xb.d), s1, None, f32::from_le_bytes(yb.d));
    }
    acc
}

impl Avx2 {
    /// [`crate::kernels::reference::kquants::dot_q2_k_q8_k_vec`], with AVX2.
    pub fn dot_q2_k_q8_k_vec(self, x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernel reads only
        // through the slices it is given.
        unsafe { q2k_vec(x, y) }
    }
    /// [`crate::kernels::reference::kquants::dot_q3_k_q8_k_vec`], with AVX2.
    pub fn dot_q3_k_q8_k_vec(self, x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernel reads only
        // through the slices it is given.
        unsafe { q3k_vec(x, y) }
    }
    /// [`crate::kernels::reference::kquants::dot_q2_k_q8_k_tiled`], with AVX2.
    pub fn dot_q2_k_q8_k_tiled(self, x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernel reads only
        // through the slices it is given.
        unsafe { q2k_tiled(x, y) }
    }
    /// [`crate::kernels::reference::kquants::dot_q3_k_q8_k_tiled`], with AVX2.
    pub fn dot_q3_k_q8_k_tiled(self, x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C are available; the kernel reads only
        // through the slices it is given.
        unsafe { q3k_tiled(x, y) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::kquants as r;
    use crate::kernels::x86::kquants::tests::{acts, token, weights, Rng};
    use crate::quant::{as_blocks, Block};
    use alloc::vec;
    use alloc::vec::Vec;

    /// Offsets of the f16 fields: Q2_K `d`, `dmin`; Q3_K `d`.
    const Q2K_F16: [usize; 2] = [80, 82];
    const Q3K_F16: [usize; 1] = [108];

    /// Seeds per test; each runs 0..=9 blocks.
    const SEEDS: u64 = 300;

    /// `bsums` consistent with the quants.
    fn fix_bsums(b: &mut BlockQ8K) {
        for (s, q) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
            *s = q.iter().map(|&v| i16::from(v)).sum::<i16>().to_le_bytes();
        }
    }

    /// Compares one AVX2 kernel with its reference on `SEEDS` seeds times 0..=9 blocks; returns
    /// the number of cases.
    fn run<B: Block + Clone>(
        tag: u64,
        f16_at: &[usize],
        avx: impl Fn(&[B], &[BlockQ8K]) -> f32,
        refr: fn(&[B], &[BlockQ8K]) -> f32,
    ) -> usize {
        let mut cases = 0;
        for seed in 0..SEEDS {
            let mut rng = Rng(seed.wrapping_mul(0x1_0000_0001) ^ (tag << 48));
            for n in 0..=9 {
                let x: Vec<B> = weights(&mut rng, n, f16_at);
                let y = acts(&mut rng, n, (seed + n as u64) % 2 == 1);
                let got = avx(&x, &y);
                let want = refr(&x, &y);
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "seed={seed} n={n}: {got} vs {want}"
                );
                cases += 1;
            }
        }
        cases
    }

    #[test]
    fn q2k_vec_matches_reference() {
        let t = token();
        let cases = run::<BlockQ2K>(
            1,
            &Q2K_F16,
            |x, y| t.dot_q2_k_q8_k_vec(x, y),
            r::dot_q2_k_q8_k_vec,
        );
        assert_eq!(cases, SEEDS as usize * 10);
    }

    #[test]
    fn q3k_vec_matches_reference() {
        let t = token();
        let cases = run::<BlockQ3K>(
            2,
            &Q3K_F16,
            |x, y| t.dot_q3_k_q8_k_vec(x, y),
            r::dot_q3_k_q8_k_vec,
        );
        assert_eq!(cases, SEEDS as usize * 10);
    }

    #[test]
    fn q2k_tiled_matches_reference() {
        let t = token();
        let cases = run::<BlockQ2K>(
            3,
            &Q2K_F16,
            |x, y| t.dot_q2_k_q8_k_tiled(x, y),
            r::dot_q2_k_q8_k_tiled,
        );
        assert_eq!(cases, SEEDS as usize * 10);
    }

    #[test]
    fn q3k_tiled_matches_reference() {
        let t = token();
        let cases = run::<BlockQ3K>(
            4,
            &Q3K_F16,
            |x, y| t.dot_q3_k_q8_k_tiled(x, y),
            r::dot_q3_k_q8_k_tiled,
        );
        assert_eq!(cases, SEEDS as usize * 10);
    }

    /// The integer extremes: every weight byte 0x00 or 0xff (quants and scales at their ends,
    /// high bits all set or all clear) against activations all -128 or all 127.
    #[test]
    fn extremes_match_reference() {
        let t = token();
        for wbyte in [0x00u8, 0xff, 0xaa, 0x55] {
            for q in [-128i8, 127, -1] {
                for n in 1..=3 {
                    let mut xb = vec![wbyte; n * core::mem::size_of::<BlockQ2K>()];
                    let mut x3 = vec![wbyte; n * core::mem::size_of::<BlockQ3K>()];
                    for b in xb.chunks_exact_mut(84) {
                        b[80..84].copy_from_slice(&[0x00, 0x3c, 0x00, 0xbc]);
                    }
                    for b in x3.chunks_exact_mut(110) {
                        b[108..110].copy_from_slice(&[0x55, 0x3d]);
                    }
                    let x2 = as_blocks::<BlockQ2K>(&xb).unwrap();
                    let x3 = as_blocks::<BlockQ3K>(&x3).unwrap();
                    let mut yb = vec![0u8; n * core::mem::size_of::<BlockQ8K>()];
                    for b in yb.chunks_exact_mut(292) {
                        b[..4].copy_from_slice(&0.37f32.to_le_bytes());
                        b[4..260].fill(q as u8);
                    }
                    let mut y = as_blocks::<BlockQ8K>(&yb).unwrap().to_vec();
                    y.iter_mut().for_each(fix_bsums);
                    let pairs = [
                        (t.dot_q2_k_q8_k_vec(x2, &y), r::dot_q2_k_q8_k_vec(x2, &y)),
                        (
                            t.dot_q2_k_q8_k_tiled(x2, &y),
                            r::dot_q2_k_q8_k_tiled(x2, &y),
                        ),
                        (t.dot_q3_k_q8_k_vec(x3, &y), r::dot_q3_k_q8_k_vec(x3, &y)),
                        (
                            t.dot_q3_k_q8_k_tiled(x3, &y),
                            r::dot_q3_k_q8_k_tiled(x3, &y),
                        ),
                    ];
                    for (i, (got, want)) in pairs.into_iter().enumerate() {
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "kernel {i} wbyte={wbyte:#x} q={q} n={n}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
