//! The sampler's random number generator: xoshiro256** seeded through splitmix64.
//!
//! llama.cpp draws with `std::mt19937` and `std::uniform_real_distribution<double>`, whose output
//! is not specified identically across C++ standard libraries. llamette uses its own small
//! generator so that a seed means the same stream everywhere, with integer arithmetic only.

/// xoshiro256** (Blackman and Vigna, <https://prng.di.unimi.it/xoshiro256starstar.c>), with its
/// 256-bit state filled from a 64-bit seed by four consecutive outputs of splitmix64
/// (<https://prng.di.unimi.it/splitmix64.c>), the seeding its authors recommend.
///
/// Not cryptographic. Every operation is integer arithmetic, so a seed gives the same stream on
/// every platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xoshiro256StarStar {
    s: [u64; 4],
}

impl Xoshiro256StarStar {
    /// The generator for `seed`: state words `s[0..4]` are the first four outputs of splitmix64
    /// started at `seed`. splitmix64 never yields four zero words in a row, so the all-zero
    /// state (the one state xoshiro must avoid) cannot occur.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Self { s }
    }

    /// The generator with exactly this state (for reference vectors). An all-zero state would
    /// only ever produce zeros; it is replaced by the state for seed 0.
    pub fn from_state(s: [u64; 4]) -> Self {
        if s == [0; 4] {
            Self::new(0)
        } else {
            Self { s }
        }
    }

    /// The state words, as [`from_state`](Self::from_state) takes them.
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform double in `[0, 1)`: the top 53 bits of [`next_u64`](Self::next_u64) times
    /// 2^-53. Both steps are exact, so the value is the same on every platform.
    pub fn next_f64(&mut self) -> f64 {
        const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
        (self.next_u64() >> 11) as f64 * SCALE
    }

    /// A uniform float in `[0, 1)`: the top 24 bits of [`next_u64`](Self::next_u64) times
    /// 2^-24, exact on every platform (XTC's chance; llama.cpp draws it with
    /// `std::uniform_real_distribution<float>` from its own `std::mt19937`).
    pub fn next_f32(&mut self) -> f32 {
        const SCALE: f32 = 1.0 / (1u32 << 24) as f32;
        (self.next_u64() >> 40) as f32 * SCALE
    }
}

/// One step of splitmix64 (Steele, Lea and Flood), advancing `state`.
pub(super) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
