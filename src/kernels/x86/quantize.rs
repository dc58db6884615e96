//! AVX2 activation quantizers: Q8_0 and Q8_1 exactly as llama.cpp's x86 `quantize_row_q8_0` /
//! `quantize_row_q8_1` (and as [`crate::quant::legacy::quantize_row_q8_0_x86`]): per 32-block
//! `amax`, stored scale `amax / 127` as f16, quants `round_half_even(x * (127 / amax))`, and for
//! Q8_1 the f16 of `d * sum(q)`. Every element is one multiply and one rounding, so the result is
//! bit-identical to the scalar version.

use core::arch::x86_64::*;

use super::Avx2;
use crate::quant::{to_f16_le, BlockQ8K, BlockQ8_0, BlockQ8_1, QK_K};

impl Avx2 {
    /// [`crate::quant::k_quants::quantize_row_q8_k`] with AVX2 (`x.len()` = 256 × `y.len()`),
    /// bit for bit.
    pub fn quantize_row_q8_k(self, x: &[f32], y: &mut [BlockQ8K]) {
        for (src, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
            let src: &[f32; QK_K] = src.try_into().expect("chunks of QK_K");
            // SAFETY: the token proves AVX2/FMA/F16C.
            unsafe { block_q8_k(src, b) };
        }
    }

    /// [`crate::quant::legacy::quantize_row_q8_0_x86`] with AVX2 (`x.len()` = 32 × `y.len()`).
    pub fn quantize_row_q8_0(self, x: &[f32], y: &mut [BlockQ8_0]) {
        for (src, b) in x.chunks_exact(32).zip(y.iter_mut()) {
            // SAFETY: the token proves AVX2/FMA/F16C; `src` holds exactly 32 values.
            let (d, q, _) = unsafe { block(src) };
            b.d = to_f16_le(d);
            for (o, v) in b.qs.iter_mut().zip(q) {
                *o = v as i8;
            }
        }
    }

    /// [`crate::quant::legacy::quantize_row_q8_1_x86`] with AVX2 (`x.len()` = 32 × `y.len()`).
    pub fn quantize_row_q8_1(self, x: &[f32], y: &mut [BlockQ8_1]) {
        for (src, b) in x.chunks_exact(32).zip(y.iter_mut()) {
            // SAFETY: the token proves AVX2/FMA/F16C; `src` holds exactly 32 values.
            let (d, q, sum) = unsafe { block(src) };
            b.d = to_f16_le(d);
            for (o, v) in b.qs.iter_mut().zip(q) {
                *o = v as i8;
            }
            b.s = to_f16_le(d * sum as f32);
        }
    }
}

/// One 32-value block: the f32 scale `d`, the 32 quants (as bytes of i8) and their sum.
///
/// # Safety
///
/// The CPU must have AVX2 and FMA; `src` must hold at least 32 values.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn block(src: &[f32]) -> (f32, [u8; 32], i32) {
    debug_assert!(src.len() >= 32);
    let p = src.as_ptr();
    // SAFETY: 32 readable f32 per this function's contract; unaligned loads.
    let v = unsafe {
        [
            _mm256_loadu_ps(p),
            _mm256_loadu_ps(p.add(8)),
            _mm256_loadu_ps(p.add(16)),
            _mm256_loadu_ps(p.add(24)),
        ]
    };
    let sign = _mm256_set1_ps(-0.0);
    let mut m = _mm256_andnot_ps(sign, v[0]);
    for x in &v[1..] {
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, *x));
    }
    let m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    let m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    let m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    let amax = _mm_cvtss_f32(m4);
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mul = _mm256_set1_ps(id);
    let r: [__m256i; 4] = core::array::from_fn(|k| {
        let x = _mm256_round_ps(
            _mm256_mul_ps(v[k], mul),
            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
        );
        _mm256_cvtps_epi32(x)
    });
    let sum = _mm256_add_epi32(_mm256_add_epi32(r[0], r[1]), _mm256_add_epi32(r[2], r[3]));
    let s128 = _mm_add_epi32(
        _mm256_extracti128_si256(sum, 1),
        _mm256_castsi256_si128(sum),
    );
    let s128 = _mm_add_epi32(s128, _mm_unpackhi_epi64(s128, s128));
    let s128 = _mm_add_epi32(s128, _mm_shuffle_epi32(s128, 1));
    let total = _mm_cvtsi128_si32(s128);
    // Pack to bytes: the packs work per 128-bit half, a final permute restores the order.
    let a = _mm256_packs_epi32(r[0], r[1]);
    let b = _mm256_packs_epi32(r[2], r[3]);
    let bytes = _mm256_packs_epi16(a, b);
    let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    let mut q = [0u8; 32];
    // SAFETY: `q` is 32 writable bytes; unaligned store.
    unsafe { _mm256_storeu_si256(q.as_mut_ptr().cast(), bytes) };
    (d, q, total)
}

/// One Q8_K block as `quantize_row_q8_K_ref` makes it: `max` is the first value of largest
/// magnitude (NaNs skipped, as the C's `ax > amax` does), `iscale = -127 / max`, quants
/// `min(127, nearest_int(iscale * x))` stored into an i8 (`nearest_int`'s float trick reproduced
/// as such, so NaNs give 0 as in the C), block sums of 16, `d = 1 / iscale`.
#[target_feature(enable = "avx2,fma,f16c")]
fn block_q8_k(x: &[f32; QK_K], b: &mut BlockQ8K) {
    let sign = _mm256_set1_ps(-0.0);
    // SAFETY (loads and stores below): in bounds of the 256-value array / the block's arrays.
    let ld = |k: usize| unsafe { _mm256_loadu_ps(x.as_ptr().add(8 * k)) };
    let mut m = _mm256_setzero_ps();
    for k in 0..QK_K / 8 {
        // max_ps returns its second operand when either is NaN: NaNs are skipped.
        m = _mm256_max_ps(_mm256_andnot_ps(sign, ld(k)), m);
    }
    let m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    let m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    let amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
    if amax == 0.0 {
        b.d = 0f32.to_le_bytes();
        b.qs = [0; QK_K];
        b.bsums = [[0; 2]; QK_K / 16];
        return;
    }
    let max = x.iter().copied().find(|v| v.abs() == amax).unwrap_or(amax);
    let iscale = -127.0f32 / max;
    let mul = _mm256_set1_ps(iscale);
    let lim = _mm256_set1_epi32(127);
    let magic = _mm256_set1_ps(12_582_912.0);
    let mant = _mm256_set1_epi32(0x007f_ffff);
    let half = _mm256_set1_epi32(0x0040_0000);
    for k in 0..QK_K / 32 {
        let r: [__m256i; 4] = core::array::from_fn(|j| {
            // nearest_int's float trick, NaN and all: the low mantissa bits of x + 1.5 * 2^23.
            let t = _mm256_add_ps(_mm256_mul_ps(ld(4 * k + j), mul), magic);
            let i = _mm256_and_si256(_mm256_castps_si256(t), mant);
            let i = _mm256_min_epi32(_mm256_sub_epi32(i, half), lim);
            // The store into an int8_t keeps the low byte.
            _mm256_srai_epi32::<24>(_mm256_slli_epi32::<24>(i))
        });
        for h in 0..2 {
            let s = _mm256_add_epi32(r[2 * h], r[2 * h + 1]);
            let s = _mm_add_epi32(_mm256_extracti128_si256::<1>(s), _mm256_castsi256_si128(s));
            let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<1>(s));
            b.bsums[2 * k + h] = (_mm_cvtsi128_si32(s) as i16).to_le_bytes();
        }
        let a = _mm256_packs_epi32(r[0], r[1]);
        let c = _mm256_packs_epi32(r[2], r[3]);
        let bytes = _mm256_packs_epi16(a, c);
        let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        // SAFETY: 32 writable bytes of `qs` from 32 * k; unaligned store.
        unsafe { _mm256_storeu_si256(b.qs.as_mut_ptr().add(32 * k).cast(), bytes) };
    }
    b.d = (1.0f32 / iscale).to_le_bytes();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::legacy::{quantize_row_q8_0_x86, quantize_row_q8_1_x86};
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn avx2_quantizers_equal_the_scalar_x86_ones() {
        let Some(t) = Avx2::new() else {
            panic!("this test needs a CPU with AVX2, FMA and F16C");
        };
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..400 {
            let n_blocks = 1 + round % 9;
            let scale = [1e-6f32, 0.01, 1.0, 30.0, 1e4][round % 5];
            let mut x: Vec<f32> = (0..32 * n_blocks)
                .map(|_| ((next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale)
                .collect();
            // Ties after scaling, zeros and an all-zero block now and then.
            if round % 7 == 0 {
                x[3] = 0.5 * x[0].abs().max(1.0);
                x[..32]
                    .iter_mut()
                    .for_each(|v| *v = (*v * 4.0).round() / 4.0);
            }
            if round % 11 == 0 {
                x[32 * (n_blocks - 1)..].fill(0.0);
            }
            let (mut a, mut b) = (
                vec![
                    BlockQ8_0 {
                        d: [0; 2],
                        qs: [0; 32]
                    };
                    n_blocks
                ],
                vec![
                    BlockQ8_0 {
                        d: [0; 2],
                        qs: [0; 32]
                    };
                    n_blocks
                ],
            );
            t.quantize_row_q8_0(&x, &mut a);
            quantize_row_q8_0_x86(&x, &mut b);
            assert_eq!(a, b, "q8_0 round {round}");
            let z = BlockQ8_1 {
                d: [0; 2],
                s: [0; 2],
                qs: [0; 32],
            };
            let (mut a, mut b) = (vec![z; n_blocks], vec![z; n_blocks]);
            t.quantize_row_q8_1(&x, &mut a);
            quantize_row_q8_1_x86(&x, &mut b);
            assert_eq!(a, b, "q8_1 round {round}");
            if x.len() >= QK_K {
                let n = x.len() / QK_K;
                let z = BlockQ8K {
                    d: [0; 4],
                    qs: [0; QK_K],
                    bsums: [[0; 2]; QK_K / 16],
                };
                let (mut a, mut b) = (vec![z; n], vec![z; n]);
                if round % 13 == 0 {
                    x[5] = f32::NAN;
                    x[9] = -x[2].abs() * 1e3;
                    x[200] = -x[9];
                }
                t.quantize_row_q8_k(&x[..n * QK_K], &mut a);
                crate::quant::k_quants::quantize_row_q8_k(&x[..n * QK_K], &mut b);
                assert_eq!(a, b, "q8_k round {round}");
            }
        }
    }
}
