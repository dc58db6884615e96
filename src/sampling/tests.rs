//! Unit tests for the sampling stages and the chain.
//!
//! Expected numbers were computed independently in Python (numpy float32 for the f32 steps, an
//! independent xoshiro256**/splitmix64 transcription for the draws) and are written as literals.
//! Probabilities are compared with an absolute tolerance of 1e-6: they go through `expf`, whose
//! last bit may differ between C libraries (one ulp of a probability below 1 is under 6e-8, and
//! a few such roundings accumulate in the sums). Penalties, biases and plain temperature use
//! only correctly rounded `+ - * /`, so their logits are compared exactly.

use alloc::vec;
use alloc::vec::Vec;

use super::*;

pub(super) const TOL: f32 = 1e-6;

/// Token ids 0..5 with these logits; sorted: ids 1, 3, 0, 4, 2.
pub(super) const L5: [f32; 5] = [1.0, 3.0, -1.0, 2.0, 0.0];
/// softmax(L5) in sorted order (ids 1, 3, 0, 4, 2).
pub(super) const L5_P_SORTED: [f32; 5] = [
    0.6364086,
    0.234_121_65,
    0.086_128_54,
    0.031_684_92,
    0.011_656_231,
];

pub(super) fn ids(c: &Candidates) -> Vec<u32> {
    c.iter().map(|d| d.id).collect()
}

pub(super) fn logits(c: &Candidates) -> Vec<f32> {
    c.iter().map(|d| d.logit).collect()
}

pub(super) fn probs(c: &Candidates) -> Vec<f32> {
    c.iter().map(|d| d.p).collect()
}

#[track_caller]
pub(super) fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "element {i}: got {g}, want {w} (tolerance {tol}); got {got:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The random number generator.

#[test]
fn xoshiro_matches_the_reference_vector() {
    // The reference implementation's outputs from state {1, 2, 3, 4} (also rand_xoshiro's
    // test vector).
    let mut r = Xoshiro256StarStar::from_state([1, 2, 3, 4]);
    let want: [u64; 10] = [
        11520,
        0,
        1509978240,
        1215971899390074240,
        1216172134540287360,
        607988272756665600,
        16172922978634559625,
        8476171486693032832,
        10595114339597558777,
        2904607092377533576,
    ];
    for w in want {
        assert_eq!(r.next_u64(), w);
    }
}

#[test]
fn splitmix64_and_seeding_match_reference_values() {
    // splitmix64 started at 0: the published first outputs.
    let mut s = 0u64;
    assert_eq!(rng::splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
    assert_eq!(rng::splitmix64(&mut s), 0x6e78_9e6a_a1b9_65f4);
    assert_eq!(rng::splitmix64(&mut s), 0x06c4_5d18_8009_454f);
    // Seed 42 through splitmix64, as other xoshiro256** ports seed it.
    let mut r = Xoshiro256StarStar::new(42);
    assert_eq!(r.next_u64(), 1546998764402558742);
    assert_eq!(r.next_u64(), 6990951692964543102);
    assert_eq!(r.next_u64(), 12544586762248559009);
    // The all-zero state is refused.
    assert_eq!(
        Xoshiro256StarStar::from_state([0; 4]),
        Xoshiro256StarStar::new(0)
    );
}

#[test]
fn next_f64_is_the_top_53_bits() {
    let mut r = Xoshiro256StarStar::from_state([1, 2, 3, 4]);
    assert_eq!(r.next_f64(), 5.0 / (1u64 << 53) as f64); // 11520 >> 11 = 5
    assert_eq!(r.next_f64(), 0.0);
    let mut r = Xoshiro256StarStar::new(3);
    for _ in 0..10_000 {
        let u = r.next_f64();
        assert!((0.0..1.0).contains(&u));
    }
}

// ---------------------------------------------------------------------------------------------
// softmax, top-k.

#[test]
fn softmax_sorts_and_normalizes() {
    let mut c = Candidates::from_logits(&L5);
    softmax(&mut c);
    assert!(c.is_sorted());
    assert_eq!(ids(&c), [1, 3, 0, 4, 2]);
    assert_eq!(logits(&c), [3.0, 2.0, 1.0, 0.0, -1.0]);
    assert_close(&probs(&c), &L5_P_SORTED, TOL);

    let mut empty = Candidates::new();
    softmax(&mut empty);
    assert!(empty.is_empty());
}

#[test]
fn softmax_handles_infinities_and_nan() {
    // Two +inf share the mass; NaN and finite logits get nothing.
    let mut c = Candidates::from_logits(&[f32::INFINITY, 1.0, f32::NAN, f32::INFINITY]);
    softmax(&mut c);
    assert_eq!(ids(&c), [0, 3, 1, 2]);
    assert_eq!(probs(&c), [0.5, 0.5, 0.0, 0.0]);
    // Nothing but -inf and NaN: uniform.
    let mut c = Candidates::from_logits(&[f32::NEG_INFINITY, f32::NAN, f32::NEG_INFINITY]);
    softmax(&mut c);
    assert_close(&probs(&c), &[1.0 / 3.0; 3], TOL);
    // Huge finite differences underflow to 0 without NaN.
    let mut c = Candidates::from_logits(&[f32::MAX, -f32::MAX]);
    softmax(&mut c);
    assert_eq!(probs(&c), [1.0, 0.0]);
}

#[test]
fn top_k_keeps_the_k_best_sorted() {
    let mut c = Candidates::from_logits(&L5);
    top_k(&mut c, 3);
    assert!(c.is_sorted());
    assert_eq!(ids(&c), [1, 3, 0]);
    assert_eq!(logits(&c), [3.0, 2.0, 1.0]);

    // 0 disables: unchanged, unsorted.
    let mut c = Candidates::from_logits(&L5);
    top_k(&mut c, 0);
    assert!(!c.is_sorted());
    assert_eq!(ids(&c), [0, 1, 2, 3, 4]);

    // k beyond the list: everything, sorted.
    let mut c = Candidates::from_logits(&L5);
    top_k(&mut c, 1000);
    assert_eq!(ids(&c), [1, 3, 0, 4, 2]);

    // Ties: lowest id first; NaN last.
    let mut c = Candidates::from_logits(&[2.0, f32::NAN, 5.0, 2.0, 5.0]);
    top_k(&mut c, 4);
    assert_eq!(ids(&c), [2, 4, 0, 3]);

    let mut empty = Candidates::new();
    top_k(&mut empty, 3);
    assert!(empty.is_empty());
}

#[test]
fn top_k_on_a_large_vocabulary_matches_a_full_sort() {
    let logits: Vec<f32> = pseudo_logits(5000, 11);
    let mut c = Candidates::from_logits(&logits);
    top_k(&mut c, 300);
    let mut all = Candidates::from_logits(&logits);
    all.sort();
    assert_eq!(c.as_slice(), &all.as_slice()[..300]);
}

/// Deterministic logits in [-8, 8) from splitmix64.
pub(super) fn pseudo_logits(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| (rng::splitmix64(&mut s) >> 40) as f32 / (1u64 << 24) as f32 * 16.0 - 8.0)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// top-p.

#[test]
fn top_p_keeps_the_smallest_set_reaching_p() {
    // Cumulative: 0.6364, 0.8705, 0.9567, 0.9883, 1.0.
    let mut c = Candidates::from_logits(&L5);
    top_p(&mut c, 0.8, 0);
    assert!(c.is_sorted());
    assert_eq!(ids(&c), [1, 3]);
    // Probabilities are the softmax over all five, not renormalised.
    assert_close(&probs(&c), &L5_P_SORTED[..2], TOL);

    let mut c = Candidates::from_logits(&L5);
    top_p(&mut c, 0.95, 0);
    assert_eq!(ids(&c), [1, 3, 0]);

    let mut c = Candidates::from_logits(&L5);
    top_p(&mut c, 0.5, 0);
    assert_eq!(ids(&c), [1]);

    // min_keep wins over p.
    let mut c = Candidates::from_logits(&L5);
    top_p(&mut c, 0.8, 4);
    assert_eq!(ids(&c), [1, 3, 0, 4]);
    assert_close(&probs(&c), &L5_P_SORTED[..4], TOL);
}

#[test]
fn top_p_outside_zero_one() {
    for p in [1.0, 1.5, f32::INFINITY, f32::NAN] {
        let mut c = Candidates::from_logits(&L5);
        top_p(&mut c, p, 0);
        assert_eq!(ids(&c), [0, 1, 2, 3, 4], "p = {p}");
        assert!(!c.is_sorted());
    }
    for p in [0.0, -1.0, f32::NEG_INFINITY] {
        let mut c = Candidates::from_logits(&L5);
        top_p(&mut c, p, 0);
        assert_eq!(ids(&c), [1], "p = {p}");
        let mut c = Candidates::from_logits(&L5);
        top_p(&mut c, p, 2);
        assert_eq!(ids(&c), [1, 3], "p = {p}");
    }
    let mut c = Candidates::from_logits(&L5);
    top_p(&mut c, 0.5, 99); // min_keep beyond the list keeps all
    assert_eq!(ids(&c), [1, 3, 0, 4, 2]);
    let mut empty = Candidates::new();
    top_p(&mut empty, 0.5, 0);
    assert!(empty.is_empty());
}

/// The straightforward top-p: sort everything, accumulate in f32.
fn naive_top_p(logits: &[f32], p: f32, min_keep: usize) -> Vec<u32> {
    let mut c = Candidates::from_logits(logits);
    softmax(&mut c);
    let mut cum = 0.0f32;
    let mut out = Vec::new();
    for (i, d) in c.iter().enumerate() {
        cum += d.p;
        out.push(d.id);
        if cum >= p && i + 1 >= min_keep {
            break;
        }
    }
    out
}

#[test]
fn top_p_partial_sort_path_matches_a_full_sort() {
    // Over 1024 unsorted candidates llama.cpp (and this) sorts only the best 256 first.
    let logits = pseudo_logits(3000, 5);
    for (p, min_keep) in [(0.5, 0), (0.9, 0), (0.999, 0), (0.9, 400), (0.3, 2999)] {
        let mut c = Candidates::from_logits(&logits);
        top_p(&mut c, p, min_keep);
        let want = naive_top_p(&logits, p, min_keep);
        assert_eq!(ids(&c), want, "p = {p}, min_keep = {min_keep}");
        assert!(c.is_sorted());
    }
    // Equal logits: p = 1/2000 each; about half of them, lowest ids first.
    let flat = vec![0.25f32; 2000];
    let mut c = Candidates::from_logits(&flat);
    top_p(&mut c, 0.5, 0);
    let want = naive_top_p(&flat, 0.5, 0);
    assert!((999..=1001).contains(&want.len()));
    assert_eq!(ids(&c), want);
    assert_eq!(ids(&c), (0..want.len() as u32).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// min-p.

#[test]
fn min_p_is_relative_to_the_most_likely() {
    // p = 0.1: keep logit >= 3 + ln 0.1 = 0.697: ids 0, 1, 3, in their original order.
    let mut c = Candidates::from_logits(&L5);
    min_p(&mut c, 0.1, 0);
    assert!(!c.is_sorted());
    assert_eq!(ids(&c), [0, 1, 3]);
    assert_eq!(logits(&c), [1.0, 3.0, 2.0]);

    // p = 0.2: 3 + ln 0.2 = 1.39: ids 1, 3.
    let mut c = Candidates::from_logits(&L5);
    min_p(&mut c, 0.2, 0);
    assert_eq!(ids(&c), [1, 3]);

    // Too few pass for min_keep: sorted, then topped up to min_keep.
    let mut c = Candidates::from_logits(&L5);
    min_p(&mut c, 0.1, 4);
    assert!(c.is_sorted());
    assert_eq!(ids(&c), [1, 3, 0, 4]);

    // Already sorted input: the sorted path.
    let mut c = Candidates::from_logits(&L5);
    softmax(&mut c);
    min_p(&mut c, 0.1, 0);
    assert_eq!(ids(&c), [1, 3, 0]);
    assert_close(&probs(&c), &L5_P_SORTED[..3], TOL);
}

#[test]
fn min_p_outside_zero_one() {
    for p in [0.0, -0.5, f32::NAN, f32::NEG_INFINITY] {
        let mut c = Candidates::from_logits(&L5);
        min_p(&mut c, p, 0);
        assert_eq!(ids(&c), [0, 1, 2, 3, 4], "p = {p}");
    }
    // p > 1: only the most likely (nothing else can be that likely), or min_keep of them.
    for p in [1.5, f32::INFINITY] {
        let mut c = Candidates::from_logits(&L5);
        min_p(&mut c, p, 0);
        assert_eq!(ids(&c), [1], "p = {p}");
        let mut c = Candidates::from_logits(&L5);
        min_p(&mut c, p, 2);
        assert_eq!(ids(&c), [1, 3], "p = {p}");
    }
    // All -inf: llama.cpp's -FLT_MAX start lets none pass the unsorted path; the sorted path's
    // threshold is then -inf + ln p = -inf, which every candidate meets.
    let mut c = Candidates::from_logits(&[f32::NEG_INFINITY; 3]);
    min_p(&mut c, 0.05, 0);
    assert_eq!(ids(&c), [0, 1, 2]);
    let mut empty = Candidates::new();
    min_p(&mut empty, 0.05, 3);
    assert!(empty.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Temperature.

#[test]
fn temperature_divides_logits() {
    let mut c = Candidates::from_logits(&L5);
    temperature(&mut c, 0.5);
    assert_eq!(logits(&c), [2.0, 6.0, -2.0, 4.0, 0.0]);
    let mut c = Candidates::from_logits(&L5);
    temperature(&mut c, 4.0);
    assert_eq!(logits(&c), [0.25, 0.75, -0.25, 0.5, 0.0]);
}

#[test]
fn temperature_zero_keeps_only_the_first_maximum() {
    for t in [0.0, -1.0, f32::NAN] {
        let mut c = Candidates::from_logits(&[1.0, 3.0, 3.0, f32::NAN, 0.0]);
        temperature(&mut c, t);
        let inf = f32::NEG_INFINITY;
        assert_eq!(logits(&c), [inf, 3.0, inf, inf, inf], "temp = {t}");
    }
}

#[test]
fn dynamic_temperature_follows_the_entropy() {
    // temp 1, delta 0.5, exponent 1 on L5: entropy 0.99997 nats, normalised by ln 5 to
    // 0.621318, so the temperature is 0.5 + 1.0 * 0.621318 = 1.121318.
    let mut c = Candidates::from_logits(&L5);
    temperature_ext(&mut c, 1.0, 0.5, 1.0);
    assert_eq!(ids(&c), [1, 3, 0, 4, 2]);
    assert_close(
        &logits(&c),
        &[2.675_422_7, 1.783_615_2, 0.891_807_6, 0.0, -0.891_807_6],
        TOL,
    );
    assert_close(
        &probs(&c),
        &[
            0.5969952,
            0.2447168,
            0.100_312_87,
            0.041_119_66,
            0.016_855_529,
        ],
        TOL,
    );
    // delta 0 (or NaN): plain temperature.
    for delta in [0.0, f32::NAN] {
        let mut c = Candidates::from_logits(&L5);
        temperature_ext(&mut c, 0.5, delta, 1.0);
        assert_eq!(logits(&c), [2.0, 6.0, -2.0, 4.0, 0.0]);
    }
    // One candidate: unchanged.
    let mut c = Candidates::from_logits(&[2.0]);
    temperature_ext(&mut c, 1.0, 0.5, 1.0);
    assert_eq!(logits(&c), [2.0]);
    // Odd parameters do not panic and leave a usable distribution.
    let mut c = Candidates::from_logits(&L5);
    temperature_ext(&mut c, -3.0, 0.5, f32::NAN);
    let mut r = Xoshiro256StarStar::new(1);
    assert_eq!(dist(&mut c, &mut r), Some(1));
}

// ---------------------------------------------------------------------------------------------
// Greedy and dist.

#[test]
fn greedy_takes_the_first_maximum() {
    let c = Candidates::from_logits(&[1.0, 3.0, -1.0, 3.0, 2.0]);
    assert_eq!(greedy(&c), Some(1));
    let c = Candidates::from_logits(&[f32::NAN, -5.0, f32::NAN]);
    assert_eq!(greedy(&c), Some(1));
    let c = Candidates::from_logits(&[f32::NEG_INFINITY; 3]);
    assert_eq!(greedy(&c), Some(0));
    assert_eq!(greedy(&Candidates::new()), None);
    // In list order, not id order.
    let c: Candidates = [(7, 1.0), (2, 4.0), (5, 4.0)]
        .into_iter()
        .map(|(id, logit)| TokenData { id, logit, p: 0.0 })
        .collect();
    assert_eq!(greedy(&c), Some(2));
}

#[test]
fn dist_draws_by_inverse_cdf() {
    // Seed 7's first uniforms: 0.70058, 0.27875, 0.83963, 0.98110, 0.99086, 0.87277, 0.06075,
    // 0.10444. Unsorted L5 cumulative (ids 0..4): 0.0861, 0.7225, 0.7342, 0.9683, 1.0.
    let mut r = Xoshiro256StarStar::new(7);
    let mut got = Vec::new();
    for _ in 0..8 {
        let mut c = Candidates::from_logits(&L5);
        got.push(dist(&mut c, &mut r).unwrap());
        assert_close(
            &probs(&c),
            &[
                0.086_128_54,
                0.6364086,
                0.011_656_231,
                0.234_121_65,
                0.031_684_92,
            ],
            TOL,
        );
    }
    assert_eq!(got, [1, 1, 3, 4, 4, 3, 0, 1]);
}

#[test]
fn dist_edge_cases() {
    // Empty: None, and no random number consumed.
    let mut r = Xoshiro256StarStar::new(9);
    let before = r.clone();
    assert_eq!(dist(&mut Candidates::new(), &mut r), None);
    assert_eq!(r, before);

    // One candidate: chosen, p = 1, exactly one number consumed.
    let mut c = Candidates::from_logits(&[f32::NAN]);
    assert_eq!(dist(&mut c, &mut r), Some(0));
    assert_eq!(probs(&c), [1.0]);
    let mut expected = before.clone();
    expected.next_u64();
    assert_eq!(r, expected);

    // Zero-probability candidates are never drawn, including first in the list.
    let inf = f32::NEG_INFINITY;
    for seed in 0..200 {
        let mut r = Xoshiro256StarStar::new(seed);
        let mut c = Candidates::from_logits(&[inf, f32::NAN, 0.5, inf]);
        assert_eq!(dist(&mut c, &mut r), Some(2));
        let mut c = Candidates::from_logits(&[1.0, f32::INFINITY, 2.0, f32::INFINITY]);
        let t = dist(&mut c, &mut r).unwrap();
        assert!(t == 1 || t == 3);
        let mut c = Candidates::from_logits(&[inf, inf]);
        assert!(dist(&mut c, &mut r).unwrap() < 2);
        assert_eq!(probs(&c), [0.5, 0.5]);
    }
    // u = 0 exactly (state {1,2,3,4}: second output is 0) skips a leading zero probability.
    let mut r = Xoshiro256StarStar::from_state([1, 2, 3, 4]);
    r.next_u64();
    let mut c = Candidates::from_logits(&[inf, 1.0, 1.0]);
    assert_eq!(dist(&mut c, &mut r), Some(1));
}

// ---------------------------------------------------------------------------------------------
// Logit bias and penalties.

#[test]
fn logit_bias_adds_to_the_named_tokens() {
    let mut c = Candidates::from_logits(&L5);
    logit_bias(
        &mut c,
        &[
            (2, 5.0),
            (4, f32::NEG_INFINITY),
            (99, 1.0),
            (0, 0.5),
            (0, 0.25),
        ],
    );
    assert_eq!(logits(&c), [1.75, 3.0, 4.0, 2.0, f32::NEG_INFINITY]);
    // Not in vocabulary order any more: found by scanning; the sorted flag is cleared.
    let mut c = Candidates::from_logits(&L5);
    softmax(&mut c);
    logit_bias(&mut c, &[(2, 10.0), (1, -1.0)]);
    assert!(!c.is_sorted());
    assert_eq!(ids(&c), [1, 3, 0, 4, 2]);
    assert_eq!(logits(&c), [2.0, 2.0, 1.0, 0.0, 9.0]);
    // Nothing to apply: the flag stays.
    let mut c = Candidates::from_logits(&L5);
    softmax(&mut c);
    logit_bias(&mut c, &[(42, 1.0)]);
    assert!(c.is_sorted());
}

const PEN_LOGITS: [f32; 6] = [1.0, 2.0, -1.0, -2.0, 0.0, 0.5];
/// Counts: token 1 three times, token 3 twice, token 4 once.
const PEN_HISTORY: [u32; 6] = [1, 3, 1, 4, 1, 3];

#[test]
fn penalties_repeat_frequency_presence() {
    let pen = Penalties {
        last_n: 64,
        repeat: 1.5,
        freq: 0.25,
        present: 0.5,
    };
    let mut c = Candidates::from_logits(&PEN_LOGITS);
    penalties(&mut c, &PEN_HISTORY, &pen);
    // token 1:  2.0 / 1.5 = 1.3333334, minus 3 * 0.25 + 0.5 = 1.25 -> 0.08333337
    // token 3: -2.0 * 1.5 = -3.0,      minus 2 * 0.25 + 0.5 = 1.0  -> -4.0
    // token 4:  0.0 * 1.5 = 0.0 (<= 0 multiplies), minus 0.75     -> -0.75
    assert_eq!(logits(&c), [1.0, 0.08333337, -1.0, -4.0, -0.75, 0.5]);
    assert!(!c.is_sorted());

    // Only the last 3 tokens (4, 1, 3) count: once each.
    let mut c = Candidates::from_logits(&PEN_LOGITS);
    penalties(&mut c, &PEN_HISTORY, &Penalties { last_n: 3, ..pen });
    assert_eq!(logits(&c), [1.0, 0.5833334, -1.0, -3.75, -0.75, 0.5]);

    // Repeat penalty alone: counts do not matter.
    let mut c = Candidates::from_logits(&PEN_LOGITS);
    let repeat_only = Penalties {
        freq: 0.0,
        present: 0.0,
        ..pen
    };
    penalties(&mut c, &PEN_HISTORY, &repeat_only);
    assert_eq!(logits(&c), [1.0, 1.333_333_4, -1.0, -3.0, 0.0, 0.5]);

    // Frequency alone is linear in the count; presence alone is not.
    let mut c = Candidates::from_logits(&PEN_LOGITS);
    let freq_only = Penalties {
        repeat: 1.0,
        freq: 1.0,
        present: 0.0,
        last_n: 64,
    };
    penalties(&mut c, &PEN_HISTORY, &freq_only);
    assert_eq!(logits(&c), [1.0, -1.0, -1.0, -4.0, -1.0, 0.5]);
    let mut c = Candidates::from_logits(&PEN_LOGITS);
    let present_only = Penalties {
        repeat: 1.0,
        freq: 0.0,
        present: 1.0,
        last_n: 64,
    };
    penalties(&mut c, &PEN_HISTORY, &present_only);
    assert_eq!(logits(&c), [1.0, 1.0, -1.0, -3.0, -1.0, 0.5]);

    // Candidates out of vocabulary order are found by id.
    let mut c = Candidates::from_logits(&PEN_LOGITS);
    softmax(&mut c);
    penalties(&mut c, &PEN_HISTORY, &pen);
    let mut by_id: Vec<(u32, f32)> = c.iter().map(|d| (d.id, d.logit)).collect();
    by_id.sort_by_key(|&(id, _)| id);
    let got: Vec<f32> = by_id.iter().map(|&(_, l)| l).collect();
    assert_eq!(got, [1.0, 0.08333337, -1.0, -4.0, -0.75, 0.5]);
}

#[test]
fn penalties_disabled() {
    let neutral = Penalties {
        last_n: 64,
        repeat: 1.0,
        freq: 0.0,
        present: 0.0,
    };
    let off = Penalties {
        last_n: 0,
        repeat: 2.0,
        freq: 1.0,
        present: 1.0,
    };
    for pen in [neutral, off] {
        assert!(pen.is_disabled());
        let mut c = Candidates::from_logits(&PEN_LOGITS);
        softmax(&mut c);
        let before = c.clone();
        penalties(&mut c, &PEN_HISTORY, &pen);
        assert_eq!(c, before);
    }
    // Empty history, tokens beyond the candidates: nothing happens, nothing panics.
    let pen = Penalties {
        last_n: 8,
        repeat: 1.3,
        freq: 0.1,
        present: 0.1,
    };
    let mut c = Candidates::from_logits(&PEN_LOGITS);
    penalties(&mut c, &[], &pen);
    penalties(&mut c, &[u32::MAX, 100, 6], &pen);
    assert_eq!(logits(&c), PEN_LOGITS);
    penalties(&mut Candidates::new(), &PEN_HISTORY, &pen);
}

#[test]
fn sampler_penalties_equal_the_standalone_stage() {
    // The sampler's running counts over its ring buffer give the same logits as `penalties` on
    // the full token list, while the window wraps around many times.
    let n_vocab = 50;
    let params = SamplerParams {
        temp: 0.0, // greedy: the candidates keep every token's penalised logit
        penalty_last_n: 7,
        penalty_repeat: 1.25,
        penalty_freq: 0.125,
        penalty_present: 0.375,
        ..SamplerParams::default()
    };
    let pen = params.penalties();
    let mut sampler = Sampler::new(n_vocab, params).unwrap();
    let lg = pseudo_logits(n_vocab, 3);
    let mut all = Vec::new();
    let mut s = 77u64;
    for step in 0..300 {
        // Few distinct tokens so that repeats are common; now and then one outside the vocab.
        let t = if step % 37 == 0 {
            1000
        } else {
            (rng::splitmix64(&mut s) % 9) as u32
        };
        sampler.accept(t);
        all.push(t);
        sampler.sample(&lg).unwrap();
        let mut want = Candidates::from_logits(&lg);
        penalties(&mut want, &all, &pen);
        assert_eq!(logits(sampler.candidates()), logits(&want), "step {step}");
        assert_eq!(
            sampler.history().iter().collect::<Vec<_>>(),
            all[all.len().saturating_sub(7)..]
        );
    }
}

#[test]
fn token_history_is_a_ring() {
    let mut h = TokenHistory::try_new(3).unwrap();
    assert_eq!(h.push(1), None);
    assert_eq!(h.push(2), None);
    assert_eq!(h.push(3), None);
    assert_eq!(h.push(4), Some(1));
    assert_eq!(h.push(5), Some(2));
    assert_eq!(h.as_slices(), (&[3u32][..], &[4u32, 5][..]));
    assert_eq!(h.iter().collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!(h.len(), 3);
    h.clear();
    assert!(h.is_empty());
    let mut z = TokenHistory::try_new(0).unwrap();
    assert_eq!(z.push(1), None);
    assert!(z.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The chain.

/// Eight tokens; with `chain_params` each stage removes some: top-k 6 drops ids 3 and 7,
/// top-p 0.95 drops id 5 (cumulative 0.3802, 0.6350, 0.8058, 0.9203, 0.9718 at temperature 1),
/// min-p 0.2 drops id 0 (exp(1 - 3) = 0.135 < 0.2); temperature 0.7 then shapes ids 1, 4, 2, 6.
const CHAIN_LOGITS: [f32; 8] = [1.0, 3.0, 2.2, -0.5, 2.6, 0.4, 1.8, -2.0];
const CHAIN_IDS: [u32; 4] = [1, 4, 2, 6];
/// softmax([3.0, 2.6, 2.2, 1.8] / 0.7).
const CHAIN_P: [f32; 4] = [0.484_562_55, 0.273_641_26, 0.154_530_23, 0.087_265_98];

fn chain_params(seed: u64) -> SamplerParams {
    SamplerParams {
        seed,
        top_k: 6,
        top_p: 0.95,
        min_p: 0.2,
        temp: 0.7,
        ..SamplerParams::default()
    }
}

#[test]
fn defaults_are_llama_cpp_s() {
    let p = SamplerParams::default();
    assert_eq!(p.seed, 0xFFFF_FFFF);
    assert_eq!(p.min_keep, 0);
    assert_eq!(p.top_k, 40);
    assert_eq!(p.top_p, 0.95);
    assert_eq!(p.min_p, 0.05);
    assert_eq!(p.temp, 0.8);
    assert_eq!(p.dynatemp_range, 0.0);
    assert_eq!(p.dynatemp_exponent, 1.0);
    assert_eq!(p.penalty_last_n, 64);
    assert_eq!(p.penalty_repeat, 1.0);
    assert_eq!(p.penalty_freq, 0.0);
    assert_eq!(p.penalty_present, 0.0);
    assert!(p.logit_bias.is_empty());
}

#[test]
fn chain_leaves_the_expected_candidates() {
    let mut s = Sampler::new(8, chain_params(1)).unwrap();
    let t = s.sample(&CHAIN_LOGITS).unwrap();
    assert!(CHAIN_IDS.contains(&t));
    assert_eq!(ids(s.candidates()), CHAIN_IDS);
    assert_close(&probs(s.candidates()), &CHAIN_P, TOL);
    let scaled: Vec<f32> = [3.0f32, 2.6, 2.2, 1.8].iter().map(|l| l / 0.7).collect();
    assert_eq!(logits(s.candidates()), scaled);
}

/// Pearson's chi-square statistic of `counts` against `n * p`.
fn chi_square(counts: &[u32], p: &[f32], n: u32) -> f64 {
    counts
        .iter()
        .zip(p)
        .map(|(&c, &p)| {
            let e = f64::from(n) * f64::from(p);
            (f64::from(c) - e).powi(2) / e
        })
        .sum()
}

/// Chi-square critical value for 3 degrees of freedom (4 categories, probabilities fully
/// specified, nothing estimated) at significance 0.001: P(X > 16.266) = 0.001 for X ~ χ²(3)
/// (closed form for 3 d.o.f.: erfc(√(x/2)) + √(2x/π)·e^(-x/2)). The draws are deterministic,
/// so the test cannot be flaky; the level says how unlikely a correct sampler with other seeds
/// would be to fail. With N = 20000 the smallest expected count is 1745, far above the usual
/// minimum of 5, and a bias of 1% of the mass on one token would give a statistic near 40.
const CHI2_CRITICAL_DF3_P001: f64 = 16.266;
const DRAWS: u32 = 20_000;

#[test]
fn chain_draws_follow_the_distribution_over_seeds() {
    // One draw from each of 20000 seeds.
    let mut counts = [0u32; 4];
    let mut others = 0;
    for seed in 0..u64::from(DRAWS) {
        let mut s = Sampler::new(8, chain_params(seed)).unwrap();
        let t = s.sample(&CHAIN_LOGITS).unwrap();
        match CHAIN_IDS.iter().position(|&i| i == t) {
            Some(k) => counts[k] += 1,
            None => others += 1,
        }
    }
    assert_eq!(others, 0, "a filtered-out token was drawn");
    let chi2 = chi_square(&counts, &CHAIN_P, DRAWS);
    assert!(
        chi2 < CHI2_CRITICAL_DF3_P001,
        "chi-square {chi2} for counts {counts:?}"
    );
    // The independent Python transcription draws exactly these counts.
    assert_eq!(counts, [9612, 5615, 3025, 1748]);
}

#[test]
fn chain_draws_follow_the_distribution_along_one_stream() {
    let mut s = Sampler::new(8, chain_params(99)).unwrap();
    let mut counts = [0u32; 4];
    for _ in 0..DRAWS {
        let t = s.sample(&CHAIN_LOGITS).unwrap();
        let k = CHAIN_IDS
            .iter()
            .position(|&i| i == t)
            .expect("filtered token");
        counts[k] += 1;
    }
    let chi2 = chi_square(&counts, &CHAIN_P, DRAWS);
    assert!(
        chi2 < CHI2_CRITICAL_DF3_P001,
        "chi-square {chi2} for counts {counts:?}"
    );
    assert_eq!(counts, [9823, 5479, 2995, 1703]);
}

#[test]
fn same_seed_same_sequence_and_reset_replays_it() {
    let run = |s: &mut Sampler| -> Vec<u32> {
        (0..16).map(|_| s.sample(&CHAIN_LOGITS).unwrap()).collect()
    };
    let mut a = Sampler::new(8, chain_params(1234)).unwrap();
    let first = run(&mut a);
    // From the independent Python transcription.
    assert_eq!(first, [1, 2, 4, 2, 1, 2, 1, 1, 4, 4, 4, 1, 1, 4, 1, 2]);
    let mut b = Sampler::new(8, chain_params(1234)).unwrap();
    assert_eq!(run(&mut b), first);
    a.reset();
    assert_eq!(run(&mut a), first);
}

#[test]
fn different_seeds_differ() {
    let seq = |seed| -> Vec<u32> {
        let mut s = Sampler::new(8, chain_params(seed)).unwrap();
        (0..64).map(|_| s.sample(&CHAIN_LOGITS).unwrap()).collect()
    };
    let seqs: Vec<Vec<u32>> = (0..8).map(seq).collect();
    for i in 0..seqs.len() {
        for j in i + 1..seqs.len() {
            assert_ne!(seqs[i], seqs[j], "seeds {i} and {j}");
        }
    }
}

#[test]
fn temp_zero_is_greedy_after_bias_and_penalties() {
    let params = SamplerParams {
        temp: 0.0,
        penalty_repeat: 1.1,
        logit_bias: vec![(0, 10.0), (0, -20.0)],
        ..SamplerParams::default()
    };
    let mut s = Sampler::new(4, params).unwrap();
    let rng_before = s.rng.clone();
    let logits = [5.0, 3.0, 2.9, 3.0];
    assert_eq!(s.sample(&logits), Some(1)); // tie 1/3: lowest id; 0 biased down to -5
    s.accept(1);
    // 3.0 / 1.1 = 2.727 < 2.9 < 3.0
    assert_eq!(s.sample(&logits), Some(3));
    s.accept(3);
    assert_eq!(s.sample(&logits), Some(2));
    assert_eq!(s.rng, rng_before, "greedy consumes no random numbers");
    // Greedy whatever the seed.
    for seed in 0..50 {
        let mut s = Sampler::new(
            4,
            SamplerParams {
                seed,
                temp: -1.0,
                ..SamplerParams::default()
            },
        )
        .unwrap();
        assert_eq!(s.sample(&[0.1, 0.3, 0.2, 0.3]), Some(1));
    }
    // With dynamic temperature on, temp 0 is not greedy: lo = 0, hi = 1.
    let mut s = Sampler::new(
        2,
        SamplerParams {
            temp: 0.0,
            dynatemp_range: 1.0,
            ..SamplerParams::default()
        },
    )
    .unwrap();
    let drawn: Vec<u32> = (0..200).map(|_| s.sample(&[1.0, 1.0]).unwrap()).collect();
    assert!(drawn.contains(&0) && drawn.contains(&1));
}

#[test]
fn sample_does_not_allocate() {
    // Every buffer is made in `new`; `sample` only truncates, reorders and rewrites them. The
    // candidate buffer and the count table keep their address and capacity across every kind
    // of step (a reallocation would move or grow them). tests/sampling.rs proves it with a
    // counting allocator.
    let n_vocab = 3000;
    let params = SamplerParams {
        top_k: 0, // top-p over the full, unsorted vocabulary
        penalty_repeat: 1.2,
        penalty_freq: 0.1,
        logit_bias: vec![(5, 2.0), (2999, f32::NEG_INFINITY)],
        min_keep: 3,
        ..SamplerParams::default()
    };
    let mut s = Sampler::new(n_vocab, params).unwrap();
    let cand_ptr = s.candidates.as_slice().as_ptr();
    let cand_cap = s.candidates.capacity();
    let counts_ptr = s.counts.as_ptr();
    let hist_cap = s.history.capacity();
    assert_eq!(cand_cap, n_vocab);
    let logits = pseudo_logits(n_vocab, 1);
    for step in 0..200u32 {
        let t = s.sample(&logits).unwrap();
        s.accept(t);
        s.accept(step % 7);
        assert_eq!(s.candidates.as_slice().as_ptr(), cand_ptr);
        assert_eq!(s.candidates.capacity(), cand_cap);
        assert_eq!(s.counts.as_ptr(), counts_ptr);
        assert_eq!(s.counts.capacity(), n_vocab);
        assert_eq!(s.history.capacity(), hist_cap);
    }
    // Longer logits than the vocabulary do not grow the buffer either.
    let long = vec![0.0f32; n_vocab + 100];
    s.sample(&long).unwrap();
    assert_eq!(s.candidates.as_slice().as_ptr(), cand_ptr);
    assert_eq!(s.candidates.capacity(), cand_cap);
}

#[test]
fn sampler_survives_odd_inputs() {
    // Empty vocabulary, empty logits.
    let mut s = Sampler::new(0, SamplerParams::default()).unwrap();
    assert_eq!(s.sample(&[1.0, 2.0]), None);
    s.accept(5);
    let mut s = Sampler::new(4, SamplerParams::default()).unwrap();
    assert_eq!(s.sample(&[]), None);
    // Logits beyond n_vocab are ignored; fewer are fine.
    let mut g = Sampler::new(
        2,
        SamplerParams {
            temp: 0.0,
            ..SamplerParams::default()
        },
    )
    .unwrap();
    assert_eq!(g.sample(&[0.0, 1.0, 100.0]), Some(1));
    assert_eq!(g.sample(&[0.0]), Some(0));
    // NaN logits are never chosen unless nothing else is left.
    let mut s = Sampler::new(4, chain_params(3)).unwrap();
    for _ in 0..100 {
        let t = s.sample(&[f32::NAN, 1.0, f32::NAN, 1.5]).unwrap();
        assert!(t == 1 || t == 3);
    }
    let t = s.sample(&[f32::NAN; 4]).unwrap();
    assert!(t < 4);
    // Infinite logits.
    let t = s.sample(&[0.0, f32::INFINITY, 0.0, 0.0]).unwrap();
    assert_eq!(t, 1);
    let t = s.sample(&[f32::NEG_INFINITY; 4]).unwrap();
    assert!(t < 4);
    // Extreme parameters on every stage.
    for (top_k, top_p, min_p, temp, min_keep) in [
        (usize::MAX, 2.0, 2.0, 1e-30, usize::MAX),
        (1, f32::NAN, f32::NAN, f32::INFINITY, 0),
        (0, -1.0, -1.0, f32::NAN, 1),
        (3, 0.0, 1.0, 1e30, 2),
    ] {
        let params = SamplerParams {
            top_k,
            top_p,
            min_p,
            temp,
            min_keep,
            penalty_repeat: 1e30,
            penalty_freq: -1e30,
            penalty_present: f32::MAX,
            dynatemp_exponent: f32::NAN,
            logit_bias: vec![(u32::MAX, 1.0), (2, f32::NAN)],
            ..SamplerParams::default()
        };
        let mut s = Sampler::new(4, params).unwrap();
        for t in [0, 1, 1, 9, u32::MAX] {
            s.accept(t);
        }
        let t = s.sample(&[1.0, 2.0, 3.0, f32::MAX]).unwrap();
        assert!(t < 4);
    }
}

#[test]
fn sampler_rejects_bad_penalties() {
    let bad = |p: SamplerParams| Sampler::new(4, p).is_err();
    let d = SamplerParams::default;
    for r in [0.0, -1.0, f32::NAN, f32::INFINITY, f32::from_bits(1)] {
        assert!(bad(SamplerParams {
            penalty_repeat: r,
            ..d()
        }));
    }
    assert!(bad(SamplerParams {
        penalty_freq: f32::NAN,
        ..d()
    }));
    assert!(bad(SamplerParams {
        penalty_present: f32::INFINITY,
        ..d()
    }));
    assert!(bad(SamplerParams {
        penalty_last_n: i32::MAX as usize + 1,
        ..d()
    }));
    #[cfg(target_pointer_width = "64")]
    assert!(matches!(
        Sampler::new((1usize << 32) + 1, d()),
        Err(Error::BadParams { .. })
    ));
    assert!(Sampler::new(4, d()).is_ok());
}

#[test]
fn accept_with_no_window_keeps_nothing() {
    let mut s = Sampler::new(
        4,
        SamplerParams {
            penalty_last_n: 0,
            penalty_repeat: 2.0,
            temp: 0.0,
            ..SamplerParams::default()
        },
    )
    .unwrap();
    s.accept(1);
    assert!(s.history().is_empty());
    assert_eq!(s.sample(&[0.0, 1.0, 0.5, 0.0]), Some(1));
}
