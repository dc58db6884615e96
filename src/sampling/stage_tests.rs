//! Unit tests for typical-p, top-n-sigma, XTC, mirostat, DRY, the logits processor, and the
//! chain and the sampler state with them.
//!
//! Expected numbers come from an independent Python transcription of llama.cpp's
//! `src/llama-sampler.cpp` (0c1e570) in numpy float32 (each f32 operation rounded as in C; the
//! f64 steps of top-n-sigma and DRY in Python floats), with DRY's repeat lengths found by naive
//! suffix matching instead of the Z-algorithm, and an independent xoshiro256**/splitmix64 for
//! the draws; or, where marked, from llama.cpp's own `tests/test-sampling.cpp`. They are
//! written as literals. Probabilities and mirostat's `mu` go through `expf`/`logf`/`powf`,
//! whose last bit may differ between C libraries (and numpy), so they are compared with a
//! tolerance; logits that only see `+ - * /`, `sqrtf` and a correctly rounded conversion are
//! compared exactly.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use super::tests::{assert_close, ids, logits, probs, pseudo_logits, L5, L5_P_SORTED, TOL};
use super::*;
use crate::gguf::writer::MetaValue;
use crate::gguf::{GgufFile, ValueType, Writer};

const INF: f32 = f32::INFINITY;
const NEG: f32 = f32::NEG_INFINITY;

/// Logits `logf(p)` for the probabilities of llama.cpp's `test-sampling.cpp` cases.
fn log_probs(p: &[f32]) -> Vec<f32> {
    p.iter().map(|&x| stages::logf(x)).collect()
}

// ---------------------------------------------------------------------------------------------
// Typical-p.

#[test]
fn typical_matches_llama_cpp_s_tests() {
    // test-sampling.cpp: test_typical({0.97, 0.01, 0.01, 0.01}, {0.97}, 0.5) and
    // test_typical({0.4, 0.2, 0.2, 0.2}, {0.2, 0.2, 0.2}, 0.5).
    let mut c = Candidates::from_logits(&log_probs(&[0.97, 0.01, 0.01, 0.01]));
    typical(&mut c, 0.5, 0);
    assert_eq!(ids(&c), [0]);
    assert_close(&probs(&c), &[0.97], 1e-6);
    let mut c = Candidates::from_logits(&log_probs(&[0.4, 0.2, 0.2, 0.2]));
    typical(&mut c, 0.5, 0);
    assert_eq!(ids(&c), [1, 2, 3]);
    assert_close(&probs(&c), &[0.2; 3], 1e-6);
    assert!(!c.is_sorted());
}

#[test]
fn typical_orders_by_distance_from_the_entropy() {
    // L5: entropy 0.999973 nats; scores |-ln p - H| in sorted order (ids 1, 3, 0, 4, 2):
    // 0.548, 0.452, 1.452, 2.452, 3.452. So the order is 3, 1, 0, 4, 2 and the cumulative
    // probability 0.234, 0.870, 0.956, ...
    let mut c = Candidates::from_logits(&L5);
    typical(&mut c, 0.5, 0);
    assert_eq!(ids(&c), [3, 1]);
    // The probabilities are the softmax over all five, not renormalised.
    assert_close(&probs(&c), &[L5_P_SORTED[1], L5_P_SORTED[0]], TOL);
    assert_eq!(logits(&c), [2.0, 3.0]);

    let mut c = Candidates::from_logits(&L5);
    typical(&mut c, 0.9, 0);
    assert_eq!(ids(&c), [3, 1, 0]);
    // min_keep wins over p.
    let mut c = Candidates::from_logits(&L5);
    typical(&mut c, 0.5, 3);
    assert_eq!(ids(&c), [3, 1, 0]);
    // p <= 0 keeps max(1, min_keep): the most typical first.
    for p in [0.0, -1.0, NEG] {
        let mut c = Candidates::from_logits(&L5);
        typical(&mut c, p, 0);
        assert_eq!(ids(&c), [3], "p = {p}");
        let mut c = Candidates::from_logits(&L5);
        typical(&mut c, p, 2);
        assert_eq!(ids(&c), [3, 1], "p = {p}");
    }
    // The most likely token can go: p = (0.4, 0.3, 0.3) has entropy 1.0889, scores 0.173
    // for 0.4 and 0.115 for 0.3.
    let mut c = Candidates::from_logits(&log_probs(&[0.4, 0.3, 0.3]));
    typical(&mut c, 0.5, 0);
    assert_eq!(ids(&c), [1, 2]);
}

#[test]
fn typical_off_edge_cases() {
    for p in [1.0, 1.5, INF, f32::NAN] {
        let mut c = Candidates::from_logits(&L5);
        typical(&mut c, p, 0);
        assert_eq!(ids(&c), [0, 1, 2, 3, 4], "p = {p}");
        assert_eq!(probs(&c), [0.0; 5]);
    }
    let mut empty = Candidates::new();
    typical(&mut empty, 0.5, 2);
    assert!(empty.is_empty());
    // A -inf logit has p = 0: it adds nothing to the entropy (llama.cpp would get NaN) and
    // scores +inf, so it comes last and is never needed: the other three sum to 1.
    for p in [0.9, 0.99999] {
        let mut c = Candidates::from_logits(&[2.0, NEG, 1.0, 1.0]);
        typical(&mut c, p, 0);
        assert_eq!(ids(&c), [0, 2, 3], "p = {p}");
        assert_close(&probs(&c), &[0.576_116_9, 0.211_941_55, 0.211_941_55], TOL);
    }
    // NaN logits rank as -inf; min_keep beyond the list keeps all.
    let mut c = Candidates::from_logits(&[f32::NAN, 1.0, 0.5]);
    typical(&mut c, 0.1, 10);
    assert_eq!(c.len(), 3);
    assert_eq!(c.as_slice()[2].id, 0);
}

// ---------------------------------------------------------------------------------------------
// Top-n-sigma.

#[test]
fn top_n_sigma_matches_llama_cpp_s_tests() {
    // test-sampling.cpp: n = 1 on probabilities {0.1, 0.2, 0.3, 0.4} leaves {0, 0, 0.428571,
    // 0.571429} after dist; n = 0 and n = 3 leave everything.
    let lp = log_probs(&[0.1, 0.2, 0.3, 0.4]);
    let mut c = Candidates::from_logits(&lp);
    top_n_sigma(&mut c, 1.0);
    assert_eq!(logits(&c), [NEG, NEG, lp[2], lp[3]]);
    dist(&mut c, &mut Xoshiro256StarStar::new(0));
    assert_close(&probs(&c), &[0.0, 0.0, 0.428_571, 0.571_429], 1e-5);
    for n in [0.0, 3.0] {
        let mut c = Candidates::from_logits(&lp);
        top_n_sigma(&mut c, n);
        assert_eq!(logits(&c), lp);
    }
}

#[test]
fn top_n_sigma_masks_below_max_minus_n_std() {
    // L5: mean 1, acc 10, std = sqrtf(2) = 1.4142135: n = 1 keeps logits >= 1.5857865,
    // n = 0.5 keeps >= 2.2928932, n = 1.5 keeps >= 0.8786797.
    for (n, want) in [
        (1.0, [NEG, 3.0, NEG, 2.0, NEG]),
        (0.5, [NEG, 3.0, NEG, NEG, NEG]),
        (1.5, [1.0, 3.0, NEG, 2.0, NEG]),
        (3.0, L5),
    ] {
        let mut c = Candidates::from_logits(&L5);
        top_n_sigma(&mut c, n);
        assert_eq!(logits(&c), want, "n = {n}");
        assert_eq!(ids(&c), [0, 1, 2, 3, 4]);
    }
    // -inf and NaN are left out of the statistics (valid: 3, 1, 2: mean 2, std 0.8165); NaN
    // is masked like any logit below the threshold.
    let mut c = Candidates::from_logits(&[3.0, NEG, f32::NAN, 1.0, 2.0]);
    top_n_sigma(&mut c, 1.0);
    assert_eq!(logits(&c), [3.0, NEG, NEG, NEG, NEG]);
    // An infinite logit makes std NaN: nothing is masked.
    let mut c = Candidates::from_logits(&[INF, 1.0, 2.0]);
    top_n_sigma(&mut c, 1.0);
    assert_eq!(logits(&c), [INF, 1.0, 2.0]);
    // Off: n <= 0 (llama.cpp's default -1), NaN; one candidate; empty.
    for n in [-1.0, 0.0, f32::NAN, NEG] {
        let mut c = Candidates::from_logits(&L5);
        top_n_sigma(&mut c, n);
        assert_eq!(logits(&c), L5, "n = {n}");
    }
    let mut c = Candidates::from_logits(&[-5.0]);
    top_n_sigma(&mut c, 0.1);
    assert_eq!(logits(&c), [-5.0]);
    top_n_sigma(&mut Candidates::new(), 1.0);
    // A sorted list stays sorted (the masked ones are its tail).
    let mut c = Candidates::from_logits(&L5);
    softmax(&mut c);
    top_n_sigma(&mut c, 1.0);
    assert!(c.is_sorted());
    assert_eq!(logits(&c), [3.0, 2.0, NEG, NEG, NEG]);
}

// ---------------------------------------------------------------------------------------------
// XTC.

#[test]
fn xtc_matches_llama_cpp_s_tests() {
    // test-sampling.cpp, probability 0.99: seed 1's first chance is 0.7029218, so XTC acts.
    let probs4 = [0.4, 0.3, 0.2, 0.1];
    for (threshold, want) in [
        (0.09, vec![0.1]),
        (0.19, vec![0.2, 0.1]),
        (0.29, vec![0.3, 0.2, 0.1]),
        (0.39, vec![0.4, 0.3, 0.2, 0.1]), // "should not"
    ] {
        let mut c = Candidates::from_logits(&log_probs(&probs4));
        let mut r = Xoshiro256StarStar::new(1);
        xtc(&mut c, 0.99, threshold, 0, &mut r);
        assert_close(&probs(&c), &want, 1e-5);
        assert!(c.is_sorted());
    }
    assert_eq!(Xoshiro256StarStar::new(1).next_f32(), 0.702_921_8);
}

#[test]
fn xtc_removes_the_top_choices_but_the_last() {
    let draw = |threshold: f32, min_keep: usize| {
        let mut c = Candidates::from_logits(&L5);
        xtc(
            &mut c,
            1.0,
            threshold,
            min_keep,
            &mut Xoshiro256StarStar::new(1),
        );
        c
    };
    // Above 0.1: ids 1 (0.636) and 3 (0.234): id 1 goes.
    let c = draw(0.1, 0);
    assert_eq!(ids(&c), [3, 0, 4, 2]);
    assert_close(&probs(&c), &L5_P_SORTED[1..], TOL);
    // Above 0.05: ids 1, 3, 0: the first two go.
    assert_eq!(ids(&draw(0.05, 0)), [0, 4, 2]);
    assert_eq!(ids(&draw(0.05, 3)), [0, 4, 2]);
    // Three would be left, min_keep 4 wants more: nothing goes (but the list is sorted).
    let c = draw(0.05, 4);
    assert_eq!(ids(&c), [1, 3, 0, 4, 2]);
    assert_close(&probs(&c), &L5_P_SORTED, TOL);
}

#[test]
fn xtc_draws_its_chance_from_the_generator() {
    // Seed 5's first ten chances: 0.288, 0.602, 0.650, 0.822, 0.517, 0.785, 0.504, 0.809,
    // 0.363, 0.381: at probability 0.5 XTC acts in steps 0, 8 and 9.
    let mut r = Xoshiro256StarStar::new(5);
    let mut acted = Vec::new();
    for step in 0..10 {
        let mut c = Candidates::from_logits(&L5);
        xtc(&mut c, 0.5, 0.1, 0, &mut r);
        if c.len() == 4 {
            assert_eq!(ids(&c), [3, 0, 4, 2]);
            acted.push(step);
        } else {
            assert_eq!(ids(&c), [0, 1, 2, 3, 4]);
        }
    }
    assert_eq!(acted, [0, 8, 9]);
    let mut expected = Xoshiro256StarStar::new(5);
    for _ in 0..10 {
        expected.next_u64();
    }
    assert_eq!(r, expected, "one number per step");
}

#[test]
fn xtc_off_draws_nothing() {
    for (probability, threshold, logits) in [
        (0.0, 0.1, &L5[..]),
        (-1.0, 0.1, &L5[..]),
        (f32::NAN, 0.1, &L5[..]),
        (1.0, 0.51, &L5[..]),
        (1.0, INF, &L5[..]),
        (1.0, 0.1, &L5[..1]),
        (1.0, 0.1, &[][..]),
    ] {
        let mut c = Candidates::from_logits(logits);
        let mut r = Xoshiro256StarStar::new(3);
        xtc(&mut c, probability, threshold, 0, &mut r);
        assert_eq!(ids(&c), (0..logits.len() as u32).collect::<Vec<_>>());
        assert_eq!(r, Xoshiro256StarStar::new(3), "{probability} {threshold}");
    }
    // A NaN threshold draws (as llama.cpp) but removes nothing.
    let mut c = Candidates::from_logits(&L5);
    let mut r = Xoshiro256StarStar::new(3);
    xtc(&mut c, 1.0, f32::NAN, 0, &mut r);
    assert_eq!(c.len(), 5);
    assert_ne!(r, Xoshiro256StarStar::new(3));
}

// ---------------------------------------------------------------------------------------------
// Mirostat.

/// Eight tokens; softmax 0.369, 0.224, 0.166, 0.082, 0.067, 0.050, 0.030, 0.011 (surprise
/// 1.44 to 6.49 bits).
const ML: [f32; 8] = [2.0, 1.5, 1.2, 0.5, 0.3, 0.0, -0.5, -1.5];

#[test]
fn mirostat_v1_steers_mu() {
    // tau 2, eta 0.1, m 100, seed 11: s_hat = 1.1493462 every step; k = 6.73, 6.99, 7.26,
    // 7.52, 7.45, 7.72 as mu moves.
    let mut r = Xoshiro256StarStar::new(11);
    let mut mu = 4.0f32;
    let want = [
        (0, 6, 4.062_315),
        (0, 6, 4.124_63),
        (0, 7, 4.182_455_5),
        (1, 7, 4.168_146),
        (0, 7, 4.225_972),
        (0, 7, 4.283_797),
    ];
    for (step, &(token, kept, new_mu)) in want.iter().enumerate() {
        let mut c = Candidates::from_logits(&ML);
        let t = mirostat(&mut c, 8, 2.0, 0.1, MIROSTAT_M, &mut mu, &mut r);
        assert_eq!(t, Some(token), "step {step}");
        assert_eq!(c.len(), kept, "step {step}");
        assert!(
            (mu - new_mu).abs() < 1e-5,
            "step {step}: mu {mu}, want {new_mu}"
        );
        // The survivors carry their renormalised probabilities.
        let sum: f32 = probs(&c).iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
    }
}

#[test]
fn mirostat_v1_edge_cases() {
    // Flat: s_hat = 0, k = +inf, which keeps every candidate (k as i32 saturates).
    let mut r = Xoshiro256StarStar::new(3);
    let mut mu = 10.0f32;
    let mut c = Candidates::from_logits(&[0.5; 8]);
    assert_eq!(mirostat(&mut c, 8, 5.0, 0.1, 100, &mut mu, &mut r), Some(5));
    assert_eq!(c.len(), 8);
    // Surprise log2(8) = 3: mu = 10 - 0.1 * (3 - 5).
    assert!((mu - 10.2).abs() < 1e-6, "{mu}");
    // One candidate: s_hat = 0/0, k NaN: one kept, surprise 0: mu = 10 + 0.1 * 5.
    let mut mu = 10.0f32;
    let mut r = Xoshiro256StarStar::new(3);
    let mut c = Candidates::from_logits(&[0.5]);
    assert_eq!(mirostat(&mut c, 1, 5.0, 0.1, 100, &mut mu, &mut r), Some(0));
    assert_eq!(mu, 10.5);
    let mut one = Xoshiro256StarStar::new(3);
    one.next_u64();
    assert_eq!(r, one, "a single candidate still consumes one number");
    // Empty: nothing drawn, mu kept.
    let mut mu = 10.0f32;
    let mut r = Xoshiro256StarStar::new(3);
    assert_eq!(
        mirostat(&mut Candidates::new(), 8, 5.0, 0.1, 100, &mut mu, &mut r),
        None
    );
    assert_eq!(mu, 10.0);
    assert_eq!(r, Xoshiro256StarStar::new(3));
    // m = 0 (llama.cpp's size_t(-1)) and m = 1 (no pair: NaN, one kept) do not panic.
    for m in [0, 1, 2] {
        let mut mu = 10.0f32;
        let mut c = Candidates::from_logits(&ML);
        assert!(mirostat(&mut c, 8, 5.0, 0.1, m, &mut mu, &mut r).is_some());
    }
    // NaN and infinite logits, a NaN mu: no panic, a finite candidate chosen.
    let mut mu = f32::NAN;
    let mut c = Candidates::from_logits(&[f32::NAN, 1.0, NEG, INF]);
    assert_eq!(mirostat(&mut c, 4, 5.0, 0.1, 100, &mut mu, &mut r), Some(3));
}

#[test]
fn mirostat_v2_steers_mu() {
    // tau 2.5, eta 0.1, seed 11: mu starts at 5, which cuts before id 6 (surprise 5.04 bits);
    // after that mu stays above 5.04 and seven are kept.
    let mut r = Xoshiro256StarStar::new(11);
    let mut mu = 5.0f32;
    let want = [
        (0, 6, 5.112_315),
        (0, 7, 5.220_14),
        (0, 7, 5.327_965),
        (1, 7, 5.363_656),
        (0, 7, 5.471_481),
        (0, 7, 5.579_307),
    ];
    for (step, &(token, kept, new_mu)) in want.iter().enumerate() {
        let mut c = Candidates::from_logits(&ML);
        let t = mirostat_v2(&mut c, 2.5, 0.1, &mut mu, &mut r);
        assert_eq!(t, Some(token), "step {step}");
        assert_eq!(c.len(), kept, "step {step}");
        assert!(
            (mu - new_mu).abs() < 1e-5,
            "step {step}: mu {mu}, want {new_mu}"
        );
        if step == 0 {
            assert_eq!(ids(&c), [0, 1, 2, 3, 4, 5]);
            assert_close(
                &probs(&c),
                &[
                    0.385_058_43,
                    0.233_549_74,
                    0.173_017_92,
                    0.085_918_14,
                    0.070_343_83,
                    0.052_111_99,
                ],
                TOL,
            );
        }
    }
    // mu below every surprise keeps one; empty is None.
    let mut mu = 0.5f32;
    let mut c = Candidates::from_logits(&ML);
    assert_eq!(mirostat_v2(&mut c, 1.0, 0.1, &mut mu, &mut r), Some(0));
    assert_eq!(probs(&c), [1.0]);
    // Surprise 0: mu = 0.5 - 0.1 * (0 - 1).
    assert!((mu - 0.6).abs() < 1e-7);
    let before = r.clone();
    assert_eq!(
        mirostat_v2(&mut Candidates::new(), 1.0, 0.1, &mut mu, &mut r),
        None
    );
    assert_eq!(r, before);
}

#[test]
fn sampler_mirostat_chain_is_temp_then_mirostat() {
    // The mirostat chain skips the penalties, top-k and the other filters: with temp 1 (which
    // divides exactly) the sampler gives the standalone sequence above, though top_k = 1 and
    // a repeat penalty would change it.
    for (version, want_mu) in [(1u32, 4.283_797f32), (2, 5.579_307)] {
        let tau = if version == 1 { 2.0 } else { 2.5 };
        let params = SamplerParams {
            seed: 11,
            mirostat: version,
            mirostat_tau: tau,
            mirostat_eta: 0.1,
            temp: 1.0,
            top_k: 1,
            penalty_repeat: 1.5,
            ..SamplerParams::default()
        };
        let mut s = Sampler::new(8, params).unwrap();
        assert_eq!(s.mirostat_mu(), 2.0 * tau);
        let mut got = Vec::new();
        for _ in 0..6 {
            let t = s.sample(&ML).unwrap();
            s.accept(t);
            got.push(t);
        }
        assert_eq!(got, [0, 0, 0, 1, 0, 0], "mirostat {version}");
        assert!((s.mirostat_mu() - want_mu).abs() < 1e-5);
        // reset puts mu back.
        s.reset();
        assert_eq!(s.mirostat_mu(), 2.0 * tau);
    }
    // temp 0 keeps the most likely (temperature's rule) and mirostat still draws and moves mu:
    // surprise 0, mu = 5 + 0.1 * 2.5.
    let mut s = Sampler::new(
        8,
        SamplerParams {
            mirostat: 2,
            mirostat_tau: 2.5,
            temp: 0.0,
            logit_bias: vec![(5, 10.0)],
            ..SamplerParams::default()
        },
    )
    .unwrap();
    let rng_before = s.rng.clone();
    assert_eq!(s.sample(&ML), Some(5), "logit bias runs before");
    assert_eq!(s.mirostat_mu(), 5.25);
    assert_ne!(s.rng, rng_before);
}

// ---------------------------------------------------------------------------------------------
// DRY.

fn dry_stage(multiplier: f32, base: f32, allowed_length: usize, last_n: usize) -> Dry {
    dry_with(multiplier, base, allowed_length, last_n, &[])
}

fn dry_with(
    multiplier: f32,
    base: f32,
    allowed_length: usize,
    last_n: usize,
    breakers: &[&[u32]],
) -> Dry {
    let params = DryParams {
        multiplier,
        base,
        allowed_length,
        last_n,
    };
    Dry::new(params, DryBreakers::from_token_sequences(breakers)).unwrap()
}

#[test]
fn dry_matches_llama_cpp_s_tests() {
    // test-sampling.cpp's five test_dry cases (llama_sampler_init_dry_testing), with the
    // probabilities llama.cpp expects after dist.
    /// Probabilities, history, expected probabilities, multiplier, allowed length, window,
    /// breakers.
    type Case<'a> = (
        &'a [f32],
        &'a [u32],
        &'a [f32],
        f32,
        usize,
        usize,
        &'a [&'a [u32]],
    );
    let cases: [Case; 5] = [
        (&[0.25; 4], &[0, 1], &[0.25; 4], 1.0, 2, 4, &[]),
        (
            &[0.25; 4],
            &[0, 1, 2, 0, 1],
            &[0.296_923, 0.296_923, 0.109_232, 0.296_923],
            1.0,
            2,
            5,
            &[],
        ),
        (
            &[0.2; 5],
            &[0, 1, 3, 4, 0, 1],
            &[0.2; 5],
            1.0,
            2,
            6,
            &[&[3]],
        ),
        (
            &[0.2; 5],
            &[0, 1, 2, 0, 1],
            &[0.241_818, 0.241_818, 0.032_727, 0.241_818, 0.241_818],
            2.0,
            2,
            5,
            &[],
        ),
        (&[0.2; 5], &[0, 1, 2, 3, 4, 0, 1], &[0.2; 5], 1.0, 4, 7, &[]),
    ];
    for (i, (p, history, want, multiplier, allowed, last_n, breakers)) in
        cases.into_iter().enumerate()
    {
        let mut dry = dry_with(multiplier, 1.1, allowed, last_n, breakers);
        let lp = log_probs(p);
        let mut c = Candidates::from_logits(&lp);
        dry.apply(&mut c, history);
        dist(&mut c, &mut Xoshiro256StarStar::new(0));
        assert_close(&probs(&c), want, 1e-5);
        if i == 1 {
            // Token 2 would repeat "0 1 2": 1.0 * 1.1^0.
            assert_eq!(logits(&c), [lp[0], lp[1], lp[2] - 1.0, lp[3]]);
        }
    }
}

#[test]
fn dry_follows_every_repeat_of_the_suffix() {
    // llama.cpp's comment example: a b c c b c y a b c (a = 0, b = 1, c = 2, y = 3). Repeats of
    // the suffix: "a b c" (3) before the second c, "c" (1) before b, "b c" (2) before y; with
    // allowed_length 0 every position counts, also length 0 (tokens a, b, c after it).
    let history = [0, 1, 2, 2, 1, 2, 3, 0, 1, 2];
    // multiplier 0.8, base 1.75: penalties 0.8 * 1.75^(len - allowed) in double, then f32.
    for (allowed, want) in [
        (0, [-0.8, -1.4, -4.2875, -2.45, 0.0]),
        (1, [0.0, -0.8, -2.45, -1.4, 0.0]),
        (2, [0.0, 0.0, -1.4, -0.8, 0.0]),
        (3, [0.0, 0.0, -0.8, 0.0, 0.0]),
        (4, [0.0; 5]),
    ] {
        let mut dry = dry_stage(0.8, 1.75, allowed, 64);
        let mut c = Candidates::from_logits(&[0.0; 5]);
        dry.apply(&mut c, &history);
        assert_eq!(logits(&c), want, "allowed_length {allowed}");
    }
    // Only the last `last_n` tokens count: the last 4 (y a b c) hold no repeat, so only the
    // length-0 "repeats" of allowed_length 0 are left (the tokens after y, a and b).
    let mut dry = dry_stage(0.8, 1.75, 1, 4);
    let mut c = Candidates::from_logits(&[0.0; 5]);
    dry.apply(&mut c, &history);
    assert_eq!(logits(&c), [0.0; 5]);
    let mut dry = dry_stage(0.8, 1.75, 0, 4);
    let mut c = Candidates::from_logits(&[0.0; 5]);
    dry.apply(&mut c, &history);
    assert_eq!(logits(&c), [-0.8, -0.8, -0.8, 0.0, 0.0]);
    // Candidates out of vocabulary order are found by id.
    let mut dry = dry_stage(0.8, 1.75, 2, 64);
    let mut c = Candidates::from_logits(&[0.0, 0.1, 0.2, 0.3, 0.4]);
    softmax(&mut c);
    dry.apply(&mut c, &history);
    assert!(!c.is_sorted());
    let mut by_id: Vec<(u32, f32)> = c.iter().map(|d| (d.id, d.logit)).collect();
    by_id.sort_by_key(|&(id, _)| id);
    let got: Vec<f32> = by_id.iter().map(|&(_, l)| l).collect();
    assert_eq!(got, [0.0, 0.1, 0.2 - 1.4, 0.3 - 0.8, 0.4]);
}

#[test]
fn dry_restart_sequences_limit_the_repeat() {
    // 1 2 3 4 7 8 1 2 3: the suffix "1 2 3" repeats, so token 4 would extend it to 4 tokens:
    // 1.0 * 2^(3 - 1) = 4 with allowed_length 1.
    let history = [1, 2, 3, 4, 7, 8, 1, 2, 3];
    for (breakers, want4) in [
        (&[][..], -4.0),
        (&[&[7u32, 8][..]][..], -4.0), // "7 8" ends 3 tokens back: no effect
        (&[&[8u32][..]][..], -4.0),
        (&[&[7u32, 8, 1][..]][..], -2.0), // "7 8 1" leaves 2 tokens: the repeat is capped at 2
        (&[&[2u32, 1][..]][..], -4.0),    // "2 1" does not occur in that order
        (&[&[4u32][..]][..], 0.0),        // 4 is a breaker itself: never penalised
    ] {
        let mut dry = dry_with(1.0, 2.0, 1, 64, breakers);
        let mut c = Candidates::from_logits(&[0.0; 10]);
        dry.apply(&mut c, &history);
        let mut want = [0.0; 10];
        want[4] = want4;
        assert_eq!(logits(&c), want, "breakers {breakers:?}");
    }
    // The newest token a breaker: the limit is 0 < allowed_length, nothing happens.
    let mut dry = dry_with(1.0, 2.0, 1, 64, &[&[3]]);
    let mut c = Candidates::from_logits(&[0.0; 10]);
    dry.apply(&mut c, &history);
    assert_eq!(logits(&c), [0.0; 10]);
}

#[test]
fn dry_exponent_is_capped() {
    // Period 5 over 300 tokens, window 250: the repeat before token 1 is 245 tokens long.
    let history: Vec<u32> = (0..300).map(|i| 1 + i % 5).collect();
    // base 2: max_exponent = (int)(88.7228391 / logf(2)) = 128; 1e-30 * 2^128 in double.
    for (multiplier, base, want) in [
        (1e-30, 2.0, -340_282_368.0),
        (1.0, 2.0, NEG),                   // 2^128 overflows f32
        (0.5, 1.000_000_5, -0.500_057_94), // base <= 1.000001: no cap, 1.0000005^243
        (0.5, 1.0, -0.5),
    ] {
        let mut dry = dry_stage(multiplier, base, 2, 250);
        let mut c = Candidates::from_logits(&[0.0; 8]);
        dry.apply(&mut c, &history);
        let mut expect = [0.0; 8];
        expect[1] = want;
        assert_eq!(logits(&c), expect, "{multiplier} {base}");
    }
}

#[test]
fn dry_disabled_and_edge_cases() {
    let history = [0, 1, 2, 0, 1];
    for (m, b, last_n) in [
        (0.0, 1.75, 64),
        (f32::NAN, 1.75, 64),
        (1.0, 0.99, 64),
        (1.0, f32::NAN, 64),
        (1.0, 1.75, 0),
    ] {
        let params = DryParams {
            multiplier: m,
            base: b,
            allowed_length: 2,
            last_n,
        };
        assert!(params.is_disabled());
        let mut dry = Dry::new(params, DryBreakers::none()).unwrap();
        let mut c = Candidates::from_logits(&[0.0; 4]);
        softmax(&mut c);
        let before = c.clone();
        dry.apply(&mut c, &history);
        assert_eq!(c, before, "{m} {b} {last_n}");
    }
    // Too short a window, an empty history, tokens outside the candidates: nothing happens.
    let mut dry = dry_stage(1.0, 1.75, 2, 64);
    let mut c = Candidates::from_logits(&[0.0; 4]);
    dry.apply(&mut c, &[0, 1]);
    dry.apply(&mut c, &[]);
    dry.apply(&mut c, &[7, 8, 9, 7, 8]);
    dry.apply(&mut Candidates::new(), &history);
    assert_eq!(logits(&c), [0.0; 4]);
    // A negative multiplier rewards repeats (llama.cpp computes the same).
    let mut dry = dry_stage(-1.0, 1.75, 2, 64);
    let mut c = Candidates::from_logits(&[0.0; 4]);
    dry.apply(&mut c, &history);
    assert_eq!(logits(&c), [0.0, 0.0, 1.0, 0.0]);
}

/// A small SPM vocabulary without a space prefix: `<unk> <s> </s>` (0-2), `a` `b` `c` `:`
/// `a:` `ab` `bc` `x` `é` (3-11), byte tokens `<0xC3>` `<0xBD>` `<0xBF>` `<0xEF>` (12-15).
fn tiny_vocab() -> Vocab {
    const NORMAL: i32 = 1;
    const UNKNOWN: i32 = 2;
    const CONTROL: i32 = 3;
    const BYTE: i32 = 6;
    let toks: [(&str, i32, f32); 16] = [
        ("<unk>", UNKNOWN, 0.0),
        ("<s>", CONTROL, 0.0),
        ("</s>", CONTROL, 0.0),
        ("a", NORMAL, -1.0),
        ("b", NORMAL, -1.0),
        ("c", NORMAL, -1.0),
        (":", NORMAL, -1.0),
        ("a:", NORMAL, -2.0),
        ("ab", NORMAL, -2.0),
        ("bc", NORMAL, -2.0),
        ("x", NORMAL, -1.0),
        ("é", NORMAL, -1.0),
        ("<0xC3>", BYTE, 0.0),
        ("<0xBD>", BYTE, 0.0),
        ("<0xBF>", BYTE, 0.0),
        ("<0xEF>", BYTE, 0.0),
    ];
    let texts = toks
        .iter()
        .map(|t| MetaValue::String(String::from(t.0)))
        .collect();
    let w = Writer::new()
        .meta("general.architecture", MetaValue::String("llama".into()))
        .meta("tokenizer.ggml.model", MetaValue::String("llama".into()))
        .meta("tokenizer.ggml.add_space_prefix", MetaValue::Bool(false))
        .meta(
            "tokenizer.ggml.tokens",
            MetaValue::Array(ValueType::String, texts),
        )
        .meta(
            "tokenizer.ggml.scores",
            MetaValue::Array(
                ValueType::F32,
                toks.iter().map(|t| MetaValue::F32(t.2)).collect(),
            ),
        )
        .meta(
            "tokenizer.ggml.token_type",
            MetaValue::Array(
                ValueType::I32,
                toks.iter().map(|t| MetaValue::I32(t.1)).collect(),
            ),
        );
    let file = GgufFile::from_vec(w.to_bytes().unwrap()).unwrap();
    Vocab::from_gguf(file.header()).unwrap()
}

fn tails(b: &DryBreakers, head: u32) -> Vec<Vec<u32>> {
    let mut t: Vec<Vec<u32>> = b.tails(head).map(|t| t.to_vec()).collect();
    t.sort();
    t
}

#[test]
fn dry_breakers_from_the_vocabulary() {
    let v = tiny_vocab();
    let x45: String = "x".repeat(45);
    let b = DryBreakers::new(&v, &["", ":", "abc", x45.as_str(), "é"]).unwrap();
    // ":": the tokens containing it are breakers by themselves.
    assert_eq!(tails(&b, 6), [Vec::<u32>::new()]);
    assert_eq!(tails(&b, 7), [Vec::<u32>::new()]);
    // "abc": "a" ends with its first byte, the rest "bc" is token 9; "ab" leaves "c".
    assert_eq!(tails(&b, 3), [vec![9]]);
    assert_eq!(tails(&b, 8), [vec![5]]);
    // "x" * 45 is cut to 40 bytes; the rest, 39 x, is cut to 20 tokens.
    assert_eq!(tails(&b, 10), [vec![10; DRY_MAX_TAIL_TOKENS]]);
    // "é" (C3 A9): token 11 contains it; byte token C3 leaves the lone byte A9, tokenized as
    // U+FFFD, which this vocabulary spells with its byte tokens EF BF BD.
    assert_eq!(tails(&b, 11), [Vec::<u32>::new()]);
    assert_eq!(tails(&b, 12), [vec![15, 14, 13]]);
    for head in [0, 1, 2, 4, 5, 9, 13, 14, 15, 99] {
        assert_eq!(b.tails(head).count(), 0, "head {head}");
    }
    assert_eq!(b.len(), 7);
    // The same breakers as token sequences.
    let seqs: [&[u32]; 7] = [
        &[3, 9],
        &[6],
        &[7],
        &[8, 5],
        &[10; 21],
        &[11],
        &[12, 15, 14, 13],
    ];
    assert_eq!(DryBreakers::from_token_sequences(&seqs), b);
    assert!(DryBreakers::new(&v, &[""]).unwrap().is_empty());
    assert!(DryBreakers::from_token_sequences::<&[u32]>(&[&[]]).is_empty());
}

#[test]
fn sampler_with_vocab_applies_dry_with_its_breakers() {
    let v = tiny_vocab();
    let params = SamplerParams {
        temp: 0.0, // greedy: the candidates keep every logit
        dry_multiplier: 1.0,
        dry_base: 2.0,
        dry_allowed_length: 2,
        dry_sequence_breakers: [":", "abc", "é"].iter().map(|s| String::from(*s)).collect(),
        ..SamplerParams::default()
    };
    // Sampler::new cannot work out breaker strings.
    assert!(matches!(
        Sampler::new(16, params.clone()),
        Err(Error::BadParams { .. })
    ));
    // (history, penalty on token 5 "c"): "a b c x a b" -> c extends "a b" (1 * 2^0); ":"
    // would extend it but is a breaker; "x a b c x a b c x a b" -> c extends 7 (2^5);
    // "a bc" (the breaker "abc" in two tokens) or ":" 3 back caps it at 3 (2^1).
    for (history, want) in [
        (&[3u32, 4, 5, 10, 3, 4][..], 1.0),
        (&[3, 4, 6, 10, 3, 4][..], 0.0),
        (&[10, 3, 4, 5, 10, 3, 4, 5, 10, 3, 4][..], 32.0),
        (&[10, 3, 4, 5, 10, 3, 4, 5, 3, 9, 10, 3, 4][..], 2.0),
        (&[10, 3, 4, 5, 10, 3, 4, 5, 6, 10, 3, 4][..], 2.0),
    ] {
        let mut s = Sampler::with_vocab(&v, params.clone()).unwrap();
        for &t in history {
            s.accept(t);
        }
        let logits_in = [0.25f32; 16];
        s.sample(&logits_in).unwrap();
        let mut expect = logits_in;
        expect[5] -= want;
        assert_eq!(logits(s.candidates()), expect, "history {history:?}");
    }
    // Disabled DRY works the breakers out not at all.
    let s = Sampler::with_vocab(&v, SamplerParams::default()).unwrap();
    assert!(s.dry_breakers().is_empty());
    assert_eq!(s.dry_history().capacity(), 0);
    let s = Sampler::with_vocab(&v, params.clone()).unwrap();
    assert_eq!(s.dry_breakers().len(), 6);
    // Another sampler's breakers, or none with the strings cleared.
    let again = Sampler::with_dry_breakers(16, params.clone(), s.dry_breakers().clone()).unwrap();
    assert_eq!(again.dry_breakers(), s.dry_breakers());
    let cleared = SamplerParams {
        dry_sequence_breakers: Vec::new(),
        ..params
    };
    assert!(Sampler::new(16, cleared).unwrap().dry_breakers().is_empty());
}

#[test]
fn sampler_dry_window_equals_the_standalone_stage() {
    // The sampler's DRY ring buffer gives the same logits as Dry::apply on the whole token
    // list, while the window wraps around many times.
    let n_vocab = 12;
    let params = SamplerParams {
        temp: 0.0,
        penalty_last_n: 0,
        dry_multiplier: 0.75,
        dry_base: 1.5,
        dry_allowed_length: 1,
        dry_penalty_last_n: 9,
        dry_sequence_breakers: Vec::new(),
        ..SamplerParams::default()
    };
    let breakers: [&[u32]; 2] = [&[3], &[5, 6]];
    let mut sampler = Sampler::with_dry_breakers(
        n_vocab,
        params.clone(),
        DryBreakers::from_token_sequences(&breakers),
    )
    .unwrap();
    let mut dry = Dry::new(params.dry(), DryBreakers::from_token_sequences(&breakers)).unwrap();
    let lg = pseudo_logits(n_vocab, 4);
    let mut all = Vec::new();
    let mut s = 5u64;
    let mut penalised = 0;
    for step in 0..300 {
        // Few distinct tokens so that repeats are common.
        let t = (rng::splitmix64(&mut s) % 4) as u32 + 4;
        sampler.accept(t);
        all.push(t);
        sampler.sample(&lg).unwrap();
        let mut want = Candidates::from_logits(&lg);
        dry.apply(&mut want, &all);
        assert_eq!(logits(sampler.candidates()), logits(&want), "step {step}");
        if logits(&want) != lg {
            penalised += 1;
        }
        assert_eq!(
            sampler.dry_history().iter().collect::<Vec<_>>(),
            all[all.len().saturating_sub(9)..]
        );
    }
    assert!(penalised > 100, "{penalised}");
}

// ---------------------------------------------------------------------------------------------
// The logits processor.

#[test]
fn logits_processor_runs_on_the_raw_logits_before_the_bias() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let processor = move |c: &mut Candidates| {
        // Vocabulary order, raw logits.
        assert!(!c.is_sorted());
        assert_eq!(
            c.iter().map(|d| d.logit).collect::<Vec<_>>(),
            [0.0, 1.0, 2.0, 0.5]
        );
        c.as_mut_slice()[0].logit = 10.0;
        seen.fetch_add(1, Ordering::Relaxed);
    };
    let params = SamplerParams {
        temp: 0.0,
        logit_bias: vec![(0, -9.5), (3, 1.0)],
        ..SamplerParams::default()
    };
    let mut s = Sampler::new(4, params)
        .unwrap()
        .with_logits_processor(Box::new(processor));
    // 10 - 9.5 = 0.5 < 2.0 (token 2) < 1.5? no: token 3 gets 0.5 + 1 = 1.5; token 2 wins.
    assert_eq!(s.sample(&[0.0, 1.0, 2.0, 0.5]), Some(2));
    assert_eq!(logits(s.candidates()), [0.5, 1.0, 2.0, 1.5]);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    // A clone carries a copy of the processor.
    let mut t = s.clone();
    t.sample(&[0.0, 1.0, 2.0, 0.5]).unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    // reset leaves it; set_logits_processor(None) removes it.
    s.reset();
    s.sample(&[0.0, 1.0, 2.0, 0.5]).unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    s.set_logits_processor(None);
    s.sample(&[0.0, 1.0, 2.0, 0.5]).unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert_eq!(logits(s.candidates()), [-9.5, 1.0, 2.0, 1.5]);
}

#[test]
fn logits_processor_can_ban_tokens() {
    let only_1 = |c: &mut Candidates| {
        for d in c.as_mut_slice() {
            if d.id != 1 {
                d.logit = NEG;
            }
        }
    };
    let mut s = Sampler::new(4, SamplerParams::default())
        .unwrap()
        .with_logits_processor(Box::new(only_1));
    for _ in 0..20 {
        assert_eq!(s.sample(&[5.0, -1.0, 5.0, 5.0]), Some(1));
    }
    // In the mirostat chain too.
    let mut m = Sampler::new(
        4,
        SamplerParams {
            mirostat: 1,
            ..SamplerParams::default()
        },
    )
    .unwrap()
    .with_logits_processor(Box::new(only_1));
    assert_eq!(m.sample(&[5.0, -1.0, 0.0, 5.0]), Some(1));
}

// ---------------------------------------------------------------------------------------------
// The chain.

#[test]
fn defaults_of_the_new_stages_are_llama_cpp_s() {
    let p = SamplerParams::default();
    assert_eq!(p.xtc_probability, 0.0);
    assert_eq!(p.xtc_threshold, 0.1);
    assert_eq!(p.typ_p, 1.0);
    assert_eq!(p.dry_multiplier, 0.0);
    assert_eq!(p.dry_base, 1.75);
    assert_eq!(p.dry_allowed_length, 2);
    assert_eq!(p.dry_penalty_last_n, 64);
    assert_eq!(p.mirostat, 0);
    assert_eq!(p.top_n_sigma, -1.0);
    assert_eq!(p.mirostat_tau, 5.0);
    assert_eq!(p.mirostat_eta, 0.1);
    assert_eq!(p.dry_sequence_breakers, ["\n", ":", "\"", "*"]);
    assert!(p.dry().is_disabled());
    // Off by default: the default chain gives the same tokens and the same candidates as the
    // stages it had before (top-k, top-p, min-p, temperature, dist).
    let lg = pseudo_logits(300, 9);
    let mut s = Sampler::new(300, SamplerParams::default()).unwrap();
    let mut r = Xoshiro256StarStar::new(DEFAULT_SEED);
    for _ in 0..50 {
        let t = s.sample(&lg).unwrap();
        let mut c = Candidates::from_logits(&lg);
        top_k(&mut c, 40);
        top_p(&mut c, 0.95, 0);
        min_p(&mut c, 0.05, 0);
        temperature(&mut c, 0.8);
        assert_eq!(Some(t), dist(&mut c, &mut r));
        assert_eq!(s.candidates(), &c);
    }
    assert_eq!(s.dry_history().capacity(), 0);
}

#[test]
fn chain_runs_the_stages_in_llama_cpp_s_order() {
    // Every stage on: the sampler equals the stages applied by hand in common_sampler_init's
    // order (logit bias, penalties, DRY, top-n-sigma, top-k, typical-p, top-p, min-p, XTC,
    // temperature, dist), XTC's chance and dist's number from one generator in that order.
    let n_vocab = 50;
    let params = SamplerParams {
        seed: 77,
        min_keep: 2,
        top_k: 30,
        top_p: 0.9,
        min_p: 0.02,
        xtc_probability: 0.6,
        xtc_threshold: 0.05,
        typ_p: 0.9,
        temp: 0.7,
        penalty_last_n: 8,
        penalty_repeat: 1.3,
        dry_multiplier: 0.7,
        dry_base: 1.5,
        dry_allowed_length: 1,
        dry_penalty_last_n: 16,
        top_n_sigma: 2.0,
        dry_sequence_breakers: Vec::new(),
        logit_bias: vec![(3, 1.0)],
        ..SamplerParams::default()
    };
    let mut s = Sampler::new(n_vocab, params.clone()).unwrap();
    let mut dry = Dry::new(params.dry(), DryBreakers::none()).unwrap();
    let mut r = Xoshiro256StarStar::new(77);
    let mut history = Vec::new();
    let mut distinct = Vec::new();
    let mut xtc_acted = 0;
    for step in 0..200 {
        // Logits that favour a few tokens, so that repeats (and DRY) happen.
        let lg: Vec<f32> = pseudo_logits(n_vocab, step % 3)
            .iter()
            .enumerate()
            .map(|(i, l)| if i < 6 { l + 6.0 } else { *l })
            .collect();
        let t = s.sample(&lg).unwrap();
        let mut c = Candidates::from_logits(&lg);
        logit_bias(&mut c, &params.logit_bias);
        penalties(&mut c, &history, &params.penalties());
        dry.apply(&mut c, &history);
        top_n_sigma(&mut c, params.top_n_sigma);
        top_k(&mut c, params.top_k);
        typical(&mut c, params.typ_p, params.min_keep);
        top_p(&mut c, params.top_p, params.min_keep);
        min_p(&mut c, params.min_p, params.min_keep);
        let before_xtc = c.len();
        xtc(&mut c, 0.6, 0.05, params.min_keep, &mut r);
        if c.len() < before_xtc {
            xtc_acted += 1;
        }
        temperature_ext(&mut c, params.temp, 0.0, 1.0);
        assert_eq!(Some(t), dist(&mut c, &mut r), "step {step}");
        assert_eq!(s.candidates(), &c, "step {step}");
        s.accept(t);
        history.push(t);
        if !distinct.contains(&t) {
            distinct.push(t);
        }
    }
    assert!(xtc_acted > 20, "{xtc_acted}");
    assert!(distinct.len() > 3, "{distinct:?}");
}

#[test]
fn greedy_runs_typical_and_xtc_which_can_drop_the_maximum() {
    let greedy_params = |typ_p: f32, xtc_probability: f32| SamplerParams {
        temp: 0.0,
        typ_p,
        xtc_probability,
        ..SamplerParams::default()
    };
    // Typical-p keeps ids 1 and 2 of (0.4, 0.3, 0.3); the greedy pick is then 1.
    let lp = log_probs(&[0.4, 0.3, 0.3]);
    let mut s = Sampler::new(3, greedy_params(0.5, 0.0)).unwrap();
    let rng_before = s.rng.clone();
    assert_eq!(s.sample(&lp), Some(1));
    assert_eq!(s.rng, rng_before);
    let mut s = Sampler::new(3, greedy_params(1.0, 0.0)).unwrap();
    assert_eq!(s.sample(&lp), Some(0));
    // XTC at probability 1: top-p 0.95 keeps ids 1, 3, 0 of L5; XTC removes id 1 (p 0.665);
    // the greedy pick is 3. XTC's chance is the one number drawn.
    let mut s = Sampler::new(5, greedy_params(1.0, 1.0)).unwrap();
    let mut one = s.rng.clone();
    one.next_u64();
    assert_eq!(s.sample(&L5), Some(3));
    assert_eq!(ids(s.candidates()), [3, 0]);
    assert_close(&probs(s.candidates()), &[0.244_728_46, 0.090_030_57], TOL);
    assert_eq!(s.rng, one);
    // DRY and top-n-sigma with greedy: DRY penalises 2 (1.0 * 1.1^0), so 0 wins the tie.
    let params = SamplerParams {
        temp: 0.0,
        dry_multiplier: 1.0,
        dry_base: 1.1,
        dry_sequence_breakers: Vec::new(),
        top_n_sigma: 0.5,
        ..SamplerParams::default()
    };
    let mut s = Sampler::new(4, params).unwrap();
    let lg = [0.0, 0.0, 0.5, 0.0];
    assert_eq!(s.sample(&lg), Some(2));
    for t in [0, 1, 2, 0, 1] {
        s.accept(t);
    }
    assert_eq!(s.sample(&lg), Some(0));
    assert_eq!(logits(s.candidates()), [0.0, 0.0, -0.5, 0.0]);
}

#[test]
fn top_n_sigma_in_the_chain() {
    // top-n-sigma 1 on L5 keeps ids 1 and 3; temperature 0.8: softmax(3.75, 2.5).
    let params = SamplerParams {
        seed: 1,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        top_n_sigma: 1.0,
        ..SamplerParams::default()
    };
    let mut s = Sampler::new(5, params.clone()).unwrap();
    assert_eq!(s.sample(&L5), Some(1));
    assert_eq!(ids(s.candidates()), [0, 1, 2, 3, 4]);
    assert_close(
        &probs(s.candidates()),
        &[0.0, 0.777_299_9, 0.0, 0.222_700_12, 0.0],
        TOL,
    );
    for seed in 0..200 {
        let mut s = Sampler::new(
            5,
            SamplerParams {
                seed,
                ..params.clone()
            },
        )
        .unwrap();
        let t = s.sample(&L5).unwrap();
        assert!(t == 1 || t == 3);
    }
}

#[test]
fn sampler_validates_the_new_parameters() {
    let d = SamplerParams::default;
    let bad = |p: SamplerParams| matches!(Sampler::new(4, p), Err(Error::BadParams { .. }));
    for v in [f32::NAN, INF, NEG] {
        assert!(bad(SamplerParams {
            mirostat_tau: v,
            ..d()
        }));
        assert!(bad(SamplerParams {
            mirostat_eta: v,
            ..d()
        }));
        assert!(bad(SamplerParams {
            dry_multiplier: v,
            ..d()
        }));
        assert!(bad(SamplerParams { dry_base: v, ..d() }));
    }
    for m in [3, 100, u32::MAX] {
        assert!(bad(SamplerParams { mirostat: m, ..d() }));
    }
    let big = i32::MAX as usize + 1;
    assert!(bad(SamplerParams {
        dry_allowed_length: big,
        ..d()
    }));
    assert!(bad(SamplerParams {
        dry_penalty_last_n: big,
        ..d()
    }));
    // DRY on with the default breakers needs the vocabulary.
    assert!(bad(SamplerParams {
        dry_multiplier: 0.8,
        ..d()
    }));
    // Every other value is accepted and sampling does not panic.
    let odd = [
        0.0,
        -1.0,
        0.5,
        1.0,
        2.0,
        f32::NAN,
        INF,
        NEG,
        f32::MAX,
        f32::MIN_POSITIVE,
    ];
    let mut r = Xoshiro256StarStar::new(1);
    for _ in 0..300 {
        let mut pick = || odd[(r.next_u64() % odd.len() as u64) as usize];
        let params = SamplerParams {
            typ_p: pick(),
            xtc_probability: pick(),
            xtc_threshold: pick(),
            top_n_sigma: pick(),
            temp: pick(),
            top_p: pick(),
            min_p: pick(),
            dry_multiplier: if pick() > 0.0 { 0.5 } else { -3.0 },
            dry_base: 1.75,
            dry_allowed_length: (r.next_u64() % 4) as usize,
            dry_penalty_last_n: (r.next_u64() % 6) as usize,
            dry_sequence_breakers: Vec::new(),
            mirostat: (r.next_u64() % 3) as u32,
            mirostat_tau: 3.0e38,
            mirostat_eta: 1.0e38,
            min_keep: (r.next_u64() % 4) as usize,
            ..d()
        };
        let mut s = Sampler::new(4, params).unwrap();
        for _ in 0..6 {
            let t = s.sample(&[1.0, f32::NAN, 3.0, f32::MAX]).unwrap();
            assert!(t < 4);
            s.accept(t);
            s.accept(t);
        }
    }
}

#[test]
fn sample_does_not_allocate_with_every_stage_on() {
    // Every buffer is made in the constructor: the candidates, both histories and DRY's
    // scratch keep their address and capacity across steps of every kind.
    let v = tiny_vocab();
    for mirostat in [0, 1, 2] {
        let params = SamplerParams {
            mirostat,
            top_k: 0,
            typ_p: 0.95,
            xtc_probability: 0.5,
            top_n_sigma: 3.0,
            penalty_repeat: 1.1,
            dry_multiplier: 0.8,
            dry_penalty_last_n: 8,
            dry_allowed_length: 1,
            dry_sequence_breakers: [":", "abc"].iter().map(|s| String::from(*s)).collect(),
            ..SamplerParams::default()
        };
        let mut s = Sampler::with_vocab(&v, params).unwrap();
        let cand = (s.candidates.as_slice().as_ptr(), s.candidates.capacity());
        let scratch = (
            s.dry.repeat_count.as_ptr(),
            s.dry.repeat_count.capacity(),
            s.dry.max_repeat.as_ptr(),
            s.dry.max_repeat.capacity(),
        );
        assert_eq!(scratch.1, 8);
        let lg = pseudo_logits(16, 2);
        for step in 0..200u32 {
            let t = s.sample(&lg).unwrap();
            s.accept(t);
            s.accept(3 + step % 3);
            assert_eq!(
                (s.candidates.as_slice().as_ptr(), s.candidates.capacity()),
                cand
            );
            assert_eq!(
                (
                    s.dry.repeat_count.as_ptr(),
                    s.dry.repeat_count.capacity(),
                    s.dry.max_repeat.as_ptr(),
                    s.dry.max_repeat.capacity(),
                ),
                scratch
            );
            assert_eq!(s.dry_history.capacity(), 8);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State.

fn run(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            let t = s.sample(logits).unwrap();
            s.accept(t);
            t
        })
        .collect()
}

#[test]
fn state_restores_mirostat_s_mu() {
    for mirostat in [1, 2] {
        let params = SamplerParams {
            seed: 7,
            mirostat,
            mirostat_tau: 2.5,
            temp: 0.9,
            ..SamplerParams::default()
        };
        let mut a = Sampler::new(8, params.clone()).unwrap();
        run(&mut a, &ML, 5);
        assert_ne!(a.mirostat_mu(), 5.0, "mu has moved");
        let saved = a.state();
        let mu = a.mirostat_mu();
        let after = run(&mut a, &ML, 12);
        let mut b = Sampler::new(8, params.clone()).unwrap();
        b.state_read(&saved).unwrap();
        assert_eq!(b.mirostat_mu().to_bits(), mu.to_bits());
        assert_eq!(run(&mut b, &ML, 12), after);
        assert_eq!(b.mirostat_mu().to_bits(), a.mirostat_mu().to_bits());
        // Without mu (a fresh sampler at the same generator state) the steps differ.
        let mut c = Sampler::new(8, params).unwrap();
        c.rng = Xoshiro256StarStar::from_state(b.rng.state());
        c.mirostat_mu = 5.0;
        let mut d = b.clone();
        assert_ne!(
            (0..12)
                .map(|_| (c.sample(&ML), c.mirostat_mu().to_bits()))
                .collect::<Vec<_>>(),
            (0..12)
                .map(|_| (d.sample(&ML), d.mirostat_mu().to_bits()))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn state_restores_dry_s_window() {
    let params = SamplerParams {
        seed: 3,
        dry_multiplier: 2.0,
        dry_allowed_length: 1,
        dry_penalty_last_n: 6,
        penalty_last_n: 4,
        penalty_repeat: 1.2,
        dry_sequence_breakers: Vec::new(),
        ..SamplerParams::default()
    };
    let lg = [2.0, 1.9, 1.8, 1.7, 0.0, -1.0];
    let mut a = Sampler::new(6, params.clone()).unwrap();
    for t in [0, 1, 2, 0, 1, 2, 0] {
        a.accept(t);
    }
    run(&mut a, &lg, 3);
    let saved = a.state();
    // Header 68 bytes, 4 penalty tokens, 6 DRY tokens.
    assert_eq!(saved.len(), 68 + 4 * (4 + 6));
    let after = run(&mut a, &lg, 20);
    let mut b = Sampler::new(6, params.clone()).unwrap();
    b.state_read(&saved).unwrap();
    assert_eq!(run(&mut b, &lg, 20), after);
    assert_eq!(b.candidates(), a.candidates());
    assert_eq!(
        b.dry_history().iter().collect::<Vec<_>>(),
        a.dry_history().iter().collect::<Vec<_>>()
    );

    // States that do not fit are errors that change nothing.
    let mut other = Sampler::new(
        6,
        SamplerParams {
            dry_penalty_last_n: 5,
            ..params.clone()
        },
    )
    .unwrap();
    let before = other.state();
    let err = other.state_read(&saved).unwrap_err();
    assert!(matches!(err, Error::BadState { .. }));
    assert_eq!(other.state(), before);
    // Version 1 (before DRY and mirostat) is refused with a message that says so.
    let mut v1 = Vec::new();
    v1.extend_from_slice(b"LLMTSAMP");
    for v in [1u32, 6, 4, 0] {
        v1.extend_from_slice(&v.to_le_bytes());
    }
    v1.extend_from_slice(&[0u8; 32]);
    match b.state_read(&v1) {
        Err(Error::BadState { reason }) => assert!(reason.contains("version 1"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Truncated, extended, or a DRY token outside the vocabulary.
    for n in [0, 11, 40, 67, saved.len() - 1] {
        assert!(b.state_read(&saved[..n]).is_err(), "{n}");
    }
    let mut long = saved.clone();
    long.extend_from_slice(&[0; 4]);
    assert!(b.state_read(&long).is_err());
    let mut bad_token = saved.clone();
    let at = bad_token.len() - 4;
    bad_token[at..].copy_from_slice(&6u32.to_le_bytes());
    assert!(b.state_read(&bad_token).is_err());
    let mut too_many = saved.clone();
    too_many[28..32].copy_from_slice(&7u32.to_le_bytes());
    assert!(b.state_read(&too_many).is_err());
    // The failed reads changed nothing.
    assert_eq!(b.state(), a.state());
}
