//! NEON Q2_K and Q3_K · Q8_K dot products, bit-identical to
//! [`crate::kernels::reference::kquants`]'s `dot_q2_k_q8_k_vec`, `dot_q3_k_q8_k_vec` (vec_dot
//! path, llama.cpp's AVX2 order) and `dot_q2_k_q8_k_tiled`, `dot_q3_k_q8_k_tiled` (tiled path).
//!
//! Both types have sixteen sub-blocks of 16 quants; 16 quants are one NEON vector. The element
//! `e = 128h + 32k + l` of a block (`l` in 0..32) lies in byte `l % 16` of vector `j = l / 16`
//! of chunk `(h, k)`, and belongs to sub-block `8h + 2k + j`. A [`Dot4`] on that vector puts it
//! in i32 lane `(l % 16) / 4` of half `j`, which is the reference's AVX2 lane `(e % 32) / 4`
//! (lanes 0..4 in half 0, 4..8 in half 1). So the sub-block scale multiplies whole vectors,
//! folded into the quants before the dot product:
//!
//! * Q2_K: quant (0..=3) times scale (0..=15) is at most 45, so the scaled quants are bytes,
//!   made with one 16-bit multiply by a scale lane (byte products under 256 do not carry into
//!   the neighbouring byte).
//! * Q3_K: quant (-4..=3) times `32 - stored scale` (-31..=32, the negated `scale - 32`) lies in
//!   -128..=124, a byte (whereas `quant * (scale - 32)` reaches +128 for -4 * -32); the lane sums
//!   are negated afterwards (exact in integers).
//!
//! The scaled quants (bytes) meet the activations (any i8) in [`Dot4`], whose lanes are exact
//! for every i8 input, with `SDOT` and without; all sums stay far inside i32 (at most
//! 256 * 128 * 128 per block). So the integers are the reference's for every input, whatever
//! the activation bytes (0x80 included) and whatever the weight bytes. The Q2_K minimums use
//! the stored `bsums` (any i16) through widening 16-bit multiplies, exact too.
//!
//! The float steps are the reference's, in its order: per block, for the vec_dot path,
//! `acc = fma(lanes, d, acc)` on eight lanes (Q2_K: the minimums' fma with `dmin` first, then
//! the quants' with `d`) and `hsum_float_8` at the end; for the tiled path, the lanes reduced to
//! one i32 and the scalar `mul` / `fnmadd` / `fmadd` chain of `tiled_step`.

use core::arch::aarch64::*;

use super::{
    check, f16_to_f32, fma_lanes, hsum8, q8k_d, tiled_step, zero8, Dot4, Dot4Kernel, Neon,
};
use crate::quant::k_quants::{BlockQ2K, BlockQ3K, BlockQ8K};

/// The 128 activations `128H..128H + 128` of `y` as eight vectors.
#[inline(always)]
fn act_half<const H: usize>(y: &BlockQ8K) -> [int8x16_t; 8] {
    let s: &[i8; 128] = y.qs[128 * H..128 * H + 128].try_into().unwrap();
    // SAFETY: `s` is 128 readable bytes; NEON loads have no alignment requirement.
    unsafe {
        let a = vld1q_s8_x4(s.as_ptr());
        let b = vld1q_s8_x4(s.as_ptr().add(64));
        [a.0, a.1, a.2, a.3, b.0, b.1, b.2, b.3]
    }
}

/// Four 16-byte vectors: the 64 quant bytes `qs` of a Q2_K / Q3_K block.
#[inline(always)]
fn load64(qs: &[u8; 64]) -> [uint8x16_t; 4] {
    // SAFETY: `qs` is 64 readable bytes.
    let v = unsafe { vld1q_u8_x4(qs.as_ptr()) };
    [v.0, v.1, v.2, v.3]
}

/// The 2-bit fields `k` (bits `2k..2k+2`) of the bytes of `b`, as bytes 0..=3.
#[inline(always)]
fn crumbs(b: uint8x16_t, k: usize) -> uint8x16_t {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        let m3 = vdupq_n_u8(3);
        match k {
            0 => vandq_u8(b, m3),
            1 => vandq_u8(vshrq_n_u8::<2>(b), m3),
            2 => vandq_u8(vshrq_n_u8::<4>(b), m3),
            _ => vshrq_n_u8::<6>(b),
        }
    }
}

/// Four zero i32 lanes.
#[inline(always)]
fn zero_i32() -> int32x4_t {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe { vdupq_n_s32(0) }
}

/// The sum of the eight i32 lanes (exact).
#[inline(always)]
fn hsum_i32(v: [int32x4_t; 2]) -> i32 {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe { vaddvq_s32(vaddq_s32(v[0], v[1])) }
}

// ---------------------------------------------------------------------------------------------
// Q2_K
// ---------------------------------------------------------------------------------------------

/// Q2_K: the sixteen 4-bit scales as u16 (sub-block `s` in element `s` of the array, for the
/// by-lane multiplies) and the sixteen 4-bit minimums as i16 lanes (minimum `8i + m` in lane
/// `m` of `[i]`).
#[inline(always)]
fn q2k_scales_mins(x: &BlockQ2K) -> ([u16; 16], [int16x8_t; 2]) {
    let mut sc = [0u16; 16];
    // SAFETY: `scales` is 16 readable bytes and `sc` 16 writable u16; NEON is part of every
    // aarch64 target.
    unsafe {
        let p = vld1q_u8(x.scales.as_ptr());
        let w = [vmovl_u8(vget_low_u8(p)), vmovl_high_u8(p)];
        let m = vdupq_n_u16(0xf);
        vst1q_u16(sc.as_mut_ptr(), vandq_u16(w[0], m));
        vst1q_u16(sc.as_mut_ptr().add(8), vandq_u16(w[1], m));
        let mn = [
            vreinterpretq_s16_u16(vshrq_n_u16::<4>(w[0])),
            vreinterpretq_s16_u16(vshrq_n_u16::<4>(w[1])),
        ];
        (sc, mn)
    }
}

/// Q2_K: the reference's `prod` lanes, lane `L` = `min[2L] * bsums[2L] + min[2L+1] *
/// bsums[2L+1]` (any i16 `bsums`: widening multiplies, exact).
#[inline(always)]
fn q2k_min_lanes(mn: [int16x8_t; 2], y: &BlockQ8K) -> [int32x4_t; 2] {
    // SAFETY: `bsums` is 32 readable bytes (16 little-endian i16, which is the lane order of a
    // byte load reinterpreted on little-endian aarch64); NEON is part of every aarch64 target.
    unsafe {
        let b = vld1q_u8_x2(y.bsums.as_ptr().cast::<u8>());
        let b = [vreinterpretq_s16_u8(b.0), vreinterpretq_s16_u8(b.1)];
        let half = |m: int16x8_t, b: int16x8_t| {
            vpaddq_s32(
                vmull_s16(vget_low_s16(m), vget_low_s16(b)),
                vmull_high_s16(m, b),
            )
        };
        [half(mn[0], b[0]), half(mn[1], b[1])]
    }
}

/// Q2_K: the reference's `sumi` lanes (quants times activations times the sub-block scale,
/// element `e` in lane `(e % 32) / 4`: lanes 0..4 in `[0]`, 4..8 in `[1]`).
#[inline(always)]
fn q2k_sumi<D: Dot4>(d: D, x: &BlockQ2K, sc: &[u16; 16], y: &BlockQ8K) -> [int32x4_t; 2] {
    let bits = load64(&x.qs);
    let s = [zero_i32(); 2];
    let s = q2k_sumi_half::<D, 0>(d, s, &bits, sc, y);
    q2k_sumi_half::<D, 1>(d, s, &bits, sc, y)
}

/// [`q2k_sumi`] for the elements `128H..128H + 128` (`H` a constant, so that the scale lanes
/// are immediates).
#[inline(always)]
fn q2k_sumi_half<D: Dot4, const H: usize>(
    d: D,
    mut s: [int32x4_t; 2],
    bits: &[uint8x16_t; 4],
    sc: &[u16; 16],
    y: &BlockQ8K,
) -> [int32x4_t; 2] {
    let a = act_half::<H>(y);
    for k in 0..4 {
        for (j, sj) in s.iter_mut().enumerate() {
            let q = crumbs(bits[2 * H + j], k);
            // SAFETY: NEON is part of every aarch64 target; `d` came from `Neon::dispatch`,
            // which checked its CPU feature.
            unsafe {
                // Quant (0..=3) times scale (0..=15) in each byte of a 16-bit lane: at most 45,
                // so no carry reaches the other byte.
                let scaled = vreinterpretq_s8_u16(vmulq_u16(
                    vreinterpretq_u16_u8(q),
                    vdupq_n_u16(sc[8 * H + 2 * k + j]),
                ));
                *sj = d.dot4(*sj, scaled, a[2 * k + j]);
            }
        }
    }
    s
}

/// [`Neon::dot_q2_k_q8_k_vec`].
struct Q2kVec<'a> {
    x: &'a [BlockQ2K],
    y: &'a [BlockQ8K],
}

impl Dot4Kernel for Q2kVec<'_> {
    type Output = f32;

    #[inline(always)]
    fn run<D: Dot4>(self, d: D) -> f32 {
        let mut acc = zero8();
        for (xb, yb) in self.x.iter().zip(self.y) {
            let yd = q8k_d(yb);
            let (sc, mn) = q2k_scales_mins(xb);
            fma_lanes(&mut acc, -yd * f16_to_f32(xb.dmin), q2k_min_lanes(mn, yb));
            fma_lanes(&mut acc, yd * f16_to_f32(xb.d), q2k_sumi(d, xb, &sc, yb));
        }
        hsum8(acc)
    }
}

/// [`Neon::dot_q2_k_q8_k_tiled`].
struct Q2kTiled<'a> {
    x: &'a [BlockQ2K],
    y: &'a [BlockQ8K],
}

impl Dot4Kernel for Q2kTiled<'_> {
    type Output = f32;

    #[inline(always)]
    fn run<D: Dot4>(self, d: D) -> f32 {
        let mut acc = 0f32;
        for (xb, yb) in self.x.iter().zip(self.y) {
            let (sc, mn) = q2k_scales_mins(xb);
            let s1 = hsum_i32(q2k_sumi(d, xb, &sc, yb));
            let s2 = hsum_i32(q2k_min_lanes(mn, yb));
            let min = Some((f16_to_f32(xb.dmin), s2));
            acc = tiled_step(acc, f16_to_f32(xb.d), s1, min, q8k_d(yb));
        }
        acc
    }
}

// ---------------------------------------------------------------------------------------------
// Q3_K
// ---------------------------------------------------------------------------------------------

/// Q3_K: the sixteen negated scales, `32 - stored` = `-(scale - 32)` (-31..=32), sub-block `s`
/// in byte `s` (the C code's `kmask1` / `kmask2` unpacking of the 12 packed bytes).
#[inline(always)]
fn q3k_neg_scales(x: &BlockQ3K) -> int8x16_t {
    const SCALES_END: usize = core::mem::offset_of!(BlockQ3K, scales) + 12;
    let p = (x as *const BlockQ3K).cast::<u8>();
    // SAFETY: the 16 bytes before the end of `scales` lie in the block (the last 4 of `qs`,
    // then the 12 of `scales`), which `p` covers; NEON is part of every aarch64 target.
    unsafe {
        // v[4 + i] = scales[i].
        let v = vld1q_u8(p.add(SCALES_END - 16));
        // Low 4 bits of scale s: scales[s % 8], low nibble for s < 8, high nibble after.
        const LO_IDX: [u8; 16] = [4, 5, 6, 7, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11];
        const LO_SHIFT: [i8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, -4, -4, -4, -4, -4, -4, -4, -4];
        // High 2 bits of scale s: bits 2*(s / 4) of scales[8 + s % 4], moved to bits 4..6.
        const HI_IDX: [u8; 16] = [
            12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15,
        ];
        const HI_SHIFT: [i8; 16] = [4, 4, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, -2, -2, -2, -2];
        let lo = vshlq_u8(
            vqtbl1q_u8(v, vld1q_u8(LO_IDX.as_ptr())),
            vld1q_s8(LO_SHIFT.as_ptr()),
        );
        let hi = vshlq_u8(
            vqtbl1q_u8(v, vld1q_u8(HI_IDX.as_ptr())),
            vld1q_s8(HI_SHIFT.as_ptr()),
        );
        let s = vorrq_u8(
            vandq_u8(lo, vdupq_n_u8(0x0f)),
            vandq_u8(hi, vdupq_n_u8(0x30)),
        );
        vsubq_s8(vdupq_n_s8(32), vreinterpretq_s8_u8(s))
    }
}

/// Byte `s` of `v` in all sixteen bytes (`DUP` by element; `s` a constant after inlining).
#[inline(always)]
fn dup_byte(v: int8x16_t, s: usize) -> int8x16_t {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        match s {
            0 => vdupq_laneq_s8::<0>(v),
            1 => vdupq_laneq_s8::<1>(v),
            2 => vdupq_laneq_s8::<2>(v),
            3 => vdupq_laneq_s8::<3>(v),
            4 => vdupq_laneq_s8::<4>(v),
            5 => vdupq_laneq_s8::<5>(v),
            6 => vdupq_laneq_s8::<6>(v),
            7 => vdupq_laneq_s8::<7>(v),
            8 => vdupq_laneq_s8::<8>(v),
            9 => vdupq_laneq_s8::<9>(v),
            10 => vdupq_laneq_s8::<10>(v),
            11 => vdupq_laneq_s8::<11>(v),
            12 => vdupq_laneq_s8::<12>(v),
            13 => vdupq_laneq_s8::<13>(v),
            14 => vdupq_laneq_s8::<14>(v),
            _ => vdupq_laneq_s8::<15>(v),
        }
    }
}

/// Q3_K quants (-4..=3) of one vector: bits `2k..2k+2` of `qs` minus 4 where bit `b` of `hm`
/// is clear. The bit test gives 0xff where the 4 is taken away, and the low two bits inserted
/// into that give `0xfc | low2 = low2 - 4` (else `low2`).
#[inline(always)]
fn q3k_quants(qs: uint8x16_t, k: usize, hm: uint8x16_t, b: usize) -> int8x16_t {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        // Bits 2k..2k+2 moved to 0..2 (the bits above are masked off by the insert).
        let low = match k {
            0 => qs,
            1 => vshrq_n_u8::<2>(qs),
            2 => vshrq_n_u8::<4>(qs),
            _ => vshrq_n_u8::<6>(qs),
        };
        let minus4 = vceqzq_u8(vandq_u8(hm, vdupq_n_u8(1 << b)));
        vreinterpretq_s8_u8(vbslq_u8(vdupq_n_u8(3), low, minus4))
    }
}

/// Q3_K: the reference's `sumi` lanes *negated* (quants times activations times `scale - 32`,
/// element `e` in lane `(e % 32) / 4`: lanes 0..4 in `[0]`, 4..8 in `[1]`).
#[inline(always)]
fn q3k_neg_sumi<D: Dot4>(d: D, x: &BlockQ3K, y: &BlockQ8K) -> [int32x4_t; 2] {
    let nsc = q3k_neg_scales(x);
    let bits = load64(&x.qs);
    // SAFETY: `hmask` is 32 readable bytes.
    let hm = unsafe { vld1q_u8_x2(x.hmask.as_ptr()) };
    let hm = [hm.0, hm.1];
    let s = [zero_i32(); 2];
    let s = q3k_neg_sumi_half::<D, 0>(d, s, &bits, &hm, nsc, y);
    q3k_neg_sumi_half::<D, 1>(d, s, &bits, &hm, nsc, y)
}

/// [`q3k_neg_sumi`] for the elements `128H..128H + 128` (`H` a constant, so that the shifts,
/// bit masks and scale lanes are immediates).
#[inline(always)]
fn q3k_neg_sumi_half<D: Dot4, const H: usize>(
    d: D,
    mut s: [int32x4_t; 2],
    bits: &[uint8x16_t; 4],
    hm: &[uint8x16_t; 2],
    nsc: int8x16_t,
    y: &BlockQ8K,
) -> [int32x4_t; 2] {
    let a = act_half::<H>(y);
    for k in 0..4 {
        for (j, sj) in s.iter_mut().enumerate() {
            let q = q3k_quants(bits[2 * H + j], k, hm[j], 4 * H + k);
            // SAFETY: NEON is part of every aarch64 target; `d` came from `Neon::dispatch`,
            // which checked its CPU feature.
            unsafe {
                // -(quant * (scale - 32)) in -128..=124: exact in the wrapping byte product.
                let scaled = vmulq_s8(q, dup_byte(nsc, 8 * H + 2 * k + j));
                *sj = d.dot4(*sj, scaled, a[2 * k + j]);
            }
        }
    }
    s
}

/// [`Neon::dot_q3_k_q8_k_vec`].
struct Q3kVec<'a> {
    x: &'a [BlockQ3K],
    y: &'a [BlockQ8K],
}

impl Dot4Kernel for Q3kVec<'_> {
    type Output = f32;

    #[inline(always)]
    fn run<D: Dot4>(self, d: D) -> f32 {
        let mut acc = zero8();
        for (xb, yb) in self.x.iter().zip(self.y) {
            let n = q3k_neg_sumi(d, xb, yb);
            // SAFETY: NEON is part of every aarch64 target.
            // (Negating the integers, not the float product, keeps the reference's signed
            // zeros.)
            let sumi = unsafe { [vnegq_s32(n[0]), vnegq_s32(n[1])] };
            fma_lanes(&mut acc, q8k_d(yb) * f16_to_f32(xb.d), sumi);
        }
        hsum8(acc)
    }
}

/// [`Neon::dot_q3_k_q8_k_tiled`].
struct Q3kTiled<'a> {
    x: &'a [BlockQ3K],
    y: &'a [BlockQ8K],
}

impl Dot4Kernel for Q3kTiled<'_> {
    type Output = f32;

    #[inline(always)]
    fn run<D: Dot4>(self, d: D) -> f32 {
        let mut acc = 0f32;
        for (xb, yb) in self.x.iter().zip(self.y) {
            // From the quants and activations only (the tiled kernel does not read `bsums`).
            let s1 = -hsum_i32(q3k_neg_sumi(d, xb, yb));
            acc = tiled_step(acc, f16_to_f32(xb.d), s1, None, q8k_d(yb));
        }
        acc
    }
}

impl Neon {
    /// [`crate::kernels::reference::kquants::dot_q2_k_q8_k_vec`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q2_k_q8_k_vec(self, x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
        check(x, y);
        self.dispatch(Q2kVec { x, y })
    }

    /// [`crate::kernels::reference::kquants::dot_q3_k_q8_k_vec`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q3_k_q8_k_vec(self, x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
        check(x, y);
        self.dispatch(Q3kVec { x, y })
    }

    /// [`crate::kernels::reference::kquants::dot_q2_k_q8_k_tiled`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q2_k_q8_k_tiled(self, x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
        check(x, y);
        self.dispatch(Q2kTiled { x, y })
    }

    /// [`crate::kernels::reference::kquants::dot_q3_k_q8_k_tiled`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q3_k_q8_k_tiled(self, x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
        check(x, y);
        self.dispatch(Q3kTiled { x, y })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::kquants as r;
    use crate::kernels::testgen::{acts, weights, Rng};
    use crate::quant::{as_blocks, Block};
    use alloc::vec;
    use alloc::vec::Vec;

    /// Offsets of the f16 fields: Q2_K `d`, `dmin`; Q3_K `d`.
    const Q2K_F16: [usize; 2] = [80, 82];
    const Q3K_F16: [usize; 1] = [108];

    /// Rounds per test; each runs 0..=12 blocks.
    const ROUNDS: u64 = 400;

    /// `bsums` consistent with the quants.
    fn fix_bsums(b: &mut BlockQ8K) {
        for (s, q) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
            *s = q.iter().map(|&v| i16::from(v)).sum::<i16>().to_le_bytes();
        }
    }

    /// Activations: quantized, raw, or raw with many -128 quants (every third round each).
    fn some_acts(rng: &mut Rng, n: usize, round: u64) -> Vec<BlockQ8K> {
        let mut y = acts(rng, n, !round.is_multiple_of(3));
        if round % 3 == 2 {
            for b in &mut y {
                for q in b.qs.iter_mut() {
                    if rng.next_u64().is_multiple_of(4) {
                        *q = -128;
                    }
                }
                fix_bsums(b);
            }
        }
        y
    }

    /// Weight blocks with about a third of the (non-f16) bytes 0x80: top crumb 2, the others 0;
    /// Q2_K scale 0, minimum 8; Q3_K only the high bit 7 set.
    fn weights_0x80<B: Block + Clone>(rng: &mut Rng, n: usize, f16_at: &[usize]) -> Vec<B> {
        let size = core::mem::size_of::<B>();
        let mut bytes = vec![0u8; n * size];
        rng.fill(&mut bytes);
        for blk in bytes.chunks_exact_mut(size) {
            for b in blk.iter_mut() {
                if rng.next_u64().is_multiple_of(3) {
                    *b = 0x80;
                }
            }
            for &o in f16_at {
                blk[o..o + 2].copy_from_slice(&rng.f16());
            }
        }
        as_blocks::<B>(&bytes).unwrap().to_vec()
    }

    /// Compares one kernel with its reference for every token, `ROUNDS` rounds times 0..=12
    /// blocks; returns the number of cases.
    fn run<B: Block + Clone>(
        tag: u64,
        f16_at: &[usize],
        neon: impl Fn(Neon, &[B], &[BlockQ8K]) -> f32,
        refr: fn(&[B], &[BlockQ8K]) -> f32,
    ) -> usize {
        let mut cases = 0;
        for t in super::super::tests::tokens() {
            let mut rng = Rng(0x5eed ^ (tag << 40));
            for round in 0..ROUNDS {
                for n in 0..=12 {
                    let x: Vec<B> = if round % 5 == 4 {
                        weights_0x80(&mut rng, n, f16_at)
                    } else {
                        weights(&mut rng, n, f16_at)
                    };
                    let y = some_acts(&mut rng, n, round + n as u64);
                    let got = neon(t, &x, &y);
                    let want = refr(&x, &y);
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "dotprod={} round={round} n={n}: {got} vs {want}",
                        t.has_dotprod()
                    );
                    cases += 1;
                }
            }
        }
        cases
    }

    #[test]
    fn q2k_vec_matches_reference() {
        let cases = run::<BlockQ2K>(
            1,
            &Q2K_F16,
            |t, x, y| t.dot_q2_k_q8_k_vec(x, y),
            r::dot_q2_k_q8_k_vec,
        );
        assert!(cases >= ROUNDS as usize * 13);
    }

    #[test]
    fn q3k_vec_matches_reference() {
        let cases = run::<BlockQ3K>(
            2,
            &Q3K_F16,
            |t, x, y| t.dot_q3_k_q8_k_vec(x, y),
            r::dot_q3_k_q8_k_vec,
        );
        assert!(cases >= ROUNDS as usize * 13);
    }

    #[test]
    fn q2k_tiled_matches_reference() {
        let cases = run::<BlockQ2K>(
            3,
            &Q2K_F16,
            |t, x, y| t.dot_q2_k_q8_k_tiled(x, y),
            r::dot_q2_k_q8_k_tiled,
        );
        assert!(cases >= ROUNDS as usize * 13);
    }

    #[test]
    fn q3k_tiled_matches_reference() {
        let cases = run::<BlockQ3K>(
            4,
            &Q3K_F16,
            |t, x, y| t.dot_q3_k_q8_k_tiled(x, y),
            r::dot_q3_k_q8_k_tiled,
        );
        assert!(cases >= ROUNDS as usize * 13);
    }

    /// The integer extremes: every weight byte 0x00, 0xff, 0xaa or 0x55 (quants and scales at
    /// their ends, high bits all set or all clear) against activations all -128, 127 or -1, and
    /// `bsums` at the i16 extremes for the Q2_K minimums.
    #[test]
    fn extremes_match_reference() {
        for t in super::super::tests::tokens() {
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
                        if q == -1 {
                            // Stored sums need not match the quants: the kernels use them as
                            // they are, any i16.
                            for (i, b) in y.iter_mut().enumerate() {
                                for (k, s) in b.bsums.iter_mut().enumerate() {
                                    let v = [i16::MIN, i16::MAX, -1][(i + k) % 3];
                                    *s = v.to_le_bytes();
                                }
                            }
                        }
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
                                "dotprod={} kernel {i} wbyte={wbyte:#x} q={q} n={n}: {got} vs {want}",
                                t.has_dotprod()
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "same number of blocks")]
    fn mismatched_lengths_panic() {
        let t = super::super::tests::tokens()[0];
        let mut rng = Rng(9);
        let x: Vec<BlockQ2K> = weights(&mut rng, 2, &Q2K_F16);
        let y = acts(&mut rng, 1, true);
        t.dot_q2_k_q8_k_vec(&x, &y);
    }
}
