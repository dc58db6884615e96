//! The tiled-path K-quant products (Q4_K, Q6_K weights, eight Q8_K activation rows at once) with
//! AVX-512BW and AVX-512 VNNI, bit-identical to [`super::kquants`]'s AVX2 `kquant_tiled_x8` and so
//! to the reference.
//!
//! Two weight rows share each 512-bit register (one per 256-bit half), so every activation chunk,
//! loaded once and broadcast to both halves, meets two rows in one `maddubs`; `vpdpwssd` applies
//! the sub-block scale and accumulates in one instruction where AVX2 needs `madd` and `add`. Only
//! the integer totals `s1`, `s2` of a block enter the float chain, and those are exact whatever
//! the lane arrangement (`maddubs` cannot saturate here: quants are at most 63, so a pair of
//! products stays within 2 * 63 * 128), so the per-lane float operations are the AVX2 ones.

use core::arch::x86_64::*;

use super::avx512::pair;
use super::kquants::{
    act_scales8, arr32, check_rows, load32, load_bsums, load_q8, q4k_scales_mins, q6k_scales16,
    scale2, tiled_step8,
};
use super::{rows_as, Avx512};
use crate::quant::k_quants::{BlockQ4K, BlockQ6K, BlockQ8K};
use crate::quant::{f16_le, GgmlType};

/// Row totals of eight registers that hold two rows' lanes (row a in the low half, row b in
/// the high half): lane `t` of the first result is the sum of the low eight lanes of `v[t]`,
/// of the second the sum of its high eight lanes (integer, exact; a transposing reduction).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn reduce_2x8(v: &[__m512i; 8]) -> (__m256i, __m256i) {
    let l1 = |a: __m512i, b: __m512i| {
        _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b))
    };
    let l2 = |a: __m512i, b: __m512i| {
        _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b))
    };
    // Per 128-bit lane k: [t0, t1, t2, t3] sums of that lane's four elements.
    let b0 = l2(l1(v[0], v[1]), l1(v[2], v[3]));
    let b1 = l2(l1(v[4], v[5]), l1(v[6], v[7]));
    // Lanes 0+1 are row a, lanes 2+3 row b.
    let x = _mm512_shuffle_i64x2::<0b10_00_10_00>(b0, b1); // b0.l0, b0.l2, b1.l0, b1.l2
    let y = _mm512_shuffle_i64x2::<0b11_01_11_01>(b0, b1); // b0.l1, b0.l3, b1.l1, b1.l3
    let z = _mm512_add_epi32(x, y); // a t0-3, b t0-3, a t4-7, b t4-7
    let z = _mm512_shuffle_i64x2::<0b11_01_10_00>(z, z); // a t0-3, a t4-7, b t0-3, b t4-7
    (_mm512_castsi512_si256(z), _mm512_extracti64x4_epi64::<1>(z))
}

/// For eight activation blocks: register `jj` holds, in lane `t` (as two i16), the sums
/// `q8s[2jj]` and `q8s[2jj + 1]` of activation `t`, where `q8s[j] = bsums[2j] + bsums[2j + 1]`
/// (at most 4064 in magnitude), broadcast to both halves: `madd` with a row's minimums gives
/// the eight `s2 = sum(min[j] * q8s[j])` of that row at once.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn q8s_by_token(y: &[&[BlockQ8K]; 8], i: usize) -> [__m512i; 4] {
    let ones = _mm256_set1_epi16(1);
    let r: [__m256i; 8] = core::array::from_fn(|t| _mm256_madd_epi16(load_bsums(&y[t][i]), ones));
    // Transpose the 8 x 8 i32 matrix (row t = token, lane j).
    let a: [__m256i; 8] = core::array::from_fn(|k| {
        let (p, q) = (r[2 * (k / 2)], r[2 * (k / 2) + 1]);
        if k % 2 == 0 {
            _mm256_unpacklo_epi32(p, q)
        } else {
            _mm256_unpackhi_epi32(p, q)
        }
    });
    // a[0] = [r0.0 r1.0 r0.1 r1.1 | r0.4 r1.4 r0.5 r1.5], a[1] = [r0.2 r1.2 r0.3 r1.3 | ...]
    let c0 = _mm256_unpacklo_epi64(a[0], a[2]); // t0..t3 of j0 | j4
    let c1 = _mm256_unpackhi_epi64(a[0], a[2]); // j1 | j5
    let c2 = _mm256_unpacklo_epi64(a[1], a[3]); // j2 | j6
    let c3 = _mm256_unpackhi_epi64(a[1], a[3]); // j3 | j7
    let c4 = _mm256_unpacklo_epi64(a[4], a[6]); // t4..t7 of j0 | j4
    let c5 = _mm256_unpackhi_epi64(a[4], a[6]);
    let c6 = _mm256_unpacklo_epi64(a[5], a[7]);
    let c7 = _mm256_unpackhi_epi64(a[5], a[7]);
    let lo = |p: __m256i, q: __m256i| _mm256_permute2x128_si256::<0x20>(p, q);
    let hi = |p: __m256i, q: __m256i| _mm256_permute2x128_si256::<0x31>(p, q);
    let qt = [
        lo(c0, c4),
        lo(c1, c5),
        lo(c2, c6),
        lo(c3, c7),
        hi(c0, c4),
        hi(c1, c5),
        hi(c2, c6),
        hi(c3, c7),
    ];
    core::array::from_fn(|jj| {
        let v =
            _mm256_blend_epi16::<0b1010_1010>(qt[2 * jj], _mm256_slli_epi32::<16>(qt[2 * jj + 1]));
        _mm512_broadcast_i64x4(v)
    })
}

/// The eight results of each row from its accumulator.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn store_rows<const R: usize>(acc: [__m256; R]) -> [[f32; 8]; R] {
    acc.map(|a| {
        let mut out = [0f32; 8];
        // SAFETY: 8 writable floats; unaligned store.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), a) };
        out
    })
}

/// Q4_K, `R` (even) rows x 8 activation rows; see the module docs.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn q4k_tiled_x8<const R: usize>(x: [&[BlockQ4K]; R], y: [&[BlockQ8K]; 8]) -> [[f32; 8]; R] {
    const { assert!(R.is_multiple_of(2)) };
    for yt in &y {
        check_rows(&x, yt);
    }
    let m4 = _mm512_set1_epi8(0xf);
    let mut acc = [_mm256_setzero_ps(); R];
    for i in 0..y[0].len() {
        let d1 = act_scales8(&y, i);
        let q8s = q8s_by_token(&y, i);
        for rp in 0..R / 2 {
            let (ra, rb) = (2 * rp, 2 * rp + 1);
            super::prefetch_next_rows::<R, _>(x[ra], i);
            super::prefetch_next_rows::<R, _>(x[rb], i);
            let (xa, xb) = (&x[ra][i], &x[rb][i]);
            let (sca, mna) = q4k_scales_mins(&xa.scales);
            let (scb, mnb) = q4k_scales_mins(&xb.scales);
            let q: [__m512i; 8] = core::array::from_fn(|k| {
                let j = 32 * (k / 2);
                let v = pair(load32(arr32(&xa.qs[j..])), load32(arr32(&xb.qs[j..])));
                if k % 2 == 0 {
                    _mm512_and_si512(v, m4)
                } else {
                    _mm512_and_si512(_mm512_srli_epi16::<4>(v), m4)
                }
            });
            let scales: [__m512i; 8] = core::array::from_fn(|k| {
                let lo = _mm512_set1_epi16(i16::from(sca[k]));
                _mm512_mask_set1_epi16(lo, 0xffff_0000, i16::from(scb[k]))
            });
            // Row a's minimums in the low half, row b's in the high half, as i16 pairs.
            let mins: [__m512i; 4] = core::array::from_fn(|jj| {
                let m = |mn: &[u8; 8]| i32::from(mn[2 * jj]) | (i32::from(mn[2 * jj + 1]) << 16);
                let lo = _mm512_set1_epi32(m(&mna));
                _mm512_mask_set1_epi32(lo, 0xff00, m(&mnb))
            });
            let mut s2 = _mm512_setzero_si512();
            for jj in 0..4 {
                s2 = _mm512_add_epi32(s2, _mm512_madd_epi16(q8s[jj], mins[jj]));
            }
            let mut s1 = [_mm512_setzero_si512(); 8];
            for (t, s1t) in s1.iter_mut().enumerate() {
                let yb = &y[t][i];
                let mut sumi = _mm512_setzero_si512();
                for k in 0..8 {
                    let yk = _mm512_broadcast_i64x4(load_q8(yb, 32 * k));
                    let p = _mm512_maddubs_epi16(q[k], yk);
                    sumi = _mm512_dpwssd_epi32(sumi, scales[k], p);
                }
                *s1t = sumi;
            }
            let (s1a, s1b) = reduce_2x8(&s1);
            let (s2a, s2b) = (
                _mm512_castsi512_si256(s2),
                _mm512_extracti64x4_epi64::<1>(s2),
            );
            let (da, dmina) = (f16_le(xa.d), f16_le(xa.dmin));
            let (db, dminb) = (f16_le(xb.d), f16_le(xb.dmin));
            acc[ra] = tiled_step8(acc[ra], da, s1a, Some((dmina, s2a)), d1);
            acc[rb] = tiled_step8(acc[rb], db, s1b, Some((dminb, s2b)), d1);
        }
    }
    store_rows(acc)
}

/// The 6-bit quants of one half (`h`) of a Q6_K block of two rows, as four registers of two
/// 32-quant chunks (one per row).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn q6k_quants(a: &BlockQ6K, b: &BlockQ6K, h: usize) -> [__m512i; 4] {
    let m4 = _mm512_set1_epi8(0xf);
    let m2 = _mm512_set1_epi8(0x30);
    let ld = |f: fn(&BlockQ6K) -> &[u8], off: usize| {
        pair(load32(arr32(&f(a)[off..])), load32(arr32(&f(b)[off..])))
    };
    let ql0 = ld(|x| &x.ql, 64 * h);
    let ql1 = ld(|x| &x.ql, 64 * h + 32);
    let qh = ld(|x| &x.qh, 32 * h);
    let lo0 = _mm512_and_si512(ql0, m4);
    let lo1 = _mm512_and_si512(ql1, m4);
    let hi0 = _mm512_and_si512(_mm512_srli_epi16::<4>(ql0), m4);
    let hi1 = _mm512_and_si512(_mm512_srli_epi16::<4>(ql1), m4);
    [
        _mm512_or_si512(lo0, _mm512_and_si512(_mm512_slli_epi16::<4>(qh), m2)),
        _mm512_or_si512(lo1, _mm512_and_si512(_mm512_slli_epi16::<2>(qh), m2)),
        _mm512_or_si512(hi0, _mm512_and_si512(qh, m2)),
        _mm512_or_si512(hi1, _mm512_and_si512(_mm512_srli_epi16::<2>(qh), m2)),
    ]
}

/// Q6_K, `R` (even) rows x 8 activation rows. `s1` is `sum(scale * q * q8) - 32 * sum(scale *
/// bsum)`, the reference's integer `sum(scale * (q - 32) * q8)`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn q6k_tiled_x8<const R: usize>(x: [&[BlockQ6K]; R], y: [&[BlockQ8K]; 8]) -> [[f32; 8]; R] {
    const { assert!(R.is_multiple_of(2)) };
    for yt in &y {
        check_rows(&x, yt);
    }
    let mut acc = [_mm256_setzero_ps(); R];
    for i in 0..y[0].len() {
        let d1 = act_scales8(&y, i);
        for rp in 0..R / 2 {
            let (ra, rb) = (2 * rp, 2 * rp + 1);
            super::prefetch_next_rows::<R, _>(x[ra], i);
            super::prefetch_next_rows::<R, _>(x[rb], i);
            let (xa, xb) = (&x[ra][i], &x[rb][i]);
            let [q0, q1, q2, q3] = q6k_quants(xa, xb, 0);
            let [q4, q5, q6, q7] = q6k_quants(xa, xb, 1);
            let q = [q0, q1, q2, q3, q4, q5, q6, q7];
            let (sa, sb) = (&xa.scales, &xb.scales);
            let scales: [__m512i; 8] = core::array::from_fn(|c| {
                let s = |v: &[i8; 16], k: usize| i16::from(v[k]);
                pair(
                    scale2(s(sa, 2 * c), s(sa, 2 * c + 1)),
                    scale2(s(sb, 2 * c), s(sb, 2 * c + 1)),
                )
            });
            let scales16 = pair(q6k_scales16(xa), q6k_scales16(xb));
            let mut s1 = [_mm512_setzero_si512(); 8];
            for (t, s1t) in s1.iter_mut().enumerate() {
                let yb = &y[t][i];
                let mut sumi = _mm512_setzero_si512();
                for (c, &qc) in q.iter().enumerate() {
                    let yc = _mm512_broadcast_i64x4(load_q8(yb, 32 * c));
                    let p = _mm512_maddubs_epi16(qc, yc);
                    sumi = _mm512_dpwssd_epi32(sumi, scales[c], p);
                }
                let corr = _mm512_madd_epi16(_mm512_broadcast_i64x4(load_bsums(yb)), scales16);
                *s1t = _mm512_sub_epi32(sumi, _mm512_slli_epi32::<5>(corr));
            }
            let (s1a, s1b) = reduce_2x8(&s1);
            acc[ra] = tiled_step8(acc[ra], f16_le(xa.d), s1a, None, d1);
            acc[rb] = tiled_step8(acc[rb], f16_le(xb.d), s1b, None, d1);
        }
    }
    store_rows(acc)
}

/// The kernels by type.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn tiled_x8<const R: usize>(ty: GgmlType, w: [&[u8]; R], a: [&[u8]; 8]) -> Option<[[f32; 8]; R]> {
    Some(match ty {
        GgmlType::Q4_K => q4k_tiled_x8(rows_as(w)?, rows_as(a)?),
        GgmlType::Q6_K => q6k_tiled_x8(rows_as(w)?, rows_as(a)?),
        _ => return None,
    })
}

impl Avx512 {
    /// [`super::Avx2::kquant_tiled_x8`] with AVX-512 (`R` even): `R` rows of Q4_K or Q6_K weights
    /// against eight Q8_K activation rows, bit for bit the pairs' `dot_*_q8_k_tiled`. `None` for
    /// other types or rows that are not whole blocks.
    ///
    /// Panics if the rows differ in length.
    pub fn kquant_tiled_x8<const R: usize>(
        self,
        ty: GgmlType,
        w: [&[u8]; R],
        a: [&[u8]; 8],
    ) -> Option<[[f32; 8]; R]> {
        // SAFETY: the token proves AVX-512F/BW/VNNI, AVX2, FMA and F16C are available; the
        // kernels read only through the slices they are given.
        unsafe { tiled_x8(ty, w, a) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::x86::Avx2;
    use crate::quant::test_rng::Rng;
    use crate::quant::{quantize_row, QK_K};
    use alloc::vec;
    use alloc::vec::Vec;

    /// Random K-quant rows (scale fields at `d_at` set to sane f16 values).
    fn rows(rng: &mut Rng, ty: GgmlType, n: usize, nb: usize, d_at: &[usize]) -> Vec<Vec<u8>> {
        (0..n)
            .map(|_| {
                let mut w = vec![0u8; nb * ty.type_size()];
                rng.fill(&mut w);
                for b in w.chunks_exact_mut(ty.type_size()) {
                    for &f in d_at {
                        b[f..f + 2].copy_from_slice(&rng.f16_scale());
                    }
                }
                w
            })
            .collect()
    }

    #[test]
    #[ignore = "needs a CPU with AVX-512F/BW/VNNI: cargo test --lib -- --ignored x86:: (CI runs it where /proc/cpuinfo has avx512bw and avx512_vnni)"]
    fn matches_avx2_bit_for_bit() {
        let msg = "this test needs a CPU with AVX-512F/BW/VNNI, AVX2, FMA and F16C";
        let (t2, t5) = (Avx2::new().expect(msg), Avx512::new().expect(msg));
        let mut rng = Rng(99);
        for round in 0..200 {
            let nb = 1 + round % 5;
            let acts: Vec<Vec<u8>> = (0..8)
                .map(|_| {
                    let spread = [1e-3f32, 1.0, 80.0][rng.byte() as usize % 3];
                    let x: Vec<f32> = (0..QK_K * nb).map(|_| rng.range(-spread, spread)).collect();
                    let mut a = vec![0u8; GgmlType::Q8_K.row_size(QK_K * nb).unwrap()];
                    quantize_row(GgmlType::Q8_K, &x, &mut a).unwrap();
                    a
                })
                .collect();
            let a: [&[u8]; 8] = core::array::from_fn(|t| &acts[t][..]);
            for (ty, d_at) in [
                (GgmlType::Q4_K, &[0usize, 2][..]),
                (GgmlType::Q6_K, &[208][..]),
            ] {
                let w = rows(&mut rng, ty, 4, nb, d_at);
                let w: [&[u8]; 4] = core::array::from_fn(|r| &w[r][..]);
                let want = t2.kquant_tiled_x8(ty, w, a).unwrap();
                let got = t5.kquant_tiled_x8(ty, w, a).unwrap();
                for r in 0..4 {
                    for t in 0..8 {
                        assert_eq!(
                            got[r][t].to_bits(),
                            want[r][t].to_bits(),
                            "{ty:?} round {round} out[{r}][{t}]"
                        );
                    }
                }
            }
        }
    }
}
