//! Mirostat, versions 1 and 2 (Basu et al., <https://arxiv.org/abs/2007.14966>): samplers that
//! steer the surprise of the chosen tokens towards a target `tau` by adapting a truncation
//! threshold `mu` after each draw (`llama_sampler_mirostat` and `llama_sampler_mirostat_v2` in
//! llama.cpp's `src/llama-sampler.cpp`, commit 0c1e570).
//!
//! Each is a final stage: it draws the token (in place of [`dist`](super::dist)) and updates
//! `mu`, which the caller keeps between steps ([`Sampler`](super::Sampler) does, starting from
//! `2 * tau` as llama.cpp does, and saves it in its state). The draw is
//! [`dist`](super::dist)'s procedure over the final probabilities, with the sampler's
//! xoshiro256** instead of llama.cpp's own `std::mt19937`, so a seed gives other tokens than
//! llama.cpp's.
//!
//! The float operations are llama.cpp's, each rounded in f32; a C++ compiler allowed to
//! contract `a + b * c` (the two sums of version 1, the update of `mu`) into an FMA rounds once.

use super::candidates::Candidates;
use super::rng::Xoshiro256StarStar;
use super::stages::{draw_index, log2f, logf, softmax, top_k};
use crate::kernels::mathf::powf;

/// The `m` llama.cpp's `common_sampler_init` passes to mirostat version 1: how many of the most
/// likely tokens estimate the Zipf exponent.
pub const MIROSTAT_M: usize = 100;

/// Mirostat version 1 (`llama_sampler_mirostat_apply`): estimates the Zipf exponent `s` of the
/// distribution from its `m` most likely tokens, keeps the `k` most likely tokens that give an
/// expected surprise of `mu` under that Zipf law, draws one of them, and moves `mu` by
/// `eta` times the error between the chosen token's surprise and `tau`.
///
/// In order, in f32:
///
/// ```text
/// sort and softmax (as softmax)
/// for i in 0..min(m - 1, len - 1):   t_i = logf((i + 2) / (i + 1)),  b_i = logf(p_i / p_{i+1})
///                                    Σtb += t_i * b_i,  Σtt += t_i * t_i
/// s = Σtb / Σtt;  ε = s - 1
/// k = powf(ε * powf(2, mu) / (1 - powf(n_vocab, -ε)), 1 / s)
/// keep the max(k as i32, 1) most likely; softmax again; draw by p (one number)
/// mu = mu - eta * (-log2f(p_chosen) - tau)
/// ```
///
/// `m = 0` bounds the loop by the list only (llama.cpp's `size_t(m - 1)` wraps). A NaN `s`
/// (one candidate, or probabilities that underflow to 0) gives a NaN `k`, which keeps one
/// candidate. `k as i32` saturates: a `k` of 2^31 or more (an infinite one: a flat
/// distribution) keeps every candidate, as llama.cpp does on aarch64; on x86-64 its `int(k)`
/// gives `INT_MIN` there and it keeps one. The candidates are left with the final
/// probabilities. `None` (and `mu` unchanged, nothing drawn) when the list is empty (llama.cpp
/// asserts).
pub fn mirostat(
    cands: &mut Candidates,
    n_vocab: usize,
    tau: f32,
    eta: f32,
    m: usize,
    mu: &mut f32,
    rng: &mut Xoshiro256StarStar,
) -> Option<u32> {
    if cands.is_empty() {
        return None;
    }
    softmax(cands);

    let data = cands.as_slice();
    let mut sum_ti_bi = 0.0f32;
    let mut sum_ti_sq = 0.0f32;
    for i in 0..m.wrapping_sub(1).min(data.len() - 1) {
        let t_i = logf((i + 2) as f32 / (i + 1) as f32);
        let b_i = logf(data[i].p / data[i + 1].p);
        sum_ti_bi += t_i * b_i;
        sum_ti_sq += t_i * t_i;
    }
    let s_hat = sum_ti_bi / sum_ti_sq;

    let epsilon_hat = s_hat - 1.0;
    let k = powf(
        (epsilon_hat * powf(2.0, *mu)) / (1.0 - powf(n_vocab as f32, -epsilon_hat)),
        1.0 / s_hat,
    );
    // The list is sorted: top-k only truncates.
    top_k(cands, (k as i32).max(1) as usize);
    finish(cands, tau, eta, mu, rng)
}

/// Mirostat version 2 (`llama_sampler_mirostat_v2_apply`): keeps the most likely candidates
/// whose surprise `-log2f(p)` is at most `mu` (at least one), draws one of them, and moves `mu`
/// by `eta` times the error between the chosen token's surprise and `tau`.
///
/// In order, in f32: sort and softmax (as [`softmax`]); cut the list before the first candidate
/// with `-log2f(p) > mu` (keeping the first if that is it); softmax again; draw by `p` (one
/// number); `mu = mu - eta * (-log2f(p_chosen) - tau)`. A NaN `mu` cuts nothing. The candidates
/// are left with the final probabilities. `None` (and `mu` unchanged, nothing drawn) when the
/// list is empty (llama.cpp asserts).
pub fn mirostat_v2(
    cands: &mut Candidates,
    tau: f32,
    eta: f32,
    mu: &mut f32,
    rng: &mut Xoshiro256StarStar,
) -> Option<u32> {
    if cands.is_empty() {
        return None;
    }
    softmax(cands);
    let keep = cands
        .iter()
        .position(|d| -log2f(d.p) > *mu)
        .unwrap_or(cands.len())
        .max(1);
    // The list is sorted: top-k only truncates.
    top_k(cands, keep);
    finish(cands, tau, eta, mu, rng)
}

/// The common end: softmax over the survivors, draw, update `mu`.
fn finish(
    cands: &mut Candidates,
    tau: f32,
    eta: f32,
    mu: &mut f32,
    rng: &mut Xoshiro256StarStar,
) -> Option<u32> {
    softmax(cands);
    let data = cands.as_slice();
    let idx = draw_index(data, rng)?;
    let observed_surprise = -log2f(data[idx].p);
    let e = observed_surprise - tau;
    *mu -= eta * e;
    Some(data[idx].id)
}
