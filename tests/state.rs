//! Saved state: a whole context or one sequence saved to bytes and restored (into the same
//! context, a fresh one, or one with more cells) continues with the bits of never having
//! saved; a state from another model or KV type, truncated, corrupted or too large is a
//! named error that leaves the context as it was.

mod common;

use common::fixture;
use llamette::model::{BatchToken, Context, ContextParams, KvType, Model};
use llamette::{Error, Serial};

fn params(n_ctx: usize, n_seq_max: usize) -> ContextParams {
    ContextParams {
        n_ctx,
        n_batch: 16,
        n_seq_max,
        ..ContextParams::default()
    }
}

fn argmax(row: &[f32]) -> u32 {
    (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b }) as u32
}

fn save(ctx: &Context) -> Vec<u8> {
    let mut bytes = vec![0u8; ctx.state_size()];
    let n = ctx.state_write(&mut bytes).unwrap();
    assert_eq!(n, bytes.len());
    bytes
}

/// Two interleaved sequences, then `steps` greedy batches of one token each; returns every
/// logits row.
fn continue_greedy(ctx: &mut Context, steps: usize) -> Vec<Vec<f32>> {
    let mut rows = Vec::new();
    for _ in 0..steps {
        let batch: Vec<BatchToken> = (0..2)
            .map(|s| {
                let last = ctx.logits_at(s).unwrap();
                BatchToken::new(argmax(last), ctx.seq_pos_max(s).unwrap() + 1, s, true)
            })
            .collect();
        ctx.decode(&batch, &Serial).unwrap();
        rows.push(ctx.logits_at(0).unwrap().to_vec());
        rows.push(ctx.logits_at(1).unwrap().to_vec());
    }
    rows
}

fn two_sequences<'m>(model: &'m Model<'m>, n_ctx: usize) -> Context<'m> {
    let mut ctx = Context::new(model, params(n_ctx, 2)).unwrap();
    let mut batch = Vec::new();
    for i in 0..9 {
        batch.push(BatchToken::new(10 + i as u32, i, 0, i == 8));
        if i < 6 {
            batch.push(BatchToken::new(300 + i as u32, i, 1, i == 5));
        }
    }
    ctx.decode(&batch, &Serial).unwrap();
    // A removed tail leaves a gap between the cells, which restoring must keep.
    ctx.seq_rm(Some(0), 7..).unwrap();
    let redo = [
        BatchToken::new(70, 7, 0, true),
        BatchToken::new(71, 6, 1, true),
    ];
    ctx.decode(&redo, &Serial).unwrap();
    ctx
}

#[test]
fn a_restored_context_continues_with_the_same_bits() {
    let bytes = fixture("models/tiny-codellama.q4_k_m.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let mut a = two_sequences(&model, 64);
    let state = save(&a);
    let want = continue_greedy(&mut a, 5);

    // Into a fresh context of the same size, and into one with more cells.
    for n_ctx in [64, 200] {
        let mut b = Context::new(&model, params(n_ctx, 2)).unwrap();
        b.state_read(&state).unwrap();
        assert_eq!(b.n_used(), 15);
        assert_eq!(b.seq_pos_max(0), Some(7));
        assert_eq!(continue_greedy(&mut b, 5), want, "n_ctx {n_ctx}");
    }
    // Into the context it came from, after it moved on.
    a.state_read(&state).unwrap();
    assert_eq!(continue_greedy(&mut a, 5), want);

    // Through a file.
    let path = std::env::temp_dir().join(format!("llamette-state-{}.bin", std::process::id()));
    let c = two_sequences(&model, 64);
    c.save_state_file(&path).unwrap();
    let mut d = Context::new(&model, params(64, 2)).unwrap();
    d.load_state_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(continue_greedy(&mut d, 5), want);
}

#[test]
fn a_sequence_restored_elsewhere_continues_with_the_same_bits() {
    let bytes = fixture("models/tiny-codellama.q8_0.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let prompt: Vec<u32> = (0..12).map(|i| 5 + 7 * i).collect();
    let mut a = Context::new(&model, params(64, 1)).unwrap();
    a.eval(&prompt, &Serial).unwrap();
    let size = a.seq_state_size(0).unwrap();
    let mut state = vec![0u8; size];
    assert_eq!(a.seq_state_write(0, &mut state).unwrap(), size);
    a.eval(&[42], &Serial).unwrap();
    let want = a.logits().to_vec();

    // Into sequence 2 of a fresh 3-sequence context: the same cells, the same bits.
    let mut b = Context::new(&model, params(64, 3)).unwrap();
    b.seq_state_read(2, &state).unwrap();
    assert_eq!((b.seq_pos_min(2), b.seq_pos_max(2)), (Some(0), Some(11)));
    b.decode(&[BatchToken::new(42, 12, 2, true)], &Serial)
        .unwrap();
    assert_eq!(b.logits_ith(0).unwrap(), &want[..]);

    // Restoring over a sequence replaces what it held.
    b.seq_state_read(2, &state).unwrap();
    assert_eq!(b.n_used(), 12);
    b.decode(&[BatchToken::new(42, 12, 2, true)], &Serial)
        .unwrap();
    assert_eq!(b.logits_ith(0).unwrap(), &want[..]);
}

#[test]
fn bad_states_are_named_errors_and_change_nothing() {
    let q4 = fixture("models/tiny-codellama.q4_k_m.gguf");
    let q8 = fixture("models/tiny-codellama.q8_0.gguf");
    let m4 = Model::from_bytes(&q4).unwrap();
    let m8 = Model::from_bytes(&q8).unwrap();
    let good = save(&two_sequences(&m4, 64));
    let mut seq_state = vec![0u8; two_sequences(&m4, 64).seq_state_size(1).unwrap()];
    two_sequences(&m4, 64)
        .seq_state_write(1, &mut seq_state)
        .unwrap();

    let mut ctx = two_sequences(&m4, 64);
    let logits = ctx.logits_at(0).unwrap().to_vec();
    let used = ctx.n_used();
    let check = |ctx: &mut Context, bytes: &[u8], says: &str| {
        let e = ctx.state_read(bytes).unwrap_err();
        assert!(
            matches!(e, Error::BadState { .. }) && e.to_string().contains(says),
            "{e} (expected {says:?})"
        );
        assert_eq!(ctx.n_used(), used, "{says}: cells unchanged");
        assert_eq!(
            ctx.logits_at(0).unwrap(),
            &logits[..],
            "{says}: logits unchanged"
        );
    };
    check(&mut ctx, b"", "too short");
    check(
        &mut ctx,
        b"GGUF\x03\x00\x00\x00 not a state",
        "no LLMTSTAT magic",
    );
    check(&mut ctx, &good[..good.len() - 1], "truncated");
    check(&mut ctx, &good[..40], "truncated");
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    check(&mut ctx, &flipped, "checksum");
    let mut version = good.clone();
    version[8] = 9;
    check(&mut ctx, &version, "state version 9");
    check(&mut ctx, &seq_state, "a sequence's state");
    // Another model (same shape, other weights and metadata).
    let other = save(&two_sequences(&m8, 64));
    check(&mut ctx, &other, "another model");
    // Another KV type.
    let mut f32ctx = Context::new(
        &m4,
        ContextParams {
            kv_type: KvType::F32,
            ..params(64, 2)
        },
    )
    .unwrap();
    f32ctx.eval(&[1, 2, 3], &Serial).unwrap();
    check(&mut ctx, &save(&f32ctx), "KV type 1, this context has 0");
    // A context too small for the cells the state uses, or with fewer sequences.
    let mut small = Context::new(&m4, params(12, 2)).unwrap();
    let e = small.state_read(&good).unwrap_err();
    assert!(
        e.to_string().contains("uses cell 12; this context has 12"),
        "{e}"
    );
    let mut one_seq = Context::new(&m4, params(64, 1)).unwrap();
    let e = one_seq.state_read(&good).unwrap_err();
    assert!(e.to_string().contains("out of range (n_seq_max 1)"), "{e}");
    assert_eq!((small.n_used(), one_seq.n_used()), (0, 0));
    // A buffer too small to write into.
    let mut tiny = [0u8; 10];
    assert!(matches!(
        ctx.state_write(&mut tiny),
        Err(Error::BufferTooSmall { .. })
    ));
    // A sequence state into a context with no room for it.
    let mut full = Context::new(&m4, params(16, 2)).unwrap();
    full.eval(&(0..10).collect::<Vec<u32>>(), &Serial).unwrap();
    let e = full.seq_state_read(1, &seq_state).unwrap_err();
    assert!(matches!(e, Error::ContextFull { .. }), "{e}");
    assert_eq!(full.n_used(), 10);
}

#[test]
fn a_restored_context_and_sampler_continue_a_sampled_generation_identically() {
    use llamette::sampling::{Sampler, SamplerParams};
    let bytes = fixture("models/tiny-codellama.q4_k_m.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let n_vocab = model.config().n_vocab;
    let sp = SamplerParams {
        seed: 7,
        temp: 0.9,
        penalty_repeat: 1.3,
        penalty_last_n: 16,
        ..SamplerParams::default()
    };
    let step = |ctx: &mut Context, s: &mut Sampler| {
        let t = s.sample(ctx.logits()).unwrap();
        s.accept(t);
        ctx.eval(&[t], &Serial).unwrap();
        t
    };
    let mut ctx = Context::new(&model, params(128, 1)).unwrap();
    let mut sampler = Sampler::new(n_vocab, sp.clone()).unwrap();
    let prompt = [1u32, 30, 40, 50];
    for &t in &prompt {
        sampler.accept(t);
    }
    ctx.eval(&prompt, &Serial).unwrap();
    for _ in 0..20 {
        step(&mut ctx, &mut sampler);
    }
    let saved_ctx = save(&ctx);
    let saved_sampler = sampler.state();
    let want: Vec<u32> = (0..12).map(|_| step(&mut ctx, &mut sampler)).collect();

    let mut ctx2 = Context::new(&model, params(128, 1)).unwrap();
    ctx2.state_read(&saved_ctx).unwrap();
    let mut sampler2 = Sampler::new(n_vocab, sp.clone()).unwrap();
    sampler2.state_read(&saved_sampler).unwrap();
    let got: Vec<u32> = (0..12).map(|_| step(&mut ctx2, &mut sampler2)).collect();
    assert_eq!(got, want);
    // Without the sampler's state (a fresh sampler) the draws differ.
    let mut ctx3 = Context::new(&model, params(128, 1)).unwrap();
    ctx3.state_read(&saved_ctx).unwrap();
    let mut fresh = Sampler::new(n_vocab, sp.clone()).unwrap();
    let other: Vec<u32> = (0..12).map(|_| step(&mut ctx3, &mut fresh)).collect();
    assert_ne!(other, want);

    // Sampler states that do not fit are errors that change nothing.
    let mut s = Sampler::new(n_vocab, sp.clone()).unwrap();
    let before = s.state();
    for (bytes, says) in [
        (&b"nope"[..], "not a sampler state"),
        (&saved_sampler[..saved_sampler.len() - 1], "truncated"),
    ] {
        let e = s.state_read(bytes).unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
    let mut other_len = Sampler::new(
        n_vocab,
        SamplerParams {
            penalty_last_n: 8,
            ..sp.clone()
        },
    )
    .unwrap();
    let e = other_len.state_read(&saved_sampler).unwrap_err();
    assert!(e.to_string().contains("history of 16"), "{e}");
    let mut big = saved_sampler.clone();
    let at = big.len() - 4;
    big[at..].copy_from_slice(&(n_vocab as u32).to_le_bytes());
    let e = s.state_read(&big).unwrap_err();
    assert!(e.to_string().contains("outside the vocabulary"), "{e}");
    assert_eq!(s.state(), before);
}
