//! Unquantized element types: F32, F16 and BF16, as weights and as activation formats.
//!
//! Values are stored little-endian, two or four bytes each; these functions work on raw bytes so
//! that tensor data needs no alignment. Reference: `ggml/src/ggml-cpu/vec.cpp`
//! (`ggml_vec_dot_f32`, `ggml_vec_dot_f16`, `ggml_vec_dot_bf16`) and `ggml/src/ggml-impl.h`
//! (`ggml_compute_fp32_to_bf16`).

/// Reads `dst.len()` little-endian f32 values from `src` (`4 * dst.len()` bytes).
pub fn dequantize_row_f32(src: &[u8], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!("stub")
}

/// Converts `dst.len()` little-endian f16 values from `src` to f32.
pub fn dequantize_row_f16(src: &[u8], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!("stub")
}

/// Converts `dst.len()` little-endian bf16 values from `src` to f32.
pub fn dequantize_row_bf16(src: &[u8], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!("stub")
}

/// Writes `src` as little-endian f32 bytes.
pub fn quantize_row_f32(src: &[f32], dst: &mut [u8]) {
    let _ = (src, dst);
    todo!("stub")
}

/// Writes `src` as little-endian f16 bytes, rounding to nearest even (`GGML_FP32_TO_FP16`).
pub fn quantize_row_f16(src: &[f32], dst: &mut [u8]) {
    let _ = (src, dst);
    todo!("stub")
}

/// Writes `src` as little-endian bf16 bytes, rounding as `ggml_compute_fp32_to_bf16` does.
pub fn quantize_row_bf16(src: &[f32], dst: &mut [u8]) {
    let _ = (src, dst);
    todo!("stub")
}

/// Dot product of two f32 rows given as little-endian bytes of equal length.
pub fn vec_dot_f32(x: &[u8], y: &[u8]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}

/// Dot product of two f16 rows given as little-endian bytes of equal length.
pub fn vec_dot_f16(x: &[u8], y: &[u8]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}

/// Dot product of two bf16 rows given as little-endian bytes of equal length.
pub fn vec_dot_bf16(x: &[u8], y: &[u8]) -> f32 {
    let _ = (x, y);
    todo!("stub")
}
