//! Prompt-processing and generation speed, measured like llama-bench and like the project's
//! `peer_bench.py` for llama.cpp, so the two can be compared in the same run:
//!
//! ```text
//! cargo run --release --example bench -- MODEL.gguf [-t THREADS] [-p 128] [-n 64] [--reps 3] [--resident]
//! ```
//!
//! `--resident` loads with [`Model::load_resident`] (the file copied into memory backed by
//! transparent huge pages) instead of mapping it ([`Model::load`]).
//!
//! pp: one batch of P prompt tokens; tg: N tokens evaluated one at a time after it, each
//! followed by an argmax over the logits. After one warm-up run, the medians over `--reps` runs
//! are printed as one JSON line: `{"engine","model","threads","pp","tg"}` in tokens per second.

use std::process::ExitCode;
use std::time::Instant;

use llamette::{Context, ContextParams, Model, ThreadPool};

struct Args {
    model: String,
    threads: usize,
    p: usize,
    n: usize,
    reps: usize,
    resident: bool,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: bench MODEL.gguf [-t THREADS] [-p 128] [-n 64] [--reps 3] [--resident]";
    let mut a = Args {
        model: String::new(),
        threads: 2,
        p: 128,
        n: 64,
        reps: 3,
        resident: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |flag: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{flag} needs a number\n{usage}"))
        };
        match arg.as_str() {
            "-t" | "--threads" => a.threads = num("-t")?.max(1),
            "-p" => a.p = num("-p")?.max(1),
            "-n" => a.n = num("-n")?,
            "--reps" => a.reps = num("--reps")?.max(1),
            "--resident" => a.resident = true,
            "-h" | "--help" => return Err(usage.into()),
            s if s.starts_with('-') => return Err(format!("unknown flag {s}\n{usage}")),
            s => a.model = s.to_string(),
        }
    }
    if a.model.is_empty() {
        return Err(usage.into());
    }
    Ok(a)
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn run() -> Result<(), String> {
    let a = parse_args()?;
    let model = if a.resident {
        Model::load_resident(&a.model)
    } else {
        Model::load(&a.model)
    }
    .map_err(|e| format!("{}: {e}", a.model))?;
    let n_vocab = model.config().n_vocab;
    // A fixed pseudo-random prompt of ordinary tokens (ids 100.. like peer_bench.py).
    let hi = n_vocab.clamp(101, 30000) as u64;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let prompt: Vec<u32> = (0..a.p)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (100 + state % (hi - 100)) as u32
        })
        .collect();
    let pool = ThreadPool::new(a.threads);
    let params = ContextParams {
        n_ctx: a.p + a.n + 16,
        n_batch: a.p,
        ..Default::default()
    };
    let mut ctx = Context::new(&model, params).map_err(|e| e.to_string())?;
    let (mut pps, mut tgs) = (Vec::new(), Vec::new());
    for rep in 0..=a.reps {
        ctx.clear();
        let t0 = Instant::now();
        ctx.eval(&prompt, &pool).map_err(|e| e.to_string())?;
        let t1 = Instant::now();
        let mut tok = argmax(ctx.logits());
        for _ in 0..a.n {
            ctx.eval(&[tok], &pool).map_err(|e| e.to_string())?;
            tok = argmax(ctx.logits());
        }
        let t2 = Instant::now();
        if rep > 0 {
            pps.push(a.p as f64 / (t1 - t0).as_secs_f64());
            tgs.push(a.n as f64 / (t2 - t1).as_secs_f64());
        }
    }
    let name = std::path::Path::new(&a.model)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    println!(
        "{{\"engine\": \"llamette\", \"model\": \"{}\", \"threads\": {}, \"pp\": {:.2}, \"tg\": {:.2}}}",
        name.replace('"', "\\\""),
        a.threads,
        median(pps),
        if a.n > 0 { median(tgs) } else { 0.0 }
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
