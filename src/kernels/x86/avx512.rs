//! The AVX-512 capability token. The kernels behind it (`super::vnni`, `super::kquants512`) put
//! two products in one 512-bit register, each half computing exactly what the AVX2 kernel
//! computes for one pair, so results stay bit-identical to the AVX2 path and the reference.

use core::arch::x86_64::*;

use super::Avx2;

/// Proof that AVX-512F, AVX-512BW and AVX-512 VNNI are available, as well as everything [`Avx2`] proves
/// (AVX2, FMA, F16C).
#[derive(Debug, Clone, Copy)]
pub struct Avx512(());

impl Avx512 {
    /// The token, if [`Avx2::new`] gives one and the CPU has AVX-512F, AVX-512BW and AVX-512 VNNI (checked once
    /// at run time: `is_x86_feature_detected!` under `std`, `cpuid`/`xgetbv` without it).
    /// Under `std`, `LLAMETTE_NO_AVX512=1` in the environment withholds it, forcing the AVX2 path.
    pub fn new() -> Option<Avx512> {
        static DETECTED: spin::Once<bool> = spin::Once::new();
        let ok = *DETECTED.call_once(detect);
        ok.then_some(Avx512(()))
    }
}

#[cfg(feature = "std")]
fn detect() -> bool {
    if std::env::var_os("LLAMETTE_NO_AVX512").is_some_and(|v| v == "1") {
        return false;
    }
    Avx2::new().is_some()
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vnni")
}

#[cfg(not(feature = "std"))]
fn detect() -> bool {
    Avx2::new().is_some() && super::cpu::features().avx512
}

/// Two 256-bit values as the halves of one 512-bit value.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
pub(super) fn pair(lo: __m256i, hi: __m256i) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}
