//! The command line, in llama-server's spelling.

use std::path::PathBuf;

/// The server's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// `-m, --model`: the GGUF file (`None`: the repository's default model, fetched once).
    pub model: Option<PathBuf>,
    /// `--host` (default 127.0.0.1).
    pub host: String,
    /// `--port` (default 8080).
    pub port: u16,
    /// `-c, --ctx-size`: the KV cache's positions, shared by the slots (0: the model's
    /// training context).
    pub ctx_size: usize,
    /// `-np, --parallel`: slots (default 4, as llama-server's automatic choice).
    pub parallel: usize,
    /// `-t, --threads` (default: one per core).
    pub threads: Option<usize>,
    /// `-b, --batch-size`: tokens per evaluation step (default 512).
    pub n_batch: usize,
    /// `--api-key` (also `LLAMA_API_KEY`): then every endpoint but `/health` needs
    /// `Authorization: Bearer KEY`.
    pub api_key: Option<String>,
    /// `--timeout`: seconds a request may run (default 600).
    pub timeout: u64,
    /// `--chat-template NAME|FILE|TEXT` (a built-in format's name, a named template in the
    /// file, a file holding a Jinja template, or the template itself).
    pub chat_template: Option<String>,
    /// `--chat-template-file FILE`.
    pub chat_template_file: Option<PathBuf>,
    /// `-a, --alias`: the model's name in responses (default: the file's name).
    pub alias: Option<String>,
    /// `--max-queue`: requests that may wait for a slot (default 64); more get 503.
    pub max_queue: usize,
    /// `--max-body`: the largest request body in bytes (default 16 MiB); larger get 413.
    pub max_body: usize,
    /// `--pooling none|mean|cls|last`: the embeddings' pooling (default: the model's, mean
    /// where it says none, since OpenAI's embeddings are one vector per input).
    pub pooling: Option<String>,
    /// `--context-shift`: when a slot's context fills during generation, drop the older half
    /// after `n_keep` and go on (llama-server's `--context-shift`); without it the generation
    /// ends with `finish_reason: "length"`.
    pub context_shift: bool,
    /// `--no-webui`: no chat page at `/`.
    pub no_webui: bool,
    /// `--log-disable`: no request log on stderr.
    pub quiet: bool,
    /// Notes about flags that were accepted but have no effect here.
    pub notes: Vec<String>,
}

impl Default for Args {
    fn default() -> Args {
        Args {
            model: None,
            host: "127.0.0.1".into(),
            port: 8080,
            ctx_size: 0,
            parallel: 4,
            threads: None,
            n_batch: 512,
            api_key: None,
            timeout: 600,
            chat_template: None,
            chat_template_file: None,
            alias: None,
            max_queue: 64,
            max_body: 16 << 20,
            pooling: None,
            context_shift: false,
            no_webui: false,
            quiet: false,
            notes: Vec::new(),
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Serve.
    Run(Box<Args>),
    /// `-h, --help`.
    Help,
    /// `--version`.
    Version,
}

/// The help text.
pub fn help() -> String {
    "\
usage: llamette-server [-m MODEL] [--host HOST] [--port PORT] [options]

An OpenAI-compatible server (llama-server's endpoints and flags) for a GGUF model.

  -m, --model FILE          the GGUF model (default: SmolLM2-135M-Instruct, fetched once)
      --host HOST           address to listen on (default 127.0.0.1)
      --port PORT           port (default 8080; 0: any free port, printed at start)
  -c, --ctx-size N          KV cache positions, shared by the slots (default 0: the model's)
  -np, --parallel N         slots: requests generated at once in one batch (default 4)
  -t, --threads N           threads (default: one per core)
  -b, --batch-size N        tokens evaluated per step (default 512)
      --api-key KEY         require `Authorization: Bearer KEY` (all but /health); also LLAMA_API_KEY
      --timeout N           seconds a request may run (default 600)
      --chat-template NAME  a built-in format (chatml, llama2, llama3, codellama-70b), a named
                            template of the file, a Jinja file, or the template text
      --chat-template-file FILE   a Jinja chat template
  -a, --alias NAME          the model's name in responses (default: the file name)
      --max-queue N         requests that may wait for a slot (default 64; more get 503)
      --max-body BYTES      largest request body (default 16777216; larger get 413)
      --pooling TYPE        embeddings' pooling: none, mean, cls, last (default: the model's; mean for none)
      --context-shift       when a slot's context fills, drop old tokens and go on
      --no-webui            no chat page at /
      --log-disable         no request log
  -h, --help                this text
      --version             the version

Endpoints: POST /v1/chat/completions /v1/completions /completion /v1/embeddings /infill
/tokenize /detokenize /apply-template; GET /v1/models /health /props /metrics /slots /.
"
    .to_string()
}

/// Flags llama-server has that change nothing here (accepted, with a note), with whether they
/// take a value.
const IGNORED: &[(&str, bool)] = &[
    ("-ngl", true),
    ("--gpu-layers", true),
    ("--n-gpu-layers", true),
    ("-fa", true),
    ("--flash-attn", true),
    ("--mlock", false),
    ("--no-mmap", false),
    ("--metrics", false),
    ("--jinja", false),
    ("--embedding", false),
    ("--embeddings", false),
    ("--cont-batching", false),
    ("-cb", false),
    ("-ub", true),
    ("--ubatch-size", true),
    ("--threads-http", true),
    ("--slots", false),
    ("-kvu", false),
    ("--kv-unified", false),
];

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut a = Args::default();
    if let Ok(k) = std::env::var("LLAMA_API_KEY") {
        if !k.is_empty() {
            a.api_key = Some(k);
        }
    }
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (flag, None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i)
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.trim()
                .parse()
                .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
        }
        match flag {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--version" => return Ok(Parsed::Version),
            "-m" | "--model" => a.model = Some(PathBuf::from(value()?)),
            "--host" => a.host = value()?,
            "--port" => a.port = num(flag, value()?)?,
            "-c" | "--ctx-size" => a.ctx_size = num(flag, value()?)?,
            "-np" | "--parallel" => {
                let n: i64 = num(flag, value()?)?;
                a.parallel = match n {
                    -1 => 4,
                    n if (1..=64).contains(&n) => n as usize,
                    _ => return Err(format!("{flag}: {n} slots; give 1 to 64 (or -1: 4)")),
                };
            }
            "-t" | "--threads" => {
                let n: i64 = num(flag, value()?)?;
                a.threads = if n <= 0 { None } else { Some(n as usize) };
            }
            "-b" | "--batch-size" => {
                a.n_batch = num(flag, value()?)?;
                if a.n_batch == 0 {
                    return Err(format!("{flag} must be at least 1"));
                }
            }
            "--api-key" => a.api_key = Some(value()?),
            "--timeout" | "-to" => a.timeout = num(flag, value()?)?,
            "--chat-template" => a.chat_template = Some(value()?),
            "--chat-template-file" => a.chat_template_file = Some(PathBuf::from(value()?)),
            "-a" | "--alias" => a.alias = Some(value()?),
            "--max-queue" => a.max_queue = num(flag, value()?)?,
            "--max-body" => a.max_body = num(flag, value()?)?,
            "--pooling" => {
                let p = value()?;
                if llamette::embed::Pooling::from_name(&p).is_none() {
                    return Err(format!(
                        "--pooling: {p:?} is not one of none, mean, cls, last"
                    ));
                }
                a.pooling = Some(p);
            }
            "--context-shift" => a.context_shift = true,
            "--no-context-shift" => a.context_shift = false,
            "--no-webui" => a.no_webui = true,
            "--log-disable" => a.quiet = true,
            _ => match IGNORED.iter().find(|(f, _)| *f == flag) {
                Some(&(f, takes)) => {
                    if takes {
                        value()?;
                    }
                    a.notes.push(format!("{f} has no effect here (ignored)"));
                }
                None => {
                    return Err(format!(
                        "unknown argument {flag:?} (llamette-server --help lists them)"
                    ))
                }
            },
        }
        i += 1;
    }
    Ok(Parsed::Run(Box::new(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Args, String> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&v)? {
            Parsed::Run(a) => Ok(*a),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn llama_servers_spelling() {
        let a = run(&[
            "-m",
            "x.gguf",
            "--port",
            "9000",
            "-np",
            "2",
            "-c",
            "2048",
            "--api-key=k",
            "-ngl",
            "99",
            "-a",
            "m",
        ])
        .unwrap();
        assert_eq!(a.model, Some(PathBuf::from("x.gguf")));
        assert_eq!((a.port, a.parallel, a.ctx_size), (9000, 2, 2048));
        assert_eq!(a.api_key.as_deref(), Some("k"));
        assert_eq!(a.alias.as_deref(), Some("m"));
        assert_eq!(
            a.notes,
            vec!["-ngl has no effect here (ignored)".to_string()]
        );
        assert_eq!(
            run(&["--port", "x"]).unwrap_err(),
            "--port: \"x\" is not a valid number"
        );
        assert_eq!(
            run(&["-np", "0"]).unwrap_err(),
            "-np: 0 slots; give 1 to 64 (or -1: 4)"
        );
        assert!(run(&["--bogus"])
            .unwrap_err()
            .starts_with("unknown argument \"--bogus\""));
        assert_eq!(run(&["-m"]).unwrap_err(), "-m needs a value");
    }
}
