//! The `llamette` program end to end: chat on SmolLM2 at temperature 0 prints llama.cpp's greedy
//! answer, a seed reproduces its output, `--tokenize` works on vocabulary-only files, and bad
//! input is one line on stderr with a non-zero exit code.

mod common;

use std::process::{Command, Output, Stdio};

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
    assert_eq!(
        err.trim_end().lines().count(),
        if code == 2 { 2 } else { 1 },
        "{err}"
    );
}

#[test]
fn bad_input_is_one_line_and_an_exit_code() {
    let o = run(&["-m", "no/such/model.gguf", "-p", "x"]);
    assert_fails(&o, 1, "no/such/model.gguf");
    let o = run(&["-m", "Cargo.toml", "-p", "x"]);
    assert_fails(&o, 1, "not a GGUF file");
    let o = run(&["--bogus"]);
    assert_fails(&o, 2, "unknown argument: --bogus");
    let o = run(&["-m", "x.gguf", "-n"]);
    assert_fails(&o, 2, "-n needs a value");
    let o = run(&["-m", "x.gguf", "-t", "100000"]);
    assert_fails(&o, 2, "-t 100000: at most 1024 threads");
    // An argument that is not UTF-8 (std::env::args would panic on it).
    {
        use std::os::unix::ffi::OsStrExt;
        let bad = std::ffi::OsStr::from_bytes(b"-m\xff.gguf");
        let o = Command::new(common::llamette_program())
            .arg(bad)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_fails(&o, 2, "argument is not valid UTF-8: -m\u{fffd}.gguf");
    }
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
