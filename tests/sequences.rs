//! Sequences in one context: a bad batch or sequence operation is a named error that leaves
//! the context as it was, and after each sequence operation continuing gives the same logits
//! as a fresh context that evaluated the equivalent tokens directly (exactly: the cases keep
//! each sequence's cells where a fresh context would put them).

mod common;

use common::fixture;
use llamette::model::{BatchToken, Context, ContextParams, KvType, Model, SeqSet};
use llamette::{Error, Serial};

fn params(n_seq_max: usize) -> ContextParams {
    ContextParams {
        n_ctx: 64,
        n_batch: 16,
        n_seq_max,
        ..ContextParams::default()
    }
}

fn run(seq: usize, tokens: &[u32], start: usize) -> Vec<BatchToken> {
    tokens
        .iter()
        .enumerate()
        .map(|(i, &t)| BatchToken::new(t, start + i, seq, i + 1 == tokens.len()))
        .collect()
}

/// The logits after `steps` evaluated one after the other in a fresh one-sequence context
/// (the same steps: a step's size chooses the kernels, hence the float order).
fn fresh(model: &Model, steps: &[&[u32]]) -> Vec<f32> {
    let mut ctx = Context::new(model, params(1)).unwrap();
    for s in steps {
        ctx.eval(s, &Serial).unwrap();
    }
    ctx.logits().to_vec()
}

#[test]
fn bad_batches_are_named_errors_and_change_nothing() {
    let bytes = fixture("models/tiny-codellama.q8_0.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let mut ctx = Context::new(&model, params(2)).unwrap();
    ctx.decode(&run(0, &[1, 5, 9], 0), &Serial).unwrap();
    let before = ctx.logits_ith(2).unwrap().to_vec();
    let used = ctx.n_used();
    let bad = |ctx: &mut Context, batch: &[BatchToken], says: &str| {
        let e = ctx.decode(batch, &Serial).unwrap_err();
        assert!(e.to_string().contains(says), "{e} (expected {says:?})");
        assert_eq!(ctx.n_used(), used, "{says}: cells unchanged");
        assert_eq!(
            ctx.logits_ith(2).unwrap(),
            &before[..],
            "{says}: logits unchanged"
        );
    };
    bad(&mut ctx, &[], "at least one token");
    bad(
        &mut ctx,
        &[BatchToken::new(5000, 3, 0, true)],
        "outside the vocabulary",
    );
    bad(&mut ctx, &[BatchToken::new(5, 3, 2, true)], "n_seq_max (2)");
    let none = BatchToken {
        token: 5,
        pos: 3,
        seqs: SeqSet::default(),
        logits: false,
    };
    bad(&mut ctx, &[none], "is empty");
    bad(&mut ctx, &run(0, &[7], 5), "positions must continue at 3");
    bad(&mut ctx, &run(0, &[7], 2), "positions must continue at 3");
    bad(
        &mut ctx,
        &[
            BatchToken::new(7, 4, 1, false),
            BatchToken::new(7, 3, 1, true),
        ],
        "decrease",
    );
    bad(
        &mut ctx,
        &[
            BatchToken::new(7, 0, 1, false),
            BatchToken::new(7, 2, 1, true),
        ],
        "skip",
    );
    bad(
        &mut ctx,
        &[
            BatchToken::new(7, 3, 0, true),
            BatchToken::new(7, 0, 1, true),
            BatchToken::new(8, 1, 1, true),
        ],
        "ask for logits",
    );
    bad(
        &mut ctx,
        &[BatchToken::new(7, 1usize << 40, 1, true)],
        "above",
    );
    let long: Vec<u32> = (0..62).map(|i| 3 + i).collect();
    let e = ctx.decode(&run(1, &long, 0), &Serial).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ContextFull {
                n_ctx: 64,
                needed: 65
            }
        ),
        "{e}"
    );
    assert_eq!(ctx.n_used(), used);
    // Sequence operations name a sequence the context has.
    for e in [
        ctx.seq_rm(Some(2), ..).unwrap_err(),
        ctx.seq_cp(0, 2, ..).unwrap_err(),
        ctx.seq_keep(5).unwrap_err(),
    ] {
        assert!(e.to_string().contains("n_seq_max (2)"), "{e}");
    }
    assert_eq!(ctx.n_used(), used);
}

#[test]
fn after_each_sequence_operation_the_logits_are_a_fresh_contexts() {
    let bytes = fixture("models/tiny-codellama.q4_k_m.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let prompt = [1u32, 20, 30, 40, 50, 60];
    let mut ctx = Context::new(&model, params(3)).unwrap();
    ctx.decode(&run(0, &prompt, 0), &Serial).unwrap();
    assert_eq!(ctx.logits_ith(5).unwrap(), &fresh(&model, &[&prompt])[..]);
    assert_eq!((ctx.seq_pos_min(0), ctx.seq_pos_max(0)), (Some(0), Some(5)));

    // Copy: sequence 1 shares the prompt's cells, continues on its own.
    ctx.seq_cp(0, 1, ..).unwrap();
    assert_eq!(ctx.n_used(), 6, "copied cells are shared");
    ctx.decode(&run(1, &[77], 6), &Serial).unwrap();
    assert_eq!(
        ctx.logits_ith(0).unwrap(),
        &fresh(&model, &[&prompt, &[77]])[..]
    );

    // Remove the tail of sequence 0 and re-decode it differently.
    ctx.seq_rm(Some(0), 4..).unwrap();
    assert_eq!(ctx.seq_pos_max(0), Some(3));
    assert_eq!(
        ctx.seq_pos_max(1),
        Some(6),
        "sequence 1 keeps the shared cells"
    );
    // Keep: only sequence 1 is left (the cells it shares with 0 stay, 0's others go).
    ctx.seq_keep(1).unwrap();
    assert_eq!(ctx.seq_pos_max(0), None);
    assert_eq!(ctx.n_used(), 7);
    ctx.decode(&run(1, &[88, 99], 7), &Serial).unwrap();
    assert_eq!(
        ctx.logits_ith(1).unwrap(),
        &fresh(&model, &[&prompt, &[77], &[88, 99]])[..]
    );

    // A range copy: sequence 2 gets positions 0..3 of sequence 1.
    ctx.seq_cp(1, 2, 0..3).unwrap();
    assert_eq!((ctx.seq_pos_min(2), ctx.seq_pos_max(2)), (Some(0), Some(2)));
    // Remove everything: the cache starts over at cell 0, as a fresh one.
    ctx.seq_rm(None, ..).unwrap();
    assert_eq!(ctx.n_used(), 0);
    ctx.decode(&run(2, &prompt, 0), &Serial).unwrap();
    assert_eq!(ctx.logits_ith(5).unwrap(), &fresh(&model, &[&prompt])[..]);
}

#[test]
fn truncate_and_eval_are_sequence_zero() {
    let bytes = fixture("models/tiny-codellama.q8_0.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let mut ctx = Context::new(&model, params(2)).unwrap();
    ctx.eval(&[1, 2, 3, 4], &Serial).unwrap();
    assert_eq!(ctx.n_past(), 4);
    ctx.decode(&run(1, &[1, 9], 0), &Serial).unwrap();
    assert_eq!(ctx.n_past(), 4, "sequence 1 does not move sequence 0");
    ctx.truncate(2);
    assert_eq!((ctx.n_past(), ctx.n_used()), (2, 4));
    ctx.eval(&[3, 4], &Serial).unwrap();
    // Sequence 0's cells 2 and 3 were freed and taken again, in order: a fresh context's logits.
    assert_eq!(ctx.logits(), &fresh(&model, &[&[1, 2], &[3, 4]])[..]);
    ctx.clear();
    assert_eq!((ctx.n_past(), ctx.n_used()), (0, 0));
}

/// The largest difference between two logits rows, relative to the largest logit.
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    let top = b.iter().fold(0f32, |m, x| m.max(x.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / top
}

#[test]
fn a_context_shift_moves_positions_and_rotates_the_keys() {
    let bytes = fixture("models/tiny-codellama.q8_0.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let ten: Vec<u32> = (0..10).map(|i| 3 + 11 * i).collect();
    // Rope depends on relative positions only: ten tokens read at 0..10 and moved to 10..20
    // must attend as ten tokens read at 10..20 (the rotation of the cached keys is what
    // makes that so; llama.cpp's own shifted results are held bit for bit in batch_golden).
    for kv_type in [KvType::F16, KvType::F32] {
        let p = ContextParams {
            kv_type,
            ..params(1)
        };
        let mut moved = Context::new(&model, p).unwrap();
        moved.eval(&ten, &Serial).unwrap();
        moved.seq_add(0, .., 10).unwrap();
        assert_eq!(
            (moved.seq_pos_min(0), moved.seq_pos_max(0)),
            (Some(10), Some(19))
        );
        moved
            .decode(&[BatchToken::new(99, 20, 0, true)], &Serial)
            .unwrap();
        let mut read_there = Context::new(&model, p).unwrap();
        let at10: Vec<BatchToken> = ten
            .iter()
            .enumerate()
            .map(|(i, &t)| BatchToken::new(t, 10 + i, 0, i == 9))
            .collect();
        read_there.decode(&at10, &Serial).unwrap();
        read_there
            .decode(&[BatchToken::new(99, 20, 0, true)], &Serial)
            .unwrap();
        // F16 keys are rounded once more after their rotation; the error grows through the
        // layers of this tiny model's sharp attention to a few percent of the largest logit.
        let d = rel_diff(moved.logits(), read_there.logits());
        let bound = if kv_type == KvType::F16 { 0.04 } else { 1e-4 };
        assert!(d < bound, "{kv_type:?}: relative difference {d}");
    }

    // The context shift of a chat: drop positions 4..10, move 10.. back by 6.
    let tokens: Vec<u32> = (0..20).map(|i| 3 + 11 * i).collect();
    let mut ctx = Context::new(&model, params(1)).unwrap();
    ctx.eval(&tokens, &Serial).unwrap();
    ctx.seq_rm(Some(0), 4..10).unwrap();
    ctx.seq_add(0, 10.., -6).unwrap();
    assert_eq!(
        (ctx.seq_pos_min(0), ctx.seq_pos_max(0), ctx.n_used()),
        (Some(0), Some(13), 14)
    );
    ctx.eval(&[99], &Serial).unwrap();
    assert_eq!(ctx.n_past(), 15);
    // A shift below position 0 removes the cells; past the largest position is an error that
    // changes nothing; a shift by 0 is nothing.
    ctx.seq_add(0, 0..2, -5).unwrap();
    assert_eq!((ctx.seq_pos_min(0), ctx.n_used()), (Some(2), 13));
    ctx.seq_add(0, .., 0).unwrap();
    let e = ctx.seq_add(0, .., isize::MAX / 2).unwrap_err();
    assert!(e.to_string().contains("is above"), "{e}");
    assert_eq!((ctx.n_used(), ctx.seq_pos_max(0)), (13, Some(14)));
}

#[test]
fn seq_div_divides_positions() {
    let bytes = fixture("models/tiny-codellama.q8_0.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let mut ctx = Context::new(&model, params(1)).unwrap();
    ctx.eval(&(1..17).collect::<Vec<u32>>(), &Serial).unwrap();
    assert!(ctx
        .seq_div(0, .., 0)
        .unwrap_err()
        .to_string()
        .contains("division by 0"));
    ctx.seq_div(0, 8.., 2).unwrap();
    // Positions 8..16 became 4..8 (two cells each): the next position is 8.
    assert_eq!((ctx.seq_pos_max(0), ctx.n_used()), (Some(7), 16));
    ctx.decode(&[BatchToken::new(5, 8, 0, true)], &Serial)
        .unwrap();
    assert!(ctx.logits_ith(0).unwrap().iter().all(|x| x.is_finite()));
}

#[test]
fn a_prompt_that_repeats_the_cached_start_is_not_evaluated_again() {
    let bytes = fixture("models/tiny-codellama.q8_0.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let a: Vec<u32> = (0..10).map(|i| 3 + 13 * i).collect();
    let mut ctx = Context::new(&model, params(1)).unwrap();
    ctx.eval(&a, &Serial).unwrap();
    assert_eq!(ctx.cached_prefix(0, &a), 10);
    assert_eq!(ctx.cached_prefix(0, &a[..4]), 4);
    assert_eq!(
        ctx.cached_prefix(1, &a),
        0,
        "not a sequence of this context"
    );
    // A new prompt sharing the first 6 tokens: 6 kept, the rest removed.
    let mut b = a[..6].to_vec();
    b.extend([500, 501, 502]);
    assert_eq!(ctx.cached_prefix(0, &b), 6);
    assert_eq!(ctx.reuse_prefix(&b), 6);
    assert_eq!((ctx.n_past(), ctx.n_used()), (6, 6));
    assert!(
        ctx.logits().is_empty(),
        "the last logits were of a removed position"
    );
    ctx.eval(&b[6..], &Serial).unwrap();
    let want = {
        let mut f = Context::new(&model, params(1)).unwrap();
        f.eval(&a, &Serial).unwrap();
        f.truncate(6);
        f.eval(&b[6..], &Serial).unwrap();
        f.logits().to_vec()
    };
    assert_eq!(ctx.logits(), &want[..]);
    // The same prompt again: all but its last token kept, so its logits are computed anew.
    assert_eq!(ctx.reuse_prefix(&b), 8);
    ctx.eval(&b[8..], &Serial).unwrap();
    assert_eq!(ctx.logits(), &want[..]);
    // A prompt that extends what is cached (the next turn of a chat): all of the cache kept.
    let mut c = b.clone();
    c.extend([600, 601]);
    assert_eq!(ctx.cached_prefix(0, &c), 9);
    assert_eq!(ctx.reuse_prefix(&c), 9);
    assert_eq!(ctx.n_past(), 9);
    ctx.eval(&c[9..], &Serial).unwrap();
    // A gap in the cached positions keeps nothing.
    ctx.seq_rm(Some(0), 2..3).unwrap();
    assert_eq!(ctx.cached_prefix(0, &c), 0);
    // Nothing in common: everything goes.
    assert_eq!(ctx.reuse_prefix(&[7, 7, 7]), 0);
    assert_eq!(ctx.n_used(), 0);
}
