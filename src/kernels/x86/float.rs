//! AVX2 float dot products (F32, F16, BF16 little-endian byte rows), bit-identical to
//! [`crate::kernels::reference::float`] (llama.cpp's `ggml_vec_dot_*` and llamafile tinyBLAS
//! orders; see the reference docs). All loads are unaligned.

use core::arch::x86_64::*;

use super::Avx2;

/// How one row's elements become 8 f32 lanes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    F32,
    F16,
    Bf16,
}

impl Kind {
    fn size(self) -> usize {
        match self {
            Kind::F32 => 4,
            Kind::F16 | Kind::Bf16 => 2,
        }
    }
}

/// Loads 8 elements starting at element `i` of row `b`, as f32.
///
/// # Safety
/// AVX2/F16C must be available and `b` must hold elements `i..i + 8`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load8(kind: Kind, b: &[u8], i: usize) -> __m256 {
    debug_assert!((i + 8) * kind.size() <= b.len());
    // SAFETY: the caller guarantees `b` holds elements `i..i + 8`; all loads are unaligned.
    unsafe {
        let p = b.as_ptr().add(i * kind.size());
        match kind {
            Kind::F32 => _mm256_loadu_ps(p.cast()),
            Kind::F16 => _mm256_cvtph_ps(_mm_loadu_si128(p.cast())),
            Kind::Bf16 => _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(
                _mm_loadu_si128(p.cast()),
            ))),
        }
    }
}

/// One element `i` of row `b` as f32 (scalar; exact conversions).
#[inline]
fn elem(kind: Kind, b: &[u8], i: usize) -> f32 {
    match kind {
        Kind::F32 => f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]),
        Kind::F16 => half::f16::from_le_bytes([b[2 * i], b[2 * i + 1]]).to_f32(),
        Kind::Bf16 => f32::from_bits(u32::from(u16::from_le_bytes([b[2 * i], b[2 * i + 1]])) << 16),
    }
}

/// Scalar `fma(a, b, c)` (one `vfmadd231ss`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fma1(a: f32, b: f32, c: f32) -> f32 {
    _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)))
}

/// `[v0+v4, v1+v5, v2+v6, v3+v7]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fold(v: __m256) -> __m128 {
    _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v))
}

/// The reference's `reduce_hadd`: `(t0 + t1) + (t2 + t3)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn reduce_hadd(v: __m256) -> f32 {
    // SAFETY: same target features.
    let t = unsafe { fold(v) };
    let t = _mm_hadd_ps(t, t);
    _mm_cvtss_f32(_mm_hadd_ps(t, t))
}

/// The reference's `hsum_movehl`: `(t0 + t2) + (t1 + t3)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum_movehl(v: __m256) -> f32 {
    // SAFETY: same target features.
    let t = unsafe { fold(v) };
    let t = _mm_add_ps(t, _mm_movehl_ps(t, t));
    _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)))
}

/// Four 8-lane FMA accumulators over elements `0..np` (np a multiple of 32), combined as
/// `(acc0 + acc2) + (acc1 + acc3)`.
///
/// # Safety
/// AVX2/FMA/F16C must be available; both rows must hold `np` elements.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn main_loop32(kind: Kind, x: &[u8], y: &[u8], np: usize) -> __m256 {
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i < np {
        for (j, a) in acc.iter_mut().enumerate() {
            // SAFETY: `i + 8 * j + 8 <= np`, which both rows hold.
            let (vx, vy) = unsafe { (load8(kind, x, i + 8 * j), load8(kind, y, i + 8 * j)) };
            *a = _mm256_fmadd_ps(vx, vy, *a);
        }
        i += 32;
    }
    _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn vec_f32(x: &[u8], y: &[u8]) -> f32 {
    let n = (x.len() / 4).min(y.len() / 4);
    let np = n & !31;
    // SAFETY: both rows hold `n >= np` elements; same target features.
    let mut sumf = unsafe { reduce_hadd(main_loop32(Kind::F32, x, y, np)) };
    let r = n - np;
    let unfused_end = np + (r - r % 4);
    for i in np..unfused_end {
        sumf += elem(Kind::F32, x, i) * elem(Kind::F32, y, i);
    }
    for i in unfused_end..n {
        // SAFETY: same target features.
        sumf = unsafe { fma1(elem(Kind::F32, x, i), elem(Kind::F32, y, i), sumf) };
    }
    sumf
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn vec_16(kind: Kind, x: &[u8], y: &[u8]) -> f32 {
    let n = (x.len() / 2).min(y.len() / 2);
    let np = n & !31;
    // SAFETY: both rows hold `n >= np` elements; same target features.
    let acc = unsafe { main_loop32(kind, x, y, np) };
    let head = match kind {
        // SAFETY: same target features.
        Kind::Bf16 => unsafe { hsum_movehl(acc) },
        // SAFETY: same target features.
        _ => unsafe { reduce_hadd(acc) },
    };
    let mut sumf = f64::from(head);
    for i in np..n {
        sumf += f64::from(elem(kind, x, i) * elem(kind, y, i));
    }
    sumf as f32
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tiny(kind: Kind, x: &[u8], y: &[u8]) -> f32 {
    let k = (x.len() / kind.size()).min(y.len() / kind.size());
    let mut acc = _mm256_setzero_ps();
    let mut l = 0;
    while l + 8 <= k {
        // SAFETY: both rows hold elements `l..l + 8`.
        let (vx, vy) = unsafe { (load8(kind, x, l), load8(kind, y, l)) };
        acc = _mm256_fmadd_ps(vx, vy, acc);
        l += 8;
    }
    if l < k {
        // k % 8 != 0 (no llama.cpp path): the reference leaves lanes past `k` untouched.
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` is 8 writable f32.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        for (lane, s) in lanes.iter_mut().enumerate().take(k - l) {
            // SAFETY: same target features.
            *s = unsafe { fma1(elem(kind, x, l + lane), elem(kind, y, l + lane), *s) };
        }
        // SAFETY: `lanes` is 8 readable f32.
        acc = unsafe { _mm256_loadu_ps(lanes.as_ptr()) };
    }
    // SAFETY: same target features.
    unsafe { hsum_movehl(acc) }
}

impl Avx2 {
    /// [`crate::kernels::reference::float::dot_f16_vec`] (`ggml_vec_dot_f16`), bit for bit.
    pub fn dot_f16_vec(self, x: &[u8], y: &[u8]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { vec_16(Kind::F16, x, y) }
    }

    /// [`crate::kernels::reference::float::dot_f16_tiny`] (llamafile tinyBLAS), bit for bit.
    pub fn dot_f16_tiny(self, x: &[u8], y: &[u8]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { tiny(Kind::F16, x, y) }
    }

    /// [`crate::kernels::reference::float::dot_f32_vec_le`] (`ggml_vec_dot_f32`), bit for bit.
    pub fn dot_f32_vec_le(self, x: &[u8], y: &[u8]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { vec_f32(x, y) }
    }

    /// [`crate::kernels::reference::float::dot_f32_tiny_le`] (llamafile tinyBLAS), bit for bit.
    pub fn dot_f32_tiny_le(self, x: &[u8], y: &[u8]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { tiny(Kind::F32, x, y) }
    }

    /// [`crate::kernels::reference::float::dot_bf16_vec`] (`ggml_vec_dot_bf16`), bit for bit.
    pub fn dot_bf16_vec(self, x: &[u8], y: &[u8]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { vec_16(Kind::Bf16, x, y) }
    }

    /// [`crate::kernels::reference::float::dot_bf16_tiny`] (llamafile tinyBLAS), bit for bit.
    pub fn dot_bf16_tiny(self, x: &[u8], y: &[u8]) -> f32 {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { tiny(Kind::Bf16, x, y) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::float as r;
    use alloc::vec::Vec;

    /// The crate's test generator with this module's value shapes.
    struct Rng(crate::quant::test_rng::Rng);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0.next_u64()
        }
        /// A finite f32 of moderate magnitude (no overflow in sums), any sign.
        fn f32(&mut self) -> f32 {
            let r = self.next();
            let exp = 100 + (r >> 40) % 54;
            f32::from_bits(((r & 1) << 31 | exp << 23 | (r >> 1) & 0x7F_FFFF) as u32)
        }
        /// A finite f16 (subnormals included).
        fn f16(&mut self) -> [u8; 2] {
            let r = self.next();
            let exp = (r >> 20) % 31;
            (((r & 1) << 15 | exp << 10 | (r >> 1) & 0x3FF) as u16).to_le_bytes()
        }
        fn row(&mut self, kind: Kind, n: usize) -> Vec<u8> {
            let mut v = Vec::with_capacity(n * kind.size());
            for _ in 0..n {
                match kind {
                    Kind::F32 => v.extend_from_slice(&self.f32().to_le_bytes()),
                    Kind::F16 => v.extend_from_slice(&self.f16()),
                    Kind::Bf16 => v.extend_from_slice(&self.f32().to_le_bytes()[2..]),
                }
            }
            v
        }
    }

    /// The AVX2 token; these tests fail (never skip) without it.
    fn token() -> Avx2 {
        Avx2::new().expect("these tests need AVX2/FMA/F16C (and LLAMETTE_SCALAR unset)")
    }

    type Pair = (fn(Avx2, &[u8], &[u8]) -> f32, fn(&[u8], &[u8]) -> f32);

    fn funcs() -> [(&'static str, Kind, Pair); 6] {
        [
            (
                "f32 vec",
                Kind::F32,
                (Avx2::dot_f32_vec_le, r::dot_f32_vec_le),
            ),
            (
                "f32 tiny",
                Kind::F32,
                (Avx2::dot_f32_tiny_le, r::dot_f32_tiny_le),
            ),
            ("f16 vec", Kind::F16, (Avx2::dot_f16_vec, r::dot_f16_vec)),
            ("f16 tiny", Kind::F16, (Avx2::dot_f16_tiny, r::dot_f16_tiny)),
            (
                "bf16 vec",
                Kind::Bf16,
                (Avx2::dot_bf16_vec, r::dot_bf16_vec),
            ),
            (
                "bf16 tiny",
                Kind::Bf16,
                (Avx2::dot_bf16_tiny, r::dot_bf16_tiny),
            ),
        ]
    }

    #[test]
    fn matches_reference_bit_for_bit() {
        let t = token();
        let mut g = Rng(crate::quant::test_rng::Rng(0xDEAD_BEEF));
        for (name, kind, (fast, slow)) in funcs() {
            let tiny = name.ends_with("tiny");
            for n in (0..=70).chain([256, 1000, 4096]) {
                // The reference tinyBLAS debug-asserts k % 8 == 0 (the only llama.cpp case).
                if tiny && cfg!(debug_assertions) && n % 8 != 0 {
                    continue;
                }
                for _ in 0..4 {
                    let x = g.row(kind, n);
                    let y = g.row(kind, n);
                    let (a, b) = (fast(t, &x, &y), slow(&x, &y));
                    assert_eq!(a.to_bits(), b.to_bits(), "{name} n={n}: {a:e} vs {b:e}");
                    // Unaligned rows and a trailing odd byte.
                    let mut xo = alloc::vec![0u8];
                    xo.extend_from_slice(&x);
                    xo.push(0x55);
                    let (a, b) = (fast(t, &xo[1..], &y), slow(&xo[1..], &y));
                    assert_eq!(a.to_bits(), b.to_bits(), "{name} n={n} unaligned");
                }
            }
        }
    }
}
