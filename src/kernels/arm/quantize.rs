//! NEON activation quantizers, bit-identical to what [`crate::quant::quantize_row_for_matmul`]
//! makes: Q8_0 and Q8_1 as [`crate::quant::legacy::quantize_row_q8_0_x86`] /
//! [`crate::quant::legacy::quantize_row_q8_1_x86`] (llama.cpp's x86 `quantize_row_q8_0/1`), Q8_K
//! as [`crate::quant::k_quants::quantize_row_q8_k`] (`quantize_row_q8_K_ref`).
//!
//! - Q8_0/Q8_1: `amax` is the NaN-ignoring maximum of `|x|` (`f32::max`, here `FMAXNM`, which
//!   returns the number when one operand is a quiet NaN), `d = amax / 127`, `id = 127 / amax` (0
//!   for an all-zero block), quants `rintf(x * id) as i8`: `FCVTNS` (round half to even,
//!   saturating, NaN to 0) then saturating narrows, the same integers. Q8_1's `s = f16(d *
//!   sum(q))` sums the stored quants.
//! - Q8_K: `max` is the first value of largest magnitude (NaNs skipped, `ax > amax`), tracked per
//!   lane with `FACGT` + `BSL` (the lane keeps its first strict maximum, sign included); when the
//!   lanes holding the largest magnitude disagree on its sign, a scalar scan finds the first one.
//!   Quants are `nearest_int`'s float trick done as such (`FMUL`, `FADD` of `0x1.8p23`, the low
//!   23 bits), `min(127, q - 0x400000)` stored into an i8 (low byte), which keeps NaN and infinity
//!   behaviour; `bsums` sum the stored quants.
//!
//! Rows are processed block by block for as many whole blocks as both `x` and `y` hold, as the
//! reference does.

use core::arch::aarch64::*;

use super::Neon;
use crate::quant::{BlockQ8K, BlockQ8_0, BlockQ8_1, QK_K};

/// An f32 rounded to f16 (round to nearest even, as `GGML_FP32_TO_FP16` and `half`), as
/// little-endian bytes.
#[inline(always)]
fn f16_le(x: f32) -> [u8; 2] {
    let h: u32;
    // SAFETY: `FCVT` (single to half) and `FMOV` are base Armv8 floating-point instructions;
    // they only touch the named registers.
    unsafe {
        core::arch::asm!(
            "fcvt {t:h}, {x:s}",
            "fmov {h:w}, {t:s}",
            x = in(vreg) x,
            t = out(vreg) _,
            h = out(reg) h,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    (h as u16).to_le_bytes()
}

/// Eight vectors of four f32 from 32 values.
#[inline(always)]
fn load32(x: &[f32; 32]) -> [float32x4_t; 8] {
    // SAFETY: 32 readable f32; NEON loads have no alignment requirement.
    unsafe { core::array::from_fn(|k| vld1q_f32(x.as_ptr().add(4 * k))) }
}

/// One Q8_0/Q8_1 block: the f32 scale `d` and the 32 quants as two byte vectors.
#[inline(always)]
fn block_q8(x: &[f32; 32]) -> (f32, [int8x16_t; 2]) {
    let v = load32(x);
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        let a: [float32x4_t; 8] = core::array::from_fn(|k| vabsq_f32(v[k]));
        let m = vmaxnmq_f32(
            vmaxnmq_f32(vmaxnmq_f32(a[0], a[1]), vmaxnmq_f32(a[2], a[3])),
            vmaxnmq_f32(vmaxnmq_f32(a[4], a[5]), vmaxnmq_f32(a[6], a[7])),
        );
        // `fold(0.0, max)`: an all-NaN block gives 0.
        let amax = vmaxnmvq_f32(m).max(0.0);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let q: [int32x4_t; 8] = core::array::from_fn(|k| vcvtnq_s32_f32(vmulq_n_f32(v[k], id)));
        let h: [int16x8_t; 4] =
            core::array::from_fn(|k| vqmovn_high_s32(vqmovn_s32(q[2 * k]), q[2 * k + 1]));
        (
            d,
            [
                vqmovn_high_s16(vqmovn_s16(h[0]), h[1]),
                vqmovn_high_s16(vqmovn_s16(h[2]), h[3]),
            ],
        )
    }
}

/// Stores 32 quants.
#[inline(always)]
fn store_qs(qs: &mut [i8; 32], q: [int8x16_t; 2]) {
    // SAFETY: 32 writable bytes.
    unsafe {
        vst1q_s8(qs.as_mut_ptr(), q[0]);
        vst1q_s8(qs.as_mut_ptr().add(16), q[1]);
    }
}

/// One Q8_K block (see the module documentation).
#[inline(always)]
fn block_q8_k(x: &[f32; QK_K], b: &mut BlockQ8K) {
    let p = x.as_ptr();
    // SAFETY: NEON is part of every aarch64 target; every load is within the 256 values.
    let (amax, max) = unsafe {
        // Four running "first strict maximum" values per lane position, sign kept.
        let mut s = [vdupq_n_f32(0.0); 4];
        for i in 0..QK_K / 16 {
            for (j, sj) in s.iter_mut().enumerate() {
                let v = vld1q_f32(p.add(16 * i + 4 * j));
                // |v| > |s|: false for NaN, so NaNs are skipped.
                *sj = vbslq_f32(vcagtq_f32(v, *sj), v, *sj);
            }
        }
        let a = vmaxq_f32(
            vmaxq_f32(vabsq_f32(s[0]), vabsq_f32(s[1])),
            vmaxq_f32(vabsq_f32(s[2]), vabsq_f32(s[3])),
        );
        let amax = vmaxvq_f32(a);
        let am = vdupq_n_f32(amax);
        // Among the candidates of magnitude `amax`, the smallest and the largest value.
        let (mut lo, mut hi) = (vdupq_n_f32(f32::INFINITY), vdupq_n_f32(f32::NEG_INFINITY));
        for sj in s {
            let eq = vceqq_f32(vabsq_f32(sj), am);
            lo = vminq_f32(lo, vbslq_f32(eq, sj, vdupq_n_f32(f32::INFINITY)));
            hi = vmaxq_f32(hi, vbslq_f32(eq, sj, vdupq_n_f32(f32::NEG_INFINITY)));
        }
        let (lo, hi) = (vminvq_f32(lo), vmaxvq_f32(hi));
        let max = if lo == hi {
            lo
        } else {
            // Both signs: the first one in element order decides.
            x.iter().copied().find(|v| v.abs() == amax).unwrap_or(amax)
        };
        (amax, max)
    };
    if amax == 0.0 {
        b.d = 0f32.to_le_bytes();
        b.qs = [0; QK_K];
        b.bsums = [[0; 2]; QK_K / 16];
        return;
    }
    let iscale = -127.0f32 / max;
    // SAFETY: NEON is part of every aarch64 target; loads within the 256 values, stores within
    // `qs` (256 bytes) and `bsums` (32 bytes).
    unsafe {
        let magic = vdupq_n_f32(12_582_912.0);
        let mant = vdupq_n_u32(0x007f_ffff);
        // min(127, m - 0x400000) on the low byte: min(m, 0x40007f) has the same low byte.
        let lim = vdupq_n_u32(0x0040_007f);
        let qs = b.qs.as_mut_ptr();
        // Quantizes and stores values 16k..16k + 16; returns their pair sums.
        let quants16 = |k: usize| {
            let r: [uint32x4_t; 4] = core::array::from_fn(|j| {
                let v = vld1q_f32(p.add(16 * k + 4 * j));
                let t = vaddq_f32(vmulq_n_f32(v, iscale), magic);
                vminq_u32(vandq_u32(vreinterpretq_u32_f32(t), mant), lim)
            });
            // Low halves, then low bytes: the C's store into an int8_t.
            let h0 = vuzp1q_u16(vreinterpretq_u16_u32(r[0]), vreinterpretq_u16_u32(r[1]));
            let h1 = vuzp1q_u16(vreinterpretq_u16_u32(r[2]), vreinterpretq_u16_u32(r[3]));
            let q = vreinterpretq_s8_u8(vuzp1q_u8(
                vreinterpretq_u8_u16(h0),
                vreinterpretq_u8_u16(h1),
            ));
            vst1q_s8(qs.add(16 * k), q);
            vpaddlq_s8(q)
        };
        let out = b.bsums.as_mut_ptr().cast::<i16>();
        for half in 0..2 {
            let s: [int16x8_t; 8] = core::array::from_fn(|k| quants16(8 * half + k));
            // Pairwise sums down to one total per 16 quants (at most 16 * 128: fits i16).
            let s4: [int16x8_t; 4] = core::array::from_fn(|k| vpaddq_s16(s[2 * k], s[2 * k + 1]));
            let s2 = [vpaddq_s16(s4[0], s4[1]), vpaddq_s16(s4[2], s4[3])];
            vst1q_s16(out.add(8 * half), vpaddq_s16(s2[0], s2[1]));
        }
    }
    b.d = (1.0f32 / iscale).to_le_bytes();
}

impl Neon {
    /// [`crate::quant::legacy::quantize_row_q8_0_x86`] (what
    /// [`crate::quant::quantize_row_for_matmul`] makes for Q8_0), bit for bit: `x.len()` = 32 ×
    /// `y.len()` (extra values or blocks are left alone).
    pub fn quantize_row_q8_0(self, x: &[f32], y: &mut [BlockQ8_0]) {
        for (src, b) in x.chunks_exact(32).zip(y.iter_mut()) {
            let (d, q) = block_q8(src.try_into().expect("chunks of 32"));
            b.d = f16_le(d);
            store_qs(&mut b.qs, q);
        }
    }

    /// [`crate::quant::legacy::quantize_row_q8_1_x86`] (what
    /// [`crate::quant::quantize_row_for_matmul`] makes for Q8_1), bit for bit: `x.len()` = 32 ×
    /// `y.len()` (extra values or blocks are left alone).
    pub fn quantize_row_q8_1(self, x: &[f32], y: &mut [BlockQ8_1]) {
        for (src, b) in x.chunks_exact(32).zip(y.iter_mut()) {
            let (d, q) = block_q8(src.try_into().expect("chunks of 32"));
            b.d = f16_le(d);
            store_qs(&mut b.qs, q);
            // SAFETY: NEON is part of every aarch64 target.
            let sum = unsafe { i32::from(vaddlvq_s8(q[0])) + i32::from(vaddlvq_s8(q[1])) };
            b.s = f16_le(d * sum as f32);
        }
    }

    /// [`crate::quant::k_quants::quantize_row_q8_k`] (what
    /// [`crate::quant::quantize_row_for_matmul`] makes for Q8_K), bit for bit: `x.len()` = 256
    /// × `y.len()` (extra values or blocks are left alone).
    pub fn quantize_row_q8_k(self, x: &[f32], y: &mut [BlockQ8K]) {
        for (src, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
            block_q8_k(src.try_into().expect("chunks of QK_K"), b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::arm::tests::tokens;
    use crate::kernels::testgen::Rng;
    use crate::quant::k_quants::quantize_row_q8_k;
    use crate::quant::legacy::{quantize_row_q8_0_x86, quantize_row_q8_1_x86};
    use alloc::vec;
    use alloc::vec::Vec;

    /// `n` values for one round: random magnitudes from tiny to huge, exact ties after scaling,
    /// zeros, all-zero blocks, equal magnitudes of both signs, NaNs and infinities now and then.
    fn values(g: &mut Rng, round: usize, n: usize) -> Vec<f32> {
        let scale = [1e-6f32, 0.01, 1.0, 30.0, 1e4, 1e30, 1e-40][round % 7];
        let mut x: Vec<f32> = (0..n).map(|_| g.f32() * scale).collect();
        if n == 0 {
            return x;
        }
        match round % 10 {
            // Multiples of amax / 254 (quants on .5 ties) and of amax / 127.
            1 | 2 => {
                let step = if round % 10 == 1 { 254.0 } else { 127.0 };
                for v in x.iter_mut() {
                    *v = ((g.next_u64() % 255) as f32 - 127.0) / step;
                }
                x[0] = 1.0;
            }
            3 => {
                let len = x.len();
                x[len / 2..].fill(0.0);
            }
            4 => {
                // The largest magnitude with both signs, either one first.
                let s = if (round / 10).is_multiple_of(2) {
                    -2.0
                } else {
                    2.0
                };
                for v in x.iter_mut().skip(7).step_by(41) {
                    *v = s * scale;
                }
                for v in x.iter_mut().skip(20).step_by(37) {
                    *v = -s * scale;
                }
            }
            5 => {
                for v in x.iter_mut().skip(g.next_u64() as usize % 13).step_by(29) {
                    *v = f32::NAN;
                }
            }
            6 => {
                for v in x.iter_mut().skip(3).step_by(300) {
                    *v = if g.next_u64().is_multiple_of(2) {
                        f32::INFINITY
                    } else {
                        f32::NEG_INFINITY
                    };
                }
            }
            7 => {
                let i = g.next_u64() as usize % n;
                x[i] = f32::from_bits(1);
                x[(i + 1) % n] = -0.0;
            }
            8 => x.iter_mut().for_each(|v| *v = -0.0),
            _ => {}
        }
        x
    }

    #[test]
    fn quantizers_match_reference_for_every_block_count() {
        let mut g = Rng(0x51ed);
        for t in tokens() {
            for round in 0..700 {
                let nb = round % 13;
                let x = values(&mut g, round, 32 * nb);
                let z0 = BlockQ8_0 {
                    d: [0; 2],
                    qs: [0; 32],
                };
                let (mut a, mut b) = (vec![z0; nb], vec![z0; nb]);
                t.quantize_row_q8_0(&x, &mut a);
                quantize_row_q8_0_x86(&x, &mut b);
                assert_eq!(a, b, "q8_0 round {round}");
                let z1 = BlockQ8_1 {
                    d: [0; 2],
                    s: [0; 2],
                    qs: [0; 32],
                };
                let (mut a, mut b) = (vec![z1; nb], vec![z1; nb]);
                t.quantize_row_q8_1(&x, &mut a);
                quantize_row_q8_1_x86(&x, &mut b);
                assert_eq!(a, b, "q8_1 round {round}");

                let nk = round % 4;
                let x = values(&mut g, round, QK_K * nk);
                let zk = BlockQ8K {
                    d: [0; 4],
                    qs: [0; QK_K],
                    bsums: [[0; 2]; QK_K / 16],
                };
                let (mut a, mut b) = (vec![zk; nk], vec![zk; nk]);
                t.quantize_row_q8_k(&x, &mut a);
                quantize_row_q8_k(&x, &mut b);
                assert_eq!(a, b, "q8_k round {round}");
            }
        }
    }
}
