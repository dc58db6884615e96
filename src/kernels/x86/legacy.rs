//! AVX2 dot products of the legacy block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 weights against
//! Q8_0 / Q8_1 activations), bit-identical to [`crate::kernels::reference::legacy`] (whose docs
//! describe llama.cpp's AVX2 order: one block per iteration, one 8-lane FMA accumulator,
//! `hsum_float_8` at the end, plus `summs` for Q4_1 / Q5_1).
//!
//! The `*_tiny` reference functions equal the `*_vec` ones bit for bit, so the methods here serve
//! both paths.

use core::arch::x86_64::*;

use super::{rows_as, Avx2};
use crate::quant::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1, GgmlType};

/// One f16 (little-endian bytes) converted with F16C (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn f16_to_f32(b: [u8; 2]) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(
        u16::from_le_bytes(b),
    ))))
}

/// `hsum_float_8`: `((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7))`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn hsum_float_8(x: __m256) -> f32 {
    let mut res = _mm_add_ps(_mm256_extractf128_ps::<1>(x), _mm256_castps256_ps128(x));
    res = _mm_add_ps(res, _mm_movehl_ps(res, res));
    res = _mm_add_ss(res, _mm_movehdup_ps(res));
    _mm_cvtss_f32(res)
}

/// Loads 32 bytes from a 32-byte array (unaligned).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn load32<T>(a: &[T; 32]) -> __m256i {
    debug_assert!(core::mem::size_of::<T>() == 1);
    // SAFETY: `a` is 32 readable bytes (T is u8 or i8 at every call site); unaligned load.
    unsafe { _mm256_loadu_si256(a.as_ptr().cast()) }
}

/// `bytes_from_nibbles_32`: low nibbles of `qs[0..16]`, then the high nibbles.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn nibbles(qs: &[u8; 16]) -> __m256i {
    // SAFETY: `qs` is 16 readable bytes; unaligned load.
    let lo = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    let hi = _mm_srli_epi16::<4>(lo);
    let both = _mm256_insertf128_si256::<1>(_mm256_castsi128_si256(lo), hi);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// `bytes_from_bits_32`: byte `j` is 0xFF where bit `j` of the little-endian `qh` is set.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn bytes_from_bits(qh: [u8; 4]) -> __m256i {
    let v = _mm256_set1_epi32(i32::from_le_bytes(qh));
    let shuf = _mm256_setr_epi64x(
        0,
        0x0101_0101_0101_0101,
        0x0202_0202_0202_0202,
        0x0303_0303_0303_0303,
    );
    let bytes = _mm256_shuffle_epi8(v, shuf);
    let mask = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe_u64 as i64);
    let bytes = _mm256_or_si256(bytes, mask);
    _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
}

/// `mul_sum_us8_pairs_float`: maddubs (u8 x i8, saturating), madd with ones, to f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn mul_sum_us8(ax: __m256i, sy: __m256i) -> __m256 {
    let dot = _mm256_maddubs_epi16(ax, sy);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), dot))
}

/// `R` weight rows against `T` Q8_0 activation rows: `out[r][t]` is bit for bit the single
/// `vec_dot` of row `r` and activation `t` (one 8-lane FMA accumulator per pair, blocks in
/// order, `hsum_float_8` at the end). Several pairs at once share each unpacked weight block and
/// each activation block and overlap their latencies.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn signed_tile<const R: usize, const T: usize, X>(
    x: [&[X]; R],
    y: [&[BlockQ8_0]; T],
    unpack: impl Fn(&X) -> ([u8; 2], __m256i),
) -> [[f32; T]; R] {
    let nb = crate::kernels::tile_blocks(&x, &y);
    let mut acc = [[_mm256_setzero_ps(); T]; R];
    for i in 0..nb {
        // SAFETY (all blocks below): this function's target features are the helpers' ones.
        let dy: [f32; T] = core::array::from_fn(|t| unsafe { f16_to_f32(y[t][i].d) });
        for r in 0..R {
            super::prefetch_next_rows::<R, _>(x[r], i);
            let (xd, qx) = unpack(&x[r][i]);
            let dx = unsafe { f16_to_f32(xd) };
            let ax = _mm256_sign_epi8(qx, qx);
            for t in 0..T {
                let qy = unsafe { load32(&y[t][i].qs) };
                let q = unsafe { mul_sum_us8(ax, _mm256_sign_epi8(qy, qx)) };
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * dy[t]), q, acc[r][t]);
            }
        }
    }
    // SAFETY: this function's target features are the helper's ones.
    acc.map(|a| a.map(|v| unsafe { hsum_float_8(v) }))
}

/// As [`signed_tile`] for the Q8_1 partners (Q4_1, Q5_1): unsigned quants, plus the
/// `summs = fmaf(m, s, summs)` chain per pair, added after the horizontal sum.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unsigned_tile<const R: usize, const T: usize, X>(
    x: [&[X]; R],
    y: [&[BlockQ8_1]; T],
    unpack: impl Fn(&X) -> ([u8; 2], [u8; 2], __m256i),
) -> [[f32; T]; R] {
    let nb = crate::kernels::tile_blocks(&x, &y);
    let mut acc = [[_mm256_setzero_ps(); T]; R];
    let mut summs = [[_mm_setzero_ps(); T]; R];
    for i in 0..nb {
        // SAFETY (all blocks below): this function's target features are the helpers' ones.
        let dy: [f32; T] = core::array::from_fn(|t| unsafe { f16_to_f32(y[t][i].d) });
        let sy: [__m128; T] =
            core::array::from_fn(|t| unsafe { _mm_set_ss(f16_to_f32(y[t][i].s)) });
        for r in 0..R {
            super::prefetch_next_rows::<R, _>(x[r], i);
            let (xd, xm, qx) = unpack(&x[r][i]);
            let (dx, m) = unsafe { (f16_to_f32(xd), _mm_set_ss(f16_to_f32(xm))) };
            for t in 0..T {
                let q = unsafe { mul_sum_us8(qx, load32(&y[t][i].qs)) };
                summs[r][t] = _mm_fmadd_ss(m, sy[t], summs[r][t]);
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * dy[t]), q, acc[r][t]);
            }
        }
    }
    core::array::from_fn(|r| {
        // SAFETY: this function's target features are the helper's ones.
        core::array::from_fn(|t| unsafe { hsum_float_8(acc[r][t]) + _mm_cvtss_f32(summs[r][t]) })
    })
}

/// One pair through the tile kernel.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn signed_q8_0<X>(
    x: &[X],
    y: &[BlockQ8_0],
    unpack: impl Fn(&X) -> ([u8; 2], __m256i),
) -> f32 {
    // SAFETY: same target features.
    unsafe { signed_tile::<1, 1, X>([x], [y], unpack)[0][0] }
}

/// One pair through the tile kernel.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unsigned_q8_1<X>(
    x: &[X],
    y: &[BlockQ8_1],
    unpack: impl Fn(&X) -> ([u8; 2], [u8; 2], __m256i),
) -> f32 {
    // SAFETY: same target features.
    unsafe { unsigned_tile::<1, 1, X>([x], [y], unpack)[0][0] }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    let unpack = |b: &BlockQ4_0| {
        // SAFETY: AVX2/F16C are available (the caller is an avx2 function reached via the token).
        let q = unsafe { sub8(nibbles(&b.qs)) };
        (b.d, q)
    };
    // SAFETY: same target features as this function.
    unsafe { signed_q8_0(x, y, unpack) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn sub8(q: __m256i) -> __m256i {
    _mm256_sub_epi8(q, _mm256_set1_epi8(8))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    let unpack = |b: &BlockQ4_1| {
        // SAFETY: AVX2/F16C are available (the caller is an avx2 function reached via the token).
        let q = unsafe { nibbles(&b.qs) };
        (b.d, b.m, q)
    };
    // SAFETY: same target features as this function.
    unsafe { unsigned_q8_1(x, y, unpack) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_0_values(b: &BlockQ5_0) -> __m256i {
    // SAFETY: this function's target features are the helpers' ones.
    let (bits, nib) = unsafe { (bytes_from_bits(b.qh), nibbles(&b.qs)) };
    let hi = _mm256_andnot_si256(bits, _mm256_set1_epi8(0xF0u8 as i8));
    _mm256_or_si256(nib, hi)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    let unpack = |b: &BlockQ5_0| {
        // SAFETY: AVX2/F16C are available (the caller is an avx2 function reached via the token).
        let q = unsafe { q5_0_values(b) };
        (b.d, q)
    };
    // SAFETY: same target features as this function.
    unsafe { signed_q8_0(x, y, unpack) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_1_values(b: &BlockQ5_1) -> __m256i {
    // SAFETY: this function's target features are the helpers' ones.
    let (bits, nib) = unsafe { (bytes_from_bits(b.qh), nibbles(&b.qs)) };
    let hi = _mm256_and_si256(bits, _mm256_set1_epi8(0x10));
    _mm256_or_si256(nib, hi)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    let unpack = |b: &BlockQ5_1| {
        // SAFETY: AVX2/F16C are available (the caller is an avx2 function reached via the token).
        let q = unsafe { q5_1_values(b) };
        (b.d, b.m, q)
    };
    // SAFETY: same target features as this function.
    unsafe { unsigned_q8_1(x, y, unpack) }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    let unpack = |b: &BlockQ8_0| {
        // SAFETY: AVX2 is available (the caller is an avx2 function reached via the token).
        let q = unsafe { load32(&b.qs) };
        (b.d, q)
    };
    // SAFETY: same target features as this function.
    unsafe { signed_q8_0(x, y, unpack) }
}

/// The legacy-format tile for a type, with its unpacking.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn legacy_tile<const R: usize, const T: usize>(
    ty: GgmlType,
    w: [&[u8]; R],
    a: [&[u8]; T],
) -> Option<[[f32; T]; R]> {
    // SAFETY (every closure and call below): AVX2, FMA and F16C are enabled here.
    Some(match ty {
        GgmlType::Q4_0 => unsafe {
            signed_tile(rows_as::<R, BlockQ4_0>(w)?, rows_as(a)?, |b| {
                (b.d, sub8(nibbles(&b.qs)))
            })
        },
        GgmlType::Q5_0 => unsafe {
            signed_tile(rows_as::<R, BlockQ5_0>(w)?, rows_as(a)?, |b| {
                (b.d, q5_0_values(b))
            })
        },
        GgmlType::Q8_0 => unsafe {
            signed_tile(rows_as::<R, BlockQ8_0>(w)?, rows_as(a)?, |b| {
                (b.d, load32(&b.qs))
            })
        },
        GgmlType::Q4_1 => unsafe {
            unsigned_tile(rows_as::<R, BlockQ4_1>(w)?, rows_as(a)?, |b| {
                (b.d, b.m, nibbles(&b.qs))
            })
        },
        GgmlType::Q5_1 => unsafe {
            unsigned_tile(rows_as::<R, BlockQ5_1>(w)?, rows_as(a)?, |b| {
                (b.d, b.m, q5_1_values(b))
            })
        },
        _ => return None,
    })
}

impl Avx2 {
    /// `R` weight rows (`ty` one of Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, as row bytes) against `T`
    /// activation rows in the partner format: `out[r][t]` equals the single dot product of the
    /// pair bit for bit. `None` for other types or rows that are not whole blocks.
    ///
    /// Panics if the rows differ in length.
    pub fn legacy_tile<const R: usize, const T: usize>(
        self,
        ty: GgmlType,
        w: [&[u8]; R],
        a: [&[u8]; T],
    ) -> Option<[[f32; T]; R]> {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { legacy_tile(ty, w, a) }
    }

    /// [`crate::kernels::reference::legacy::dot_q4_0_q8_0_vec`] (and `_tiny`), bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q4_0_q8_0(self, x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { q4_0_q8_0(x, y) }
    }

    /// [`crate::kernels::reference::legacy::dot_q4_1_q8_1_vec`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q4_1_q8_1(self, x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { q4_1_q8_1(x, y) }
    }

    /// [`crate::kernels::reference::legacy::dot_q5_0_q8_0_vec`] (and `_tiny`), bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q5_0_q8_0(self, x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { q5_0_q8_0(x, y) }
    }

    /// [`crate::kernels::reference::legacy::dot_q5_1_q8_1_vec`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q5_1_q8_1(self, x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { q5_1_q8_1(x, y) }
    }

    /// [`crate::kernels::reference::legacy::dot_q8_0_q8_0_vec`] (and `_tiny`), bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q8_0_q8_0(self, x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { q8_0_q8_0(x, y) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::legacy as r;
    use alloc::vec::Vec;

    /// The crate's test generator with this module's value shapes.
    struct Rng(crate::quant::test_rng::Rng);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0.next_u64()
        }
        fn bytes<const N: usize>(&mut self) -> [u8; N] {
            core::array::from_fn(|_| self.next() as u8)
        }
        /// A finite f16 scale: mostly ordinary, sometimes huge, tiny or subnormal.
        fn scale(&mut self) -> [u8; 2] {
            let r = self.next();
            let sign = ((r & 1) as u16) << 15;
            let mant = ((r >> 1) & 0x3FF) as u16;
            let exp = match (r >> 16) % 8 {
                0 => 30,                         // large
                1 => 0,                          // subnormal
                2 => 1 + ((r >> 24) % 3) as u16, // small
                _ => 8 + ((r >> 24) % 12) as u16,
            };
            (sign | (exp << 10) | mant).to_le_bytes()
        }
        /// Activation quants; some blocks are full of -128.
        fn act(&mut self) -> [i8; 32] {
            let mode = self.next() % 4;
            core::array::from_fn(|_| {
                let v = self.next();
                match mode {
                    0 if v.is_multiple_of(3) => -128,
                    _ => v as i8,
                }
            })
        }
    }

    fn q8_0(g: &mut Rng) -> BlockQ8_0 {
        BlockQ8_0 {
            d: g.scale(),
            qs: g.act(),
        }
    }
    fn q8_1(g: &mut Rng) -> BlockQ8_1 {
        BlockQ8_1 {
            d: g.scale(),
            s: g.scale(),
            qs: g.act(),
        }
    }

    fn lengths() -> impl Iterator<Item = usize> {
        (0..=70).chain([128, 256, 1000])
    }

    /// The AVX2 token; these tests fail (never skip) without it.
    fn token() -> Avx2 {
        Avx2::new().expect("these tests need AVX2/FMA/F16C (and LLAMETTE_SCALAR unset)")
    }

    #[test]
    fn matches_reference_bit_for_bit() {
        let t = token();
        let mut g = Rng(crate::quant::test_rng::Rng(0x1234_5678));
        for n in lengths() {
            for _rep in 0..4 {
                let y0: Vec<BlockQ8_0> = (0..n).map(|_| q8_0(&mut g)).collect();
                let y1: Vec<BlockQ8_1> = (0..n).map(|_| q8_1(&mut g)).collect();

                let x: Vec<BlockQ4_0> = (0..n)
                    .map(|_| BlockQ4_0 {
                        d: g.scale(),
                        qs: g.bytes(),
                    })
                    .collect();
                let (a, b) = (t.dot_q4_0_q8_0(&x, &y0), r::dot_q4_0_q8_0_vec(&x, &y0));
                assert_eq!(a.to_bits(), b.to_bits(), "q4_0 n={n}: {a:e} vs {b:e}");

                let x: Vec<BlockQ4_1> = (0..n)
                    .map(|_| BlockQ4_1 {
                        d: g.scale(),
                        m: g.scale(),
                        qs: g.bytes(),
                    })
                    .collect();
                let (a, b) = (t.dot_q4_1_q8_1(&x, &y1), r::dot_q4_1_q8_1_vec(&x, &y1));
                assert_eq!(a.to_bits(), b.to_bits(), "q4_1 n={n}: {a:e} vs {b:e}");

                let x: Vec<BlockQ5_0> = (0..n)
                    .map(|_| BlockQ5_0 {
                        d: g.scale(),
                        qh: g.bytes(),
                        qs: g.bytes(),
                    })
                    .collect();
                let (a, b) = (t.dot_q5_0_q8_0(&x, &y0), r::dot_q5_0_q8_0_vec(&x, &y0));
                assert_eq!(a.to_bits(), b.to_bits(), "q5_0 n={n}: {a:e} vs {b:e}");

                let x: Vec<BlockQ5_1> = (0..n)
                    .map(|_| BlockQ5_1 {
                        d: g.scale(),
                        m: g.scale(),
                        qh: g.bytes(),
                        qs: g.bytes(),
                    })
                    .collect();
                let (a, b) = (t.dot_q5_1_q8_1(&x, &y1), r::dot_q5_1_q8_1_vec(&x, &y1));
                assert_eq!(a.to_bits(), b.to_bits(), "q5_1 n={n}: {a:e} vs {b:e}");

                let x: Vec<BlockQ8_0> = (0..n).map(|_| q8_0(&mut g)).collect();
                let (a, b) = (t.dot_q8_0_q8_0(&x, &y0), r::dot_q8_0_q8_0_vec(&x, &y0));
                assert_eq!(a.to_bits(), b.to_bits(), "q8_0 n={n}: {a:e} vs {b:e}");
                let (a, b) = (t.dot_q8_0_q8_0(&x, &y0), r::dot_q8_0_q8_0_tiny(&x, &y0));
                assert_eq!(a.to_bits(), b.to_bits(), "q8_0 tiny n={n}");
            }
        }
    }

    /// `_mm256_sign_epi8` keeps -128 against a negative weight: -1 * -128 counts as -128.
    #[test]
    fn sign_epi8_quirk() {
        let t = token();
        let one = 0x3C00u16.to_le_bytes();
        let x = [BlockQ8_0 {
            d: one,
            qs: [-1; 32],
        }];
        let mut y = [BlockQ8_0 {
            d: one,
            qs: [0; 32],
        }];
        y[0].qs[0] = -128;
        assert_eq!(t.dot_q8_0_q8_0(&x, &y), -128.0);
        assert_eq!(r::dot_q8_0_q8_0_vec(&x, &y), -128.0);
    }
}
