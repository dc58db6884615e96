//! Aggregate throughput of several sequences in one context, as llama.cpp's
//! `llama-batched-bench` measures it: for each prompt length PP, generation length TG and
//! number of parallel sequences B, the context is cleared, B prompts of PP random tokens are
//! evaluated (one batch, in steps of `n_batch`), then TG batches of one token per sequence.
//! Prints llama-batched-bench's table (T_PP, S_PP = B*PP/T_PP, T_TG, S_TG = B*TG/T_TG, T, S)
//! and, with `--jsonl`, one JSON line per row with the same fields.
//!
//! ```text
//! cargo run --release --example batched_bench -- -m MODEL.gguf -npp 128 -ntg 32 -npl 1,2,4,8 [-t 2] [-c 4096] [-pps] [--resident] [--jsonl]
//! ```

use std::process::ExitCode;
use std::time::Instant;

use llamette::model::{BatchToken, SeqSet};
use llamette::{Context, ContextParams, Model, ThreadPool};

struct Args {
    model: String,
    pp: Vec<usize>,
    tg: Vec<usize>,
    pl: Vec<usize>,
    threads: usize,
    n_ctx: usize,
    n_batch: usize,
    shared: bool,
    resident: bool,
    jsonl: bool,
}

fn list(v: &str) -> Result<Vec<usize>, String> {
    v.split(',')
        .map(|x| x.trim().parse().map_err(|_| format!("not a number: {x}")))
        .collect()
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        model: String::new(),
        pp: vec![128],
        tg: vec![32],
        pl: vec![1, 2, 4, 8],
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        n_ctx: 4096,
        n_batch: 512,
        shared: false,
        resident: false,
        jsonl: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(f) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{f} needs a value"));
        match f.as_str() {
            "-m" | "--model" => a.model = val()?,
            "-npp" => a.pp = list(&val()?)?,
            "-ntg" => a.tg = list(&val()?)?,
            "-npl" => a.pl = list(&val()?)?,
            "-t" => a.threads = list(&val()?)?[0].max(1),
            "-c" => a.n_ctx = list(&val()?)?[0],
            "-ub" | "-b" => a.n_batch = list(&val()?)?[0].max(1),
            "-pps" => a.shared = true,
            "--resident" => a.resident = true,
            "--jsonl" => a.jsonl = true,
            _ => return Err(format!("unknown flag {f}")),
        }
    }
    if a.model.is_empty() {
        return Err("-m MODEL.gguf is required".into());
    }
    Ok(a)
}

/// A small deterministic generator for the random tokens (the values do not matter).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as u32
    }
}

fn run() -> Result<(), String> {
    let a = parse()?;
    let model = if a.resident {
        Model::load_resident(&a.model)
    } else {
        Model::load(&a.model)
    }
    .map_err(|e| e.to_string())?;
    let n_vocab = model.config().n_vocab;
    let max_pl = a.pl.iter().copied().max().unwrap_or(1);
    let params = ContextParams {
        n_ctx: a.n_ctx,
        n_batch: a.n_batch,
        n_seq_max: max_pl,
        ..ContextParams::default()
    };
    let mut ctx = Context::new(&model, params).map_err(|e| e.to_string())?;
    let pool = ThreadPool::new(a.threads);
    let mut rng = Lcg(1);
    // Warm-up, as llama-batched-bench does: 16 tokens.
    let warm: Vec<u32> = (0..16).map(|_| rng.next(n_vocab)).collect();
    ctx.eval(&warm, &pool).map_err(|e| e.to_string())?;
    if !a.jsonl {
        println!(
            "\nbatched_bench: n_kv_max = {}, n_batch = {}, is_pp_shared = {}, n_threads = {}\n",
            a.n_ctx,
            a.n_batch,
            u8::from(a.shared),
            a.threads
        );
        println!(
            "|{:>6} | {:>6} | {:>4} | {:>6} | {:>8} | {:>8} | {:>8} | {:>8} | {:>8} | {:>8} |",
            "PP", "TG", "B", "N_KV", "T_PP s", "S_PP t/s", "T_TG s", "S_TG t/s", "T s", "S t/s"
        );
        println!("|-------|--------|------|--------|----------|----------|----------|----------|----------|----------|");
    }
    for &pp in &a.pp {
        for &tg in &a.tg {
            for &pl in &a.pl {
                let n_kv = if a.shared {
                    pp + pl * tg
                } else {
                    pl * (pp + tg)
                };
                if n_kv > a.n_ctx || pl == 0 {
                    continue;
                }
                ctx.clear();
                let n_prompts = if a.shared { 1 } else { pl };
                let mut batch = Vec::with_capacity(pp * n_prompts);
                for j in 0..n_prompts {
                    for i in 0..pp {
                        let seqs = if a.shared {
                            (0..pl).fold(SeqSet::default(), |s, q| s.with(q))
                        } else {
                            SeqSet::one(j)
                        };
                        batch.push(BatchToken {
                            token: rng.next(n_vocab),
                            pos: i,
                            seqs,
                            logits: i + 1 == pp,
                        });
                    }
                }
                let t0 = Instant::now();
                if !batch.is_empty() {
                    // Sequence by sequence in steps of n_batch (the context splits a long
                    // batch itself; the logits rows it keeps are one per sequence).
                    ctx.decode(&batch, &pool).map_err(|e| e.to_string())?;
                }
                let t_pp = t0.elapsed().as_secs_f64();
                let t1 = Instant::now();
                let mut step = Vec::with_capacity(pl);
                for i in 0..tg {
                    step.clear();
                    for j in 0..pl {
                        step.push(BatchToken::new(rng.next(n_vocab), pp + i, j, true));
                    }
                    ctx.decode(&step, &pool).map_err(|e| e.to_string())?;
                }
                let t_tg = t1.elapsed().as_secs_f64();
                let (s_pp, s_tg) = (
                    (n_prompts * pp) as f64 / t_pp.max(1e-9),
                    (pl * tg) as f64 / t_tg.max(1e-9),
                );
                let t = t_pp + t_tg;
                let s = n_kv as f64 / t.max(1e-9);
                if a.jsonl {
                    println!(
                        "{{\"engine\":\"llamette\",\"n_kv_max\":{},\"n_batch\":{},\"is_pp_shared\":{},\"n_threads\":{},\"pp\":{pp},\"tg\":{tg},\"pl\":{pl},\"n_kv\":{n_kv},\"t_pp\":{t_pp:.6},\"speed_pp\":{s_pp:.3},\"t_tg\":{t_tg:.6},\"speed_tg\":{s_tg:.3},\"t\":{t:.6},\"speed\":{s:.3}}}",
                        a.n_ctx,
                        a.n_batch,
                        u8::from(a.shared),
                        a.threads
                    );
                } else {
                    println!(
                        "|{pp:>6} | {tg:>6} | {pl:>4} | {n_kv:>6} | {t_pp:>8.3} | {s_pp:>8.2} | {t_tg:>8.3} | {s_tg:>8.2} | {t:>8.3} | {s:>8.2} |"
                    );
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("batched_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
