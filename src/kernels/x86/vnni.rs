//! Legacy-format products (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 weights) for the matrix-product driver
//! with AVX-512 VNNI: two activation rows per 512-bit register, `vpdpbusd` for the integer lanes.
//!
//! The AVX2 order (llama.cpp's, see [`super::legacy`]) needs per block and pair the eight i32
//! lanes `L[l] = sum(x[4l..4l+4] * y[4l..4l+4])`, then `acc = fma(dx * dy, float(L), acc)`, and a
//! final `hsum_float_8` (plus the `summs` chain of Q4_1/Q5_1). Here the weights are taken as
//! unsigned `u = x + offset` (the nibbles as stored for Q4_0 / Q5_0, `x ^ 0x80` for Q8_0), so
//! `L = dpbusd(-offset * L(y), u, y)` in one instruction, with `-offset * L(y)` formed once per
//! activation block for all rows. These are the exact lane sums `x * y`; the AVX2 kernel's
//! `sign`/`maddubs` route gives the same integers whenever no activation quant is -128 (its
//! `sign_epi8(-128, x < 0)` wraps), which holds for every activation row this crate's quantizers
//! make (they round `x * 127 / amax` and so stay within -127..=127). Hence the precondition of
//! [`Avx512::legacy_tile_vnni`]; the float operations per lane are the AVX2 ones.

use core::arch::x86_64::*;

use super::avx512::pair;
use super::avx512::Avx512;
use super::legacy::{bytes_from_bits, f16_to_f32, hsum_float_8, load32, nibbles};
use super::rows_as;
use crate::quant::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1, GgmlType};

/// One f16 (little-endian bytes) broadcast to all sixteen lanes, converted exactly.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn bcast_f16(a: [u8; 2]) -> __m512 {
    _mm512_cvtph_ps(_mm256_set1_epi16(i16::from_le_bytes(a)))
}

/// Two f16 converted exactly: `a` in the low eight lanes, `b` in the high eight.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn pair_f16(a: [u8; 2], b: [u8; 2]) -> __m512 {
    let h = _mm256_set_m128i(
        _mm_set1_epi16(i16::from_le_bytes(b)),
        _mm_set1_epi16(i16::from_le_bytes(a)),
    );
    _mm512_cvtph_ps(h)
}

/// The 32 nibbles of a 4-bit block in the AVX2 order (low nibbles of `qs`, then high), in both
/// halves: the 16 bytes in all four 128-bit lanes, lanes 1 and 3 shifted by 4.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn nibbles2(qs: &[u8; 16]) -> __m512i {
    // SAFETY: 16 readable bytes; unaligned load.
    let v = _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(qs.as_ptr().cast()) });
    let shift = _mm512_setr_epi64(
        0,
        0,
        0x0004_0004_0004_0004,
        0x0004_0004_0004_0004,
        0,
        0,
        0x0004_0004_0004_0004,
        0x0004_0004_0004_0004,
    );
    _mm512_and_si512(_mm512_srlv_epi16(v, shift), _mm512_set1_epi8(0xf))
}

/// The two per-half horizontal sums, each in `hsum_float_8`'s order.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn hsum_halves(v: __m512) -> [f32; 2] {
    let lo = _mm512_castps512_ps256(v);
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    // SAFETY: this function's target features include the helper's.
    unsafe { [hsum_float_8(lo), hsum_float_8(hi)] }
}

/// Signed weights `x = u - offset` against Q8_0 activations; `T` even.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn offset_tile<const R: usize, const T: usize, X>(
    x: [&[X]; R],
    y: [&[BlockQ8_0]; T],
    offset: u8,
    unpack: impl Fn(&X) -> ([u8; 2], __m512i),
) -> [[f32; T]; R] {
    const { assert!(T.is_multiple_of(2) && T > 0) };
    let nb = crate::kernels::tile_blocks(&x, &y);
    let off = _mm512_set1_epi8(offset as i8);
    let zero = _mm512_setzero_si512();
    let mut acc = [[_mm512_setzero_ps(); T]; R];
    for i in 0..nb {
        let mut y2 = [zero; T];
        let mut n2 = [zero; T];
        let mut dy2 = [_mm512_setzero_ps(); T];
        for p in 0..T / 2 {
            let (ya, yb) = (&y[2 * p][i], &y[2 * p + 1][i]);
            // SAFETY (this block): the target features include the helpers'.
            unsafe {
                y2[p] = pair(load32(&ya.qs), load32(&yb.qs));
            }
            dy2[p] = pair_f16(ya.d, yb.d);
            n2[p] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, off, y2[p]));
        }
        for r in 0..R {
            super::prefetch_next_rows::<R, _>(x[r], i);
            let (xd, u2) = unpack(&x[r][i]);
            let dx = bcast_f16(xd);
            for p in 0..T / 2 {
                let s = _mm512_dpbusd_epi32(n2[p], u2, y2[p]);
                let d = _mm512_mul_ps(dx, dy2[p]);
                acc[r][p] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), acc[r][p]);
            }
        }
    }
    core::array::from_fn(|r| {
        let mut out = [0f32; T];
        for p in 0..T / 2 {
            [out[2 * p], out[2 * p + 1]] = hsum_halves(acc[r][p]);
        }
        out
    })
}

/// Unsigned weights (Q4_1, Q5_1) against Q8_1 activations, with the `summs = fma(m, s, summs)`
/// chain of each pair in the lanes of one vector per row; `T` even, at most 8.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn unsigned_tile<const R: usize, const T: usize, X>(
    x: [&[X]; R],
    y: [&[BlockQ8_1]; T],
    unpack: impl Fn(&X) -> ([u8; 2], [u8; 2], __m512i),
) -> [[f32; T]; R] {
    const { assert!(T.is_multiple_of(2) && T > 0 && T <= 8) };
    let nb = crate::kernels::tile_blocks(&x, &y);
    let zero = _mm512_setzero_si512();
    let mut acc = [[_mm512_setzero_ps(); T]; R];
    let mut summs = [_mm256_setzero_ps(); R];
    for i in 0..nb {
        let mut y2 = [zero; T];
        let mut dy2 = [_mm512_setzero_ps(); T];
        let mut s = [0f32; 8];
        for p in 0..T / 2 {
            let (ya, yb) = (&y[2 * p][i], &y[2 * p + 1][i]);
            // SAFETY (this block): the target features include the helpers'.
            unsafe {
                y2[p] = pair(load32(&ya.qs), load32(&yb.qs));
                dy2[p] = pair_f16(ya.d, yb.d);
                s[2 * p] = f16_to_f32(ya.s);
                s[2 * p + 1] = f16_to_f32(yb.s);
            }
        }
        // SAFETY: 8 readable floats.
        let s = unsafe { _mm256_loadu_ps(s.as_ptr()) };
        for r in 0..R {
            super::prefetch_next_rows::<R, _>(x[r], i);
            let (xd, xm, u2) = unpack(&x[r][i]);
            // SAFETY: the target features include the helper's.
            let m = unsafe { f16_to_f32(xm) };
            summs[r] = _mm256_fmadd_ps(_mm256_set1_ps(m), s, summs[r]);
            let dx = bcast_f16(xd);
            for p in 0..T / 2 {
                let q = _mm512_dpbusd_epi32(zero, u2, y2[p]);
                let d = _mm512_mul_ps(dx, dy2[p]);
                acc[r][p] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(q), acc[r][p]);
            }
        }
    }
    core::array::from_fn(|r| {
        let mut sm = [0f32; 8];
        // SAFETY: 8 writable floats.
        unsafe { _mm256_storeu_ps(sm.as_mut_ptr(), summs[r]) };
        let mut out = [0f32; T];
        for p in 0..T / 2 {
            let [a, b] = hsum_halves(acc[r][p]);
            out[2 * p] = a + sm[2 * p];
            out[2 * p + 1] = b + sm[2 * p + 1];
        }
        out
    })
}

/// Q5_0 / Q5_1 quants as unsigned 5-bit values `nibble | bit << 4`, element order as AVX2.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn five_bits(qs: &[u8; 16], qh: [u8; 4]) -> __m256i {
    // SAFETY: the target features include the helpers'.
    let (bits, nib) = unsafe { (bytes_from_bits(qh), nibbles(qs)) };
    _mm256_or_si256(nib, _mm256_and_si256(bits, _mm256_set1_epi8(0x10)))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
fn tile<const R: usize, const T: usize>(
    ty: GgmlType,
    w: [&[u8]; R],
    a: [&[u8]; T],
) -> Option<[[f32; T]; R]> {
    // SAFETY (the closures): the target features include the helpers'.
    Some(match ty {
        GgmlType::Q4_0 => offset_tile(rows_as::<R, BlockQ4_0>(w)?, rows_as(a)?, 8, |b| {
            (b.d, nibbles2(&b.qs))
        }),
        GgmlType::Q5_0 => offset_tile(rows_as::<R, BlockQ5_0>(w)?, rows_as(a)?, 16, |b| {
            (b.d, _mm512_broadcast_i64x4(five_bits(&b.qs, b.qh)))
        }),
        GgmlType::Q8_0 => offset_tile(rows_as::<R, BlockQ8_0>(w)?, rows_as(a)?, 128, |b| {
            let q = _mm512_broadcast_i64x4(unsafe { load32(&b.qs) });
            (b.d, _mm512_xor_si512(q, _mm512_set1_epi8(-128)))
        }),
        GgmlType::Q4_1 => unsigned_tile(rows_as::<R, BlockQ4_1>(w)?, rows_as(a)?, |b| {
            (b.d, b.m, nibbles2(&b.qs))
        }),
        GgmlType::Q5_1 => unsigned_tile(rows_as::<R, BlockQ5_1>(w)?, rows_as(a)?, |b| {
            (b.d, b.m, _mm512_broadcast_i64x4(five_bits(&b.qs, b.qh)))
        }),
        _ => return None,
    })
}

impl Avx512 {
    /// `R` weight rows (Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0, as row bytes) against `T` (even, at most
    /// 8) activation rows in the partner format, with AVX-512 VNNI: `out[r][t]` equals
    /// [`super::Avx2::legacy_tile`]'s bit for bit **provided no activation quant is -128**, as
    /// is the case for every row made by this crate's Q8_0 / Q8_1 quantizers (see the module
    /// docs). `None` for other types or rows that are not whole blocks.
    ///
    /// Panics if the rows differ in length.
    pub fn legacy_tile_vnni<const R: usize, const T: usize>(
        self,
        ty: GgmlType,
        w: [&[u8]; R],
        a: [&[u8]; T],
    ) -> Option<[[f32; T]; R]> {
        // SAFETY: the token proves AVX-512F/BW/VNNI, AVX2, FMA and F16C; the kernels read only
        // through the slices they are given.
        unsafe { tile(ty, w, a) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::x86::Avx2;
    use crate::quant::test_rng::Rng;
    use crate::quant::{quantize_row_for_matmul, GgmlType::*};
    use alloc::vec;
    use alloc::vec::Vec;

    fn tokens() -> (Avx2, Avx512) {
        let msg = "this test needs a CPU with AVX-512F/BW/VNNI, AVX2, FMA and F16C";
        (Avx2::new().expect(msg), Avx512::new().expect(msg))
    }

    /// Random weight bytes with sane f16 scales (fields at `d_at`).
    fn weights(rng: &mut Rng, ty: GgmlType, nb: usize, d_at: &[usize]) -> Vec<u8> {
        let mut w = vec![0u8; nb * ty.type_size()];
        rng.fill(&mut w);
        for b in w.chunks_exact_mut(ty.type_size()) {
            for &f in d_at {
                b[f..f + 2].copy_from_slice(&rng.f16_scale());
            }
            if rng.byte() < 32 {
                // Extremes: every quant byte 0x80 or 0xff.
                let v = if rng.byte() < 128 { 0x80 } else { 0xff };
                b[d_at.len() * 2..].iter_mut().for_each(|q| *q = v);
            }
        }
        w
    }

    fn check<const R: usize, const T: usize>(rng: &mut Rng, ty: GgmlType, nb: usize) {
        let (t2, t5) = tokens();
        let d_at: &[usize] = match ty {
            Q4_1 | Q5_1 => &[0, 2],
            _ => &[0],
        };
        let rows: Vec<Vec<u8>> = (0..R).map(|_| weights(rng, ty, nb, d_at)).collect();
        let acts: Vec<Vec<u8>> = (0..T)
            .map(|_| {
                let spread = [1e-3f32, 1.0, 50.0][rng.byte() as usize % 3];
                let x: Vec<f32> = (0..32 * nb).map(|_| rng.range(-spread, spread)).collect();
                let mut a = vec![0u8; ty.vec_dot_type().unwrap().row_size(32 * nb).unwrap()];
                quantize_row_for_matmul(ty, &x, &mut a).unwrap();
                a
            })
            .collect();
        let w: [&[u8]; R] = core::array::from_fn(|r| &rows[r][..]);
        let a: [&[u8]; T] = core::array::from_fn(|t| &acts[t][..]);
        let want = t2.legacy_tile(ty, w, a).unwrap();
        let got = t5.legacy_tile_vnni(ty, w, a).unwrap();
        for r in 0..R {
            for t in 0..T {
                assert_eq!(
                    got[r][t].to_bits(),
                    want[r][t].to_bits(),
                    "{ty:?} R={R} T={T} nb={nb} out[{r}][{t}]: {} vs {}",
                    got[r][t],
                    want[r][t]
                );
            }
        }
    }

    #[test]
    #[ignore = "needs a CPU with AVX-512F/BW/VNNI: cargo test --lib -- --ignored x86:: (CI runs it where /proc/cpuinfo has avx512bw and avx512_vnni)"]
    fn matches_avx2_on_quantized_activations() {
        let mut rng = Rng(7);
        for _ in 0..60 {
            for ty in [Q4_0, Q4_1, Q5_0, Q5_1, Q8_0] {
                for nb in [1, 2, 3, 8, 9] {
                    check::<1, 2>(&mut rng, ty, nb);
                    check::<4, 2>(&mut rng, ty, nb);
                    check::<4, 6>(&mut rng, ty, nb);
                    check::<3, 8>(&mut rng, ty, nb);
                }
            }
        }
    }

    #[test]
    #[ignore = "needs a CPU with AVX-512F/BW/VNNI: cargo test --lib -- --ignored x86:: (CI runs it where /proc/cpuinfo has avx512bw and avx512_vnni)"]
    fn other_types_and_ragged_rows_are_none() {
        let (_, t5) = tokens();
        let w = [0u8; 34];
        let a = [0u8; 34];
        assert!(t5
            .legacy_tile_vnni(Q4_K, [&w[..]], [&a[..], &a[..]])
            .is_none());
        assert!(t5
            .legacy_tile_vnni(Q8_0, [&w[..33]], [&a[..], &a[..]])
            .is_none());
    }
}
