//! NEON dot products of the legacy formats against Q8_0 / Q8_1 activations, bit-identical to
//! [`crate::kernels::reference::legacy`]'s `*_vec` (llama.cpp's AVX2 order, see there).
//!
//! Per block, the AVX2 kernel forms eight i32 lanes, lane `l` the sum of the products of
//! elements `4l..4l+4`, where a product of signed quants is `|x| * sign(y, x)` (`sign_epi8`,
//! which wraps `-(-128)` to -128) and the pair sums of `maddubs` never saturate for these
//! operands. Here the same integers come from widening multiplies (`|x|` as u8 fits i16), so
//! every input, -128s included, gives the reference's lanes; then `acc = fma(d, lanes, acc)` on
//! two 4-lane halves and `hsum_float_8`'s order at the end.

use core::arch::aarch64::*;

use super::{fma_lanes, hsum8 as hsum, zero8, Neon};
use crate::quant::{f16_le, BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1};

/// Sixteen bytes as a vector.
#[inline(always)]
fn load16(b: &[u8; 16]) -> uint8x16_t {
    // SAFETY: 16 readable bytes; NEON loads have no alignment requirement.
    unsafe { vld1q_u8(b.as_ptr()) }
}

/// Lane sums of four products for sixteen elements: lane `k` = sum over `4k..4k+4` of
/// `a[i] * b[i]`, `a` unsigned (0..=255), `b` signed (exact in i32).
#[inline(always)]
fn lanes_us(a: uint8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: NEON is part of every aarch64 target (the token's caller holds one).
    unsafe {
        let lo = vmulq_s16(
            vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(a))),
            vmovl_s8(vget_low_s8(b)),
        );
        let hi = vmulq_s16(vreinterpretq_s16_u16(vmovl_high_u8(a)), vmovl_high_s8(b));
        // |products| <= 255 * 128 would not fit i16 for unsigned weights above 127; these
        // callers pass |x| <= 128 (signed) or nibbles <= 31 (unsigned), so they fit.
        vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi))
    }
}

/// `_mm256_sign_epi8(y, x)` on sixteen lanes: `-y` (wrapping) where `x < 0`, 0 where `x == 0`.
#[inline(always)]
fn sign(y: int8x16_t, x: int8x16_t) -> int8x16_t {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        let neg = vcltzq_s8(x);
        let nonzero = vtstq_s8(x, x);
        let s = vbslq_s8(neg, vnegq_s8(y), y);
        vandq_s8(s, vreinterpretq_s8_u8(nonzero))
    }
}

/// The AVX2 lanes of a signed block product (`mul_sum_i8_pairs_float` before the conversion):
/// `x` and `y` as their two 16-element halves.
#[inline(always)]
fn signed_lanes(x: [int8x16_t; 2], y: [int8x16_t; 2]) -> [int32x4_t; 2] {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        // |x| as u8: |-128| wraps to 0x80, which is 128 unsigned, as `sign_epi8(x, x)` gives.
        let ax = |v: int8x16_t| vreinterpretq_u8_s8(vabsq_s8(v));
        [
            lanes_us(ax(x[0]), sign(y[0], x[0])),
            lanes_us(ax(x[1]), sign(y[1], x[1])),
        ]
    }
}

/// The 32 quants of a 4-bit block as the AVX2 order has them: low nibbles of `qs`, then high.
#[inline(always)]
fn nibbles(qs: &[u8; 16]) -> [uint8x16_t; 2] {
    let v = load16(qs);
    // SAFETY: NEON is part of every aarch64 target.
    unsafe { [vandq_u8(v, vdupq_n_u8(0x0f)), vshrq_n_u8::<4>(v)] }
}

/// The activations' two halves.
#[inline(always)]
fn act(qs: &[i8; 32]) -> [int8x16_t; 2] {
    // SAFETY: 32 readable bytes.
    unsafe { [vld1q_s8(qs.as_ptr()), vld1q_s8(qs.as_ptr().add(16))] }
}

fn check(n: usize, m: usize) {
    assert_eq!(
        n, m,
        "weight and activation rows must have the same number of blocks"
    );
}

impl Neon {
    /// [`crate::kernels::reference::legacy::dot_q4_0_q8_0_vec`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q4_0_q8_0(self, x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
        check(x.len(), y.len());
        let mut acc = zero8();
        for (xb, yb) in x.iter().zip(y) {
            let [lo, hi] = nibbles(&xb.qs);
            // SAFETY: NEON is part of every aarch64 target.
            let q = unsafe {
                let eight = vdupq_n_s8(8);
                [
                    vsubq_s8(vreinterpretq_s8_u8(lo), eight),
                    vsubq_s8(vreinterpretq_s8_u8(hi), eight),
                ]
            };
            let d = f16_le(xb.d) * f16_le(yb.d);
            fma_lanes(&mut acc, d, signed_lanes(q, act(&yb.qs)));
        }
        hsum(acc)
    }

    /// [`crate::kernels::reference::legacy::dot_q8_0_q8_0_vec`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q8_0_q8_0(self, x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
        check(x.len(), y.len());
        let mut acc = zero8();
        for (xb, yb) in x.iter().zip(y) {
            let d = f16_le(xb.d) * f16_le(yb.d);
            fma_lanes(&mut acc, d, signed_lanes(act(&xb.qs), act(&yb.qs)));
        }
        hsum(acc)
    }

    /// [`crate::kernels::reference::legacy::dot_q4_1_q8_1_vec`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q4_1_q8_1(self, x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
        check(x.len(), y.len());
        let mut acc = zero8();
        let mut summs = 0f32;
        for (xb, yb) in x.iter().zip(y) {
            let [lo, hi] = nibbles(&xb.qs);
            let [ylo, yhi] = act(&yb.qs);
            let l = [lanes_us(lo, ylo), lanes_us(hi, yhi)];
            summs = crate::kernels::mathf::fmaf(f16_le(xb.m), f16_le(yb.s), summs);
            let d = f16_le(xb.d) * f16_le(yb.d);
            fma_lanes(&mut acc, d, l);
        }
        hsum(acc) + summs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::legacy as r;
    use crate::quant::test_rng::Rng;
    use alloc::vec::Vec;

    fn token() -> Neon {
        Neon::new().expect("NEON is part of every aarch64 target (and LLAMETTE_SCALAR unset)")
    }

    /// Random blocks: random quant bytes (0x80 often), sane f16 scales.
    fn blocks<B: crate::quant::Block + Clone>(rng: &mut Rng, n: usize, f16_at: &[usize]) -> Vec<B> {
        let size = core::mem::size_of::<B>();
        let mut bytes = alloc::vec![0u8; n * size];
        rng.fill(&mut bytes);
        for b in bytes.chunks_exact_mut(size) {
            for q in b.iter_mut() {
                if rng.byte() < 24 {
                    *q = 0x80;
                }
            }
            for &f in f16_at {
                b[f..f + 2].copy_from_slice(&rng.f16_scale());
            }
        }
        crate::quant::as_blocks::<B>(&bytes).unwrap().to_vec()
    }

    #[test]
    fn legacy_dots_equal_the_reference_for_every_length() {
        let t = token();
        let mut rng = Rng(5);
        for round in 0..300 {
            let n = round % 11;
            let (x4, y8): (Vec<BlockQ4_0>, Vec<BlockQ8_0>) =
                (blocks(&mut rng, n, &[0]), blocks(&mut rng, n, &[0]));
            let (a, b) = (t.dot_q4_0_q8_0(&x4, &y8), r::dot_q4_0_q8_0_vec(&x4, &y8));
            assert_eq!(a.to_bits(), b.to_bits(), "q4_0 n={n}: {a} vs {b}");
            let x8: Vec<BlockQ8_0> = blocks(&mut rng, n, &[0]);
            let (a, b) = (t.dot_q8_0_q8_0(&x8, &y8), r::dot_q8_0_q8_0_vec(&x8, &y8));
            assert_eq!(a.to_bits(), b.to_bits(), "q8_0 n={n}: {a} vs {b}");
            let (x1, y1): (Vec<BlockQ4_1>, Vec<BlockQ8_1>) =
                (blocks(&mut rng, n, &[0, 2]), blocks(&mut rng, n, &[0, 2]));
            let (a, b) = (t.dot_q4_1_q8_1(&x1, &y1), r::dot_q4_1_q8_1_vec(&x1, &y1));
            assert_eq!(a.to_bits(), b.to_bits(), "q4_1 n={n}: {a} vs {b}");
        }
    }
}
