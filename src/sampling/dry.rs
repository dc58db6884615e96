//! DRY ("Don't Repeat Yourself"): penalises the tokens that would extend a sequence already
//! repeated in the recent context (`llama_sampler_dry` in llama.cpp's `src/llama-sampler.cpp`,
//! commit 0c1e570, itself ported from koboldcpp PR 982 by pi6am).
//!
//! Two parts: [`DryBreakers`], the sequence breakers worked out once from the vocabulary
//! (`llama_sampler_init_dry` with `get_overlapping_token_sequences`), and [`Dry`], the stage with
//! its scratch memory (`llama_sampler_dry_apply`), which allocates only in [`Dry::new`].

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::candidates::{Candidates, TokenData};
use super::history::TokenHistory;
use super::stages::{logf, pow};
use crate::error::{Error, Result};
use crate::tokenizer::Vocab;

/// A breaker string longer than this many bytes is cut to it (llama.cpp's `MAX_CHAR_LEN`).
pub const DRY_MAX_BREAKER_BYTES: usize = 40;
/// A breaker's tail is cut to this many tokens (llama.cpp's `MAX_SEQ_LEN`), which keeps the
/// restart-sequence scan linear in the window.
pub const DRY_MAX_TAIL_TOKENS: usize = 20;

/// One restart sequence: a head token followed by `len` tail tokens at `tails[start..]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    head: u32,
    start: u32,
    len: u32,
}

/// DRY's sequence breakers as token sequences: for each head token, the tails that complete a
/// breaker string after it (llama.cpp's `dry_processed_breakers`, an
/// `unordered_multimap<llama_token, std::vector<llama_token>>`).
///
/// A head with an empty tail is a token whose text contains a whole breaker string: it ends
/// every repetition by itself and is never penalised. A head with a tail is a token whose text
/// ends with the start of a breaker string; the tail is the tokenization of the rest.
///
/// Held as a list sorted by head token (lookups are binary searches, nothing allocated after
/// construction). The order of several tails of one head does not matter to DRY.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DryBreakers {
    entries: Vec<Entry>,
    tails: Vec<u32>,
}

impl DryBreakers {
    /// No breakers: repetitions run until the start of the window.
    pub fn none() -> Self {
        Self::default()
    }

    /// The breakers for `breakers` over `vocab`, as `llama_sampler_init_dry` works them out:
    /// an empty string is skipped, a string is cut to its first [`DRY_MAX_BREAKER_BYTES`]
    /// bytes, and for every token of the vocabulary (in id order) its text,
    /// `vocab.detokenize(&[id], false, true)` (llama.cpp's `vocab.detokenize({id}, true)`), is
    /// compared with the string (`get_overlapping_token_sequences`):
    ///
    /// - the text contains the whole string: the token is a head with an empty tail;
    /// - otherwise, at each position where the text holds the string's first byte and the text's
    ///   remaining bytes are a prefix of the string, the rest of the string is tokenized
    ///   (`tokenize(rest, false, false)`), cut to [`DRY_MAX_TAIL_TOKENS`] tokens, and added as a
    ///   tail of that token unless the token already has that tail.
    ///
    /// The comparison is over bytes. A rest that is not valid UTF-8 (the string was cut inside
    /// a character, or the token's text ends inside one) is tokenized with each byte that is
    /// not part of a whole character replaced by U+FFFD, which is what llama.cpp's byte-level
    /// BPE tokenizer does with such input (its SPM tokenizer gives byte tokens instead).
    ///
    /// Costs one detokenization per token (shared by all breakers) and a scan of every token
    /// text per breaker; fails only where tokenizing a rest fails ([`Vocab::tokenize`]).
    pub fn new<S: AsRef<str>>(vocab: &Vocab, breakers: &[S]) -> Result<Self> {
        let mut map: BTreeMap<u32, Vec<Vec<u32>>> = BTreeMap::new();
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for breaker in breakers {
            let b = breaker.as_ref().as_bytes();
            if b.is_empty() {
                continue; // llama.cpp: "skipping null or empty DRY sequence breaker"
            }
            let b = &b[..b.len().min(DRY_MAX_BREAKER_BYTES)];
            if texts.is_empty() {
                // The token texts, once for every breaker.
                texts.reserve_exact(vocab.n_tokens());
                for id in 0..vocab.n_tokens() as u32 {
                    texts.push(vocab.detokenize(&[id], false, true)?);
                }
            }
            overlapping_token_sequences(vocab, &texts, b, &mut map)?;
        }
        let mut out = Self::default();
        for (head, tails) in map {
            for tail in tails {
                out.entries.push(Entry {
                    head,
                    start: out.tails.len() as u32,
                    len: tail.len() as u32,
                });
                out.tails.extend_from_slice(&tail);
            }
        }
        Ok(out)
    }

    /// Breakers given as token sequences, each its head token then its tail
    /// (`llama_sampler_init_dry_testing`); empty sequences are skipped. The tails are kept whole
    /// (not cut to [`DRY_MAX_TAIL_TOKENS`]), as there.
    pub fn from_token_sequences<T: AsRef<[u32]>>(sequences: &[T]) -> Self {
        let mut seqs: Vec<&[u32]> = sequences
            .iter()
            .map(|s| s.as_ref())
            .filter(|s| !s.is_empty())
            .collect();
        seqs.sort_by_key(|s| s[0]);
        let mut out = Self::default();
        for s in seqs {
            out.entries.push(Entry {
                head: s[0],
                start: out.tails.len() as u32,
                len: (s.len() - 1) as u32,
            });
            out.tails.extend_from_slice(&s[1..]);
        }
        out
    }

    /// How many (head, tail) sequences there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The tails of the breakers that start with `head` (none when it starts none), in no
    /// particular order; an empty tail means `head` is a breaker by itself.
    pub fn tails(&self, head: u32) -> impl Iterator<Item = &[u32]> + '_ {
        self.range(head)
            .iter()
            .map(move |e| &self.tails[e.start as usize..(e.start + e.len) as usize])
    }

    fn range(&self, head: u32) -> &[Entry] {
        let lo = self.entries.partition_point(|e| e.head < head);
        let hi = lo + self.entries[lo..].partition_point(|e| e.head == head);
        &self.entries[lo..hi]
    }

    /// Whether `token` is a breaker by itself (has an empty tail).
    fn is_single_token_breaker(&self, token: u32) -> bool {
        self.range(token).iter().any(|e| e.len == 0)
    }
}

/// `get_overlapping_token_sequences(vocab, str, token_sequences, MAX_SEQ_LEN)` over the token
/// texts `texts` (index = id).
fn overlapping_token_sequences(
    vocab: &Vocab,
    texts: &[Vec<u8>],
    s: &[u8],
    map: &mut BTreeMap<u32, Vec<Vec<u32>>>,
) -> Result<()> {
    for (id, word) in (0u32..).zip(texts) {
        if contains(word, s) {
            // llama.cpp emplaces without looking for a duplicate here.
            map.entry(id).or_default().push(Vec::new());
            continue;
        }
        let mut from = 0;
        while let Some(off) = word[from..].iter().position(|&c| c == s[0]) {
            let pos = from + off;
            from = pos + 1;
            // Compare the string's bytes 1.. with the text's from pos + 1 until either ends.
            let mut i = 1;
            let mut matched = true;
            while i < s.len() && i + pos < word.len() {
                if word[pos + i] != s[i] {
                    matched = false;
                    break;
                }
                i += 1;
            }
            if !matched {
                continue;
            }
            // The text contains no whole copy of the string, so the text ended first: the
            // rest of the string, s[i..], is what the tail must spell.
            let rest = utf8_per_byte_lossy(&s[i..]);
            let mut tail = vocab.tokenize(&rest, false, false)?;
            tail.truncate(DRY_MAX_TAIL_TOKENS);
            let tails = map.entry(id).or_default();
            if !tails.contains(&tail) {
                tails.push(tail);
            }
        }
    }
    Ok(())
}

/// Whether `needle` (non-empty) occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `bytes` as a string, each byte that is not part of a complete UTF-8 character replaced by
/// U+FFFD (llama.cpp's `unicode_cpts_from_utf8` on a suffix of valid UTF-8, possibly cut short).
fn utf8_per_byte_lossy(mut bytes: &[u8]) -> String {
    let mut out = String::new();
    loop {
        match core::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let good = e.valid_up_to();
                // `valid_up_to` bytes are valid by definition.
                out.push_str(core::str::from_utf8(&bytes[..good]).unwrap_or(""));
                let bad = e.error_len().unwrap_or(bytes.len() - good);
                for _ in 0..bad {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
                bytes = &bytes[good + bad..];
            }
        }
    }
}

/// DRY's settings (the `dry_*` fields of [`SamplerParams`](super::SamplerParams)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DryParams {
    /// Scales the penalty (`dry_multiplier`); 0.0 disables DRY.
    pub multiplier: f32,
    /// The penalty grows as `base` to the power of the repeat length beyond `allowed_length`
    /// (`dry_base`); below 1.0 disables DRY.
    pub base: f32,
    /// Repetitions up to this many tokens are not penalised (`dry_allowed_length`).
    pub allowed_length: usize,
    /// How many recent tokens are searched for repetitions (`dry_penalty_last_n`); 0 disables
    /// DRY.
    pub last_n: usize,
}

impl DryParams {
    /// Whether DRY does nothing (`dry_enabled` false in `llama_sampler_init_dry`: multiplier 0,
    /// base below 1, or no window). A NaN multiplier or base also counts as disabled (llama.cpp
    /// would write NaN logits).
    pub fn is_disabled(&self) -> bool {
        self.multiplier == 0.0
            || self.multiplier.is_nan()
            || self.base.is_nan()
            || self.base < 1.0
            || self.last_n == 0
    }
}

/// The DRY stage: its parameters, breakers and scratch memory (`llama_sampler_dry` less the
/// token window, which the caller passes: a slice to [`Dry::apply`], or the
/// [`Sampler`](super::Sampler)'s own window).
#[derive(Debug, Clone, PartialEq)]
pub struct Dry {
    params: DryParams,
    breakers: DryBreakers,
    /// `dry_repeat_count`: for each position of the window, the length of the repeat ending
    /// there (`last_n` entries).
    pub(super) repeat_count: Vec<usize>,
    /// `dry_max_token_repeat` as (token, longest repeat it would extend) pairs (at most
    /// `last_n - 1`).
    pub(super) max_repeat: Vec<(u32, usize)>,
}

impl Dry {
    /// The stage for `params` and `breakers`, with its scratch memory (`2 * params.last_n`
    /// words when enabled, nothing otherwise). Fails with [`Error::BadParams`] when that memory
    /// cannot be allocated.
    pub fn new(params: DryParams, breakers: DryBreakers) -> Result<Self> {
        let n = if params.is_disabled() {
            0
        } else {
            params.last_n
        };
        let no_memory = || Error::BadParams {
            reason: alloc::format!("cannot allocate DRY's scratch for a window of {n}"),
        };
        let mut repeat_count = Vec::new();
        repeat_count.try_reserve_exact(n).map_err(|_| no_memory())?;
        let mut max_repeat = Vec::new();
        max_repeat.try_reserve_exact(n).map_err(|_| no_memory())?;
        Ok(Self {
            params,
            breakers,
            repeat_count,
            max_repeat,
        })
    }

    /// Its parameters.
    pub fn params(&self) -> &DryParams {
        &self.params
    }

    /// Its breakers.
    pub fn breakers(&self) -> &DryBreakers {
        &self.breakers
    }

    /// Penalises the candidates that would extend a repetition found in the last
    /// `params.last_n` tokens of `history` (oldest first; `llama_sampler_dry_apply`), in four
    /// steps:
    ///
    /// 1. Nothing happens when DRY is disabled or the window holds at most `allowed_length`
    ///    tokens. Walking back from the newest token, the first token that is the head of a
    ///    breaker whose tail matches the tokens after it (the longest such tail) limits the
    ///    repeat length to the tokens after that breaker (`rep_limit`); nothing happens when
    ///    that limit is below `allowed_length`.
    /// 2. For each position, the length (capped at `rep_limit`) of the longest suffix of the
    ///    window that also ends there, by the Z-algorithm run backwards.
    /// 3. For each position whose repeat is at least `allowed_length` long, the token that
    ///    followed it would extend the repeat: the longest such repeat per token.
    /// 4. Each of those tokens that is not a breaker by itself gets
    ///    `logit -= (multiplier as f64 * pow(base as f64, (len - allowed_length) as f64)) as
    ///    f32` (llama.cpp's `float * std::pow(float, int)`, computed in double), the exponent capped
    ///    at `(int)(88.7228391f / logf(base))` when `base > 1.000001`. The sorted flag is
    ///    cleared.
    ///
    /// Tokens of the window that are not among the candidates change nothing; a candidate is
    /// found at index `token` while the list is in vocabulary order there, else by a scan.
    pub fn apply(&mut self, cands: &mut Candidates, history: &[u32]) {
        let window = &history[history.len().saturating_sub(self.params.last_n)..];
        let n = window.len();
        self.apply_with(cands, n, |i| window[n - 1 - i]);
    }

    /// [`Dry::apply`] over the sampler's ring buffer.
    pub(super) fn apply_ring(&mut self, cands: &mut Candidates, history: &TokenHistory) {
        let n = history.len().min(self.params.last_n);
        self.apply_with(cands, n, |i| history.rat(i));
    }

    /// [`Dry::apply`]'s steps over a window of `len` tokens, `rat(i)` being the token `i`
    /// places before the newest.
    fn apply_with(&mut self, cands: &mut Candidates, len: usize, rat: impl Fn(usize) -> u32) {
        let p = self.params;
        if p.is_disabled() {
            return;
        }
        let last_n_repeat = len;
        if last_n_repeat <= p.allowed_length {
            return;
        }

        // Step 1: restart sequences limit the repeat length.
        let mut rep_limit = last_n_repeat;
        for i in 0..last_n_repeat {
            let token = rat(i);
            let mut longest_match: Option<usize> = None;
            for tail in self.breakers.tails(token) {
                let seq_len = tail.len();
                // `seq_len > longest_match` with llama.cpp's -1 for "none yet".
                let longer = longest_match.is_none_or(|l| seq_len > l);
                if longer && seq_len <= i {
                    // The tail follows the head: tail[offset] is the token i - offset - 1
                    // places before the newest.
                    if (0..seq_len).all(|offset| tail[offset] == rat(i - offset - 1)) {
                        longest_match = Some(seq_len);
                    }
                }
            }
            if let Some(l) = longest_match {
                rep_limit = i - l;
                break;
            }
        }
        if rep_limit < p.allowed_length {
            return;
        }

        // Step 2: the Z-algorithm over the reversed window.
        let counts = &mut self.repeat_count;
        counts.clear();
        counts.resize(last_n_repeat, 0);
        let last = last_n_repeat - 1;
        let (mut lt, mut rt) = (0usize, 0usize);
        for k in 1..last_n_repeat {
            if k > rt {
                // Outside the current Z-box: compare naively.
                let mut n = 0;
                while n + k < last_n_repeat && rat(n) == rat(n + k) {
                    n += 1;
                }
                counts[last - k] = n.min(rep_limit);
                if n > 0 {
                    lt = k;
                    rt = k + n - 1;
                }
            } else {
                // Inside the Z-box.
                let pair = k - lt;
                let right_part_len = rt - k + 1;
                if counts[last - pair] < right_part_len {
                    counts[last - k] = counts[last - pair].min(rep_limit);
                } else {
                    let mut i = rt + 1;
                    while i < last_n_repeat && rat(i) == rat(i - k) {
                        i += 1;
                    }
                    counts[last - k] = (i - k).min(rep_limit);
                    lt = k;
                    rt = i - 1;
                }
            }
        }

        // Step 3: the longest repeat each following token would extend.
        let max_repeat = &mut self.max_repeat;
        max_repeat.clear();
        for (i, &repeat_len) in counts[..last_n_repeat - 1].iter().enumerate() {
            if repeat_len >= p.allowed_length {
                max_repeat.push((rat(last_n_repeat - 2 - i), repeat_len));
            }
        }
        // Per token, the longest first; then one entry per token.
        max_repeat.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        max_repeat.dedup_by_key(|e| e.0);

        // Step 4: the penalties.
        const FLOAT_MAX_LOG: f32 = 88.722_84;
        let mut max_exponent = 0usize;
        if p.base > 1.000_001 {
            // C's float-to-int conversion truncates; the quotient is below 2^27 here.
            max_exponent = (FLOAT_MAX_LOG / logf(p.base)) as usize;
        }
        for &(token, repeat_len) in max_repeat.iter() {
            if self.breakers.is_single_token_breaker(token) {
                continue;
            }
            let mut repeat_exp = repeat_len - p.allowed_length;
            if max_exponent > 0 && repeat_exp > max_exponent {
                repeat_exp = max_exponent;
            }
            let penalty =
                (f64::from(p.multiplier) * pow(f64::from(p.base), repeat_exp as f64)) as f32;
            penalize(cands, token, penalty);
        }
        cands.set_sorted(false);
    }
}

/// `logit -= penalty` for the candidate(s) with id `token`.
fn penalize(cands: &mut Candidates, token: u32, penalty: f32) {
    let apply = |d: &mut TokenData| d.logit -= penalty;
    let data = cands.data_mut();
    match data.get_mut(token as usize) {
        Some(d) if d.id == token => apply(d),
        _ => data.iter_mut().filter(|d| d.id == token).for_each(apply),
    }
}
