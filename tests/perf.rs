//! A context's performance counters (llama.cpp's `llama_perf_context`): exact counts after
//! prompts, single tokens, multi-sequence batches, failed calls, prefix reuse, restored states,
//! generation and resets; times non-negative, and measured under `std`.

mod common;

use std::time::Duration;

use common::fixture;
use llamette::generate::{generate, StopRules};
use llamette::sampling::{Sampler, SamplerParams};
use llamette::tokenizer::Vocab;
use llamette::{
    BatchToken, Context, ContextParams, Error, Model, Parallel, SeqSet, Serial, ThreadPool,
};

const MODEL: &str = "models/tiny-codellama.q8_0.gguf";

fn params(n_ctx: usize, n_batch: usize, n_seq_max: usize) -> ContextParams {
    ContextParams {
        n_ctx,
        n_batch,
        n_seq_max,
        ..Default::default()
    }
}

/// The counts of `ctx.perf()`: prompt tokens, single-token calls, calls, reused tokens.
fn counts(ctx: &Context) -> (u64, u64, u64, u64) {
    let p = ctx.perf();
    (p.n_p_eval, p.n_eval, p.n_calls, p.n_reused)
}

#[test]
fn a_prompt_then_single_tokens_count_as_prompt_and_eval() {
    let bytes = fixture(MODEL);
    let model = Model::from_bytes(&bytes).unwrap();
    let mut ctx = Context::new(&model, params(128, 16, 1)).unwrap();
    let fresh = ctx.perf();
    assert_eq!(counts(&ctx), (0, 0, 0, 0));
    assert_eq!(
        (fresh.t_p_eval, fresh.t_eval),
        (Duration::ZERO, Duration::ZERO)
    );
    // Wall-clock time since 1970 (this test binary has `std`): after 2020-01-01.
    assert!(
        fresh.t_start > Duration::from_secs(1_577_836_800),
        "{fresh:?}"
    );

    // A prompt of N tokens, then K single tokens.
    let (n, k) = (9usize, 4u64);
    let prompt: Vec<u32> = (1..=n as u32).collect();
    ctx.eval(&prompt, &Serial).unwrap();
    assert_eq!(counts(&ctx), (n as u64, 0, 1, 0));
    let after_prompt = ctx.perf();
    assert_eq!(after_prompt.t_eval, Duration::ZERO);
    for t in 0..k {
        ctx.eval(&[100 + t as u32], &Serial).unwrap();
    }
    let p = ctx.perf();
    assert_eq!(counts(&ctx), (n as u64, k, 1 + k, 0));
    // Single tokens add no prompt time; the start stays.
    assert_eq!(p.t_p_eval, after_prompt.t_p_eval);
    assert_eq!(p.t_start, fresh.t_start);
    // Measured (with `std`): each evaluation takes more than the clock's resolution.
    assert!(p.t_p_eval > Duration::ZERO, "{p:?}");
    assert!(p.t_eval > Duration::ZERO, "{p:?}");

    // One call longer than n_batch (three steps of 16) is still one prompt of all its tokens,
    // as llama.cpp counts a decode's tokens however many ubatches it takes; threads do not
    // change the counts.
    let long: Vec<u32> = (0..40).map(|i| (i * 7 % 1000) as u32).collect();
    ctx.eval(&long, &ThreadPool::new(2)).unwrap();
    assert_eq!(counts(&ctx), (n as u64 + 40, k, 2 + k, 0));
    assert!(ctx.perf().t_p_eval >= p.t_p_eval);
}

#[test]
fn decode_batches_count_by_their_size_whatever_their_sequences() {
    let bytes = fixture(MODEL);
    let model = Model::from_bytes(&bytes).unwrap();
    let mut ctx = Context::new(&model, params(64, 8, 2)).unwrap();
    // Two prompts of 6 and 5 tokens in one batch: 11 prompt tokens (in two steps of 8).
    let mut batch: Vec<BatchToken> = (0..6)
        .map(|i| BatchToken::new(10 + i as u32, i, 0, i == 5))
        .collect();
    batch.extend((0..5).map(|i| BatchToken::new(20 + i as u32, i, 1, i == 4)));
    ctx.decode(&batch, &Serial).unwrap();
    assert_eq!(counts(&ctx), (11, 0, 1, 0));
    // A generation step of both sequences is a batch of two tokens: prompt evaluation by
    // llama.cpp's rule (more than one token queued), not two evals.
    let step = [
        BatchToken::new(30, 6, 0, true),
        BatchToken::new(31, 5, 1, true),
    ];
    ctx.decode(&step, &Serial).unwrap();
    assert_eq!(counts(&ctx), (13, 0, 2, 0));
    // One token of one sequence is an eval.
    ctx.decode(&[BatchToken::new(32, 7, 0, true)], &Serial)
        .unwrap();
    assert_eq!(counts(&ctx), (13, 1, 3, 0));
    // A token shared by both sequences is still one token.
    let mut shared = Context::new(&model, params(64, 8, 2)).unwrap();
    let both = BatchToken {
        token: 1,
        pos: 0,
        seqs: SeqSet::one(0).with(1),
        logits: true,
    };
    shared.decode(&[both], &Serial).unwrap();
    assert_eq!(counts(&shared), (0, 1, 1, 0));
}

/// A host `Parallel` that breaks its contract by panicking.
struct Panicking;

impl Parallel for Panicking {
    fn run(&self, _n: usize, _task: &(dyn Fn(usize) + Sync)) {
        panic!("the host's pool failed");
    }
    fn width(&self) -> usize {
        2
    }
}

#[test]
fn failed_calls_count_nothing() {
    let bytes = fixture(MODEL);
    let model = Model::from_bytes(&bytes).unwrap();
    let mut ctx = Context::new(&model, params(16, 8, 1)).unwrap();
    ctx.eval(&[1, 2, 3], &Serial).unwrap();
    let before = ctx.perf();
    assert!(ctx.eval(&[], &Serial).is_err());
    assert!(matches!(
        ctx.eval(&[1, u32::MAX], &Serial),
        Err(Error::BadToken { .. })
    ));
    assert!(matches!(
        ctx.eval(&[5; 14], &Serial),
        Err(Error::ContextFull { .. })
    ));
    // A position that does not continue the sequence.
    assert!(ctx
        .decode(&[BatchToken::new(1, 9, 0, true)], &Serial)
        .is_err());
    // An evaluation that unwinds (and is rolled back).
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = ctx.eval(&[4, 5], &Panicking);
    }));
    assert!(unwound.is_err());
    assert_eq!(ctx.n_past(), 3);
    assert_eq!(ctx.perf(), before);
    assert_eq!(counts(&ctx), (3, 0, 1, 0));
}

#[test]
fn prefix_reuse_counts_the_kept_tokens() {
    let bytes = fixture(MODEL);
    let model = Model::from_bytes(&bytes).unwrap();
    let mut ctx = Context::new(&model, params(64, 16, 1)).unwrap();
    let first: Vec<u32> = (1..=10).collect();
    // Nothing cached: nothing kept.
    assert_eq!(ctx.reuse_prefix(&first), 0);
    ctx.eval(&first, &Serial).unwrap();
    // The same prompt: all but its last token kept; that token is evaluated alone.
    assert_eq!(ctx.reuse_prefix(&first), 9);
    ctx.eval(&first[9..], &Serial).unwrap();
    assert_eq!(counts(&ctx), (10, 1, 2, 9));
    // A prompt sharing 6 tokens: 6 more kept, the other 4 are a prompt.
    let second: Vec<u32> = (1..=6).chain(50..54).collect();
    assert_eq!(ctx.reuse_prefix(&second), 6);
    ctx.eval(&second[6..], &Serial).unwrap();
    assert_eq!(counts(&ctx), (14, 1, 3, 15));
}

#[test]
fn restoring_clearing_and_editing_change_no_counter() {
    let bytes = fixture(MODEL);
    let model = Model::from_bytes(&bytes).unwrap();
    let mut ctx = Context::new(&model, params(64, 16, 2)).unwrap();
    ctx.eval(&[1, 2, 3, 4, 5], &Serial).unwrap();
    let mut saved = vec![0u8; ctx.state_size()];
    ctx.state_write(&mut saved).unwrap();
    let mut seq = vec![0u8; ctx.seq_state_size(0).unwrap()];
    ctx.seq_state_write(0, &mut seq).unwrap();
    ctx.eval(&[6], &Serial).unwrap();
    ctx.eval(&[7], &Serial).unwrap();
    let before = ctx.perf();
    assert_eq!(counts(&ctx), (5, 2, 3, 0));
    // llama.cpp's state_read_data reads the memory module only: the counters stay.
    ctx.state_read(&saved).unwrap();
    assert_eq!(ctx.n_past(), 5);
    ctx.seq_state_read(1, &seq).unwrap();
    ctx.seq_rm(Some(1), ..).unwrap();
    ctx.seq_cp(0, 1, ..).unwrap();
    ctx.seq_rm(Some(1), 3..).unwrap();
    ctx.truncate(2);
    ctx.clear();
    assert_eq!(ctx.perf(), before);
    // A fresh context restored from the state starts from zero.
    let mut other = Context::new(&model, params(64, 16, 2)).unwrap();
    other.state_read(&saved).unwrap();
    assert_eq!(counts(&other), (0, 0, 0, 0));
    other.eval(&[6], &Serial).unwrap();
    assert_eq!(counts(&other), (0, 1, 1, 0));
}

#[test]
fn reset_zeroes_the_counts_and_restarts_the_clock() {
    let bytes = fixture(MODEL);
    let model = Model::from_bytes(&bytes).unwrap();
    let mut ctx = Context::new(&model, params(64, 16, 1)).unwrap();
    ctx.eval(&[1, 2, 3, 4], &Serial).unwrap();
    ctx.eval(&[5], &Serial).unwrap();
    assert_eq!(ctx.reuse_prefix(&[1, 2, 3, 4, 5]), 4);
    assert_eq!(counts(&ctx), (4, 1, 2, 4));
    let t_start = ctx.perf().t_start;
    std::thread::sleep(Duration::from_millis(5));
    ctx.perf_reset();
    let p = ctx.perf();
    assert_eq!(counts(&ctx), (0, 0, 0, 0));
    assert_eq!((p.t_p_eval, p.t_eval), (Duration::ZERO, Duration::ZERO));
    // Started again (wall clock: later, unless the system clock was set back meanwhile).
    assert_ne!(p.t_start, t_start);
    // The cache is untouched: the next token continues at position 4.
    assert_eq!(ctx.n_past(), 4);
    ctx.eval(&[5], &Serial).unwrap();
    assert_eq!(counts(&ctx), (0, 1, 1, 0));
    ctx.eval(&[7, 8], &Serial).unwrap();
    assert_eq!(counts(&ctx), (2, 1, 2, 0));
}

#[test]
fn generation_counts_its_prompt_and_every_generated_token() {
    let bytes = fixture(MODEL);
    let model = Model::from_bytes(&bytes).unwrap();
    let vocab = Vocab::from_gguf(model.header()).unwrap();
    let mut sampler = Sampler::new(
        vocab.n_tokens(),
        SamplerParams {
            temp: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    let mut ctx = Context::new(&model, params(64, 16, 1)).unwrap();
    let prompt: Vec<u32> = vec![1, 15, 300, 7, 1023, 42];
    let rules = StopRules {
        n_predict: Some(6),
        ..Default::default()
    };
    let (_, timings) = generate(
        &mut ctx,
        &vocab,
        &mut sampler,
        &prompt,
        rules,
        &Serial,
        &mut |_| true,
    )
    .unwrap();
    // The prompt is one evaluation; each generated token is evaluated alone.
    assert!(timings.generated_tokens > 0);
    assert_eq!(
        counts(&ctx),
        (
            prompt.len() as u64,
            timings.generated_tokens as u64,
            1 + timings.generated_tokens as u64,
            0
        )
    );
}
