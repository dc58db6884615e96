//! NEON kernels for aarch64 (feature `neon`): the float operation order of
//! [`super::reference`] (which is llama.cpp's x86 AVX2 order, the order the goldens hold), so
//! results are bit-identical to the scalar reference and to llama.cpp's x86 build.
//!
//! [`Neon`] is a capability token. NEON itself is part of every aarch64 target; the token
//! exists unless `LLAMETTE_SCALAR=1` (under `std`) forces the scalar reference.
//!
//! Done so far: the Q4_0, Q4_1 and Q8_0 dot products (`legacy.rs`); the other types use the
//! scalar reference (issue 8 continues).

pub mod legacy;

/// Proof that NEON may be used (always on aarch64, unless forced off).
#[derive(Debug, Clone, Copy)]
pub struct Neon(());

impl Neon {
    /// The token, unless `LLAMETTE_SCALAR=1` is set (under `std`). Checked once.
    pub fn new() -> Option<Neon> {
        static DETECTED: spin::Once<bool> = spin::Once::new();
        let ok = *DETECTED.call_once(detect);
        ok.then_some(Neon(()))
    }
}

#[cfg(feature = "std")]
fn detect() -> bool {
    let forced_off = std::env::var_os("LLAMETTE_SCALAR").is_some_and(|v| v == "1");
    !forced_off && cfg!(target_feature = "neon")
}

#[cfg(not(feature = "std"))]
fn detect() -> bool {
    cfg!(target_feature = "neon")
}
