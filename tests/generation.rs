//! The generation loop on SmolLM2 with greedy sampling: each stop rule, stopping from the
//! callback, and prompts given as text, ids or a chat.

mod common;

use common::smollm2_path;
use llamette::chat::{ChatFormat, Message};
use llamette::generate::{generate, Generation, Prompt, Step, StopReason, StopRules};
use llamette::sampling::{Sampler, SamplerParams};
use llamette::tokenizer::Vocab;
use llamette::{Context, ContextParams, Model, Serial};

fn greedy(vocab: &Vocab) -> Sampler {
    Sampler::new(
        vocab.n_tokens(),
        SamplerParams {
            temp: 0.0,
            ..Default::default()
        },
    )
    .unwrap()
}

const QUESTION: [Message; 1] = [Message {
    role: "user",
    content: "What is the capital of France?",
}];

#[test]
fn every_stop_rule_ends_generation_where_it_should() {
    let model = Model::load(smollm2_path()).unwrap();
    let vocab = Vocab::from_gguf(model.header()).unwrap();
    let format = ChatFormat::from_header(model.header()).unwrap();
    let prompt = Prompt::Chat {
        format,
        messages: &QUESTION,
    }
    .tokens(&vocab)
    .unwrap();
    let params = ContextParams {
        n_ctx: 256,
        ..Default::default()
    };
    let run = |rules: StopRules, n_ctx: usize| {
        let mut ctx = Context::new(&model, ContextParams { n_ctx, ..params }).unwrap();
        let mut sampler = greedy(&vocab);
        let mut text = String::new();
        let (why, t) = generate(
            &mut ctx,
            &vocab,
            &mut sampler,
            &prompt,
            rules,
            &Serial,
            &mut |p| {
                text.push_str(p);
                true
            },
        )
        .unwrap();
        (why, text, t)
    };
    // The end-of-turn token of the chat format.
    let im_end = vocab.token_id("<|im_end|>").unwrap();
    let (why, text, t) = run(
        StopRules {
            stop_tokens: format.stop_tokens(&vocab),
            ..Default::default()
        },
        256,
    );
    assert_eq!(why, Some(StopReason::EndOfGeneration(im_end)));
    assert_eq!(text, "The capital of France is Paris.");
    assert_eq!((t.prompt_tokens, t.generated_tokens), (prompt.len(), 7));
    // n_predict.
    let (why, text, _) = run(
        StopRules {
            n_predict: Some(3),
            ..Default::default()
        },
        256,
    );
    assert_eq!(why, Some(StopReason::Length));
    assert_eq!(text, "The capital of");
    // A stop string: the text before it, never the string itself, even when a token only
    // begins it.
    let rules = StopRules {
        stop_strings: vec![" Paris".into()],
        ..Default::default()
    };
    let (why, text, _) = run(rules, 256);
    assert_eq!(why, Some(StopReason::StopString(" Paris".into())));
    assert_eq!(text, "The capital of France is");
    // A full context.
    let (why, text, _) = run(StopRules::default(), prompt.len() + 2);
    assert_eq!(why, Some(StopReason::ContextFull));
    assert_eq!(text, "The capital");
}

#[test]
fn the_caller_can_stop_between_tokens_and_drive_steps() {
    let model = Model::load(smollm2_path()).unwrap();
    let vocab = Vocab::from_gguf(model.header()).unwrap();
    let mut ctx = Context::new(
        &model,
        ContextParams {
            n_ctx: 128,
            ..Default::default()
        },
    )
    .unwrap();
    let mut sampler = greedy(&vocab);
    // Golden case 2's prompt, as llama.cpp tokenized the text.
    let prompt = Prompt::Text("def fibonacci(n):").tokens(&vocab).unwrap();
    assert_eq!(prompt, [1604, 3987, 46477, 24, 94, 727]);
    let mut pieces = 0;
    let (why, t) = generate(
        &mut ctx,
        &vocab,
        &mut sampler,
        &prompt,
        StopRules::default(),
        &Serial,
        &mut |_| {
            pieces += 1;
            pieces < 4
        },
    )
    .unwrap();
    assert_eq!(why, None);
    assert_eq!(t.generated_tokens, 4);
    // Step by step, continuing in the same context.
    let n_past = ctx.n_past();
    let mut g = Generation::new(
        &mut ctx,
        &vocab,
        &mut sampler,
        StopRules {
            n_predict: Some(2),
            ..Default::default()
        },
    );
    assert!(matches!(g.next(&Serial).unwrap(), Step::Token { .. }));
    assert!(matches!(g.next(&Serial).unwrap(), Step::Token { .. }));
    assert!(matches!(
        g.next(&Serial).unwrap(),
        Step::Done {
            reason: StopReason::Length,
            ..
        }
    ));
    assert_eq!(ctx.n_past(), n_past + 2);
    // Token ids are used as they are.
    assert_eq!(
        Prompt::Tokens(&[1, 2, 3]).tokens(&vocab).unwrap(),
        [1, 2, 3]
    );
}

#[test]
fn generate_reusing_keeps_the_cached_start_of_the_prompt() {
    use llamette::generate::generate_reusing;
    let model = Model::load(smollm2_path()).unwrap();
    let vocab = Vocab::from_gguf(model.header()).unwrap();
    let first = vocab
        .tokenize("The history of the Roman Empire begins with", true, false)
        .unwrap();
    let mut second = first[..6].to_vec();
    second.extend(
        vocab
            .tokenize(" the city of Paris is", false, false)
            .unwrap(),
    );
    let params = ContextParams {
        n_ctx: 256,
        ..Default::default()
    };
    let rules = || StopRules {
        n_predict: Some(8),
        ..Default::default()
    };
    let run = |ctx: &mut Context, tokens: &[u32], reuse: bool| {
        let mut text = String::new();
        let mut sampler = greedy(&vocab);
        let on = &mut |t: &str| {
            text.push_str(t);
            true
        };
        let kept = if reuse {
            generate_reusing(ctx, &vocab, &mut sampler, tokens, rules(), &Serial, on)
                .unwrap()
                .2
        } else {
            generate(ctx, &vocab, &mut sampler, tokens, rules(), &Serial, on).unwrap();
            0
        };
        (text, kept)
    };
    let mut ctx = Context::new(&model, params).unwrap();
    let (_, kept) = run(&mut ctx, &first, true);
    assert_eq!(kept, 0, "an empty context holds nothing to reuse");
    let (reused_text, kept) = run(&mut ctx, &second, true);
    assert_eq!(kept, 6, "the first 6 tokens were cached");
    assert_eq!(ctx.n_past(), second.len() + 8);
    // The same computation without reuse: the first prompt, cut back to 6, the rest evaluated.
    let mut fresh = Context::new(&model, params).unwrap();
    run(&mut fresh, &first, false);
    fresh.truncate(6);
    let mut sampler = greedy(&vocab);
    for &t in &second[..6] {
        sampler.accept(t);
    }
    let mut text = String::new();
    generate(
        &mut fresh,
        &vocab,
        &mut sampler,
        &second[6..],
        rules(),
        &Serial,
        &mut |t| {
            text.push_str(t);
            true
        },
    )
    .unwrap();
    assert_eq!(reused_text, text);
    assert!(!text.is_empty());
}

/// Log-probabilities reported with each greedy token: the sampled token is the most likely
/// one, its log-probability is the first alternative's, the alternatives are ordered and their
/// probabilities sum to at most 1 (the exact values of the log-softmax are unit-tested in
/// `sampling::logprobs`).
#[test]
fn logprobs_come_with_each_token() {
    let model = Model::load(smollm2_path()).unwrap();
    let vocab = Vocab::from_gguf(model.header()).unwrap();
    let prompt = vocab
        .tokenize("The capital of France is", true, false)
        .unwrap();
    let mut ctx = Context::new(
        &model,
        ContextParams {
            n_ctx: 64,
            ..Default::default()
        },
    )
    .unwrap();
    let mut sampler = greedy(&vocab);
    let rules = StopRules {
        n_predict: Some(4),
        ..Default::default()
    };
    let mut g = Generation::new(&mut ctx, &vocab, &mut sampler, rules).with_logprobs(5);
    g.feed(&prompt, &Serial).unwrap();
    let mut n = 0;
    while let Step::Token { id, .. } = g.next(&Serial).unwrap() {
        let lp = *g.last_logprob().unwrap();
        assert_eq!(lp.id, id);
        assert_eq!(lp.n_top, 5);
        assert_eq!(
            lp.top()[0],
            (id, lp.logprob),
            "greedy takes the most likely"
        );
        assert!(lp.logprob < 0.0 && lp.top().windows(2).all(|w| w[0].1 >= w[1].1));
        let total: f32 = lp.top().iter().map(|t| t.1.exp()).sum();
        assert!(total <= 1.0 + 1e-6);
        n += 1;
    }
    assert_eq!(n, 4);
}

/// Prompt log-probabilities (`echo=True, logprobs=N`): the first token has none, each other is
/// predicted by the logits before it, whatever the step size; the entry of a token equals what
/// generation reports when it samples that token after the same prefix.
#[test]
fn prompt_logprobs_match_generation() {
    use llamette::generate::prompt_logprobs;
    let model = Model::load(smollm2_path()).unwrap();
    let vocab = Vocab::from_gguf(model.header()).unwrap();
    let prompt = vocab
        .tokenize("The capital of France is", true, false)
        .unwrap();
    let ctx_params = |n_batch| ContextParams {
        n_ctx: 64,
        n_batch,
        logits_all: true,
        ..Default::default()
    };
    // Generation's first greedy token after the prompt, with its log-probability.
    let mut ctx = Context::new(&model, ctx_params(512)).unwrap();
    let mut sampler = greedy(&vocab);
    let rules = StopRules {
        n_predict: Some(1),
        ..Default::default()
    };
    let mut g = Generation::new(&mut ctx, &vocab, &mut sampler, rules).with_logprobs(3);
    g.feed(&prompt, &Serial).unwrap();
    let Step::Token { id, .. } = g.next(&Serial).unwrap() else {
        panic!("no token")
    };
    let want = *g.last_logprob().unwrap();
    let mut full = prompt.clone();
    full.push(id);
    let mut results = Vec::new();
    for n_batch in [512, 3] {
        let mut ctx = Context::new(&model, ctx_params(n_batch)).unwrap();
        let lp = prompt_logprobs(&mut ctx, &full, &[], 3, &Serial).unwrap();
        assert_eq!(lp.len(), full.len());
        assert!(lp[0].is_none());
        assert!(lp[1..].iter().all(|e| e.is_some()));
        let last = lp.last().unwrap().unwrap();
        assert_eq!(last.id, id);
        assert_eq!(last.logprob, want.logprob, "n_batch {n_batch}");
        assert_eq!(last.top(), want.top(), "n_batch {n_batch}");
        assert_eq!(ctx.n_past(), full.len());
        results.push(lp);
    }
    assert_eq!(results[0], results[1], "the step size changes nothing");
    // Without logits_all it is refused.
    let mut ctx = Context::new(&model, ContextParams::default()).unwrap();
    assert!(prompt_logprobs(&mut ctx, &full, &[], 3, &Serial).is_err());
}
