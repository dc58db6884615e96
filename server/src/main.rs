//! `llamette-server`: an OpenAI-compatible server (llama-server's endpoints and flags).
//!
//! ```text
//! llamette-server -m MODEL.gguf --port 8080 -np 4
//! curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
//!   -d '{"messages": [{"role": "user", "content": "What is the capital of France?"}]}'
//! ```
//!
//! It binds the address first (`/health` answers 503 while the model loads), then loads the
//! model and starts the engine thread. SIGINT or SIGTERM: the running requests end with what
//! they have (a last event for streams), the server stops accepting, and the process exits 0.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{mpsc, Arc};

use llamette::chat::template::ChatTemplate;
use llamette::chat::{ChatFormat, ChatPrompt};
use llamette::embed::Pooling;
use llamette::tokenizer::Vocab;
use llamette::Model;
use llamette_server::args::{self, Args, Parsed};
use llamette_server::engine::{Engine, EngineParams, Request, Shared};
use llamette_server::http::{self, AppState, Loaded};

/// The default model, relative to the repository.
const DEFAULT_MODEL: &str = "models/smollm2-135m-instruct.q4_1.gguf";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let a = match args::parse(&argv) {
        Ok(Parsed::Run(a)) => *a,
        Ok(Parsed::Help) => {
            print!("{}", args::help());
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("llamette-server {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("llamette-server: {e}");
            return ExitCode::from(2);
        }
    };
    for n in &a.notes {
        eprintln!("llamette-server: note: {n}");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("llamette-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llamette-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The model to serve: `-m`, or the default one, fetched on first use as the CLI does.
fn model_path(a: &Args) -> Result<PathBuf, String> {
    if let Some(m) = &a.model {
        return Ok(m.clone());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join(DEFAULT_MODEL);
    if !path.exists() {
        let script = root.join("scripts/fetch-smollm2.sh");
        if !script.exists() {
            return Err(format!(
                "no -m given, and the default model's fetch script {} is gone: pass a model with -m",
                script.display()
            ));
        }
        eprintln!("llamette-server: no -m given; fetching the default model SmolLM2-135M-Instruct (98 MB) once");
        let status = std::process::Command::new("bash")
            .arg(&script)
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !status.success() || !path.exists() {
            return Err(format!(
                "fetching the default model failed ({})",
                script.display()
            ));
        }
    }
    Ok(path)
}

/// The chat prompt: `--chat-template`/`--chat-template-file`, else the model's own, else
/// ChatML (as llama-server falls back to it).
fn chat_prompt(a: &Args, model: &Model<'_>) -> Result<ChatPrompt, String> {
    let header = model.header();
    let from_text = |text: &str| {
        ChatTemplate::from_text_for(header, text)
            .map(|t| ChatPrompt::Template(Box::new(t)))
            .map_err(|e| format!("the chat template does not parse: {e}"))
    };
    if let Some(file) = &a.chat_template_file {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        return from_text(&text);
    }
    if let Some(t) = &a.chat_template {
        if let Some(f) = ChatFormat::from_name(t) {
            return Ok(ChatPrompt::Format(f));
        }
        if let Some(named) = ChatTemplate::named(header, t).map_err(|e| e.to_string())? {
            return Ok(ChatPrompt::Template(Box::new(named)));
        }
        if Path::new(t).is_file() {
            let text = std::fs::read_to_string(t).map_err(|e| format!("{t}: {e}"))?;
            return from_text(&text);
        }
        if t.contains("{%") || t.contains("{{") {
            return from_text(t);
        }
        return Err(format!(
            "--chat-template {t:?}: not a built-in format (chatml, llama2, llama3, codellama-70b), a template named in the file, a file, or a Jinja template"
        ));
    }
    Ok(ChatPrompt::of_model(header)
        .map_err(|e| e.to_string())?
        .unwrap_or(ChatPrompt::Format(ChatFormat::ChatMl)))
}

async fn serve(a: Args) -> Result<(), String> {
    let path = model_path(&a)?;
    let addr = format!("{}:{}", a.host, a.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("llamette-server: listening on http://{local}");
    let shared = Arc::new(Shared::default());
    let state = Arc::new(AppState::new(a.clone(), shared.clone()));
    let app = http::router(state.clone());

    // Load in the background: /health says 503 until it is done.
    let (engine_tx, engine_rx) = mpsc::channel::<Request>();
    let loader = {
        let state = state.clone();
        let engine_tx = engine_tx.clone();
        std::thread::Builder::new()
            .name("llamette-engine".into())
            .spawn(move || match load(&state.args, &path, engine_tx, shared) {
                Ok((loaded, engine)) => {
                    eprintln!(
                        "llamette-server: model {} loaded: {} slots of {} positions",
                        loaded.name,
                        loaded.params.n_slots,
                        loaded.params.n_ctx_slot()
                    );
                    let _ = state.loaded.set(Arc::new(loaded));
                    engine.run(engine_rx);
                }
                Err(e) => {
                    eprintln!("llamette-server: {e}");
                    let _ = state.load_error.set(e);
                }
            })
            .map_err(|e| e.to_string())?
    };

    let shutdown = async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        eprintln!("llamette-server: stopping: the running requests end with what they have");
        let _ = engine_tx.send(Request::Shutdown);
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| e.to_string())?;
    // The engine has finished every request; wait for it (it exits on Shutdown).
    let failed = state.load_error.get().is_some();
    if state.loaded.get().is_some() {
        let _ = loader.join();
    }
    if failed {
        return Err("the model failed to load".into());
    }
    eprintln!("llamette-server: stopped");
    Ok(())
}

fn load(
    a: &Args,
    path: &Path,
    engine_tx: mpsc::Sender<Request>,
    shared: Arc<Shared>,
) -> Result<(Loaded, Engine), String> {
    let shown = path.display().to_string();
    let model = Model::load(path).map_err(|e| format!("{shown}: {e}"))?;
    let model: &'static Model<'static> = Box::leak(Box::new(model));
    let vocab = Arc::new(Vocab::from_gguf(model.header()).map_err(|e| format!("{shown}: {e}"))?);
    let chat = chat_prompt(a, model)?;
    let chat_stop = chat.stop_tokens(&vocab);
    let template_text = match &chat {
        ChatPrompt::Template(t) => t.source().to_string(),
        ChatPrompt::Format(f) => {
            match (&a.chat_template, ChatTemplate::from_gguf(model.header())) {
                (None, Ok(Some(t))) => t.source().to_string(),
                _ => f.name().to_string(),
            }
        }
    };
    let n_ctx = if a.ctx_size == 0 {
        model.config().n_ctx_train.max(a.parallel)
    } else {
        a.ctx_size
    };
    if n_ctx / a.parallel < 8 {
        return Err(format!(
            "-c {n_ctx} with -np {}: each slot would hold {} positions; give a larger -c",
            a.parallel,
            n_ctx / a.parallel
        ));
    }
    let pooling = match &a.pooling {
        Some(p) => Pooling::from_name(p).unwrap_or(Pooling::Mean),
        None => match Pooling::of_model(model).map_err(|e| e.to_string())? {
            Pooling::None => Pooling::Mean,
            p => p,
        },
    };
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let params = EngineParams {
        n_ctx,
        n_slots: a.parallel,
        n_batch: a.n_batch,
        threads,
        context_shift: a.context_shift,
        pooling,
    };
    let engine = Engine::new(model, vocab.clone(), params.clone(), shared)
        .map_err(|e| format!("cannot allocate the context: {e}"))?;
    let name = a.alias.clone().unwrap_or_else(|| {
        path.file_name()
            .map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned())
    });
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok((
        Loaded {
            model,
            vocab,
            chat,
            chat_stop,
            template_text,
            engine: engine_tx,
            params,
            name,
            path: shown,
            created,
        },
        engine,
    ))
}
