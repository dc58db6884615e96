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

pub(crate) use super::rows_as;

/// Proof that AVX2, FMA and F16C are available.
#[derive(Debug, Clone, Copy)]
pub struct Avx2(());

impl Avx2 {
    /// The token, if the CPU has AVX2, FMA and F16C (and the environment does not force the
    /// scalar path with `LLAMETTE_SCALAR=1`, under `std`). Detected once: with
    /// `is_x86_feature_detected!` under `std`, with `cpuid`/`xgetbv` without it.
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
    cpu::features().avx2
}

/// CPU feature detection with `cpuid` and `xgetbv`, for builds without `std` (where
/// `is_x86_feature_detected!` does not exist): an instruction set counts only when the CPU has
/// it and the OS saves its registers on context switches.
#[cfg_attr(feature = "std", allow(dead_code))] // used without std; tested with it
pub(crate) mod cpu {
    use core::arch::x86_64::{__cpuid, __cpuid_count};

    /// What the kernels need.
    #[derive(Clone, Copy, Debug, Default)]
    pub(crate) struct Features {
        /// AVX2, FMA and F16C, with the OS saving the YMM registers.
        pub avx2: bool,
        /// AVX-512F, AVX-512BW and AVX-512 VNNI, with the OS saving the opmask and ZMM state.
        pub avx512: bool,
    }

    /// Reads the features once per call (cheap; callers cache the answer).
    pub(crate) fn features() -> Features {
        // Leaf 0 gives the highest leaf; leaf 1 exists on every x86-64 CPU.
        let max_leaf = __cpuid(0).eax;
        let l1 = __cpuid(1);
        let osxsave = l1.ecx & (1 << 27) != 0;
        if !osxsave || max_leaf < 7 {
            return Features::default();
        }
        // XCR0: which register states the OS saves. `xgetbv` is available when OSXSAVE is set.
        let xcr0 = xgetbv0();
        let ymm_os = xcr0 & 0b110 == 0b110;
        let zmm_os = xcr0 & 0b1110_0110 == 0b1110_0110;
        let l7 = __cpuid_count(7, 0); // exists: checked above
        let fma = l1.ecx & (1 << 12) != 0;
        let avx = l1.ecx & (1 << 28) != 0;
        let f16c = l1.ecx & (1 << 29) != 0;
        let avx2 = l7.ebx & (1 << 5) != 0;
        let avx512f = l7.ebx & (1 << 16) != 0;
        let avx512bw = l7.ebx & (1 << 30) != 0;
        let vnni = l7.ecx & (1 << 11) != 0;
        let avx2_ok = ymm_os && avx && avx2 && fma && f16c;
        Features {
            avx2: avx2_ok,
            avx512: avx2_ok && zmm_os && avx512f && avx512bw && vnni,
        }
    }

    /// `xgetbv` with ECX = 0 (XCR0), through inline assembly (the intrinsic needs the `xsave`
    /// target feature).
    fn xgetbv0() -> u64 {
        let (lo, hi): (u32, u32);
        // SAFETY: only called when CPUID reports OSXSAVE, so `xgetbv` exists and XCR0 is
        // readable; it reads a register and touches no memory.
        unsafe {
            core::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi,
                options(nomem, nostack, preserves_flags));
        }
        (u64::from(hi) << 32) | u64::from(lo)
    }

    #[cfg(all(test, feature = "std"))]
    #[test]
    fn cpuid_agrees_with_std_detection() {
        use std::is_x86_feature_detected as has;
        let f = features();
        assert_eq!(f.avx2, has!("avx2") && has!("fma") && has!("f16c"));
        assert_eq!(
            f.avx512,
            f.avx2 && has!("avx512f") && has!("avx512bw") && has!("avx512vnni")
        );
    }
}
