//! The sampling stages, each usable alone on a [`Candidates`] list.
//!
//! Each follows the llama.cpp function named in its documentation (`src/llama-sampler.cpp` at
//! commit 0c1e570) in what it keeps, in what order, and with which float operations, except
//! where a difference is documented. None of them allocates and none of them panics, whatever
//! the logits (NaN, infinities) and parameters; a NaN logit ranks as `-inf` everywhere.

use super::candidates::{rank, Candidates, TokenData};
use super::rng::Xoshiro256StarStar;
use crate::kernels::mathf::{expf, powf};

/// `logf` of the platform's C library under `std` (as llama.cpp calls it), the `libm` crate's
/// without. Here until `kernels::mathf` grows one.
#[inline]
pub(super) fn logf(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.ln()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::logf(x)
    }
}

/// `log2f` (mirostat's surprise), as [`logf`].
#[inline]
pub(super) fn log2f(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.log2()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::log2f(x)
    }
}

/// `sqrtf` (correctly rounded everywhere, as IEEE 754 requires).
#[inline]
fn sqrtf(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrtf(x)
    }
}

/// Double-precision `pow`, as C++'s `std::pow(float, int)` computes (both promoted to
/// double): DRY's penalty.
#[inline]
pub(super) fn pow(x: f64, y: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.powf(y)
    }
    #[cfg(not(feature = "std"))]
    {
        libm::pow(x, y)
    }
}

/// Double-precision `exp`, as `llama_sampler_temp_ext_apply` uses for its renormalisation.
#[inline]
fn exp(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.exp()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::exp(x)
    }
}

/// The largest logit (NaN as `-inf`; `-inf` for an empty list).
fn max_rank(data: &[TokenData]) -> f32 {
    data.iter()
        .fold(f32::NEG_INFINITY, |m, d| m.max(rank(d.logit)))
}

/// `expf(logit - max)`, except that a logit equal to the maximum gives exactly `1.0` (which is
/// what `expf(0)` gives) also when the maximum is infinite, where llama.cpp's `inf - inf` would
/// make every probability NaN: all `+inf` logits then share the mass, and a list of nothing
/// but `-inf`/NaN logits becomes uniform.
#[inline]
fn unnormalized(logit: f32, max: f32) -> f32 {
    let l = rank(logit);
    if l == max {
        1.0
    } else {
        expf(l - max)
    }
}

/// Adds each `(token, bias)` to the logit of the candidate(s) with that id
/// (`llama_sampler_logit_bias_apply`).
///
/// Like llama.cpp it first looks at index `token` (where the candidate is while the list is
/// still in vocabulary order), and scans the list only when that is not the token. A token that
/// is not among the candidates is ignored. `-inf` bans a token. Clears the sorted flag when a
/// bias was applied (llama.cpp keeps it, because the stage always runs first in its chain).
pub fn logit_bias(cands: &mut Candidates, biases: &[(u32, f32)]) {
    let mut applied = false;
    let data = cands.data_mut();
    for &(token, bias) in biases {
        match data.get_mut(token as usize) {
            Some(d) if d.id == token => {
                d.logit += bias;
                applied = true;
            }
            _ => {
                for d in data.iter_mut().filter(|d| d.id == token) {
                    d.logit += bias;
                    applied = true;
                }
            }
        }
    }
    if applied {
        cands.set_sorted(false);
    }
}

/// The repetition penalties: repeat (CTRL-style), frequency and presence (OpenAI-style)
/// (`llama_sampler_init_penalties`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalties {
    /// How many of the most recent tokens count (`penalty_last_n`, `--repeat-last-n`); 0
    /// disables the penalties.
    pub last_n: usize,
    /// Divides a positive logit, multiplies a non-positive one, for every token that occurs in
    /// the window (`penalty_repeat`, `--repeat-penalty`); 1.0 disables it.
    pub repeat: f32,
    /// Subtracted once per occurrence in the window (`penalty_freq`, `--frequency-penalty`); 0.0
    /// disables it.
    pub freq: f32,
    /// Subtracted once for a token that occurs at all (`penalty_present`,
    /// `--presence-penalty`); 0.0 disables it.
    pub present: f32,
}

impl Penalties {
    /// Whether applying them changes nothing (`llama_sampler_penalties::is_disabled`).
    pub fn is_disabled(&self) -> bool {
        self.last_n == 0 || (self.repeat == 1.0 && self.freq == 0.0 && self.present == 0.0)
    }
}

/// Penalises the candidates that occur among the last `pen.last_n` tokens of `history`
/// (`llama_sampler_penalties_apply`). With `count` the number of occurrences of a candidate's
/// id in that window, a candidate with `count > 0` becomes
///
/// ```text
/// logit = if logit <= 0 { logit * repeat } else { logit / repeat };
/// logit -= count as f32 * freq + present;
/// ```
///
/// (in that order, each operation rounded in f32, as in llama.cpp; dividing a positive logit
/// and multiplying a negative one both push it down for `repeat > 1`). Clears the sorted flag
/// unless the penalties are disabled.
///
/// Counting costs O(`last_n`²) comparisons (no memory); [`Sampler`](super::Sampler) keeps
/// running counts instead and pays O(`last_n`) per step.
pub fn penalties(cands: &mut Candidates, history: &[u32], pen: &Penalties) {
    if pen.is_disabled() {
        return;
    }
    let window = &history[history.len().saturating_sub(pen.last_n)..];
    for (j, &token) in window.iter().enumerate() {
        // Each distinct token once, at its first occurrence.
        if window[..j].contains(&token) {
            continue;
        }
        let count = window[j..].iter().filter(|&&t| t == token).count();
        penalize_token(cands, token, count, pen);
    }
    cands.set_sorted(false);
}

/// Applies the penalties for a token that occurs `count > 0` times in the window to the
/// candidate(s) with that id: index `token` if the list is in vocabulary order there, else a
/// scan. Leaves the sorted flag to the caller.
pub(super) fn penalize_token(cands: &mut Candidates, token: u32, count: usize, pen: &Penalties) {
    let apply = |d: &mut TokenData| {
        // The paper divides only, which would make negative logits more likely; llama.cpp
        // multiplies those instead.
        if d.logit <= 0.0 {
            d.logit *= pen.repeat;
        } else {
            d.logit /= pen.repeat;
        }
        d.logit -= count as f32 * pen.freq + pen.present;
    };
    let data = cands.data_mut();
    match data.get_mut(token as usize) {
        Some(d) if d.id == token => apply(d),
        _ => data.iter_mut().filter(|d| d.id == token).for_each(apply),
    }
}

/// Keeps the `k` candidates with the highest logits, sorted by descending logit
/// (`llama_sampler_top_k_impl`). `k == 0` does nothing (llama.cpp: `k <= 0`); a `k` larger
/// than the list keeps all of them (and sorts them).
pub fn top_k(cands: &mut Candidates, k: usize) {
    if k == 0 {
        return;
    }
    let k = k.min(cands.len());
    if !cands.is_sorted() {
        cands.sort_head(k);
        cands.set_sorted(true);
    }
    cands.data_mut().truncate(k);
}

/// Sorts the candidates by descending logit and sets each probability to its softmax
/// (`llama_sampler_softmax_impl` with `do_sort`):
///
/// ```text
/// p_i = expf(logit_i - max) in f32;  sum = Σ p_i in f32, in list order;  p_i = p_i / sum
/// ```
///
/// with NaN logits counted as `-inf` and the infinite-maximum cases of
/// [`dist`]'s documentation. Does nothing on an empty list (llama.cpp asserts).
pub fn softmax(cands: &mut Candidates) {
    if cands.is_empty() {
        return;
    }
    if !cands.is_sorted() {
        cands.sort();
    }
    softmax_in_order(cands);
}

/// The softmax without sorting (`llama_sampler_softmax_impl(cur_p, false)`).
fn softmax_in_order(cands: &mut Candidates) {
    let data = cands.data_mut();
    let max = max_rank(data);
    let mut sum = 0.0f32;
    for d in data.iter_mut() {
        d.p = unnormalized(d.logit, max);
        sum += d.p;
    }
    // sum >= 1: the maximum contributes exactly 1.
    for d in data.iter_mut() {
        d.p /= sum;
    }
}

/// Nucleus sampling: keeps the smallest prefix of the candidates, sorted by descending
/// probability, whose cumulative probability reaches `p`, and at least `min_keep` of them
/// (`llama_sampler_top_p_apply`).
///
/// The probabilities are the softmax over all current candidates (so, in the default chain,
/// before temperature) and are left as they are, not renormalised over the survivors. The sum
/// is accumulated in f32 in sorted order, and the candidate at which it first reaches `p` (and
/// the count reaches `min_keep`) is kept. `p >= 1` or NaN does nothing; `p <= 0` keeps
/// `max(1, min_keep)` candidates. The survivors are sorted.
///
/// Like llama.cpp, a list longer than 1024 that is not sorted is not fully sorted at first:
/// the best 256 are selected and sorted, and the rest only if they are needed.
pub fn top_p(cands: &mut Candidates, p: f32, min_keep: usize) {
    // llama.cpp runs a NaN `p` with no effect but a sort.
    if p.is_nan() || p >= 1.0 || cands.is_empty() {
        return;
    }
    softmax_in_order(cands);

    let len = cands.len();
    // How many candidates at the front are sorted so far.
    let mut sorted_upto = len;
    if !cands.is_sorted() {
        if len > 1024 {
            sorted_upto = 256;
        }
        cands.sort_head(sorted_upto);
    }

    let mut last = len;
    let mut cum = 0.0f32;
    for i in 0..len {
        if i == sorted_upto {
            // Needed more than the head: sort the rest, which all rank below it.
            cands.data_mut()[sorted_upto..].sort_unstable_by(super::candidates::descending);
            sorted_upto = len;
        }
        cum += cands.as_slice()[i].p;
        if cum >= p && i + 1 >= min_keep {
            last = i + 1;
            break;
        }
    }
    // The kept prefix is sorted in every case.
    cands.data_mut().truncate(last);
    cands.set_sorted(true);
}

/// Keeps the candidates whose probability is at least `p` times the largest one, and at least
/// `min_keep` of them (`llama_sampler_min_p_apply`): a candidate stays when
/// `logit >= max_logit + logf(p)`.
///
/// Unsorted candidates keep their order when at least `max(1, min_keep)` pass; otherwise (or if
/// already sorted) the list is sorted and the first candidate, plus every following one that
/// passes or is needed to reach `min_keep`, is kept. `p <= 0` or NaN does nothing; `p > 1`
/// keeps `max(1, min_keep)` candidates. No probabilities are computed.
pub fn min_p(cands: &mut Candidates, p: f32, min_keep: usize) {
    if p.is_nan() || p <= 0.0 || cands.is_empty() {
        return;
    }
    let log_p = logf(p);

    if !cands.is_sorted() {
        // llama.cpp starts its maximum at -FLT_MAX, so a list of only -inf logits passes no
        // candidate here and falls through to the sorted path below.
        let max = cands.iter().fold(f32::MIN, |m, d| m.max(rank(d.logit)));
        let min_logit = max + log_p;
        let passing = cands.iter().filter(|d| rank(d.logit) >= min_logit).count();
        if passing > 0 && passing >= min_keep {
            cands.data_mut().retain(|d| rank(d.logit) >= min_logit);
            return;
        }
        cands.sort();
    }

    let data = cands.data_mut();
    let min_logit = rank(data[0].logit) + log_p;
    let mut i = 1;
    while i < data.len() {
        if rank(data[i].logit) < min_logit && i >= min_keep {
            break;
        }
        i += 1;
    }
    data.truncate(i);
}

/// Divides every logit by `temp` (`llama_sampler_temp_impl`).
///
/// `temp <= 0` (or NaN) keeps only the first candidate with the highest logit and sets every
/// other logit to `-inf`, so that a following [`dist`] can only pick it.
pub fn temperature(cands: &mut Candidates, temp: f32) {
    let data = cands.data_mut();
    if data.is_empty() {
        return;
    }
    if temp.is_nan() || temp <= 0.0 {
        let mut max_i = 0;
        let mut max_l = rank(data[0].logit);
        for i in 1..data.len() {
            if rank(data[i].logit) > max_l {
                data[max_i].logit = f32::NEG_INFINITY;
                max_i = i;
                max_l = rank(data[i].logit);
            } else {
                data[i].logit = f32::NEG_INFINITY;
            }
        }
        return;
    }
    // Dividing by a positive number keeps the order, so the sorted flag stays true.
    for d in data.iter_mut() {
        d.logit /= temp;
    }
}

/// Temperature, or dynamic temperature when `delta > 0` (`llama_sampler_temp_ext_apply`,
/// "entropy-based dynamic temperature").
///
/// With `delta > 0` and at least two candidates: sort and softmax, take the entropy
/// `H = -Σ p·logf(p)` over `p > 0`, normalise it by `logf(n)` (computed as `-logf(1/n)`), and
/// divide the logits by `lo + (hi - lo)·powf(H / Hmax, exponent)` with `lo = max(0, temp -
/// delta)` and `hi = temp + delta` (through [`temperature`]), then
/// recompute the probabilities in f64 (`exp` of each logit minus the first, summed in f64,
/// stored as f32). Otherwise it is [`temperature`]`(temp)`.
pub fn temperature_ext(cands: &mut Candidates, temp: f32, delta: f32, exponent: f32) {
    if delta.is_nan() || delta <= 0.0 {
        temperature(cands, temp);
        return;
    }
    let min_temp = (temp - delta).max(0.0);
    let max_temp = temp + delta;
    let n = cands.len();
    if n <= 1 {
        return;
    }
    let max_entropy = -logf(1.0 / n as f32);

    softmax(cands);
    let mut entropy = 0.0f32;
    for d in cands.iter() {
        if d.p > 0.0 {
            entropy -= d.p * logf(d.p);
        }
    }
    let normalized_entropy = entropy / max_entropy;
    let dyn_temp = min_temp + (max_temp - min_temp) * powf(normalized_entropy, exponent);

    temperature(cands, dyn_temp);

    // llama.cpp takes data[0] as the maximum (the list is sorted); the scan agrees and also
    // copes with NaN.
    let data = cands.data_mut();
    let max = f64::from(max_rank(data));
    let mut sum = 0.0f64;
    for d in data.iter_mut() {
        let l = f64::from(rank(d.logit));
        let e = if l == max { 1.0 } else { exp(l - max) };
        d.p = e as f32;
        sum += e;
    }
    for d in data.iter_mut() {
        d.p = (f64::from(d.p) / sum) as f32;
    }
}

/// The id of the first candidate with the highest logit (`llama_sampler_greedy_apply`: a later
/// candidate replaces it only if strictly greater, so ties go to the earliest in list order,
/// which in vocabulary order is the lowest id). NaN counts as `-inf`. `None` when empty.
pub fn greedy(cands: &Candidates) -> Option<u32> {
    let data = cands.as_slice();
    let first = data.first()?;
    let mut best = first;
    for d in &data[1..] {
        if rank(d.logit) > rank(best.logit) {
            best = d;
        }
    }
    Some(best.id)
}

/// Draws a candidate at random from the softmax of the logits (`llama_sampler_dist_apply`) and
/// stores the normalised probabilities in the candidates. `None` when empty (no draw).
///
/// The exact procedure, reproducible given the same candidates (same order) and generator
/// state:
///
/// 1. One candidate: one draw is consumed (as llama.cpp does, to keep the stream aligned), its
///    `p` becomes 1 and it is chosen.
/// 2. Otherwise `max` = the largest logit (NaN counting as `-inf`); for each candidate in list
///    order `e_i = expf(logit_i - max)` in f32 (exactly 1 for a logit equal to `max`, so
///    an infinite maximum is shared among the candidates that reach it, and an all-`-inf` list
///    is uniform); `S = Σ e_i` accumulated in f64 in list order.
/// 3. `u = rng.next_f64()` (top 53 bits of one `next_u64`, times 2^-53: `0 <= u < 1`); target
///    `T = S * u` in f64.
/// 4. Walking the list, `R += e_i` in f64; the first candidate with `e_i > 0` and `R >= T` is
///    chosen. (llama.cpp omits `e_i > 0`, which matters only for `u == 0`, when it could pick
///    a leading zero-probability candidate.) If rounding left none, the last candidate with
///    `e_i > 0` is chosen.
/// 5. Every `p_i` becomes `(e_i as f64 / S) as f32`.
///
/// Step 4 uses only additions and comparisons and step 3 only exact operations, so the draw is
/// bit-for-bit the same on every platform once the `e_i` are; the `e_i` come from
/// [`crate::kernels::mathf::expf`], which is the platform's C library under `std`, whose last
/// bit may differ between C libraries. Draws are therefore reproducible on one platform, and
/// across platforms whenever their `expf` agree on these inputs.
pub fn dist(cands: &mut Candidates, rng: &mut Xoshiro256StarStar) -> Option<u32> {
    let data = cands.data_mut();
    match data.len() {
        0 => return None,
        1 => {
            rng.next_u64();
            data[0].p = 1.0;
            return Some(data[0].id);
        }
        _ => {}
    }

    let max = max_rank(data);
    let mut sum = 0.0f64;
    for d in data.iter_mut() {
        d.p = unnormalized(d.logit, max);
        sum += f64::from(d.p);
    }

    let target = sum * rng.next_f64();
    let mut running = 0.0f64;
    let mut chosen = None;
    let mut last_positive = 0;
    for (i, d) in data.iter_mut().enumerate() {
        if d.p > 0.0 {
            last_positive = i;
            if chosen.is_none() {
                running += f64::from(d.p);
                if running >= target {
                    chosen = Some(i);
                }
            }
        }
        d.p = (f64::from(d.p) / sum) as f32;
    }
    let i = chosen.unwrap_or(last_positive);
    Some(data[i].id)
}

/// Top-n-sigma: masks (sets to `-inf`) every candidate whose logit is more than `n` standard
/// deviations below the largest (`llama_sampler_top_n_sigma_apply`). The list keeps its length
/// and order (masked candidates of a sorted list are at its end, so it stays sorted).
///
/// Over the candidates whose logit is not `-inf` (nor NaN, which llama.cpp would count and
/// which would make every statistic NaN), in list order and f32 except where noted:
///
/// ```text
/// max  = the largest logit;   mean = (Σ logit) / count
/// acc  = Σ (logit - mean)²    each step (acc as f64 + square in f64) rounded to f32,
///                             as llama.cpp's `acc += pow(logit - mean, 2)`
/// std  = sqrtf(acc / count)
/// mask every logit < max - n * std
/// ```
///
/// `n <= 0` (llama.cpp's default `-1`) or NaN, or fewer than two candidates, does nothing. An
/// infinite logit makes `std` NaN, and then nothing is masked (as in llama.cpp). Never masks the
/// largest logit. A C++ compiler allowed to contract `max - n * std` into an FMA rounds once.
pub fn top_n_sigma(cands: &mut Candidates, n: f32) {
    if n.is_nan() || n <= 0.0 || cands.len() <= 1 {
        return;
    }
    let data = cands.data_mut();
    let valid = |l: f32| !l.is_nan() && l != f32::NEG_INFINITY;
    let mut max = f32::NEG_INFINITY;
    let mut sum = 0.0f32;
    let mut count = 0usize;
    for d in data.iter().filter(|d| valid(d.logit)) {
        max = max.max(d.logit);
        sum += d.logit;
        count += 1;
    }
    let mean = if count > 0 { sum / count as f32 } else { 0.0 };
    let mut acc = 0.0f32;
    for d in data.iter().filter(|d| valid(d.logit)) {
        let x = f64::from(d.logit - mean);
        acc = (f64::from(acc) + x * x) as f32;
    }
    let std = if count > 0 {
        sqrtf(acc / count as f32)
    } else {
        0.0
    };
    let threshold = max - n * std;
    for d in data.iter_mut() {
        if rank(d.logit) < threshold {
            d.logit = f32::NEG_INFINITY;
        }
    }
}

/// Locally typical sampling: keeps the candidates whose surprise `-ln p` is closest to the
/// entropy of the distribution, up to a cumulative probability above `p`, and at least
/// `min_keep` of them (`llama_sampler_typical_apply`, after Meister et al.).
///
/// Sorts and softmaxes (as [`softmax`]), then in f32:
///
/// ```text
/// H       = Σ -p_i · logf(p_i)              in list order, over p_i > 0
/// score_i = |-logf(p_i) - H|                (+inf for p_i = 0)
/// ```
///
/// orders the candidates by ascending score (equal scores in their sorted order: descending
/// logit, then ascending id), accumulates `p` in that order in f32, and keeps the candidates up
/// to the first at which the sum exceeds `p` and the count reaches `min_keep`. The
/// probabilities are left as the softmax over all the input candidates (not renormalised); the
/// list is in score order afterwards, so not sorted.
///
/// `p >= 1` or NaN does nothing (llama.cpp: NaN reorders and keeps everything); `p <= 0` keeps
/// `max(1, min_keep)` candidates; an empty list is left alone (llama.cpp asserts). llama.cpp
/// sums `-p · logf(p)` also for `p = 0`, which is NaN and makes every score NaN (its sort then
/// leaves an unspecified order); here such a candidate adds nothing to `H`, its limit.
///
/// The scores are recomputed in each comparison of the sort (no scratch memory), so a long
/// unsorted list costs about `n log n` calls of `logf`.
pub fn typical(cands: &mut Candidates, p: f32, min_keep: usize) {
    if p.is_nan() || p >= 1.0 || cands.is_empty() {
        return;
    }
    softmax(cands);
    let data = cands.data_mut();
    let mut entropy = 0.0f32;
    for d in data.iter() {
        if d.p > 0.0 {
            entropy += -d.p * logf(d.p);
        }
    }
    let score = |d: &TokenData| abs(-logf(d.p) - entropy);
    data.sort_unstable_by(|a, b| {
        score(a)
            .partial_cmp(&score(b))
            .unwrap_or(core::cmp::Ordering::Equal)
            .then_with(|| super::candidates::descending(a, b))
    });
    let mut cum = 0.0f32;
    let mut last = data.len();
    for (i, d) in data.iter().enumerate() {
        cum += d.p;
        if cum > p && i + 1 >= min_keep {
            last = i + 1;
            break;
        }
    }
    data.truncate(last);
    cands.set_sorted(false);
}

/// `fabsf`, by clearing the sign bit.
#[inline]
fn abs(x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0x7fff_ffff)
}

/// Exclude Top Choices: with probability `probability`, removes every candidate at least
/// `threshold` likely except the least likely of them, keeping at least `min_keep`
/// (`llama_sample_xtc_apply`).
///
/// When `probability > 0`, `threshold <= 0.5` and there are at least two candidates, one
/// number `chance = rng.next_f32()` is drawn (see [`Xoshiro256StarStar::next_f32`]); if
/// `chance <= probability` the list is sorted and softmaxed (as [`softmax`]) and, with `last`
/// the index of the last candidate of the leading run with `p >= threshold`, the first `last`
/// candidates are removed when `last > 0` and `len - last >= min_keep`. The survivors keep
/// their probabilities (not renormalised) and stay sorted. Otherwise nothing happens and no
/// number is drawn. A NaN `probability` is off (llama.cpp would remove on every step); a NaN
/// `threshold` draws but removes nothing, as in llama.cpp.
///
/// llama.cpp draws `chance` from XTC's own `std::mt19937` seeded with the sampler seed;
/// [`Sampler`](super::Sampler) draws it from its one generator, before [`dist`]'s number.
pub fn xtc(
    cands: &mut Candidates,
    probability: f32,
    threshold: f32,
    min_keep: usize,
    rng: &mut Xoshiro256StarStar,
) {
    if probability.is_nan() || probability <= 0.0 || threshold > 0.5 || cands.len() < 2 {
        return;
    }
    let chance = rng.next_f32();
    if chance > probability {
        return;
    }
    softmax(cands);
    let data = cands.data_mut();
    let mut pos_last = 0;
    for (i, d) in data.iter().enumerate() {
        if d.p >= threshold {
            pos_last = i;
        } else {
            break;
        }
    }
    if data.len() - pos_last >= min_keep && pos_last > 0 {
        data.drain(..pos_last);
    }
}

/// Draws an index with probability proportional to the candidates' `p` (mirostat's
/// `llama_sample_dist`, a `std::discrete_distribution` over the probabilities): steps 3 and 4
/// of [`dist`] with the `p_i` as the weights (`S = Σ p_i` in f64 in list order, `T = S * u`,
/// the first index with `p_i > 0` whose running sum reaches `T`, else the last with `p_i > 0`,
/// else 0). Consumes exactly one number, also for a single candidate; `None` (and nothing
/// consumed) when empty.
pub(super) fn draw_index(data: &[TokenData], rng: &mut Xoshiro256StarStar) -> Option<usize> {
    if data.is_empty() {
        return None;
    }
    let mut sum = 0.0f64;
    for d in data {
        if d.p > 0.0 {
            sum += f64::from(d.p);
        }
    }
    let target = sum * rng.next_f64();
    let mut running = 0.0f64;
    let mut last_positive = 0;
    for (i, d) in data.iter().enumerate() {
        if d.p > 0.0 {
            running += f64::from(d.p);
            if running >= target {
                return Some(i);
            }
            last_positive = i;
        }
    }
    Some(last_positive)
}
