//! Mask time per token: how long the grammar constraint takes to decide which tokens may come
//! next, on a real vocabulary, while a JSON document is fed through it token by token; next to
//! a model's time per generated token.
//!
//! ```text
//! cargo run --release --features grammar --example grammar_mask -- \
//!     [--vocab tests/fixtures/vocab/codellama-70b-instruct-vocab.gguf] [--model MODEL.gguf] [--threads N]
//! ```
//!
//! The document is tokenized with the vocabulary; each step times [`Constraint::apply`] over
//! the whole vocabulary (one candidate per token, as the sampler gives it) and then accepts the
//! document's next token. Three constraints: a JSON schema (llguidance's schema compiler), the
//! same language as llama.cpp's `json.gbnf` GBNF grammar (translated to one-character
//! terminals), and any JSON object. With `--model`, the model's time per token is measured by
//! evaluating 32 tokens one at a time after a 16-token prompt.

use std::time::Instant;

use llamette::gguf::GgufFile;
use llamette::grammar::{Grammar, GrammarVocab};
use llamette::sampling::{Candidates, Constraint};
use llamette::tokenizer::Vocab;
use llamette::{Context, ContextParams, Model, ThreadPool};

const SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "file": {"type": "string"},
    "line": {"type": "integer", "minimum": 1},
    "edits": {"type": "array", "items": {
      "type": "object",
      "properties": {"op": {"enum": ["insert", "delete", "replace"]}, "text": {"type": "string"}},
      "required": ["op", "text"]
    }},
    "done": {"type": "boolean"}
  },
  "required": ["file", "line", "edits", "done"]
}"#;

const DOC: &str = r#"{"file": "src/main.rs", "line": 42, "edits": [{"op": "replace", "text": "let total = items.iter().map(|x| x.price * x.count).sum::<u64>();"}, {"op": "insert", "text": "println!(\"total: {total}\");"}], "done": true}"#;

fn stats(mut us: Vec<f64>) -> (f64, f64, f64) {
    us.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mean = us.iter().sum::<f64>() / us.len() as f64;
    let p50 = us[us.len() / 2];
    let p99 = us[(us.len() * 99 / 100).min(us.len() - 1)];
    (mean, p50, p99)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut vocab_path = "tests/fixtures/vocab/codellama-70b-instruct-vocab.gguf".to_string();
    let mut model_path = None;
    let mut threads = 2;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--vocab" => vocab_path = args.next().ok_or("--vocab needs a path")?,
            "--model" => model_path = Some(args.next().ok_or("--model needs a path")?),
            "--threads" => threads = args.next().ok_or("--threads needs N")?.parse()?,
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let file = GgufFile::open(&vocab_path)?;
    let vocab = Vocab::from_gguf(file.header())?;
    let t0 = Instant::now();
    let gv = GrammarVocab::new(&vocab)?;
    println!(
        "vocabulary: {vocab_path} ({} tokens), prepared in {:.1} ms",
        vocab.n_tokens(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    // SentencePiece vocabularies put a space before the first word: the document starts at
    // its first byte, so that space goes.
    let mut doc: Vec<u32> = vocab.tokenize(DOC, false, false)?;
    let first = vocab.token_to_piece(doc[0], false)?;
    if first.first() == Some(&b' ') {
        let rest = String::from_utf8_lossy(&first[1..]).into_owned();
        doc[0] = vocab
            .token_id(&rest)
            .ok_or("no token for the document's first character")?;
    }
    let json_gbnf = std::fs::read_to_string("tests/fixtures/grammar/gbnf/json.gbnf")?;
    let grammars = [
        ("JSON schema", Grammar::json_schema(SCHEMA)?),
        ("GBNF json.gbnf", Grammar::gbnf(&json_gbnf)?),
        ("any JSON object", Grammar::json_object()),
    ];
    println!("document: {} tokens", doc.len());
    println!("| constraint | compile ms | mask mean us | p50 us | p99 us | accept mean us |");
    println!("|---|---|---|---|---|---|");
    let logits = vec![0.0f32; vocab.n_tokens()];
    let mut cands = Candidates::try_with_capacity(vocab.n_tokens()).ok_or("memory")?;
    for (name, g) in &grammars {
        let t = Instant::now();
        let mut c = gv.constraint(g)?;
        let compile = t.elapsed().as_secs_f64() * 1e3;
        let mut us = Vec::with_capacity(doc.len());
        let mut accept_us = 0.0;
        for &tok in &doc {
            cands.fill_from_logits(&logits);
            let t = Instant::now();
            c.apply(&mut cands)?;
            us.push(t.elapsed().as_secs_f64() * 1e6);
            if !cands.iter().any(|d| d.id == tok) {
                return Err(format!("{name}: the document's token {tok} is not allowed").into());
            }
            let t = Instant::now();
            c.accept(tok)?;
            accept_us += t.elapsed().as_secs_f64() * 1e6;
        }
        if !c.is_accepting() {
            return Err(format!("{name}: the document is not complete").into());
        }
        let accept = accept_us / doc.len() as f64;
        let (mean, p50, p99) = stats(us);
        println!("| {name} | {compile:.1} | {mean:.0} | {p50:.0} | {p99:.0} | {accept:.1} |");
    }
    if let Some(path) = model_path {
        let model = Model::load(&path)?;
        let mvocab = Vocab::from_gguf(model.header())?;
        let mut ctx = Context::new(
            &model,
            ContextParams {
                n_ctx: 128,
                ..Default::default()
            },
        )?;
        let pool = ThreadPool::new(threads);
        let prompt = mvocab.tokenize(
            "The quick brown fox jumps over the lazy dog, and then",
            true,
            false,
        )?;
        ctx.eval(&prompt[..prompt.len().min(16)], &pool)?;
        let t = Instant::now();
        let n = 32;
        for i in 0..n {
            ctx.eval(&[prompt[i % prompt.len()]], &pool)?;
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("model {path}: {per:.0} us per token ({threads} threads)");
    }
    Ok(())
}
