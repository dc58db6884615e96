//! `llamette`: run a GGUF model from the command line, with the flags llama.cpp users type.
//!
//! ```text
//! llamette -cnv -p "What is the capital of France?"
//! llamette -m codellama-70b-instruct.Q4_K_M.gguf --color -c 4096 --temp 0.7 --repeat_penalty 1.1 -n -1 -p PROMPT
//! llamette -m VOCAB.gguf -p "text" --tokenize
//! llamette -p "A cat as JSON:" -j '{"type": "object"}'      # with the `grammar` feature
//! ```
//!
//! `cargo install --path .` installs it; `cargo run --release -- FLAGS` runs it from a clone.
//! Without `-m` it runs SmolLM2-135M-Instruct, fetched once into the clone's `models/` by
//! `scripts/fetch-smollm2.sh`. Text streams to stdout; notes and timings go to stderr. Errors
//! are one line on stderr: exit code 2 for bad usage, 1 for anything else, 130 after Ctrl-C.

mod args;
mod term;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use llamette::chat::{ChatFormat, ChatPrompt, Message};
use llamette::generate::{Generation, Step, StopReason, StopRules, Timings};
use llamette::gguf::GgufFile;
use llamette::sampling::{Constraint, Sampler};
use llamette::tokenizer::Vocab;
use llamette::{Context, ContextParams, Error, Model, ThreadPool};

use args::{Args, ParseError, Parsed};
use term::{Colors, Line};

/// The default model, relative to the repository.
const DEFAULT_MODEL: &str = "models/smollm2-135m-instruct.q4_1.gguf";

/// `--log-disable`: no notes or timings.
static QUIET: AtomicBool = AtomicBool::new(false);

/// A line on stderr, without `eprintln!`'s panic when stderr cannot be written.
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// A note on stderr, unless `--log-disable`.
macro_rules! note {
    ($($t:tt)*) => {{
        if !QUIET.load(Ordering::Relaxed) {
            say!($($t)*);
        }
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
    /// Bad usage: the message, exit 2.
    Usage(String),
    /// Anything else: the message, exit 1.
    Run(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Run(e.to_string())
    }
}

/// A library error about the file at `path`: I/O errors already name it.
fn file_error(path: &Path, e: Error) -> Failure {
    match e {
        Error::Io { path, message } => Failure::Run(format!("{path}: {}", args::plain(&message))),
        e => Failure::Run(format!("{}: {e}", path.display())),
    }
}

/// How the program ended well.
enum Ended {
    /// Normally.
    Done,
    /// By Ctrl-C (exit 130, after the timings).
    Interrupted,
}

/// Timings of the whole run, printed at the end.
struct Report {
    load_seconds: f64,
    totals: Timings,
    seed: u64,
}

impl Report {
    fn print(&self) {
        let t = &self.totals;
        note!(
            "llamette: load {:.0} ms; prompt {} tokens in {:.0} ms ({:.2} tokens/s); generation {} tokens in {:.0} ms ({:.2} tokens/s); seed {}",
            self.load_seconds * 1e3,
            t.prompt_tokens,
            t.prompt_seconds * 1e3,
            t.prompt_tokens_per_second(),
            t.generated_tokens,
            t.generation_seconds * 1e3,
            t.generation_tokens_per_second(),
            self.seed
        );
    }
}

/// The model to run: `-m`, or the default one, fetched on first use.
fn model_path(a: &Args) -> Result<PathBuf, Failure> {
    if let Some(m) = &a.model {
        return Ok(m.clone());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join(DEFAULT_MODEL);
    let script = root.join("scripts/fetch-smollm2.sh");
    if !path.exists() {
        if !script.exists() {
            return Err(Failure::Usage(format!(
                "no -m given, and the default model's fetch script {} is gone: pass a model with -m",
                script.display()
            )));
        }
        note!(
            "llamette: no -m given; fetching the default model SmolLM2-135M-Instruct (98 MB) once"
        );
        // The script shows its progress on stderr; its stdout would mix with the answer.
        let status = std::process::Command::new("bash")
            .arg(&script)
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| Failure::Run(format!("running {}: {e}", script.display())))?;
        if !status.success() || !path.exists() {
            return Err(Failure::Run(format!(
                "fetching the default model failed ({})",
                script.display()
            )));
        }
        note!("llamette: the default model is at {}", path.display());
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

/// The number of threads to use, with a warning for odd requests.
fn thread_count(asked: Option<usize>) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match asked {
        None => cores,
        Some(0) => {
            note!("llamette: warning: -t 0: using {cores} threads, one per core");
            cores
        }
        Some(n) => {
            if n > cores {
                note!("llamette: warning: -t {n}: more threads than the {cores} cores; generation is usually slower than with -t {cores}");
            }
            n
        }
    }
}

fn run() -> Result<Ended, Failure> {
    let a = match args::parse(std::env::args_os().skip(1).collect()) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            let _ = std::io::stdout().write_all(args::help().as_bytes());
            return Ok(Ended::Done);
        }
        Ok(Parsed::Version) => {
            let _ = writeln!(std::io::stdout(), "llamette {}", env!("CARGO_PKG_VERSION"));
            return Ok(Ended::Done);
        }
        Ok(Parsed::Nothing) => return Err(Failure::Usage(args::short_usage())),
        Err(ParseError::Usage(e)) => return Err(Failure::Usage(e.0)),
        Err(ParseError::File(e)) => return Err(Failure::Run(e.0)),
    };
    QUIET.store(a.quiet, Ordering::Relaxed);
    for n in &a.notes {
        note!("llamette: {n}");
    }
    let path = model_path(&a)?;
    if path.is_dir() {
        return Err(Failure::Run(format!("{}: is a directory", path.display())));
    }

    if a.tokenize {
        // Works on vocabulary-only files: no model is built.
        let file = GgufFile::open(&path).map_err(|e| file_error(&path, e))?;
        let vocab = Vocab::from_gguf(&file).map_err(|e| file_error(&path, e))?;
        let ids = vocab.tokenize(a.prompt.as_deref().unwrap_or(""), true, true)?;
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        writeln!(std::io::stdout(), "[{}]", list.join(", "))?;
        return Ok(Ended::Done);
    }

    let threads = thread_count(a.threads);
    let t_load = Instant::now();
    let model = if a.no_mmap {
        Model::load_resident(&path)
    } else {
        Model::load(&path)
    };
    let model = model.map_err(|e| file_error(&path, e))?;
    let vocab = Vocab::from_gguf(model.header()).map_err(|e| file_error(&path, e))?;
    let n_ctx = if a.ctx_size == 0 {
        model.config().n_ctx_train
    } else {
        a.ctx_size
    };
    if a.embedding {
        return embeddings(&a, &model, &vocab, n_ctx, threads, &path);
    }
    let constraint = grammar_constraint(&a, &vocab)?;
    let params = ContextParams {
        n_ctx,
        n_batch: a.n_batch,
        ..ContextParams::default()
    };
    let mut ctx = Context::new(&model, params)?;
    let load_seconds = t_load.elapsed().as_secs_f64();
    let pool = ThreadPool::new(threads);
    let mut sampling = a.sampling.clone();
    sampling.seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64 & 0xFFFF_FFFF)
    });
    if a.last_n_is_ctx {
        sampling.penalty_last_n = n_ctx;
    }
    let mut sampler = Sampler::new(vocab.n_tokens(), sampling.clone())?;
    let colors = Colors::new(a.color && std::io::stdout().is_terminal());
    let mut report = Report {
        load_seconds,
        totals: Timings::default(),
        seed: sampling.seed,
    };
    term::install_interrupt_handler();
    let mut session = Session {
        ctx: &mut ctx,
        vocab: &vocab,
        sampler: &mut sampler,
        pool: &pool,
        n_batch: a.n_batch,
        constraint,
        totals: &mut report.totals,
    };
    let ended = if a.chat {
        let prompter = choose_prompt(&a, model.header(), &path)?;
        chat(&a, prompter, &mut session, colors)?
    } else {
        complete(&a, &mut session, colors)?
    };
    report.print();
    Ok(ended)
}

/// `--embedding`: the prompt's texts (split at `--embd-separator`, each tokenized with BOS as
/// the vocabulary says and special tokens parsed, as llama.cpp's `llama-embedding`), embedded
/// in batches and printed as OpenAI's embeddings JSON.
fn embeddings(
    a: &Args,
    model: &Model,
    vocab: &Vocab,
    n_ctx: usize,
    threads: usize,
    path: &Path,
) -> Result<Ended, Failure> {
    use llamette::embed::{self, Normalize, Pooling};
    let prompt = a.prompt.as_deref().unwrap_or("");
    let texts: Vec<&str> = if a.embd_separator.is_empty() {
        vec![prompt]
    } else {
        prompt.split(a.embd_separator.as_str()).collect()
    };
    let mut tokens = Vec::with_capacity(texts.len());
    for (i, t) in texts.iter().enumerate() {
        let ids = vocab.tokenize(t, true, true)?;
        if ids.is_empty() {
            return Err(Failure::Usage(format!(
                "--embedding: text {i} of the prompt has no tokens (an empty line?)"
            )));
        }
        tokens.push(ids);
    }
    let longest = tokens.iter().map(Vec::len).max().unwrap_or(1);
    let n_batch = a.n_batch.max(longest.min(n_ctx));
    let params = ContextParams {
        n_ctx,
        n_batch,
        n_seq_max: texts.len().clamp(1, llamette::model::MAX_SEQ),
        n_outputs_max: n_batch,
        embeddings: true,
        ..ContextParams::default()
    };
    let mut ctx = Context::new(model, params)?;
    let pooling = match a.pooling {
        Some(p) => p,
        None => Pooling::of_model(model).map_err(|e| file_error(path, e))?,
    };
    let seqs: Vec<&[u32]> = tokens.iter().map(Vec::as_slice).collect();
    let d = model.config().n_embd;
    let mut out = vec![0f32; embed::output_len(d, &seqs, pooling)];
    let pool = ThreadPool::new(threads);
    embed::embed(
        &mut ctx,
        &seqs,
        pooling,
        Normalize::from_llama(a.embd_normalize),
        &mut out,
        &pool,
    )?;
    let row = |v: &[f32]| {
        let parts: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
        format!("[{}]", parts.join(", "))
    };
    let mut json = String::from("{\"object\": \"list\", \"data\": [");
    let mut at = 0;
    for (i, s) in seqs.iter().enumerate() {
        if i > 0 {
            json.push_str(", ");
        }
        let e = if pooling == Pooling::None {
            let rows: Vec<String> = (0..s.len())
                .map(|t| row(&out[(at + t) * d..(at + t + 1) * d]))
                .collect();
            at += s.len();
            format!("[{}]", rows.join(", "))
        } else {
            row(&out[i * d..(i + 1) * d])
        };
        json.push_str(&format!(
            "{{\"object\": \"embedding\", \"index\": {i}, \"embedding\": {e}}}"
        ));
    }
    let n: usize = seqs.iter().map(|s| s.len()).sum();
    let model_name = json_string(&path.display().to_string());
    json.push_str(&format!(
        "], \"model\": {model_name}, \"usage\": {{\"prompt_tokens\": {n}, \"total_tokens\": {n}}}}}"
    ));
    writeln!(std::io::stdout(), "{json}")?;
    Ok(Ended::Done)
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The constraint the grammar flags ask for (`None` without one): GBNF may name the
/// vocabulary's tokens, so this waits for the model. A grammar that does not compile is bad
/// usage, with its line and column.
#[cfg(feature = "grammar")]
fn grammar_constraint(a: &Args, vocab: &Vocab) -> Result<Option<Box<dyn Constraint>>, Failure> {
    use args::GrammarKind;
    use llamette::grammar::{Grammar, GrammarVocab};
    let Some(g) = &a.grammar else {
        return Ok(None);
    };
    // Compiling for the vocabulary finds what the text alone cannot (a token id past its end).
    let bad = |e: Error| match e {
        Error::BadGrammar { .. } => Failure::Usage(format!("{}: {e}", g.source)),
        e => Failure::from(e),
    };
    let grammar = match g.kind {
        GrammarKind::Gbnf => Grammar::gbnf_for(&g.text, vocab),
        GrammarKind::JsonSchema => Grammar::json_schema(&g.text),
    }
    .map_err(bad)?;
    let constraint = GrammarVocab::new(vocab)?
        .constraint(&grammar)
        .map_err(bad)?;
    Ok(Some(Box::new(constraint)))
}

/// Without the `grammar` feature the flags are refused while parsing: never a constraint.
#[cfg(not(feature = "grammar"))]
fn grammar_constraint(_: &Args, _: &Vocab) -> Result<Option<Box<dyn Constraint>>, Failure> {
    Ok(None)
}

/// How chat turns become tokens, from the flags: `--chat-template` (a built-in format's name,
/// one of the file's named templates, or Jinja text), else `--jinja` (the file's own
/// template), else the model's own ([`ChatPrompt::of_model`]).
fn choose_prompt(
    a: &Args,
    header: &llamette::gguf::GgufHeader<'_>,
    path: &Path,
) -> Result<ChatPrompt, Failure> {
    if let Some(t) = &a.chat_template {
        if let Some(f) = ChatFormat::from_name(t) {
            return Ok(ChatPrompt::Format(f));
        }
        return jinja_prompt(header, Some(t), path);
    }
    if a.jinja {
        return jinja_prompt(header, None, path);
    }
    if let Some(p) = ChatPrompt::of_model(header)? {
        return Ok(p);
    }
    Err(Failure::Run(format!(
        "{}: the model has no chat template llamette can render{}; run it without -cnv to complete a prompt, or give one with --chat-template",
        path.display(),
        if cfg!(feature = "templates") { "" } else { " without the `templates` feature (codellama-70b, llama2, chatml, llama3)" }
    )))
}

#[cfg(feature = "templates")]
fn jinja_prompt(
    header: &llamette::gguf::GgufHeader<'_>,
    spec: Option<&str>,
    path: &Path,
) -> Result<ChatPrompt, Failure> {
    use llamette::chat::template::ChatTemplate;
    let bad = |e: Error| match e {
        Error::Template { .. } => Failure::Usage(format!("--chat-template: {e}")),
        e => Failure::from(e),
    };
    let t = match spec {
        None => ChatTemplate::from_gguf(header)?.ok_or_else(|| {
            Failure::Run(format!(
                "{}: --jinja: the model has no tokenizer.chat_template",
                path.display()
            ))
        })?,
        Some(s) => match ChatTemplate::named(header, s)? {
            Some(t) => t,
            // A bare word is a name llamette does not know (llama.cpp has built-in names
            // such as "gemma" or "phi3"), not a template that prints itself.
            None if !s.contains("{{") && !s.contains("{%") => {
                let names = ChatTemplate::names(header);
                let theirs = if names.is_empty() {
                    String::new()
                } else {
                    format!(" or one of the model's templates ({})", names.join(", "))
                };
                return Err(Failure::Usage(format!(
                    "--chat-template {s}: not a built-in format (codellama-70b, llama2, chatml, llama3){theirs}, nor Jinja text; pass the model's own with --jinja, or a template file"
                )));
            }
            None => ChatTemplate::from_text_for(header, s).map_err(bad)?,
        },
    };
    Ok(ChatPrompt::Template(Box::new(t)))
}

#[cfg(not(feature = "templates"))]
fn jinja_prompt(
    _: &llamette::gguf::GgufHeader<'_>,
    _: Option<&str>,
    _: &Path,
) -> Result<ChatPrompt, Failure> {
    Err(Failure::Usage(
        "--jinja and Jinja --chat-template texts need the `templates` feature: cargo install --path . --features grammar,templates (the built-in formats: codellama-70b, llama2, chatml, llama3)".into(),
    ))
}

/// The engine and what a turn needs.
struct Session<'s, 'm> {
    ctx: &'s mut Context<'m>,
    vocab: &'s Vocab,
    sampler: &'s mut Sampler,
    pool: &'s ThreadPool,
    n_batch: usize,
    /// The grammar flag's constraint before any token: each turn starts from a copy.
    constraint: Option<Box<dyn Constraint>>,
    totals: &'s mut Timings,
}

/// How a turn ended.
struct Turn {
    /// The answer's text.
    text: String,
    /// Prompt tokens evaluated (all of them unless Ctrl-C came during the prompt).
    fed: usize,
    /// Tokens generated (all evaluated).
    generated: Vec<u32>,
    /// Ctrl-C stopped it.
    interrupted: bool,
}

fn check_fits(n: usize, n_ctx: usize) -> Result<(), Failure> {
    if n >= n_ctx {
        return Err(Failure::Run(format!(
            "the prompt is {n} tokens, the context holds {n_ctx} (raise -c)"
        )));
    }
    Ok(())
}

/// Completion mode: echo the prompt, continue it.
fn complete(a: &Args, s: &mut Session<'_, '_>, colors: Colors) -> Result<Ended, Failure> {
    let ids = s
        .vocab
        .tokenize(a.prompt.as_deref().unwrap_or(""), true, true)?;
    if a.verbose_prompt {
        print_tokens(s.vocab, &ids);
    }
    check_fits(ids.len(), s.ctx.params().n_ctx)?;
    let mut out = std::io::stdout().lock();
    if a.display_prompt {
        // As llama.cpp echoes it: the prompt's tokens as text, special tokens left out.
        out.write_all(colors.prompt.as_bytes())?;
        for &id in &ids {
            out.write_all(s.vocab.token_to_piece(id, false)?)?;
        }
        out.write_all(colors.reset.as_bytes())?;
        out.flush()?;
    }
    let rules = StopRules {
        n_predict: a.n_predict,
        stop_strings: a.reverse_prompts.clone(),
        ..StopRules::default()
    };
    let turn = run_turn(s, &ids, rules, &mut out)?;
    writeln!(out)?;
    out.flush()?;
    Ok(if turn.interrupted {
        Ended::Interrupted
    } else {
        Ended::Done
    })
}

/// Chat mode: turn after turn from stdin (the first from `-p`), keeping the cache.
fn chat(
    a: &Args,
    format: ChatPrompt,
    s: &mut Session<'_, '_>,
    colors: Colors,
) -> Result<Ended, Failure> {
    let n_ctx = s.ctx.params().n_ctx;
    let stops = format.stop_tokens(s.vocab);
    let mut turns: Vec<(String, String)> = Vec::new();
    if let Some(sys) = &a.system {
        turns.push(("system".into(), sys.clone()));
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let interactive = std::io::stdin().is_terminal();
    let mut out = std::io::stdout().lock();
    let mut next_user = a.prompt.clone();
    loop {
        let typed = match next_user.take() {
            Some(u) => u,
            None => {
                if interactive {
                    say_inline!("\n> ");
                }
                out.write_all(colors.input.as_bytes())?;
                out.flush()?;
                let line = term::read_line(&mut input);
                out.write_all(colors.reset.as_bytes())?;
                out.flush()?;
                match line? {
                    Line::Text(t) => t,
                    Line::Eof => break,
                    Line::Interrupted => {
                        say!("");
                        return Ok(Ended::Interrupted);
                    }
                    Line::NotUtf8 => {
                        say!("llamette: that line is not valid UTF-8; type it again");
                        continue;
                    }
                }
            }
        };
        let user = format!("{}{typed}{}", a.in_prefix, a.in_suffix);
        turns.push(("user".into(), user));
        let messages: Vec<Message> = turns.iter().map(|(r, c)| Message::new(r, c)).collect();
        let ids = format.render_ids(s.vocab, &messages, true)?;
        if a.verbose_prompt {
            print_tokens(s.vocab, &ids);
        }
        check_fits(ids.len(), n_ctx)?;
        // Keep the cached prefix the conversation shares with what was evaluated before.
        let same = s.ctx.reuse_prefix(&ids);
        let rules = StopRules {
            n_predict: a.n_predict,
            stop_tokens: stops.clone(),
            stop_strings: a.reverse_prompts.clone(),
        };
        term::reset();
        let turn = run_turn(s, &ids[same..], rules, &mut out)?;
        writeln!(out)?;
        out.flush()?;
        if turn.interrupted && turn.generated.is_empty() {
            // Stopped before answering: the question is taken back.
            turns.pop();
        } else {
            turns.push(("assistant".into(), turn.text));
        }
        if term::interrupts() >= 2 {
            return Ok(Ended::Interrupted);
        }
        if turn.interrupted {
            note!("llamette: reply stopped (Ctrl-C at the prompt exits)");
            term::reset();
        }
    }
    Ok(Ended::Done)
}

/// Evaluates `prompt` in steps of `n_batch` and generates one answer, streaming it; Ctrl-C
/// stops it between steps and tokens.
fn run_turn(
    s: &mut Session<'_, '_>,
    prompt: &[u32],
    rules: StopRules,
    out: &mut impl Write,
) -> Result<Turn, Failure> {
    // Each answer matches the grammar on its own (llama.cpp's llama-completion resets its
    // sampler, grammar included, after each message).
    s.sampler
        .set_constraint(s.constraint.as_ref().map(|c| c.box_clone()));
    let mut g = Generation::new(&mut *s.ctx, s.vocab, &mut *s.sampler, rules);
    let mut turn = Turn {
        text: String::new(),
        fed: 0,
        generated: Vec::new(),
        interrupted: false,
    };
    let t0 = Instant::now();
    for chunk in prompt.chunks(s.n_batch.max(1)) {
        if term::interrupts() > 0 {
            turn.interrupted = true;
            break;
        }
        g.feed(chunk, s.pool)?;
        turn.fed += chunk.len();
    }
    let t1 = Instant::now();
    while !turn.interrupted {
        if term::interrupts() > 0 {
            turn.interrupted = true;
            // What the stop-string check held back is part of the answer.
            let text = g.stop();
            out.write_all(text.as_bytes())?;
            turn.text.push_str(&text);
            break;
        }
        match g.next(s.pool)? {
            Step::Token { id, text } => {
                turn.generated.push(id);
                out.write_all(text.as_bytes())?;
                out.flush()?;
                turn.text.push_str(&text);
            }
            Step::Done { reason, text } => {
                out.write_all(text.as_bytes())?;
                turn.text.push_str(&text);
                match reason {
                    StopReason::ContextFull => say!("\nllamette: the context is full (raise -c)"),
                    StopReason::Constraint(why) => {
                        say!("\nllamette: the grammar allows no further token: {why}")
                    }
                    _ => {}
                }
                break;
            }
        }
    }
    s.totals.prompt_tokens += turn.fed;
    s.totals.prompt_seconds += (t1 - t0).as_secs_f64();
    s.totals.generated_tokens += g.n_generated();
    s.totals.generation_seconds += t1.elapsed().as_secs_f64();
    Ok(turn)
}

fn main() -> ExitCode {
    match run() {
        Ok(Ended::Done) => ExitCode::SUCCESS,
        Ok(Ended::Interrupted) => ExitCode::from(term::INTERRUPTED_EXIT),
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
