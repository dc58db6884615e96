//! Choosing the next token from logits: llama.cpp's default sampler chain, and each of its
//! stages on its own.
//!
//! The stages follow `src/llama-sampler.cpp` at llama.cpp commit 0c1e570 and the chain follows
//! `common/sampling.cpp` (`common_sampler_init`) with the defaults of `common_params_sampling`
//! in `common/common.h`:
//!
//! ```text
//! logit bias -> penalties -> top-k -> top-p -> min-p -> temperature -> seeded draw (dist)
//! ```
//!
//! (llama.cpp's DRY, top-n-sigma, typical-p and XTC stages sit in that order too but are
//! disabled by default, and are not implemented here.) Top-p and min-p therefore see the
//! probabilities at temperature 1; the temperature only shapes the final draw.
//!
//! Every stage is a function on [`Candidates`] ([`logit_bias`], [`penalties`], [`top_k`],
//! [`top_p`], [`min_p`], [`temperature`], [`temperature_ext`], [`softmax`], [`greedy`],
//! [`dist`]); [`Sampler`] runs the chain with buffers allocated once, keeps the recent tokens
//! for the penalties, and owns the random number generator ([`Xoshiro256StarStar`]).
//!
//! ```
//! use llamette::sampling::{Sampler, SamplerParams};
//!
//! let params = SamplerParams { seed: 42, top_k: 2, ..SamplerParams::default() };
//! let mut sampler = Sampler::new(4, params).unwrap();
//! for &t in &[3, 1] {
//!     sampler.accept(t); // the prompt
//! }
//! let token = sampler.sample(&[0.5, 2.0, 1.9, -1.0]).unwrap();
//! assert!(token == 1 || token == 2); // top-k 2 keeps tokens 1 and 2
//! sampler.accept(token); // the caller records what it generated
//! ```
//!
//! # Differences from llama.cpp
//!
//! - The random numbers come from xoshiro256** instead of `std::mt19937`, so a seed gives other
//!   tokens than llama.cpp's (and llama.cpp's own differ between C++ libraries); see [`dist`]
//!   for the exact, reproducible procedure. A seed never means "random": llamette has no
//!   entropy source, the host passes one.
//! - Equal logits are sorted by ascending token id (llama.cpp: unspecified), and at
//!   `temp <= 0` the chain is [`greedy`] right after the penalties, so ties go to the lowest id
//!   and no random number is consumed (llama.cpp runs top-k/p, min-p and `temp` first, which
//!   keep the same maximum, then draws once from a single finite logit).
//! - NaN logits rank as `-inf`; an infinite maximum logit shares the probability among the
//!   candidates that reach it instead of making every probability NaN.
//! - [`top_p`] with a NaN `p` does nothing (llama.cpp sorts, then keeps everything); [`top_p`]
//!   on an empty list does nothing (llama.cpp asserts). [`dist`] never picks a
//!   zero-probability candidate (llama.cpp can, when its uniform number is exactly 0).
//! - [`logit_bias`] clears the sorted flag when it changes a logit, and applies every entry,
//!   also repeated entries for one token that are found by scanning (llama.cpp applies only the
//!   first of those).
//! - Parameters are Rust types: `top_k` and `penalty_last_n` are `usize` with 0 for "off"
//!   (llama.cpp also takes negative values), the seed is a `u64`. [`Sampler::sample`] does not
//!   record the token it returns (like `common_sampler_sample`; call [`Sampler::accept`]).
//! - The penalty `count * freq + present` is two roundings; a C++ compiler allowed to contract
//!   it into an FMA rounds once.

mod candidates;
mod history;
mod rng;
mod stages;
#[cfg(test)]
mod tests;

use alloc::format;
use alloc::vec::Vec;

use crate::error::{Error, Result};

pub use candidates::{Candidates, TokenData};
pub use history::TokenHistory;
pub use rng::Xoshiro256StarStar;
pub use stages::{
    dist, greedy, logit_bias, min_p, penalties, softmax, temperature, temperature_ext, top_k,
    top_p, Penalties,
};

const SAMPLER_MAGIC: &[u8; 8] = b"LLMTSAMP";
/// Bytes before the tokens in [`Sampler::state`].
const SAMPLER_STATE_HEADER: usize = 8 + 4 * 4 + 4 * 8;

/// The seed [`SamplerParams::default`] uses: llama.cpp's `LLAMA_DEFAULT_SEED` (0xFFFFFFFF).
/// There it asks for a random seed; here it is just a fixed seed, since the host owns entropy.
pub const DEFAULT_SEED: u64 = 0xFFFF_FFFF;

/// Sampling parameters, with llama.cpp's defaults (`common_params_sampling` in
/// `common/common.h`).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerParams {
    /// Seeds the random number generator (default [`DEFAULT_SEED`]). Same seed, same logits,
    /// same accepted tokens: same tokens drawn.
    pub seed: u64,
    /// Top-p and min-p keep at least this many candidates (default 0: no minimum).
    pub min_keep: usize,
    /// Keep the `top_k` most likely tokens (default 40); 0 keeps all (llama.cpp: `<= 0`).
    pub top_k: usize,
    /// Keep the most likely tokens up to this cumulative probability (default 0.95); 1.0 or
    /// more disables it.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one (default 0.05); 0.0
    /// disables it.
    pub min_p: f32,
    /// Divides the logits before the draw (default 0.8); `<= 0` (or NaN) picks the most likely
    /// token ([`greedy`]) unless `dynatemp_range > 0`.
    pub temp: f32,
    /// Dynamic temperature: the temperature ranges over `temp ± dynatemp_range` by the
    /// normalised entropy (default 0.0: disabled); see [`temperature_ext`].
    pub dynatemp_range: f32,
    /// Dynamic temperature's exponent on the normalised entropy (default 1.0).
    pub dynatemp_exponent: f32,
    /// How many recent tokens the penalties look at (default 64; llama.cpp's
    /// `--repeat-last-n`); 0 disables the penalties. llama.cpp's `-1` ("the context size") is
    /// for the caller to resolve. At most `i32::MAX`, as in llama.cpp.
    pub penalty_last_n: usize,
    /// Repeat penalty (default 1.0: disabled; `--repeat-penalty`). Must be finite and > 0.
    pub penalty_repeat: f32,
    /// Frequency penalty, per occurrence (default 0.0: disabled). Must be finite.
    pub penalty_freq: f32,
    /// Presence penalty, once per token present (default 0.0: disabled). Must be finite.
    pub penalty_present: f32,
    /// `(token, bias)` pairs added to the logits before anything else (default none); a bias
    /// of `f32::NEG_INFINITY` bans the token.
    pub logit_bias: Vec<(u32, f32)>,
}

impl Default for SamplerParams {
    fn default() -> Self {
        Self {
            seed: DEFAULT_SEED,
            min_keep: 0,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            temp: 0.8,
            dynatemp_range: 0.0,
            dynatemp_exponent: 1.0,
            penalty_last_n: 64,
            penalty_repeat: 1.0,
            penalty_freq: 0.0,
            penalty_present: 0.0,
            logit_bias: Vec::new(),
        }
    }
}

impl SamplerParams {
    /// The penalty settings as a [`Penalties`].
    pub fn penalties(&self) -> Penalties {
        Penalties {
            last_n: self.penalty_last_n,
            repeat: self.penalty_repeat,
            freq: self.penalty_freq,
            present: self.penalty_present,
        }
    }
}

/// Marks a count as already applied during one step (counts stay below 2^31 because the window
/// does).
const SEEN: u32 = 1 << 31;

/// llama.cpp's default sampler chain over a vocabulary of `n_vocab` tokens, with its recent-token
/// history and seeded random number generator (`common_sampler`).
///
/// All memory is allocated by [`Sampler::new`]: the candidate list (`n_vocab` entries), the
/// history (`penalty_last_n` tokens) and per-token occurrence counts (`n_vocab` entries, when
/// the penalties can apply). [`sample`](Self::sample), [`accept`](Self::accept) and
/// [`reset`](Self::reset) never allocate.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplerParams,
    n_vocab: usize,
    candidates: Candidates,
    history: TokenHistory,
    /// Occurrences in `history` of each token id below `n_vocab` (empty when
    /// `penalty_last_n == 0`).
    counts: Vec<u32>,
    rng: Xoshiro256StarStar,
}

impl Sampler {
    /// A sampler for logits over `n_vocab` tokens.
    ///
    /// Fails with [`Error::BadParams`] when the penalties are out of range (as
    /// `common_sampler_init` throws: `penalty_repeat` not finite or `<= 0` or with an infinite
    /// reciprocal, `penalty_freq` or `penalty_present` not finite, `penalty_last_n` over
    /// `i32::MAX`), when `n_vocab` exceeds the 2^32 ids a `u32` can name, or when the buffers
    /// cannot be allocated. Every other value is accepted and has a defined meaning (see each
    /// field).
    pub fn new(n_vocab: usize, params: SamplerParams) -> Result<Self> {
        let bad = |reason: alloc::string::String| Error::BadParams { reason };
        let r = params.penalty_repeat;
        if !r.is_finite() || r <= 0.0 || !(1.0 / r).is_finite() {
            return Err(bad(format!(
                "penalty_repeat must be finite and greater than 0, got {r}"
            )));
        }
        if !params.penalty_freq.is_finite() {
            return Err(bad(format!(
                "penalty_freq must be finite, got {}",
                params.penalty_freq
            )));
        }
        if !params.penalty_present.is_finite() {
            return Err(bad(format!(
                "penalty_present must be finite, got {}",
                params.penalty_present
            )));
        }
        if params.penalty_last_n > i32::MAX as usize {
            return Err(bad(format!(
                "penalty_last_n must be at most {}, got {}",
                i32::MAX,
                params.penalty_last_n
            )));
        }
        if n_vocab as u64 > 1 << 32 {
            return Err(bad(format!(
                "n_vocab {n_vocab} exceeds the 2^32 token ids a u32 can name"
            )));
        }
        let no_memory = |what: &str, n: usize| bad(format!("cannot allocate {what} of {n}"));
        let candidates = Candidates::try_with_capacity(n_vocab)
            .ok_or_else(|| no_memory("candidates", n_vocab))?;
        let history = TokenHistory::try_new(params.penalty_last_n)
            .ok_or_else(|| no_memory("history", params.penalty_last_n))?;
        let mut counts = Vec::new();
        if params.penalty_last_n > 0 {
            counts
                .try_reserve_exact(n_vocab)
                .map_err(|_| no_memory("token counts", n_vocab))?;
            counts.resize(n_vocab, 0);
        }
        let rng = Xoshiro256StarStar::new(params.seed);
        Ok(Self {
            params,
            n_vocab,
            candidates,
            history,
            counts,
            rng,
        })
    }

    /// The parameters it was made with.
    pub fn params(&self) -> &SamplerParams {
        &self.params
    }

    /// The vocabulary size it was made for.
    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// The recent tokens the penalties look at, oldest first.
    pub fn history(&self) -> &TokenHistory {
        &self.history
    }

    /// The candidates as the last [`sample`](Self::sample) left them: the survivors of top-k,
    /// top-p and min-p with their final probabilities (after temperature) in list order. After
    /// a greedy step they are all tokens, unsorted, with `p` not computed (0.0).
    pub fn candidates(&self) -> &Candidates {
        &self.candidates
    }

    /// Records a token for the penalties: every prompt token and every generated one, in order
    /// (`common_sampler_accept`). [`sample`](Self::sample) does not record what it returns.
    /// Only the last `penalty_last_n` tokens are kept; nothing is kept when that is 0.
    pub fn accept(&mut self, token: u32) {
        if self.history.capacity() == 0 {
            return;
        }
        if let Some(old) = self.history.push(token) {
            if let Some(c) = self.counts.get_mut(old as usize) {
                *c = c.saturating_sub(1);
            }
        }
        if let Some(c) = self.counts.get_mut(token as usize) {
            *c += 1;
        }
    }

    /// Chooses the next token from `logits` (one per token id; only the first `n_vocab` are
    /// read): logit bias, penalties, then either [`greedy`] (when `temp <= 0` and dynamic
    /// temperature is off) or top-k, top-p, min-p, temperature and a seeded [`dist`] draw, which
    /// consumes exactly one random number. `None` only when there are no logits.
    ///
    /// Does not allocate. Does not [`accept`](Self::accept) the token.
    pub fn sample(&mut self, logits: &[f32]) -> Option<u32> {
        let logits = &logits[..logits.len().min(self.n_vocab)];
        let p = &self.params;
        let c = &mut self.candidates;
        c.fill_from_logits(logits);

        logit_bias(c, &p.logit_bias);
        apply_counted_penalties(c, &self.history, &mut self.counts, &p.penalties());

        let not_positive = |x: f32| x.is_nan() || x <= 0.0;
        if not_positive(p.temp) && not_positive(p.dynatemp_range) {
            return greedy(c);
        }
        top_k(c, p.top_k);
        top_p(c, p.top_p, p.min_keep);
        min_p(c, p.min_p, p.min_keep);
        temperature_ext(c, p.temp, p.dynatemp_range, p.dynatemp_exponent);
        dist(c, &mut self.rng)
    }

    /// Forgets the history and restarts the random number generator from the seed
    /// (`llama_sampler_reset` on the chain), so the same calls give the same tokens again.
    pub fn reset(&mut self) {
        for t in self.history.iter() {
            if let Some(c) = self.counts.get_mut(t as usize) {
                *c = 0;
            }
        }
        self.history.clear();
        self.rng = Xoshiro256StarStar::new(self.params.seed);
    }

    /// The sampler's state: its random generator and its recent-token history (what the
    /// penalties look at), in bytes ([`Sampler::state_read`] restores them into a sampler of
    /// the same vocabulary size and history length), so a generation restored with a saved
    /// context ([`Context::state_write`](crate::Context::state_write)) continues exactly.
    ///
    /// Layout (little-endian): `LLMTSAMP`, version 1 (u32), vocabulary size (u32), history
    /// capacity (u32), tokens held (u32), the four generator words (u64), the tokens oldest
    /// first (u32 each).
    pub fn state(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SAMPLER_STATE_HEADER + 4 * self.history.len());
        out.extend_from_slice(SAMPLER_MAGIC);
        for v in [
            1u32,
            self.n_vocab as u32,
            self.history.capacity() as u32,
            self.history.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for w in self.rng.state() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for t in self.history.iter() {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out
    }

    /// Restores a state from [`Sampler::state`]. A state of another vocabulary size or history
    /// length, another version, truncated, or holding a token outside the vocabulary is
    /// [`Error::BadState`], and the sampler is left as it was.
    pub fn state_read(&mut self, bytes: &[u8]) -> Result<()> {
        let bad = |reason: &str| Error::BadState {
            reason: format!("sampler state: {reason}"),
        };
        if bytes.len() < SAMPLER_STATE_HEADER || &bytes[..8] != SAMPLER_MAGIC {
            return Err(bad("not a sampler state"));
        }
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let (version, n_vocab, capacity, len) = (u32_at(8), u32_at(12), u32_at(16), u32_at(20));
        if version != 1 {
            return Err(bad(&format!(
                "version {version}; this llamette reads version 1"
            )));
        }
        if n_vocab as usize != self.n_vocab || capacity as usize != self.history.capacity() {
            return Err(bad(&format!(
                "saved for {n_vocab} tokens and a history of {capacity}; this sampler has {} and {}",
                self.n_vocab,
                self.history.capacity()
            )));
        }
        let len = len as usize;
        if len > capacity as usize || bytes.len() != SAMPLER_STATE_HEADER + 4 * len {
            return Err(bad("truncated or malformed"));
        }
        let tokens = &bytes[SAMPLER_STATE_HEADER..];
        if tokens
            .chunks_exact(4)
            .any(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize >= self.n_vocab)
        {
            return Err(bad("a token outside the vocabulary"));
        }
        let mut words = [0u64; 4];
        for (k, w) in words.iter_mut().enumerate() {
            let at = 24 + 8 * k;
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            *w = u64::from_le_bytes(b);
        }
        self.reset();
        self.rng = Xoshiro256StarStar::from_state(words);
        for c in tokens.chunks_exact(4) {
            self.accept(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        }
        Ok(())
    }
}

/// [`penalties`] with the sampler's running counts: the same result, in O(`last_n`) instead of
/// O(`last_n`²). Each distinct token of the window is applied once, at its first occurrence,
/// marking its count with [`SEEN`] meanwhile.
fn apply_counted_penalties(
    cands: &mut Candidates,
    history: &TokenHistory,
    counts: &mut [u32],
    pen: &Penalties,
) {
    if pen.is_disabled() {
        return;
    }
    for t in history.iter() {
        if let Some(c) = counts.get_mut(t as usize) {
            if *c & SEEN == 0 && *c > 0 {
                let n = *c as usize;
                *c |= SEEN;
                stages::penalize_token(cands, t, n, pen);
            }
        }
    }
    for t in history.iter() {
        if let Some(c) = counts.get_mut(t as usize) {
            *c &= !SEEN;
        }
    }
    cands.set_sorted(false);
}
