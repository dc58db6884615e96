//! The command line: llama.cpp's flags for `llama-cli` (and their underscore spellings:
//! `--repeat_penalty` is `--repeat-penalty`), the flags llama.cpp has that make no sense here
//! (GPU offload, memory locking) accepted with a note, and the help text made from the same
//! table, so the two cannot drift apart.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use llamette::sampling::SamplerParams;

/// What a flag does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    Model,
    Prompt,
    File,
    System,
    Escape,
    NoEscape,
    NPredict,
    CtxSize,
    BatchSize,
    UBatchSize,
    Threads,
    ThreadsBatch,
    Temp,
    TopK,
    TopP,
    MinP,
    RepeatPenalty,
    RepeatLastN,
    PresencePenalty,
    FrequencyPenalty,
    DynatempRange,
    DynatempExp,
    LogitBias,
    Seed,
    Chat,
    NoChat,
    ChatTemplate,
    ChatTemplateFile,
    Jinja,
    InPrefix,
    InSuffix,
    ReversePrompt,
    Keep,
    DisplayPrompt,
    NoDisplayPrompt,
    VerbosePrompt,
    Tokenize,
    Embedding,
    Pooling,
    EmbdNormalize,
    EmbdSeparator,
    NoMmap,
    Color,
    NoColor,
    LogDisable,
    Grammar,
    GrammarFile,
    JsonSchema,
    JsonSchemaFile,
    /// GPU offload flags: accepted with a note, their value ignored.
    Gpu,
    /// Other llama.cpp flags with a value that change nothing here.
    IgnoredValue,
    /// llama.cpp flags without a value that change nothing here.
    Ignored,
    Help,
    Version,
}

/// One flag: its spellings, the name of its value (`None`: takes none), and its help line.
struct Spec {
    names: &'static [&'static str],
    value: Option<&'static str>,
    id: Id,
    help: &'static str,
}

/// The grammar flags' heading, which says so when this build cannot use them.
#[cfg(feature = "grammar")]
const GRAMMARS: &str = "Grammars (the last of these flags counts, as in llama.cpp; chat mode applies it to each answer)";
#[cfg(not(feature = "grammar"))]
const GRAMMARS: &str =
    "Grammars (not in this build, which lacks the `grammar` feature: cargo install --path . --features grammar)";

/// Every flag, in the order `--help` lists them, with a heading before each group.
const GROUPS: &[(&str, &[Spec])] = &[
    (
        "Model and prompt",
        &[
            Spec { names: &["-m", "--model"], value: Some("FNAME"), id: Id::Model, help: "the GGUF model; the first part of a gguf-split or -split-a model finds the others (default: SmolLM2-135M-Instruct, fetched once into models/ by scripts/fetch-smollm2.sh)" },
            Spec { names: &["-p", "--prompt"], value: Some("PROMPT"), id: Id::Prompt, help: "the prompt to continue; in chat mode the first user message. Special tokens written in it (<s>, <step>, <|im_start|>) are parsed" },
            Spec { names: &["-f", "--file"], value: Some("FNAME"), id: Id::File, help: "read the prompt from a file" },
            Spec { names: &["-sys", "--system-prompt", "--system"], value: Some("TEXT"), id: Id::System, help: "chat mode: the system message" },
            Spec { names: &["-e", "--escape"], value: None, id: Id::Escape, help: "expand \\n, \\r, \\t, \\', \\\", \\\\ and \\xNN in the prompt, --in-prefix, --in-suffix, -r and -sys (default: on)" },
            Spec { names: &["--no-escape"], value: None, id: Id::NoEscape, help: "take those texts as typed" },
        ],
    ),
    (
        "Generation",
        &[
            Spec { names: &["-n", "--n-predict", "--predict"], value: Some("N"), id: Id::NPredict, help: "tokens to generate at most; -1 (or -2): until the end of the answer or a full context (default: -1)" },
            Spec { names: &["-c", "--ctx-size"], value: Some("N"), id: Id::CtxSize, help: "positions the context holds, prompt and answer together; 0: the model's training length (default: 4096)" },
            Spec { names: &["-b", "--batch-size"], value: Some("N"), id: Id::BatchSize, help: "prompt tokens evaluated per step, with --ubatch-size the smaller one counting (default: 2048)" },
            Spec { names: &["-ub", "--ubatch-size"], value: Some("N"), id: Id::UBatchSize, help: "physical batch size (default: 512)" },
            Spec { names: &["-t", "--threads"], value: Some("N"), id: Id::Threads, help: "threads (default: the number of cores; at most 1024)" },
            Spec { names: &["-tb", "--threads-batch"], value: Some("N"), id: Id::ThreadsBatch, help: "accepted; llamette uses -t for the prompt too" },
            Spec { names: &["-r", "--reverse-prompt"], value: Some("TEXT"), id: Id::ReversePrompt, help: "stop the answer where TEXT appears (repeatable); in chat mode the turn goes back to you" },
            Spec { names: &["--keep"], value: Some("N"), id: Id::Keep, help: "accepted: llama.cpp's tokens kept when the context shifts; llamette does not shift the context, it stops when it is full" },
        ],
    ),
    (
        "Sampling",
        &[
            Spec { names: &["--temp"], value: Some("T"), id: Id::Temp, help: "temperature; 0 or less: greedy, always the most likely token (default: 0.8)" },
            Spec { names: &["--top-k"], value: Some("K"), id: Id::TopK, help: "keep the K most likely tokens; 0: all (default: 40)" },
            Spec { names: &["--top-p"], value: Some("P"), id: Id::TopP, help: "keep tokens up to cumulative probability P; 1.0: off (default: 0.95)" },
            Spec { names: &["--min-p"], value: Some("P"), id: Id::MinP, help: "drop tokens less likely than P times the most likely; 0.0: off (default: 0.05)" },
            Spec { names: &["--repeat-penalty"], value: Some("R"), id: Id::RepeatPenalty, help: "penalize repeated tokens; 1.0: off (default: 1.0)" },
            Spec { names: &["--repeat-last-n"], value: Some("N"), id: Id::RepeatLastN, help: "tokens the penalties look back over; 0: off, -1: the context size (default: 64)" },
            Spec { names: &["--presence-penalty"], value: Some("P"), id: Id::PresencePenalty, help: "presence penalty; 0.0: off (default: 0.0)" },
            Spec { names: &["--frequency-penalty"], value: Some("F"), id: Id::FrequencyPenalty, help: "frequency penalty; 0.0: off (default: 0.0)" },
            Spec { names: &["--dynatemp-range"], value: Some("R"), id: Id::DynatempRange, help: "dynamic temperature range; 0.0: off (default: 0.0)" },
            Spec { names: &["--dynatemp-exp"], value: Some("E"), id: Id::DynatempExp, help: "dynamic temperature exponent (default: 1.0)" },
            Spec { names: &["-l", "--logit-bias"], value: Some("ID(+|-)BIAS"), id: Id::LogitBias, help: "add BIAS to token ID's logit, e.g. 15043+1 or 15043-inf (repeatable)" },
            Spec { names: &["-s", "--seed"], value: Some("SEED"), id: Id::Seed, help: "random seed; -1: a new one each run, printed at the end (default: -1)" },
        ],
    ),
    (
        GRAMMARS,
        &[
            Spec { names: &["--grammar"], value: Some("GRAMMAR"), id: Id::Grammar, help: "BNF-like grammar to constrain generations (llama.cpp's GBNF, see the samples in its grammars/ dir); tokens by text (<|im_end|>) or id (<[2]>) allowed; taken as typed, without escapes" },
            Spec { names: &["--grammar-file"], value: Some("FNAME"), id: Id::GrammarFile, help: "file to read grammar from" },
            Spec { names: &["-j", "--json-schema"], value: Some("SCHEMA"), id: Id::JsonSchema, help: "JSON schema to constrain generations (https://json-schema.org/), e.g. `{\"type\": \"object\"}` for any JSON object" },
            Spec { names: &["-jf", "--json-schema-file"], value: Some("FILE"), id: Id::JsonSchemaFile, help: "file containing a JSON schema to constrain generations" },
        ],
    ),
    (
        "Chat",
        &[
            Spec { names: &["-cnv", "--conversation", "--chat", "-i", "--interactive", "-ins", "--instruct", "-if", "--interactive-first"], value: None, id: Id::Chat, help: "chat in the model's own format, turn after turn from stdin, keeping the cache between turns. Ctrl-C stops a reply; Ctrl-C at the prompt (or twice) exits" },
            Spec { names: &["-no-cnv", "--no-conversation"], value: None, id: Id::NoChat, help: "complete the prompt (the default)" },
            Spec { names: &["--in-prefix"], value: Some("TEXT"), id: Id::InPrefix, help: "chat mode: text put before each of your messages" },
            Spec { names: &["--in-suffix"], value: Some("TEXT"), id: Id::InSuffix, help: "chat mode: text put after each of your messages" },
            Spec { names: &["--chat-template"], value: Some("TEMPLATE"), id: Id::ChatTemplate, help: "chat mode: a built-in format (codellama-70b, llama2, chatml, llama3), the name of one of the model's own alternatives (tokenizer.chat_template.NAME, e.g. tool_use), a file, or Jinja text (default: the model's own)" },
            Spec { names: &["--chat-template-file"], value: Some("FNAME"), id: Id::ChatTemplateFile, help: "chat mode: a Jinja chat template from a file" },
            Spec { names: &["--jinja"], value: None, id: Id::Jinja, help: "chat mode: render the model's own Jinja template (tokenizer.chat_template) as Hugging Face's apply_chat_template does, even where a built-in format renders it (by default only templates that are none of them are rendered with Jinja)" },
        ],
    ),
    (
        "Embeddings",
        &[
            Spec { names: &["--embedding", "--embeddings"], value: None, id: Id::Embedding, help: "print the embedding of each line of the prompt (see --embd-separator) as OpenAI's JSON ({\"object\": \"list\", \"data\": [{\"object\": \"embedding\", \"index\", \"embedding\"}], ...}) instead of generating" },
            Spec { names: &["--pooling"], value: Some("{none,mean,cls,last}"), id: Id::Pooling, help: "how a text's token rows become its embedding (default: the model's, none when it names none: a list of rows per text)" },
            Spec { names: &["--embd-normalize"], value: Some("N"), id: Id::EmbdNormalize, help: "normalization: -1 none, 0 max absolute to int16 range, 1 taxicab, 2 Euclidean, >2 p-norm (default: 2)" },
            Spec { names: &["--embd-separator"], value: Some("STRING"), id: Id::EmbdSeparator, help: "separator of the prompt's texts (default: a newline)" },
        ],
    ),
    (
        "Output",
        &[
            Spec { names: &["--display-prompt"], value: None, id: Id::DisplayPrompt, help: "completion mode: print the prompt before the answer (the default)" },
            Spec { names: &["--no-display-prompt"], value: None, id: Id::NoDisplayPrompt, help: "print only the answer" },
            Spec { names: &["-co", "--color"], value: None, id: Id::Color, help: "colour the prompt (yellow) and your input (green) apart from the answer, when stdout is a terminal and NO_COLOR is not set" },
            Spec { names: &["--no-color"], value: None, id: Id::NoColor, help: "no colours" },
            Spec { names: &["--log-disable"], value: None, id: Id::LogDisable, help: "no notes or timings on stderr (errors are still printed)" },
            Spec { names: &["--verbose-prompt"], value: None, id: Id::VerbosePrompt, help: "print the prompt's tokens to stderr" },
            Spec { names: &["--tokenize"], value: None, id: Id::Tokenize, help: "print the prompt's token ids as JSON and exit; works on vocabulary-only files" },
        ],
    ),
    (
        "Memory and hardware",
        &[
            Spec { names: &["--no-mmap"], value: None, id: Id::NoMmap, help: "read the model into memory backed by huge pages instead of mapping it: slower to load, faster to generate" },
            Spec { names: &["-ngl", "--n-gpu-layers", "--gpu-layers"], value: Some("N"), id: Id::Gpu, help: "accepted; llamette runs every layer on the CPU" },
            Spec { names: &["-mg", "--main-gpu"], value: Some("I"), id: Id::Gpu, help: "accepted; no GPU is used" },
            Spec { names: &["-ts", "--tensor-split"], value: Some("SPLIT"), id: Id::Gpu, help: "accepted; no GPU is used" },
            Spec { names: &["-sm", "--split-mode"], value: Some("MODE"), id: Id::Gpu, help: "accepted; no GPU is used" },
            Spec { names: &["--numa"], value: Some("TYPE"), id: Id::IgnoredValue, help: "accepted; the operating system places memory" },
            Spec { names: &["--mlock"], value: None, id: Id::Ignored, help: "accepted; the model is not locked in memory (--no-mmap reads it in)" },
            Spec { names: &["--no-warmup"], value: None, id: Id::Ignored, help: "accepted; llamette does not warm up" },
            Spec { names: &["--simple-io"], value: None, id: Id::Ignored, help: "accepted; input is always read line by line" },
            Spec { names: &["-mli", "--multiline-input"], value: None, id: Id::Ignored, help: "accepted; input is read line by line (one line is one message)" },
            Spec { names: &["-nkvo", "--no-kv-offload"], value: None, id: Id::Ignored, help: "accepted; the KV cache is in host memory" },
            Spec { names: &["-dev", "--device"], value: Some("DEV"), id: Id::Gpu, help: "accepted; no GPU is used" },
            Spec { names: &["--prio", "--poll", "-C", "--cpu-mask", "-Cr", "--cpu-range", "--cpu-strict"], value: Some("V"), id: Id::IgnoredValue, help: "accepted; the operating system schedules the threads" },
            Spec { names: &["-v", "--verbose", "--log-verbose"], value: None, id: Id::Ignored, help: "accepted; llamette prints what it prints (see --verbose-prompt)" },
            Spec { names: &["--no-perf"], value: None, id: Id::Ignored, help: "accepted; --log-disable drops the timing line" },
        ],
    ),
    (
        "Information",
        &[
            Spec { names: &["-h", "--help", "--usage"], value: None, id: Id::Help, help: "this help" },
            Spec { names: &["--version"], value: None, id: Id::Version, help: "the version" },
        ],
    ),
];

/// llama.cpp flags llamette does not have, with what to use instead where something exists.
const NOT_HERE: &[(&str, &str)] = &[
    ("--lora", "LoRA adapters are not supported"),
    ("--lora-scaled", "LoRA adapters are not supported"),
    ("--control-vector", "control vectors are not supported"),
    ("--mmproj", "multimodal projectors are not supported"),
    ("--image", "images are not supported"),
    ("-md", "speculative decoding is not supported yet"),
    ("--model-draft", "speculative decoding is not supported yet"),
    (
        "--lookup-cache-static",
        "lookup decoding is not supported yet",
    ),
    (
        "-fa",
        "attention is computed as llama.cpp's CPU backend does, without flash attention",
    ),
    (
        "--flash-attn",
        "attention is computed as llama.cpp's CPU backend does, without flash attention",
    ),
    ("-ctk", "the KV cache is F16"),
    ("--cache-type-k", "the KV cache is F16"),
    ("-ctv", "the KV cache is F16"),
    ("--cache-type-v", "the KV cache is F16"),
    (
        "--rope-scaling",
        "RoPE scaling options are read from the model only",
    ),
    (
        "--rope-scale",
        "RoPE scaling options are read from the model only",
    ),
    (
        "--rope-freq-base",
        "RoPE scaling options are read from the model only",
    ),
    (
        "--rope-freq-scale",
        "RoPE scaling options are read from the model only",
    ),
    (
        "--mirostat",
        "the samplers are llama.cpp's default chain: --top-k, --top-p, --min-p, --temp",
    ),
    (
        "--typical",
        "the samplers are llama.cpp's default chain: --top-k, --top-p, --min-p, --temp",
    ),
    (
        "--samplers",
        "the samplers are llama.cpp's default chain: --top-k, --top-p, --min-p, --temp",
    ),
    (
        "--ignore-eos",
        "generation stops at the end of generation; -n limits it",
    ),
    ("-hf", "download the model and pass it with -m"),
    ("--hf-repo", "download the model and pass it with -m"),
    ("-mu", "download the model and pass it with -m"),
    ("--model-url", "download the model and pass it with -m"),
    ("--prompt-cache", "prompt caches are not supported yet"),
    ("--override-kv", "metadata overrides are not supported"),
    ("-np", "this is not a server (see the server issue)"),
    ("--parallel", "this is not a server (see the server issue)"),
    ("--host", "this is not a server (see the server issue)"),
    ("--port", "this is not a server (see the server issue)"),
];

/// The most threads `-t` takes.
pub const MAX_THREADS: usize = 1024;

/// What the command line asks for.
pub struct Args {
    /// `-m`; `None`: the default model.
    pub model: Option<PathBuf>,
    /// `-p` or `-f`, escapes expanded.
    pub prompt: Option<String>,
    /// `-sys`.
    pub system: Option<String>,
    /// `-n`; `None`: no limit.
    pub n_predict: Option<usize>,
    /// `-c`; 0: the model's length.
    pub ctx_size: usize,
    /// Tokens per evaluation step: the smaller of `-b` and `-ub`.
    pub n_batch: usize,
    /// `-t`; `None`: the number of cores.
    pub threads: Option<usize>,
    /// Sampling flags (`--repeat-last-n -1` is resolved by the caller: see `last_n_is_ctx`).
    pub sampling: SamplerParams,
    /// `--repeat-last-n -1`: the penalties look back over the whole context.
    pub last_n_is_ctx: bool,
    /// `-s`; `None` (or -1): a new seed.
    pub seed: Option<u64>,
    /// Chat mode.
    pub chat: bool,
    /// `--chat-template` (a name or Jinja text; a file's contents) or `--chat-template-file`
    /// (the file's contents): the last one given.
    pub chat_template: Option<String>,
    /// `--jinja`.
    pub jinja: bool,
    /// `--in-prefix`, escapes expanded.
    pub in_prefix: String,
    /// `--in-suffix`, escapes expanded.
    pub in_suffix: String,
    /// `-r`, escapes expanded.
    pub reverse_prompts: Vec<String>,
    /// Completion mode: echo the prompt.
    pub display_prompt: bool,
    /// `--color` and nothing against it (`--no-color`, `NO_COLOR`); the terminal check is the
    /// caller's.
    pub color: bool,
    /// `--log-disable`.
    pub quiet: bool,
    /// `--verbose-prompt`.
    pub verbose_prompt: bool,
    /// `--tokenize`.
    pub tokenize: bool,
    /// `--embedding`.
    pub embedding: bool,
    /// `--pooling`; `None`: the model's.
    pub pooling: Option<llamette::embed::Pooling>,
    /// `--embd-normalize` (llama.cpp's integer; default 2).
    pub embd_normalize: i32,
    /// `--embd-separator` (default "\n").
    pub embd_separator: String,
    /// `--no-mmap`.
    pub no_mmap: bool,
    /// One line per flag that was accepted and changes nothing here.
    pub notes: Vec<String>,
    /// `--grammar`, `--grammar-file`, `-j` or `-jf`: the last one given.
    #[cfg(feature = "grammar")]
    pub grammar: Option<GrammarArg>,
}

/// What a grammar flag's text is.
#[cfg(feature = "grammar")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrammarKind {
    /// llama.cpp's GBNF (`--grammar`, `--grammar-file`).
    Gbnf,
    /// A JSON schema (`-j`, `-jf`).
    JsonSchema,
}

/// A grammar from the command line, compiled once the model's vocabulary is known (GBNF may
/// name its tokens).
#[cfg(feature = "grammar")]
pub struct GrammarArg {
    /// GBNF or a JSON schema.
    pub kind: GrammarKind,
    /// The grammar's text, as typed or as the file holds it.
    pub text: String,
    /// Where it came from, for errors: `--grammar`, or `--grammar-file FNAME`.
    pub source: String,
}

/// The error for a grammar flag in a build without the `grammar` feature.
#[cfg(not(feature = "grammar"))]
fn without_grammar(flag: &str) -> ParseError {
    usage(format!(
        "{flag}: this llamette was built without the `grammar` feature; build it with `cargo install --path . --features grammar` (in a clone: `cargo run --release --features grammar -- ...`)"
    ))
}

/// What parsing the command line gives.
pub enum Parsed {
    /// Run with these arguments.
    Run(Box<Args>),
    /// `--help`: print [`help`], exit 0.
    Help,
    /// `--version`.
    Version,
    /// No arguments at all: print [`short_usage`], exit 2.
    Nothing,
}

/// A usage error: one line.
pub struct UsageError(pub String);

/// A failure reading `-f`'s file (not a usage error: exit 1).
pub struct FileError(pub String);

/// Why parsing stopped.
pub enum ParseError {
    /// Bad usage (exit 2).
    Usage(UsageError),
    /// A file could not be read (exit 1).
    File(FileError),
}

fn usage(msg: impl Into<String>) -> ParseError {
    ParseError::Usage(UsageError(msg.into()))
}

/// The flag `arg` spells, with underscores read as dashes (`--repeat_penalty`).
fn lookup(arg: &str) -> Option<&'static Spec> {
    let norm = normalize(arg);
    GROUPS
        .iter()
        .flat_map(|(_, specs)| specs.iter())
        .find(|s| s.names.contains(&norm.as_str()))
}

fn normalize(arg: &str) -> String {
    if let Some(rest) = arg.strip_prefix("--") {
        format!("--{}", rest.replace('_', "-"))
    } else {
        arg.to_string()
    }
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// The llamette flag closest to `arg`, if one is close.
fn closest(arg: &str) -> Option<&'static str> {
    let norm = normalize(arg);
    let (d, name) = GROUPS
        .iter()
        .flat_map(|(_, specs)| specs.iter())
        .filter(|s| !matches!(s.id, Id::Gpu | Id::Ignored | Id::IgnoredValue))
        .flat_map(|s| s.names.iter())
        .map(|n| (distance(&norm, n), *n))
        .min()?;
    (d <= (norm.len() / 3).max(2)).then_some(name)
}

fn unknown(arg: &str) -> ParseError {
    let norm = normalize(arg);
    let mut msg = match NOT_HERE.iter().find(|(f, _)| *f == norm) {
        Some((_, why)) => format!("{arg}: a llama.cpp flag llamette does not have ({why})"),
        None => format!("unknown argument: {arg}"),
    };
    if let Some(near) = closest(arg) {
        msg.push_str(&format!("; did you mean {near}?"));
    }
    msg.push_str(" (llamette --help lists the flags)");
    usage(msg)
}

/// `OsStr` to bytes: exact on Unix; elsewhere only valid Unicode converts.
fn os_bytes(s: &OsStr) -> Option<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Some(s.as_bytes().to_vec())
    }
    #[cfg(not(unix))]
    {
        s.to_str().map(|t| t.as_bytes().to_vec())
    }
}

/// llama.cpp's escape processing (`string_process_escapes`): `\n`, `\r`, `\t`, `\'`, `\"`,
/// `\\` and `\xNN` (two hex digits) become the character they name; any other backslash
/// stays as typed.
pub fn expand_escapes(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c != b'\\' || i + 1 == text.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = text[i + 1];
        let simple = match e {
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'\'' => Some(b'\''),
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            i += 2;
            continue;
        }
        if e == b'x' && i + 3 < text.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(text[i + 2]), hex(text[i + 3])) {
                out.push((h * 16 + l) as u8);
                i += 4;
                continue;
            }
        }
        out.push(b'\\');
        out.push(e);
        i += 2;
    }
    out
}

fn text_of(what: &str, bytes: Vec<u8>) -> Result<String, ParseError> {
    String::from_utf8(bytes).map_err(|e| {
        usage(format!(
            "{what} is not valid UTF-8 (byte {} is not part of a character)",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// A file's bytes, with an error that names the file once and says plainly what is wrong.
pub fn read_file(path: &OsStr) -> Result<Vec<u8>, ParseError> {
    let shown = PathBuf::from(path);
    if shown.is_dir() {
        return Err(ParseError::File(FileError(format!(
            "{}: is a directory",
            shown.display()
        ))));
    }
    std::fs::read(path).map_err(|e| {
        ParseError::File(FileError(format!(
            "{}: {}",
            shown.display(),
            plain(&e.to_string())
        )))
    })
}

/// An I/O error's message without the "(os error N)" that follows it.
pub fn plain(msg: &str) -> &str {
    msg.find(" (os error ").map_or(msg, |at| &msg[..at])
}

/// Parses `-l`'s `ID+BIAS` / `ID-BIAS` (`inf` allowed).
fn logit_bias(v: &str) -> Option<(u32, f32)> {
    let at = v.find(['+', '-'])?;
    let id: u32 = v[..at].trim().parse().ok()?;
    let mag = &v[at + 1..];
    // `inf` bans (or forces) a token; NaN is no bias.
    let b: f32 = mag.parse().ok().filter(|b: &f32| !b.is_nan())?;
    Some((id, if v.as_bytes()[at] == b'-' { -b } else { b }))
}

/// Parses the arguments after the program name.
pub fn parse(raw: Vec<OsString>) -> Result<Parsed, ParseError> {
    if raw.is_empty() {
        return Ok(Parsed::Nothing);
    }
    let mut a = Args {
        model: None,
        prompt: None,
        system: None,
        n_predict: None,
        ctx_size: 4096,
        n_batch: 512,
        threads: None,
        sampling: SamplerParams::default(),
        last_n_is_ctx: false,
        seed: None,
        chat: false,
        chat_template: None,
        jinja: false,
        in_prefix: String::new(),
        in_suffix: String::new(),
        reverse_prompts: Vec::new(),
        display_prompt: true,
        color: false,
        quiet: false,
        verbose_prompt: false,
        tokenize: false,
        embedding: false,
        pooling: None,
        embd_normalize: 2,
        embd_separator: "\n".into(),
        no_mmap: false,
        notes: Vec::new(),
        #[cfg(feature = "grammar")]
        grammar: None,
    };
    let mut escape = true;
    let mut no_color = false;
    let (mut batch, mut ubatch) = (2048usize, 512usize);
    // Texts whose escapes are expanded once every flag is known (`--no-escape` may come last).
    let mut prompt: Option<Vec<u8>> = None;
    let mut system: Option<Vec<u8>> = None;
    let (mut prefix, mut suffix) = (Vec::new(), Vec::new());
    let mut reverse: Vec<Vec<u8>> = Vec::new();
    let mut gpu_flags: Vec<String> = Vec::new();

    let mut it = raw.into_iter();
    while let Some(arg_os) = it.next() {
        let Some(arg) = arg_os.to_str() else {
            return Err(usage(format!(
                "argument is not valid UTF-8: {}",
                arg_os.to_string_lossy()
            )));
        };
        // `--flag=value` as well as `--flag value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(OsString::from(v))),
            _ => (arg.to_string(), None),
        };
        let Some(spec) = lookup(&flag) else {
            return Err(unknown(&flag));
        };
        let mut value_os = || -> Result<OsString, ParseError> {
            if spec.value.is_none() {
                return Err(usage(format!("{flag} takes no value")));
            }
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .ok_or_else(|| usage(format!("{flag} needs a value"))),
            }
        };
        if spec.value.is_none() && inline.is_some() {
            return Err(usage(format!("{flag} takes no value")));
        }
        let mut value = || -> Result<String, ParseError> {
            let v = value_os()?;
            v.into_string().map_err(|v| {
                usage(format!(
                    "{flag}: value is not valid UTF-8: {}",
                    v.to_string_lossy()
                ))
            })
        };
        macro_rules! num {
            ($t:ty) => {{
                let v = value()?;
                v.trim()
                    .parse::<$t>()
                    .map_err(|_| usage(format!("{flag}: not a number: {v}")))?
            }};
        }
        macro_rules! count {
            () => {{
                let n: i64 = num!(i64);
                usize::try_from(n).map_err(|_| usage(format!("{flag} {n}: must be 0 or more")))?
            }};
        }
        macro_rules! finite {
            () => {{
                let x: f32 = num!(f32);
                if x.is_nan() {
                    return Err(usage(format!("{flag}: not a number: NaN")));
                }
                x
            }};
        }
        match spec.id {
            Id::Model => a.model = Some(PathBuf::from(value_os()?)),
            Id::Prompt => {
                let v = value_os()?;
                prompt =
                    Some(os_bytes(&v).ok_or_else(|| usage("the prompt is not valid Unicode"))?);
            }
            Id::File => prompt = Some(read_file(&value_os()?)?),
            Id::System => {
                let v = value_os()?;
                system = Some(
                    os_bytes(&v).ok_or_else(|| usage("the system prompt is not valid Unicode"))?,
                );
            }
            Id::Escape => escape = true,
            Id::NoEscape => escape = false,
            Id::NPredict => {
                let n: i64 = num!(i64);
                if n < -2 {
                    return Err(usage(format!(
                        "{flag} {n}: -1 or -2 (no limit), or 0 or more"
                    )));
                }
                a.n_predict = usize::try_from(n).ok();
            }
            Id::CtxSize => a.ctx_size = count!(),
            Id::BatchSize => batch = count!().max(1),
            Id::UBatchSize => ubatch = count!().max(1),
            Id::Threads => {
                let n: i64 = num!(i64);
                let n = usize::try_from(n).unwrap_or(0);
                if n > MAX_THREADS {
                    return Err(usage(format!("{flag} {n}: at most {MAX_THREADS} threads")));
                }
                a.threads = Some(n);
            }
            Id::ThreadsBatch => {
                let v = value()?;
                a.notes.push(format!(
                    "{flag} {v}: ignored; the prompt uses the -t threads"
                ));
            }
            Id::Temp => a.sampling.temp = finite!(),
            Id::TopK => {
                // llama.cpp: 0 or less keeps every token.
                let k: i64 = num!(i64);
                a.sampling.top_k = usize::try_from(k).unwrap_or(0);
            }
            Id::TopP => a.sampling.top_p = finite!(),
            Id::MinP => a.sampling.min_p = finite!(),
            Id::RepeatPenalty => a.sampling.penalty_repeat = finite!(),
            Id::RepeatLastN => {
                let n: i64 = num!(i64);
                a.last_n_is_ctx = n == -1;
                a.sampling.penalty_last_n = if n == -1 {
                    0
                } else {
                    usize::try_from(n).map_err(|_| {
                        usage(format!("{flag} {n}: 0 or more, or -1 (the context size)"))
                    })?
                };
            }
            Id::PresencePenalty => a.sampling.penalty_present = finite!(),
            Id::FrequencyPenalty => a.sampling.penalty_freq = finite!(),
            Id::DynatempRange => a.sampling.dynatemp_range = finite!(),
            Id::DynatempExp => a.sampling.dynatemp_exponent = finite!(),
            Id::LogitBias => {
                let v = value()?;
                let b = logit_bias(&v).ok_or_else(|| {
                    usage(format!("{flag} {v}: expected TOKEN_ID+BIAS or TOKEN_ID-BIAS, e.g. 15043+1 or 15043-inf"))
                })?;
                a.sampling.logit_bias.push(b);
            }
            Id::Seed => {
                let s: i64 = num!(i64);
                // llama.cpp's LLAMA_DEFAULT_SEED (-1, 0xFFFFFFFF) asks for a random seed.
                a.seed = match s {
                    -1 | 0xFFFF_FFFF => None,
                    s => Some(
                        u64::try_from(s)
                            .map_err(|_| usage(format!("{flag} {s}: 0 or more, or -1 (random)")))?,
                    ),
                };
            }
            Id::Chat => a.chat = true,
            Id::NoChat => a.chat = false,
            Id::InPrefix => prefix = os_bytes(&value_os()?).unwrap_or_default(),
            Id::InSuffix => suffix = os_bytes(&value_os()?).unwrap_or_default(),
            Id::ReversePrompt => reverse.push(os_bytes(&value_os()?).unwrap_or_default()),
            Id::Keep => {
                let _: i64 = num!(i64);
            }
            Id::ChatTemplate => {
                let v = value()?;
                // A path that names a file is read; anything else is a name or the text.
                let path = std::path::Path::new(&v);
                a.chat_template = Some(if v.len() < 4096 && path.is_file() {
                    text_of(&format!("{flag} {v}"), read_file(path.as_os_str())?)?
                } else {
                    v
                });
            }
            Id::ChatTemplateFile => {
                let path = value_os()?;
                let source = format!("{flag} {}", path.to_string_lossy());
                a.chat_template = Some(text_of(&source, read_file(&path)?)?);
            }
            Id::Jinja => a.jinja = true,
            Id::DisplayPrompt => a.display_prompt = true,
            Id::NoDisplayPrompt => a.display_prompt = false,
            Id::VerbosePrompt => a.verbose_prompt = true,
            Id::Tokenize => a.tokenize = true,
            Id::Embedding => a.embedding = true,
            Id::Pooling => {
                let v = value()?;
                a.pooling = Some(llamette::embed::Pooling::from_name(&v).ok_or_else(|| {
                    usage(format!("{flag} {v}: expected none, mean, cls or last"))
                })?);
            }
            Id::EmbdNormalize => a.embd_normalize = num!(i32),
            Id::EmbdSeparator => a.embd_separator = value()?,
            Id::NoMmap => a.no_mmap = true,
            Id::Color => a.color = true,
            Id::NoColor => no_color = true,
            Id::LogDisable => a.quiet = true,
            #[cfg(not(feature = "grammar"))]
            Id::Grammar | Id::GrammarFile | Id::JsonSchema | Id::JsonSchemaFile => {
                return Err(without_grammar(&flag));
            }
            #[cfg(feature = "grammar")]
            Id::Grammar | Id::GrammarFile | Id::JsonSchema | Id::JsonSchemaFile => {
                let kind = match spec.id {
                    Id::Grammar | Id::GrammarFile => GrammarKind::Gbnf,
                    _ => GrammarKind::JsonSchema,
                };
                // As typed: llama.cpp expands no escapes in a grammar.
                let (text, source) = if matches!(spec.id, Id::GrammarFile | Id::JsonSchemaFile) {
                    let path = value_os()?;
                    let source = format!("{flag} {}", path.to_string_lossy());
                    (text_of(&source, read_file(&path)?)?, source)
                } else {
                    (value()?, flag.clone())
                };
                if let Some(old) = &a.grammar {
                    // llama.cpp keeps the last one without a word.
                    a.notes.push(format!(
                        "{}: replaced by the later {flag} (the last grammar flag counts)",
                        old.source
                    ));
                }
                a.grammar = Some(GrammarArg { kind, text, source });
            }
            Id::Gpu => {
                let v = value()?;
                gpu_flags.push(format!("{flag} {v}"));
            }
            Id::IgnoredValue => {
                let v = value()?;
                a.notes.push(format!(
                    "{flag} {v}: ignored ({})",
                    spec.help.trim_start_matches("accepted; ")
                ));
            }
            Id::Ignored => {
                a.notes.push(format!(
                    "{flag}: ignored ({})",
                    spec.help.trim_start_matches("accepted; ")
                ));
            }
            Id::Help => return Ok(Parsed::Help),
            Id::Version => return Ok(Parsed::Version),
        }
    }
    if !gpu_flags.is_empty() {
        a.notes.insert(
            0,
            format!(
                "{}: no GPU offload; every layer runs on the CPU",
                gpu_flags.join(", ")
            ),
        );
    }
    let esc = |t: Vec<u8>| if escape { expand_escapes(&t) } else { t };
    a.prompt = prompt.map(|p| text_of("the prompt", esc(p))).transpose()?;
    a.system = system
        .map(|s| text_of("the system prompt", esc(s)))
        .transpose()?;
    a.in_prefix = text_of("--in-prefix", esc(prefix))?;
    a.in_suffix = text_of("--in-suffix", esc(suffix))?;
    for r in reverse {
        let r = text_of("-r", esc(r))?;
        if !r.is_empty() {
            a.reverse_prompts.push(r);
        }
    }
    a.n_batch = batch.min(ubatch);
    let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    a.color = a.color && !no_color && !no_color_env;
    Ok(Parsed::Run(Box::new(a)))
}

/// What `llamette` with no arguments prints (stderr, exit 2).
pub fn short_usage() -> String {
    "usage: llamette [-m MODEL.gguf] [-p PROMPT | -f FILE] [-n N] [-c N] [-t N] [--temp T] [-cnv] ...\n\
     \n\
     Try:\n\
     \x20 llamette -cnv -p \"What is the capital of France?\"     chat with the default model (SmolLM2-135M-Instruct, fetched once)\n\
     \x20 llamette -m MODEL.gguf -p \"def fibonacci(n):\" -n 64   continue a prompt with your model\n\
     \n\
     llamette --help lists every flag."
        .to_string()
}

/// The full flag list, with defaults and the environment variables (stdout, exit 0).
pub fn help() -> String {
    let mut s = String::from(
        "llamette: run a GGUF language model, with the flags llama.cpp's llama-cli takes.\n\
         \n\
         usage: llamette [-m MODEL.gguf] [-p PROMPT | -f FILE] [FLAGS]\n\
         \n\
         Completion mode (the default) prints the prompt and its continuation; chat mode (-cnv)\n\
         answers turn after turn in the model's chat format. Text goes to stdout; notes, timings\n\
         and errors to stderr (exit 1 on an error, 2 on bad usage, 130 after Ctrl-C).\n\
         Every --flag also takes its underscore spelling (--repeat_penalty) and --flag=VALUE.\n",
    );
    for (title, specs) in GROUPS {
        s.push_str(&format!("\n{title}:\n"));
        for spec in *specs {
            let mut left = spec.names.join(", ");
            if let Some(v) = spec.value {
                left.push(' ');
                left.push_str(v);
            }
            s.push_str(&wrap(&left, spec.help));
        }
    }
    s.push_str(
        "\nEnvironment:\n\
         \x20 LLAMETTE_SCALAR=1       run the scalar reference kernels (same bits, slower)\n\
         \x20 LLAMETTE_NO_AVX512=1    x86-64: keep to the AVX2 kernels\n\
         \x20 LLAMETTE_NO_DOTPROD=1   aarch64: NEON kernels without SDOT\n\
         \x20 NO_COLOR                set and not empty: no colours, whatever --color says\n\
         \n\
         Examples:\n\
         \x20 llamette -cnv -p \"What is the capital of France?\"\n\
         \x20 llamette -p \"A cat as JSON:\" -j '{\"type\": \"object\"}' --no-display-prompt\n\
         \x20 llamette -m codellama-70b-instruct.Q4_K_M.gguf --color -c 4096 --temp 0.7 --repeat_penalty 1.1 -n -1 \\\n\
         \x20     -p \"Source: system\\n\\n  You are a helpful coder.<step> Source: user\\n\\n  Write quicksort in Rust. <step> Source: assistant\"\n",
    );
    s
}

/// One help entry: the flags, then the text wrapped at 100 columns, indented under column 32.
fn wrap(left: &str, help: &str) -> String {
    const COL: usize = 32;
    const WIDTH: usize = 100;
    let mut out = format!("  {left}");
    let mut col = out.chars().count();
    if col + 1 > COL {
        out.push('\n');
        col = 0;
    }
    out.push_str(&" ".repeat(COL - col));
    col = COL;
    let mut first = true;
    for word in help.split(' ') {
        let w = word.chars().count();
        if !first && col + 1 + w > WIDTH {
            out.push('\n');
            out.push_str(&" ".repeat(COL));
            col = COL;
            first = true;
        }
        if !first {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += w;
        first = false;
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_follow_llama_cpp() {
        assert_eq!(expand_escapes(br#"a\nb\tc\\d\'e\"f"#), b"a\nb\tc\\d'e\"f");
        assert_eq!(expand_escapes(br"\x41\x7a\x4"), b"Az\\x4");
        assert_eq!(expand_escapes(br"\q\"), b"\\q\\");
        assert_eq!(expand_escapes(br"\xg1"), b"\\xg1");
        assert_eq!(expand_escapes(br"\r"), b"\r");
        assert_eq!(expand_escapes(br"\x41"), b"A");
    }

    #[test]
    fn underscores_and_closest_flags() {
        assert!(lookup("--repeat_penalty").is_some_and(|s| s.id == Id::RepeatPenalty));
        assert!(lookup("--n_gpu_layers").is_some_and(|s| s.id == Id::Gpu));
        assert_eq!(closest("--repeat-penalti"), Some("--repeat-penalty"));
        assert_eq!(closest("--temperature"), None);
        assert_eq!(closest("--ctx-sise"), Some("--ctx-size"));
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn logit_bias_values() {
        assert_eq!(logit_bias("15043+1"), Some((15043, 1.0)));
        assert_eq!(logit_bias("15043-inf"), Some((15043, f32::NEG_INFINITY)));
        assert_eq!(logit_bias("2-0.5"), Some((2, -0.5)));
        assert_eq!(logit_bias("x+1"), None);
        assert_eq!(logit_bias("12"), None);
    }
}
