//! Checking a model against llama.cpp's goldens (tests/fixtures/golden/<model>.json).

use super::Json;
use llamette::{Context, ContextParams, Model, Parallel};

/// Largest |logit difference| allowed, relative to the largest |logit| of the row: none.
///
/// llamette's reference kernels reproduce the float operation order of llama.cpp's x86 CPU
/// backend (the build that made the goldens: AVX2, FMA, F16C), including which kernel each
/// matrix product takes for one token or many, and call the platform's C library for `cosf`,
/// `sinf`, `powf` and `expf` as llama.cpp does; on x86-64 Linux with glibc the logits are
/// bit-identical, and every fixture shows it. Any difference is a bug, and on these tiny random
/// models even one flipped rounding moves logits by 0.1.
pub const REL_TOL: f32 = 0.0;

pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Max |a - b| over the row, and the largest |b|.
pub fn diff(ours: &[f32], theirs: &[f32]) -> (f32, f32) {
    assert_eq!(ours.len(), theirs.len());
    let d = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let m = theirs.iter().map(|b| b.abs()).fold(0f32, f32::max);
    (d, m)
}

/// Largest |ours - theirs| over a golden's `[id, logit]` pairs, relative to their largest |logit|.
pub fn top_diff(ours: &[f32], top: &[Json]) -> f32 {
    let scale = top
        .iter()
        .map(|p| p[1].as_f32().unwrap().abs())
        .fold(0f32, f32::max);
    top.iter()
        .map(|p| (ours[p[0].as_usize().unwrap()] - p[1].as_f32().unwrap()).abs() / scale)
        .fold(0f32, f32::max)
}

/// Checks one model against its golden file; returns the worst relative difference seen.
pub fn check_model(
    model: &Model,
    golden: &Json,
    name: &str,
    par: &dyn Parallel,
    n_gen: usize,
) -> f32 {
    let n_vocab = model.config().n_vocab;
    assert_eq!(golden["n_vocab"].as_usize(), Some(n_vocab), "{name}");
    let mut worst = 0f32;
    for (ci, case) in golden["cases"].as_array().unwrap().iter().enumerate() {
        let prompt = case["prompt"].u32_vec();
        let params = ContextParams {
            n_ctx: 256,
            n_batch: 64,
            logits_all: true,
            ..Default::default()
        };
        let mut ctx = Context::new(model, params).unwrap();
        ctx.eval(&prompt, par).unwrap();
        // Every position: argmax agrees, the top 8 logits agree within tolerance, and where the
        // golden has whole rows, every logit does.
        for (i, top) in case["top_per_pos"].as_array().unwrap().iter().enumerate() {
            let ours = ctx.logits_at(i).unwrap();
            let top = top.as_array().unwrap();
            let best = top[0][0].as_usize().unwrap();
            assert_eq!(argmax(ours), best, "{name} case {ci} position {i}: argmax");
            worst = worst.max(top_diff(ours, top));
            if let Some(all) = case.get("all_logits") {
                let (d, m) = diff(ours, &all[i].f32_vec());
                worst = worst.max(d / m);
            }
        }
        let (d, m) = diff(ctx.logits(), &case["last_logits"].f32_vec());
        worst = worst.max(d / m);
        assert!(
            worst <= REL_TOL,
            "{name} case {ci}: logits differ by {worst} of the largest"
        );

        // Greedy continuation, one token at a time through the KV cache.
        let want = case["greedy"].u32_vec();
        let mut got = Vec::new();
        let mut next = argmax(ctx.logits()) as u32;
        for _ in 0..n_gen.min(want.len()) {
            got.push(next);
            ctx.eval(&[next], par).unwrap();
            next = argmax(ctx.logits()) as u32;
        }
        assert_eq!(
            got,
            want[..got.len()],
            "{name} case {ci}: greedy continuation"
        );
    }
    worst
}
