//! The f32 math functions of the platform's C library, where there is one.
//!
//! llama.cpp calls `cosf`, `sinf`, `powf` and `expf` from the C library it is linked with, and
//! implementations differ in the last bit (musl-derived `libm` and glibc disagree on about 2% of
//! rope angles and 10% of `expf` inputs). Under `std` these are Rust's `f32` methods, which call
//! the platform's C library, so llamette rounds exactly as llama.cpp does on the same platform;
//! without `std` they come from the `libm` crate.

/// `cosf`.
#[inline]
pub fn cosf(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.cos()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::cosf(x)
    }
}

/// `sinf`.
#[inline]
pub fn sinf(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.sin()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sinf(x)
    }
}

/// `powf`.
#[inline]
pub fn powf(x: f32, y: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.powf(y)
    }
    #[cfg(not(feature = "std"))]
    {
        libm::powf(x, y)
    }
}

/// `expf`.
#[inline]
pub fn expf(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.exp()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::expf(x)
    }
}

/// `fmaf`: `x * y + z` with one rounding. Exact in every implementation; under `std` it is the
/// C library's (a hardware instruction where the CPU has one), without `std` the `libm` crate's
/// software version.
#[inline]
pub fn fmaf(x: f32, y: f32, z: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.mul_add(y, z)
    }
    #[cfg(not(feature = "std"))]
    {
        libm::fmaf(x, y, z)
    }
}
