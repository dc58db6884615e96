//! Embeddings (`llamette::embed`) against llama.cpp's: SmolLM2-135M-Instruct's mean-, last-,
//! cls-pooled and per-token embeddings, unnormalized and L2-normalized, equal llama-cpp-python's
//! `Llama(embedding=True, pooling_type=...).embed(...)` (tests/fixtures/golden/
//! smollm2-embeddings.json, from scripts/embed_goldens.py) within float rounding; and the
//! ways of getting them (one batch of several sequences, one at a time, long sequences in
//! several steps) give the same bits.

mod common;

use common::{fixture, parse_json, Json};
use llamette::embed::{self, Normalize, Pooling};
use llamette::{Context, ContextParams, Model, ThreadPool};

/// Largest |a - b| relative to the largest |b| of the vector.
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b
        .iter()
        .fold(0f32, |m, x| m.max(x.abs()))
        .max(f32::MIN_POSITIVE);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// The tolerance: llama.cpp's rows are the same bits (the final norm's output); its pooling
/// sums with a matrix product whose grouping differs from a plain running sum.
const TOL: f32 = 5e-7;

fn embed_all(
    ctx: &mut Context,
    seqs: &[&[u32]],
    pooling: Pooling,
    norm: Normalize,
    pool: &ThreadPool,
) -> Vec<f32> {
    let d = ctx.model().config().n_embd;
    let mut out = vec![0f32; embed::output_len(d, seqs, pooling)];
    embed::embed(ctx, seqs, pooling, norm, &mut out, pool).unwrap();
    out
}

fn golden() -> Json {
    parse_json(std::str::from_utf8(&fixture("golden/smollm2-embeddings.json")).unwrap()).unwrap()
}

#[test]
fn smollm2_embeddings_equal_llama_cpps() {
    let model = Model::load(common::smollm2_path()).unwrap();
    let g = golden();
    let pool = ThreadPool::new(2);
    let params = ContextParams {
        n_ctx: 512,
        n_batch: 512,
        n_seq_max: 4,
        n_outputs_max: 512,
        embeddings: true,
        ..Default::default()
    };
    let mut ctx = Context::new(&model, params).unwrap();
    let d = model.config().n_embd;
    let tokens: Vec<Vec<u32>> = g["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(Json::u32_vec)
        .collect();
    let seqs: Vec<&[u32]> = tokens.iter().map(Vec::as_slice).collect();
    let mut worst = 0f32;
    for (name, pooling) in [
        ("mean", Pooling::Mean),
        ("last", Pooling::Last),
        ("cls", Pooling::Cls),
    ] {
        for (suffix, norm) in [("", Normalize::None), ("_l2", Normalize::Euclidean)] {
            let got = embed_all(&mut ctx, &seqs, pooling, norm, &pool);
            let want = &g[format!("{name}{suffix}").as_str()];
            for (i, w) in want.as_array().unwrap().iter().enumerate() {
                let w = w.f32_vec();
                let r = rel_diff(&got[i * d..(i + 1) * d], &w);
                assert!(r <= TOL, "{name}{suffix} text {i}: {r:e}");
                if pooling != Pooling::Mean && norm == Normalize::None {
                    // One row of the final norm's output: llama.cpp's bits.
                    assert_eq!(&got[i * d..(i + 1) * d], &w[..], "{name} text {i}");
                }
                worst = worst.max(r);
            }
        }
    }
    // Per-token rows (pooling none) of the first two texts: llama.cpp's bits.
    let two = &seqs[..2];
    let got = embed_all(&mut ctx, two, Pooling::None, Normalize::None, &pool);
    let mut row = 0;
    for (i, w) in g["none"].as_array().unwrap().iter().enumerate() {
        let rows = w.as_array().unwrap();
        assert_eq!(rows.len(), two[i].len());
        for r in rows {
            assert_eq!(
                &got[row * d..(row + 1) * d],
                &r.f32_vec()[..],
                "text {i} row {row}"
            );
            row += 1;
        }
    }
    eprintln!("SmolLM2 embeddings: max |diff| / max |x| = {worst:.2e} (tolerance {TOL:e})");
}

#[test]
fn batched_one_by_one_and_stepped_embeddings_agree() {
    let model = Model::load(common::smollm2_path()).unwrap();
    let pool = ThreadPool::new(2);
    let vocab = llamette::tokenizer::Vocab::from_gguf(
        &llamette::gguf::GgufFile::open(common::smollm2_path()).unwrap(),
    )
    .unwrap();
    let texts = ["fn main() {}", "a b c d e f g h i j k l m n o p", "Paris"];
    let tokens: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| vocab.tokenize(t, true, false).unwrap())
        .collect();
    let seqs: Vec<&[u32]> = tokens.iter().map(Vec::as_slice).collect();
    let d = model.config().n_embd;
    let many = ContextParams {
        n_ctx: 256,
        n_batch: 256,
        n_seq_max: 4,
        n_outputs_max: 256,
        embeddings: true,
        ..Default::default()
    };
    // Steps of 4 tokens: every text but the last takes several.
    let small = ContextParams {
        n_ctx: 256,
        n_batch: 4,
        n_seq_max: 1,
        n_outputs_max: 4,
        embeddings: true,
        ..Default::default()
    };
    let mut a = Context::new(&model, many).unwrap();
    let mut b = Context::new(&model, small).unwrap();
    for pooling in [Pooling::Mean, Pooling::Last, Pooling::Cls, Pooling::None] {
        let together = embed_all(&mut a, &seqs, pooling, Normalize::Euclidean, &pool);
        let stepped = embed_all(&mut b, &seqs, pooling, Normalize::Euclidean, &pool);
        // These short texts give the same bits however they are batched. In general they need
        // not: llama.cpp's kernels (and llamette's, which follow them) depend on the number of
        // tokens in a step, so SmolLM2's golden text 2 differs in the last digits alone and in
        // the golden's batch of three (which is why the goldens are compared batch for batch).
        let mut alone = Vec::new();
        for s in &seqs {
            alone.extend(embed_all(
                &mut a,
                &[s],
                pooling,
                Normalize::Euclidean,
                &pool,
            ));
        }
        assert_eq!(together, alone, "{pooling:?}: batched = one by one");
        let r = rel_diff(&stepped, &together);
        assert!(r <= TOL, "{pooling:?}: stepped {r:e}");
        // Each pooled vector has unit length.
        if pooling != Pooling::None {
            for i in 0..seqs.len() {
                let n: f64 = together[i * d..(i + 1) * d]
                    .iter()
                    .map(|&x| f64::from(x) * f64::from(x))
                    .sum();
                assert!((n - 1.0).abs() < 1e-5, "{pooling:?} {i}: {n}");
            }
        }
    }
    // Mean is the average of the per-token rows; last is the last row.
    let rows = embed_all(&mut a, &seqs[..1], Pooling::None, Normalize::None, &pool);
    let mean = embed_all(&mut a, &seqs[..1], Pooling::Mean, Normalize::None, &pool);
    let last = embed_all(&mut a, &seqs[..1], Pooling::Last, Normalize::None, &pool);
    let n = seqs[0].len();
    for k in 0..d {
        let avg: f32 = (0..n).map(|t| rows[t * d + k] * (1.0 / n as f32)).sum();
        assert_eq!(mean[k], avg, "dim {k}");
    }
    assert_eq!(&last[..], &rows[(n - 1) * d..n * d]);
    // Errors: no embeddings in the context, an empty sequence, a wrong output size.
    let mut plain = Context::new(&model, ContextParams::default()).unwrap();
    let mut out = vec![0f32; d];
    let e = embed::embed(
        &mut plain,
        &seqs[..1],
        Pooling::Mean,
        Normalize::None,
        &mut out,
        &pool,
    )
    .unwrap_err();
    assert!(e.to_string().contains("embeddings"), "{e}");
    let e = embed::embed(
        &mut a,
        &[&[]],
        Pooling::Mean,
        Normalize::None,
        &mut out,
        &pool,
    )
    .unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    let e = embed::embed(
        &mut a,
        &seqs[..2],
        Pooling::Mean,
        Normalize::None,
        &mut out,
        &pool,
    )
    .unwrap_err();
    assert!(e.to_string().contains(&format!("{} needed", 2 * d)), "{e}");
}
