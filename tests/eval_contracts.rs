//! The evaluation contracts: results independent of how work is split across tasks and
//! threads; exact-size contexts in host memory; KV-cached continuation equal to one batch;
//! bad input as errors.

mod common;

use common::fixture;
use llamette::{Context, ContextParams, Error, KvType, Model, Parallel, Serial, ThreadPool};

/// Claims `width` threads but runs tasks one by one in reverse order: a different split and
/// order without threads.
struct Reversed(usize);

impl Parallel for Reversed {
    fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync)) {
        (0..n).rev().for_each(task);
    }
    fn width(&self) -> usize {
        self.0
    }
}

fn all_logits(model: &Model, tokens: &[u32], par: &dyn Parallel) -> Vec<f32> {
    let params = ContextParams {
        n_ctx: 64,
        n_batch: 32,
        logits_all: true,
        ..Default::default()
    };
    let mut ctx = Context::new(model, params).unwrap();
    ctx.eval(tokens, par).unwrap();
    let mut out: Vec<f32> = (0..tokens.len())
        .flat_map(|i| ctx.logits_at(i).unwrap().to_vec())
        .collect();
    // Then a few single tokens through the cache.
    for t in [5u32, 77, 901] {
        ctx.eval(&[t], par).unwrap();
        out.extend_from_slice(ctx.logits());
    }
    out
}

#[test]
fn results_are_bit_identical_for_any_number_of_tasks_and_threads() {
    let tokens: Vec<u32> = vec![1, 15, 300, 7, 1023, 42, 999, 512, 3];
    for name in [
        "tiny-codellama.q4_k_m.gguf",
        "tiny-codellama.q8_0.gguf",
        "tiny-codellama-tied.f16.gguf",
    ] {
        let bytes = fixture(&format!("models/{name}"));
        let model = Model::from_bytes(&bytes).unwrap();
        let want = all_logits(&model, &tokens, &Serial);
        for width in [2, 4] {
            assert_eq!(
                all_logits(&model, &tokens, &Reversed(width)),
                want,
                "{name}: {width} tasks"
            );
            let pool = ThreadPool::new(width);
            assert_eq!(
                all_logits(&model, &tokens, &pool),
                want,
                "{name}: {width} threads"
            );
        }
    }
}

#[test]
fn a_context_in_host_memory_needs_exactly_required_bytes() {
    let bytes = fixture("models/tiny-codellama.q4_0.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let params = ContextParams {
        n_ctx: 48,
        n_batch: 8,
        ..Default::default()
    };
    let need = Context::required_bytes(&model, &params).unwrap();
    let tokens = [1u32, 2, 3, 400, 500];
    let mut owned = Context::new(&model, params).unwrap();
    owned.eval(&tokens, &Serial).unwrap();
    // At every alignment of the host's buffer.
    let mut host = vec![0xA5u8; need + 7];
    for shift in 0..4 {
        let buf = &mut host[shift..shift + need];
        let mut ctx = Context::new_in(&model, params, buf).unwrap();
        ctx.eval(&tokens, &Serial).unwrap();
        assert_eq!(ctx.logits(), owned.logits(), "shift {shift}");
    }
    let mut small = vec![0u8; need - 1];
    assert_eq!(
        Context::new_in(&model, params, &mut small).unwrap_err(),
        Error::BufferTooSmall {
            needed: need,
            given: need - 1
        }
    );
    // The size grows with the context and with an f32 cache.
    let bigger = ContextParams {
        n_ctx: 96,
        ..params
    };
    assert!(Context::required_bytes(&model, &bigger).unwrap() > need);
    let f32_kv = ContextParams {
        kv_type: KvType::F32,
        ..params
    };
    assert!(Context::required_bytes(&model, &f32_kv).unwrap() > need);
}

#[test]
fn kv_cached_continuation_equals_one_batch() {
    // F32 weights and an F32 cache: nothing is rounded to f16 or 8 bits, so the only difference
    // between a batch and single-token steps is the order of float sums (llama.cpp, and so
    // llamette, use different kernels for 1 and for several tokens): relative 1e-5 covers it.
    let bytes = fixture("models/tiny-codellama.f32.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let tokens: Vec<u32> = vec![1, 29, 333, 4, 1000, 64, 128, 256, 900, 17, 18, 19];
    let params = ContextParams {
        n_ctx: 64,
        n_batch: 64,
        kv_type: KvType::F32,
        logits_all: true,
        n_seq_max: 1,
        n_outputs_max: 0,
        embeddings: false,
        isolate_seqs: false,
    };
    let mut batch = Context::new(&model, params).unwrap();
    batch.eval(&tokens, &Serial).unwrap();
    let mut steps = Context::new(&model, params).unwrap();
    steps.eval(&tokens[..4], &Serial).unwrap();
    let mut worst = 0f32;
    for (i, &t) in tokens.iter().enumerate().skip(4) {
        steps.eval(&[t], &Serial).unwrap();
        let (a, b) = (steps.logits(), batch.logits_at(i).unwrap());
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(b) {
            worst = worst.max((x - y).abs() / scale);
        }
        assert_eq!(
            a.iter()
                .enumerate()
                .fold(0, |m, (j, v)| if *v > a[m] { j } else { m }),
            b.iter()
                .enumerate()
                .fold(0, |m, (j, v)| if *v > b[m] { j } else { m }),
            "position {i}: argmax"
        );
    }
    assert!(
        worst < 1e-5,
        "batch and steps differ by {worst} of the largest logit"
    );
    assert_eq!(steps.n_past(), tokens.len());
}

#[test]
fn bad_input_is_an_error_and_leaves_the_context_usable() {
    let bytes = fixture("models/tiny-codellama.q8_0.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let params = ContextParams {
        n_ctx: 8,
        n_batch: 4,
        ..Default::default()
    };
    let mut ctx = Context::new(&model, params).unwrap();
    assert_eq!(
        ctx.eval(&[1, 5000], &Serial).unwrap_err(),
        Error::BadToken {
            token: 5000,
            n_vocab: 1024
        }
    );
    assert!(matches!(
        ctx.eval(&[], &Serial),
        Err(Error::BadParams { .. })
    ));
    assert!(ctx.logits().is_empty());
    ctx.eval(&[1, 2, 3, 4, 5, 6], &Serial).unwrap();
    assert_eq!(
        ctx.eval(&[7, 8, 9], &Serial).unwrap_err(),
        Error::ContextFull {
            n_ctx: 8,
            needed: 9
        }
    );
    assert_eq!(ctx.n_past(), 6);
    ctx.eval(&[7, 8], &Serial).unwrap();
    assert_eq!(ctx.n_past(), 8);
    let all = ContextParams {
        logits_all: true,
        ..params
    };
    let mut ctx = Context::new(&model, all).unwrap();
    assert!(matches!(
        ctx.eval(&[1, 2, 3, 4, 5], &Serial),
        Err(Error::BadParams { .. })
    ));
    let zero = ContextParams { n_ctx: 0, ..params };
    assert!(matches!(
        Context::new(&model, zero),
        Err(Error::BadParams { .. })
    ));
}

#[test]
fn unsupported_models_are_named_errors() {
    use llamette::gguf::writer::{MetaValue, Writer};
    use llamette::gguf::GgufFile;
    let bytes = fixture("models/tiny-codellama.q8_0.gguf");
    let f = GgufFile::from_bytes(&bytes).unwrap();
    // The fixture with its metadata edited (None drops a key), extra keys added, and
    // optionally one tensor left out.
    let rebuild = |edit: &dyn Fn(&str, MetaValue) -> Option<MetaValue>,
                   extra: &[(&str, MetaValue)],
                   drop_tensor: Option<&str>| {
        let mut w = Writer::new();
        for (k, v) in f.metadata() {
            if let Some(v) = edit(k, MetaValue::from_value(&v)) {
                w = w.meta(k, v);
            }
        }
        for (k, v) in extra {
            w = w.meta(k, v.clone());
        }
        for t in f.tensors().filter(|t| Some(t.name) != drop_tensor) {
            w = w.tensor(t.name, t.ggml_type, t.dims(), t.data.to_vec());
        }
        w.to_bytes().unwrap()
    };
    let falcon = rebuild(
        &|k, v| {
            Some(if k == "general.architecture" {
                MetaValue::String("falcon".into())
            } else {
                v
            })
        },
        &[],
        None,
    );
    assert_eq!(
        Model::from_bytes(&falcon).unwrap_err(),
        Error::UnsupportedArchitecture {
            arch: "falcon".into()
        }
    );
    let no_q = rebuild(&|_, v| Some(v), &[], Some("blk.1.attn_q.weight"));
    assert_eq!(
        Model::from_bytes(&no_q).unwrap_err(),
        Error::MissingTensor {
            tensor: "blk.1.attn_q.weight".into()
        }
    );
    let wide = rebuild(
        &|k, v| {
            Some(if k == "llama.feed_forward_length" {
                MetaValue::U32(1024)
            } else {
                v
            })
        },
        &[],
        None,
    );
    match Model::from_bytes(&wide).unwrap_err() {
        Error::BadTensor { tensor, reason } => {
            assert_eq!(tensor, "blk.0.ffn_gate.weight");
            assert!(reason.contains("expected [256, 1024]"), "{reason}");
        }
        e => panic!("{e}"),
    }
    let no_heads = rebuild(
        &|k, v| {
            if k == "llama.attention.head_count" {
                None
            } else {
                Some(v)
            }
        },
        &[],
        None,
    );
    assert_eq!(
        Model::from_bytes(&no_heads).unwrap_err(),
        Error::MissingKey {
            key: "llama.attention.head_count".into()
        }
    );
    // Rope scaling: linear is read (positions times 1/factor), anything else is refused.
    let with = |extra: &[(&str, MetaValue)]| rebuild(&|_, v| Some(v), extra, None);
    let linear = with(&[
        (
            "llama.rope.scaling.type",
            MetaValue::String("linear".into()),
        ),
        ("llama.rope.scaling.factor", MetaValue::F32(4.0)),
    ]);
    let m = Model::from_bytes(&linear).unwrap();
    assert_eq!(m.config().rope_freq_scale(), 0.25);
    let yarn = with(&[("llama.rope.scaling.type", MetaValue::String("yarn".into()))]);
    match Model::from_bytes(&yarn).unwrap_err() {
        Error::BadMetadata { key, reason } => {
            assert_eq!(key, "llama.rope.scaling.type");
            assert!(reason.contains("yarn"), "{reason}");
        }
        e => panic!("{e}"),
    }
}
