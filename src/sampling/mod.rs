//! Choosing the next token from logits: llama.cpp's default sampler chain, and each of its
//! stages on its own.
//!
//! The stages follow `src/llama-sampler.cpp` at llama.cpp commit 0c1e570 and the chain follows
//! `common/sampling.cpp` (`common_sampler_init`) with the defaults of `common_params_sampling`
//! in `common/common.h`:
//!
//! ```text
//! logits processor -> logit bias -> penalties -> DRY -> top-n-sigma -> top-k -> typical-p
//!     -> top-p -> min-p -> XTC -> temperature -> seeded draw (dist)
//! ```
//!
//! (the host's [`LogitsProcessor`], if any, runs on the raw logits first, where
//! llama-cpp-python runs its `logits_processor`). DRY, top-n-sigma, typical-p and XTC are
//! disabled by default, as in llama.cpp. Top-p and min-p therefore see the probabilities at
//! temperature 1; the temperature only shapes the final draw. With `mirostat` 1 or 2 the chain
//! is llama.cpp's mirostat one instead:
//!
//! ```text
//! logits processor -> logit bias -> temperature (plain) -> mirostat or mirostat 2.0 (draws)
//! ```
//!
//! Every stage is a function on [`Candidates`] ([`logit_bias`], [`penalties`],
//! [`Dry::apply`], [`top_n_sigma`], [`top_k`], [`typical`], [`top_p`], [`min_p`], [`xtc`],
//! [`temperature`], [`temperature_ext`], [`softmax`], [`greedy`], [`dist`], [`mirostat`],
//! [`mirostat_v2`]); [`Sampler`] runs the chain with buffers allocated once, keeps the recent
//! tokens for the penalties and DRY, keeps mirostat's `mu`, and owns the random number
//! generator ([`Xoshiro256StarStar`]). DRY's sequence breakers are strings matched against the
//! token texts once, at construction ([`Sampler::with_vocab`], [`DryBreakers`]).
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
//! - One generator serves the whole chain: XTC's chance is drawn from it before [`dist`]'s
//!   number, and mirostat draws from it (llama.cpp gives XTC, dist and each mirostat its own
//!   `std::mt19937` seeded with the same seed), so turning XTC on changes the draws that
//!   follow. XTC's chance is [`Xoshiro256StarStar::next_f32`]; mirostat's draw is [`dist`]'s
//!   procedure over its final probabilities.
//! - Equal logits are sorted by ascending token id (llama.cpp: unspecified), and at
//!   `temp <= 0` (dynamic temperature off, mirostat off) the chain is [`greedy`] right after
//!   the penalties and DRY, so ties go to the lowest id and no random number is consumed
//!   (llama.cpp runs the filters and `temp` first, which keep the same maximum, then draws once
//!   from a single finite logit). Typical-p and XTC can remove the most likely token, so when
//!   either is enabled the filters run first (XTC then consumes its one number) and [`greedy`]
//!   picks among the survivors, as llama.cpp's chain would. Mirostat has no greedy shortcut:
//!   at `temp <= 0` its chain keeps the first most likely token, draws it (one number) and
//!   moves `mu`, as llama.cpp does.
//! - [`typical`] counts `0 · log 0` as 0 in the entropy (llama.cpp gets NaN as soon as a
//!   probability is 0, e.g. after top-n-sigma or a ban, and then sorts NaN scores), breaks
//!   ties in its score by the sorted order, and does nothing for a NaN `typ_p`.
//!   [`top_n_sigma`] leaves NaN logits out of its statistics (llama.cpp counts them, which
//!   makes every statistic NaN and masks nothing). [`xtc`] with a NaN probability is off
//!   (llama.cpp would act on every step). DRY with a NaN multiplier or base is off (the
//!   sampler refuses them).
//! - [`mirostat`]'s `int(k)` saturates (Rust's `as`): a `k` of 2^31 or more, which a flat
//!   distribution gives (k = +inf), keeps every candidate, as llama.cpp does on aarch64; on
//!   x86-64 its conversion gives `INT_MIN` and it keeps one.
//! - DRY's breaker strings are matched over bytes as llama.cpp does; where the rest of a
//!   breaker that must be tokenized is not valid UTF-8, each stray byte becomes U+FFFD first
//!   (llama.cpp's byte-level BPE tokenizer does the same; its SPM tokenizer gives byte tokens
//!   instead), see [`DryBreakers::new`]. The stages with a scratch buffer in llama.cpp
//!   (typical-p's scores, DRY's map) use none or one allocated at construction; the results
//!   are the same.
//! - NaN logits rank as `-inf`; an infinite maximum logit shares the probability among the
//!   candidates that reach it instead of making every probability NaN.
//! - [`top_p`] with a NaN `p` does nothing (llama.cpp sorts, then keeps everything); [`top_p`]
//!   on an empty list does nothing (llama.cpp asserts). [`dist`] never picks a
//!   zero-probability candidate (llama.cpp can, when its uniform number is exactly 0).
//! - [`logit_bias`] clears the sorted flag when it changes a logit, and applies every entry,
//!   also repeated entries for one token that are found by scanning (llama.cpp applies only the
//!   first of those).
//! - Parameters are Rust types: `top_k`, `penalty_last_n`, `dry_allowed_length` and
//!   `dry_penalty_last_n` are `usize` with 0 for "off" or "none" (llama.cpp also takes
//!   negative values), `mirostat` is a `u32`, the seed is a `u64`. Values where llama.cpp
//!   throws, aborts or computes with NaN are [`Error::BadParams`] (see
//!   [`Sampler::with_dry_breakers`]). [`Sampler::sample`] does not record the token it returns
//!   (like `common_sampler_sample`; call [`Sampler::accept`]).
//! - The penalty `count * freq + present`, mirostat's sums and `mu` update, typical-p's entropy
//!   sum and top-n-sigma's `max - n * std` are two roundings each; a C++ compiler allowed to
//!   contract them into an FMA rounds once.

mod candidates;
mod constraint;
mod dry;
mod history;
mod logprobs;
mod mirostat;
mod processor;
mod rng;
#[cfg(test)]
mod stage_tests;
mod stages;
#[cfg(test)]
mod tests;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::tokenizer::Vocab;

pub use candidates::{Candidates, TokenData};
pub use constraint::Constraint;
pub use dry::{Dry, DryBreakers, DryParams, DRY_MAX_BREAKER_BYTES, DRY_MAX_TAIL_TOKENS};
pub use history::TokenHistory;
pub use logprobs::{logprobs, TokenLogprob, MAX_TOP_LOGPROBS};
pub use mirostat::{mirostat, mirostat_v2, MIROSTAT_M};
pub use processor::LogitsProcessor;
pub use rng::Xoshiro256StarStar;
pub use stages::{
    dist, greedy, logit_bias, min_p, penalties, softmax, temperature, temperature_ext, top_k,
    top_n_sigma, top_p, typical, xtc, Penalties,
};

const SAMPLER_MAGIC: &[u8; 8] = b"LLMTSAMP";
/// The layout of [`Sampler::state`] (2: with DRY's history and mirostat's `mu`).
const SAMPLER_STATE_VERSION: u32 = 2;
/// Bytes before the tokens in [`Sampler::state`].
const SAMPLER_STATE_HEADER: usize = 8 + 7 * 4 + 4 * 8;

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
    /// XTC: the chance, per step, of removing the most likely tokens (default 0.0: disabled;
    /// NaN too); see [`xtc`].
    pub xtc_probability: f32,
    /// XTC: the probability from which a token counts as a top choice (default 0.1); above
    /// 0.5 disables XTC.
    pub xtc_threshold: f32,
    /// Locally typical sampling's cumulative probability (default 1.0: disabled; 1.0 or more,
    /// or NaN, disables it); see [`typical`].
    pub typ_p: f32,
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
    /// DRY's multiplier (default 0.0: disabled): a token that would extend a repetition of
    /// `n >= dry_allowed_length` tokens loses `dry_multiplier * dry_base^(n -
    /// dry_allowed_length)` from its logit; see [`Dry`]. Must be finite.
    pub dry_multiplier: f32,
    /// DRY's base (default 1.75); below 1.0 disables DRY. Must be finite.
    pub dry_base: f32,
    /// DRY penalises a token that would make a repetition longer than this (default 2). At
    /// most `i32::MAX`.
    pub dry_allowed_length: usize,
    /// How many recent tokens DRY searches for repetitions (default 64, as llama.cpp at
    /// 0c1e570; `--dry-penalty-last-n`); 0 disables DRY. llama.cpp's command line refuses
    /// negative values and `llama_sampler_init_dry` turns them into 0; older llama.cpp versions
    /// meant `-1` as "the context size", which is for the caller to resolve. At most
    /// `i32::MAX`.
    pub dry_penalty_last_n: usize,
    /// 0: the default chain; 1: mirostat, 2: mirostat 2.0 (default 0). With 1 or 2 the chain is
    /// llama.cpp's mirostat one: logit bias, [`temperature`] (`temp`, not dynamic), then
    /// [`mirostat`] or [`mirostat_v2`], which draws; the penalties, DRY and every filter are
    /// skipped. Other values are refused.
    pub mirostat: u32,
    /// Top-n-sigma: keep the logits within `top_n_sigma` standard deviations of the largest
    /// (default -1.0: disabled; `<= 0` or NaN disables it); see [`top_n_sigma`].
    pub top_n_sigma: f32,
    /// Mirostat's target surprise `tau` (default 5.0); `mu` starts at `2 * tau`. Must be
    /// finite.
    pub mirostat_tau: f32,
    /// Mirostat's learning rate `eta` (default 0.1). Must be finite.
    pub mirostat_eta: f32,
    /// The strings that end a repetition for DRY (default `["\n", ":", "\"", "*"]`): a token
    /// containing one is never penalised and no repetition spans it. They are matched against
    /// the token texts of the vocabulary ([`DryBreakers::new`]), so a sampler with DRY enabled
    /// and breakers here needs [`Sampler::with_vocab`].
    pub dry_sequence_breakers: Vec<String>,
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
            xtc_probability: 0.0,
            xtc_threshold: 0.1,
            typ_p: 1.0,
            temp: 0.8,
            dynatemp_range: 0.0,
            dynatemp_exponent: 1.0,
            penalty_last_n: 64,
            penalty_repeat: 1.0,
            penalty_freq: 0.0,
            penalty_present: 0.0,
            dry_multiplier: 0.0,
            dry_base: 1.75,
            dry_allowed_length: 2,
            dry_penalty_last_n: 64,
            mirostat: 0,
            top_n_sigma: -1.0,
            mirostat_tau: 5.0,
            mirostat_eta: 0.1,
            dry_sequence_breakers: ["\n", ":", "\"", "*"]
                .iter()
                .map(|s| String::from(*s))
                .collect(),
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

    /// The DRY settings as a [`DryParams`].
    pub fn dry(&self) -> DryParams {
        DryParams {
            multiplier: self.dry_multiplier,
            base: self.dry_base,
            allowed_length: self.dry_allowed_length,
            last_n: self.dry_penalty_last_n,
        }
    }
}

/// Marks a count as already applied during one step (counts stay below 2^31 because the window
/// does).
const SEEN: u32 = 1 << 31;

/// llama.cpp's sampler chain (the default one, or the mirostat one) over a vocabulary of
/// `n_vocab` tokens, with its recent-token histories, mirostat's `mu` and seeded random number
/// generator (`common_sampler`).
///
/// All memory is allocated by the constructor ([`Sampler::new`], [`Sampler::with_vocab`],
/// [`Sampler::with_dry_breakers`]): the candidate list (`n_vocab` entries), the history
/// (`penalty_last_n` tokens), per-token occurrence counts (`n_vocab` entries, when the
/// penalties can apply), and when DRY is enabled its breakers, its own history and scratch
/// (`dry_penalty_last_n` tokens each, plus as many pairs). [`sample`](Self::sample),
/// [`accept`](Self::accept) and [`reset`](Self::reset) never allocate (a logits processor may).
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
    /// Applied before every other stage; told about each generated token.
    constraint: Option<Box<dyn Constraint>>,
    /// Run on the raw logits, before the logit bias.
    logits_processor: Option<Box<dyn LogitsProcessor>>,
    /// DRY's breakers and scratch memory.
    dry: Dry,
    /// The recent tokens DRY looks at (`dry_penalty_last_n` of them; none when DRY is
    /// disabled), kept apart from `history` as llama.cpp's DRY keeps its own window.
    dry_history: TokenHistory,
    /// Mirostat's `mu` (`2 * mirostat_tau` after [`Sampler::new`] and [`Sampler::reset`]).
    mirostat_mu: f32,
}

impl Sampler {
    /// A sampler for logits over `n_vocab` tokens, without a vocabulary: DRY, if enabled, has no
    /// sequence breakers, and [`SamplerParams::dry_sequence_breakers`] must then be empty
    /// (breaker strings need the token texts: use [`Sampler::with_vocab`]).
    ///
    /// Fails with [`Error::BadParams`] as [`Sampler::with_dry_breakers`] does, and when DRY is
    /// enabled with breaker strings.
    pub fn new(n_vocab: usize, params: SamplerParams) -> Result<Self> {
        if !params.dry().is_disabled() && params.dry_sequence_breakers.iter().any(|b| !b.is_empty())
        {
            return Err(Error::BadParams {
                reason: "DRY's sequence breakers are strings matched against the token texts: \
                         make the sampler with Sampler::with_vocab (or Sampler::with_dry_breakers, \
                         or clear dry_sequence_breakers)"
                    .into(),
            });
        }
        Self::with_dry_breakers(n_vocab, params, DryBreakers::none())
    }

    /// A sampler for logits over the tokens of `vocab`, with DRY's sequence breakers worked out
    /// from [`SamplerParams::dry_sequence_breakers`] and the token texts ([`DryBreakers::new`];
    /// only when DRY is enabled, as `llama_sampler_init_dry` does: it costs a detokenization
    /// of every token per breaker).
    ///
    /// Fails with [`Error::BadParams`] as [`Sampler::with_dry_breakers`] does, or with the error
    /// of [`DryBreakers::new`].
    pub fn with_vocab(vocab: &Vocab, params: SamplerParams) -> Result<Self> {
        validate(&params)?;
        let breakers = if params.dry().is_disabled() {
            DryBreakers::none()
        } else {
            DryBreakers::new(vocab, &params.dry_sequence_breakers)?
        };
        Self::with_dry_breakers(vocab.n_tokens(), params, breakers)
    }

    /// A sampler for logits over `n_vocab` tokens with DRY's sequence breakers given
    /// (`dry_sequence_breakers` in `params` is not looked at): breakers from
    /// [`DryBreakers::new`] or token sequences ([`DryBreakers::from_token_sequences`]), or
    /// another sampler's ([`Sampler::dry_breakers`]).
    ///
    /// Fails with [`Error::BadParams`] when the penalties are out of range (as
    /// `common_sampler_init` throws: `penalty_repeat` not finite or `<= 0` or with an infinite
    /// reciprocal, `penalty_freq` or `penalty_present` not finite, `penalty_last_n` over
    /// `i32::MAX`), when `mirostat` is not 0, 1 or 2 (llama.cpp aborts), when `mirostat_tau`,
    /// `mirostat_eta`, `dry_multiplier` or `dry_base` is not finite, when `dry_allowed_length`
    /// or `dry_penalty_last_n` is over `i32::MAX`, when `n_vocab` exceeds the 2^32 ids a `u32`
    /// can name, or when the buffers cannot be allocated. Every other value is accepted and has
    /// a defined meaning (see each field).
    pub fn with_dry_breakers(
        n_vocab: usize,
        params: SamplerParams,
        breakers: DryBreakers,
    ) -> Result<Self> {
        validate(&params)?;
        let bad = |reason: alloc::string::String| Error::BadParams { reason };
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
        let dry_params = params.dry();
        let dry_window = if dry_params.is_disabled() {
            0
        } else {
            dry_params.last_n
        };
        let dry_history = TokenHistory::try_new(dry_window)
            .ok_or_else(|| no_memory("DRY's history", dry_window))?;
        let dry = Dry::new(dry_params, breakers)?;
        let mirostat_mu = 2.0 * params.mirostat_tau;
        Ok(Self {
            params,
            n_vocab,
            candidates,
            history,
            counts,
            rng,
            constraint: None,
            logits_processor: None,
            dry,
            dry_history,
            mirostat_mu,
        })
    }

    /// This sampler with `constraint` as its first stage (a grammar: which tokens may come
    /// next), replacing any constraint it had. The constraint is not part of
    /// [`state`](Self::state); [`reset`](Self::reset) resets it.
    pub fn with_constraint(mut self, constraint: Box<dyn Constraint>) -> Self {
        self.constraint = Some(constraint);
        self
    }

    /// Sets or removes the constraint (see [`with_constraint`](Self::with_constraint)).
    pub fn set_constraint(&mut self, constraint: Option<Box<dyn Constraint>>) {
        self.constraint = constraint;
    }

    /// The constraint, if there is one.
    pub fn constraint(&self) -> Option<&dyn Constraint> {
        self.constraint.as_deref()
    }

    /// This sampler with `processor` run on the raw logits in every step (before the logit
    /// bias and the rest of the chain; see [`LogitsProcessor`]), replacing any processor it
    /// had. The processor is not part of [`state`](Self::state), and
    /// [`reset`](Self::reset) leaves it alone.
    pub fn with_logits_processor(mut self, processor: Box<dyn LogitsProcessor>) -> Self {
        self.logits_processor = Some(processor);
        self
    }

    /// Sets or removes the logits processor (see
    /// [`with_logits_processor`](Self::with_logits_processor)).
    pub fn set_logits_processor(&mut self, processor: Option<Box<dyn LogitsProcessor>>) {
        self.logits_processor = processor;
    }

    /// DRY's sequence breakers (empty when DRY is disabled), for
    /// [`with_dry_breakers`](Self::with_dry_breakers).
    pub fn dry_breakers(&self) -> &DryBreakers {
        self.dry.breakers()
    }

    /// The recent tokens DRY looks at, oldest first (none when DRY is disabled).
    pub fn dry_history(&self) -> &TokenHistory {
        &self.dry_history
    }

    /// Mirostat's current `mu` (`2 * mirostat_tau` until a mirostat step moves it).
    pub fn mirostat_mu(&self) -> f32 {
        self.mirostat_mu
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

    /// The candidates as the last [`sample`](Self::sample) left them: the survivors of the
    /// filters with their final probabilities (after temperature) in list order, or after a
    /// mirostat step its survivors with their final probabilities. After a greedy step they
    /// are what the stages before [`greedy`] left (all tokens, unsorted, with `p` not computed
    /// (0.0), unless typical-p or XTC ran).
    pub fn candidates(&self) -> &Candidates {
        &self.candidates
    }

    /// Records a token for the penalties and DRY: every prompt token and every generated one,
    /// in order (`common_sampler_accept`). [`sample`](Self::sample) does not record what it
    /// returns. Only the last `penalty_last_n` tokens are kept for the penalties (nothing when
    /// that is 0) and the last `dry_penalty_last_n` for DRY (nothing when DRY is disabled).
    pub fn accept(&mut self, token: u32) {
        self.dry_history.push(token);
        self.record_for_penalties(token);
    }

    /// The penalties' part of [`accept`](Self::accept).
    fn record_for_penalties(&mut self, token: u32) {
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

    /// Records a token the generation chose: [`accept`](Self::accept) for the penalties, and
    /// the constraint (if any) advances past it (`common_sampler_accept` with
    /// `accept_grammar`). Fails with [`Error::ConstraintFailed`] when the constraint does not
    /// allow `token`; nothing is recorded then.
    pub fn accept_sampled(&mut self, token: u32) -> Result<()> {
        if let Some(c) = self.constraint.as_mut() {
            c.accept(token)?;
        }
        self.accept(token);
        Ok(())
    }

    /// As [`sample`](Self::sample), with the reasons it can fail: [`Error::BadParams`] when
    /// there are no logits, [`Error::ConstraintFailed`] when the constraint allows no token.
    pub fn try_sample(&mut self, logits: &[f32]) -> Result<u32> {
        let logits = &logits[..logits.len().min(self.n_vocab)];
        if logits.is_empty() {
            return Err(Error::BadParams {
                reason: "nothing to sample from: no logits (evaluate a prompt first)".into(),
            });
        }
        self.candidates.fill_from_logits(logits);
        if let Some(c) = self.constraint.as_mut() {
            c.apply(&mut self.candidates)?;
            if self.candidates.is_empty() {
                return Err(Error::ConstraintFailed {
                    reason: format!("{} allows no token", c.describe()),
                });
            }
        }
        self.sample_filled().ok_or_else(|| Error::ConstraintFailed {
            reason: "no candidate is left".into(),
        })
    }

    /// Chooses the next token from `logits` (one per token id; only the first `n_vocab` are
    /// read): the constraint (if any), the logits processor (if any), logit bias, penalties,
    /// DRY, then either [`greedy`] (when `temp <= 0` and dynamic temperature is off; after the
    /// filters when typical-p or XTC is enabled) or top-n-sigma, top-k, typical-p, top-p,
    /// min-p, XTC, temperature and a seeded [`dist`] draw, which consumes exactly one random
    /// number (XTC one more). With `mirostat` 1 or 2: the logits processor, logit bias,
    /// [`temperature`] and [`mirostat`] or [`mirostat_v2`], which consumes one number and moves
    /// `mu`. `None` when there are no logits, no candidate is left, or the constraint allows no
    /// token ([`try_sample`](Self::try_sample) says which).
    ///
    /// Does not allocate (a constraint or logits processor may). Does not
    /// [`accept`](Self::accept) the token.
    pub fn sample(&mut self, logits: &[f32]) -> Option<u32> {
        if logits.is_empty() || self.n_vocab == 0 {
            // Without building the error's message.
            return None;
        }
        self.try_sample(logits).ok()
    }

    /// The chain after the candidates are filled and constrained.
    fn sample_filled(&mut self) -> Option<u32> {
        if let Some(f) = self.logits_processor.as_mut() {
            f.process(&mut self.candidates);
        }
        let p = &self.params;
        let c = &mut self.candidates;

        logit_bias(c, &p.logit_bias);
        if p.mirostat != 0 {
            // common_sampler_init's mirostat chain: temp, then mirostat, which draws.
            temperature(c, p.temp);
            let (tau, eta, mu) = (p.mirostat_tau, p.mirostat_eta, &mut self.mirostat_mu);
            return if p.mirostat == 1 {
                mirostat(c, self.n_vocab, tau, eta, MIROSTAT_M, mu, &mut self.rng)
            } else {
                mirostat_v2(c, tau, eta, mu, &mut self.rng)
            };
        }
        apply_counted_penalties(c, &self.history, &mut self.counts, &p.penalties());
        self.dry.apply_ring(c, &self.dry_history);

        let not_positive = |x: f32| x.is_nan() || x <= 0.0;
        let greedy_step = not_positive(p.temp) && not_positive(p.dynatemp_range);
        // Top-n-sigma, top-k, top-p and min-p keep the most likely token; typical-p and XTC
        // may remove it, so with those the filters run before a greedy pick too.
        let typical_on = !(p.typ_p.is_nan() || p.typ_p >= 1.0);
        let xtc_on = p.xtc_probability > 0.0 && p.xtc_threshold <= 0.5;
        if greedy_step && !typical_on && !xtc_on {
            return greedy(c);
        }
        top_n_sigma(c, p.top_n_sigma);
        top_k(c, p.top_k);
        typical(c, p.typ_p, p.min_keep);
        top_p(c, p.top_p, p.min_keep);
        min_p(c, p.min_p, p.min_keep);
        xtc(
            c,
            p.xtc_probability,
            p.xtc_threshold,
            p.min_keep,
            &mut self.rng,
        );
        if greedy_step {
            return greedy(c);
        }
        temperature_ext(c, p.temp, p.dynatemp_range, p.dynatemp_exponent);
        dist(c, &mut self.rng)
    }

    /// Forgets the histories (the penalties' and DRY's), sets mirostat's `mu` back to
    /// `2 * mirostat_tau` and restarts the random number generator from the seed
    /// (`llama_sampler_reset` on the chain), so the same calls give the same tokens again. The
    /// logits processor is left alone.
    pub fn reset(&mut self) {
        self.reset_history_and_rng();
        if let Some(c) = self.constraint.as_mut() {
            c.reset();
        }
    }

    /// [`reset`](Self::reset) without the constraint.
    fn reset_history_and_rng(&mut self) {
        for t in self.history.iter() {
            if let Some(c) = self.counts.get_mut(t as usize) {
                *c = 0;
            }
        }
        self.history.clear();
        self.dry_history.clear();
        self.mirostat_mu = 2.0 * self.params.mirostat_tau;
        self.rng = Xoshiro256StarStar::new(self.params.seed);
    }

    /// The sampler's state: its random generator, its recent-token histories (what the
    /// penalties and DRY look at) and mirostat's `mu`, in bytes ([`Sampler::state_read`]
    /// restores them into a sampler of the same vocabulary size and history lengths), so a
    /// generation restored with a saved context
    /// ([`Context::state_write`](crate::Context::state_write)) continues exactly.
    ///
    /// Layout (little-endian), version 2: `LLMTSAMP`, version (u32), vocabulary size (u32),
    /// penalty history capacity (u32), tokens it holds (u32), DRY history capacity (u32),
    /// tokens it holds (u32), mirostat's `mu` (the bits of an f32), the four generator words
    /// (u64), the penalty history's tokens oldest first (u32 each), then DRY's. Version 1 (no
    /// DRY history, no `mu`) is no longer read.
    pub fn state(&self) -> Vec<u8> {
        let (h, d) = (&self.history, &self.dry_history);
        let mut out = Vec::with_capacity(SAMPLER_STATE_HEADER + 4 * (h.len() + d.len()));
        out.extend_from_slice(SAMPLER_MAGIC);
        for v in [
            SAMPLER_STATE_VERSION,
            self.n_vocab as u32,
            h.capacity() as u32,
            h.len() as u32,
            d.capacity() as u32,
            d.len() as u32,
            self.mirostat_mu.to_bits(),
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for w in self.rng.state() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for t in h.iter().chain(d.iter()) {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out
    }

    /// Restores a state from [`Sampler::state`] (the constraint and the logits processor, which the
    /// state does not hold, are left as they are). A state of another vocabulary size or history
    /// lengths, another version (also version 1, from before DRY and mirostat), truncated, or
    /// holding a token outside the vocabulary is [`Error::BadState`], and the sampler is left as it
    /// was.
    pub fn state_read(&mut self, bytes: &[u8]) -> Result<()> {
        let bad = |reason: &str| Error::BadState {
            reason: format!("sampler state: {reason}"),
        };
        if bytes.len() < 12 || &bytes[..8] != SAMPLER_MAGIC {
            return Err(bad("not a sampler state"));
        }
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let version = u32_at(8);
        if version != SAMPLER_STATE_VERSION {
            return Err(bad(&format!(
                "version {version}; this llamette reads version {SAMPLER_STATE_VERSION} only \
                 (version 1 predates DRY and mirostat)"
            )));
        }
        if bytes.len() < SAMPLER_STATE_HEADER {
            return Err(bad("truncated or malformed"));
        }
        let (n_vocab, capacity, len) = (u32_at(12), u32_at(16), u32_at(20));
        let (dry_capacity, dry_len, mu) = (u32_at(24), u32_at(28), u32_at(32));
        if n_vocab as usize != self.n_vocab
            || capacity as usize != self.history.capacity()
            || dry_capacity as usize != self.dry_history.capacity()
        {
            return Err(bad(&format!(
                "saved for {n_vocab} tokens and a history of {capacity} ({dry_capacity} for \
                 DRY); this sampler has {} and {} ({})",
                self.n_vocab,
                self.history.capacity(),
                self.dry_history.capacity()
            )));
        }
        let (len, dry_len) = (len as usize, dry_len as usize);
        if len > capacity as usize
            || dry_len > dry_capacity as usize
            || bytes.len() != SAMPLER_STATE_HEADER + 4 * (len + dry_len)
        {
            return Err(bad("truncated or malformed"));
        }
        let token = |c: &[u8]| u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let tokens = &bytes[SAMPLER_STATE_HEADER..];
        if tokens
            .chunks_exact(4)
            .any(|c| token(c) as usize >= self.n_vocab)
        {
            return Err(bad("a token outside the vocabulary"));
        }
        let mut words = [0u64; 4];
        for (k, w) in words.iter_mut().enumerate() {
            let at = 36 + 8 * k;
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            *w = u64::from_le_bytes(b);
        }
        self.reset_history_and_rng();
        self.rng = Xoshiro256StarStar::from_state(words);
        self.mirostat_mu = f32::from_bits(mu);
        let (penalty_tokens, dry_tokens) = tokens.split_at(4 * len);
        for c in penalty_tokens.chunks_exact(4) {
            self.record_for_penalties(token(c));
        }
        for c in dry_tokens.chunks_exact(4) {
            self.dry_history.push(token(c));
        }
        Ok(())
    }
}

/// The parameter checks of [`Sampler::with_dry_breakers`]: the penalties as
/// `common_sampler_init` throws, the rest where llama.cpp aborts or would compute with NaN.
fn validate(p: &SamplerParams) -> Result<()> {
    let bad = |reason: String| Err(Error::BadParams { reason });
    let r = p.penalty_repeat;
    if !r.is_finite() || r <= 0.0 || !(1.0 / r).is_finite() {
        return bad(format!(
            "penalty_repeat must be finite and greater than 0, got {r}"
        ));
    }
    for (name, v) in [
        ("penalty_freq", p.penalty_freq),
        ("penalty_present", p.penalty_present),
        ("mirostat_tau", p.mirostat_tau),
        ("mirostat_eta", p.mirostat_eta),
        ("dry_multiplier", p.dry_multiplier),
        ("dry_base", p.dry_base),
    ] {
        if !v.is_finite() {
            return bad(format!("{name} must be finite, got {v}"));
        }
    }
    for (name, v) in [
        ("penalty_last_n", p.penalty_last_n),
        ("dry_allowed_length", p.dry_allowed_length),
        ("dry_penalty_last_n", p.dry_penalty_last_n),
    ] {
        if v > i32::MAX as usize {
            return bad(format!("{name} must be at most {}, got {v}", i32::MAX));
        }
    }
    if p.mirostat > 2 {
        return bad(format!(
            "mirostat must be 0 (off), 1 or 2 (the version), got {}",
            p.mirostat
        ));
    }
    Ok(())
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
