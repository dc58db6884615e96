//! The elementwise math of the forward pass (exp, softmax, SwiGLU, RoPE) with AVX2 and FMA,
//! bit-identical to [`crate::kernels::reference::math`] (whose docs give llama.cpp's order): the
//! vector code here *is* the order the reference emulates lane by lane, so each lane computes
//! exactly the reference's operations.

use core::arch::x86_64::*;

use super::kquants::hsum_float_8;
use super::Avx2;
use crate::kernels::reference::math as r;

/// `ggml_v_expf` on eight lanes ([`r::expf_v`] per lane), special paths included.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn expf8(x: __m256) -> __m256 {
    let c = |bits: u32| _mm256_set1_ps(f32::from_bits(bits));
    let rr = c(0x4b40_0000);
    let z = _mm256_fmadd_ps(x, c(0x3fb8_aa3b), rr);
    let n = _mm256_sub_ps(z, rr);
    let b = _mm256_fnmadd_ps(n, c(0x35bf_be8e), _mm256_fnmadd_ps(n, c(0x3f31_7200), x));
    let e = _mm256_slli_epi32::<23>(_mm256_castps_si256(z));
    let k = _mm256_castsi256_ps(_mm256_add_epi32(
        e,
        _mm256_castps_si256(_mm256_set1_ps(1.0)),
    ));
    let abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0), n);
    let cmask = _mm256_cmp_ps::<_CMP_GT_OQ>(abs_n, _mm256_set1_ps(126.0));
    let u = _mm256_mul_ps(b, b);
    let j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(
            _mm256_fmadd_ps(c(0x3c07_2010), b, c(0x3d2b_9f17)),
            u,
            _mm256_fmadd_ps(c(0x3e2a_af33), b, c(0x3eff_fedb)),
        ),
        u,
        _mm256_mul_ps(c(0x3f7f_fff6), b),
    );
    if _mm256_movemask_ps(cmask) == 0 {
        return _mm256_fmadd_ps(j, k, k);
    }
    let g = _mm256_and_si256(
        _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LE_OQ>(n, _mm256_setzero_ps())),
        _mm256_set1_epi32(0x8200_0000u32 as i32),
    );
    let s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f00_0000)));
    let s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    let dmask = _mm256_cmp_ps::<_CMP_GT_OQ>(abs_n, _mm256_set1_ps(192.0));
    _mm256_or_ps(
        _mm256_and_ps(dmask, _mm256_mul_ps(s1, s1)),
        _mm256_andnot_ps(
            dmask,
            _mm256_or_ps(
                _mm256_and_ps(cmask, _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1)),
                _mm256_andnot_ps(cmask, _mm256_fmadd_ps(k, j, k)),
            ),
        ),
    )
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load8(x: &[f32]) -> __m256 {
    let x: &[f32; 8] = x[..8].try_into().unwrap();
    // SAFETY: 8 readable floats; unaligned load.
    unsafe { _mm256_loadu_ps(x.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store8(x: &mut [f32], v: __m256) {
    let x: &mut [f32; 8] = (&mut x[..8]).try_into().unwrap();
    // SAFETY: 8 writable floats; unaligned store.
    unsafe { _mm256_storeu_ps(x.as_mut_ptr(), v) }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn swiglu_row(gate: &mut [f32], up: &[f32]) {
    let n = gate.len().min(up.len());
    let vec_end = n & !7;
    let one = _mm256_set1_ps(1.0);
    for (g, u) in gate[..vec_end]
        .chunks_exact_mut(8)
        .zip(up[..vec_end].chunks_exact(8))
    {
        let x = load8(g);
        let silu = _mm256_div_ps(
            x,
            _mm256_add_ps(one, expf8(_mm256_sub_ps(_mm256_setzero_ps(), x))),
        );
        store8(g, _mm256_mul_ps(silu, load8(u)));
    }
    r::swiglu_row(&mut gate[vec_end..n], &up[vec_end..n]);
}

#[target_feature(enable = "avx2,fma,f16c")]
fn softmax_row(x: &mut [f32], scale: f32) {
    let s = _mm256_set1_ps(scale);
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        store8(c, _mm256_mul_ps(load8(c), s));
    }
    for v in chunks.into_remainder() {
        *v *= scale;
    }
    let mut max = f32::NEG_INFINITY;
    for &v in x.iter() {
        max = if max > v { max } else { v };
    }
    let m = _mm256_set1_ps(max);
    let mut sum = 0.0f64;
    for c in x.chunks_mut(8) {
        // A partial last group: the missing lanes are -inf, whose exp is the +0 of the
        // reference's padding.
        let mut lanes = [f32::NEG_INFINITY; 8];
        lanes[..c.len()].copy_from_slice(c);
        let e = expf8(_mm256_sub_ps(load8(&lanes), m));
        store8(&mut lanes, e);
        c.copy_from_slice(&lanes[..c.len()]);
        sum += hsum_float_8(e) as f64;
    }
    let inv = _mm256_set1_ps((1.0 / sum) as f32);
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        store8(c, _mm256_mul_ps(load8(c), inv));
    }
    let inv = (1.0 / sum) as f32;
    for v in chunks.into_remainder() {
        *v *= inv;
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn rope_row_norm(x: &mut [f32], cache: &[f32]) {
    let n_pairs = (x.len() / 2).min(cache.len() / 2);
    // Every pair but an odd last one is the fused rotation; do those four pairs at a time.
    let fused = if (x.len() / 2) % 2 == 1 && n_pairs == x.len() / 2 {
        n_pairs - 1
    } else {
        n_pairs
    };
    let vec_pairs = fused & !3;
    for (xs, cs) in x[..2 * vec_pairs]
        .chunks_exact_mut(8)
        .zip(cache[..2 * vec_pairs].chunks_exact(8))
    {
        let v = load8(xs);
        let cs = load8(cs);
        let x0 = _mm256_moveldup_ps(v);
        let x1 = _mm256_movehdup_ps(v);
        let swapped = _mm256_permute_ps::<0b1011_0001>(cs);
        // Even lanes: fma(x0, cos, -(x1 sin)); odd lanes: fma(x0, sin, x1 cos).
        store8(xs, _mm256_fmaddsub_ps(x0, cs, _mm256_mul_ps(x1, swapped)));
    }
    // The rest (at most three fused pairs and the odd last one) as the reference does them.
    let rest = 2 * vec_pairs;
    let (xt, ct) = (&mut x[rest..2 * n_pairs], &cache[rest..2 * n_pairs]);
    let tail_pairs = xt.len() / 2;
    for p in 0..tail_pairs {
        let last_unfused = fused < n_pairs && p == tail_pairs - 1;
        let rot = if last_unfused {
            r::rope_pair_unfused
        } else {
            r::rope_pair
        };
        let (y0, y1) = rot(xt[2 * p], xt[2 * p + 1], ct[2 * p], ct[2 * p + 1]);
        xt[2 * p] = y0;
        xt[2 * p + 1] = y1;
    }
}

impl Avx2 {
    /// [`r::swiglu_row`], bit for bit.
    pub fn swiglu_row(self, gate: &mut [f32], up: &[f32]) {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { swiglu_row(gate, up) }
    }

    /// [`r::softmax_row`], bit for bit.
    pub fn softmax_row(self, x: &mut [f32], scale: f32) {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { softmax_row(x, scale) }
    }

    /// [`r::rope_row_norm`], bit for bit.
    pub fn rope_row_norm(self, x: &mut [f32], cache: &[f32]) {
        // SAFETY: the token proves AVX2, FMA and F16C.
        unsafe { rope_row_norm(x, cache) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn token() -> Avx2 {
        Avx2::new().expect("these tests need a CPU with AVX2, FMA and F16C")
    }

    /// Deterministic values over a wide range, with the exp special cases mixed in.
    fn values(seed: u64, n: usize, spread: f32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
                match i % 29 {
                    7 => 130.0,
                    11 => -150.0,
                    13 => 95.0,
                    17 => -0.0,
                    _ => u * spread,
                }
            })
            .collect()
    }

    #[test]
    fn swiglu_matches_reference_for_every_length() {
        let t = token();
        for n in 0..70 {
            for (seed, spread) in [(1, 4.0), (2, 40.0), (3, 200.0)] {
                let up = values(seed + 100, n, 3.0);
                let mut a = values(seed, n, spread);
                let mut b = a.clone();
                r::swiglu_row(&mut a, &up);
                t.swiglu_row(&mut b, &up);
                let (a, b): (Vec<u32>, Vec<u32>) = (
                    a.iter().map(|v| v.to_bits()).collect(),
                    b.iter().map(|v| v.to_bits()).collect(),
                );
                assert_eq!(a, b, "n {n} seed {seed}");
            }
        }
    }

    #[test]
    fn softmax_matches_reference_for_every_length() {
        let t = token();
        for n in 1..80 {
            for (seed, spread, scale) in [(1, 4.0, 0.125), (2, 40.0, 1.0), (3, 300.0, 0.3)] {
                let mut a = values(seed, n, spread);
                let mut b = a.clone();
                r::softmax_row(&mut a, scale);
                t.softmax_row(&mut b, scale);
                let (a, b): (Vec<u32>, Vec<u32>) = (
                    a.iter().map(|v| v.to_bits()).collect(),
                    b.iter().map(|v| v.to_bits()).collect(),
                );
                assert_eq!(a, b, "n {n} seed {seed}");
            }
        }
    }

    #[test]
    fn rope_matches_reference_for_every_length() {
        let t = token();
        for n_pairs in 0..20usize {
            for cache_pairs in [n_pairs, n_pairs.saturating_sub(1), n_pairs + 3] {
                let cache = values(9, 2 * cache_pairs, 1.0);
                let mut a = values(5, 2 * n_pairs, 30.0);
                let mut b = a.clone();
                r::rope_row_norm(&mut a, &cache);
                t.rope_row_norm(&mut b, &cache);
                let (a, b): (Vec<u32>, Vec<u32>) = (
                    a.iter().map(|v| v.to_bits()).collect(),
                    b.iter().map(|v| v.to_bits()).collect(),
                );
                assert_eq!(a, b, "pairs {n_pairs} cache {cache_pairs}");
            }
        }
    }
}
