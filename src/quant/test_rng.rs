//! A small deterministic generator for the block formats' tests (splitmix64).

use super::to_f16_le;

/// splitmix64: small, deterministic, good enough to scatter bits.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// One byte (the top bits).
    pub(crate) fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }

    /// `N` bytes.
    pub(crate) fn bytes<const N: usize>(&mut self) -> [u8; N] {
        core::array::from_fn(|_| self.byte())
    }

    /// Fills `bytes` (one draw per byte, its low bits).
    pub(crate) fn fill(&mut self, bytes: &mut [u8]) {
        for b in bytes {
            *b = self.next_u64() as u8;
        }
    }

    /// A random finite f16 of mixed magnitude (any sign, any exponent but 31), as bytes.
    pub(crate) fn f16(&mut self) -> [u8; 2] {
        loop {
            let v = self.next_u64() as u16;
            if (v >> 10) & 0x1f != 0x1f {
                return v.to_le_bytes();
            }
        }
    }

    /// Uniform in [-1, 1).
    pub(crate) fn f32(&mut self) -> f32 {
        self.unit() * 2.0 - 1.0
    }

    /// A reasonable positive block scale, 0.01 to 0.1, as stored f16 bytes.
    pub(crate) fn f16_scale(&mut self) -> [u8; 2] {
        to_f16_le(self.range(0.01, 0.1))
    }
}
