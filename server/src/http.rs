//! The routes (axum), the chat page, authentication, the request log and `/metrics`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request as HttpRequest, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use llamette::chat::template::TemplateExtra;
use llamette::chat::{ChatPrompt, Message};
use llamette::grammar::Grammar;
use llamette::infill::{self, ExtraChunk, InfillParams};
use llamette::tokenizer::Vocab;
use llamette::Model;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::sync::oneshot;

use crate::api::{
    self, ApiError, BiasKey, Dialect, ErrorKind, Fields, GenParams, GrammarSpec, PromptPart,
};
use crate::args::Args;
use crate::engine::{Done, EmbedJob, EngineParams, Event, Job, Request, Shared};

/// What exists once the model is loaded.
pub struct Loaded {
    /// The model.
    pub model: &'static Model<'static>,
    /// Its vocabulary.
    pub vocab: Arc<Vocab>,
    /// How conversations become prompts.
    pub chat: ChatPrompt,
    /// The tokens that end an assistant's turn.
    pub chat_stop: Vec<u32>,
    /// The chat template's text for `/props` (a built-in format's name when one was chosen
    /// by name).
    pub template_text: String,
    /// The engine's queue.
    pub engine: mpsc::Sender<Request>,
    /// The engine's settings.
    pub params: EngineParams,
    /// The model's name in responses.
    pub name: String,
    /// The file.
    pub path: String,
    /// When it was loaded (seconds since 1970).
    pub created: u64,
}

/// The server's state, shared by the handlers.
pub struct AppState {
    /// Set once the model is loaded.
    pub loaded: OnceLock<Arc<Loaded>>,
    /// Set when loading failed.
    pub load_error: OnceLock<String>,
    /// The engine's counters.
    pub shared: Arc<Shared>,
    /// The command line.
    pub args: Args,
    /// HTTP requests answered, by class.
    pub http_requests: AtomicU64,
    /// Requests refused because the queue was full.
    pub rejected: AtomicU64,
    /// Numbers for ids and seeds.
    pub counter: AtomicU64,
}

impl AppState {
    /// State for `args`, nothing loaded yet.
    pub fn new(args: Args, shared: Arc<Shared>) -> AppState {
        AppState {
            loaded: OnceLock::new(),
            load_error: OnceLock::new(),
            shared,
            args,
            http_requests: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            counter: AtomicU64::new(0),
        }
    }

    fn loaded(&self) -> Result<Arc<Loaded>, ApiError> {
        match self.loaded.get() {
            Some(l) => Ok(l.clone()),
            None => Err(match self.load_error.get() {
                Some(e) => {
                    ApiError::new(ErrorKind::Server, format!("the model failed to load: {e}"))
                }
                None => ApiError::new(ErrorKind::Unavailable, "Loading model"),
            }),
        }
    }

    fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }
}

type St = State<Arc<AppState>>;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A JSON response.
fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, &v)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = json_response(status, &self.body());
        if self.kind == ErrorKind::Unavailable {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    let mut r = Router::new()
        .route("/health", get(health))
        .route("/v1/health", get(health))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/props", get(props))
        .route("/metrics", get(metrics))
        .route("/slots", get(slots))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions_oai))
        .route("/completions", post(completions_native))
        .route("/completion", post(completions_native))
        .route("/infill", post(infill_route))
        .route("/v1/embeddings", post(embeddings))
        .route("/embeddings", post(embeddings))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
        .route("/apply-template", post(apply_template));
    if !state.args.no_webui {
        r = r
            .route("/", get(page_html))
            .route("/index.html", get(page_html))
            .route("/app.js", get(page_js))
            .route("/style.css", get(page_css));
    }
    r.fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Authentication (every route but `/health` and the page's files when `--api-key` is set)
/// and the request log.
async fn guard(State(st): St, req: HttpRequest, next: Next) -> Response {
    let t0 = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let public = matches!(
        path.as_str(),
        "/health" | "/v1/health" | "/" | "/index.html" | "/app.js" | "/style.css"
    );
    let resp = if let (Some(key), false) = (&st.args.api_key, public || method == Method::OPTIONS) {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if given.is_some_and(|g| constant_time_eq(g.as_bytes(), key.as_bytes())) {
            next.run(req).await
        } else {
            ApiError::new(ErrorKind::Authentication, "Invalid API Key").into_response()
        }
    } else {
        next.run(req).await
    };
    st.http_requests.fetch_add(1, Ordering::Relaxed);
    if !st.args.quiet && path != "/health" {
        eprintln!(
            "llamette-server: {method} {path} {} {:.1} ms",
            resp.status().as_u16(),
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
    resp
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

async fn not_found() -> Response {
    ApiError::new(ErrorKind::NotFound, "File Not Found").into_response()
}

const PAGE_HTML: &str = include_str!("../static/index.html");
const PAGE_JS: &str = include_str!("../static/app.js");
const PAGE_CSS: &str = include_str!("../static/style.css");

fn static_file(body: &'static str, ty: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
    r
}

async fn page_html() -> Response {
    static_file(PAGE_HTML, "text/html; charset=utf-8")
}

async fn page_js() -> Response {
    static_file(PAGE_JS, "text/javascript; charset=utf-8")
}

async fn page_css() -> Response {
    static_file(PAGE_CSS, "text/css; charset=utf-8")
}

/// Reads the body (at most `--max-body` bytes, else 413) as a JSON object.
async fn read_object(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Map<String, Value>, ApiError> {
    let limit = st.args.max_body;
    let too_large = || {
        ApiError::new(
            ErrorKind::TooLarge,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    if let Some(n) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if n > limit as u64 {
            return Err(too_large());
        }
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    api::parse_object(&bytes)
}

async fn health(State(st): St) -> Response {
    match st.loaded() {
        Ok(_) => ok(json!({"status": "ok"})),
        Err(e) => e.into_response(),
    }
}

async fn models(State(st): St) -> Response {
    let l = match st.loaded() {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let c = l.model.config();
    let entry = json!({
        "id": l.name,
        "object": "model",
        "created": l.created,
        "owned_by": "llamette",
        "meta": {
            "vocab_type": 1,
            "n_vocab": c.n_vocab,
            "n_ctx_train": c.n_ctx_train,
            "n_embd": c.n_embd,
        },
    });
    ok(json!({
        "models": [{"name": l.name, "model": l.name, "type": "model", "description": "", "capabilities": ["completion"]}],
        "object": "list",
        "data": [entry],
    }))
}

fn generation_settings(l: &Loaded) -> Value {
    let d = llamette::sampling::SamplerParams::default();
    json!({
        "n_ctx": l.params.n_ctx_slot(),
        "params": {
            "n_predict": -1,
            "seed": -1,
            "temperature": d.temp,
            "dynatemp_range": d.dynatemp_range,
            "dynatemp_exponent": d.dynatemp_exponent,
            "top_k": d.top_k,
            "top_p": d.top_p,
            "min_p": d.min_p,
            "xtc_probability": d.xtc_probability,
            "xtc_threshold": d.xtc_threshold,
            "typical_p": d.typ_p,
            "repeat_last_n": d.penalty_last_n,
            "repeat_penalty": d.penalty_repeat,
            "presence_penalty": d.penalty_present,
            "frequency_penalty": d.penalty_freq,
            "dry_multiplier": d.dry_multiplier,
            "dry_base": d.dry_base,
            "dry_allowed_length": d.dry_allowed_length,
            "dry_penalty_last_n": d.dry_penalty_last_n,
            "mirostat": d.mirostat,
            "mirostat_tau": d.mirostat_tau,
            "mirostat_eta": d.mirostat_eta,
            "stop": [],
            "n_keep": 0,
            "n_probs": 0,
            "min_keep": d.min_keep,
            "ignore_eos": false,
            "stream": false,
            "cache_prompt": true,
        },
    })
}

async fn props(State(st): St) -> Response {
    let l = match st.loaded() {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let text = |id: Option<u32>| {
        id.and_then(|t| l.vocab.token_to_piece(t, true).ok())
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let sp = l.vocab.special();
    let template = l.template_text.clone();
    ok(json!({
        "default_generation_settings": generation_settings(&l),
        "total_slots": l.params.n_slots,
        "model_alias": l.name,
        "model_path": l.path,
        "modalities": {"vision": false, "audio": false},
        "chat_template": template,
        "bos_token": text(sp.bos),
        "eos_token": text(sp.eos),
        "build_info": format!("llamette-server {}", env!("CARGO_PKG_VERSION")),
        "is_sleeping": false,
    }))
}

async fn slots(State(st): St) -> Response {
    let l = match st.loaded() {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let (tx, rx) = oneshot::channel();
    if l.engine.send(Request::Slots(tx)).is_err() {
        return ApiError::new(ErrorKind::Unavailable, "the server is shutting down")
            .into_response();
    }
    match rx.await {
        Ok(v) => ok(v),
        Err(_) => {
            ApiError::new(ErrorKind::Unavailable, "the server is shutting down").into_response()
        }
    }
}

async fn metrics(State(st): St) -> Response {
    let m = *st.shared.metrics.lock().unwrap();
    let busy = st.shared.busy.load(Ordering::Relaxed);
    let queued = st.shared.queued.load(Ordering::Relaxed);
    let slots = st.loaded().map_or(0, |l| l.params.n_slots);
    let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let counters: [(&str, &str, f64); 10] = [
        (
            "prompt_tokens_total",
            "Number of prompt tokens processed, excluding cached tokens",
            m.prompt_tokens as f64,
        ),
        (
            "prompt_tokens_cached_total",
            "Number of prompt tokens reused from the cache",
            m.prompt_cached as f64,
        ),
        (
            "prompt_seconds_total",
            "Total time spent processing prompts",
            m.prompt_seconds,
        ),
        (
            "tokens_predicted_total",
            "Number of generation tokens processed",
            m.predicted_tokens as f64,
        ),
        (
            "tokens_predicted_seconds_total",
            "Total time spent generating tokens",
            m.predicted_seconds,
        ),
        (
            "n_decode_total",
            "Total number of batch evaluations",
            m.n_decode as f64,
        ),
        (
            "n_tokens_max",
            "Largest observed sequence length (prompt + generation)",
            m.n_tokens_max as f64,
        ),
        (
            "requests_total",
            "Number of generation requests finished",
            m.requests as f64,
        ),
        (
            "requests_cancelled_total",
            "Number of requests whose client went away",
            m.cancelled as f64,
        ),
        (
            "requests_rejected_total",
            "Number of requests refused because the queue was full",
            st.rejected.load(Ordering::Relaxed) as f64,
        ),
    ];
    let gauges: [(&str, &str, f64); 7] = [
        (
            "prompt_tokens_seconds",
            "Average prompt throughput in tokens/s",
            rate(m.prompt_tokens, m.prompt_seconds),
        ),
        (
            "predicted_tokens_seconds",
            "Average generation throughput in tokens/s (per request)",
            rate(m.predicted_tokens, m.predicted_seconds),
        ),
        (
            "batch_tokens_seconds",
            "Tokens evaluated per second inside batch evaluations (all slots together)",
            rate(m.batch_tokens, m.decode_seconds),
        ),
        (
            "requests_processing",
            "Number of requests processing",
            busy as f64,
        ),
        (
            "requests_deferred",
            "Number of requests deferred",
            queued as f64,
        ),
        ("slots_total", "Number of slots", slots as f64),
        (
            "n_busy_slots_per_decode",
            "Average number of busy slots per batch evaluation",
            m.n_busy_slots as f64 / (m.n_decode.max(1) as f64),
        ),
    ];
    let mut out = String::new();
    for (kind, items) in [("counter", &counters[..]), ("gauge", &gauges[..])] {
        for (name, help, v) in items {
            out.push_str(&format!(
                "# HELP llamacpp:{name} {help}\n# TYPE llamacpp:{name} {kind}\nllamacpp:{name} {v}\n"
            ));
        }
    }
    let mut r = Response::new(Body::from(out));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// Tokens of a completion prompt.
fn prompt_tokens(l: &Loaded, parts: &[PromptPart]) -> Result<Vec<u32>, ApiError> {
    let n_vocab = l.vocab.n_tokens();
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        match p {
            PromptPart::Text(t) => out.extend(l.vocab.tokenize(t, i == 0, true)?),
            PromptPart::Tokens(ids) => {
                for &id in ids {
                    if id < 0 || id as usize >= n_vocab {
                        return Err(ApiError::invalid(format!(
                            "token {id} is outside the vocabulary (0..{n_vocab})"
                        )));
                    }
                    out.push(id as u32);
                }
            }
        }
    }
    Ok(out)
}

/// The request's grammar, compiled (a 400 naming the problem when it does not).
fn grammar(l: &Loaded, spec: &Option<GrammarSpec>) -> Result<Option<Grammar>, ApiError> {
    Ok(match spec {
        None => None,
        Some(GrammarSpec::Gbnf(text)) => Some(Grammar::gbnf_for(text, &l.vocab)?),
        Some(GrammarSpec::JsonSchema(v)) => Some(Grammar::json_schema_value(v.clone())?),
        Some(GrammarSpec::JsonObject) => Some(Grammar::json_object()),
    })
}

/// Builds the job for `prompt` and queues it; returns its events.
fn submit(
    st: &AppState,
    l: &Loaded,
    mut prompt: Vec<u32>,
    p: &GenParams,
    stop_tokens: Vec<u32>,
) -> Result<(UnboundedReceiver<Event>, usize), ApiError> {
    if prompt.is_empty() {
        // llama-server evaluates BOS for an empty prompt; without one there is nothing.
        match l.vocab.bos() {
            Some(b) => prompt.push(b),
            None => return Err(ApiError::invalid("the prompt is empty")),
        }
    }
    let n_ctx = l.params.n_ctx_slot();
    if prompt.len() >= n_ctx {
        if !l.params.context_shift {
            return Err(ApiError::exceeds_context(prompt.len(), n_ctx));
        }
        prompt = truncate_prompt(&prompt, n_ctx, p.n_keep);
    }
    let n_prompt = prompt.len();
    let mut sampling = p.sampling.clone();
    sampling.seed = p.seed.unwrap_or_else(|| {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        (t ^ st.next_id().wrapping_mul(0x9E37_79B9_7F4A_7C15)) & 0xFFFF_FFFF
    });
    let n_vocab = l.vocab.n_tokens();
    for (k, b) in &p.logit_bias {
        match k {
            BiasKey::Token(id) => {
                if *id < 0 || *id as usize >= n_vocab {
                    return Err(ApiError::invalid(format!(
                        "logit_bias: token {id} is outside the vocabulary (0..{n_vocab})"
                    )));
                }
                sampling.logit_bias.push((*id as u32, *b));
            }
            BiasKey::Text(t) => {
                for id in l.vocab.tokenize(t, false, false)? {
                    sampling.logit_bias.push((id, *b));
                }
            }
        }
    }
    if sampling.penalty_last_n > n_ctx {
        sampling.penalty_last_n = n_ctx;
    }
    let grammar = grammar(l, &p.grammar)?;
    // Check the sampler's settings here, so that a bad value is a 400 before queueing.
    llamette::sampling::Sampler::new(n_vocab, sampling.clone())?;
    let queued = st.shared.queued.load(Ordering::Relaxed);
    if queued >= st.args.max_queue {
        st.rejected.fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            format!("the server is busy: {queued} requests are waiting for a slot; retry later"),
        ));
    }
    let (tx, rx) = unbounded_channel();
    let job = Job {
        prompt,
        sampling,
        grammar,
        n_predict: p.n_predict,
        stop: p.stop.clone(),
        stop_tokens,
        ignore_eos: p.ignore_eos,
        logprobs: p.logprobs,
        cache_prompt: p.cache_prompt,
        n_keep: p.n_keep,
        events: tx,
        deadline: Instant::now() + Duration::from_secs(st.args.timeout.max(1)),
    };
    st.shared.queued.fetch_add(1, Ordering::Relaxed);
    if l.engine.send(Request::Generate(Box::new(job))).is_err() {
        st.shared.queued.fetch_sub(1, Ordering::Relaxed);
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            "the server is shutting down",
        ));
    }
    Ok((rx, n_prompt))
}

/// A prompt too long for the slot, cut as llama-server cut them: the first `n_keep` tokens,
/// then whole blocks of half the remaining room dropped from the middle.
pub fn truncate_prompt(prompt: &[u32], n_ctx: usize, n_keep: i64) -> Vec<u32> {
    let n_keep = if n_keep < 0 {
        prompt.len()
    } else {
        n_keep as usize
    }
    .min(n_ctx.saturating_sub(4));
    let n_left = n_ctx - n_keep;
    let block = (n_left / 2).max(1);
    let erased = (prompt.len() - n_keep - block) / block;
    let mut out = prompt[..n_keep].to_vec();
    out.extend_from_slice(&prompt[(n_keep + erased * block).min(prompt.len())..]);
    out
}

/// Which layout a generation's responses take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Chat,
    Completion,
    Native,
}

/// Everything a response needs besides the events.
struct Reply {
    layout: Layout,
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    timings_per_token: bool,
    vocab: Arc<Vocab>,
    logprobs: bool,
    n_prompt: usize,
}

impl Reply {
    fn token_bytes(&self) -> impl Fn(u32) -> Vec<u8> + '_ {
        |id| self.vocab.token_to_piece(id, false).unwrap_or(b"").to_vec()
    }

    fn chunk(&self, choice: Value) -> Value {
        let object = match self.layout {
            Layout::Chat => "chat.completion.chunk",
            _ => "text_completion",
        };
        json!({
            "choices": [choice],
            "created": self.created,
            "id": self.id,
            "model": self.model,
            "system_fingerprint": fingerprint(),
            "object": object,
        })
    }

    /// The frames for one generated token.
    fn token_frames(&self, n_decoded: usize, text: &str, lp: Option<Value>) -> Vec<Value> {
        match self.layout {
            Layout::Chat => {
                let mut out = Vec::new();
                if n_decoded == 1 {
                    out.push(self.chunk(json!({
                        "finish_reason": null,
                        "index": 0,
                        "delta": {"role": "assistant", "content": null},
                    })));
                }
                if !text.is_empty() || lp.is_some() {
                    let mut c =
                        json!({"finish_reason": null, "index": 0, "delta": {"content": text}});
                    if let Some(lp) = lp {
                        c["logprobs"] = json!({"content": [lp]});
                    }
                    out.push(self.chunk(c));
                }
                out
            }
            Layout::Completion => {
                if text.is_empty() && lp.is_none() {
                    return Vec::new();
                }
                let logprobs = lp.map_or(Value::Null, |lp| json!({"content": [lp]}));
                vec![self.chunk(
                    json!({"text": text, "index": 0, "logprobs": logprobs, "finish_reason": null}),
                )]
            }
            Layout::Native => {
                let mut v = json!({
                    "index": 0,
                    "content": text,
                    "tokens": [],
                    "stop": false,
                    "id_slot": -1,
                    "tokens_predicted": n_decoded,
                    "tokens_evaluated": self.n_prompt,
                });
                if let Some(lp) = lp {
                    v["completion_probabilities"] = json!([lp]);
                }
                vec![v]
            }
        }
    }

    /// The last frames of a stream.
    fn final_frames(&self, d: &Done, text: &str) -> Vec<Value> {
        let t = d.timings.to_json();
        match self.layout {
            Layout::Chat => {
                let mut out = Vec::new();
                if !text.is_empty() {
                    out.push(self.chunk(
                        json!({"finish_reason": null, "index": 0, "delta": {"content": text}}),
                    ));
                }
                let mut last = self
                    .chunk(json!({"finish_reason": d.finish.reason(), "index": 0, "delta": {}}));
                last["timings"] = t.clone();
                out.push(last);
                if self.include_usage {
                    let mut u = self.chunk(json!(null));
                    u["choices"] = json!([]);
                    u["usage"] = d.timings.usage();
                    u["timings"] = t;
                    out.push(u);
                }
                out
            }
            Layout::Completion => {
                let mut last = self.chunk(json!({"text": text, "index": 0, "logprobs": null, "finish_reason": d.finish.reason()}));
                last["timings"] = t.clone();
                let mut out = vec![last];
                if self.include_usage {
                    let mut u = self.chunk(json!(null));
                    u["choices"] = json!([]);
                    u["usage"] = d.timings.usage();
                    out.push(u);
                }
                out
            }
            Layout::Native => vec![self.native_final(d, text, Vec::new(), true)],
        }
    }

    fn native_final(&self, d: &Done, content: &str, probs: Vec<Value>, stream: bool) -> Value {
        let stopping_word = match &d.finish {
            api::Finish::Word(w) => w.clone(),
            _ => String::new(),
        };
        let mut v = json!({
            "index": 0,
            "content": content,
            "tokens": [],
            "id_slot": d.slot,
            "stop": true,
            "model": self.model,
            "tokens_predicted": d.timings.predicted_n,
            "tokens_evaluated": self.n_prompt,
            "generation_settings": {},
            "prompt": "",
            "has_new_line": content.contains('\n'),
            "truncated": d.truncated,
            "stop_type": d.finish.stop_type(),
            "stopping_word": stopping_word,
            "tokens_cached": d.timings.cache_n + d.timings.prompt_n + d.timings.predicted_n,
            "timings": d.timings.to_json(),
        });
        if !stream && !probs.is_empty() {
            v["completion_probabilities"] = Value::Array(probs);
        }
        v
    }

    /// The whole (non-streamed) response.
    fn whole(&self, d: &Done, content: &str, probs: Vec<Value>) -> Value {
        match self.layout {
            Layout::Native => self.native_final(d, content, probs, false),
            Layout::Chat | Layout::Completion => {
                let mut choice = match self.layout {
                    Layout::Chat => json!({
                        "finish_reason": d.finish.reason(),
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                    }),
                    _ => json!({
                        "text": content,
                        "index": 0,
                        "logprobs": null,
                        "finish_reason": d.finish.reason(),
                    }),
                };
                if self.logprobs {
                    choice["logprobs"] = json!({"content": probs});
                } else {
                    choice["logprobs"] = Value::Null;
                }
                json!({
                    "choices": [choice],
                    "created": self.created,
                    "model": self.model,
                    "system_fingerprint": fingerprint(),
                    "object": if self.layout == Layout::Chat { "chat.completion" } else { "text_completion" },
                    "usage": d.timings.usage(),
                    "id": self.id,
                    "timings": d.timings.to_json(),
                })
            }
        }
    }
}

fn fingerprint() -> String {
    format!("llamette-{}", env!("CARGO_PKG_VERSION"))
}

/// Answers a queued generation: the whole response, or a stream of Server-Sent Events.
async fn respond(reply: Reply, mut rx: UnboundedReceiver<Event>, stream: bool) -> Response {
    if !stream {
        let mut content = String::new();
        let mut probs = Vec::new();
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::Token { text, logprob, .. } => {
                    content.push_str(&text);
                    if let Some(lp) = logprob {
                        probs.push(api::logprob_json(&lp, &reply.token_bytes()));
                    }
                }
                Event::Done(d) => {
                    content.push_str(&d.text);
                    return ok(reply.whole(&d, &content, probs));
                }
                Event::Error(e) => return e.into_response(),
            }
        }
        return ApiError::new(ErrorKind::Server, "the generation ended without a result")
            .into_response();
    }
    // The first event decides the status: an error before any token is an error response.
    let first = rx.recv().await;
    if let Some(Event::Error(e)) = first {
        return e.into_response();
    }
    let reply = Arc::new(reply);
    let r2 = reply.clone();
    let mut n_decoded = 0usize;
    let mut done = false;
    let events = futures_util::stream::iter(first)
        .chain(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|e| (e, rx))
        }))
        .map(move |ev| {
            let mut frames = String::new();
            let mut push = |v: &Value| {
                frames.push_str("data: ");
                frames.push_str(&v.to_string());
                frames.push_str("\n\n");
            };
            if done {
                return Ok::<_, Infallible>(Bytes::new());
            }
            match ev {
                Event::Token { text, logprob, .. } => {
                    n_decoded += 1;
                    let lp = logprob.map(|lp| api::logprob_json(&lp, &r2.token_bytes()));
                    for v in r2.token_frames(n_decoded, &text, lp) {
                        push(&v);
                    }
                }
                Event::Done(d) => {
                    done = true;
                    let text = d.text.clone();
                    for v in r2.final_frames(&d, &text) {
                        push(&v);
                    }
                    if r2.layout != Layout::Native {
                        frames.push_str("data: [DONE]\n\n");
                    }
                }
                Event::Error(e) => {
                    done = true;
                    push(&e.body());
                }
            }
            let _ = r2.timings_per_token;
            Ok(Bytes::from(frames))
        })
        .filter(|b| futures_util::future::ready(!matches!(b, Ok(b) if b.is_empty())));
    let mut r = Response::new(Body::from_stream(events));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

fn reply_for(st: &AppState, l: &Loaded, layout: Layout, p: &GenParams, n_prompt: usize) -> Reply {
    let id = match layout {
        Layout::Chat => format!("chatcmpl-{}", random_id(st)),
        _ => format!("cmpl-{}", random_id(st)),
    };
    Reply {
        layout,
        id,
        created: now_secs(),
        model: l.name.clone(),
        include_usage: p.include_usage,
        timings_per_token: p.timings_per_token,
        vocab: l.vocab.clone(),
        logprobs: p.logprobs.is_some(),
        n_prompt,
    }
}

fn random_id(st: &AppState) -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = t ^ st.next_id().wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut s = String::with_capacity(24);
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for _ in 0..24 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(ALPHA[(x % ALPHA.len() as u64) as usize] as char);
    }
    s
}

/// A conversation rendered with the model's chat prompt.
fn render_chat(
    l: &Loaded,
    f: Fields<'_>,
    add_generation_prompt: bool,
) -> Result<(String, Option<Vec<u32>>), ApiError> {
    let messages = api::messages(f)?;
    match &l.chat {
        ChatPrompt::Template(t) => {
            let tools = f.get("tools");
            let documents = f.get("documents");
            let text = t.render_json(
                &messages,
                add_generation_prompt,
                TemplateExtra { tools, documents },
            )?;
            Ok((text, None))
        }
        ChatPrompt::Format(fmt) => {
            let arr = messages.as_array().map(Vec::as_slice).unwrap_or(&[]);
            let msgs: Vec<Message> = arr
                .iter()
                .map(|m| {
                    Message::new(
                        m.get("role").and_then(Value::as_str).unwrap_or(""),
                        m.get("content").and_then(Value::as_str).unwrap_or(""),
                    )
                })
                .collect();
            let text = fmt.render(&msgs, add_generation_prompt)?;
            let ids = fmt.render_ids(&l.vocab, &msgs, add_generation_prompt)?;
            Ok((text, Some(ids)))
        }
    }
}

async fn chat_completions(State(st): St, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let l = st.loaded()?;
        let m = read_object(&st, &headers, body).await?;
        let f = Fields(&m);
        let p = api::gen_params(f, Dialect::Chat)?;
        let add = f.bool("add_generation_prompt")?.unwrap_or(true);
        let (text, ids) = render_chat(&l, f, add)?;
        let ids = match ids {
            Some(ids) => ids,
            None => l.vocab.tokenize(&text, false, true)?,
        };
        let (rx, n_prompt) = submit(&st, &l, ids, &p, l.chat_stop.clone())?;
        let reply = reply_for(&st, &l, Layout::Chat, &p, n_prompt);
        Ok::<_, ApiError>((reply, rx, p.stream))
    }
    .await;
    match result {
        Ok((reply, rx, stream)) => respond(reply, rx, stream).await,
        Err(e) => e.into_response(),
    }
}

async fn completions(
    st: Arc<AppState>,
    headers: HeaderMap,
    body: Body,
    layout: Layout,
) -> Response {
    let result = async {
        let l = st.loaded()?;
        let m = read_object(&st, &headers, body).await?;
        let f = Fields(&m);
        let dialect = if layout == Layout::Native {
            Dialect::Native
        } else {
            Dialect::Completion
        };
        let p = api::gen_params(f, dialect)?;
        let parts = api::prompt(f, "prompt")?;
        let ids = prompt_tokens(&l, &parts)?;
        let (rx, n_prompt) = submit(&st, &l, ids, &p, Vec::new())?;
        let reply = reply_for(&st, &l, layout, &p, n_prompt);
        Ok::<_, ApiError>((reply, rx, p.stream))
    }
    .await;
    match result {
        Ok((reply, rx, stream)) => respond(reply, rx, stream).await,
        Err(e) => e.into_response(),
    }
}

async fn completions_oai(State(st): St, headers: HeaderMap, body: Body) -> Response {
    completions(st, headers, body, Layout::Completion).await
}

async fn completions_native(State(st): St, headers: HeaderMap, body: Body) -> Response {
    completions(st, headers, body, Layout::Native).await
}

async fn infill_route(State(st): St, headers: HeaderMap, body: Body) -> Response {
    let result =
        async {
            let l = st.loaded()?;
            let m = read_object(&st, &headers, body).await?;
            let f = Fields(&m);
            let p = api::gen_params(f, Dialect::Native)?;
            let prefix = f.str("input_prefix")?.unwrap_or("");
            let suffix = f.str("input_suffix")?.unwrap_or("");
            let mut extra_owned: Vec<(String, Option<String>)> = Vec::new();
            if let Some(v) = f.get("input_extra") {
                let Value::Array(a) = v else {
                    return Err(ApiError::invalid(
                        "'input_extra' must be an array of {\"filename\", \"text\"} objects",
                    ));
                };
                for (i, c) in a.iter().enumerate() {
                    let Value::Object(o) = c else {
                        return Err(ApiError::invalid(format!(
                            "'input_extra[{i}]' must be an object"
                        )));
                    };
                    let o = Fields(o);
                    let text = o.str("text")?.unwrap_or("").to_string();
                    let name = o.str("filename")?.map(str::to_string);
                    extra_owned.push((text, name));
                }
            }
            let extra: Vec<ExtraChunk> = extra_owned
                .iter()
                .map(|(t, n)| ExtraChunk {
                    text: t,
                    filename: n.as_deref(),
                })
                .collect();
            let prompt = match f.get("prompt") {
                Some(_) => prompt_tokens(&l, &api::prompt(f, "prompt")?)?,
                None => Vec::new(),
            };
            let ip = InfillParams {
                n_batch: l.params.n_batch,
                n_predict: p.n_predict.map_or(-1, |n| n.min(i32::MAX as usize) as i32),
                n_ctx: l.params.n_ctx_slot(),
                spm_infill: false,
            };
            let ids = infill::infill_tokens(&l.vocab, prefix, suffix, &extra, &prompt, ip)
                .map_err(|e| match e {
                    llamette::Error::BadModel { reason } => ApiError::new(
                        ErrorKind::NotSupported,
                        format!("Infill is not supported by this model: {reason}"),
                    ),
                    e => ApiError::from(e),
                })?;
            let stops = infill::stop_tokens(&l.vocab);
            let (rx, n_prompt) = submit(&st, &l, ids, &p, stops)?;
            let reply = reply_for(&st, &l, Layout::Native, &p, n_prompt);
            Ok::<_, ApiError>((reply, rx, p.stream))
        }
        .await;
    match result {
        Ok((reply, rx, stream)) => respond(reply, rx, stream).await,
        Err(e) => e.into_response(),
    }
}

async fn embeddings(State(st): St, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let l = st.loaded()?;
        let m = read_object(&st, &headers, body).await?;
        let f = Fields(&m);
        let input = f.get("input").or_else(|| f.get("content")).ok_or_else(|| ApiError::invalid("'input' is required"))?;
        let base64 = match f.str("encoding_format")? {
            None | Some("float") => false,
            Some("base64") => true,
            Some(x) => return Err(ApiError::invalid(format!("'encoding_format' must be \"float\" or \"base64\", not {x:?}"))),
        };
        let n_vocab = l.vocab.n_tokens() as i64;
        let one = |v: &Value| -> Result<Vec<u32>, ApiError> {
            match v {
                Value::String(s) => {
                    let t = l.vocab.tokenize(s, true, true)?;
                    if t.is_empty() {
                        return Err(ApiError::invalid("an input is empty"));
                    }
                    Ok(t)
                }
                Value::Array(ids) if !ids.is_empty() && ids.iter().all(|x| x.as_i64().is_some_and(|i| (0..n_vocab).contains(&i))) => {
                    Ok(ids.iter().map(|x| x.as_i64().unwrap_or(0) as u32).collect())
                }
                _ => Err(ApiError::invalid("'input' must be a string, an array of strings, token ids, or arrays of token ids (within the vocabulary, not empty)")),
            }
        };
        let inputs: Vec<Vec<u32>> = match input {
            Value::Array(a) if a.iter().all(Value::is_number) => vec![one(input)?],
            Value::Array(a) => {
                if a.is_empty() {
                    return Err(ApiError::invalid("'input' must not be empty"));
                }
                if a.len() > 2048 {
                    return Err(ApiError::invalid("'input' holds more than 2048 inputs"));
                }
                a.iter().map(one).collect::<Result<_, _>>()?
            }
            v => vec![one(v)?],
        };
        let (tx, rx) = oneshot::channel();
        l.engine
            .send(Request::Embed(EmbedJob { inputs: inputs.clone(), normalize: true, reply: tx }))
            .map_err(|_| ApiError::new(ErrorKind::Unavailable, "the server is shutting down"))?;
        let vectors = rx.await.map_err(|_| ApiError::new(ErrorKind::Unavailable, "the server is shutting down"))??;
        let n_tokens: usize = inputs.iter().map(Vec::len).sum();
        let per_input = vectors.len() / inputs.len().max(1);
        let data: Vec<Value> = (0..inputs.len())
            .map(|i| {
                let rows = &vectors[i * per_input..(i + 1) * per_input];
                let emb = if per_input == 1 {
                    if base64 { Value::String(base64_f32(&rows[0])) } else { json!(rows[0]) }
                } else {
                    json!(rows)
                };
                json!({"embedding": emb, "index": i, "object": "embedding"})
            })
            .collect();
        Ok::<_, ApiError>(json!({
            "model": l.name,
            "object": "list",
            "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens},
            "data": data,
        }))
    }
    .await;
    match result {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}

/// Little-endian f32s in base64 (OpenAI's `encoding_format: "base64"`).
pub fn base64_f32(v: &[f32]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

async fn tokenize(State(st): St, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let l = st.loaded()?;
        let m = read_object(&st, &headers, body).await?;
        let f = Fields(&m);
        let content = f.str("content")?.unwrap_or("");
        let add_special = f.bool("add_special")?.unwrap_or(false);
        let parse_special = f.bool("parse_special")?.unwrap_or(true);
        let with_pieces = f.bool("with_pieces")?.unwrap_or(false);
        let ids = l.vocab.tokenize(content, add_special, parse_special)?;
        let tokens: Vec<Value> = if with_pieces {
            ids.iter()
                .map(|&id| {
                    let b = l.vocab.token_to_piece(id, true).unwrap_or(b"");
                    let piece = match std::str::from_utf8(b) {
                        Ok(s) => json!(s),
                        Err(_) => json!(b),
                    };
                    json!({"id": id, "piece": piece})
                })
                .collect()
        } else {
            ids.iter().map(|&id| json!(id)).collect()
        };
        Ok::<_, ApiError>(json!({"tokens": tokens}))
    }
    .await;
    match result {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}

async fn detokenize(State(st): St, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let l = st.loaded()?;
        let m = read_object(&st, &headers, body).await?;
        let f = Fields(&m);
        let mut bytes = Vec::new();
        if let Some(v) = f.get("tokens") {
            let Value::Array(a) = v else {
                return Err(ApiError::invalid("'tokens' must be an array of token ids"));
            };
            for t in a {
                let id = t
                    .as_i64()
                    .filter(|&i| i >= 0 && (i as usize) < l.vocab.n_tokens());
                let Some(id) = id else {
                    return Err(ApiError::invalid(format!(
                        "'tokens' holds {t}, not a token id of the vocabulary"
                    )));
                };
                bytes.extend_from_slice(l.vocab.token_to_piece(id as u32, true)?);
            }
        }
        Ok::<_, ApiError>(json!({"content": String::from_utf8_lossy(&bytes)}))
    }
    .await;
    match result {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}

async fn apply_template(State(st): St, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let l = st.loaded()?;
        let m = read_object(&st, &headers, body).await?;
        let f = Fields(&m);
        let add = f.bool("add_generation_prompt")?.unwrap_or(true);
        let (text, _) = render_chat(&l, f, add)?;
        Ok::<_, ApiError>(json!({"prompt": text}))
    }
    .await;
    match result {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_floats() {
        // 1.0f32 = 00 00 80 3f; 2.0 = 00 00 00 40.
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[1.0, 2.0]), "AACAPwAAAEA=");
    }

    #[test]
    fn long_prompts_lose_their_middle() {
        let p: Vec<u32> = (0..100).collect();
        let t = truncate_prompt(&p, 40, 4);
        assert!(t.len() < 40, "{}", t.len());
        assert_eq!(&t[..4], &[0, 1, 2, 3]);
        assert_eq!(*t.last().unwrap(), 99);
    }
}
