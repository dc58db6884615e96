//! `llamette`: run a GGUF model from the command line, with the flags llama.cpp users type.
//!
//! ```text
//! cargo run --release --example llamette -- -p "Write a haiku about Rust." -cnv
//! cargo run --release --example llamette -- -m MODEL.gguf -c 4096 --temp 0.7 --repeat-penalty 1.1 -n -1 -p PROMPT
//! cargo run --release --example llamette -- -m VOCAB.gguf -p "text" --tokenize
//! ```
//!
//! Without `-m` it runs SmolLM2-135M-Instruct, fetched once into `models/` by
//! `scripts/fetch-smollm2.sh`. Text streams to stdout; timings go to stderr at the end. Errors
//! are one line on stderr: exit code 2 for bad usage, 1 for anything else.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use llamette::chat::{ChatFormat, Message};
use llamette::generate::{Generation, Step, StopReason, StopRules, Timings};
use llamette::gguf::GgufFile;
use llamette::sampling::{Sampler, SamplerParams};
use llamette::tokenizer::Vocab;
use llamette::{Context, ContextParams, Model, ThreadPool};

const USAGE: &str =
    "usage: llamette [-m MODEL] [-p PROMPT | -f FILE] [-n N] [-c N] [-t N] [--temp T] \
[--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--repeat-last-n N] [--seed S] \
[--system TEXT] [-cnv|--chat] [--verbose-prompt] [--tokenize] [--no-mmap]";

/// The default model, relative to the repository.
const DEFAULT_MODEL: &str = "models/smollm2-135m-instruct.q4_1.gguf";

struct Args {
    model: Option<PathBuf>,
    prompt: Option<String>,
    n_predict: Option<usize>,
    ctx_size: usize,
    threads: usize,
    sampling: SamplerParams,
    seed_given: bool,
    system: Option<String>,
    chat: bool,
    verbose_prompt: bool,
    tokenize: bool,
    no_mmap: bool,
}

/// The most threads `-t` takes.
const MAX_THREADS: usize = 1024;

/// `eprintln!` without its panic when stderr cannot be written (closed, a full disk).
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// `eprint!` without its panic.
macro_rules! say_inline {
    ($($t:tt)*) => {{
        let _ = write!(std::io::stderr(), $($t)*);
        let _ = std::io::stderr().flush();
    }};
}

enum Failure {
    Usage(String),
    Run(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Run(e.to_string())
    }
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(format!("{}\n{USAGE}", msg.into()))
}

fn parse_args() -> Result<Args, Failure> {
    let mut a = Args {
        model: None,
        prompt: None,
        n_predict: None,
        ctx_size: 4096,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        sampling: SamplerParams::default(),
        seed_given: false,
        system: None,
        chat: false,
        verbose_prompt: false,
        no_mmap: false,
        tokenize: false,
    };
    // Arguments that are not UTF-8 are a usage error (`std::env::args` would panic on them).
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        let arg = arg.into_string().map_err(|a| {
            usage(format!(
                "argument is not valid UTF-8: {}",
                a.to_string_lossy()
            ))
        })?;
        args.push(arg);
    }
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| usage(format!("{name} needs a value")))
        };
        macro_rules! num {
            ($name:expr) => {{
                let v = value($name)?;
                v.parse()
                    .map_err(|_| usage(format!("{}: not a number: {v}", $name)))?
            }};
        }
        match flag.as_str() {
            "-m" | "--model" => a.model = Some(PathBuf::from(value(&flag)?)),
            "-p" | "--prompt" => a.prompt = Some(value(&flag)?),
            "-f" | "--file" => {
                let path = value(&flag)?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| Failure::Run(format!("{path}: {e}")))?;
                a.prompt = Some(text);
            }
            "-n" | "--n-predict" => {
                let n: i64 = num!(&flag);
                a.n_predict = usize::try_from(n).ok();
            }
            "-c" | "--ctx-size" => a.ctx_size = num!(&flag),
            "-t" | "--threads" => {
                a.threads = num!(&flag);
                if a.threads > MAX_THREADS {
                    return Err(usage(format!(
                        "{flag} {}: at most {MAX_THREADS} threads",
                        a.threads
                    )));
                }
            }
            "--temp" => a.sampling.temp = num!(&flag),
            "--top-k" => a.sampling.top_k = num!(&flag),
            "--top-p" => a.sampling.top_p = num!(&flag),
            "--min-p" => a.sampling.min_p = num!(&flag),
            "--repeat-penalty" => a.sampling.penalty_repeat = num!(&flag),
            "--repeat-last-n" => a.sampling.penalty_last_n = num!(&flag),
            "--seed" => {
                a.sampling.seed = num!(&flag);
                a.seed_given = true;
            }
            "--system" => a.system = Some(value(&flag)?),
            "-cnv" | "--chat" | "--conversation" => a.chat = true,
            "--verbose-prompt" => a.verbose_prompt = true,
            "--tokenize" => a.tokenize = true,
            "--no-mmap" => a.no_mmap = true,
            "-h" | "--help" => return Err(Failure::Usage(USAGE.to_string())),
            other => return Err(usage(format!("unknown argument: {other}"))),
        }
    }
    a.threads = a.threads.max(1);
    Ok(a)
}

/// The model to run: `-m`, or the default one, fetched on first use.
fn model_path(a: &Args) -> Result<PathBuf, Failure> {
    if let Some(m) = &a.model {
        return Ok(m.clone());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join(DEFAULT_MODEL);
    if !path.exists() {
        say!("llamette: no -m given; fetching the default model SmolLM2-135M-Instruct once");
        let status = std::process::Command::new("bash")
            .arg(root.join("scripts/fetch-smollm2.sh"))
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| Failure::Run(format!("running scripts/fetch-smollm2.sh: {e}")))?;
        if !status.success() || !path.exists() {
            return Err(Failure::Run(
                "fetching the default model failed (scripts/fetch-smollm2.sh)".into(),
            ));
        }
    }
    Ok(path)
}

fn print_tokens(vocab: &Vocab, ids: &[u32]) {
    say!("llamette: prompt is {} tokens:", ids.len());
    for &id in ids {
        let piece = vocab.token_to_piece(id, true).unwrap_or(b"?");
        say!("{id:>8} -> '{}'", String::from_utf8_lossy(piece));
    }
}

fn run() -> Result<(), Failure> {
    let a = parse_args()?;
    let path = model_path(&a)?;

    if a.tokenize {
        // Works on vocabulary-only files: no model is built.
        let file =
            GgufFile::open(&path).map_err(|e| Failure::Run(format!("{}: {e}", path.display())))?;
        let vocab = Vocab::from_gguf(&file)?;
        let ids = vocab.tokenize(a.prompt.as_deref().unwrap_or(""), true, true)?;
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        writeln!(std::io::stdout(), "[{}]", list.join(", "))?;
        return Ok(());
    }

    let t_load = Instant::now();
    let model = if a.no_mmap {
        Model::load_resident(&path)
    } else {
        Model::load(&path)
    };
    let model = model.map_err(|e| Failure::Run(format!("{}: {e}", path.display())))?;
    let vocab = Vocab::from_gguf(model.header())?;
    let n_ctx = if a.ctx_size == 0 {
        model.config().n_ctx_train
    } else {
        a.ctx_size
    };
    let params = ContextParams {
        n_ctx,
        ..ContextParams::default()
    };
    let mut ctx = Context::new(&model, params)?;
    let load_seconds = t_load.elapsed().as_secs_f64();
    let pool = ThreadPool::new(a.threads);
    let mut sampling = a.sampling.clone();
    if !a.seed_given {
        sampling.seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    }
    let mut sampler = Sampler::new(vocab.n_tokens(), sampling.clone())?;
    let mut out = std::io::stdout().lock();
    let mut totals = Timings::default();

    if !a.chat {
        let ids = vocab.tokenize(a.prompt.as_deref().unwrap_or(""), true, true)?;
        if a.verbose_prompt {
            print_tokens(&vocab, &ids);
        }
        check_fits(ids.len(), n_ctx)?;
        let rules = StopRules {
            n_predict: a.n_predict,
            ..StopRules::default()
        };
        run_turn(
            &mut ctx,
            &vocab,
            &mut sampler,
            &ids,
            rules,
            &pool,
            &mut out,
            &mut totals,
        )?;
        writeln!(out)?;
    } else {
        let header = model.header();
        let format = ChatFormat::from_header(header).ok_or_else(|| {
            Failure::Run("the model has no chat template llamette knows (codellama-70b, llama2, chatml, llama3)".into())
        })?;
        let stops = format.stop_tokens(&vocab);
        let mut turns: Vec<(String, String)> = Vec::new();
        if let Some(s) = &a.system {
            turns.push(("system".into(), s.clone()));
        }
        let mut in_cache: Vec<u32> = Vec::new();
        let stdin = std::io::stdin();
        let interactive = stdin.is_terminal();
        let mut next_user = a.prompt.clone();
        loop {
            let user = match next_user.take() {
                Some(u) => u,
                None => {
                    if interactive {
                        say_inline!("\n> ");
                    }
                    let mut line = String::new();
                    if stdin.lock().read_line(&mut line)? == 0 {
                        break;
                    }
                    line.trim_end_matches(['\n', '\r']).to_string()
                }
            };
            turns.push(("user".into(), user));
            let messages: Vec<Message> = turns.iter().map(|(r, c)| Message::new(r, c)).collect();
            let ids = format.render_ids(&vocab, &messages, true)?;
            if a.verbose_prompt {
                print_tokens(&vocab, &ids);
            }
            check_fits(ids.len(), n_ctx)?;
            // Keep the cached prefix the conversation shares with what was evaluated before.
            let same = in_cache
                .iter()
                .zip(&ids)
                .take_while(|(x, y)| x == y)
                .count();
            ctx.truncate(same);
            let rules = StopRules {
                n_predict: a.n_predict,
                stop_tokens: stops.clone(),
                ..StopRules::default()
            };
            let (text, generated) = run_turn(
                &mut ctx,
                &vocab,
                &mut sampler,
                &ids[same..],
                rules,
                &pool,
                &mut out,
                &mut totals,
            )?;
            writeln!(out)?;
            in_cache = ids;
            in_cache.extend_from_slice(&generated);
            turns.push(("assistant".into(), text));
        }
    }
    out.flush()?;
    say!(
        "llamette: load {:.0} ms; prompt {} tokens in {:.0} ms ({:.2} tokens/s); generation {} tokens in {:.0} ms ({:.2} tokens/s); seed {}",
        load_seconds * 1e3,
        totals.prompt_tokens,
        totals.prompt_seconds * 1e3,
        totals.prompt_tokens_per_second(),
        totals.generated_tokens,
        totals.generation_seconds * 1e3,
        totals.generation_tokens_per_second(),
        sampling.seed
    );
    Ok(())
}

fn check_fits(n: usize, n_ctx: usize) -> Result<(), Failure> {
    if n >= n_ctx {
        return Err(Failure::Run(format!(
            "the prompt is {n} tokens, the context holds {n_ctx} (raise -c)"
        )));
    }
    Ok(())
}

/// Evaluates `prompt` and generates one answer, streaming it; returns its text and tokens.
#[allow(clippy::too_many_arguments)]
fn run_turn(
    ctx: &mut Context,
    vocab: &Vocab,
    sampler: &mut Sampler,
    prompt: &[u32],
    rules: StopRules,
    pool: &ThreadPool,
    out: &mut impl Write,
    totals: &mut Timings,
) -> Result<(String, Vec<u32>), Failure> {
    let mut g = Generation::new(ctx, vocab, sampler, rules);
    let t0 = Instant::now();
    if !prompt.is_empty() {
        g.feed(prompt, pool)?;
    }
    let t1 = Instant::now();
    let mut text = String::new();
    let mut ids = Vec::new();
    loop {
        match g.next(pool)? {
            Step::Token { id, text: piece } => {
                ids.push(id);
                out.write_all(piece.as_bytes())?;
                out.flush()?;
                text.push_str(&piece);
            }
            Step::Done {
                reason,
                text: piece,
            } => {
                out.write_all(piece.as_bytes())?;
                text.push_str(&piece);
                if reason == StopReason::ContextFull {
                    say!("\nllamette: the context is full (raise -c)");
                }
                break;
            }
        }
    }
    totals.prompt_tokens += prompt.len();
    totals.prompt_seconds += (t1 - t0).as_secs_f64();
    totals.generated_tokens += g.n_generated();
    totals.generation_seconds += t1.elapsed().as_secs_f64();
    Ok((text, ids))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            say!("llamette: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Run(msg)) => {
            say!("llamette: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
