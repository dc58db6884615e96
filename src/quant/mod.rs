//! Block formats: one per ggml tensor type, each with a scalar reference.
//!
//! Every weight type has `dequantize_row_*` and a `vec_dot_*` against the activation format that
//! ggml pairs it with ([`GgmlType::vec_dot_type`]); every activation format has a `quantize_row_*`
//! that reproduces ggml's reference quantizer bit for bit. The per-type functions are typed over
//! block structs; [`dequantize_row`], [`quantize_row`] and [`vec_dot`] dispatch on a [`GgmlType`]
//! over raw little-endian bytes, as they come out of a GGUF file.
//!
//! All block structs are `#[repr(C)]` with alignment 1 (multi-byte fields are stored as
//! little-endian byte arrays), so a tensor's bytes can be viewed as blocks wherever the host put
//! them, with no copy and no alignment requirement: see [`as_blocks`].
//!
//! Layouts and algorithms follow llama.cpp at commit 0c1e570: `ggml/src/ggml-common.h` (block
//! structs), `ggml/src/ggml-quants.c` (`dequantize_row_*`, `quantize_row_*_ref`) and
//! `ggml/src/ggml-cpu/quants.c` (`ggml_vec_dot_*_generic`).

use crate::error::{Error, Result};

pub mod float;
pub mod k_quants;
pub mod legacy;
#[cfg(test)]
pub(crate) mod test_rng;

pub use k_quants::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
pub use legacy::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};

/// Elements in a K-quant super-block (`QK_K` in ggml-common.h).
pub const QK_K: usize = 256;

/// A ggml tensor type, with ggml's stable numbers (`enum ggml_type` in `ggml/include/ggml.h`).
///
/// Every type a GGUF file may name is here, so any file can be read and inspected; the types
/// this build can compute with are those for which [`GgmlType::is_supported`] is true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(non_camel_case_types)]
#[non_exhaustive]
pub enum GgmlType {
    /// 32-bit float.
    F32 = 0,
    /// IEEE half precision.
    F16 = 1,
    /// 4-bit, blocks of 32, one f16 scale.
    Q4_0 = 2,
    /// 4-bit, blocks of 32, f16 scale and minimum.
    Q4_1 = 3,
    /// 5-bit, blocks of 32, one f16 scale.
    Q5_0 = 6,
    /// 5-bit, blocks of 32, f16 scale and minimum.
    Q5_1 = 7,
    /// 8-bit, blocks of 32, one f16 scale.
    Q8_0 = 8,
    /// 8-bit, blocks of 32, f16 scale and the block's sum times scale (activations only).
    Q8_1 = 9,
    /// 2-bit K-quant (super-blocks of 256).
    Q2_K = 10,
    /// 3-bit K-quant.
    Q3_K = 11,
    /// 4-bit K-quant.
    Q4_K = 12,
    /// 5-bit K-quant.
    Q5_K = 13,
    /// 6-bit K-quant.
    Q6_K = 14,
    /// 8-bit K-quant with f32 scale and 16-element sums (activations only).
    Q8_K = 15,
    /// i-quant, 2.06 bits per weight.
    IQ2_XXS = 16,
    /// i-quant, 2.31 bits per weight.
    IQ2_XS = 17,
    /// i-quant, 3.06 bits per weight.
    IQ3_XXS = 18,
    /// i-quant, 1.56 bits per weight.
    IQ1_S = 19,
    /// 4-bit non-linear, blocks of 32.
    IQ4_NL = 20,
    /// i-quant, 3.44 bits per weight.
    IQ3_S = 21,
    /// i-quant, 2.5 bits per weight.
    IQ2_S = 22,
    /// 4-bit non-linear, super-blocks of 256.
    IQ4_XS = 23,
    /// 8-bit integer.
    I8 = 24,
    /// 16-bit integer.
    I16 = 25,
    /// 32-bit integer.
    I32 = 26,
    /// 64-bit integer.
    I64 = 27,
    /// 64-bit float.
    F64 = 28,
    /// i-quant, 1.75 bits per weight.
    IQ1_M = 29,
    /// bfloat16.
    BF16 = 30,
    /// Ternary, 1.69 bits per weight.
    TQ1_0 = 34,
    /// Ternary, 2.06 bits per weight.
    TQ2_0 = 35,
    /// Microscaling FP4, blocks of 32.
    MXFP4 = 39,
    /// NVIDIA FP4, blocks of 64 with E4M3 scales.
    NVFP4 = 40,
    /// 1-bit, blocks of 128.
    Q1_0 = 41,
    /// 2-bit, blocks of 64.
    Q2_0 = 42,
}

impl GgmlType {
    /// Every type, in number order.
    pub const ALL: [GgmlType; 35] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q8_1,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::Q8_K,
        GgmlType::IQ2_XXS,
        GgmlType::IQ2_XS,
        GgmlType::IQ3_XXS,
        GgmlType::IQ1_S,
        GgmlType::IQ4_NL,
        GgmlType::IQ3_S,
        GgmlType::IQ2_S,
        GgmlType::IQ4_XS,
        GgmlType::I8,
        GgmlType::I16,
        GgmlType::I32,
        GgmlType::I64,
        GgmlType::F64,
        GgmlType::IQ1_M,
        GgmlType::BF16,
        GgmlType::TQ1_0,
        GgmlType::TQ2_0,
        GgmlType::MXFP4,
        GgmlType::NVFP4,
        GgmlType::Q1_0,
        GgmlType::Q2_0,
    ];

    /// The type with ggml's number `id`, or `None` for numbers ggml does not define (4, 5 and
    /// 31-33, 36-38 were removed from ggml and are rejected too).
    pub fn from_u32(id: u32) -> Option<GgmlType> {
        GgmlType::ALL.iter().copied().find(|t| *t as u32 == id)
    }

    /// ggml's name for the type (`ggml_type_name`), e.g. `"Q4_K"`.
    pub fn name(self) -> &'static str {
        use GgmlType::*;
        match self {
            F32 => "F32",
            F16 => "F16",
            Q4_0 => "Q4_0",
            Q4_1 => "Q4_1",
            Q5_0 => "Q5_0",
            Q5_1 => "Q5_1",
            Q8_0 => "Q8_0",
            Q8_1 => "Q8_1",
            Q2_K => "Q2_K",
            Q3_K => "Q3_K",
            Q4_K => "Q4_K",
            Q5_K => "Q5_K",
            Q6_K => "Q6_K",
            Q8_K => "Q8_K",
            IQ2_XXS => "IQ2_XXS",
            IQ2_XS => "IQ2_XS",
            IQ3_XXS => "IQ3_XXS",
            IQ1_S => "IQ1_S",
            IQ4_NL => "IQ4_NL",
            IQ3_S => "IQ3_S",
            IQ2_S => "IQ2_S",
            IQ4_XS => "IQ4_XS",
            I8 => "I8",
            I16 => "I16",
            I32 => "I32",
            I64 => "I64",
            F64 => "F64",
            IQ1_M => "IQ1_M",
            BF16 => "BF16",
            TQ1_0 => "TQ1_0",
            TQ2_0 => "TQ2_0",
            MXFP4 => "MXFP4",
            NVFP4 => "NVFP4",
            Q1_0 => "Q1_0",
            Q2_0 => "Q2_0",
        }
    }

    /// Elements per block (`blck_size` in ggml.c's `type_traits`).
    pub fn block_size(self) -> usize {
        use GgmlType::*;
        match self {
            F32 | F16 | BF16 | I8 | I16 | I32 | I64 | F64 => 1,
            Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q8_1 | IQ4_NL | MXFP4 => 32,
            NVFP4 | Q2_0 => 64,
            Q1_0 => 128,
            Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | Q8_K | IQ2_XXS | IQ2_XS | IQ3_XXS | IQ1_S
            | IQ3_S | IQ2_S | IQ4_XS | IQ1_M | TQ1_0 | TQ2_0 => QK_K,
        }
    }

    /// Bytes per block (`type_size` in ggml.c's `type_traits`; the `static_assert`s on the block
    /// structs in ggml-common.h give each one).
    pub fn type_size(self) -> usize {
        use GgmlType::*;
        match self {
            F32 => 4,
            F16 => 2,
            BF16 => 2,
            I8 => 1,
            I16 => 2,
            I32 => 4,
            I64 => 8,
            F64 => 8,
            Q4_0 => 18,
            Q4_1 => 20,
            Q5_0 => 22,
            Q5_1 => 24,
            Q8_0 => 34,
            Q8_1 => 36,
            Q2_K => 84,
            Q3_K => 110,
            Q4_K => 144,
            Q5_K => 176,
            Q6_K => 210,
            Q8_K => 292,
            IQ2_XXS => 66,
            IQ2_XS => 74,
            IQ3_XXS => 98,
            IQ1_S => 50,
            IQ4_NL => 18,
            IQ3_S => 110,
            IQ2_S => 82,
            IQ4_XS => 136,
            IQ1_M => 56,
            TQ1_0 => 54,
            TQ2_0 => 66,
            MXFP4 => 17,
            NVFP4 => 36,
            Q1_0 => 18,
            Q2_0 => 18,
        }
    }

    /// Bytes taken by `n` elements, or `None` when `n` is not a whole number of blocks or the
    /// size overflows.
    pub fn row_size(self, n: usize) -> Option<usize> {
        if !n.is_multiple_of(self.block_size()) {
            return None;
        }
        (n / self.block_size()).checked_mul(self.type_size())
    }

    /// The activation format ggml quantizes the other operand into for a matrix product with
    /// weights of this type (`vec_dot_type` in ggml-cpu.c's `type_traits_cpu`), for the types
    /// this build supports.
    pub fn vec_dot_type(self) -> Option<GgmlType> {
        use GgmlType::*;
        match self {
            F32 => Some(F32),
            F16 => Some(F16),
            BF16 => Some(BF16),
            Q4_0 | Q5_0 | Q8_0 => Some(Q8_0),
            Q4_1 | Q5_1 => Some(Q8_1),
            Q2_K | Q3_K | Q4_K | Q5_K | Q6_K => Some(Q8_K),
            _ => None,
        }
    }

    /// Whether this build can dequantize the type and take dot products with it.
    pub fn is_supported(self) -> bool {
        self.vec_dot_type().is_some()
    }

    /// Whether the type is an activation format that [`quantize_row`] can produce.
    pub fn is_activation(self) -> bool {
        use GgmlType::*;
        matches!(self, F32 | F16 | BF16 | Q8_0 | Q8_1 | Q8_K)
    }
}

impl core::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A block struct that may be viewed in place over raw bytes.
///
/// # Safety
///
/// Implementors must be `#[repr(C)]`, have alignment 1, contain no padding, and accept every bit
/// pattern (they are built only of `u8`/`i8` arrays). [`as_blocks`] relies on all of this.
pub unsafe trait Block: Copy + 'static {
    /// The ggml type whose blocks these are.
    const TYPE: GgmlType;
    /// Elements per block.
    const ELEMS: usize;
}

/// Views `bytes` as blocks of `B`, or `None` when the length is not a whole number of blocks.
pub fn as_blocks<B: Block>(bytes: &[u8]) -> Option<&[B]> {
    const { assert!(core::mem::align_of::<B>() == 1) };
    let size = core::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size) {
        return None;
    }
    // SAFETY: `B: Block` guarantees alignment 1, no padding and validity for every bit pattern,
    // and the length is a whole number of blocks, so the new slice covers exactly `bytes`.
    Some(unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<B>(), bytes.len() / size) })
}

/// Views `bytes` mutably as blocks of `B`, or `None` when the length is not a whole number of
/// blocks.
pub fn as_blocks_mut<B: Block>(bytes: &mut [u8]) -> Option<&mut [B]> {
    const { assert!(core::mem::align_of::<B>() == 1) };
    let size = core::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size) {
        return None;
    }
    // SAFETY: as in `as_blocks`; the exclusive borrow of `bytes` moves to the returned slice.
    Some(unsafe {
        core::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<B>(), bytes.len() / size)
    })
}

/// Views blocks as their bytes.
pub fn block_bytes<B: Block>(blocks: &[B]) -> &[u8] {
    // SAFETY: `B: Block` has no padding, so every byte of the blocks is initialised.
    unsafe {
        core::slice::from_raw_parts(blocks.as_ptr().cast::<u8>(), core::mem::size_of_val(blocks))
    }
}

/// Reads an f16 stored as little-endian bytes (the scales inside blocks).
#[inline(always)]
pub fn f16_le(b: [u8; 2]) -> f32 {
    half::f16::from_le_bytes(b).to_f32()
}

/// Stores an f32 as little-endian f16 bytes, rounding to nearest even like ggml's
/// `GGML_FP32_TO_FP16`.
#[inline(always)]
pub fn to_f16_le(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_le_bytes()
}

fn check_len(what: &'static str, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            what,
            expected,
            found,
        })
    }
}

fn row_bytes(ty: GgmlType, n: usize, what: &'static str) -> Result<usize> {
    ty.row_size(n).ok_or(Error::LengthMismatch {
        what,
        expected: n.next_multiple_of(ty.block_size()),
        found: n,
    })
}

fn blocks<B: Block>(bytes: &[u8]) -> &[B] {
    // Lengths were checked by the caller against `row_size`, so this never falls back.
    as_blocks(bytes).unwrap_or(&[])
}

fn blocks_mut<B: Block>(bytes: &mut [u8]) -> &mut [B] {
    as_blocks_mut(bytes).unwrap_or(&mut [])
}

/// Dequantizes one row of `dst.len()` elements of type `ty` from `src` (exactly
/// `ty.row_size(dst.len())` bytes) into `dst`.
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<()> {
    let need = row_bytes(ty, dst.len(), "dequantize_row: element count")?;
    check_len("dequantize_row: source bytes", need, src.len())?;
    use GgmlType::*;
    match ty {
        F32 => float::dequantize_row_f32(src, dst),
        F16 => float::dequantize_row_f16(src, dst),
        BF16 => float::dequantize_row_bf16(src, dst),
        Q4_0 => legacy::dequantize_row_q4_0(blocks(src), dst),
        Q4_1 => legacy::dequantize_row_q4_1(blocks(src), dst),
        Q5_0 => legacy::dequantize_row_q5_0(blocks(src), dst),
        Q5_1 => legacy::dequantize_row_q5_1(blocks(src), dst),
        Q8_0 => legacy::dequantize_row_q8_0(blocks(src), dst),
        Q8_1 => legacy::dequantize_row_q8_1(blocks(src), dst),
        Q2_K => k_quants::dequantize_row_q2_k(blocks(src), dst),
        Q3_K => k_quants::dequantize_row_q3_k(blocks(src), dst),
        Q4_K => k_quants::dequantize_row_q4_k(blocks(src), dst),
        Q5_K => k_quants::dequantize_row_q5_k(blocks(src), dst),
        Q6_K => k_quants::dequantize_row_q6_k(blocks(src), dst),
        Q8_K => k_quants::dequantize_row_q8_k(blocks(src), dst),
        _ => {
            return Err(Error::UnsupportedType {
                type_name: ty.name(),
                operation: "dequantize",
            })
        }
    }
    Ok(())
}

/// Quantizes `src` into activation format `ty` (F32, F16, BF16, Q8_0, Q8_1 or Q8_K), writing
/// exactly `ty.row_size(src.len())` bytes to `dst`, the way ggml's reference quantizers do.
pub fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<()> {
    let need = row_bytes(ty, src.len(), "quantize_row: element count")?;
    check_len("quantize_row: destination bytes", need, dst.len())?;
    use GgmlType::*;
    match ty {
        F32 => float::quantize_row_f32(src, dst),
        F16 => float::quantize_row_f16(src, dst),
        BF16 => float::quantize_row_bf16(src, dst),
        Q8_0 => legacy::quantize_row_q8_0(src, blocks_mut(dst)),
        Q8_1 => legacy::quantize_row_q8_1(src, blocks_mut(dst)),
        Q8_K => k_quants::quantize_row_q8_k(src, blocks_mut(dst)),
        _ => {
            return Err(Error::UnsupportedType {
                type_name: ty.name(),
                operation: "quantize",
            })
        }
    }
    Ok(())
}

/// Quantizes one activation row for a matrix product with weights of type `ty` into
/// `ty.vec_dot_type()`, the way llama.cpp's CPU backend does on x86 (ggml-cpu's `from_float`
/// for that type): Q8_0 and Q8_1 with the x86 kernels' rounding
/// ([`legacy::quantize_row_q8_0_x86`]), everything else as [`quantize_row`].
pub fn quantize_row_for_matmul(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<()> {
    let Some(act) = ty.vec_dot_type() else {
        return Err(Error::UnsupportedType {
            type_name: ty.name(),
            operation: "matrix product",
        });
    };
    let need = row_bytes(act, src.len(), "quantize_row_for_matmul: element count")?;
    check_len(
        "quantize_row_for_matmul: destination bytes",
        need,
        dst.len(),
    )?;
    match act {
        GgmlType::Q8_0 => legacy::quantize_row_q8_0_x86(src, blocks_mut(dst)),
        GgmlType::Q8_1 => legacy::quantize_row_q8_1_x86(src, blocks_mut(dst)),
        _ => return quantize_row(act, src, dst),
    }
    Ok(())
}

/// The dot product of `n` elements of weights of type `ty` (`w`) with activations already
/// quantized to `ty.vec_dot_type()` (`act`), computed as ggml's generic `ggml_vec_dot_*` does.
pub fn vec_dot(ty: GgmlType, n: usize, w: &[u8], act: &[u8]) -> Result<f32> {
    let Some(act_ty) = ty.vec_dot_type() else {
        return Err(Error::UnsupportedType {
            type_name: ty.name(),
            operation: "vec_dot",
        });
    };
    check_len(
        "vec_dot: weight bytes",
        row_bytes(ty, n, "vec_dot: element count")?,
        w.len(),
    )?;
    check_len(
        "vec_dot: activation bytes",
        row_bytes(act_ty, n, "vec_dot: element count")?,
        act.len(),
    )?;
    use GgmlType::*;
    Ok(match ty {
        F32 => float::vec_dot_f32(w, act),
        F16 => float::vec_dot_f16(w, act),
        BF16 => float::vec_dot_bf16(w, act),
        Q4_0 => legacy::vec_dot_q4_0_q8_0(blocks(w), blocks(act)),
        Q4_1 => legacy::vec_dot_q4_1_q8_1(blocks(w), blocks(act)),
        Q5_0 => legacy::vec_dot_q5_0_q8_0(blocks(w), blocks(act)),
        Q5_1 => legacy::vec_dot_q5_1_q8_1(blocks(w), blocks(act)),
        Q8_0 => legacy::vec_dot_q8_0_q8_0(blocks(w), blocks(act)),
        Q2_K => k_quants::vec_dot_q2_k_q8_k(blocks(w), blocks(act)),
        Q3_K => k_quants::vec_dot_q3_k_q8_k(blocks(w), blocks(act)),
        Q4_K => k_quants::vec_dot_q4_k_q8_k(blocks(w), blocks(act)),
        Q5_K => k_quants::vec_dot_q5_k_q8_k(blocks(w), blocks(act)),
        Q6_K => k_quants::vec_dot_q6_k_q8_k(blocks(w), blocks(act)),
        _ => unreachable!("vec_dot_type() is Some only for the types above"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_numbers_round_trip_and_removed_numbers_are_rejected() {
        for t in GgmlType::ALL {
            assert_eq!(GgmlType::from_u32(t as u32), Some(t));
        }
        for id in [4, 5, 31, 32, 33, 36, 37, 38, 43, 1000, u32::MAX] {
            assert_eq!(GgmlType::from_u32(id), None, "type id {id}");
        }
    }

    #[test]
    fn block_structs_match_type_sizes() {
        fn check<B: Block>() {
            assert_eq!(
                core::mem::size_of::<B>(),
                B::TYPE.type_size(),
                "{}",
                B::TYPE
            );
            assert_eq!(B::ELEMS, B::TYPE.block_size(), "{}", B::TYPE);
        }
        check::<BlockQ4_0>();
        check::<BlockQ4_1>();
        check::<BlockQ5_0>();
        check::<BlockQ5_1>();
        check::<BlockQ8_0>();
        check::<BlockQ8_1>();
        check::<BlockQ2K>();
        check::<BlockQ3K>();
        check::<BlockQ4K>();
        check::<BlockQ5K>();
        check::<BlockQ6K>();
        check::<BlockQ8K>();
    }

    #[test]
    fn row_size_rejects_partial_blocks() {
        assert_eq!(GgmlType::Q4_K.row_size(512), Some(288));
        assert_eq!(GgmlType::Q4_K.row_size(100), None);
        assert_eq!(GgmlType::F16.row_size(3), Some(6));
        assert_eq!(GgmlType::Q8_0.row_size(usize::MAX - 31), None);
    }

    #[test]
    fn dispatch_checks_lengths_and_types() {
        let mut out = [0f32; 32];
        assert!(matches!(
            dequantize_row(GgmlType::Q4_0, &[0u8; 17], &mut out),
            Err(Error::LengthMismatch {
                expected: 18,
                found: 17,
                ..
            })
        ));
        assert!(matches!(
            dequantize_row(GgmlType::IQ2_XXS, &[0u8; 66], &mut [0f32; 256]),
            Err(Error::UnsupportedType {
                type_name: "IQ2_XXS",
                ..
            })
        ));
        assert!(matches!(
            quantize_row(GgmlType::Q4_0, &[0f32; 32], &mut [0u8; 18]),
            Err(Error::UnsupportedType { .. })
        ));
        assert!(matches!(
            vec_dot(GgmlType::Q4_K, 100, &[], &[]),
            Err(Error::LengthMismatch { .. })
        ));
    }
}
