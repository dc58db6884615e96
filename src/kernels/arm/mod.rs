//! NEON kernels for aarch64 (feature `neon`): the float operation order of
//! [`super::reference`] (which is llama.cpp's x86 AVX2 order, the order the goldens hold), so
//! results are bit-identical to the scalar reference and to llama.cpp's x86 build.
//!
//! [`Neon`] is a capability token. NEON itself is part of every aarch64 target; the token
//! exists unless `LLAMETTE_SCALAR=1` (under `std`) forces the scalar reference. It also records
//! whether the CPU has the `dotprod` extension (`SDOT`, Armv8.2+: Apple M1 and later, Cortex-A55
//! / A76 and later; not the Raspberry Pi 3's Cortex-A53), detected at run time under `std`
//! (`LLAMETTE_NO_DOTPROD=1` withholds it) and at compile time without `std`.
//!
//! Integer dot products go through [`Dot4`]: lane `k` of `dot4(acc, a, b)` is `acc[k]` plus
//! the four products `a[4k..4k+4] * b[4k..4k+4]`, exact in i32. [`Sdot`] is one `SDOT`
//! instruction; [`Plain`] is two widening multiplies and pairwise adds (exact for every i8
//! input: `|-128 * -128|` fits i16). AVX2's `maddubs` + `madd` lanes are sums of four
//! consecutive products too, so both give the reference's lane integers. Kernels are written
//! once, generic over [`Dot4`], and entered through [`Neon::dispatch`], which runs the `SDOT`
//! instance inside a `#[target_feature(enable = "dotprod")]` function.

pub mod float;
pub mod kquants;
pub mod kquants_low;
pub mod legacy;
pub mod math;
pub mod quantize;

use core::arch::aarch64::*;

/// Proof that NEON may be used (always on aarch64, unless forced off), and whether `SDOT` may.
#[derive(Debug, Clone, Copy)]
pub struct Neon {
    dotprod: bool,
}

/// What detection found, once per process.
#[derive(Clone, Copy)]
struct Detected {
    neon: bool,
    dotprod: bool,
}

impl Neon {
    /// The token, unless `LLAMETTE_SCALAR=1` is set (under `std`). Checked once.
    pub fn new() -> Option<Neon> {
        static DETECTED: spin::Once<Detected> = spin::Once::new();
        let d = *DETECTED.call_once(detect);
        d.neon.then_some(Neon { dotprod: d.dotprod })
    }

    /// Whether the `SDOT` kernels will be used.
    pub fn has_dotprod(self) -> bool {
        self.dotprod
    }

    /// The same token with `SDOT` withheld: the plain NEON kernels (tests compare both).
    pub fn plain(self) -> Neon {
        Neon { dotprod: false }
    }

    /// Runs `k` with [`Sdot`] when the CPU has `dotprod`, else with [`Plain`].
    #[inline(always)]
    pub(crate) fn dispatch<K: Dot4Kernel>(self, k: K) -> K::Output {
        if self.dotprod {
            // SAFETY: `dotprod` was detected (the only way `self.dotprod` is true).
            unsafe { run_sdot(k) }
        } else {
            k.run(Plain)
        }
    }
}

/// `k.run(Sdot)` compiled with `dotprod` enabled, so [`Sdot::dot4`] inlines.
///
/// # Safety
///
/// The CPU must have the `dotprod` extension.
#[target_feature(enable = "dotprod")]
unsafe fn run_sdot<K: Dot4Kernel>(k: K) -> K::Output {
    k.run(Sdot)
}

#[cfg(feature = "std")]
fn detect() -> Detected {
    let on = |name: &str| std::env::var_os(name).is_some_and(|v| v == "1");
    let neon = !on("LLAMETTE_SCALAR") && cfg!(target_feature = "neon");
    let dotprod =
        neon && !on("LLAMETTE_NO_DOTPROD") && std::arch::is_aarch64_feature_detected!("dotprod");
    Detected { neon, dotprod }
}

#[cfg(not(feature = "std"))]
fn detect() -> Detected {
    Detected {
        neon: cfg!(target_feature = "neon"),
        dotprod: cfg!(target_feature = "neon") && cfg!(target_feature = "dotprod"),
    }
}

/// Four-product integer lanes (see the module documentation).
pub(crate) trait Dot4: Copy {
    /// Whether accumulating into a running sum is as cheap as into a fresh zero (true for
    /// `SDOT`; LLVM turns [`Plain`]'s accumulating pairwise adds into longer sequences). Only
    /// speed depends on it: kernels choose how to weight sub-blocks by scales.
    const CHAINS: bool;

    /// `acc[k] + sum(a[4k + i] * b[4k + i] for i in 0..4)` for `k` in 0..4, exact.
    ///
    /// # Safety
    ///
    /// The implementation's CPU feature must be present ([`Sdot`]: `dotprod`; [`Plain`]:
    /// none beyond NEON).
    unsafe fn dot4(self, acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t;
}

/// [`Dot4`] without `SDOT`: widening multiplies and pairwise adds (5 instructions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plain;

/// [`Dot4`] as one `SDOT` (needs `dotprod`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sdot;

impl Dot4 for Plain {
    const CHAINS: bool = false;

    #[inline(always)]
    unsafe fn dot4(self, acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: NEON is part of every aarch64 target.
        unsafe {
            let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
            let hi = vmull_high_s8(a, b);
            vaddq_s32(acc, vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)))
        }
    }
}

impl Dot4 for Sdot {
    const CHAINS: bool = true;

    #[inline]
    #[target_feature(enable = "dotprod")]
    unsafe fn dot4(self, acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // SAFETY: `SDOT` (vector, by element groups of four) exists with `dotprod`, which the
        // caller guarantees; it only reads and writes the named registers.
        unsafe {
            core::arch::asm!(
                "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                acc = inout(vreg) acc,
                a = in(vreg) a,
                b = in(vreg) b,
                options(pure, nomem, nostack, preserves_flags)
            );
        }
        acc
    }
}

/// A kernel written once for both [`Dot4`] implementations; see [`Neon::dispatch`].
pub(crate) trait Dot4Kernel {
    /// What the kernel returns.
    type Output;
    /// Runs the kernel with `d`'s integer products.
    fn run<D: Dot4>(self, d: D) -> Self::Output;
}

/// `hsum_float_8` of the eight lanes `acc[0]` (0..4) and `acc[1]` (4..8):
/// `((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7))`, the AVX2 kernels' final reduction.
#[inline(always)]
pub(crate) fn hsum8(acc: [float32x4_t; 2]) -> f32 {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        let s = vaddq_f32(acc[1], acc[0]);
        let t = vadd_f32(vget_low_f32(s), vget_high_f32(s));
        vget_lane_f32::<0>(t) + vget_lane_f32::<1>(t)
    }
}

/// `acc = fma(lanes as f32, d, acc)` on both halves of eight lanes (AVX2's
/// `_mm256_fmadd_ps(d, cvt(lanes), acc)`: one rounding per lane).
#[inline(always)]
pub(crate) fn fma_lanes(acc: &mut [float32x4_t; 2], d: f32, lanes: [int32x4_t; 2]) {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        let d = vdupq_n_f32(d);
        acc[0] = vfmaq_f32(acc[0], vcvtq_f32_s32(lanes[0]), d);
        acc[1] = vfmaq_f32(acc[1], vcvtq_f32_s32(lanes[1]), d);
    }
}

/// An f16 (little-endian bytes) as f32: `FCVT` (base Armv8 floating point), exact like
/// `half`'s conversion and F16C's `vcvtph2ps`, NaN payloads included.
#[inline(always)]
pub(crate) fn f16_to_f32(b: [u8; 2]) -> f32 {
    let bits = u32::from(u16::from_le_bytes(b));
    let out: f32;
    // SAFETY: `FMOV` and `FCVT` are base Armv8 floating-point instructions; they only touch the
    // named registers.
    unsafe {
        core::arch::asm!(
            "fmov {v:s}, {w:w}",
            "fcvt {v:s}, {v:h}",
            w = in(reg) bits,
            v = out(vreg) out,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}

/// Panics unless the weight row `x` and the activation row `y` have the same number of blocks.
#[inline(always)]
pub(crate) fn check<X, Y>(x: &[X], y: &[Y]) {
    crate::kernels::tile_blocks(&[x], &[y]);
}

/// The f32 scale `d` of a Q8_K block.
#[inline(always)]
pub(crate) fn q8k_d(y: &crate::quant::k_quants::BlockQ8K) -> f32 {
    f32::from_le_bytes(y.d)
}

/// `fmaf(a, b, c)` with one rounding: one `FMADD` (also without `std`, where
/// [`crate::kernels::mathf::fmaf`] is a software routine).
#[inline(always)]
pub(crate) fn fma1(a: f32, b: f32, c: f32) -> f32 {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe { vget_lane_f32::<0>(vfma_n_f32(vdup_n_f32(c), vdup_n_f32(a), b)) }
}

/// The K-quant tiled path's float step (reference `tiled_step`): `res = d0 * s1`, then with a
/// minimum `res = fma(-dmin0, s2, res)`, then `fma(res, d1, acc)`.
#[inline(always)]
pub(crate) fn tiled_step(acc: f32, d0: f32, s1: i32, min: Option<(f32, i32)>, d1: f32) -> f32 {
    let mut res = d0 * s1 as f32;
    if let Some((dmin0, s2)) = min {
        res = fma1(-dmin0, s2 as f32, res);
    }
    fma1(res, d1, acc)
}

/// Eight zero f32 lanes.
#[inline(always)]
pub(crate) fn zero8() -> [float32x4_t; 2] {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe { [vdupq_n_f32(0.0); 2] }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The token for the kernel tests: both variants to check, the `SDOT` one first. Fails
    /// (never skips) when `dotprod` is missing, unless `LLAMETTE_NO_DOTPROD=1` says to test the
    /// plain kernels only (qemu's default CPU and every Armv8.2+ core have it).
    pub(crate) fn tokens() -> alloc::vec::Vec<Neon> {
        let t = Neon::new().expect("NEON is part of every aarch64 target (LLAMETTE_SCALAR unset)");
        let plain_only = std::env::var_os("LLAMETTE_NO_DOTPROD").is_some_and(|v| v == "1");
        assert!(
            t.has_dotprod() || plain_only,
            "this CPU has no dotprod: set LLAMETTE_NO_DOTPROD=1 to test the plain NEON kernels only"
        );
        if plain_only {
            alloc::vec![t]
        } else {
            alloc::vec![t, t.plain()]
        }
    }

    struct Lanes<'a>(&'a [i8; 16], &'a [i8; 16], [i32; 4]);
    impl Dot4Kernel for Lanes<'_> {
        type Output = [i32; 4];
        fn run<D: Dot4>(self, d: D) -> [i32; 4] {
            let mut out = [0i32; 4];
            // SAFETY: `d` came from `dispatch`, which checked its feature; 16-byte loads and a
            // 4-lane store within the arrays.
            unsafe {
                let v = d.dot4(
                    vld1q_s32(self.2.as_ptr()),
                    vld1q_s8(self.0.as_ptr()),
                    vld1q_s8(self.1.as_ptr()),
                );
                vst1q_s32(out.as_mut_ptr(), v);
            }
            out
        }
    }

    #[test]
    fn f16_to_f32_equals_half_for_every_bit_pattern() {
        for bits in 0..=u16::MAX {
            let b = bits.to_le_bytes();
            let want = crate::quant::f16_le(b);
            assert_eq!(
                f16_to_f32(b).to_bits(),
                want.to_bits(),
                "f16 bits {bits:#06x}"
            );
        }
    }

    #[test]
    fn dot4_gives_exact_four_product_lanes_for_every_i8() {
        let mut rng = crate::kernels::testgen::Rng(77);
        for t in tokens() {
            for round in 0..2000 {
                let mut a = [0u8; 16];
                let mut b = [0u8; 16];
                rng.fill(&mut a);
                rng.fill(&mut b);
                if round % 5 == 0 {
                    a = [0x80; 16];
                    b = [0x80; 16];
                }
                let a: [i8; 16] = a.map(|v| v as i8);
                let b: [i8; 16] = b.map(|v| v as i8);
                let acc = [rng.next_u64() as i32 >> 2, -7, 1 << 20, 0];
                let want: [i32; 4] = core::array::from_fn(|k| {
                    acc[k]
                        + (0..4)
                            .map(|i| a[4 * k + i] as i32 * b[4 * k + i] as i32)
                            .sum::<i32>()
                });
                assert_eq!(
                    t.dispatch(Lanes(&a, &b, acc)),
                    want,
                    "dotprod {}",
                    t.has_dotprod()
                );
            }
        }
    }
}
