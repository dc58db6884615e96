//! NEON dot products of the legacy formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 weights against Q8_0 /
//! Q8_1 activations), bit-identical to [`crate::kernels::reference::legacy`]'s `*_vec` (which
//! are also its `*_tiny`): llama.cpp's AVX2 order.
//!
//! Per block, the AVX2 kernel forms eight i32 lanes, lane `l` the sum of the products of
//! elements `4l..4l+4`, which is what [`Dot4`] gives on the two 16-element halves; then
//! `acc = fma(d, lanes, acc)` with `d = f16(x.d) * f16(y.d)` and `hsum_float_8` at the end
//! (plus the `summs = fma(f16(x.m), f16(y.s), summs)` chain for Q4_1 / Q5_1).
//!
//! **Activations without -128.** For the signed formats AVX2 multiplies `|x|` by
//! `sign(y, x)`, whose 8-bit negation wraps `-(-128)` to -128; that differs from the true product
//! `x * y` only when an activation quant is -128 (and the weight negative). This crate's
//! quantizers never produce -128 (Q8_0 / Q8_1 quants lie in -127..=127), so these kernels use the
//! true product; for activation rows that do contain -128 they may differ from the reference.
//! The unsigned formats (Q4_1, Q5_1) are exact for every input.
//!
//! [`Neon::legacy_tile`] computes `R` weight rows against `T` activation rows at once (each
//! output the same operations as its single dot product): a weight block is unpacked once for
//! `T` tokens and an activation block loaded once for `R` rows.

use core::arch::aarch64::*;

use super::{check, f16_to_f32, fma1, fma_lanes, hsum8, zero8, Dot4, Dot4Kernel, Neon};
use crate::kernels::rows_as;
use crate::quant::{
    Block, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1, GgmlType,
};

/// An activation block (Q8_0 or Q8_1): scale and quants.
trait Act: Block {
    fn d(&self) -> [u8; 2];
    fn qs(&self) -> &[i8; 32];
}

impl Act for BlockQ8_0 {
    #[inline(always)]
    fn d(&self) -> [u8; 2] {
        self.d
    }
    #[inline(always)]
    fn qs(&self) -> &[i8; 32] {
        &self.qs
    }
}

impl Act for BlockQ8_1 {
    #[inline(always)]
    fn d(&self) -> [u8; 2] {
        self.d
    }
    #[inline(always)]
    fn qs(&self) -> &[i8; 32] {
        &self.qs
    }
}

/// A legacy weight block: its activation partner and its 32 quants as two vectors (the AVX2
/// element order: for nibble formats the low nibbles of `qs` first, then the high ones).
trait Weight: Block {
    type Act: Act;
    /// Scale.
    fn d(&self) -> [u8; 2];
    /// Whether the format has a minimum (Q4_1, Q5_1).
    const MIN: bool;
    /// The minimum and the activation's `s` (only called when [`Weight::MIN`]).
    fn min(&self, y: &Self::Act) -> ([u8; 2], [u8; 2]);
    /// The quants (signed for Q4_0 / Q5_0 / Q8_0, 0..=31 for Q4_1 / Q5_1).
    fn quants(&self) -> [int8x16_t; 2];
}

/// Sixteen bytes as a vector.
#[inline(always)]
fn load16(b: &[u8; 16]) -> uint8x16_t {
    // SAFETY: 16 readable bytes; NEON loads have no alignment requirement.
    unsafe { vld1q_u8(b.as_ptr()) }
}

/// Low nibbles, then high nibbles.
#[inline(always)]
fn nibbles(qs: &[u8; 16]) -> [uint8x16_t; 2] {
    let v = load16(qs);
    // SAFETY: NEON is part of every aarch64 target.
    unsafe { [vandq_u8(v, vdupq_n_u8(0x0f)), vshrq_n_u8::<4>(v)] }
}

/// The 32 bits of `qh` as 32 byte masks (0xFF where bit `j` is set), element `j` at byte `j`
/// (`bytes_from_bits_32`).
#[inline(always)]
fn high_bits(qh: [u8; 4]) -> [uint8x16_t; 2] {
    const BITS: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    // SAFETY: NEON is part of every aarch64 target; 16-byte table load.
    unsafe {
        let bits = vld1q_u8(BITS.as_ptr());
        let h = vreinterpret_u8_u32(vdup_n_u32(u32::from_le_bytes(qh)));
        // Bytes 0,0,..,1,1,.. and 2,2,..,3,3,..: each qh byte under its eight elements.
        let lo = vcombine_u8(vdup_lane_u8::<0>(h), vdup_lane_u8::<1>(h));
        let hi = vcombine_u8(vdup_lane_u8::<2>(h), vdup_lane_u8::<3>(h));
        [vtstq_u8(lo, bits), vtstq_u8(hi, bits)]
    }
}

impl Weight for BlockQ4_0 {
    type Act = BlockQ8_0;
    #[inline(always)]
    fn d(&self) -> [u8; 2] {
        self.d
    }
    const MIN: bool = false;
    #[inline(always)]
    fn min(&self, _: &BlockQ8_0) -> ([u8; 2], [u8; 2]) {
        ([0; 2], [0; 2])
    }
    #[inline(always)]
    fn quants(&self) -> [int8x16_t; 2] {
        let [lo, hi] = nibbles(&self.qs);
        // SAFETY: NEON is part of every aarch64 target.
        unsafe {
            let eight = vdupq_n_s8(8);
            [
                vsubq_s8(vreinterpretq_s8_u8(lo), eight),
                vsubq_s8(vreinterpretq_s8_u8(hi), eight),
            ]
        }
    }
}

impl Weight for BlockQ5_0 {
    type Act = BlockQ8_0;
    #[inline(always)]
    fn d(&self) -> [u8; 2] {
        self.d
    }
    const MIN: bool = false;
    #[inline(always)]
    fn min(&self, _: &BlockQ8_0) -> ([u8; 2], [u8; 2]) {
        ([0; 2], [0; 2])
    }
    /// `nibble | (bit ? 0 : 0xF0)` as i8.
    #[inline(always)]
    fn quants(&self) -> [int8x16_t; 2] {
        let n = nibbles(&self.qs);
        let h = high_bits(self.qh);
        // SAFETY: NEON is part of every aarch64 target.
        unsafe {
            let f0 = vdupq_n_u8(0xf0);
            [
                vreinterpretq_s8_u8(vorrq_u8(n[0], vbicq_u8(f0, h[0]))),
                vreinterpretq_s8_u8(vorrq_u8(n[1], vbicq_u8(f0, h[1]))),
            ]
        }
    }
}

impl Weight for BlockQ8_0 {
    type Act = BlockQ8_0;
    #[inline(always)]
    fn d(&self) -> [u8; 2] {
        self.d
    }
    const MIN: bool = false;
    #[inline(always)]
    fn min(&self, _: &BlockQ8_0) -> ([u8; 2], [u8; 2]) {
        ([0; 2], [0; 2])
    }
    #[inline(always)]
    fn quants(&self) -> [int8x16_t; 2] {
        act(&self.qs)
    }
}

impl Weight for BlockQ4_1 {
    type Act = BlockQ8_1;
    #[inline(always)]
    fn d(&self) -> [u8; 2] {
        self.d
    }
    const MIN: bool = true;
    #[inline(always)]
    fn min(&self, y: &BlockQ8_1) -> ([u8; 2], [u8; 2]) {
        (self.m, y.s)
    }
    #[inline(always)]
    fn quants(&self) -> [int8x16_t; 2] {
        // SAFETY: NEON is part of every aarch64 target.
        nibbles(&self.qs).map(|v| unsafe { vreinterpretq_s8_u8(v) })
    }
}

impl Weight for BlockQ5_1 {
    type Act = BlockQ8_1;
    #[inline(always)]
    fn d(&self) -> [u8; 2] {
        self.d
    }
    const MIN: bool = true;
    #[inline(always)]
    fn min(&self, y: &BlockQ8_1) -> ([u8; 2], [u8; 2]) {
        (self.m, y.s)
    }
    /// `nibble | (bit ? 0x10 : 0)`.
    #[inline(always)]
    fn quants(&self) -> [int8x16_t; 2] {
        let n = nibbles(&self.qs);
        let h = high_bits(self.qh);
        // SAFETY: NEON is part of every aarch64 target.
        unsafe {
            let x10 = vdupq_n_u8(0x10);
            [
                vreinterpretq_s8_u8(vorrq_u8(n[0], vandq_u8(h[0], x10))),
                vreinterpretq_s8_u8(vorrq_u8(n[1], vandq_u8(h[1], x10))),
            ]
        }
    }
}

/// The activations' two halves.
#[inline(always)]
fn act(qs: &[i8; 32]) -> [int8x16_t; 2] {
    // SAFETY: 32 readable bytes.
    unsafe { [vld1q_s8(qs.as_ptr()), vld1q_s8(qs.as_ptr().add(16))] }
}

/// `R` weight rows against `T` activation rows (see the module documentation).
struct Tile<'a, X: Weight, const R: usize, const T: usize> {
    x: [&'a [X]; R],
    y: [&'a [X::Act]; T],
}

impl<X: Weight, const R: usize, const T: usize> Dot4Kernel for Tile<'_, X, R, T> {
    type Output = [[f32; T]; R];

    #[inline(always)]
    fn run<D: Dot4>(self, d: D) -> [[f32; T]; R] {
        let nb = crate::kernels::tile_blocks(&self.x, &self.y);
        // Re-sliced to `nb` so the compiler drops the bounds checks below.
        let (x, y) = (self.x.map(|x| &x[..nb]), self.y.map(|y| &y[..nb]));
        let mut acc = [[zero8(); T]; R];
        let mut summs = [[0f32; T]; R];
        for i in 0..nb {
            let ya: [[int8x16_t; 2]; T] = core::array::from_fn(|t| act(y[t][i].qs()));
            let yd: [f32; T] = core::array::from_fn(|t| f16_to_f32(y[t][i].d()));
            for r in 0..R {
                let xb = &x[r][i];
                let q = xb.quants();
                let xd = f16_to_f32(xb.d());
                for t in 0..T {
                    // SAFETY: `d` came from `Neon::dispatch`, which checked its CPU feature.
                    let lanes = unsafe {
                        let z = vdupq_n_s32(0);
                        [d.dot4(z, q[0], ya[t][0]), d.dot4(z, q[1], ya[t][1])]
                    };
                    if X::MIN {
                        let (m, s) = xb.min(&y[t][i]);
                        summs[r][t] = fma1(f16_to_f32(m), f16_to_f32(s), summs[r][t]);
                    }
                    fma_lanes(&mut acc[r][t], xd * yd[t], lanes);
                }
            }
        }
        core::array::from_fn(|r| {
            core::array::from_fn(|t| {
                let h = hsum8(acc[r][t]);
                // Q4_1 / Q5_1 add their minimums' chain after the horizontal sum; 0.0 added to
                // the others would turn -0.0 into +0.0.
                if X::MIN {
                    h + summs[r][t]
                } else {
                    h
                }
            })
        })
    }
}

impl Neon {
    /// One legacy dot product (`R = T = 1`).
    #[inline(always)]
    fn dot1<X: Weight>(self, x: &[X], y: &[X::Act]) -> f32 {
        check(x, y);
        self.dispatch(Tile { x: [x], y: [y] })[0][0]
    }

    /// `R` weight rows (`ty` one of Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, as row bytes) against `T`
    /// activation rows in the partner format, produced by this crate's quantizer (no -128
    /// quant, see the module documentation): `out[r][t]` equals the single dot product of the
    /// pair bit for bit. `None` for other types or rows that are not whole blocks.
    ///
    /// Panics if the rows differ in length.
    pub fn legacy_tile<const R: usize, const T: usize>(
        self,
        ty: GgmlType,
        w: [&[u8]; R],
        a: [&[u8]; T],
    ) -> Option<[[f32; T]; R]> {
        Some(match ty {
            GgmlType::Q4_0 => self.dispatch(Tile::<BlockQ4_0, R, T> {
                x: rows_as(w)?,
                y: rows_as(a)?,
            }),
            GgmlType::Q5_0 => self.dispatch(Tile::<BlockQ5_0, R, T> {
                x: rows_as(w)?,
                y: rows_as(a)?,
            }),
            GgmlType::Q8_0 => self.dispatch(Tile::<BlockQ8_0, R, T> {
                x: rows_as(w)?,
                y: rows_as(a)?,
            }),
            GgmlType::Q4_1 => self.dispatch(Tile::<BlockQ4_1, R, T> {
                x: rows_as(w)?,
                y: rows_as(a)?,
            }),
            GgmlType::Q5_1 => self.dispatch(Tile::<BlockQ5_1, R, T> {
                x: rows_as(w)?,
                y: rows_as(a)?,
            }),
            _ => return None,
        })
    }

    /// [`crate::kernels::reference::legacy::dot_q4_0_q8_0_vec`] (and `_tiny`), bit for bit for
    /// activations without -128 quants (module documentation).
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q4_0_q8_0(self, x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
        self.dot1(x, y)
    }

    /// [`crate::kernels::reference::legacy::dot_q5_0_q8_0_vec`] (and `_tiny`), bit for bit for
    /// activations without -128 quants (module documentation).
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q5_0_q8_0(self, x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
        self.dot1(x, y)
    }

    /// [`crate::kernels::reference::legacy::dot_q8_0_q8_0_vec`] (and `_tiny`), bit for bit for
    /// activations without -128 quants (module documentation).
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q8_0_q8_0(self, x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
        self.dot1(x, y)
    }

    /// [`crate::kernels::reference::legacy::dot_q4_1_q8_1_vec`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q4_1_q8_1(self, x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
        self.dot1(x, y)
    }

    /// [`crate::kernels::reference::legacy::dot_q5_1_q8_1_vec`], bit for bit.
    ///
    /// Panics if `x` and `y` differ in length.
    pub fn dot_q5_1_q8_1(self, x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
        self.dot1(x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::arm::tests::tokens;
    use crate::kernels::reference::legacy as r;
    use crate::kernels::testgen::Rng;
    use crate::quant::{as_blocks, block_bytes};
    use alloc::vec::Vec;

    /// Random blocks: random quant bytes (0x80 often, but never in activations when
    /// `act` is set: module documentation), random finite f16 scales at `f16_at`.
    fn blocks<B: Block + Clone>(rng: &mut Rng, n: usize, f16_at: &[usize], act: bool) -> Vec<B> {
        let size = core::mem::size_of::<B>();
        let mut bytes = alloc::vec![0u8; n * size];
        rng.fill(&mut bytes);
        for b in bytes.chunks_exact_mut(size) {
            for q in b.iter_mut() {
                if rng.next_u64().is_multiple_of(10) {
                    *q = 0x80;
                }
                if act && *q == 0x80 {
                    *q = 0x81;
                }
            }
            for &f in f16_at {
                b[f..f + 2].copy_from_slice(&rng.f16());
            }
        }
        as_blocks::<B>(&bytes).unwrap().to_vec()
    }

    macro_rules! check {
        ($t:expr, $rng:expr, $n:expr, $X:ty, $xf:expr, $Y:ty, $yf:expr, $neon:ident, $refr:path) => {{
            let x: Vec<$X> = blocks($rng, $n, &$xf, false);
            let y: Vec<$Y> = blocks($rng, $n, &$yf, true);
            let (a, b) = ($t.$neon(&x, &y), $refr(&x, &y));
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "{} n={} dotprod={}: {a} vs {b}",
                stringify!($neon),
                $n,
                $t.has_dotprod()
            );
        }};
    }

    #[test]
    fn legacy_dots_equal_the_reference_for_every_length() {
        let mut rng = Rng(5);
        for t in tokens() {
            for round in 0..300 {
                let n = round % 13;
                let rng = &mut rng;
                check!(
                    t,
                    rng,
                    n,
                    BlockQ4_0,
                    [0],
                    BlockQ8_0,
                    [0],
                    dot_q4_0_q8_0,
                    r::dot_q4_0_q8_0_vec
                );
                check!(
                    t,
                    rng,
                    n,
                    BlockQ5_0,
                    [0],
                    BlockQ8_0,
                    [0],
                    dot_q5_0_q8_0,
                    r::dot_q5_0_q8_0_vec
                );
                check!(
                    t,
                    rng,
                    n,
                    BlockQ8_0,
                    [0],
                    BlockQ8_0,
                    [0],
                    dot_q8_0_q8_0,
                    r::dot_q8_0_q8_0_vec
                );
                check!(
                    t,
                    rng,
                    n,
                    BlockQ4_1,
                    [0, 2],
                    BlockQ8_1,
                    [0, 2],
                    dot_q4_1_q8_1,
                    r::dot_q4_1_q8_1_vec
                );
                check!(
                    t,
                    rng,
                    n,
                    BlockQ5_1,
                    [0, 2],
                    BlockQ8_1,
                    [0, 2],
                    dot_q5_1_q8_1,
                    r::dot_q5_1_q8_1_vec
                );
            }
        }
    }

    #[test]
    fn unsigned_formats_are_exact_with_minus_128_activations_too() {
        let mut rng = Rng(6);
        for t in tokens() {
            for n in 0..40 {
                let x: Vec<BlockQ5_1> = blocks(&mut rng, n % 9, &[0, 2], false);
                let mut y: Vec<BlockQ8_1> = blocks(&mut rng, n % 9, &[0, 2], true);
                for b in &mut y {
                    b.qs[n % 32] = -128;
                }
                let (a, b) = (t.dot_q5_1_q8_1(&x, &y), r::dot_q5_1_q8_1_vec(&x, &y));
                assert_eq!(a.to_bits(), b.to_bits(), "n={n}: {a} vs {b}");
            }
        }
    }

    /// `R x T` tiles against the single dot products, for every type.
    fn tile_case<const R: usize, const T: usize>(t: Neon, rng: &mut Rng, n: usize) {
        use GgmlType::*;
        for (ty, f16w, f16a) in [
            (Q4_0, &[0][..], &[0][..]),
            (Q5_0, &[0], &[0]),
            (Q8_0, &[0], &[0]),
            (Q4_1, &[0, 2], &[0, 2]),
            (Q5_1, &[0, 2], &[0, 2]),
        ] {
            let w: [Vec<u8>; R] = core::array::from_fn(|_| match ty {
                Q4_0 => block_bytes(&blocks::<BlockQ4_0>(rng, n, f16w, false)).to_vec(),
                Q5_0 => block_bytes(&blocks::<BlockQ5_0>(rng, n, f16w, false)).to_vec(),
                Q8_0 => block_bytes(&blocks::<BlockQ8_0>(rng, n, f16w, false)).to_vec(),
                Q4_1 => block_bytes(&blocks::<BlockQ4_1>(rng, n, f16w, false)).to_vec(),
                _ => block_bytes(&blocks::<BlockQ5_1>(rng, n, f16w, false)).to_vec(),
            });
            let a: [Vec<u8>; T] = core::array::from_fn(|_| match ty {
                Q4_1 | Q5_1 => block_bytes(&blocks::<BlockQ8_1>(rng, n, f16a, true)).to_vec(),
                _ => block_bytes(&blocks::<BlockQ8_0>(rng, n, f16a, true)).to_vec(),
            });
            let got = t
                .legacy_tile(
                    ty,
                    w.each_ref().map(|v| &v[..]),
                    a.each_ref().map(|v| &v[..]),
                )
                .unwrap();
            for r in 0..R {
                for j in 0..T {
                    let want = crate::kernels::dot_reference(
                        ty,
                        crate::kernels::Path::VecDot,
                        &w[r],
                        &a[j],
                    );
                    assert_eq!(
                        got[r][j].to_bits(),
                        want.to_bits(),
                        "{ty:?} {R}x{T} n={n} r={r} t={j} dotprod={}",
                        t.has_dotprod()
                    );
                }
            }
        }
    }

    #[test]
    fn tiles_equal_the_single_products() {
        let mut rng = Rng(8);
        for t in tokens() {
            for n in [0, 1, 2, 5, 8] {
                tile_case::<4, 1>(t, &mut rng, n);
                tile_case::<4, 2>(t, &mut rng, n);
                tile_case::<2, 4>(t, &mut rng, n);
                tile_case::<1, 3>(t, &mut rng, n);
            }
        }
    }
}
