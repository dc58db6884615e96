//! `ContextParams::isolate_seqs`: a sequence's logits do not depend on the other sequences of
//! its context (what they hold, where its own cells fall among theirs, what they evaluate in
//! the same step) nor on how its tokens were split into steps; and a sequence evaluated one
//! token per step from the start of the cache gets the unified cache's bits (llama.cpp's).

mod common;

use common::fixture;
use llamette::model::{BatchToken, Context, ContextParams, Model};
use llamette::Serial;

fn params(n_seq_max: usize, isolate_seqs: bool) -> ContextParams {
    ContextParams {
        n_ctx: 128,
        n_batch: 64,
        n_seq_max,
        isolate_seqs,
        ..ContextParams::default()
    }
}

/// Token ids for a test: a simple pattern within the vocabulary.
fn tokens(n: usize, seed: u32, n_vocab: usize) -> Vec<u32> {
    (0..n as u32)
        .map(|i| (seed.wrapping_mul(2654435761).wrapping_add(i * 7919) % (n_vocab as u32 - 3)) + 3)
        .collect()
}

/// Sequence `a` alone: its prompt in one step, then one token per step; the logits after each.
fn alone(model: &Model, a: &[u32], prompt: usize, isolate: bool) -> Vec<Vec<f32>> {
    let mut ctx = Context::new(model, params(1, isolate)).unwrap();
    let batch: Vec<BatchToken> = (0..prompt)
        .map(|i| BatchToken::new(a[i], i, 0, i + 1 == prompt))
        .collect();
    ctx.decode(&batch, &Serial).unwrap();
    let mut out = vec![ctx.logits_ith(prompt - 1).unwrap().to_vec()];
    for (i, &t) in a.iter().enumerate().skip(prompt) {
        ctx.decode(&[BatchToken::new(t, i, 0, true)], &Serial)
            .unwrap();
        out.push(ctx.logits_ith(0).unwrap().to_vec());
    }
    out
}

/// The same steps of `a` in sequence 2 of a context where sequences 0 and 1 hold and evaluate
/// other tokens, with a hole made in the cache first (so `a`'s cells are neither at the start
/// nor in position order), each of `a`'s steps sharing its batch with the others' tokens.
fn crowded(model: &Model, a: &[u32], prompt: usize) -> Vec<Vec<f32>> {
    let n_vocab = model.config().n_vocab;
    let mut ctx = Context::new(model, params(3, true)).unwrap();
    let b = tokens(40, 11, n_vocab);
    let c = tokens(40, 23, n_vocab);
    // Sequence 0 takes cells 0..20, sequence 1 cells 20..30; then 0 loses positions 5.., a
    // hole that the later steps fill.
    let first: Vec<BatchToken> = (0..20)
        .map(|i| BatchToken::new(b[i], i, 0, false))
        .collect();
    ctx.decode(&first, &Serial).unwrap();
    let second: Vec<BatchToken> = (0..10)
        .map(|i| BatchToken::new(c[i], i, 1, false))
        .collect();
    ctx.decode(&second, &Serial).unwrap();
    ctx.seq_rm(Some(0), 5..).unwrap();
    let (mut nb, mut nc) = (5, 10);
    // a's prompt with one token of each other sequence around it.
    let mut batch = vec![BatchToken::new(b[nb], nb, 0, true)];
    batch.extend((0..prompt).map(|i| BatchToken::new(a[i], i, 2, i + 1 == prompt)));
    batch.push(BatchToken::new(c[nc], nc, 1, true));
    nb += 1;
    nc += 1;
    ctx.decode(&batch, &Serial).unwrap();
    let mut out = vec![ctx.logits_ith(prompt).unwrap().to_vec()];
    for (i, &t) in a.iter().enumerate().skip(prompt) {
        let batch = [
            BatchToken::new(c[nc], nc, 1, true),
            BatchToken::new(t, i, 2, true),
            BatchToken::new(b[nb], nb, 0, true),
        ];
        nb += 1;
        nc += 1;
        ctx.decode(&batch, &Serial).unwrap();
        out.push(ctx.logits_ith(1).unwrap().to_vec());
    }
    out
}

/// How many logits of any step differ (0: every bit equal).
fn differ(got: &[Vec<f32>], want: &[Vec<f32>]) -> usize {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(x, y)| {
            x.iter()
                .zip(y)
                .filter(|(p, q)| p.to_bits() != q.to_bits())
                .count()
        })
        .sum()
}

/// Whether a sequence among others (the same steps) gets its lone bits, and whether a prompt
/// step of 9 tokens gives what 9 one-token steps give. Isolation makes the attention
/// independent of both; what is left is the matrix products' kernels, llama.cpp's, which for
/// some weight types round a token of a multi-token step differently.
fn check(model: &Model) -> (bool, bool) {
    let a = tokens(24, 5, model.config().n_vocab);
    // One token per step from the start: isolation changes nothing (llama.cpp's bits).
    let unified = alone(model, &a, 1, false);
    let one_by_one = alone(model, &a, 1, true);
    assert_eq!(
        differ(&one_by_one, &unified),
        0,
        "one token per step, isolated against unified"
    );
    let lone = alone(model, &a, 9, true);
    (
        differ(&crowded(model, &a, 9), &lone) == 0,
        differ(&lone, &one_by_one[8..]) == 0,
    )
}

#[test]
fn a_sequence_among_others_gets_its_lone_logits_tiny_models() {
    // (type, among others = alone, a prompt step = one-token steps), exactly: the legacy
    // formats' kernels round a token alike in any step; the K-quants' (but Q5_K) and the
    // float formats' follow llama.cpp's multi-token kernels for a prompt step, and the float
    // formats' also for a step shared with other sequences' tokens.
    let want = [
        ("q4_0", true, true),
        ("q4_1", true, true),
        ("q5_0", true, true),
        ("q5_1", true, true),
        ("q8_0", true, true),
        ("q2_k", true, false),
        ("q3_k_m", true, false),
        ("q4_k_m", true, false),
        ("q5_k_m", true, true),
        ("q6_k", true, false),
        ("f16", false, false),
        ("bf16", false, false),
        ("f32", false, false),
    ];
    let mut got = Vec::new();
    for (name, _, _) in want {
        let bytes = fixture(&format!("models/tiny-codellama.{name}.gguf"));
        let model = Model::from_bytes(&bytes).unwrap();
        let (crowd, steps) = check(&model);
        got.push((name, crowd, steps));
    }
    assert_eq!(got, want);
}

#[test]
fn a_sequence_among_others_gets_its_lone_logits_smollm2() {
    // Q4_1: the server's answers do not depend on its load or its prompt cache.
    let path = common::smollm2_path();
    let model = Model::load(&path).unwrap();
    assert_eq!(check(&model), (true, true));
}
