//! Elementwise math of the forward pass (exp, softmax, SwiGLU, RoPE rotation) in the exact float
//! operation order of llama.cpp's x86-64 AVX2+FMA+F16C build (commit 0c1e570, gcc,
//! `GGML_NATIVE=OFF`, AVX512 off), checked against the machine code of the reference
//! `libggml-cpu.so` and against `tests/fixtures/golden/x86-float-kernels.bin`.
//!
//! What the disassembly of `libggml-cpu.so` shows for the ops around these kernels (FMA
//! contraction is what matters for bit-exactness):
//!
//! - `ggml_v_expf` / `ggml_v_silu` (vec.h, AVX2+FMA): the explicit `_mm256_fmadd_ps` /
//!   `_mm256_fnmadd_ps` only; gcc adds no other contraction ([`expf_v`]).
//! - `ggml_vec_soft_max_f32`: `vsubps` (x - max), `ggml_v_expf`, `movehl`/`movehdup` horizontal sum
//!   in float, `vaddsd` into a double; scalar tail calls glibc `expf` ([`softmax_row`]).
//! - `ggml_compute_forward_soft_max_f32`: `ggml_vec_scale_f32` is `vmulps`/`vmulss` only; the mask
//!   add `wp[i] += slope*mp[i]` is contracted (`vfmadd213ss`), which is exact for llama.cpp's 0 /
//!   -inf masks with slope 1; the max is a sequential `vmaxss`; `1.0/sum` is `vdivsd`, converted
//!   with `vcvtsd2ss`, then `vmulps`.
//! - `ggml_vec_swiglu_f32`: `ggml_v_silu` then `vmulps` by `g`; scalar tail
//!   `x/(1.0f + expf(-x)) * g` with glibc `expf`, `vdivss`, `vmulss` ([`swiglu_row`]).
//! - `rotate_pairs<float>` inside `ggml_compute_forward_rope_flt<float>` (ops.cpp): **contracted**.
//!   NEOX (and MROPE/IMROPE/VISION) is a scalar loop: `vmulss` + `vfmsub231ss` and `vmulss` +
//!   `vfmadd132ss`, i.e. `x0*cos - x1*sin` = `fma(x0, cos, -(x1*sin))` and `x0*sin + x1*cos` =
//!   `fma(x0, sin, x1*cos)` ([`rope_pair`]). NORMAL mode was vectorised by gcc: 4 pairs per
//!   iteration with `vfmaddsub231ps` (the same fused formula per lane), then 2 pairs with
//!   `vfmaddsub132ps` (same), then a last single pair with `vmulps` + `vaddsubps` (**not** fused,
//!   [`rope_pair_unfused`]); see [`rope_row_norm`].
//! - `ggml_compute_forward_rms_norm_f32` and `ggml_compute_forward_rms_norm_mul_fused`: no
//!   contraction. `sum += (double)(x*x)` sequentially (`vmulss`, `vcvtss2sd`, `vaddsd`), `mean =
//!   (float)(sum / (double)ne00)` (`vdivsd`, `vcvtsd2ss`), `scale = 1.0f/sqrtf(mean + eps)`
//!   (`vaddss`, `vsqrtss`, `vdivss`), then `y = x*scale` (`vmulps`), fused: `(x*scale)*w` (two
//!   `vmulps`), which equals the unfused RMS_NORM followed by MUL. Nothing to reproduce here.
//! - `ggml_vec_scale_f32`, the F32 ADD/MUL binary ops (`binary-ops.cpp`, `op_add`/`op_mul`): one
//!   rounding per element, no FMA. (The FMAs inside `ggml_compute_forward_mul` belong to the
//!   software f32->f16 conversion of its F16-output variant, not to F32 MUL.)

use super::float::hsum_movehl;
use crate::kernels::mathf::fmaf;

/// One lane of `ggml_v_expf(__m256)` (ggml/src/ggml-cpu/vec.h, the `__AVX2__ && __FMA__`
/// variant, "adapted from arm limited optimized routine"), bit for bit, including its special
/// paths: results flush to `+0` below about -103.97 (and for `-inf`), overflow to `+inf` above
/// about 88.38, and `|n| > 126` / `|n| > 192` take the scaled paths. The result of one lane does
/// not depend on the other lanes (the lanes that skip the `movemask` fast path compute
/// `fma(k, j, k)`, equal to the fast path's `fma(j, k, k)`).
pub fn expf_v(x: f32) -> f32 {
    let r = f32::from_bits(0x4b40_0000); // 0x1.8p23f
    let z = fmaf(x, f32::from_bits(0x3fb8_aa3b), r); // 0x1.715476p+0f
    let n = z - r;
    // _mm256_fnmadd_ps(a, b, c) = -(a*b) + c = fma(-a, b, c)
    let b = fmaf(
        -n,
        f32::from_bits(0x35bf_be8e),              // 0x1.7f7d1cp-20f
        fmaf(-n, f32::from_bits(0x3f31_7200), x), // 0x1.62e4p-1f
    );
    let e = z.to_bits() << 23;
    let k = f32::from_bits(e.wrapping_add(1.0f32.to_bits()));
    // _CMP_GT_OQ / _CMP_LE_OQ: false for NaN, which `>` / `<=` on f32 also give.
    let c = n.abs() > 126.0;
    let u = b * b;
    let j = fmaf(
        fmaf(
            fmaf(f32::from_bits(0x3c07_2010), b, f32::from_bits(0x3d2b_9f17)), // 0x1.0e4020p-7f, 0x1.573e2ep-5f
            u,
            fmaf(f32::from_bits(0x3e2a_af33), b, f32::from_bits(0x3eff_fedb)), // 0x1.555e66p-3f, 0x1.fffdb6p-2f
        ),
        u,
        f32::from_bits(0x3f7f_fff6) * b, // 0x1.ffffecp-1f
    );
    if !c {
        return fmaf(j, k, k);
    }
    let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
    let s1 = f32::from_bits(g.wrapping_add(0x7f00_0000));
    let s2 = f32::from_bits(e.wrapping_sub(g));
    let d = n.abs() > 192.0;
    if d {
        s1 * s1
    } else {
        fmaf(s2, j, s2) * s1
    }
}

/// One row of `ggml_compute_forward_soft_max_f32` (ggml/src/ggml-cpu/ops.cpp) with `max_bias =
/// 0`, no sinks, and a mask that is 0 on `x` and -inf beyond it: `x` is the unmasked prefix of
/// llama.cpp's row, softmaxed in place.
///
/// Steps, as in the C: `ggml_vec_scale_f32` (`wp = x * scale`), the mask add (`wp += 1*0`, exact
/// up to the sign of a zero, which cannot change any output), `ggml_vec_max_f32` (sequential
/// `max = max > v ? max : v` from `-inf`), `ggml_vec_soft_max_f32` (`ggml_v_expf(wp - max)` on
/// groups of 8, each group summed in float by the `movehl`/`movehdup` reduction
/// `((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7))` and accumulated into a `double`), then `sum =
/// 1.0/sum` in double and `ggml_vec_scale_f32` by `(float)sum`.
///
/// In llama.cpp the row is the whole KV window `n_kv`, padded to a multiple of 256 (the
/// KV cache's `get_n_kv`), with -inf mask entries past the tokens a query may see. So
/// `ggml_vec_soft_max_f32`'s scalar tail (glibc `expf`, for `n % 8 != 0`) is never reached, and
/// the masked entries are `ggml_v_expf(-inf - max) = +0` inside the vector groups. This function
/// emulates that padding: the last partial group of 8 is filled with `expf_v(-inf - max)`
/// (`+0`), and the whole groups of padding that follow add exact zeros to a positive sum, which
/// changes nothing. The result equals llama.cpp's for any padded width that is a multiple of 8.
///
/// Expects at least one finite value in `x` (a query always sees itself). Empty `x` is a no-op.
pub fn softmax_row(x: &mut [f32], scale: f32) {
    for v in x.iter_mut() {
        *v *= scale;
    }
    let mut max = f32::NEG_INFINITY;
    for &v in x.iter() {
        max = if max > v { max } else { v };
    }
    let pad = expf_v(f32::NEG_INFINITY - max);
    let mut sum = 0.0f64;
    for chunk in x.chunks_mut(8) {
        let mut e = [pad; 8];
        for (v, ev) in chunk.iter_mut().zip(e.iter_mut()) {
            *ev = expf_v(*v - max);
            *v = *ev;
        }
        sum += hsum_movehl(&e) as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// One lane of `ggml_v_silu(__m256)` (ggml/src/ggml-cpu/vec.h, AVX2+FMA): `x / (1 +
/// ggml_v_expf(0 - x))` (`_mm256_sub_ps(zero, x)`, `_mm256_add_ps(one, e)`, `_mm256_div_ps`).
#[inline]
pub fn silu_v(x: f32) -> f32 {
    x / (1.0 + expf_v(0.0 - x))
}

/// `ggml_vec_swiglu_f32(n, gate, gate, up)` (ggml/src/ggml-cpu/vec.cpp) in place, as called by
/// `ggml_compute_forward_swiglu_f32` (ops.cpp): `gate[i] = silu(gate[i]) * up[i]` for `i <
/// min(gate.len(), up.len())`.
///
/// Groups of 8 (`i + 7 < n`) use the vector `ggml_v_silu` ([`silu_v`]) and `_mm256_mul_ps`. The
/// scalar tail (`n % 8` elements) is `ggml_silu_f32(x) * g` = `x/(1.0f + expf(-x)) * g`, where
/// llama.cpp calls glibc's `expf`; here it is `libm::expf` (musl/FreeBSD), which can differ from
/// glibc in the last bit, so the tail is not guaranteed bit-exact. The tail is never reached for
/// llama.cpp's FFN widths that are multiples of 8 (768, 512, 1536, ...).
pub fn swiglu_row(gate: &mut [f32], up: &[f32]) {
    let n = gate.len().min(up.len());
    let vec_end = n & !7;
    for (g, &u) in gate[..vec_end].iter_mut().zip(up) {
        *g = silu_v(*g) * u;
    }
    for (g, &u) in gate[vec_end..n].iter_mut().zip(&up[vec_end..n]) {
        let x = *g;
        *g = (x / (1.0 + crate::kernels::mathf::expf(-x))) * u;
    }
}

/// The rotation of one pair in `rotate_pairs<float>` (ggml/src/ggml-cpu/ops.cpp, called by
/// `ggml_compute_forward_rope_flt<float>`), as gcc contracted it:
/// `dst0 = x0*cos - x1*sin` = `fma(x0, cos, -(x1*sin))` (`vfmsub231ss` / the even lanes of
/// `vfmaddsub`) and `dst1 = x0*sin + x1*cos` = `fma(x0, sin, x1*cos)` (`vfmadd132ss` / the odd
/// lanes of `vfmaddsub`). `cos`/`sin` are `cache[i0]`, `cache[i0 + 1]` of the rope cache.
///
/// This is the rotation of every NEOX pair and of every NORMAL pair except the last one of a
/// row with an odd number of pairs ([`rope_pair_unfused`]); see [`rope_row_norm`] and
/// [`rope_row_neox`].
#[inline]
pub fn rope_pair(x0: f32, x1: f32, cos: f32, sin: f32) -> (f32, f32) {
    (fmaf(x0, cos, -(x1 * sin)), fmaf(x0, sin, x1 * cos))
}

/// The unfused rotation gcc emitted for the single-pair epilogue of the vectorised NORMAL-mode
/// `rotate_pairs<float>` (ggml/src/ggml-cpu/ops.cpp): `vmulps` + `vaddsubps`, i.e.
/// `(x0*cos - x1*sin, x0*sin + x1*cos)` with each product rounded.
#[inline]
pub fn rope_pair_unfused(x0: f32, x1: f32, cos: f32, sin: f32) -> (f32, f32) {
    (x0 * cos - x1 * sin, x0 * sin + x1 * cos)
}

/// `rotate_pairs<float>(n_dims, 1, cache, src, dst, 1)`: GGML_ROPE_TYPE_NORMAL (llama) rope of
/// the first `n_dims = x.len()` values of one head, in place, pairs `(x[2p], x[2p+1])` with
/// `cos = cache[2p]`, `sin = cache[2p+1]` (`x.len()` even, `cache.len() >= x.len()`; extra values
/// are ignored).
///
/// gcc vectorised this loop (`ggml_compute_forward_rope_flt<float>`): pairs in blocks of 4
/// (`vfmaddsub231ps`), then one block of 2 (`vfmaddsub132ps`), both [`rope_pair`]; when the
/// number of pairs `n_dims/2` is odd, the last pair goes through `vmulps`/`vaddsubps`
/// ([`rope_pair_unfused`]). The same holds when the op runs in place (the loop's alias check
/// accepts `dst == src`); only a partial overlap of `dst` and `src`, which ggml never creates,
/// would select an all-unfused loop.
pub fn rope_row_norm(x: &mut [f32], cache: &[f32]) {
    let n_pairs = x.len() / 2;
    for p in 0..n_pairs.min(cache.len() / 2) {
        let (cos, sin) = (cache[2 * p], cache[2 * p + 1]);
        let rot = if n_pairs % 2 == 1 && p == n_pairs - 1 {
            rope_pair_unfused
        } else {
            rope_pair
        };
        let (y0, y1) = rot(x[2 * p], x[2 * p + 1], cos, sin);
        x[2 * p] = y0;
        x[2 * p + 1] = y1;
    }
}

/// `rotate_pairs<float>(n_dims, n_dims/2, cache, src, dst)`: GGML_ROPE_TYPE_NEOX rope of the
/// first `n_dims = x.len()` values of one head, in place, pairs `(x[p], x[p + n_dims/2])` with
/// `cos = cache[2p]`, `sin = cache[2p+1]`. A scalar loop in the machine code: every pair is
/// [`rope_pair`].
pub fn rope_row_neox(x: &mut [f32], cache: &[f32]) {
    let half = x.len() / 2;
    let pairs = half.min(cache.len() / 2);
    for p in 0..pairs {
        let (y0, y1) = rope_pair(x[p], x[p + half], cache[2 * p], cache[2 * p + 1]);
        x[p] = y0;
        x[p + half] = y1;
    }
}

#[cfg(test)]
mod tests {
    use super::super::float::golden::section;
    use super::*;

    #[test]
    fn expf_v_matches_ggml_v_expf() {
        let (n_cases, mut c) = section(7);
        assert_eq!(n_cases, 1);
        let n = c.u32() as usize;
        let x = c.f32s(n);
        let y = c.f32s(n);
        assert!(c.done());
        assert!(n >= 2048);
        for (&xi, &yi) in x.iter().zip(&y) {
            let got = expf_v(xi);
            assert_eq!(
                got.to_bits(),
                yi.to_bits(),
                "expf_v({xi:e} = {:#010x}): got {got:e}, want {yi:e}",
                xi.to_bits()
            );
        }
    }

    #[test]
    fn expf_v_special_values() {
        assert_eq!(expf_v(f32::NEG_INFINITY).to_bits(), 0);
        assert_eq!(expf_v(f32::INFINITY), f32::INFINITY);
        assert_eq!(expf_v(0.0), 1.0);
        assert_eq!(expf_v(-0.0), 1.0);
        assert_eq!(expf_v(-200.0).to_bits(), 0);
        assert!(expf_v(f32::NAN).is_nan());
    }

    #[test]
    fn softmax_row_matches_llama_cpp() {
        let (n_cases, mut c) = section(8);
        let mut long_rows = 0;
        for _ in 0..n_cases {
            let n = c.u32() as usize;
            let scale = c.f32();
            let width = c.u32() as usize;
            assert!(width.is_multiple_of(256) && width >= n);
            let mut x = c.f32s(n);
            let want = c.f32s(n);
            softmax_row(&mut x, scale);
            for i in 0..n {
                assert_eq!(
                    x[i].to_bits(),
                    want[i].to_bits(),
                    "n={n} scale={scale} i={i}: got {:e}, want {:e}",
                    x[i],
                    want[i]
                );
            }
            long_rows += usize::from(n > 70);
        }
        assert!(c.done());
        assert!(n_cases >= 70 && long_rows >= 5);
    }

    #[test]
    fn swiglu_row_matches_llama_cpp() {
        let (n_cases, mut c) = section(9);
        let (mut tail_total, mut tail_diff) = (0, 0);
        for _ in 0..n_cases {
            let n = c.u32() as usize;
            let mut g = c.f32s(n);
            let u = c.f32s(n);
            let want = c.f32s(n);
            swiglu_row(&mut g, &u);
            for i in 0..n {
                if i < (n & !7) {
                    assert_eq!(
                        g[i].to_bits(),
                        want[i].to_bits(),
                        "n={n} i={i}: got {:e}, want {:e}",
                        g[i],
                        want[i]
                    );
                } else {
                    // glibc expf vs libm::expf (up to 1 ulp apart), then a division and a
                    // multiplication: allow 2 ulps of the result.
                    tail_total += 1;
                    if g[i].to_bits() != want[i].to_bits() {
                        tail_diff += 1;
                        let ulps = (g[i].to_bits() as i64 - want[i].to_bits() as i64).abs();
                        assert!(
                            ulps <= 2,
                            "tail n={n} i={i}: got {:e}, want {:e}",
                            g[i],
                            want[i]
                        );
                    }
                }
            }
        }
        assert!(c.done());
        assert!(tail_total > 100);
        // Most tail values agree exactly (at 0c1e570 / glibc 2.36: 3 of 140 differ, by <= 2 ulps);
        // the tail is not used at llama.cpp's FFN widths anyway.
        assert!(
            tail_diff * 4 < tail_total,
            "{tail_diff} of {tail_total} tail values differ"
        );
    }

    #[test]
    fn rope_rows_match_llama_cpp() {
        let (n_cases, mut c) = section(10);
        let (mut odd_last_fused_bad, mut fused_elsewhere_needed) = (0, 0);
        for _ in 0..n_cases {
            let mode = c.u32();
            let inplace = c.u32();
            let n_dims = c.u32() as usize;
            let rows = c.u32() as usize;
            let pos = c.u32();
            let cache = c.f32s(n_dims);
            let x = c.f32s(rows * n_dims);
            let want = c.f32s(rows * n_dims);
            for r in 0..rows {
                let src = &x[r * n_dims..(r + 1) * n_dims];
                let exp = &want[r * n_dims..(r + 1) * n_dims];
                let mut got = src.to_vec();
                match mode {
                    0 => rope_row_norm(&mut got, &cache),
                    2 => rope_row_neox(&mut got, &cache),
                    _ => panic!("mode {mode}"),
                }
                for i in 0..n_dims {
                    assert_eq!(
                        got[i].to_bits(),
                        exp[i].to_bits(),
                        "mode {mode} inplace {inplace} n_dims {n_dims} pos {pos} row {r} i {i}: got {:e}, want {:e}",
                        got[i],
                        exp[i]
                    );
                }
                // Negative controls: the odd last NORMAL pair really is unfused, and the other
                // pairs really are fused.
                let pairs = n_dims / 2;
                for p in 0..pairs {
                    let (i0, i1) = if mode == 0 {
                        (2 * p, 2 * p + 1)
                    } else {
                        (p, p + pairs)
                    };
                    let (cs, sn) = (cache[2 * p], cache[2 * p + 1]);
                    let (f0, f1) = rope_pair(src[i0], src[i1], cs, sn);
                    let (u0, u1) = rope_pair_unfused(src[i0], src[i1], cs, sn);
                    let fused_ok =
                        f0.to_bits() == exp[i0].to_bits() && f1.to_bits() == exp[i1].to_bits();
                    let unfused_ok =
                        u0.to_bits() == exp[i0].to_bits() && u1.to_bits() == exp[i1].to_bits();
                    if mode == 0 && pairs % 2 == 1 && p == pairs - 1 {
                        odd_last_fused_bad += usize::from(!fused_ok);
                    } else {
                        fused_elsewhere_needed += usize::from(!unfused_ok);
                    }
                }
            }
        }
        assert!(c.done());
        assert!(
            odd_last_fused_bad > 0 && fused_elsewhere_needed > 0,
            "{odd_last_fused_bad} {fused_elsewhere_needed}"
        );
    }
}
