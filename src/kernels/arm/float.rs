//! NEON float dot products (F32, F16, BF16 little-endian byte rows), bit-identical to
//! [`crate::kernels::reference::float`]: `ggml_vec_dot_f32` / `_f16` / `_bf16` (AVX2 order: four
//! accumulators of 8 lanes over 32 elements, `(s0 + s2) + (s1 + s3)`, then the reference's
//! horizontal sums and scalar tails) and llamafile tinyBLAS (one 8-lane accumulator, `hsum`).
//!
//! Each 8-lane AVX2 register is two NEON registers (lanes 0..4 and 4..8); every lane gets the
//! reference's FMA chain (`FMLA`, one rounding), so only the horizontal sums need care. F16 is
//! widened with `FCVTL`/`FCVTL2` (exact, as F16C's `vcvtph2ps`; written as `asm!` because the
//! `float16x4_t` intrinsics are not stable in the supported Rust versions), BF16 with `SHLL`
//! (`<< 16`). Rows of different lengths use their common prefix, as the reference does.

use core::arch::aarch64::*;

use super::{f16_to_f32, hsum8, Neon};
use crate::kernels::mathf::fmaf;

/// How one row's elements become f32 lanes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    F32,
    F16,
    Bf16,
}

impl Kind {
    /// Bytes per element.
    fn size(self) -> usize {
        match self {
            Kind::F32 => 4,
            Kind::F16 | Kind::Bf16 => 2,
        }
    }
}

/// Eight f16 (as raw `u16` lanes) widened exactly to f32: lanes 0..4 and 4..8.
#[inline(always)]
fn cvt_f16x8(h: uint16x8_t) -> [float32x4_t; 2] {
    let (lo, hi): (float32x4_t, float32x4_t);
    // SAFETY: `FCVTL`/`FCVTL2` are base Armv8 Advanced SIMD instructions; they only read and
    // write the named registers.
    unsafe {
        core::arch::asm!(
            "fcvtl {lo:v}.4s, {h:v}.4h",
            "fcvtl2 {hi:v}.4s, {h:v}.8h",
            h = in(vreg) h,
            lo = out(vreg) lo,
            hi = out(vreg) hi,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    [lo, hi]
}

/// Eight bf16 (as raw `u16` lanes) widened exactly to f32 (`<< 16`).
#[inline(always)]
fn cvt_bf16x8(h: uint16x8_t) -> [float32x4_t; 2] {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        [
            vreinterpretq_f32_u32(vshll_n_u16::<16>(vget_low_u16(h))),
            vreinterpretq_f32_u32(vshll_high_n_u16::<16>(h)),
        ]
    }
}

/// Elements `i..i + 8` of row `b` as two f32 vectors.
///
/// # Safety
///
/// `b` must hold elements `i..i + 8` (`(i + 8) * kind.size()` bytes).
#[inline(always)]
unsafe fn load8(kind: Kind, b: &[u8], i: usize) -> [float32x4_t; 2] {
    debug_assert!((i + 8) * kind.size() <= b.len());
    // SAFETY: the caller guarantees the bytes; NEON loads have no alignment requirement.
    unsafe {
        let p = b.as_ptr().add(i * kind.size());
        match kind {
            Kind::F32 => [vld1q_f32(p.cast()), vld1q_f32(p.add(16).cast())],
            Kind::F16 => cvt_f16x8(vld1q_u16(p.cast())),
            Kind::Bf16 => cvt_bf16x8(vld1q_u16(p.cast())),
        }
    }
}

/// Elements `from..to` of row `b` as f32 (scalar; exact conversions).
#[inline(always)]
fn elems(kind: Kind, b: &[u8], from: usize, to: usize) -> impl Iterator<Item = f32> + '_ {
    let s = kind.size();
    b[from * s..to * s]
        .chunks_exact(s)
        .map(move |c| match kind {
            Kind::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            Kind::F16 => f16_to_f32([c[0], c[1]]),
            Kind::Bf16 => f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16),
        })
}

/// Number of elements both rows hold.
#[inline(always)]
fn common_len(kind: Kind, x: &[u8], y: &[u8]) -> usize {
    (x.len() / kind.size()).min(y.len() / kind.size())
}

/// The four 8-lane FMA chains over elements `0..np` (`np` a multiple of 32), combined lane-wise
/// as `(acc0 + acc2) + (acc1 + acc3)`.
///
/// # Safety
///
/// Both rows must hold `np` elements.
#[inline(always)]
unsafe fn main_loop32(kind: Kind, x: &[u8], y: &[u8], np: usize) -> [float32x4_t; 2] {
    // SAFETY: NEON is part of every aarch64 target; `i + 32 <= np`, which both rows hold.
    unsafe {
        let mut acc = [[vdupq_n_f32(0.0); 2]; 4];
        let mut i = 0;
        while i < np {
            for (j, a) in acc.iter_mut().enumerate() {
                let vx = load8(kind, x, i + 8 * j);
                let vy = load8(kind, y, i + 8 * j);
                a[0] = vfmaq_f32(a[0], vx[0], vy[0]);
                a[1] = vfmaq_f32(a[1], vx[1], vy[1]);
            }
            i += 32;
        }
        core::array::from_fn(|h| {
            vaddq_f32(
                vaddq_f32(acc[0][h], acc[2][h]),
                vaddq_f32(acc[1][h], acc[3][h]),
            )
        })
    }
}

/// The reference's `reduce_hadd` (`GGML_F32x8_REDUCE`'s two `hadd`s): `t = lo + hi`, then
/// `(t0 + t1) + (t2 + t3)`.
#[inline(always)]
fn reduce_hadd(v: [float32x4_t; 2]) -> f32 {
    // SAFETY: NEON is part of every aarch64 target.
    unsafe {
        let t = vaddq_f32(v[0], v[1]);
        let p = vpaddq_f32(t, t);
        vpadds_f32(vget_low_f32(p))
    }
}

/// `ggml_vec_dot_f32`.
fn vec_f32(x: &[u8], y: &[u8]) -> f32 {
    let n = common_len(Kind::F32, x, y);
    let np = n & !31;
    // SAFETY: both rows hold `n >= np` elements.
    let mut sumf = reduce_hadd(unsafe { main_loop32(Kind::F32, x, y, np) });
    let r = n - np;
    let unfused_end = np + (r - r % 4);
    let pairs = |a, b| elems(Kind::F32, x, a, b).zip(elems(Kind::F32, y, a, b));
    for (a, b) in pairs(np, unfused_end) {
        sumf += a * b;
    }
    for (a, b) in pairs(unfused_end, n) {
        sumf = fmaf(a, b, sumf);
    }
    sumf
}

/// `ggml_vec_dot_f16` and `ggml_vec_dot_bf16` (they differ in the horizontal sum only).
fn vec_16(kind: Kind, x: &[u8], y: &[u8]) -> f32 {
    let n = common_len(kind, x, y);
    let np = n & !31;
    // SAFETY: both rows hold `n >= np` elements.
    let acc = unsafe { main_loop32(kind, x, y, np) };
    let head = match kind {
        Kind::Bf16 => hsum8(acc),
        _ => reduce_hadd(acc),
    };
    let mut sumf = f64::from(head);
    for (a, b) in elems(kind, x, np, n).zip(elems(kind, y, np, n)) {
        sumf += f64::from(a * b);
    }
    sumf as f32
}

/// llamafile tinyBLAS: one 8-lane FMA chain, then `hsum`.
fn tiny(kind: Kind, x: &[u8], y: &[u8]) -> f32 {
    let k = common_len(kind, x, y);
    // SAFETY: NEON is part of every aarch64 target.
    let mut acc = unsafe { [vdupq_n_f32(0.0); 2] };
    let mut l = 0;
    // Unrolled by four (the same chain per lane).
    while l + 32 <= k {
        for j in 0..4 {
            // SAFETY: both rows hold elements `l..l + 32`; NEON as above.
            unsafe {
                let vx = load8(kind, x, l + 8 * j);
                let vy = load8(kind, y, l + 8 * j);
                acc[0] = vfmaq_f32(acc[0], vx[0], vy[0]);
                acc[1] = vfmaq_f32(acc[1], vx[1], vy[1]);
            }
        }
        l += 32;
    }
    while l + 8 <= k {
        // SAFETY: both rows hold elements `l..l + 8`; NEON as above.
        unsafe {
            let vx = load8(kind, x, l);
            let vy = load8(kind, y, l);
            acc[0] = vfmaq_f32(acc[0], vx[0], vy[0]);
            acc[1] = vfmaq_f32(acc[1], vx[1], vy[1]);
        }
        l += 8;
    }
    if l < k {
        // k % 8 != 0 (no llama.cpp path): the reference leaves lanes past `k` untouched.
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` is 8 writable, then readable, f32.
        unsafe {
            vst1q_f32(lanes.as_mut_ptr(), acc[0]);
            vst1q_f32(lanes.as_mut_ptr().add(4), acc[1]);
        }
        for ((s, a), b) in lanes
            .iter_mut()
            .zip(elems(kind, x, l, k))
            .zip(elems(kind, y, l, k))
        {
            *s = fmaf(a, b, *s);
        }
        // SAFETY: as above.
        acc = unsafe { [vld1q_f32(lanes.as_ptr()), vld1q_f32(lanes.as_ptr().add(4))] };
    }
    hsum8(acc)
}

impl Neon {
    /// [`crate::kernels::reference::float::dot_f32_vec_le`] (`ggml_vec_dot_f32`), bit for bit.
    /// Rows of different lengths use their common prefix.
    pub fn dot_f32_vec_le(self, x: &[u8], y: &[u8]) -> f32 {
        vec_f32(x, y)
    }

    /// [`crate::kernels::reference::float::dot_f32_tiny_le`] (llamafile tinyBLAS), bit for bit.
    pub fn dot_f32_tiny_le(self, x: &[u8], y: &[u8]) -> f32 {
        tiny(Kind::F32, x, y)
    }

    /// [`crate::kernels::reference::float::dot_f16_vec`] (`ggml_vec_dot_f16`), bit for bit.
    pub fn dot_f16_vec(self, x: &[u8], y: &[u8]) -> f32 {
        vec_16(Kind::F16, x, y)
    }

    /// [`crate::kernels::reference::float::dot_f16_tiny`] (llamafile tinyBLAS), bit for bit.
    pub fn dot_f16_tiny(self, x: &[u8], y: &[u8]) -> f32 {
        tiny(Kind::F16, x, y)
    }

    /// [`crate::kernels::reference::float::dot_bf16_vec`] (`ggml_vec_dot_bf16`), bit for bit.
    pub fn dot_bf16_vec(self, x: &[u8], y: &[u8]) -> f32 {
        vec_16(Kind::Bf16, x, y)
    }

    /// [`crate::kernels::reference::float::dot_bf16_tiny`] (llamafile tinyBLAS), bit for bit.
    pub fn dot_bf16_tiny(self, x: &[u8], y: &[u8]) -> f32 {
        tiny(Kind::Bf16, x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::arm::tests::tokens;
    use crate::kernels::reference::float as r;
    use crate::kernels::testgen::Rng;
    use alloc::vec::Vec;

    /// A random element of `kind` as little-endian bytes: mostly finite values of moderate
    /// magnitude, sometimes zeros, subnormals, infinities and NaNs (when `special`).
    fn elem_bytes(g: &mut Rng, kind: Kind, special: bool, out: &mut Vec<u8>) {
        let r = g.next_u64();
        let pick = if special { (r >> 56) % 40 } else { 99 };
        let f32_bits = match pick {
            0 => 0,
            1 => 0x8000_0000,
            2 => 0x7f80_0000,
            3 => 0xff80_0000,
            4 => 0x7fc0_0000 | (r as u32 & 0x3f_ffff),
            5 => 0x0000_0001 | (r as u32 & 0x7f_ffff),
            _ => {
                let exp = 100 + (r >> 40) % 54;
                ((r & 1) << 31 | exp << 23 | (r >> 1) & 0x7f_ffff) as u32
            }
        };
        match kind {
            Kind::F32 => out.extend_from_slice(&f32_bits.to_le_bytes()),
            Kind::Bf16 => out.extend_from_slice(&f32_bits.to_le_bytes()[2..]),
            Kind::F16 => {
                let h: u16 = match pick {
                    0 => 0,
                    1 => 0x8000,
                    2 => 0x7c00,
                    3 => 0xfc00,
                    4 => 0x7e00 | (r as u16 & 0x1ff),
                    5 => 0x0001 | (r as u16 & 0x3ff),
                    _ => {
                        let exp = (r >> 20) % 31;
                        ((r & 1) << 15 | exp << 10 | (r >> 1) & 0x3ff) as u16
                    }
                };
                out.extend_from_slice(&h.to_le_bytes());
            }
        }
    }

    fn row(g: &mut Rng, kind: Kind, n: usize, special: bool) -> Vec<u8> {
        let mut v = Vec::with_capacity(n * kind.size());
        for _ in 0..n {
            elem_bytes(g, kind, special, &mut v);
        }
        v
    }

    type Pair = (fn(Neon, &[u8], &[u8]) -> f32, fn(&[u8], &[u8]) -> f32);

    fn funcs() -> [(&'static str, Kind, Pair); 6] {
        [
            (
                "f32 vec",
                Kind::F32,
                (Neon::dot_f32_vec_le, r::dot_f32_vec_le),
            ),
            (
                "f32 tiny",
                Kind::F32,
                (Neon::dot_f32_tiny_le, r::dot_f32_tiny_le),
            ),
            ("f16 vec", Kind::F16, (Neon::dot_f16_vec, r::dot_f16_vec)),
            ("f16 tiny", Kind::F16, (Neon::dot_f16_tiny, r::dot_f16_tiny)),
            (
                "bf16 vec",
                Kind::Bf16,
                (Neon::dot_bf16_vec, r::dot_bf16_vec),
            ),
            (
                "bf16 tiny",
                Kind::Bf16,
                (Neon::dot_bf16_tiny, r::dot_bf16_tiny),
            ),
        ]
    }

    /// Equal bits; NaN results only need to be NaN both: which input NaN's payload and sign an
    /// operation passes on is not defined by the reference (Rust leaves it to the compiler,
    /// which may swap the operands of `+` or of an FMA's product; RFC 3514), nor the same on x86.
    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn float_dots_match_reference_for_every_length() {
        let mut g = Rng(0xdead_beef);
        for t in tokens() {
            for (name, kind, (fast, slow)) in funcs() {
                let tiny = name.ends_with("tiny");
                for n in (0..=100).chain([128, 255, 256, 1000, 4096]) {
                    // The reference tinyBLAS debug-asserts k % 8 == 0 (the only llama.cpp case).
                    if tiny && cfg!(debug_assertions) && n % 8 != 0 {
                        continue;
                    }
                    for round in 0..6 {
                        let special = round >= 4;
                        let x = row(&mut g, kind, n, special);
                        let y = row(&mut g, kind, n, special);
                        let (a, b) = (fast(t, &x, &y), slow(&x, &y));
                        assert!(
                            if special {
                                same(a, b)
                            } else {
                                a.to_bits() == b.to_bits()
                            },
                            "{name} n={n} round {round}: {a:e} vs {b:e}"
                        );
                        // Unaligned rows, a trailing odd byte, a longer second row.
                        let mut xo = alloc::vec![0u8];
                        xo.extend_from_slice(&x);
                        xo.push(0x55);
                        let mut yl = y.clone();
                        yl.extend_from_slice(&[0x11; 40]);
                        let (a, b) = (fast(t, &xo[1..], &yl), slow(&xo[1..], &yl));
                        assert!(
                            same(a, b) && (special || a.to_bits() == b.to_bits()),
                            "{name} n={n} round {round} unaligned: {a:e} vs {b:e}"
                        );
                    }
                }
            }
        }
    }
}
