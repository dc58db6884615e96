//! The `llamette` program end to end: chat on SmolLM2 at temperature 0 prints llama.cpp's greedy
//! answer, a seed reproduces its output, `--tokenize` works on vocabulary-only files, the model
//! card's llama.cpp command line runs as typed, llama.cpp's spellings and escapes are taken,
//! Ctrl-C stops a reply and exits at the prompt, bad input is one line on stderr with an exit
//! code, and the grammar flags (`--grammar`, `--grammar-file`, `-j`, `-jf`) constrain the answer
//! in completion and chat mode, or, without the `grammar` feature, say how to build with it.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{fixture, fixture_path, parse_json, smollm2_path};
use llamette::gguf::GgufFile;
use llamette::tokenizer::Vocab;

fn run(args: &[&str]) -> Output {
    Command::new(common::llamette_program())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn chat_at_temperature_zero_prints_llama_cpps_greedy_answer() {
    let model = smollm2_path();
    let golden = parse_json(
        std::str::from_utf8(&fixture("golden/smollm2-135m-instruct.q4_1.json")).unwrap(),
    )
    .unwrap();
    // Golden case 1 is the ChatML prompt for this question; llama.cpp's greedy tokens after it,
    // up to the end of the turn, are the answer.
    let file = GgufFile::open(&model).unwrap();
    let vocab = Vocab::from_gguf(&file).unwrap();
    let im_end = vocab.token_id("<|im_end|>").unwrap();
    let mut want = Vec::new();
    for t in golden["cases"][1]["greedy"].u32_vec() {
        if t == im_end || vocab.is_eog(t) {
            break;
        }
        want.extend_from_slice(vocab.token_to_piece(t, false).unwrap());
    }
    let want = String::from_utf8(want).unwrap();
    assert!(want.contains("Paris"), "{want}");

    let m = model.to_str().unwrap();
    let o = run(&[
        "-m",
        m,
        "-cnv",
        "-p",
        "What is the capital of France?",
        "--temp",
        "0",
        "-n",
        "48",
        "-t",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{want}\n"));
    let err = stderr(&o);
    assert!(err.contains("tokens/s"), "timings on stderr: {err}");
}

#[test]
fn a_seed_reproduces_the_same_text() {
    let model = smollm2_path();
    let m = model.to_str().unwrap();
    let args = |seed: &'static str| {
        [
            "-m",
            m,
            "-p",
            "Once upon a time",
            "--temp",
            "0.9",
            "--seed",
            seed,
            "-n",
            "16",
            "-t",
            "2",
        ]
    };
    let a = run(&args("1234"));
    let b = run(&args("1234"));
    let c = run(&args("99"));
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(a.stdout, c.stdout, "another seed draws other tokens");
}

#[test]
fn tokenize_works_on_vocabulary_only_files() {
    let vocab = fixture_path("vocab/ggml-vocab-llama-spm.gguf");
    let o = run(&[
        "-m",
        vocab.to_str().unwrap(),
        "-p",
        "Hello world",
        "--tokenize",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8(o.stdout).unwrap(), "[1, 15043, 3186]\n");
    // Special tokens written in the text are parsed, as llama.cpp does.
    let codellama = fixture_path("vocab/codellama-70b-instruct-vocab.gguf");
    let o = run(&[
        "-m",
        codellama.to_str().unwrap(),
        "-p",
        "<step>",
        "--tokenize",
    ]);
    assert_eq!(String::from_utf8(o.stdout).unwrap(), "[1, 32015]\n");
}

/// One line on stderr, the given exit code, no panic.
fn assert_fails(o: &Output, code: i32, says: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert!(err.contains(says), "expected {says:?} in {err:?}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn bad_input_is_one_line_and_an_exit_code() {
    let o = run(&["-m", "no/such/model.gguf", "-p", "x"]);
    assert_fails(&o, 1, "no/such/model.gguf: No such file or directory");
    assert_eq!(
        stderr(&o).matches("no/such/model.gguf").count(),
        1,
        "the path once"
    );
    assert!(!stderr(&o).contains("os error"), "{}", stderr(&o));
    let o = run(&["-m", "Cargo.toml", "-p", "x"]);
    assert_fails(&o, 1, "not a GGUF file");
    let o = run(&["-m", "tests", "-p", "x"]);
    assert_fails(&o, 1, "tests: is a directory");
    let o = run(&["-f", "tests", "-p", "x"]);
    assert_fails(&o, 1, "tests: is a directory");
    let o = run(&["--bogus"]);
    assert_fails(&o, 2, "unknown argument: --bogus");
    let o = run(&["-m", "x.gguf", "-n"]);
    assert_fails(&o, 2, "-n needs a value");
    let o = run(&["-m", "x.gguf", "-t", "100000"]);
    assert_fails(&o, 2, "-t 100000: at most 1024 threads");
    let o = run(&["-m", "x.gguf", "--temp", "hot"]);
    assert_fails(&o, 2, "--temp: not a number: hot");
    let o = run(&["--no-mmap=1"]);
    assert_fails(&o, 2, "--no-mmap takes no value");
    // An architecture llamette does not run.
    let bytes = fixture("models/tiny-codellama.q8_0.gguf");
    let f = GgufFile::from_bytes(&bytes).unwrap();
    let mut w = llamette::gguf::Writer::new();
    for (k, v) in f.metadata() {
        let v = match k {
            "general.architecture" => llamette::gguf::writer::MetaValue::String("falcon".into()),
            _ => llamette::gguf::writer::MetaValue::from_value(&v),
        };
        w = w.meta(k, v);
    }
    let path = std::env::temp_dir().join(format!("llamette-falcon-{}.gguf", std::process::id()));
    std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
    let o = run(&["-m", path.to_str().unwrap(), "-p", "x"]);
    std::fs::remove_file(&path).unwrap();
    assert_fails(&o, 1, "unsupported architecture 'falcon'");
    // A prompt longer than the context.
    let tiny = fixture_path("models/tiny-codellama.q8_0.gguf");
    let o = run(&[
        "-m",
        tiny.to_str().unwrap(),
        "-c",
        "8",
        "-p",
        "a b c d e f g h i j k l m n o p",
    ]);
    assert_fails(&o, 1, "the context holds 8");
}

#[test]
fn invalid_utf8_arguments_never_panic() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let runs = |args: &[&OsStr]| {
        Command::new(common::llamette_program())
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // A flag that is not UTF-8.
    let o = runs(&[OsStr::from_bytes(b"-m\xff.gguf")]);
    assert_fails(&o, 2, "argument is not valid UTF-8: -m\u{fffd}.gguf");
    // A path that is not UTF-8 is a path like any other: here, one that does not exist.
    let o = runs(&[
        OsStr::new("-m"),
        OsStr::from_bytes(b"no-such-\xff.gguf"),
        OsStr::new("-p"),
        OsStr::new("x"),
    ]);
    assert_fails(&o, 1, "no-such-\u{fffd}.gguf: No such file or directory");
    // A prompt that is not UTF-8, typed or made by an escape.
    let tiny = fixture_path("models/tiny-codellama.q8_0.gguf");
    let o = runs(&[
        OsStr::new("-m"),
        tiny.as_os_str(),
        OsStr::new("-p"),
        OsStr::from_bytes(b"ab\xffc"),
    ]);
    assert_fails(&o, 2, "the prompt is not valid UTF-8 (byte 2");
    let o = run(&["-m", tiny.to_str().unwrap(), "-p", r"ab\xff"]);
    assert_fails(&o, 2, "the prompt is not valid UTF-8 (byte 2");
}

#[test]
fn the_model_cards_command_line_runs_as_typed() {
    // TheBloke's CodeLlama-70B-Instruct card: `./main -ngl 35 -m codellama-70b-instruct.Q4_K_M.gguf
    // --color -c 4096 --temp 0.7 --repeat_penalty 1.1 -n -1 -p "..."`, with the tiny fixture
    // and `-n 8` added at the end.
    let tiny = fixture_path("models/tiny-codellama.q4_k_m.gguf");
    let prompt = r"Source: system\n\n  {system_message}<step> Source: user\n\n  {prompt} <step> Source: assistant";
    let o = run(&[
        "-ngl",
        "35",
        "-m",
        tiny.to_str().unwrap(),
        "--color",
        "-c",
        "4096",
        "--temp",
        "0.7",
        "--repeat_penalty",
        "1.1",
        "-n",
        "-1",
        "-p",
        prompt,
        "-n",
        "8",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.starts_with("llamette: -ngl 35: no GPU offload; every layer runs on the CPU\n"),
        "{err}"
    );
    assert!(err.contains("generation 8 tokens"), "{err}");
    // The prompt is echoed first, escapes expanded, special tokens (<s>, <step>) left out, no
    // colour codes (stdout is not a terminal).
    let file = GgufFile::open(&tiny).unwrap();
    let vocab = Vocab::from_gguf(&file).unwrap();
    let expanded = prompt.replace(r"\n", "\n");
    let ids = vocab.tokenize(&expanded, true, true).unwrap();
    assert_eq!(
        ids.iter().filter(|&&t| t == 1023).count(),
        2,
        "<step> parsed"
    );
    let mut echo = Vec::new();
    for &t in &ids {
        echo.extend_from_slice(vocab.token_to_piece(t, false).unwrap());
    }
    assert!(
        o.stdout.starts_with(&echo),
        "{:?}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(o.stdout.len() > echo.len() + 1, "something was generated");
    assert!(!o.stdout.contains(&0x1b), "no colour codes into a pipe");
    // --no-display-prompt prints only the answer: the same bytes after the echo, for a seed.
    let base = [
        "-m",
        tiny.to_str().unwrap(),
        "-p",
        prompt,
        "-n",
        "8",
        "-s",
        "7",
    ];
    let with = run(&base);
    let mut args = base.to_vec();
    args.push("--no-display-prompt");
    let without = run(&args);
    assert!(with.status.success() && without.status.success());
    assert_eq!(&with.stdout[echo.len()..], &without.stdout[..]);
}

#[test]
fn help_and_no_arguments() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    let help = String::from_utf8(o.stdout).unwrap();
    for want in [
        "-m, --model FNAME",
        "--repeat-penalty R",
        "(default: 0.8)",
        "0 or less: greedy",
        "-ngl, --n-gpu-layers, --gpu-layers N",
        "LLAMETTE_SCALAR=1",
        "LLAMETTE_NO_AVX512=1",
        "LLAMETTE_NO_DOTPROD=1",
        "NO_COLOR",
        "--grammar GRAMMAR",
        "--grammar-file FNAME",
        "-j, --json-schema SCHEMA",
        "-jf, --json-schema-file FILE",
    ] {
        assert!(help.contains(want), "--help lacks {want:?}:\n{help}");
    }
    assert_eq!(run(&["-h"]).stdout, help.as_bytes());
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(
        err.contains("Try:") && err.contains("llamette -cnv -p"),
        "{err}"
    );
    let o = run(&["--version"]);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("llamette {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_flags_name_the_closest_one() {
    let o = run(&["--repeat-penalti", "1.1"]);
    assert_fails(
        &o,
        2,
        "unknown argument: --repeat-penalti; did you mean --repeat-penalty?",
    );
    let o = run(&["--lora", "x.gguf"]);
    assert_fails(&o, 2, "--lora: a llama.cpp flag llamette does not have");
}

#[test]
fn underscore_spellings_and_escapes_are_llama_cpps() {
    let tiny = fixture_path("models/tiny-codellama.q8_0.gguf");
    let t = tiny.to_str().unwrap();
    // The same run spelled three ways gives the same bytes (greedy: --temp -1 is greedy too).
    let a = run(&[
        "-m",
        t,
        "-p",
        "Hello",
        "--n-predict",
        "6",
        "--temp",
        "0",
        "--repeat-penalty",
        "1.3",
    ]);
    let b = run(&[
        "-m",
        t,
        "-p",
        "Hello",
        "--n_predict",
        "6",
        "--temp",
        "-1",
        "--repeat_penalty",
        "1.3",
    ]);
    let c = run(&[
        "-m",
        t,
        "--prompt=Hello",
        "--n_predict=6",
        "--temp=0",
        "--repeat_penalty=1.3",
    ]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stdout, c.stdout);
    // Each spelling was read: fewer tokens are fewer bytes, a small context is too small.
    let d = run(&["-m", t, "-p", "Hello", "--n_predict", "2", "--temp", "0"]);
    assert!(
        d.stdout.len() < a.stdout.len() && a.stdout.starts_with(&d.stdout[..d.stdout.len() - 1])
    );
    let e = run(&["-m", t, "-p", "Hello", "--ctx_size", "2"]);
    assert_fails(&e, 1, "the context holds 2");
    // Escapes: on by default, off with --no-escape.
    let file = GgufFile::open(&tiny).unwrap();
    let vocab = Vocab::from_gguf(&file).unwrap();
    let ids = |text: &str| {
        let list: Vec<String> = vocab
            .tokenize(text, true, true)
            .unwrap()
            .iter()
            .map(u32::to_string)
            .collect();
        format!("[{}]\n", list.join(", "))
    };
    let typed = r#"a\nb\t\"c\" \x41\\ \q"#;
    let o = run(&["-m", t, "-p", typed, "--tokenize"]);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        ids("a\nb\t\"c\" A\\ \\q")
    );
    let o = run(&["-m", t, "-p", typed, "--tokenize", "--no-escape"]);
    assert_eq!(String::from_utf8(o.stdout).unwrap(), ids(typed));
    let o = run(&["-m", t, "-p", typed, "--no-escape", "-e", "--tokenize"]);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        ids("a\nb\t\"c\" A\\ \\q")
    );
}

#[test]
fn accepted_llama_cpp_flags_say_so_once_and_log_disable_silences() {
    let tiny = fixture_path("models/tiny-codellama.q8_0.gguf");
    let t = tiny.to_str().unwrap();
    let o = run(&[
        "-m",
        t,
        "-p",
        "Hi",
        "-n",
        "2",
        "-ngl",
        "99",
        "-mg",
        "0",
        "-ts",
        "3,1",
        "--mlock",
        "--numa",
        "distribute",
        "-t",
        "0",
        "-b",
        "64",
        "-ub",
        "32",
        "--keep",
        "-1",
        "-s",
        "1",
        "-i",
        "-no-cnv",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(
            "llamette: -ngl 99, -mg 0, -ts 3,1: no GPU offload; every layer runs on the CPU\n"
        ),
        "{err}"
    );
    assert!(err.contains("--mlock: ignored"), "{err}");
    assert!(err.contains("--numa distribute: ignored"), "{err}");
    assert!(err.contains("-t 0: using"), "{err}");
    // More of llama.cpp's result-neutral flags, as users paste them.
    let o = run(&[
        "-m",
        t,
        "-p",
        "Hi",
        "-n",
        "2",
        "-s",
        "1",
        "-v",
        "-mli",
        "-nkvo",
        "--prio",
        "2",
        "--no-perf",
        "-dev",
        "none",
    ]);
    let err2 = stderr(&o);
    assert!(o.status.success(), "{err2}");
    assert!(err2.contains("-dev none: no GPU offload"), "{err2}");
    assert!(err2.contains("--prio 2: ignored"), "{err2}");
    let q = run(&[
        "-m",
        t,
        "-p",
        "Hi",
        "-n",
        "2",
        "-ngl",
        "99",
        "-s",
        "1",
        "--log-disable",
    ]);
    assert!(q.status.success());
    assert!(q.stderr.is_empty(), "{}", stderr(&q));
    assert_eq!(q.stdout, o.stdout, "-b/-ub/-t change no bits");
}

/// Reads a child's pipe into a shared buffer on a thread.
fn collect(mut r: impl Read + Send + 'static) -> Collected {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    Collected { buf, reader }
}

/// A pipe being read on a thread: the text so far, and all of it once the writer is gone.
struct Collected {
    buf: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Collected {
    /// Everything read so far.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }

    /// Bytes read so far.
    fn len(&self) -> usize {
        self.buf.lock().unwrap().len()
    }

    /// Waits for the end of the pipe (the child has exited) and returns all of its text.
    fn finish(self) -> String {
        self.reader.join().unwrap();
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }
}

/// Waits until `cond` holds for the buffer's text, failing after a minute.
fn wait_for(buf: &Collected, what: &str, cond: impl Fn(&str) -> bool) {
    let t = Instant::now();
    loop {
        let text = buf.text();
        if cond(&text) {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "waited a minute for {what}: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupt(pid: u32) {
    let ok = Command::new("kill")
        .args(["-s", "INT", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -s INT {pid}");
}

#[test]
fn ctrl_c_stops_a_reply_and_exits_at_the_prompt() {
    let model = smollm2_path();
    let start = |extra: &[&str]| {
        let mut c = Command::new(common::llamette_program());
        c.args([
            "-m",
            model.to_str().unwrap(),
            "-cnv",
            "--temp",
            "0",
            "-n",
            "300",
            "-t",
            "1",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let mut child = start(&[]);
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    // A question whose greedy answer is long: stop it once it has begun.
    writeln!(stdin, "Count from 1 to 200, one number per line.").unwrap();
    wait_for(&out, "the first reply to begin", |t| t.len() >= 8);
    interrupt(child.id());
    wait_for(&err, "the reply to stop", |t| t.contains("reply stopped"));
    let first = out.len();
    // The next turn is answered, then EOF ends the chat normally.
    writeln!(stdin, "What is the capital of France?").unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    let text = out.finish();
    let e = err.finish();
    assert_eq!(status.code(), Some(0), "{e}");
    let (one, two) = text.split_at(first);
    assert!(
        one.ends_with('\n') && one.lines().count() < 100,
        "stopped early: {one:?}"
    );
    assert!(two.contains("Paris"), "second turn answered: {two:?}");
    assert!(e.contains("tokens/s"), "timings: {e}");

    // Ctrl-C while waiting at the prompt exits, with the timings, status 130.
    let mut child = start(&["-p", "What is the capital of France?"]);
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    let _stdin = child.stdin.take().unwrap();
    wait_for(&out, "the first answer", |t| {
        t.contains("Paris") && t.ends_with('\n')
    });
    // The answer's newline is written before the prompt is read; give the read a moment.
    std::thread::sleep(Duration::from_millis(300));
    interrupt(child.id());
    let status = child.wait().unwrap();
    let e = err.finish();
    assert_eq!(status.code(), Some(130), "{e}");
    assert!(e.contains("tokens/s"), "timings: {e}");
}

/// Runs the program on a pseudo-terminal (util-linux `script`), returning what it wrote there.
fn on_a_terminal(args: &str, no_color: bool) -> Vec<u8> {
    let cmd = format!("{} {args}", common::llamette_program().display());
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .env_remove("NO_COLOR");
    if no_color {
        c.env("NO_COLOR", "1");
    }
    let o = c.output().expect(
        "`script` (util-linux) runs the program on a pseudo-terminal: apt-get install util-linux",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    o.stdout
}

#[test]
fn color_only_on_a_terminal_and_not_with_no_color() {
    let tiny = fixture_path("models/tiny-codellama.q8_0.gguf");
    let args = format!("-m {} -p Hello -n 3 -s 1 --log-disable", tiny.display());
    let plain = on_a_terminal(&args, false);
    let colored = on_a_terminal(&format!("{args} --color"), false);
    // The prompt in yellow, then back to the terminal's colour for the answer.
    assert!(colored.starts_with(b"\x1b[33m Hello\x1b[0m"), "{colored:?}");
    assert_eq!(
        &colored[b"\x1b[33m".len()..b"\x1b[33m Hello".len()],
        &plain[..6]
    );
    assert_eq!(&colored[b"\x1b[33m Hello\x1b[0m".len()..], &plain[6..]);
    assert_eq!(on_a_terminal(&format!("{args} --color"), true), plain);
    assert_eq!(
        on_a_terminal(&format!("{args} --color --no-color"), false),
        plain
    );
}

#[test]
fn ctrl_c_stops_a_completion_with_the_timings() {
    let model = smollm2_path();
    let mut child = Command::new(common::llamette_program())
        .args([
            "-m",
            model.to_str().unwrap(),
            "-p",
            "Once upon a time",
            "-n",
            "3000",
        ])
        .args(["--temp", "0", "-t", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    // The echoed prompt, then some of the story.
    wait_for(&out, "the story to begin", |t| {
        t.len() > "Once upon a time".len() + 8
    });
    interrupt(child.id());
    let status = child.wait().unwrap();
    let e = err.finish();
    assert_eq!(status.code(), Some(130), "{e}");
    assert!(e.contains("tokens/s"), "timings: {e}");
    let generated: usize = e
        .split("generation ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(generated < 3000, "stopped early: {generated} tokens");
    assert!(out.finish().ends_with('\n'));
}

/// A file under the temporary directory with `text`, removed when dropped.
#[cfg(any(feature = "grammar", feature = "templates"))]
struct TempFile(std::path::PathBuf);

#[cfg(any(feature = "grammar", feature = "templates"))]
impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("llamette-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

#[cfg(any(feature = "grammar", feature = "templates"))]
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The program on SmolLM2, greedy, with two threads: `flags`, then `extra`.
#[cfg(any(feature = "grammar", feature = "templates"))]
fn smollm2_greedy(flags: &[&str], extra: &[&str]) -> Output {
    let model = smollm2_path();
    let mut args = vec!["-m", model.to_str().unwrap(), "--temp", "0", "-t", "2"];
    args.extend_from_slice(flags);
    args.extend_from_slice(extra);
    run(&args)
}

/// SmolLM2's greedy answer to a yes/no question, with `extra` flags.
#[cfg(feature = "grammar")]
fn yes_or_no(extra: &[&str]) -> Output {
    let flags = [
        "-p",
        "Is Paris in France? Answer:",
        "-n",
        "16",
        "--no-display-prompt",
    ];
    smollm2_greedy(&flags, extra)
}

#[cfg(feature = "grammar")]
#[test]
fn a_gbnf_grammar_constrains_the_answer() {
    // Unconstrained, the greedy answer is something else (so the grammar is what decides).
    let free = yes_or_no(&["-n", "4", "--log-disable"]);
    assert!(free.status.success(), "{}", stderr(&free));
    assert_eq!(String::from_utf8_lossy(&free.stdout), "\nA: \n");
    let o = yes_or_no(&["--grammar", r#"root ::= "yes" | "no""#]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "yes\n");
    let err = stderr(&o);
    assert!(
        err.contains("generation 1 tokens"),
        "one token, then the end: {err}"
    );
    assert!(!err.contains("grammar allows"), "{err}");
    // The same from a file, and with `--grammar=`.
    let file = TempFile::new(
        "yes-no.gbnf",
        "# a comment\nroot ::= answer\nanswer ::= \"yes\" | \"no\"\n",
    );
    let f = yes_or_no(&["--grammar-file", file.path(), "--log-disable"]);
    assert!(f.status.success(), "{}", stderr(&f));
    assert_eq!(f.stdout, o.stdout);
    let eq = yes_or_no(&[r#"--grammar=root ::= "yes" | "no""#, "--log-disable"]);
    assert_eq!(eq.stdout, o.stdout);
    // The last grammar flag counts, as in llama.cpp, with a note.
    let last = yes_or_no(&[
        "--grammar",
        r#"root ::= "yes""#,
        "--grammar",
        r#"root ::= "no""#,
    ]);
    assert!(last.status.success(), "{}", stderr(&last));
    assert_eq!(String::from_utf8_lossy(&last.stdout), "no\n");
    assert!(
        stderr(&last).contains(
            "llamette: --grammar: replaced by the later --grammar (the last grammar flag counts)\n"
        ),
        "{}",
        stderr(&last)
    );
}

#[cfg(feature = "grammar")]
#[test]
fn a_json_schema_constrains_the_answer_to_json() {
    let schema = r#"{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"]}"#;
    let model = smollm2_path();
    let m = model.to_str().unwrap();
    let args = |flag: &'static str, value: &str| {
        run(&[
            "-m",
            m,
            "-p",
            "A cat as JSON:",
            flag,
            value,
            "--temp",
            "0",
            "-n",
            "64",
            "-t",
            "2",
            "--no-display-prompt",
        ])
    };
    let o = args("-j", schema);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    // Greedy under the schema: ended by the model, not by -n.
    assert_eq!(text, "{\"name\":\"cat\",\"age\":25}\n");
    let json = parse_json(text.trim_end()).unwrap();
    assert_eq!(json["name"].as_str(), Some("cat"));
    assert_eq!(json["age"].as_i64(), Some(25));
    assert_eq!(json.as_object().map(|o| o.len()), Some(2));
    let file = TempFile::new("cat.schema.json", schema);
    assert_eq!(args("-jf", file.path()).stdout, o.stdout);
    assert_eq!(args("--json-schema", schema).stdout, o.stdout);
    assert_eq!(args("--json-schema-file", file.path()).stdout, o.stdout);
    // Any JSON object, llama.cpp's help example.
    let any = args("-j", r#"{"type": "object"}"#);
    assert!(any.status.success(), "{}", stderr(&any));
    let text = String::from_utf8(any.stdout).unwrap();
    assert!(
        parse_json(text.trim_end()).is_ok_and(|j| j.as_object().is_some()),
        "{text:?}"
    );
}

#[cfg(feature = "grammar")]
#[test]
fn chat_applies_the_grammar_to_each_answer_afresh() {
    let model = smollm2_path();
    let mut child = Command::new(common::llamette_program())
        .args([
            "-m",
            model.to_str().unwrap(),
            "-cnv",
            "-p",
            "Is Paris in France?",
        ])
        .args(["--grammar", r#"root ::= "yes" | "no""#])
        .args(["--temp", "0", "-n", "16", "-t", "2", "--log-disable"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Is the sky green?\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // A constraint carried over from the first answer would allow only the end: "yes\n\n".
    assert_eq!(String::from_utf8_lossy(&o.stdout), "yes\nyes\n");
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[cfg(feature = "grammar")]
#[test]
fn bad_grammars_are_one_line_with_where() {
    let tiny = fixture_path("models/tiny-codellama.q8_0.gguf");
    let t = tiny.to_str().unwrap();
    let with = |flag: &str, value: &str| run(&["-m", t, "-p", "Hi", "-n", "4", flag, value]);
    let o = with("--grammar", r#"root ::= "a" b"#);
    assert_fails(
        &o,
        2,
        "llamette: --grammar: bad grammar: GBNF line 1, column 14: undefined rule 'b'\n",
    );
    let o = with("--grammar", "root ::= x\nx ::= \"a\" |\n  ( \"b\"");
    assert_fails(
        &o,
        2,
        "llamette: --grammar: bad grammar: GBNF line 3, column 8: expecting ')' (for the '(' at line 3, column 3)\n",
    );
    // A token past the vocabulary's end is found when the grammar meets the model.
    let o = with("--grammar", "root ::= <[5000]>");
    assert_fails(&o, 2, "llamette: --grammar: bad grammar: ");
    let o = with("-j", r#"{"type":"#);
    assert_fails(
        &o,
        2,
        "llamette: -j: bad grammar: JSON schema line 1, column 8: EOF while parsing a value\n",
    );
    let o = with("-j", r#"{"type":"integer","minimum":5,"maximum":3}"#);
    assert_fails(&o, 2, "llamette: -j: bad grammar: JSON schema: Unsatisfiable schema: minimum (5) is greater than maximum (3)\n");
    let file = TempFile::new("bad.gbnf", "root ::= item\n\nitem ::= \"a\" ]\n");
    let o = with("--grammar-file", file.path());
    assert_fails(
        &o,
        2,
        &format!(
            "llamette: --grammar-file {}: bad grammar: GBNF line 3, column 14: expecting a line break or the end after the rule\n",
            file.path()
        ),
    );
    // Files that cannot be read are errors (exit 1), as for -f.
    let o = with("--grammar-file", "no/such.gbnf");
    assert_fails(
        &o,
        1,
        "llamette: error: no/such.gbnf: No such file or directory\n",
    );
    let o = with("-jf", "no/such.json");
    assert_fails(
        &o,
        1,
        "llamette: error: no/such.json: No such file or directory\n",
    );
    let o = with("-jf", "tests");
    assert_fails(&o, 1, "llamette: error: tests: is a directory\n");
    let o = run(&["-m", t, "--grammar"]);
    assert_fails(&o, 2, "--grammar needs a value");
}

#[cfg(feature = "grammar")]
#[test]
fn a_grammar_that_allows_nothing_ends_the_answer_with_a_note() {
    // Surrogate code points: no text has them, so no token can begin the answer.
    let tiny = fixture_path("models/tiny-codellama.q8_0.gguf");
    let o = run(&[
        "-m",
        tiny.to_str().unwrap(),
        "-p",
        "Hi",
        "-n",
        "4",
        "--no-display-prompt",
        "--log-disable",
        "--grammar",
        r"root ::= [\uD800-\uDFFF]",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(o.stdout, b"\n");
    assert!(
        err.starts_with("\nllamette: the grammar allows no further token: GBNF grammar: "),
        "{err:?}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[cfg(not(feature = "grammar"))]
#[test]
fn grammar_flags_need_the_grammar_feature() {
    // Refused while parsing, before any file or model is read; the flag as typed.
    for (flag, args) in [
        ("--grammar", &["--grammar", "root ::= \"yes\""][..]),
        ("--grammar-file", &["--grammar-file", "no/such.gbnf"]),
        ("-j", &["-j", "{}"]),
        ("--json-schema", &["--json-schema={}"]),
        ("-jf", &["-jf", "no/such.json"]),
        (
            "--json_schema_file",
            &["--json_schema_file", "no/such.json"],
        ),
        ("--grammar", &["-m", "no/such.gguf", "-p", "x", "--grammar"]),
    ] {
        let o = run(args);
        assert_fails(
            &o,
            2,
            &format!("llamette: {flag}: this llamette was built without the `grammar` feature; build it with `cargo install --path . --features grammar`"),
        );
    }
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    assert!(help.contains("Grammars (not in this build"), "{help}");
}

/// ChatML written as a Jinja template: what the built-in chatml format renders.
#[cfg(feature = "templates")]
const CHATML_JINJA: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

#[cfg(feature = "templates")]
fn ask(extra: &[&str]) -> Output {
    let flags = [
        "-cnv",
        "-p",
        "What is the capital of France?",
        "-n",
        "48",
        "--log-disable",
    ];
    smollm2_greedy(&flags, extra)
}

#[cfg(feature = "templates")]
#[test]
fn chat_templates_from_the_command_line() {
    // The built-in format, by the model's template and by name.
    let builtin = ask(&[]);
    assert!(builtin.status.success(), "{}", stderr(&builtin));
    assert_eq!(
        String::from_utf8_lossy(&builtin.stdout),
        "The capital of France is Paris.\n"
    );
    let named = ask(&["--chat-template", "chatml"]);
    assert_eq!(named.stdout, builtin.stdout, "{}", stderr(&named));
    // The same format as Jinja text, and from a file: the same prompt, so the same answer.
    let text = ask(&["--chat-template", CHATML_JINJA, "--verbose-prompt"]);
    assert!(text.status.success(), "{}", stderr(&text));
    assert_eq!(text.stdout, builtin.stdout);
    let file = TempFile::new("chatml.jinja", CHATML_JINJA);
    for flag in ["--chat-template", "--chat-template-file"] {
        let f = ask(&[flag, file.path()]);
        assert_eq!(f.stdout, builtin.stdout, "{flag}: {}", stderr(&f));
    }
    // --jinja renders SmolLM2's own template, which adds its default system message (so the
    // prompt is longer than ChatML's without one).
    let own = ask(&["--jinja", "--verbose-prompt"]);
    assert!(own.status.success(), "{}", stderr(&own));
    let prompt_tokens = |o: &Output| stderr(o).lines().filter(|l| l.contains(" -> ")).count();
    assert!(
        prompt_tokens(&own) > prompt_tokens(&text) + 10,
        "{}\n---\n{}",
        stderr(&own),
        stderr(&text)
    );
    assert!(
        stderr(&own).contains(" named"),
        "the default system message: {}",
        stderr(&own)
    );
    // A template that does not parse, and one that raises: one line each.
    let bad = ask(&["--chat-template", "{% if %}"]);
    assert_fails(&bad, 2, "line 1: syntax error");
    let raises = ask(&["--chat-template", "{{ raise_exception('no chat here') }}"]);
    assert_fails(&raises, 1, "no chat here");
    // A name llamette does not know (one of llama.cpp's built-in names) is an error, not a
    // template that prints the word.
    let unknown = ask(&["--chat-template", "gemma"]);
    assert_fails(&unknown, 2, "--chat-template gemma: not a built-in format");
}

#[test]
fn embedding_prints_openai_json_with_llama_cpps_vectors() {
    let model = smollm2_path();
    let golden =
        parse_json(std::str::from_utf8(&fixture("golden/smollm2-embeddings.json")).unwrap())
            .unwrap();
    let texts = golden["texts"].as_array().unwrap();
    // The three texts in one batch, as llama-cpp-python embedded them (text 0 holds newlines,
    // so another separator; the batch's size decides the kernels llama.cpp, and llamette after
    // it, run, so only the same batch gives the same rounding).
    let prompt = texts
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("|");
    let m = model.to_str().unwrap();
    let o = run(&[
        "-m",
        m,
        "--embedding",
        "--pooling",
        "mean",
        "--embd-normalize",
        "-1",
        "--embd-separator",
        "|",
        "--no-escape",
        "-p",
        &prompt,
        "-t",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = parse_json(std::str::from_utf8(&o.stdout).unwrap()).unwrap();
    assert_eq!(out["object"].as_str(), Some("list"));
    let data = out["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (k, d) in data.iter().enumerate() {
        assert_eq!(d["object"].as_str(), Some("embedding"));
        assert_eq!(d["index"].as_usize(), Some(k));
        let got = d["embedding"].f32_vec();
        let want = golden["mean"].as_array().unwrap()[k].f32_vec();
        let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
        let diff = got
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert_eq!(got.len(), 576);
        assert!(diff / scale < 5e-7, "text {k}: {}", diff / scale);
    }
    let n: usize = golden["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.u32_vec().len())
        .sum();
    assert_eq!(out["usage"]["prompt_tokens"].as_usize(), Some(n));
    // The model names no pooling: each text's token rows, L2-normalized by default.
    let rows = run(&[
        "-m",
        m,
        "--embedding",
        "-p",
        texts[1].as_str().unwrap(),
        "-t",
        "2",
    ]);
    assert!(rows.status.success(), "{}", stderr(&rows));
    let out = parse_json(std::str::from_utf8(&rows.stdout).unwrap()).unwrap();
    let per_token = out["data"].as_array().unwrap()[0]["embedding"]
        .as_array()
        .unwrap()
        .to_vec();
    assert_eq!(
        per_token.len(),
        golden["tokens"].as_array().unwrap()[1].u32_vec().len()
    );
    for r in &per_token {
        let n: f64 = r
            .f32_vec()
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum();
        assert!((n - 1.0).abs() < 1e-5, "{n}");
    }
    // A bad pooling is bad usage.
    let bad = run(&["-m", m, "--embedding", "--pooling", "max", "-p", "x"]);
    assert_fails(&bad, 2, "expected none, mean, cls or last");
}
