//! NEON Q4_K / Q5_K / Q6_K · Q8_K dot products, bit-identical to
//! [`crate::kernels::reference::kquants`]: `dot_q4_k_q8_k_vec`, `dot_q5_k_q8_k_vec`,
//! `dot_q6_k_q8_k_vec` (llama.cpp's AVX2 `ggml_vec_dot_qN_K_q8_K`) and `dot_q4_k_q8_k_tiled`,
//! `dot_q5_k_q8_k_tiled`, `dot_q6_k_q8_k_tiled` (its AVX2 tiled kernel, one output element).
//! [`Neon::kquant_vec_rows`] runs the vec kernels for `R` weight rows against one activation
//! row, each row's operations exactly those of its single-row dot (the single-row entry points
//! are its `R = 1` instances), with every activation block's quants and `bsums` loaded once for
//! all rows.
//!
//! **Integers.** Every integer the reference forms is formed here exactly, by [`Dot4`] (`SDOT`,
//! or widening multiplies without `dotprod`) and 32-bit multiply-adds. The K-quant weights are
//! unsigned (Q4_K 0..=15, Q5_K 0..=31, Q6_K 0..=63) or made signed by subtracting an offset
//! (Q6_K tiled: -32..=31), the Q8_K activations are any i8 (-128 included): every product of
//! such bytes fits i16 and every four-product lane i32, so both [`Dot4`] variants give the exact
//! lanes for every input, with no saturation anywhere (as `maddubs` does not saturate for these
//! ranges either). The scales then multiply 32-bit lanes (`MLA` by element), and the
//! minimums' and Q6_K's correction terms use `bsums` widened to 32 bits before any sum, as the
//! reference does (exact for any `bsums`, not only those consistent with the quants).
//!
//! **Lanes (vec_dot path).** The reference's lane `L` collects the elements `e` with
//! `(e % 32) / 4 == L`: a 32-element chunk's first 16 quants meet their activations in one
//! [`Dot4`] whose four lanes are lanes 0..4, the last 16 in one whose lanes are 4..8. The
//! sub-block scales weight these lane vectors into the block's `sumi` (two `int32x4_t`; with
//! `SDOT` by summation by parts, see `Chains`, so that consecutive sub-blocks share one
//! accumulator), then `acc = fma(d, sumi, acc)` per lane and `hsum_float_8` at the end, in the
//! reference's order; Q4_K adds its 4-lane minimum accumulator, Q5_K its scalar `summs` chain,
//! Q6_K starts `sumi` from `-32 * (bsums * scales)` in the reference's lane split.
//!
//! **Tiled path.** Only the block's integer totals `s1` (and `s2`) enter the float chain
//! `res = f16(x.d) * s1; res = fma(-f16(x.dmin), s2, res); acc = fma(res, y.d, acc)`, so the
//! integer lanes are summed in any (exact) order. Q6_K's tiled `s1` uses `q - 32` directly and
//! does not read `bsums`, as the reference.

use core::arch::aarch64::*;

use super::{
    check, f16_to_f32, fma1, fma_lanes, hsum8, q8k_d, tiled_step, zero8, Dot4, Dot4Kernel, Neon,
};
use crate::kernels::rows_as;
use crate::quant::k_quants::{BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::quant::{as_blocks, GgmlType};

/// `N` bytes of `s` from `off` as an array (offsets are constants after unrolling, so the
/// bounds checks fold away).
#[inline(always)]
fn arr<T, const N: usize>(s: &[T], off: usize) -> &[T; N] {
    s[off..off + N].try_into().unwrap()
}

/// 32 bytes as two vectors.
#[inline(always)]
fn load32(b: &[u8; 32]) -> [uint8x16_t; 2] {
    // SAFETY: 32 readable bytes; NEON loads have no alignment requirement.
    let v = unsafe { vld1q_u8_x2(b.as_ptr()) };
    [v.0, v.1]
}

/// The 256 activations of a Q8_K block as 16 vectors, loaded once per block (and shared by
/// the rows of [`Neon::kquant_vec_rows`]).
type Acts = [int8x16_t; 16];

/// `y.qs` as [`Acts`].
#[inline(always)]
fn acts(y: &BlockQ8K) -> Acts {
    // SAFETY: NEON is part of every aarch64 target.
    let mut out = [unsafe { vdupq_n_s8(0) }; 16];
    // The address of `qs` in a register (an empty `asm!` hides that it is `y + 4`), so that the
    // loads pair into `LDP` (whose immediate offsets are multiples of 16), not 16 `LDUR`s.
    let mut p = y.qs.as_ptr();
    // SAFETY: the template is a comment: no instruction, no memory, no flags.
    #[allow(
        clippy::pointers_in_nomem_asm_block,
        reason = "the asm! only names the address"
    )]
    unsafe {
        core::arch::asm!(
            "/* {p} */",
            p = inout(reg) p,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    for (k, o) in out.chunks_exact_mut(4).enumerate() {
        // SAFETY: `p` is `y.qs.as_ptr()`: `y.qs[64 * k..64 * k + 64]` are 64 readable bytes;
        // NEON loads have no alignment requirement.
        let v = unsafe { vld1q_s8_x4(p.add(64 * k)) };
        o.copy_from_slice(&[v.0, v.1, v.2, v.3]);
    }
    out
}

/// `y.qs` as [`Acts`] by plain loads (`LDUR` at `y + 4 + 16k`, which LLVM schedules freely:
/// one instruction shorter than [`acts`] in the Q6_K tiled kernel).
#[inline(always)]
fn acts_ldur(y: &BlockQ8K) -> Acts {
    core::array::from_fn(|k| {
        let q: &[i8; 16] = arr(&y.qs, 16 * k);
        // SAFETY: 16 readable bytes; NEON loads have no alignment requirement.
        unsafe { vld1q_s8(q.as_ptr()) }
    })
}

/// The 32 activations `y.qs[32 * c..32 * c + 32]` as two vectors.
#[inline(always)]
fn acts32(y: &Acts, c: usize) -> [int8x16_t; 2] {
    [y[2 * c], y[2 * c + 1]]
}

/// The sixteen `bsums` of `y` as i16 lanes: 0..8 and 8..16.
#[inline(always)]
fn bsums(y: &BlockQ8K) -> [int16x8_t; 2] {
    // SAFETY: `bsums` is 16 * 2 = 32 contiguous readable bytes (arrays of u8 have no padding);
    // NEON loads have no alignment requirement; aarch64 is little-endian, as the bytes are.
    unsafe {
        let v = vld1q_u8_x2(y.bsums.as_ptr().cast::<u8>());
        [vreinterpretq_s16_u8(v.0), vreinterpretq_s16_u8(v.1)]
    }
}

/// `v` unchanged but opaque to the optimizer (an empty `asm!`, no instruction). Applied to the
/// widened scale vectors so that they stay one register for `MLA` by element: otherwise LLVM
/// broadcasts and widens each scale on its own (`DUP` + `UXTL`, two instructions per scale).
#[inline(always)]
fn opaque(mut v: int32x4_t) -> int32x4_t {
    // SAFETY: the template is a comment: no instruction, no memory, no flags.
    unsafe {
        core::arch::asm!(
            "/* {v:v} */",
            v = inout(vreg) v,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    v
}

/// Whether [`Chains`] sums by parts for `D` ([`Dot4::CHAINS`]): with `SDOT`, whose accumulator
/// input is free. With [`super::Plain`] (whose accumulation costs an add, and which LLVM then
/// rewrites into `UZP1` + `UZP2` + two adds) the direct form is shorter. Only speed depends on
/// the answer: both forms give the same integers.
#[inline(always)]
fn by_parts<D: Dot4>() -> bool {
    D::CHAINS
}

/// The eight 6-bit scales and eight 6-bit minimums of a Q4_K/Q5_K block (the `utmp` /
/// `kmask1..3` unpacking of `ggml_vec_dot_q4_K_q8_K`): the scales as [`Chains`] weights (with
/// `by_parts` their steps `sc[k] - sc[k + 1]`, `sc[8] = 0`) and the minimums, each as two
/// `int32x4_t` (0..4, 4..8).
#[inline(always)]
fn q4k_steps_mins(s: &[u8; 12], by_parts: bool) -> ([int32x4_t; 2], [int32x4_t; 2]) {
    const KMASK1: u32 = 0x3f3f_3f3f;
    const KMASK2: u32 = 0x0f0f_0f0f;
    const KMASK3: u32 = 0x0303_0303;
    let u0 = u32::from_le_bytes(*arr(s, 0));
    let u1 = u32::from_le_bytes(*arr(s, 4));
    let u2 = u32::from_le_bytes(*arr(s, 8));
    let u3 = ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4);
    let uaux = u1 & KMASK1;
    let u1 = (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4);
    let sc = u64::from(u0 & KMASK1) | (u64::from(u1) << 32);
    let mn = u64::from(uaux) | (u64::from(u3) << 32);
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        let v = vcombine_u8(vcreate_u8(sc), vcreate_u8(mn));
        let s16 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(v)));
        let step = if by_parts {
            vsubq_s16(s16, vextq_s16::<1>(s16, vdupq_n_s16(0)))
        } else {
            s16
        };
        let m16 = vreinterpretq_s16_u16(vmovl_high_u8(v));
        let w = |h: int16x8_t| [vmovl_s16(vget_low_s16(h)), vmovl_high_s16(h)];
        (w(step).map(opaque), w(m16))
    }
}

/// `q8s[j] = bsums[2j] + bsums[2j+1]` of `y` in i32 (0..4, 4..8), for [`q4k_min_lanes`].
#[inline(always)]
fn q8s(y: &BlockQ8K) -> [int32x4_t; 2] {
    // SAFETY: NEON is part of every aarch64 target.
    bsums(y).map(|b| unsafe { vpaddlq_s16(b) })
}

/// Q4_K/Q5_K minimums: lane `k` = `min[2k] * q8s[2k] + min[2k+1] * q8s[2k+1]` (the AVX2
/// kernels' `_mm_madd_epi16(mins, q8s)`, `q8s` from [`q8s`]), in i32.
#[inline(always)]
fn q4k_min_lanes(mins: [int32x4_t; 2], q8s: [int32x4_t; 2]) -> int32x4_t {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        let p0 = vmulq_s32(q8s[0], mins[0]);
        let p1 = vmulq_s32(q8s[1], mins[1]);
        vpaddq_s32(p0, p1)
    }
}

/// Scaled sums of [`Dot4`] lanes, `sum s[k] * p[k]` over the sub-blocks `k = 0..n` of a chain
/// (scales `s[k]`, lane vectors `p[k]`). Direct: `acc += s[k] * dot4(0, ..)`. By parts (see
/// [`by_parts`]): `sum s[k] * p[k] = sum (s[k] - s[k+1]) * P[k]` with `s[n] = 0` and the
/// prefix sums `P[k] = p[0] + .. + p[k]`, which chained [`Dot4`]s give without zeroing an
/// accumulator per sub-block: one `SDOT` and one `MLA` by element per 16 quants; the weights
/// passed are then the steps `s[k] - s[k+1]`. Exact either way: 32-bit `MLA`/`SDOT` arithmetic
/// wraps, i.e. is exact modulo 2^32, and the results (the reference's lane integers) fit i32.
struct Chains {
    /// The prefix sums `P` of the two chains (by parts).
    p: [int32x4_t; 2],
    /// The scaled sums.
    acc: [int32x4_t; 2],
    /// Which form (the weights must match).
    by_parts: bool,
}

impl Chains {
    /// Empty prefix sums; the scaled sums start at `acc`.
    #[inline(always)]
    fn new(acc: [int32x4_t; 2], by_parts: bool) -> Chains {
        // SAFETY: NEON is part of every aarch64 target.
        let z = unsafe { vdupq_n_s32(0) };
        Chains {
            p: [z, z],
            acc,
            by_parts,
        }
    }

    /// The lanes to weight next: `dot4` of `q`, `y` onto chain `i`'s prefix sum (by parts) or
    /// onto zero.
    ///
    /// # Safety
    ///
    /// `d`'s CPU feature must be present (it came from [`Neon::dispatch`]).
    #[inline(always)]
    unsafe fn dot<D: Dot4>(&mut self, d: D, i: usize, q: [int8x16_t; 2], y: [int8x16_t; 2]) {
        // SAFETY: the caller guarantees `d`'s feature; the rest is base NEON.
        unsafe {
            let from = if self.by_parts {
                self.p[i]
            } else {
                vdupq_n_s32(0)
            };
            self.p[i] = d.dot4(from, q[0], y[0]);
            self.p[i] = d.dot4(self.p[i], q[1], y[1]);
        }
    }

    /// 16 + 16 quants against their activations, one sub-block step per chain: chain 0 gets
    /// `q[0]` (lanes 0..4) with step lane `A` of `st`, chain 1 gets `q[1]` (lanes 4..8) with
    /// lane `B` (the vec path: the AVX2 lanes).
    ///
    /// # Safety
    ///
    /// `d`'s CPU feature must be present (it came from [`Neon::dispatch`]).
    #[inline(always)]
    unsafe fn lanes<D: Dot4, const A: i32, const B: i32>(
        &mut self,
        d: D,
        q: [int8x16_t; 2],
        y: [int8x16_t; 2],
        st: int32x4_t,
    ) {
        // SAFETY: the caller guarantees `d`'s feature; the rest is base NEON.
        unsafe {
            let from = if self.by_parts {
                self.p
            } else {
                [vdupq_n_s32(0); 2]
            };
            self.p[0] = d.dot4(from[0], q[0], y[0]);
            self.p[1] = d.dot4(from[1], q[1], y[1]);
            self.acc[0] = vmlaq_laneq_s32::<A>(self.acc[0], self.p[0], st);
            self.acc[1] = vmlaq_laneq_s32::<B>(self.acc[1], self.p[1], st);
        }
    }

    /// 32 quants of one sub-block (step lane `A` of `st`) on chain 0 alone (the tiled path,
    /// where only the lanes' total matters).
    ///
    /// # Safety
    ///
    /// `d`'s CPU feature must be present (it came from [`Neon::dispatch`]).
    #[inline(always)]
    unsafe fn sum<D: Dot4, const A: i32>(
        &mut self,
        d: D,
        q: [int8x16_t; 2],
        y: [int8x16_t; 2],
        st: int32x4_t,
    ) {
        // SAFETY: the caller guarantees `d`'s feature; the rest is base NEON.
        unsafe {
            self.dot(d, 0, q, y);
            self.acc[0] = vmlaq_laneq_s32::<A>(self.acc[0], self.p[0], st);
        }
    }
}

/// One 64-element group `j` of a Q4_K/Q5_K block: quants `q` = the 32 of sub-block `2j`
/// (`q[0..2]`, step lane `A` of `st`) and the 32 of sub-block `2j + 1` (`q[2..4]`, lane `B`),
/// against `y.qs[64j..64j + 64]`: the AVX2 lanes (vec path) or one chain (`TILED`).
///
/// # Safety
///
/// `d`'s CPU feature must be present (it came from [`Neon::dispatch`]).
#[inline(always)]
unsafe fn q45_group<D: Dot4, const TILED: bool, const A: i32, const B: i32>(
    d: D,
    ch: &mut Chains,
    q: [uint8x16_t; 4],
    y: &Acts,
    j: usize,
    st: int32x4_t,
) {
    // SAFETY: NEON is part of every aarch64 target.
    let q = q.map(|v| unsafe { vreinterpretq_s8_u8(v) });
    let (ylo, yhi) = (acts32(y, 2 * j), acts32(y, 2 * j + 1));
    // SAFETY: the caller guarantees `d`'s feature.
    unsafe {
        if TILED {
            ch.sum::<D, A>(d, [q[0], q[1]], ylo, st);
            ch.sum::<D, B>(d, [q[2], q[3]], yhi, st);
        } else {
            ch.lanes::<D, A, A>(d, [q[0], q[1]], ylo, st);
            ch.lanes::<D, B, B>(d, [q[2], q[3]], yhi, st);
        }
    }
}

/// Which Q4_K/Q5_K block layout a kernel reads.
trait Q45 {
    /// `d`, `dmin` and the packed scales.
    fn head(&self) -> ([u8; 2], [u8; 2], &[u8; 12]);
    /// The four 64-element groups' quants (0..=15 or 0..=31), each as 4 vectors in element order.
    fn quants(&self) -> [[uint8x16_t; 4]; 4];
}

impl Q45 for BlockQ4K {
    #[inline(always)]
    fn head(&self) -> ([u8; 2], [u8; 2], &[u8; 12]) {
        (self.d, self.dmin, &self.scales)
    }
    /// Group `j`: low nibbles of `qs[32j..32j + 32]`, then the high nibbles.
    #[inline(always)]
    fn quants(&self) -> [[uint8x16_t; 4]; 4] {
        core::array::from_fn(|j| {
            let q = load32(arr(&self.qs, 32 * j));
            // SAFETY: NEON is part of every aarch64 target.
            unsafe {
                let m4 = vdupq_n_u8(0x0f);
                [
                    vandq_u8(q[0], m4),
                    vandq_u8(q[1], m4),
                    vshrq_n_u8::<4>(q[0]),
                    vshrq_n_u8::<4>(q[1]),
                ]
            }
        })
    }
}

impl Q45 for BlockQ5K {
    #[inline(always)]
    fn head(&self) -> ([u8; 2], [u8; 2], &[u8; 12]) {
        (self.d, self.dmin, &self.scales)
    }
    /// Group `j`: Q4_K's nibbles plus 16 where bit `2j` (low nibbles) or `2j + 1` (high) of
    /// `qh[l]` is set. Low: the bit moved to bit 0, inserted above the nibble with `SLI #4`
    /// (which also drops the high nibble); high: the bit moved to bit 4 and `USRA #4` adds the
    /// high nibble.
    #[inline(always)]
    fn quants(&self) -> [[uint8x16_t; 4]; 4] {
        let qh = load32(&self.qh);
        // SAFETY: NEON is part of every aarch64 target.
        unsafe {
            let (one, m10) = (vdupq_n_u8(1), vdupq_n_u8(0x10));
            let lo = |v: uint8x16_t| vandq_u8(v, one);
            let hi = |v: uint8x16_t| vandq_u8(v, m10);
            // Per group: bit 2j of qh at bit 0, bit 2j + 1 at bit 4 (shifts are immediates).
            let bits: [[[uint8x16_t; 2]; 2]; 4] = [
                [qh.map(lo), qh.map(|v| hi(vshlq_n_u8::<3>(v)))],
                [
                    qh.map(|v| lo(vshrq_n_u8::<2>(v))),
                    qh.map(|v| hi(vshlq_n_u8::<1>(v))),
                ],
                [
                    qh.map(|v| lo(vshrq_n_u8::<4>(v))),
                    qh.map(|v| hi(vshrq_n_u8::<1>(v))),
                ],
                [
                    qh.map(|v| lo(vshrq_n_u8::<6>(v))),
                    qh.map(|v| hi(vshrq_n_u8::<3>(v))),
                ],
            ];
            core::array::from_fn(|j| {
                let q = load32(arr(&self.qs, 32 * j));
                let [bl, bh] = bits[j];
                [
                    vsliq_n_u8::<4>(q[0], bl[0]),
                    vsliq_n_u8::<4>(q[1], bl[1]),
                    vsraq_n_u8::<4>(bh[0], q[0]),
                    vsraq_n_u8::<4>(bh[1], q[1]),
                ]
            })
        }
    }
}

/// The integer part of a Q4_K/Q5_K block against `y` (`st`: the scale steps): the vec path's
/// 8 AVX2 lanes (`TILED == false`) or 8 lanes whose total is the tiled `s1`.
///
/// # Safety
///
/// `d`'s CPU feature must be present (it came from [`Neon::dispatch`]).
#[inline(always)]
unsafe fn q45_sumi<D: Dot4, X: Q45, const TILED: bool>(
    d: D,
    x: &X,
    y: &Acts,
    st: [int32x4_t; 2],
) -> [int32x4_t; 2] {
    let q = x.quants();
    // SAFETY: NEON is part of every aarch64 target; the caller guarantees `d`'s feature.
    unsafe {
        let mut ch = Chains::new([vdupq_n_s32(0); 2], by_parts::<D>());
        q45_group::<D, TILED, 0, 1>(d, &mut ch, q[0], y, 0, st[0]);
        q45_group::<D, TILED, 2, 3>(d, &mut ch, q[1], y, 1, st[0]);
        q45_group::<D, TILED, 0, 1>(d, &mut ch, q[2], y, 2, st[1]);
        q45_group::<D, TILED, 2, 3>(d, &mut ch, q[3], y, 3, st[1]);
        ch.acc
    }
}

/// Every row cut to `n` blocks (after [`check_rows`], a no-op that lets the optimizer drop the
/// bounds checks of `x[r][i]` for `i < n`).
#[inline(always)]
fn rows_to<X, const R: usize>(x: [&[X]; R], n: usize) -> [&[X]; R] {
    x.map(|r| &r[..n])
}

/// `f(0)`, .., `f(R - 1)`, written out for `R <= 4` (straight-line code, so that each row's
/// accumulators are registers rather than an indexed array in memory), a loop beyond.
#[inline(always)]
fn each_row<const R: usize>(mut f: impl FnMut(usize)) {
    if R == 0 {
    } else if R <= 4 {
        f(0);
        if R > 1 {
            f(1);
        }
        if R > 2 {
            f(2);
        }
        if R > 3 {
            f(3);
        }
    } else {
        for r in 0..R {
            f(r);
        }
    }
}

/// Panics unless every weight row has as many blocks as the activation row.
#[inline(always)]
fn check_rows<X, const R: usize>(x: &[&[X]; R], y: &[BlockQ8K]) {
    crate::kernels::tile_blocks(x, &[y]);
}

/// `dot_q4_k_q8_k_vec` of `R` rows against one activation row (each row's operations exactly
/// as for one row; the activation block is loaded once for all rows): 4-lane minimum
/// accumulator, 8-lane quant accumulator.
struct Q4kVec<'a, const R: usize> {
    x: [&'a [BlockQ4K]; R],
    y: &'a [BlockQ8K],
}

impl<const R: usize> Dot4Kernel for Q4kVec<'_, R> {
    type Output = [f32; R];

    #[inline(always)]
    fn run<D: Dot4>(self, d: D) -> [f32; R] {
        let x = rows_to(self.x, self.y.len());
        let mut acc = [zero8(); R];
        // SAFETY: NEON is part of every aarch64 target.
        let mut acc_m = [unsafe { vdupq_n_f32(0.0) }; R];
        #[allow(
            clippy::needless_range_loop,
            reason = "one index for `y` and every row"
        )]
        for i in 0..self.y.len() {
            let yb = &self.y[i];
            let yd = q8k_d(yb);
            let (ya, q8) = (acts(yb), q8s(yb));
            each_row::<R>(
                #[inline(always)]
                |r| {
                    let xb = &x[r][i];
                    let (xd, xdmin, packed) = xb.head();
                    let dd = yd * f16_to_f32(xd);
                    let dmin = -yd * f16_to_f32(xdmin);
                    let (st, mn) = q4k_steps_mins(packed, by_parts::<D>());
                    let prod = q4k_min_lanes(mn, q8);
                    // SAFETY: NEON is part of every aarch64 target.
                    acc_m[r] =
                        unsafe { vfmaq_f32(acc_m[r], vcvtq_f32_s32(prod), vdupq_n_f32(dmin)) };
                    // SAFETY: `d` came from `Neon::dispatch`, which checked its CPU feature.
                    let sumi = unsafe { q45_sumi::<D, _, false>(d, xb, &ya, st) };
                    fma_lanes(&mut acc[r], dd, sumi);
                },
            );
        }
        core::array::from_fn(|r| {
            // SAFETY: NEON is part of every aarch64 target.
            let m = unsafe {
                let t = vadd_f32(vget_low_f32(acc_m[r]), vget_high_f32(acc_m[r]));
                vget_lane_f32::<0>(t) + vget_lane_f32::<1>(t)
            };
            hsum8(acc[r]) + m
        })
    }
}

/// `dot_q5_k_q8_k_vec` of `R` rows against one activation row (as [`Q4kVec`]): scalar minimum
/// chain, 8-lane quant accumulator.
struct Q5kVec<'a, const R: usize> {
    x: [&'a [BlockQ5K]; R],
    y: &'a [BlockQ8K],
}

impl<const R: usize> Dot4Kernel for Q5kVec<'_, R> {
    type Output = [f32; R];

    #[inline(always)]
    fn run<D: Dot4>(self, d: D) -> [f32; R] {
        let x = rows_to(self.x, self.y.len());
        let mut acc = [zero8(); R];
        let mut summs = [0f32; R];
        #[allow(
            clippy::needless_range_loop,
            reason = "one index for `y` and every row"
        )]
        for i in 0..self.y.len() {
            let yb = &self.y[i];
            let yd = q8k_d(yb);
            let (ya, q8) = (acts(yb), q8s(yb));
            each_row::<R>(
                #[inline(always)]
                |r| {
                    let xb = &x[r][i];
                    let (xd, xdmin, packed) = xb.head();
                    let dd = yd * f16_to_f32(xd);
                    let dmin = -yd * f16_to_f32(xdmin);
                    let (st, mn) = q4k_steps_mins(packed, by_parts::<D>());
                    // SAFETY: NEON is part of every aarch64 target.
                    let sum = unsafe { vaddvq_s32(q4k_min_lanes(mn, q8)) };
                    summs[r] = fma1(dmin, sum as f32, summs[r]);
                    // SAFETY: `d` came from `Neon::dispatch`, which checked its CPU feature.
                    let sumi = unsafe { q45_sumi::<D, _, false>(d, xb, &ya, st) };
                    fma_lanes(&mut acc[r], dd, sumi);
                },
            );
        }
        core::array::from_fn(|r| hsum8(acc[r]) + summs[r])
    }
}

/// `dot_q4_k_q8_k_tiled` / `dot_q5_k_q8_k_tiled`.
struct Q45Tiled<'a, X: Q45> {
    x: &'a [X],
    y: &'a [BlockQ8K],
}

impl<X: Q45> Dot4Kernel for Q45Tiled<'_, X> {
    type Output = f32;

    #[inline(always)]
    fn run<D: Dot4>(self, d: D) -> f32 {
        let mut acc = 0f32;
        for (xb, yb) in self.x.iter().zip(self.y) {
            let (xd, xdmin, packed) = xb.head();
            let (st, mn) = q4k_steps_mins(packed, by_parts::<D>());
            // SAFETY: `d` came from `Neon::dispatch`, which checked its CPU feature; the rest is
            // base NEON.
            let (s1, s2) = unsafe {
                let l = q45_sumi::<D, X, true>(d, xb, &acts(yb), st);
                (
                    vaddvq_s32(vaddq_s32(l[0], l[1])),
                    vaddvq_s32(q4k_min_lanes(mn, q8s(yb))),
                )
            };
            let min = Some((f16_to_f32(xdmin), s2));
            acc = tiled_step(acc, f16_to_f32(xd), s1, min, q8k_d(yb));
        }
        acc
    }
}

/// The 256 Q6_K quants of `x` as 16 vectors, chunk `c` (elements `32c..32c + 32`) at
/// `[2c], [2c + 1]`: unsigned (0..=63), or with `SIGNED` minus 32.
///
/// Per half `h` and 16-byte column: `ql0 = ql[64h..]`, `ql1 = ql[64h + 32..]`, `qh = qh[32h..]`;
/// chunk `4h + k` has low bits from `ql0` (k = 0, 2: low / high nibble) or `ql1` (k = 1, 3) and
/// high bits `2k..2k+2` of `qh`, joined with shift-and-insert (`SLI` / `SRI`).
#[inline(always)]
fn q6k_quants<const SIGNED: bool>(x: &BlockQ6K) -> [int8x16_t; 16] {
    // SAFETY: NEON is part of every aarch64 target.
    let mut out = [unsafe { vdupq_n_s8(0) }; 16];
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        let m3f = vdupq_n_u8(0x3f);
        for h in 0..2 {
            let ql0 = load32(arr(&x.ql, 64 * h));
            let ql1 = load32(arr(&x.ql, 64 * h + 32));
            let qh = load32(arr(&x.qh, 32 * h));
            for i in 0..2 {
                let qh2 = vshrq_n_u8::<2>(qh[i]);
                let q = [
                    // low nibble | qh bits 0,1 << 4
                    vandq_u8(vsliq_n_u8::<4>(ql0[i], qh[i]), m3f),
                    // low nibble | qh bits 2,3 << 4
                    vandq_u8(vsliq_n_u8::<4>(ql1[i], qh2), m3f),
                    // high nibble | qh bits 4,5
                    vandq_u8(vsriq_n_u8::<4>(qh[i], ql0[i]), m3f),
                    // high nibble | qh bits 6,7 (>> 2: nothing above)
                    vsriq_n_u8::<4>(qh2, ql1[i]),
                ];
                for (k, v) in q.into_iter().enumerate() {
                    let v = vreinterpretq_s8_u8(v);
                    out[2 * (4 * h + k) + i] = if SIGNED {
                        vsubq_s8(v, vdupq_n_s8(32))
                    } else {
                        v
                    };
                }
            }
        }
    }
    out
}

/// The integer lanes of a Q6_K block: per chunk `c`, elements 0..16 times `scale[2c]` into
/// `acc[0]`, 16..32 times `scale[2c + 1]` into `acc[1]` (the AVX2 lanes), from `acc`. `st` are
/// the scale steps of the two chains (even and odd scales): `scale[i] - scale[i + 2]`.
///
/// # Safety
///
/// `d`'s CPU feature must be present (it came from [`Neon::dispatch`]).
#[inline(always)]
unsafe fn q6k_lanes<D: Dot4>(
    d: D,
    acc: [int32x4_t; 2],
    q: &[int8x16_t; 16],
    y: &Acts,
    st: [int32x4_t; 4],
) -> [int32x4_t; 2] {
    let mut ch = Chains::new(acc, by_parts::<D>());
    // SAFETY: the caller guarantees `d`'s feature.
    unsafe {
        for h in 0..2 {
            let c = 4 * h;
            let (s0, s1) = (st[2 * h], st[2 * h + 1]);
            ch.lanes::<D, 0, 1>(d, [q[2 * c], q[2 * c + 1]], acts32(y, c), s0);
            let c = c + 1;
            ch.lanes::<D, 2, 3>(d, [q[2 * c], q[2 * c + 1]], acts32(y, c), s0);
            let c = c + 1;
            ch.lanes::<D, 0, 1>(d, [q[2 * c], q[2 * c + 1]], acts32(y, c), s1);
            let c = c + 1;
            ch.lanes::<D, 2, 3>(d, [q[2 * c], q[2 * c + 1]], acts32(y, c), s1);
        }
    }
    ch.acc
}

/// The sixteen Q6_K scales as i16 (0..8, 8..16), and their [`Chains`] weights as i32 (four
/// vectors of four): the scales, or with `by_parts` their steps along the two chains of
/// [`q6k_lanes`], `scale[i] - scale[i + 2]` (`scale[16] = scale[17] = 0`; |step| <= 255).
#[inline(always)]
fn q6k_scales(x: &BlockQ6K, by_parts: bool) -> ([int16x8_t; 2], [int32x4_t; 4]) {
    // SAFETY: `scales` is 16 readable bytes; NEON is part of every aarch64 target.
    unsafe {
        let s = vld1q_s8(x.scales.as_ptr());
        let s16 = [vmovl_s8(vget_low_s8(s)), vmovl_high_s8(s)];
        let st = if by_parts {
            [
                vsubq_s16(s16[0], vextq_s16::<2>(s16[0], s16[1])),
                vsubq_s16(s16[1], vextq_s16::<2>(s16[1], vdupq_n_s16(0))),
            ]
        } else {
            s16
        };
        let st32 = [
            vmovl_s16(vget_low_s16(st[0])),
            vmovl_high_s16(st[0]),
            vmovl_s16(vget_low_s16(st[1])),
            vmovl_high_s16(st[1]),
        ];
        (s16, st32.map(opaque))
    }
}

/// `dot_q6_k_q8_k_vec` of `R` rows against one activation row (as [`Q4kVec`]): unsigned
/// quants; `sumi` starts at the correction
/// `-32 * (bsums[2L] * scale[2L] + bsums[2L+1] * scale[2L+1])` for lane `L`.
struct Q6kVec<'a, const R: usize> {
    x: [&'a [BlockQ6K]; R],
    y: &'a [BlockQ8K],
}

impl<const R: usize> Dot4Kernel for Q6kVec<'_, R> {
    type Output = [f32; R];

    #[inline(always)]
    fn run<D: Dot4>(self, d: D) -> [f32; R] {
        let x = rows_to(self.x, self.y.len());
        let mut acc = [zero8(); R];
        #[allow(
            clippy::needless_range_loop,
            reason = "one index for `y` and every row"
        )]
        for i in 0..self.y.len() {
            let yb = &self.y[i];
            let yd = q8k_d(yb);
            let (ya, b) = (acts(yb), bsums(yb));
            each_row::<R>(
                #[inline(always)]
                |r| {
                    let xb = &x[r][i];
                    let dd = yd * f16_to_f32(xb.d);
                    let (s16, st) = q6k_scales(xb, by_parts::<D>());
                    let q = q6k_quants::<false>(xb);
                    // SAFETY: NEON is part of every aarch64 target; `d` came from
                    // `Neon::dispatch`, which checked its CPU feature.
                    let sumi = unsafe {
                        // scale * -32 fits i16 (|scale| <= 128); the products and pair sums fit i32.
                        let n = [vmulq_n_s16(s16[0], -32), vmulq_n_s16(s16[1], -32)];
                        let corr = [
                            vpaddq_s32(
                                vmull_s16(vget_low_s16(b[0]), vget_low_s16(n[0])),
                                vmull_high_s16(b[0], n[0]),
                            ),
                            vpaddq_s32(
                                vmull_s16(vget_low_s16(b[1]), vget_low_s16(n[1])),
                                vmull_high_s16(b[1], n[1]),
                            ),
                        ];
                        q6k_lanes(d, corr, &q, &ya, st)
                    };
                    fma_lanes(&mut acc[r], dd, sumi);
                },
            );
        }
        acc.map(hsum8)
    }
}

/// `dot_q6_k_q8_k_tiled`: signed quants (`q - 32`), no `bsums`.
struct Q6kTiled<'a> {
    x: &'a [BlockQ6K],
    y: &'a [BlockQ8K],
}

impl Dot4Kernel for Q6kTiled<'_> {
    type Output = f32;

    #[inline(always)]
    fn run<D: Dot4>(self, d: D) -> f32 {
        let mut acc = 0f32;
        for (xb, yb) in self.x.iter().zip(self.y) {
            let (_, st) = q6k_scales(xb, by_parts::<D>());
            let q = q6k_quants::<true>(xb);
            // SAFETY: NEON is part of every aarch64 target; `d` came from `Neon::dispatch`,
            // which checked its CPU feature.
            let s1 = unsafe {
                let l = q6k_lanes(d, [vdupq_n_s32(0); 2], &q, &acts_ldur(yb), st);
                vaddvq_s32(vaddq_s32(l[0], l[1]))
            };
            acc = tiled_step(acc, f16_to_f32(xb.d), s1, None, q8k_d(yb));
        }
        acc
    }
}

impl Neon {
    /// `R` rows of Q4_K, Q5_K or Q6_K weights (row bytes) against one Q8_K activation row, each
    /// bit for bit the row's `dot_*_q8_k_vec` ([`Neon::dot_q4_k_q8_k_vec`] ..), with each
    /// activation block's quants and `bsums` loaded once for all rows. `None` for other types or
    /// rows that are not whole blocks.
    ///
    /// Panics if a weight row and the activation row differ in blocks.
    pub fn kquant_vec_rows<const R: usize>(
        self,
        ty: GgmlType,
        w: [&[u8]; R],
        a: &[u8],
    ) -> Option<[f32; R]> {
        let y: &[BlockQ8K] = as_blocks(a)?;
        Some(match ty {
            GgmlType::Q4_K => {
                let x = rows_as(w)?;
                check_rows(&x, y);
                self.dispatch(Q4kVec { x, y })
            }
            GgmlType::Q5_K => {
                let x = rows_as(w)?;
                check_rows(&x, y);
                self.dispatch(Q5kVec { x, y })
            }
            GgmlType::Q6_K => {
                let x = rows_as(w)?;
                check_rows(&x, y);
                self.dispatch(Q6kVec { x, y })
            }
            _ => return None,
        })
    }

    /// [`crate::kernels::reference::kquants::dot_q4_k_q8_k_vec`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q4_k_q8_k_vec(self, x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
        check(x, y);
        self.dispatch(Q4kVec { x: [x], y })[0]
    }

    /// [`crate::kernels::reference::kquants::dot_q5_k_q8_k_vec`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q5_k_q8_k_vec(self, x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
        check(x, y);
        self.dispatch(Q5kVec { x: [x], y })[0]
    }

    /// [`crate::kernels::reference::kquants::dot_q6_k_q8_k_vec`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q6_k_q8_k_vec(self, x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
        check(x, y);
        self.dispatch(Q6kVec { x: [x], y })[0]
    }

    /// [`crate::kernels::reference::kquants::dot_q4_k_q8_k_tiled`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q4_k_q8_k_tiled(self, x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
        check(x, y);
        self.dispatch(Q45Tiled { x, y })
    }

    /// [`crate::kernels::reference::kquants::dot_q5_k_q8_k_tiled`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q5_k_q8_k_tiled(self, x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
        check(x, y);
        self.dispatch(Q45Tiled { x, y })
    }

    /// [`crate::kernels::reference::kquants::dot_q6_k_q8_k_tiled`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q6_k_q8_k_tiled(self, x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
        check(x, y);
        self.dispatch(Q6kTiled { x, y })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::arm::tests::tokens;
    use crate::kernels::reference::kquants as r;
    use crate::kernels::testgen::{acts, weights, Rng};
    use crate::quant::{as_blocks, Block};
    use alloc::vec::Vec;

    /// Weight blocks with every quant/scale byte `fill` (the extremes: all quants at their
    /// maximum, scales at 63 / -1, or 0x80 bytes), random finite f16 scales at `f16_at`.
    fn filled<B: Block + Clone>(rng: &mut Rng, n: usize, f16_at: &[usize], fill: u8) -> Vec<B> {
        let size = core::mem::size_of::<B>();
        let mut bytes = alloc::vec![fill; n * size];
        for blk in bytes.chunks_exact_mut(size) {
            for &o in f16_at {
                blk[o..o + 2].copy_from_slice(&rng.f16());
            }
        }
        as_blocks::<B>(&bytes).unwrap().to_vec()
    }

    /// Random weights with some bytes replaced by 0x80 / 0xff / 0x00 (not the f16 scales).
    fn sprinkled<B: Block + Clone>(rng: &mut Rng, n: usize, f16_at: &[usize]) -> Vec<B> {
        let mut x: Vec<B> = weights(rng, n, f16_at);
        let size = core::mem::size_of::<B>();
        // SAFETY: `B` is a `Block`: plain bytes, alignment 1, every bit pattern valid.
        let bytes =
            unsafe { core::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<u8>(), n * size) };
        for (i, b) in bytes.iter_mut().enumerate() {
            if f16_at.iter().any(|&o| (o..o + 2).contains(&(i % size))) {
                continue;
            }
            match rng.next_u64() % 16 {
                0 => *b = 0x80,
                1 => *b = 0xff,
                2 => *b = 0x00,
                _ => {}
            }
        }
        x
    }

    /// Activations: quantized, raw, raw with many -128 quants, or all -128 / all 127 (with
    /// `bsums` consistent with the quants).
    fn activations(rng: &mut Rng, n: usize, kind: usize) -> Vec<BlockQ8K> {
        let mut y = acts(rng, n, kind != 0);
        if kind >= 2 {
            for b in &mut y {
                for q in b.qs.iter_mut() {
                    *q = match kind {
                        2 if rng.next_u64() & 3 == 0 => -128,
                        2 => *q,
                        3 => -128,
                        _ => 127,
                    };
                }
                for (s, q) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
                    *s = q.iter().map(|&v| i16::from(v)).sum::<i16>().to_le_bytes();
                }
            }
        }
        y
    }

    type Pair<B> = (
        fn(Neon, &[B], &[BlockQ8K]) -> f32,
        fn(&[B], &[BlockQ8K]) -> f32,
    );

    /// Every token, block counts 0..=12, random / sprinkled / extreme weights against every kind
    /// of activations: `to_bits()` equal to the reference.
    fn check<B: Block + Clone>(name: &str, f16_at: &[usize], fills: &[u8], (neon, refr): Pair<B>) {
        let mut rng = Rng(0x5eed ^ name.len() as u64);
        for t in tokens() {
            for round in 0..48 {
                for n in 0..=12 {
                    let x: Vec<B> = match round % 4 {
                        0 | 1 => weights(&mut rng, n, f16_at),
                        2 => sprinkled(&mut rng, n, f16_at),
                        _ => filled(&mut rng, n, f16_at, fills[(round / 4) % fills.len()]),
                    };
                    let y = activations(&mut rng, n, (round + n) % 5);
                    let got = neon(t, &x, &y);
                    let want = refr(&x, &y);
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{name} dotprod={} n={n} round={round}: {got:e} vs {want:e}",
                        t.has_dotprod()
                    );
                }
            }
        }
    }

    const Q45_F16: [usize; 2] = [0, 2];
    const Q6_F16: [usize; 1] = [208];
    const FILLS: [u8; 4] = [0xff, 0x80, 0x00, 0x7f];

    #[test]
    fn q4k_vec_equals_the_reference() {
        let f: Pair<BlockQ4K> = (Neon::dot_q4_k_q8_k_vec, r::dot_q4_k_q8_k_vec);
        check("q4k_vec", &Q45_F16, &FILLS, f);
    }

    #[test]
    fn q5k_vec_equals_the_reference() {
        let f: Pair<BlockQ5K> = (Neon::dot_q5_k_q8_k_vec, r::dot_q5_k_q8_k_vec);
        check("q5k_vec", &Q45_F16, &FILLS, f);
    }

    #[test]
    fn q6k_vec_equals_the_reference() {
        let f: Pair<BlockQ6K> = (Neon::dot_q6_k_q8_k_vec, r::dot_q6_k_q8_k_vec);
        check("q6k_vec", &Q6_F16, &FILLS, f);
    }

    #[test]
    fn q4k_tiled_equals_the_reference() {
        let f: Pair<BlockQ4K> = (Neon::dot_q4_k_q8_k_tiled, r::dot_q4_k_q8_k_tiled);
        check("q4k_tiled", &Q45_F16, &FILLS, f);
    }

    #[test]
    fn q5k_tiled_equals_the_reference() {
        let f: Pair<BlockQ5K> = (Neon::dot_q5_k_q8_k_tiled, r::dot_q5_k_q8_k_tiled);
        check("q5k_tiled", &Q45_F16, &FILLS, f);
    }

    #[test]
    fn q6k_tiled_equals_the_reference() {
        let f: Pair<BlockQ6K> = (Neon::dot_q6_k_q8_k_tiled, r::dot_q6_k_q8_k_tiled);
        check("q6k_tiled", &Q6_F16, &FILLS, f);
    }

    /// The bytes of blocks.
    fn bytes<B: Block>(x: &[B]) -> &[u8] {
        // SAFETY: `B` is a `Block`: plain bytes, alignment 1, no padding.
        unsafe { core::slice::from_raw_parts(x.as_ptr().cast::<u8>(), core::mem::size_of_val(x)) }
    }

    /// [`Neon::kquant_vec_rows`] for `R` rows against the single-row `one`, `to_bits()` equal:
    /// every token, block counts 0..=9, random / sprinkled / extreme weights (a different kind
    /// per row) against every kind of activations.
    fn check_rows_r<B: Block + Clone, const R: usize>(
        ty: GgmlType,
        f16_at: &[usize],
        one: fn(Neon, &[B], &[BlockQ8K]) -> f32,
    ) {
        let mut rng = Rng(0x0a11 ^ (R as u64) << 8 ^ ty as u64);
        for t in tokens() {
            for round in 0..24 {
                for n in 0..=9 {
                    let x: [Vec<B>; R] = core::array::from_fn(|r| match (round + r) % 4 {
                        0 | 1 => weights(&mut rng, n, f16_at),
                        2 => sprinkled(&mut rng, n, f16_at),
                        _ => filled(&mut rng, n, f16_at, FILLS[(round / 4 + r) % FILLS.len()]),
                    });
                    let y = activations(&mut rng, n, (round + n) % 5);
                    let w: [&[u8]; R] = core::array::from_fn(|r| bytes(&x[r]));
                    let got = t.kquant_vec_rows(ty, w, bytes(&y)).expect("whole blocks");
                    for r in 0..R {
                        let want = one(t, &x[r], &y);
                        assert_eq!(
                            got[r].to_bits(),
                            want.to_bits(),
                            "{ty:?} R={R} row {r} dotprod={} n={n} round={round}: {:e} vs {want:e}",
                            t.has_dotprod(),
                            got[r]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn vec_rows_equal_the_single_row_dots() {
        check_rows_r::<BlockQ4K, 1>(GgmlType::Q4_K, &Q45_F16, Neon::dot_q4_k_q8_k_vec);
        check_rows_r::<BlockQ4K, 2>(GgmlType::Q4_K, &Q45_F16, Neon::dot_q4_k_q8_k_vec);
        check_rows_r::<BlockQ4K, 4>(GgmlType::Q4_K, &Q45_F16, Neon::dot_q4_k_q8_k_vec);
        check_rows_r::<BlockQ5K, 1>(GgmlType::Q5_K, &Q45_F16, Neon::dot_q5_k_q8_k_vec);
        check_rows_r::<BlockQ5K, 2>(GgmlType::Q5_K, &Q45_F16, Neon::dot_q5_k_q8_k_vec);
        check_rows_r::<BlockQ5K, 4>(GgmlType::Q5_K, &Q45_F16, Neon::dot_q5_k_q8_k_vec);
        check_rows_r::<BlockQ6K, 1>(GgmlType::Q6_K, &Q6_F16, Neon::dot_q6_k_q8_k_vec);
        check_rows_r::<BlockQ6K, 2>(GgmlType::Q6_K, &Q6_F16, Neon::dot_q6_k_q8_k_vec);
        check_rows_r::<BlockQ6K, 4>(GgmlType::Q6_K, &Q6_F16, Neon::dot_q6_k_q8_k_vec);
    }

    #[test]
    fn vec_rows_refuse_other_types_and_partial_blocks() {
        let t = tokens()[0];
        let mut rng = Rng(3);
        let x: Vec<BlockQ4K> = weights(&mut rng, 2, &Q45_F16);
        let y = acts(&mut rng, 2, true);
        let (w, a) = (bytes(&x), bytes(&y));
        assert!(t.kquant_vec_rows(GgmlType::Q8_0, [w, w], a).is_none());
        assert!(t.kquant_vec_rows(GgmlType::Q4_K, [w, &w[1..]], a).is_none());
        assert!(t.kquant_vec_rows(GgmlType::Q4_K, [w, w], &a[1..]).is_none());
        assert!(t.kquant_vec_rows(GgmlType::Q4_K, [w, w], a).is_some());
    }

    #[test]
    #[should_panic(expected = "same number of blocks")]
    fn vec_rows_mismatched_lengths_panic() {
        let t = tokens()[0];
        let mut rng = Rng(1);
        let x: Vec<BlockQ6K> = weights(&mut rng, 2, &Q6_F16);
        let x3: Vec<BlockQ6K> = weights(&mut rng, 3, &Q6_F16);
        let y = acts(&mut rng, 3, true);
        t.kquant_vec_rows(GgmlType::Q6_K, [bytes(&x3), bytes(&x)], bytes(&y));
    }

    #[test]
    #[should_panic(expected = "same number of blocks")]
    fn mismatched_lengths_panic() {
        let t = tokens()[0];
        let mut rng = Rng(1);
        let x: Vec<BlockQ4K> = weights(&mut rng, 2, &Q45_F16);
        let y = acts(&mut rng, 3, true);
        t.dot_q4_k_q8_k_vec(&x, &y);
    }
}
