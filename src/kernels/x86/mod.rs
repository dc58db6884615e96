//! AVX2 kernels for x86-64 (feature `avx2`): the same float operation order as
//! [`super::reference`] (which is llama.cpp's own AVX2 order), computed with AVX2, FMA and F16C
//! instructions, so results are bit-identical to the scalar reference and to llama.cpp.
//!
//! [`Avx2`] is a capability token: it exists only where the CPU has AVX2, FMA and F16C (checked
//! once at run time under `std`; without `std`, only when the build targets those features).
//! Its methods are the safe entry points to the `#[target_feature]` code.

pub mod avx512;
pub use avx512::Avx512;
pub mod float;
pub mod kquants;
pub mod kquants512;
pub mod kquants_low;
pub mod legacy;
pub mod math;
pub mod quantize;
pub mod vnni;

/// Prefetches, for block `i` of the weight row `x`, the same place `R` rows further on: kernels
/// that read `R` consecutive rows at once fetch the next group of rows while they compute
/// (matrix rows are contiguous). Into L2 (`T1`: measured a little faster than `T0` here, while
/// `NTA` or no prefetch at all lose a third of the generation speed).
#[inline(always)]
pub(crate) fn prefetch_next_rows<const R: usize, X>(x: &[X], i: usize) {
    use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
    let size = core::mem::size_of::<X>();
    let base = x
        .as_ptr()
        .cast::<i8>()
        .wrapping_add(i * size + R * size * x.len());
    if size >= 64 {
        for line in (0..size).step_by(64) {
            // SAFETY: a prefetch is a hint: it never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(base.wrapping_add(line)) };
        }
    } else if i.is_multiple_of(64 / size) {
        // SAFETY: as above.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(base) };
    }
}

/// Proof that AVX2, FMA and F16C are available.
#[derive(Debug, Clone, Copy)]
pub struct Avx2(());

impl Avx2 {
    /// The token, if the CPU has AVX2, FMA and F16C (and the environment does not force the
    /// scalar path with `LLAMETTE_SCALAR=1`, under `std`).
    pub fn new() -> Option<Avx2> {
        static DETECTED: spin::Once<bool> = spin::Once::new();
        let ok = *DETECTED.call_once(detect);
        ok.then_some(Avx2(()))
    }
}

#[cfg(feature = "std")]
fn detect() -> bool {
    if std::env::var_os("LLAMETTE_SCALAR").is_some_and(|v| v == "1") {
        return false;
    }
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
}

#[cfg(not(feature = "std"))]
fn detect() -> bool {
    cfg!(all(
        target_feature = "avx2",
        target_feature = "fma",
        target_feature = "f16c"
    ))
}
