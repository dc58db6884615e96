//! Float dot products (F32, F16, BF16) in the exact float operation order of llama.cpp's x86-64
//! AVX2+FMA+F16C build (commit 0c1e570, gcc, `GGML_NATIVE=OFF`, AVX512 off).
//!
//! Two different kernels compute the same mathematical dot product in llama.cpp, with different
//! rounding, so both are reproduced here:
//!
//! - `ggml_vec_dot_f32` / `ggml_vec_dot_f16` / `ggml_vec_dot_bf16` (`ggml/src/ggml-cpu/vec.cpp`),
//!   used by `ggml_compute_forward_mul_mat` (`ggml-cpu.c`) whenever llamafile's sgemm declines,
//!   i.e. for single-token products (n = 1) and single-token attention: [`dot_f32_vec`],
//!   [`dot_f16_vec`], [`dot_bf16_vec`].
//! - llamafile's `tinyBLAS<8, __m256, __m256, TA, TB, float>`
//!   (`ggml/src/ggml-cpu/llamafile/sgemm.cpp`), used for multi-token products: [`dot_f32_tiny`],
//!   [`dot_f16_tiny`], [`dot_bf16_tiny`].
//!
//! # When llama.cpp uses tinyBLAS (AVX2 build, `llamafile_sgemm`)
//!
//! `ggml_compute_forward_mul_mat` calls `llamafile_sgemm(m = ne01, n = ne11, k = ne00, ..., Atype
//! = src0 type, Btype, Ctype = F32)`, first with `Btype` = the type of `src1` (only if `src1` is
//! contiguous), then, after converting `src1` to the weight type's `vec_dot_type` (F32 -> F32,
//! F16 -> F16, BF16 -> BF16), again with `Btype = vec_dot_type`. tinyBLAS runs, and the vec_dot
//! path is skipped, iff all of:
//!
//! - `n >= 2` (at least two activation rows / tokens);
//! - `Ctype == F32`;
//! - `(Atype, Btype)` is `(F32, F32)`, `(F16, F16)` or `(BF16, BF16)` (F32 activations reach F16
//!   and BF16 weights through the second call, after conversion to F16/BF16);
//! - `k % 8 == 0` (`tinyBLAS::matmul`: `k % KN`, KN = 8);
//! - `m % 4 == 0` (`tinyBLAS::matmul` tries `m % 16`, `m % 8`, `m % 4`; all need `m % 4 == 0`;
//!   the tile shape and thread split do not change the per-element arithmetic).
//!
//! (The "tiled" mul_mat of `ggml-cpu/tiled/` only takes K-quant/IQ weights; F32/F16/BF16 never go
//! there.) Otherwise each output element is one `ggml_vec_dot_*` call.
//!
//! All functions take the two rows as slices of equal length (only the common prefix is used if
//! they differ); F16 and BF16 rows are little-endian bytes, 2 per element. No allocation, no
//! panics.

use crate::kernels::mathf::fmaf;

/// F32 element `i` of a little-endian byte row.
#[inline(always)]
fn f32_at(b: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
}

/// F16 element `i` of a little-endian byte row, widened exactly (`_mm256_cvtph_ps` /
/// `ggml_table_f32_f16`).
#[inline(always)]
fn f16_at(b: &[u8], i: usize) -> f32 {
    half::f16::from_le_bytes([b[2 * i], b[2 * i + 1]]).to_f32()
}

/// BF16 element `i` of a little-endian byte row, widened exactly (`<< 16`).
#[inline(always)]
fn bf16_at(b: &[u8], i: usize) -> f32 {
    f32::from_bits((u16::from_le_bytes([b[2 * i], b[2 * i + 1]]) as u32) << 16)
}

/// The final part of `GGML_F32x8_REDUCE` (simd-mappings.h, AVX): `t = lo128 + hi128`, then two
/// `_mm_hadd_ps`: `(t0 + t1) + (t2 + t3)`.
#[inline(always)]
fn reduce_hadd(v: &[f32; 8]) -> f32 {
    let t = [v[0] + v[4], v[1] + v[5], v[2] + v[6], v[3] + v[7]];
    (t[0] + t[1]) + (t[2] + t[3])
}

/// The `movehl` / `movehdup` horizontal sum of one `__m256` used by llamafile's `hsum(__m256)`,
/// by `ggml_vec_dot_bf16` and by `ggml_vec_soft_max_f32`: `t = hi128 + lo128`, then
/// `(t0 + t2) + (t1 + t3)`.
#[inline(always)]
pub(super) fn hsum_movehl(v: &[f32; 8]) -> f32 {
    let t = [v[0] + v[4], v[1] + v[5], v[2] + v[6], v[3] + v[7]];
    (t[0] + t[2]) + (t[1] + t[3])
}

/// `GGML_F32_VEC_REDUCE` of the four 8-lane accumulators of `ggml_vec_dot_f32/f16`:
/// `(s0 + s2) + (s1 + s3)` lane-wise, then [`reduce_hadd`].
#[inline(always)]
fn reduce4(acc: &[[f32; 8]; 4]) -> f32 {
    let mut v = [0.0f32; 8];
    for (l, out) in v.iter_mut().enumerate() {
        *out = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    }
    reduce_hadd(&v)
}

/// The 32-element main loop shared by the F32 and F16 vec dots: four 8-lane accumulators, lane
/// `l` of accumulator `j` gets `fma(x[i + 8j + l], y[i + 8j + l], acc)` (`GGML_F32_VEC_FMA(a, b,
/// c)` = `_mm256_fmadd_ps(b, c, a)`), for `i` over the multiples of 32 below `np`.
#[inline(always)]
fn main_loop32(np: usize, x: &impl Fn(usize) -> f32, y: &impl Fn(usize) -> f32) -> [[f32; 8]; 4] {
    let mut acc = [[0.0f32; 8]; 4];
    let mut i = 0;
    while i < np {
        for (j, a) in acc.iter_mut().enumerate() {
            for (l, s) in a.iter_mut().enumerate() {
                let k = i + 8 * j + l;
                *s = fmaf(x(k), y(k), *s);
            }
        }
        i += 32;
    }
    acc
}

/// `ggml_vec_dot_f32` (ggml/src/ggml-cpu/vec.cpp, `GGML_SIMD` AVX branch) as compiled into the
/// reference `libggml-cpu.so`.
///
/// - `np = n & !31`; 4 accumulators of 8 lanes (`GGML_F32_STEP` 32, `GGML_F32_EPR` 8), each lane
///   an FMA chain; `GGML_F32_VEC_REDUCE` into a `float` `sumf`: `(s0+s2)+(s1+s3)` lane-wise, then
///   `lo+hi` and two `hadd`s: `(t0+t1)+(t2+t3)`.
/// - Leftovers `sumf += x[i]*y[i]` in `float`. gcc vectorised this loop in a way that matters:
///   with `r = n - np`, the first `r - r % 4` leftovers are multiplied in vector registers
///   (`vmulps`, rounded product) and added one by one in order (`vaddss`); the last `r % 4` are
///   contracted into `vfmadd231ss` (`sumf = fma(x, y, sumf)`). Verified in the disassembly of
///   `ggml_vec_dot_f32` and against the golden file.
pub fn dot_f32_vec(x: &[f32], y: &[f32]) -> f32 {
    dot_f32_vec_with(x.len().min(y.len()), |i| x[i], |i| y[i])
}

/// [`dot_f32_vec`] over little-endian f32 bytes (weight rows need no alignment).
pub fn dot_f32_vec_le(x: &[u8], y: &[u8]) -> f32 {
    dot_f32_vec_with(
        (x.len() / 4).min(y.len() / 4),
        |i| f32_at(x, i),
        |i| f32_at(y, i),
    )
}

fn dot_f32_vec_with(n: usize, x: impl Fn(usize) -> f32, y: impl Fn(usize) -> f32) -> f32 {
    let np = n & !31;
    let acc = main_loop32(np, &x, &y);
    let mut sumf = reduce4(&acc);
    let r = n - np;
    let unfused_end = np + (r - r % 4);
    for i in np..unfused_end {
        sumf += x(i) * y(i);
    }
    for i in unfused_end..n {
        sumf = fmaf(x(i), y(i), sumf);
    }
    sumf
}

/// `ggml_vec_dot_f16` (ggml/src/ggml-cpu/vec.cpp, `GGML_F16_DOT_*` = `GGML_F16_*` on AVX with
/// F16C) as compiled into the reference `libggml-cpu.so`.
///
/// - `np = n & !31`; halves widened with `_mm256_cvtph_ps`; the same 4x8-lane FMA chains and
///   `GGML_F32x8_REDUCE` as [`dot_f32_vec`], but the reduced `float` is widened into a
///   `ggml_float` (`double`) `sumf`.
/// - Leftovers: `sumf += (double)(float(x) * float(y))` (float product via
///   `ggml_table_f32_f16`, `vmulss`, then `vaddsd`; no contraction across the widening).
/// - Result `(float)sumf`.
pub fn dot_f16_vec(x: &[u8], y: &[u8]) -> f32 {
    let n = (x.len() / 2).min(y.len() / 2);
    let np = n & !31;
    let acc = main_loop32(np, &|i| f16_at(x, i), &|i| f16_at(y, i));
    let mut sumf = reduce4(&acc) as f64;
    for i in np..n {
        sumf += (f16_at(x, i) * f16_at(y, i)) as f64;
    }
    sumf as f32
}

/// `ggml_vec_dot_bf16` (ggml/src/ggml-cpu/vec.cpp, `__AVX2__` branch) as compiled into the
/// reference `libggml-cpu.so`.
///
/// - For `i + 32 <= n`: four 8-lane accumulators `c1..c4`. The source writes
///   `c = _mm256_add_ps(_mm256_mul_ps(x, y), c)`, but gcc contracted it into `vfmadd231ps`, so
///   each lane is an FMA chain `c = fma(x, y, c)`.
/// - `c1 = (c1 + c3) + (c2 + c4)`, then the `movehl`/`movehdup` horizontal sum
///   `((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7))` in `float`, then `sumf = 0.0 + (double)that`.
/// - Leftovers in `double`: `sumf += (double)(x * y)` (float product, `vmulss`).
/// - Result `(float)sumf`.
pub fn dot_bf16_vec(x: &[u8], y: &[u8]) -> f32 {
    let n = (x.len() / 2).min(y.len() / 2);
    let mut acc = [[0.0f32; 8]; 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, a) in acc.iter_mut().enumerate() {
            for (l, s) in a.iter_mut().enumerate() {
                let k = i + 8 * j + l;
                *s = fmaf(bf16_at(x, k), bf16_at(y, k), *s);
            }
        }
        i += 32;
    }
    let mut c = [0.0f32; 8];
    for (l, out) in c.iter_mut().enumerate() {
        *out = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    }
    let mut sumf = 0.0f64 + hsum_movehl(&c) as f64;
    while i < n {
        sumf += (bf16_at(x, i) * bf16_at(y, i)) as f64;
        i += 1;
    }
    sumf as f32
}

/// The per-element arithmetic of llamafile's `tinyBLAS<8, ...>::gemm_bloc` followed by
/// `hsum(__m256)`, with element loaders for row `a` (weights, `A`) and row `b` (activations,
/// `B`).
#[inline(always)]
fn tiny(k: usize, a: impl Fn(usize) -> f32, b: impl Fn(usize) -> f32) -> f32 {
    debug_assert!(k.is_multiple_of(8), "tinyBLAS only runs for k % 8 == 0");
    let mut acc = [0.0f32; 8];
    let mut l = 0;
    while l < k {
        // Lanes past `k` (only when k % 8 != 0, which llama.cpp never sends here) are left out.
        for (lane, s) in acc.iter_mut().enumerate().take(k - l) {
            // madd(Av, Bv, Cv) = _mm256_fmadd_ps(A, B, C)
            *s = fmaf(a(l + lane), b(l + lane), *s);
        }
        l += 8;
    }
    hsum_movehl(&acc)
}

/// One output element of llamafile's `tinyBLAS<8, __m256, __m256, float, float, float>`
/// (ggml/src/ggml-cpu/llamafile/sgemm.cpp, `gemm_bloc` + `hsum(__m256)`), for weights row `x`
/// (`A`) and activation row `y` (`B`).
///
/// Each of the 8 lanes accumulates `Cv = madd(load(A + l), load(B + l), Cv)` =
/// `_mm256_fmadd_ps(A, B, Cv)` over `l = 0, 8, 16, ...`; then `hsum`: `t = hi128 + lo128`,
/// `(t0 + t2) + (t1 + t3)` (`_mm_movehl_ps`, `_mm_movehdup_ps`).
///
/// Used by llama.cpp instead of [`dot_f32_vec`] when `n >= 2`, `k % 8 == 0` and `m % 4 == 0`
/// (see the module docs). Only meaningful for `x.len() % 8 == 0`; other lengths do not panic
/// (the missing lanes are left out) but correspond to no llama.cpp path.
pub fn dot_f32_tiny(x: &[f32], y: &[f32]) -> f32 {
    tiny(x.len().min(y.len()), |i| x[i], |i| y[i])
}

/// [`dot_f32_tiny`] over little-endian f32 bytes (weight rows need no alignment).
pub fn dot_f32_tiny_le(x: &[u8], y: &[u8]) -> f32 {
    tiny(
        (x.len() / 4).min(y.len() / 4),
        |i| f32_at(x, i),
        |i| f32_at(y, i),
    )
}

/// One output element of llamafile's `tinyBLAS<8, __m256, __m256, ggml_fp16_t, ggml_fp16_t,
/// float>` (ggml/src/ggml-cpu/llamafile/sgemm.cpp; `load<__m256>(const ggml_fp16_t *)` =
/// `_mm256_cvtph_ps`), for F16 weights row `x` (`A`) and F16 activation row `y` (`B`).
///
/// Same lanes and `hsum` as [`dot_f32_tiny`]. Used when `n >= 2`, `k % 8 == 0`, `m % 4 == 0` and
/// `Btype == F16` (F32 activations are first converted to F16). Only meaningful for
/// `len % 8 == 0`; never panics.
pub fn dot_f16_tiny(x: &[u8], y: &[u8]) -> f32 {
    tiny(
        (x.len() / 2).min(y.len() / 2),
        |i| f16_at(x, i),
        |i| f16_at(y, i),
    )
}

/// One output element of llamafile's `tinyBLAS<8, __m256, __m256, ggml_bf16_t, ggml_bf16_t,
/// float>` (ggml/src/ggml-cpu/llamafile/sgemm.cpp; `load<__m256>(const ggml_bf16_t *)` = zero
/// extend and `<< 16`), for BF16 weights row `x` (`A`) and BF16 activation row `y` (`B`).
///
/// Same lanes and `hsum` as [`dot_f32_tiny`]. Used when `n >= 2`, `k % 8 == 0`, `m % 4 == 0` and
/// `Btype == BF16` (F32 activations are first converted to BF16). Only meaningful for
/// `len % 8 == 0`; never panics.
pub fn dot_bf16_tiny(x: &[u8], y: &[u8]) -> f32 {
    tiny(
        (x.len() / 2).min(y.len() / 2),
        |i| bf16_at(x, i),
        |i| bf16_at(y, i),
    )
}

/// Reader for `tests/fixtures/golden/x86-float-kernels.bin` (format in
/// `tests/fixtures/golden/README.md`), shared by the tests of this module and of `math`.
#[cfg(test)]
pub(super) mod golden {
    /// The whole golden file.
    pub static BYTES: &[u8] =
        include_bytes!("../../../tests/fixtures/golden/x86-float-kernels.bin");

    /// A little-endian cursor over a byte slice.
    pub struct Cursor<'a> {
        pub b: &'a [u8],
        pub pos: usize,
    }

    impl<'a> Cursor<'a> {
        pub fn u32(&mut self) -> u32 {
            let v = u32::from_le_bytes(self.b[self.pos..self.pos + 4].try_into().unwrap());
            self.pos += 4;
            v
        }
        pub fn f32(&mut self) -> f32 {
            f32::from_bits(self.u32())
        }
        pub fn f32s(&mut self, n: usize) -> alloc::vec::Vec<f32> {
            (0..n).map(|_| self.f32()).collect()
        }
        /// `n` 2-byte elements, returned as their raw little-endian bytes.
        pub fn bytes16(&mut self, n: usize) -> &'a [u8] {
            let s = &self.b[self.pos..self.pos + 2 * n];
            self.pos += 2 * n;
            s
        }
        pub fn done(&self) -> bool {
            self.pos == self.b.len()
        }
    }

    /// The payload of the section of `kind` and its case count.
    pub fn section(kind: u32) -> (u32, Cursor<'static>) {
        let mut c = Cursor { b: BYTES, pos: 0 };
        assert_eq!(&BYTES[..8], b"LMXFK001", "magic");
        c.pos = 8;
        assert_eq!(c.u32(), 1, "version");
        let n_sections = c.u32();
        for _ in 0..n_sections {
            let k = c.u32();
            let n_cases = c.u32();
            let len = c.u32() as usize;
            if k == kind {
                return (
                    n_cases,
                    Cursor {
                        b: &BYTES[c.pos..c.pos + len],
                        pos: 0,
                    },
                );
            }
            c.pos += len;
        }
        panic!("section {kind} missing from the golden file");
    }
}

#[cfg(test)]
mod tests {
    use super::golden::section;
    use super::*;

    fn check_vec_f32(kind: u32, f: fn(&[f32], &[f32]) -> f32) -> usize {
        let (n_cases, mut c) = section(kind);
        let mut lens = alloc::vec::Vec::new();
        for _ in 0..n_cases {
            let n = c.u32() as usize;
            let x = c.f32s(n);
            let y = c.f32s(n);
            let want = c.f32();
            let got = f(&x, &y);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "kind {kind} n={n}: got {got:e}, want {want:e}"
            );
            lens.push(n);
        }
        assert!(c.done());
        lens.len()
    }

    fn check_vec_16(kind: u32, f: fn(&[u8], &[u8]) -> f32) -> usize {
        let (n_cases, mut c) = section(kind);
        for _ in 0..n_cases {
            let n = c.u32() as usize;
            let x = c.bytes16(n);
            let y = c.bytes16(n);
            let want = c.f32();
            let got = f(x, y);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "kind {kind} n={n}: got {got:e}, want {want:e}"
            );
        }
        assert!(c.done());
        n_cases as usize
    }

    #[test]
    fn vec_dot_f32_matches_llama_cpp() {
        assert_eq!(check_vec_f32(1, dot_f32_vec), 78);
    }

    #[test]
    fn vec_dot_f16_matches_llama_cpp() {
        assert_eq!(check_vec_16(2, dot_f16_vec), 78);
    }

    #[test]
    fn vec_dot_bf16_matches_llama_cpp() {
        assert_eq!(check_vec_16(3, dot_bf16_vec), 78);
    }

    /// Runs the tinyBLAS section `kind` through `f`, and counts the outputs where `other` (the
    /// vec_dot kernel) would have differed, to show the golden tells the two kernels apart.
    fn check_tiny(
        kind: u32,
        elem: usize,
        f: &dyn Fn(&[u8], &[u8]) -> f32,
        other: &dyn Fn(&[u8], &[u8]) -> f32,
    ) -> (usize, usize) {
        let (n_cases, mut c) = section(kind);
        let (mut checked, mut differ) = (0, 0);
        for _ in 0..n_cases {
            let k = c.u32() as usize;
            let m = c.u32() as usize;
            let n = c.u32() as usize;
            let a = &c.b[c.pos..c.pos + m * k * elem];
            c.pos += m * k * elem;
            let b = &c.b[c.pos..c.pos + n * k * elem];
            c.pos += n * k * elem;
            for j in 0..n {
                for i in 0..m {
                    let want = c.f32();
                    let row_a = &a[i * k * elem..(i + 1) * k * elem];
                    let row_b = &b[j * k * elem..(j + 1) * k * elem];
                    let got = f(row_a, row_b);
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "kind {kind} k={k} i={i} j={j}: got {got:e}, want {want:e}"
                    );
                    checked += 1;
                    if other(row_a, row_b).to_bits() != want.to_bits() {
                        differ += 1;
                    }
                }
            }
        }
        assert!(c.done());
        (checked, differ)
    }

    fn as_f32(b: &[u8]) -> alloc::vec::Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn tinyblas_f32_matches_llama_cpp() {
        let (checked, differ) = check_tiny(
            4,
            4,
            &|a, b| dot_f32_tiny(&as_f32(a), &as_f32(b)),
            &|a, b| dot_f32_vec(&as_f32(a), &as_f32(b)),
        );
        assert_eq!(checked, 12 * 8);
        assert!(
            differ > 10,
            "golden does not separate tinyBLAS from vec_dot ({differ})"
        );
    }

    #[test]
    fn tinyblas_f16_matches_llama_cpp() {
        let (checked, differ) = check_tiny(5, 2, &dot_f16_tiny, &dot_f16_vec);
        assert_eq!(checked, 13 * 8);
        assert!(
            differ > 10,
            "golden does not separate tinyBLAS from vec_dot ({differ})"
        );
    }

    #[test]
    fn tinyblas_bf16_matches_llama_cpp() {
        let (checked, differ) = check_tiny(6, 2, &dot_bf16_tiny, &dot_bf16_vec);
        assert_eq!(checked, 13 * 8);
        assert!(
            differ > 10,
            "golden does not separate tinyBLAS from vec_dot ({differ})"
        );
    }

    /// The tail rule of `dot_f32_vec` (unfused products first, FMA for the last `r % 4`) is what
    /// the golden needs: an all-unfused or all-fused tail fails on some lengths.
    #[test]
    fn vec_dot_f32_tail_rule_is_necessary() {
        let (n_cases, mut c) = section(1);
        let (mut unfused_bad, mut fused_bad) = (0, 0);
        for _ in 0..n_cases {
            let n = c.u32() as usize;
            let x = c.f32s(n);
            let y = c.f32s(n);
            let want = c.f32().to_bits();
            let np = n & !31;
            let acc = main_loop32(np, &|i| x[i], &|i| y[i]);
            let (mut a, mut b) = (reduce4(&acc), reduce4(&acc));
            for i in np..n {
                a += x[i] * y[i];
                b = fmaf(x[i], y[i], b);
            }
            unfused_bad += usize::from(a.to_bits() != want);
            fused_bad += usize::from(b.to_bits() != want);
        }
        assert!(
            unfused_bad > 0 && fused_bad > 0,
            "{unfused_bad} {fused_bad}"
        );
    }

    #[test]
    fn short_and_odd_inputs_do_not_panic() {
        assert_eq!(dot_f32_vec(&[], &[]), 0.0);
        assert_eq!(dot_f32_tiny(&[1.0; 8], &[2.0; 9]), 16.0);
        assert_eq!(dot_f16_vec(&[0, 0x3c, 0], &[0, 0x40]), 2.0);
        assert_eq!(dot_bf16_vec(&[0x80, 0x3f], &[0, 0x40, 0]), 2.0);
        // k % 8 != 0 is no llama.cpp path: a debug_assert in debug builds, no panic in release.
        #[cfg(not(debug_assertions))]
        {
            assert_eq!(dot_f32_tiny(&[1.0; 5], &[2.0; 5]), 10.0);
            assert_eq!(dot_bf16_tiny(&[0x80, 0x3f], &[0, 0x40, 0]), 2.0);
        }
    }
}
