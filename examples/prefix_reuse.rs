//! Time to first token of a second request that shares a long prefix with the first (a source
//! file, then a question), with and without `Context::reuse_prefix`: medians of a few rounds,
//! one JSON line.
//!
//! ```text
//! cargo run --release --example prefix_reuse -- [MODEL.gguf] [-t THREADS] [--prefix N] [--rounds R]
//! ```
//!
//! Defaults: SmolLM2-135M-Instruct (`scripts/fetch-smollm2.sh`), 2 threads, a 1000-token
//! prefix cut from `tests/fixtures/bench/source-100k.rs.txt`, 5 rounds.

use std::process::ExitCode;
use std::time::Instant;

use llamette::tokenizer::Vocab;
use llamette::{Context, ContextParams, Model, ThreadPool};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run() -> Result<(), String> {
    let mut model_path = String::from("models/smollm2-135m-instruct.q4_1.gguf");
    let (mut threads, mut prefix_len, mut rounds) = (2usize, 1000usize, 5usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "-t" => threads = num("-t")?,
            "--prefix" => prefix_len = num("--prefix")?,
            "--rounds" => rounds = num("--rounds")?.max(1),
            _ => model_path = a,
        }
    }
    let model = Model::load(&model_path).map_err(|e| format!("{e} (scripts/fetch-smollm2.sh)"))?;
    let vocab = Vocab::from_gguf(model.header()).map_err(|e| e.to_string())?;
    let source = std::fs::read_to_string("tests/fixtures/bench/source-100k.rs.txt")
        .map_err(|e| format!("tests/fixtures/bench/source-100k.rs.txt: {e}"))?;
    let mut prefix = vocab
        .tokenize(&source, true, false)
        .map_err(|e| e.to_string())?;
    prefix.truncate(prefix_len);
    let question = |q: &str| {
        let mut ids = prefix.clone();
        ids.extend(vocab.tokenize(q, false, false).unwrap_or_default());
        ids
    };
    let first = question("\n// Question: what does this file do?\n");
    let second = question("\n// Question: which function is the longest?\n");
    let params = ContextParams {
        n_ctx: 2048,
        ..ContextParams::default()
    };
    let mut ctx = Context::new(&model, params).map_err(|e| e.to_string())?;
    let pool = ThreadPool::new(threads);
    let (mut with, mut without, mut kept) = (Vec::new(), Vec::new(), 0);
    for _ in 0..rounds {
        // The first request, then the second reusing what it can.
        ctx.clear();
        ctx.eval(&first, &pool).map_err(|e| e.to_string())?;
        let t = Instant::now();
        kept = ctx.reuse_prefix(&second);
        ctx.eval(&second[kept..], &pool)
            .map_err(|e| e.to_string())?;
        with.push(t.elapsed().as_secs_f64());
        // The second request evaluated from scratch.
        ctx.clear();
        let t = Instant::now();
        ctx.eval(&second, &pool).map_err(|e| e.to_string())?;
        without.push(t.elapsed().as_secs_f64());
    }
    let (w, wo) = (median(with), median(without));
    println!(
        "{{\"model\":\"{model_path}\",\"threads\":{threads},\"prefix\":{},\"second_prompt\":{},\"reused\":{kept},\"ttft_without_s\":{wo:.4},\"ttft_with_s\":{w:.4},\"speedup\":{:.1}}}",
        prefix.len(),
        second.len(),
        wo / w
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prefix_reuse: {e}");
            ExitCode::FAILURE
        }
    }
}
