//! Unquantized element types: F32, F16 and BF16, as weights and as activation formats.
//!
//! Values are stored little-endian, two or four bytes each; these functions work on raw bytes so
//! that tensor data needs no alignment. Reference: `ggml/src/ggml-cpu/vec.cpp`
//! (`ggml_vec_dot_f32`, `ggml_vec_dot_f16`, `ggml_vec_dot_bf16`) and `ggml/src/ggml-impl.h`
//! (`ggml_compute_fp32_to_bf16`).

use super::{f16_le, to_f16_le};

/// `ggml_compute_bf16_to_fp32`: the bf16 bits become the top half of an f32 (exact).
#[inline(always)]
fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// `ggml_compute_fp32_to_bf16`: NaNs keep their top bits and are forced quiet (bit 6 of the
/// bf16 set); everything else rounds to nearest, ties to even (overflowing to infinity).
#[inline(always)]
fn f32_to_bf16(x: f32) -> u16 {
    let u = x.to_bits();
    if u & 0x7fff_ffff > 0x7f80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    // Non-NaN bit patterns are at most 0xff80_0000, so this cannot overflow.
    ((u + (0x7fff + ((u >> 16) & 1))) >> 16) as u16
}

/// Reads `dst.len()` little-endian f32 values from `src` (`4 * dst.len()` bytes).
pub fn dequantize_row_f32(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(4).zip(dst) {
        *y = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

/// Converts `dst.len()` little-endian f16 values from `src` to f32.
pub fn dequantize_row_f16(src: &[u8], dst: &mut [f32]) {
    // ggml_fp16_to_fp32_row: an exact widening.
    for (b, y) in src.chunks_exact(2).zip(dst) {
        *y = f16_le([b[0], b[1]]);
    }
}

/// Converts `dst.len()` little-endian bf16 values from `src` to f32.
pub fn dequantize_row_bf16(src: &[u8], dst: &mut [f32]) {
    // ggml_bf16_to_fp32_row.
    for (b, y) in src.chunks_exact(2).zip(dst) {
        *y = bf16_to_f32(u16::from_le_bytes([b[0], b[1]]));
    }
}

/// Writes `src` as little-endian f32 bytes.
pub fn quantize_row_f32(src: &[f32], dst: &mut [u8]) {
    for (&x, b) in src.iter().zip(dst.chunks_exact_mut(4)) {
        b.copy_from_slice(&x.to_le_bytes());
    }
}

/// Writes `src` as little-endian f16 bytes, rounding to nearest even (`GGML_FP32_TO_FP16`).
pub fn quantize_row_f16(src: &[f32], dst: &mut [u8]) {
    // ggml_cpu_fp32_to_fp16 / ggml_fp32_to_fp16_row.
    for (&x, b) in src.iter().zip(dst.chunks_exact_mut(2)) {
        b.copy_from_slice(&to_f16_le(x));
    }
}

/// Writes `src` as little-endian bf16 bytes, rounding as `ggml_compute_fp32_to_bf16` does.
pub fn quantize_row_bf16(src: &[f32], dst: &mut [u8]) {
    // ggml_cpu_fp32_to_bf16 (scalar loop over GGML_FP32_TO_BF16).
    for (&x, b) in src.iter().zip(dst.chunks_exact_mut(2)) {
        b.copy_from_slice(&f32_to_bf16(x).to_le_bytes());
    }
}

/// The scalar branch of ggml's float dot products: each product is formed in f32, widened to
/// f64 (`ggml_float`) and summed in order; the f64 total is rounded to f32 at the end.
#[inline(always)]
fn dot_f64(products: impl Iterator<Item = f32>) -> f32 {
    let mut sumf = 0.0f64;
    for p in products {
        sumf += f64::from(p);
    }
    sumf as f32
}

/// Dot product of two f32 rows given as little-endian bytes of equal length.
pub fn vec_dot_f32(x: &[u8], y: &[u8]) -> f32 {
    // ggml_vec_dot_f32, non-GGML_SIMD branch: `sumf += (ggml_float)(x[i]*y[i])`.
    dot_f64(x.chunks_exact(4).zip(y.chunks_exact(4)).map(|(a, b)| {
        f32::from_le_bytes([a[0], a[1], a[2], a[3]]) * f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }))
}

/// Dot product of two f16 rows given as little-endian bytes of equal length.
pub fn vec_dot_f16(x: &[u8], y: &[u8]) -> f32 {
    // ggml_vec_dot_f16, non-GGML_SIMD branch:
    // `sumf += (ggml_float)(FP16_TO_FP32(x[i])*FP16_TO_FP32(y[i]))`.
    dot_f64(
        x.chunks_exact(2)
            .zip(y.chunks_exact(2))
            .map(|(a, b)| f16_le([a[0], a[1]]) * f16_le([b[0], b[1]])),
    )
}

/// Dot product of two bf16 rows given as little-endian bytes of equal length.
pub fn vec_dot_bf16(x: &[u8], y: &[u8]) -> f32 {
    // ggml_vec_dot_bf16, scalar tail loop (the whole row when no SIMD branch applies):
    // `sumf += (ggml_float)(BF16_TO_FP32(x[i]) * BF16_TO_FP32(y[i]))`.
    dot_f64(x.chunks_exact(2).zip(y.chunks_exact(2)).map(|(a, b)| {
        bf16_to_f32(u16::from_le_bytes([a[0], a[1]]))
            * bf16_to_f32(u16::from_le_bytes([b[0], b[1]]))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::quant::test_rng::Rng;

    fn bf16_of_bits(bits: u32) -> u16 {
        let mut dst = [0u8; 2];
        quantize_row_bf16(&[f32::from_bits(bits)], &mut dst);
        u16::from_le_bytes(dst)
    }

    #[test]
    fn bf16_rounds_to_nearest_even() {
        assert_eq!(bf16_of_bits(0x3f80_0000), 0x3f80); // 1.0 exact
        assert_eq!(bf16_of_bits(0x3f80_7fff), 0x3f80); // below the tie
        assert_eq!(bf16_of_bits(0x3f80_8000), 0x3f80); // tie, even (lsb 0) stays
        assert_eq!(bf16_of_bits(0x3f81_8000), 0x3f82); // tie, odd (lsb 1) rounds up
        assert_eq!(bf16_of_bits(0x3f80_8001), 0x3f81); // above the tie
        assert_eq!(bf16_of_bits(0xbf81_8000), 0xbf82); // sign-magnitude: same for negatives
        assert_eq!(bf16_of_bits(0x3f7f_8000), 0x3f80); // tie that carries into the exponent
        assert_eq!(bf16_of_bits(0x7f7f_ffff), 0x7f80); // f32::MAX overflows to +inf
        assert_eq!(bf16_of_bits(0x7f80_0000), 0x7f80); // +inf
        assert_eq!(bf16_of_bits(0xff80_0000), 0xff80); // -inf
        assert_eq!(bf16_of_bits(0x0000_8000), 0x0000); // subnormal tie, even
        assert_eq!(bf16_of_bits(0x0001_8000), 0x0002); // subnormal tie, odd: not flushed
        assert_eq!(bf16_of_bits(0x8000_0000), 0x8000); // -0.0
    }

    #[test]
    fn bf16_nan_is_kept_and_quieted() {
        assert_eq!(bf16_of_bits(0x7fc0_0000), 0x7fc0); // quiet NaN
        assert_eq!(bf16_of_bits(0x7f80_0001), 0x7fc0); // signalling, payload only in low bits
        assert_eq!(bf16_of_bits(0xff80_0001), 0xffc0); // sign kept
        assert_eq!(bf16_of_bits(0x7f81_0000), 0x7fc1); // top payload bits kept, quiet bit set
        assert_eq!(bf16_of_bits(0x7fff_ffff), 0x7fff); // would overflow if rounded; truncated
        assert_eq!(bf16_of_bits(0xffff_ffff), 0xffff);
    }

    #[test]
    fn bf16_round_trip() {
        let src = [0x3f80u16, 0xc049, 0x0001, 0x7f80, 0xff7f, 0x8000];
        let mut bytes = [0u8; 12];
        for (b, v) in bytes.chunks_exact_mut(2).zip(src) {
            b.copy_from_slice(&v.to_le_bytes());
        }
        let mut f = [0.0f32; 6];
        dequantize_row_bf16(&bytes, &mut f);
        assert_eq!(f[0], 1.0);
        assert_eq!(f[1], -3.140625);
        assert_eq!(f[2].to_bits(), 0x0001_0000);
        assert_eq!(f[3], f32::INFINITY);
        assert_eq!(f[4].to_bits(), 0xff7f_0000);
        assert_eq!(f[5].to_bits(), 0x8000_0000);
        let mut back = [0u8; 12];
        quantize_row_bf16(&f, &mut back);
        assert_eq!(back, bytes);
    }

    #[test]
    fn f16_conversions() {
        let one_plus_half_ulp = 1.0 + 1.0 / 2048.0; // tie between 0x3c00 and 0x3c01
        let src = [
            1.0f32,
            -2.0,
            one_plus_half_ulp,
            1.0 + 3.0 / 2048.0,
            65520.0,
            1e-8,
        ];
        let mut bytes = [0u8; 12];
        quantize_row_f16(&src, &mut bytes);
        assert_eq!(
            bytes,
            [0x00, 0x3c, 0x00, 0xc0, 0x00, 0x3c, 0x02, 0x3c, 0x00, 0x7c, 0x00, 0x00],
            "ties to even; 65520 rounds up to inf; 1e-8 underflows to 0"
        );
        let mut f = [0.0f32; 2];
        dequantize_row_f16(&[0x01, 0x3c, 0x01, 0x00], &mut f);
        assert_eq!(f, [1.0 + 1.0 / 1024.0, 1.0 / (1u32 << 24) as f32]);
    }

    #[test]
    fn f32_round_trip() {
        let src = [1.5f32, -0.0, f32::MIN_POSITIVE, f32::INFINITY];
        let mut bytes = [0u8; 16];
        quantize_row_f32(&src, &mut bytes);
        assert_eq!(bytes[..4], 1.5f32.to_le_bytes());
        let mut back = [0.0f32; 4];
        dequantize_row_f32(&bytes, &mut back);
        assert_eq!(back.map(f32::to_bits), src.map(f32::to_bits));
    }

    fn f32_bytes<const N: usize, const B: usize>(x: [f32; N]) -> [u8; B] {
        let mut b = [0u8; B];
        quantize_row_f32(&x, &mut b);
        b
    }

    #[test]
    fn vec_dot_f32_accumulates_f32_products_in_f64() {
        // f64 accumulation: 1e8 + 1 - 1e8 is 1 (an f32 accumulator would give 0).
        let x: [u8; 12] = f32_bytes([1e8, 1.0, -1e8]);
        let y: [u8; 12] = f32_bytes([1.0, 1.0, 1.0]);
        assert_eq!(vec_dot_f32(&x, &y), 1.0);
        // Each product is rounded to f32 first: (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 is a tie that
        // rounds to 1 + 2^-11, so three of them sum to 3 + 3*2^-11 exactly. With exact products
        // the f64 sum 3 + 3*2^-11 + 3*2^-24 would round to 3 + 3*2^-11 + 2^-22 in f32.
        let a = 1.0 + 1.0 / 4096.0;
        let x: [u8; 12] = f32_bytes([a, a, a]);
        assert_eq!(vec_dot_f32(&x, &x), 3.0 + 3.0 / 2048.0);
        assert_ne!(((a as f64) * (a as f64) * 3.0) as f32, 3.0 + 3.0 / 2048.0);
        // Empty rows.
        assert_eq!(vec_dot_f32(&[], &[]), 0.0);
    }

    #[test]
    fn vec_dot_f16_and_bf16_accumulate_in_f64() {
        // 60000 is an f16; 60000^2 + 1 - 60000^2 = 1 needs more than f32's 24 bits.
        let mut x = [0u8; 6];
        let mut y = [0u8; 6];
        quantize_row_f16(&[60000.0, 1.0, -60000.0], &mut x);
        quantize_row_f16(&[60000.0, 1.0, 60000.0], &mut y);
        assert_eq!(vec_dot_f16(&x, &y), 1.0);
        let big = (1u32 << 20) as f32;
        quantize_row_bf16(&[big, 1.0, -big], &mut x);
        quantize_row_bf16(&[big, 1.0, big], &mut y);
        assert_eq!(vec_dot_bf16(&x, &y), 1.0);
    }

    #[test]
    fn vec_dot_random_rows_match_f64_reference() {
        let mut rng = Rng(11);
        for n in [1usize, 2, 3, 7, 32, 33, 100] {
            let xs: [f32; 100] = core::array::from_fn(|_| rng.range(-1.0, 1.0));
            let ys: [f32; 100] = core::array::from_fn(|_| rng.range(-1.0, 1.0));
            let (xs, ys) = (&xs[..n], &ys[..n]);

            let mut xb = [0u8; 400];
            let mut yb = [0u8; 400];
            quantize_row_f32(xs, &mut xb[..4 * n]);
            quantize_row_f32(ys, &mut yb[..4 * n]);
            let want = xs
                .iter()
                .zip(ys)
                .map(|(a, b)| f64::from(a * b))
                .sum::<f64>() as f32;
            assert_eq!(
                vec_dot_f32(&xb[..4 * n], &yb[..4 * n]).to_bits(),
                want.to_bits()
            );

            // f16 and bf16: the products of the stored values, as f32, summed in f64.
            for (quant, deq, dot) in [
                (
                    quantize_row_f16 as fn(&[f32], &mut [u8]),
                    dequantize_row_f16 as fn(&[u8], &mut [f32]),
                    vec_dot_f16 as fn(&[u8], &[u8]) -> f32,
                ),
                (quantize_row_bf16, dequantize_row_bf16, vec_dot_bf16),
            ] {
                quant(xs, &mut xb[..2 * n]);
                quant(ys, &mut yb[..2 * n]);
                let mut xd = [0.0f32; 100];
                let mut yd = [0.0f32; 100];
                deq(&xb[..2 * n], &mut xd[..n]);
                deq(&yb[..2 * n], &mut yd[..n]);
                let want = xd[..n]
                    .iter()
                    .zip(&yd[..n])
                    .map(|(a, b)| f64::from(a * b))
                    .sum::<f64>();
                assert_eq!(
                    dot(&xb[..2 * n], &yb[..2 * n]).to_bits(),
                    (want as f32).to_bits()
                );
                // The stored values are within half an ulp (2^-11 / 2^-8 relative) of the input.
                let exact = xs
                    .iter()
                    .zip(ys)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b));
                let mag: f64 = exact.clone().map(f64::abs).sum();
                let err = (want - exact.sum::<f64>()).abs();
                assert!(
                    err <= mag * 2.0 * (1.0 / 256.0) * 1.01,
                    "n={n}: {err} vs {mag}"
                );
            }
        }
    }
}
