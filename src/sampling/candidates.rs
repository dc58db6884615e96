//! The candidate list every sampling stage works on (`llama_token_data_array` in llama.cpp's
//! `include/llama.h`).

use alloc::vec::Vec;
use core::cmp::Ordering;

/// One candidate token: its id, its (possibly modified) logit, and a probability that the stages
/// which compute one fill in (`llama_token_data`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenData {
    /// The token id.
    pub id: u32,
    /// The logit, after whatever stages have run so far.
    pub logit: f32,
    /// The probability, valid only after a stage that computes it ([`softmax`](super::softmax),
    /// [`top_p`](super::top_p), [`dist`](super::dist), dynamic temperature); `0.0` when the
    /// candidates were filled from logits.
    pub p: f32,
}

/// The candidate tokens of one sampling step, with a flag saying whether they are sorted by
/// descending logit (`llama_token_data_array`: `data`, `size`, `sorted`).
///
/// Stages shrink the list in place (its capacity never changes), so a `Candidates` made once
/// with room for the whole vocabulary serves every step without allocating again.
///
/// The order used for sorting is descending logit, ties broken by ascending token id, with a NaN
/// logit ranking as if it were `-inf` (so sorting is total, deterministic and never panics;
/// llama.cpp's `std::partial_sort` leaves the order of equal logits unspecified).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candidates {
    data: Vec<TokenData>,
    sorted: bool,
}

impl Candidates {
    /// An empty list with no room reserved.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `n` candidates, or `None` when that much memory cannot be
    /// reserved (instead of aborting or panicking).
    pub fn try_with_capacity(n: usize) -> Option<Self> {
        let mut data = Vec::new();
        data.try_reserve_exact(n).ok()?;
        Some(Self {
            data,
            sorted: false,
        })
    }

    /// One candidate per logit: token `i` gets `logits[i]`, probability `0.0`, unsorted.
    /// Allocates; see [`fill_from_logits`](Self::fill_from_logits) to reuse a list. Token ids are
    /// `u32`, so at most 2^32 logits are taken.
    pub fn from_logits(logits: &[f32]) -> Self {
        let mut c = Self::new();
        c.fill_from_logits(logits);
        c
    }

    /// Replaces the contents with one candidate per logit (token `i` gets `logits[i]`),
    /// unsorted. Allocates only when `logits` is longer than the capacity.
    pub fn fill_from_logits(&mut self, logits: &[f32]) {
        self.data.clear();
        self.data
            .extend(
                (0..=u32::MAX)
                    .zip(logits)
                    .map(|(id, &logit)| TokenData { id, logit, p: 0.0 }),
            );
        self.sorted = false;
    }

    /// Number of candidates left.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether no candidate is left.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// How many candidates fit without allocating.
    pub fn capacity(&self) -> usize {
        self.data.capacity()
    }

    /// Whether the candidates are known to be sorted by descending logit (set by the stages that
    /// sort, cleared by those that change logits out of order).
    pub fn is_sorted(&self) -> bool {
        self.sorted
    }

    /// The candidates, in their current order.
    pub fn as_slice(&self) -> &[TokenData] {
        &self.data
    }

    /// Iterates over the candidates in their current order.
    pub fn iter(&self) -> core::slice::Iter<'_, TokenData> {
        self.data.iter()
    }

    /// The candidates to change in place (their logits, say: what a
    /// [`LogitsProcessor`](super::LogitsProcessor) does). Clears the sorted flag, since the
    /// order may no longer hold.
    pub fn as_mut_slice(&mut self) -> &mut [TokenData] {
        self.sorted = false;
        &mut self.data
    }

    /// Keeps only the candidates for which `keep` is true, in their order (so a sorted list
    /// stays sorted). What a [`Constraint`](super::Constraint) uses to remove tokens.
    pub fn retain(&mut self, mut keep: impl FnMut(&TokenData) -> bool) {
        self.data.retain(|d| keep(d));
    }

    /// The candidates for a stage to modify. A stage that may break the descending order must
    /// clear the flag with [`set_sorted`](Self::set_sorted).
    pub(super) fn data_mut(&mut self) -> &mut Vec<TokenData> {
        &mut self.data
    }

    pub(super) fn set_sorted(&mut self, sorted: bool) {
        self.sorted = sorted;
    }

    /// Sorts all candidates by descending logit.
    pub(super) fn sort(&mut self) {
        self.data.sort_unstable_by(descending);
        self.sorted = true;
    }

    /// Puts the `k` best candidates first, sorted, leaving the rest after them in no particular
    /// order (`llama_token_data_array_partial_sort_inplace` without the truncation). Does not
    /// touch the `sorted` flag. `k` is clamped to the length.
    pub(super) fn sort_head(&mut self, k: usize) {
        let k = k.min(self.data.len());
        if k == 0 {
            return;
        }
        if k < self.data.len() {
            self.data.select_nth_unstable_by(k - 1, descending);
        }
        self.data[..k].sort_unstable_by(descending);
    }
}

impl From<Vec<TokenData>> for Candidates {
    /// Takes the candidates as given, unsorted.
    fn from(data: Vec<TokenData>) -> Self {
        Self {
            data,
            sorted: false,
        }
    }
}

impl FromIterator<TokenData> for Candidates {
    fn from_iter<I: IntoIterator<Item = TokenData>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a Candidates {
    type Item = &'a TokenData;
    type IntoIter = core::slice::Iter<'a, TokenData>;

    fn into_iter(self) -> Self::IntoIter {
        self.data.iter()
    }
}

/// The logit as the stages rank it: NaN counts as `-inf` (never preferred, never a NaN in a
/// comparison or a softmax).
#[inline]
pub(super) fn rank(logit: f32) -> f32 {
    if logit.is_nan() {
        f32::NEG_INFINITY
    } else {
        logit
    }
}

/// Descending logit (NaN as `-inf`), then ascending id: a total order.
pub(super) fn descending(a: &TokenData, b: &TokenData) -> Ordering {
    rank(b.logit)
        .partial_cmp(&rank(a.logit))
        .unwrap_or(Ordering::Equal)
        .then(a.id.cmp(&b.id))
}
