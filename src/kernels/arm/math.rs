//! NEON elementwise math of the forward pass (SwiGLU, softmax, NORMAL RoPE), bit-identical to
//! [`crate::kernels::reference::math`]'s [`r::swiglu_row`], [`r::softmax_row`] and
//! [`r::rope_row_norm`] (llama.cpp's AVX2 order; see the reference docs): `ggml_v_expf` lane for
//! lane ([`r::expf_v`], special paths included), `ggml_v_silu`, the softmax's groups of 8 summed
//! in float by the `movehl`/`movehdup` order into a double, and `rotate_pairs`' fused rotation.
//! Scalar tails call the reference itself.

use core::arch::aarch64::*;

use super::{hsum8, Neon};
use crate::kernels::reference::math as r;

/// `ggml_v_expf` on four lanes ([`r::expf_v`] per lane, whose result depends on its lane only).
#[inline(always)]
fn expf4(x: float32x4_t) -> float32x4_t {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        let c = |bits: u32| vdupq_n_f32(f32::from_bits(bits));
        let rr = c(0x4b40_0000);
        let z = vfmaq_f32(rr, x, c(0x3fb8_aa3b));
        let n = vsubq_f32(z, rr);
        // fma(-n, c, a) = a - n * c with one rounding: `FMLS`.
        let b = vfmsq_f32(vfmsq_f32(x, n, c(0x3f31_7200)), n, c(0x35bf_be8e));
        let e = vshlq_n_u32::<23>(vreinterpretq_u32_f32(z));
        let k = vreinterpretq_f32_u32(vaddq_u32(e, vdupq_n_u32(1.0f32.to_bits())));
        let abs_n = vabsq_f32(n);
        let cmask = vcgtq_f32(abs_n, vdupq_n_f32(126.0));
        let u = vmulq_f32(b, b);
        let j = vfmaq_f32(
            vmulq_f32(c(0x3f7f_fff6), b),
            vfmaq_f32(
                vfmaq_f32(c(0x3eff_fedb), c(0x3e2a_af33), b),
                vfmaq_f32(c(0x3d2b_9f17), c(0x3c07_2010), b),
                u,
            ),
            u,
        );
        let fast = vfmaq_f32(k, j, k);
        if vmaxvq_u32(cmask) == 0 {
            return fast;
        }
        let g = vandq_u32(vclezq_f32(n), vdupq_n_u32(0x8200_0000));
        let s1 = vreinterpretq_f32_u32(vaddq_u32(g, vdupq_n_u32(0x7f00_0000)));
        let s2 = vreinterpretq_f32_u32(vsubq_u32(e, g));
        let dmask = vcgtq_f32(abs_n, vdupq_n_f32(192.0));
        let scaled = vmulq_f32(vfmaq_f32(s2, s2, j), s1);
        vbslq_f32(dmask, vmulq_f32(s1, s1), vbslq_f32(cmask, scaled, fast))
    }
}

/// Four f32 from `x[i..i + 4]`.
#[inline(always)]
fn load4(x: &[f32], i: usize) -> float32x4_t {
    let x: &[f32; 4] = x[i..i + 4].try_into().unwrap();
    // SAFETY: 4 readable f32; NEON loads have no alignment requirement.
    unsafe { vld1q_f32(x.as_ptr()) }
}

/// Stores four f32 into `x[i..i + 4]`.
#[inline(always)]
fn store4(x: &mut [f32], i: usize, v: float32x4_t) {
    let x: &mut [f32; 4] = (&mut x[i..i + 4]).try_into().unwrap();
    // SAFETY: 4 writable f32.
    unsafe { vst1q_f32(x.as_mut_ptr(), v) }
}

/// `silu(x) * u` on four lanes: `(x / (1 + expf(0 - x))) * u`.
#[inline(always)]
fn swiglu4(x: float32x4_t, u: float32x4_t) -> float32x4_t {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        let e = expf4(vsubq_f32(vdupq_n_f32(0.0), x));
        vmulq_f32(vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0), e)), u)
    }
}

/// `x *= s` on every element (one rounding each).
#[inline(always)]
fn scale_row(x: &mut [f32], s: f32) {
    let n4 = x.len() & !3;
    let mut i = 0;
    while i < n4 {
        // SAFETY: NEON is part of every aarch64 target.
        store4(x, i, unsafe { vmulq_n_f32(load4(x, i), s) });
        i += 4;
    }
    for v in &mut x[n4..] {
        *v *= s;
    }
}

/// The reference's sequential `max = if max > v { max } else { v }` from `-inf`. Without NaNs
/// this is the largest value, which `FMAX` finds in any order (up to the sign of a zero
/// maximum, which no output depends on: `v - (+-0)` differs only for zero `v`, and `expf_v(+-0)
/// = 1`). With a NaN in the row the sum is NaN, so every output is NaN whatever the maximum.
#[inline(always)]
fn row_max(x: &[f32]) -> f32 {
    let n4 = x.len() & !3;
    // SAFETY: NEON is part of every aarch64 target.
    let mut m = unsafe { vdupq_n_f32(f32::NEG_INFINITY) };
    let mut i = 0;
    while i < n4 {
        // SAFETY: as above.
        m = unsafe { vmaxq_f32(m, load4(x, i)) };
        i += 4;
    }
    // SAFETY: as above.
    let mut max = unsafe { vmaxvq_f32(m) };
    for &v in &x[n4..] {
        max = if max > v { max } else { v };
    }
    max
}

impl Neon {
    /// [`r::swiglu_row`] (`ggml_vec_swiglu_f32`), bit for bit: `gate[i] = silu(gate[i]) *
    /// up[i]` for `i < min(gate.len(), up.len())`.
    pub fn swiglu_row(self, gate: &mut [f32], up: &[f32]) {
        let n = gate.len().min(up.len());
        let vec_end = n & !7;
        let mut i = 0;
        while i < vec_end {
            store4(gate, i, swiglu4(load4(gate, i), load4(up, i)));
            i += 4;
        }
        r::swiglu_row(&mut gate[vec_end..n], &up[vec_end..n]);
    }

    /// [`r::softmax_row`] (`ggml_compute_forward_soft_max_f32` on a -inf-padded row), bit for
    /// bit.
    pub fn softmax_row(self, x: &mut [f32], scale: f32) {
        scale_row(x, scale);
        let max = row_max(x);
        // SAFETY: NEON is part of every aarch64 target.
        let m = unsafe { vdupq_n_f32(max) };
        let mut sum = 0.0f64;
        // `exp(v - max)` of a group of 8 in place; its float sum.
        let group = |c: &mut [f32]| {
            // SAFETY: NEON is part of every aarch64 target.
            let e = unsafe {
                [
                    expf4(vsubq_f32(load4(c, 0), m)),
                    expf4(vsubq_f32(load4(c, 4), m)),
                ]
            };
            store4(c, 0, e[0]);
            store4(c, 4, e[1]);
            hsum8(e)
        };
        let mut chunks = x.chunks_exact_mut(8);
        for c in &mut chunks {
            sum += f64::from(group(c));
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            // A partial last group: the missing lanes are -inf, whose exp is the reference's
            // padding `expf_v(-inf - max)`.
            let mut lanes = [f32::NEG_INFINITY; 8];
            lanes[..rest.len()].copy_from_slice(rest);
            sum += f64::from(group(&mut lanes));
            let len = rest.len();
            rest.copy_from_slice(&lanes[..len]);
        }
        scale_row(x, (1.0 / sum) as f32);
    }

    /// [`r::rope_row_norm`] (`rotate_pairs<float>`, NORMAL mode), bit for bit: pairs `(x[2p],
    /// x[2p + 1])` rotated by `cos = cache[2p]`, `sin = cache[2p + 1]`, for the pairs both
    /// hold.
    pub fn rope_row_norm(self, x: &mut [f32], cache: &[f32]) {
        let n_pairs = (x.len() / 2).min(cache.len() / 2);
        // Every pair but an odd last one (of the whole row) is the fused rotation.
        let fused = if (x.len() / 2) % 2 == 1 && n_pairs == x.len() / 2 {
            n_pairs - 1
        } else {
            n_pairs
        };
        let vec_pairs = fused & !3;
        let mut p = 0;
        while p < vec_pairs {
            let xs: &mut [f32; 8] = (&mut x[2 * p..2 * p + 8]).try_into().unwrap();
            let cs: &[f32; 8] = cache[2 * p..2 * p + 8].try_into().unwrap();
            // SAFETY: 8 readable and writable f32 in `xs`, 8 readable in `cs`.
            unsafe {
                let v = vld2q_f32(xs.as_ptr());
                let c = vld2q_f32(cs.as_ptr());
                let (x0, x1, cos, sin) = (v.0, v.1, c.0, c.1);
                // fma(x0, cos, -(x1 * sin)) and fma(x0, sin, x1 * cos).
                let y0 = vfmaq_f32(vnegq_f32(vmulq_f32(x1, sin)), x0, cos);
                let y1 = vfmaq_f32(vmulq_f32(x1, cos), x0, sin);
                vst2q_f32(xs.as_mut_ptr(), float32x4x2_t(y0, y1));
            }
            p += 4;
        }
        // The rest (at most three fused pairs, then the odd last one) as the reference does it.
        for p in vec_pairs..n_pairs {
            let rot = if p >= fused {
                r::rope_pair_unfused
            } else {
                r::rope_pair
            };
            let (y0, y1) = rot(x[2 * p], x[2 * p + 1], cache[2 * p], cache[2 * p + 1]);
            x[2 * p] = y0;
            x[2 * p + 1] = y1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::arm::tests::tokens;
    use crate::kernels::testgen::Rng;
    use alloc::vec::Vec;

    /// `n` values of magnitude up to `spread`, with exp's special paths (|n| > 126, > 192,
    /// overflow, underflow), zeros, infinities and (when `nan`) NaNs mixed in.
    fn values(g: &mut Rng, n: usize, spread: f32, nan: bool) -> Vec<f32> {
        (0..n)
            .map(|_| match g.next_u64() % 23 {
                0 => 130.0 * g.f32().signum() + g.f32(),
                1 => -150.0 + g.f32(),
                2 => 95.0 + g.f32(),
                3 => -0.0,
                4 => 0.0,
                5 => 88.5 + g.f32(),
                6 => -104.0 + g.f32(),
                7 => 200.0 * g.f32().signum(),
                8 => f32::NEG_INFINITY,
                9 if nan => f32::NAN,
                10 if nan => f32::INFINITY,
                _ => g.f32() * spread,
            })
            .collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn expf4_matches_expf_v() {
        let mut g = Rng(3);
        let mut xs = values(&mut g, 4000, 300.0, true);
        // A sweep over the whole range, and every exponent.
        xs.extend((0..4000).map(|i| -200.0 + i as f32 * 0.1));
        xs.extend((0..512u32).map(|e| f32::from_bits(e << 23 | 0x12_3456)));
        xs.truncate(xs.len() & !3);
        for c in xs.chunks_exact(4) {
            let mut out = [0f32; 4];
            store4(&mut out, 0, expf4(load4(c, 0)));
            for (x, y) in c.iter().zip(out) {
                let want = r::expf_v(*x);
                assert!(
                    y.to_bits() == want.to_bits() || (y.is_nan() && want.is_nan()),
                    "expf({x:e}): {y:e} vs {want:e}"
                );
            }
        }
    }

    #[test]
    fn swiglu_matches_reference_for_every_length() {
        let mut g = Rng(11);
        for t in tokens() {
            for n in 0..80 {
                for spread in [4.0, 40.0, 200.0] {
                    let up = values(&mut g, n, 3.0, false);
                    let mut a = values(&mut g, n, spread, false);
                    let mut b = a.clone();
                    r::swiglu_row(&mut a, &up);
                    t.swiglu_row(&mut b, &up);
                    assert_eq!(bits(&a), bits(&b), "n {n} spread {spread}");
                    // A longer `up`.
                    let mut up2 = up.clone();
                    up2.push(2.0);
                    let mut a = values(&mut g, n, spread, false);
                    let mut b = a.clone();
                    r::swiglu_row(&mut a, &up2);
                    t.swiglu_row(&mut b, &up2);
                    assert_eq!(bits(&a), bits(&b), "n {n} spread {spread} long up");
                }
            }
        }
    }

    #[test]
    fn softmax_matches_reference_for_every_length() {
        let mut g = Rng(12);
        for t in tokens() {
            for n in 1..90 {
                for (spread, scale) in [(4.0, 0.125), (40.0, 1.0), (300.0, 0.3), (1e30, 1e8)] {
                    let mut a = values(&mut g, n, spread, false);
                    // At least one finite value (a query sees itself).
                    a[(g.next_u64() as usize) % n] = g.f32();
                    let mut b = a.clone();
                    r::softmax_row(&mut a, scale);
                    t.softmax_row(&mut b, scale);
                    assert_eq!(bits(&a), bits(&b), "n {n} spread {spread}");
                }
                // All values -inf but one; all equal; NaN and +inf inputs (the reference's
                // results are NaN then: only NaN-ness is compared).
                let mut a = alloc::vec![f32::NEG_INFINITY; n];
                a[n / 2] = -3.0;
                let mut b = a.clone();
                r::softmax_row(&mut a, 0.5);
                t.softmax_row(&mut b, 0.5);
                assert_eq!(bits(&a), bits(&b), "n {n} one finite");
                let mut a = alloc::vec![-0.0f32; n];
                a[0] = 0.0;
                let mut b = a.clone();
                r::softmax_row(&mut a, 1.0);
                t.softmax_row(&mut b, 1.0);
                assert_eq!(bits(&a), bits(&b), "n {n} zeros");
                let mut a = values(&mut g, n, 10.0, true);
                let mut b = a.clone();
                r::softmax_row(&mut a, 1.0);
                t.softmax_row(&mut b, 1.0);
                for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                    assert!(
                        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                        "n {n} nan/inf i {i}: {x:e} vs {y:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn rope_matches_reference_for_every_length() {
        let mut g = Rng(13);
        for t in tokens() {
            for len in 0..70usize {
                for cache_len in [len, len.saturating_sub(2), len.saturating_sub(1), len + 6] {
                    let cache: Vec<f32> = (0..cache_len).map(|_| g.f32()).collect();
                    let mut a: Vec<f32> = (0..len).map(|_| g.f32() * 30.0).collect();
                    let mut b = a.clone();
                    r::rope_row_norm(&mut a, &cache);
                    t.rope_row_norm(&mut b, &cache);
                    assert_eq!(bits(&a), bits(&b), "len {len} cache {cache_len}");
                }
            }
        }
    }
}
