//! Writes what llamette computes for a prompt, for comparing with another engine tensor by
//! tensor (`scripts/shape/compare.py` does that against llama.cpp's eval callback):
//!
//! ```text
//! cargo run --release --example dump -- MODEL.gguf --tokens 1,450,4996 --out DIR [--n-gen 16] [--trace] [-t 2]
//! ```
//!
//! `DIR/logits.f32`: the logits of every prompt position (little-endian f32, position-major),
//! `DIR/greedy.txt`: the greedy continuation's ids, one line, then its logits
//! `DIR/gen_logits.f32` (the logits after each generated token). With `--trace`, every
//! intermediate tensor of the prompt's evaluation goes to `DIR/<name>-<layer>.f32` (token-major,
//! named as in llama.cpp's graph; layer `-` for the ones outside the layers).

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use llamette::{Context, ContextParams, Model, Parallel, Serial, ThreadPool};

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn run() -> Result<(), String> {
    let usage = "usage: dump MODEL.gguf --tokens ID,ID,... --out DIR [--n-gen N] [--trace] [-t N]";
    let mut it = std::env::args().skip(1);
    let (mut model, mut tokens, mut out) = (None, None, None);
    let (mut n_gen, mut trace, mut threads) = (16usize, false, 1usize);
    while let Some(a) = it.next() {
        let mut val = |f: &str| {
            it.next()
                .ok_or_else(|| format!("{f} needs a value\n{usage}"))
        };
        match a.as_str() {
            "--tokens" => {
                let v = val("--tokens")?;
                let ids: Result<Vec<u32>, _> = v.split(',').map(|s| s.trim().parse()).collect();
                tokens = Some(ids.map_err(|e| format!("--tokens {v:?}: {e}"))?);
            }
            "--out" => out = Some(PathBuf::from(val("--out")?)),
            "--n-gen" => {
                n_gen = val("--n-gen")?
                    .parse()
                    .map_err(|e| format!("--n-gen: {e}"))?
            }
            "-t" => threads = val("-t")?.parse().map_err(|e| format!("-t: {e}"))?,
            "--trace" => trace = true,
            s if s.starts_with('-') => return Err(format!("unknown flag {s}\n{usage}")),
            _ => model = Some(PathBuf::from(a)),
        }
    }
    let (model, tokens, out) = match (model, tokens, out) {
        (Some(m), Some(t), Some(o)) => (m, t, o),
        _ => return Err(usage.into()),
    };
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let model = Model::load(&model).map_err(|e| format!("{}: {e}", model.display()))?;
    let pool;
    let par: &dyn Parallel = if threads > 1 {
        pool = ThreadPool::new(threads);
        &pool
    } else {
        &Serial
    };
    let params = ContextParams {
        n_ctx: 512,
        n_batch: tokens.len().max(1),
        logits_all: true,
        ..Default::default()
    };
    let mut ctx = Context::new(&model, params).map_err(|e| e.to_string())?;
    let write = |name: &str, bytes: &[u8]| {
        fs::write(out.join(name), bytes).map_err(|e| format!("{}: {e}", out.join(name).display()))
    };
    let mut failed = None;
    if trace {
        let mut cb = |name: &str, layer: Option<usize>, v: &[f32]| {
            let l = layer.map_or("-".to_string(), |l| l.to_string());
            if let Err(e) = write(&format!("{name}-{l}.f32"), &f32_bytes(v)) {
                failed.get_or_insert(e);
            }
        };
        ctx.eval_traced(&tokens, par, Some(&mut cb))
    } else {
        ctx.eval(&tokens, par)
    }
    .map_err(|e| e.to_string())?;
    if let Some(e) = failed {
        return Err(e);
    }
    let n_vocab = model.config().n_vocab;
    let mut all = Vec::with_capacity(tokens.len() * n_vocab);
    for i in 0..tokens.len() {
        all.extend_from_slice(ctx.logits_at(i).ok_or("missing logits")?);
    }
    write("logits.f32", &f32_bytes(&all))?;
    let mut gen = Vec::new();
    let mut gen_logits = Vec::new();
    let mut next = argmax(ctx.logits()) as u32;
    for _ in 0..n_gen {
        gen.push(next);
        ctx.eval(&[next], par).map_err(|e| e.to_string())?;
        gen_logits.extend_from_slice(ctx.logits());
        next = argmax(ctx.logits()) as u32;
    }
    let ids: Vec<String> = gen.iter().map(|t| t.to_string()).collect();
    write("greedy.txt", format!("{}\n", ids.join(",")).as_bytes())?;
    write("gen_logits.f32", &f32_bytes(&gen_logits))?;
    let mut so = std::io::stdout();
    writeln!(so, "greedy {}", ids.join(",")).map_err(|e| e.to_string())?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dump: {e}");
            ExitCode::FAILURE
        }
    }
}
