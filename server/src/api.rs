//! Request bodies and response layouts, without I/O.
//!
//! Requests are read field by field from JSON (`serde_json::Value`): unknown fields are
//! ignored (as OpenAI's API and llama-server ignore them), a known field of the wrong type or
//! out of range is a 400 that names it. Responses are built in OpenAI's and llama-server's
//! layouts, field for field.

use llamette::sampling::{SamplerParams, TokenLogprob};
use serde_json::{json, Map, Value};

/// The error layout's `type`, with its HTTP status (llama-server's `error_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400 `invalid_request_error`.
    InvalidRequest,
    /// 401 `authentication_error`.
    Authentication,
    /// 404 `not_found_error`.
    NotFound,
    /// 413 `invalid_request_error`: the body is over the limit.
    TooLarge,
    /// 500 `server_error`.
    Server,
    /// 501 `not_supported_error`.
    NotSupported,
    /// 503 `unavailable_error`: loading, or the queue is full.
    Unavailable,
    /// 400 `exceed_context_size_error`.
    ExceedContext,
}

impl ErrorKind {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::ExceedContext => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::NotFound => 404,
            ErrorKind::TooLarge => 413,
            ErrorKind::Server => 500,
            ErrorKind::NotSupported => 501,
            ErrorKind::Unavailable => 503,
        }
    }

    /// The `type` field.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::TooLarge => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::Server => "server_error",
            ErrorKind::NotSupported => "not_supported_error",
            ErrorKind::Unavailable => "unavailable_error",
            ErrorKind::ExceedContext => "exceed_context_size_error",
        }
    }
}

/// An error response: `{"error": {"code", "message", "type"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Which error.
    pub kind: ErrorKind,
    /// What went wrong, for the client.
    pub message: String,
    /// For [`ErrorKind::ExceedContext`]: the prompt's tokens and the slot's context.
    pub context: Option<(usize, usize)>,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            context: None,
        }
    }

    /// A 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::InvalidRequest, message)
    }

    /// A prompt of `n_prompt` tokens that does not fit a slot of `n_ctx`.
    pub fn exceeds_context(n_prompt: usize, n_ctx: usize) -> ApiError {
        ApiError {
            kind: ErrorKind::ExceedContext,
            message: format!(
                "request ({n_prompt} tokens) exceeds the available context size ({n_ctx} tokens), try increasing it"
            ),
            context: Some((n_prompt, n_ctx)),
        }
    }

    /// The body.
    pub fn body(&self) -> Value {
        let mut e = json!({
            "code": self.kind.status(),
            "message": self.message,
            "type": self.kind.name(),
        });
        if let Some((p, c)) = self.context {
            e["n_prompt_tokens"] = json!(p);
            e["n_ctx"] = json!(c);
        }
        json!({ "error": e })
    }
}

impl From<llamette::Error> for ApiError {
    fn from(e: llamette::Error) -> ApiError {
        use llamette::Error as E;
        match e {
            E::ContextFull { n_ctx, needed } => ApiError::exceeds_context(needed, n_ctx),
            E::BadGrammar { .. } | E::BadChat { .. } | E::BadParams { .. } | E::BadToken { .. } => {
                ApiError::invalid(e.to_string())
            }
            _ => ApiError::new(ErrorKind::Server, e.to_string()),
        }
    }
}

/// The body as a JSON object, or the 400 that says why not.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() || e.is_syntax() || e.is_eof() {
            ApiError::invalid(format!("the body is not valid JSON: {e}"))
        } else {
            ApiError::invalid(format!("the body cannot be read: {e}"))
        }
    })?;
    match v {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::invalid(format!(
            "the body must be a JSON object, not {}",
            type_name(&other)
        ))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Typed access to a request object's fields: absent or `null` is `None`, a wrong type is a
/// 400 naming the field.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl<'a> Fields<'a> {
    /// The raw value, `None` when absent or null.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn wrong(name: &str, want: &str, v: &Value) -> ApiError {
        ApiError::invalid(format!("'{name}' must be {want}, not {}", type_name(v)))
    }

    /// A number.
    pub fn f64(&self, name: &str) -> Result<Option<f64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| Self::wrong(name, "a finite number", v)),
        }
    }

    /// A number as f32.
    pub fn f32(&self, name: &str) -> Result<Option<f32>, ApiError> {
        Ok(self.f64(name)?.map(|x| x as f32))
    }

    /// An integer (a float with no fraction is accepted, as JavaScript clients send them).
    pub fn i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => {
                if let Some(i) = v.as_i64() {
                    return Ok(Some(i));
                }
                match v.as_f64() {
                    Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Some(x as i64)),
                    _ => Err(Self::wrong(name, "an integer", v)),
                }
            }
        }
    }

    /// A non-negative integer.
    pub fn usize(&self, name: &str) -> Result<Option<usize>, ApiError> {
        match self.i64(name)? {
            None => Ok(None),
            Some(i) if i >= 0 => Ok(Some(i as usize)),
            Some(i) => Err(ApiError::invalid(format!(
                "'{name}' must not be negative ({i})"
            ))),
        }
    }

    /// A boolean.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(Self::wrong(name, "a boolean", v)),
        }
    }

    /// A string.
    pub fn str(&self, name: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(Self::wrong(name, "a string", v)),
        }
    }

    /// An object.
    pub fn object(&self, name: &str) -> Result<Option<Fields<'a>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Fields(m))),
            Some(v) => Err(Self::wrong(name, "an object", v)),
        }
    }
}

/// The most stop strings a request may give (OpenAI allows 4; llama-server has no limit).
pub const MAX_STOP_STRINGS: usize = 1024;
/// The most bytes of one stop string.
pub const MAX_STOP_LEN: usize = 4096;
/// The most top alternatives per token.
pub const MAX_N_PROBS: usize = llamette::sampling::MAX_TOP_LOGPROBS;

/// A logit bias's key: a token id, or a text whose tokens all get the bias (llama-server).
#[derive(Debug, Clone, PartialEq)]
pub enum BiasKey {
    /// A token id.
    Token(i64),
    /// A text, tokenized without special tokens.
    Text(String),
}

/// A constraint on the output.
#[derive(Debug, Clone, PartialEq)]
pub enum GrammarSpec {
    /// llama.cpp's GBNF (`grammar`).
    Gbnf(String),
    /// A JSON schema (`json_schema`, `response_format`).
    JsonSchema(Value),
    /// Any JSON object (`response_format: {"type": "json_object"}` without a schema).
    JsonObject,
}

/// What every generating endpoint reads: sampling, stopping, streaming, logprobs.
#[derive(Debug, Clone, PartialEq)]
pub struct GenParams {
    /// The sampler's settings (the seed resolved by the caller when `seed` is `None`).
    pub sampling: SamplerParams,
    /// `seed` as given (`None` or -1: random).
    pub seed: Option<u64>,
    /// Tokens to generate at most (`None`: until a stop rule or the slot's context).
    pub n_predict: Option<usize>,
    /// Stop strings.
    pub stop: Vec<String>,
    /// Stream Server-Sent Events.
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// Report each token's log-probability with this many alternatives (`None`: none).
    pub logprobs: Option<usize>,
    /// Logit biases, resolved against the vocabulary by the caller.
    pub logit_bias: Vec<(BiasKey, f32)>,
    /// A grammar or schema.
    pub grammar: Option<GrammarSpec>,
    /// Reuse what the slot holds (default true, as llama-server).
    pub cache_prompt: bool,
    /// Never stop at end-of-generation tokens.
    pub ignore_eos: bool,
    /// Tokens of the prompt kept when the context shifts (-1: all).
    pub n_keep: i64,
    /// Put the per-token timings on every streamed chunk.
    pub timings_per_token: bool,
}

/// Which endpoint's names a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `/v1/chat/completions`: `logprobs` is a boolean with `top_logprobs`.
    Chat,
    /// `/v1/completions`: `logprobs` is the number of alternatives.
    Completion,
    /// llama-server's own `/completion` and `/infill`: `n_predict`, `n_probs`.
    Native,
}

/// Reads the generation parameters of a request body.
pub fn gen_params(f: Fields<'_>, dialect: Dialect) -> Result<GenParams, ApiError> {
    let mut s = SamplerParams::default();
    if let Some(t) = f.f32("temperature")? {
        s.temp = t;
    }
    if let Some(k) = f.i64("top_k")? {
        s.top_k = k.max(0) as usize;
    }
    if let Some(p) = f.f32("top_p")? {
        s.top_p = p;
    }
    if let Some(p) = f.f32("min_p")? {
        s.min_p = p;
    }
    if let Some(p) = f.f32("typical_p")? {
        s.typ_p = p;
    }
    if let Some(p) = f.f32("presence_penalty")? {
        s.penalty_present = p;
    }
    if let Some(p) = f.f32("frequency_penalty")? {
        s.penalty_freq = p;
    }
    if let Some(p) = f.f32("repeat_penalty")? {
        if p <= 0.0 {
            return Err(ApiError::invalid("'repeat_penalty' must be above 0"));
        }
        s.penalty_repeat = p;
    }
    if let Some(n) = f.i64("repeat_last_n")? {
        if n < -1 {
            return Err(ApiError::invalid("'repeat_last_n' must be -1 or more"));
        }
        // -1 (the context) is resolved by the engine; keep it as a large window.
        s.penalty_last_n = if n == -1 { usize::MAX >> 1 } else { n as usize };
    }
    if let Some(m) = f.i64("mirostat")? {
        if !(0..=2).contains(&m) {
            return Err(ApiError::invalid("'mirostat' must be 0, 1 or 2"));
        }
        s.mirostat = m as u32;
    }
    if let Some(t) = f.f32("mirostat_tau")? {
        s.mirostat_tau = t;
    }
    if let Some(e) = f.f32("mirostat_eta")? {
        s.mirostat_eta = e;
    }
    if let Some(x) = f.f32("dry_multiplier")? {
        s.dry_multiplier = x;
    }
    if let Some(x) = f.f32("dry_base")? {
        s.dry_base = x;
    }
    if let Some(x) = f.usize("dry_allowed_length")? {
        s.dry_allowed_length = x.min(i32::MAX as usize);
    }
    if let Some(x) = f.usize("dry_penalty_last_n")? {
        s.dry_penalty_last_n = x.min(i32::MAX as usize);
    }
    if let Some(x) = f.f32("xtc_probability")? {
        s.xtc_probability = x;
    }
    if let Some(x) = f.f32("xtc_threshold")? {
        s.xtc_threshold = x;
    }
    if let Some(x) = f.f32("top_n_sigma")? {
        s.top_n_sigma = x;
    }
    if let Some(x) = f.f32("dynatemp_range")? {
        s.dynatemp_range = x;
    }
    if let Some(x) = f.f32("dynatemp_exponent")? {
        s.dynatemp_exponent = x;
    }
    if let Some(x) = f.usize("min_keep")? {
        s.min_keep = x;
    }
    let seed = match f.i64("seed")? {
        None | Some(-1) => None,
        Some(x) if x < 0 => {
            return Err(ApiError::invalid(
                "'seed' must be -1 or a non-negative integer",
            ))
        }
        Some(x) => Some(x as u64),
    };

    // Tokens to generate: each dialect's names, the first present wins.
    let names: &[&str] = match dialect {
        Dialect::Native => &["n_predict", "max_tokens"],
        _ => &["max_completion_tokens", "max_tokens", "n_predict"],
    };
    let mut n_predict = None;
    for &name in names {
        if let Some(n) = f.i64(name)? {
            n_predict = match n {
                -1 => None,
                n if n < 0 => {
                    return Err(ApiError::invalid(format!(
                        "'{name}' must be -1 (no limit) or a non-negative integer, not {n}"
                    )))
                }
                n => Some(n as usize),
            };
            break;
        }
    }
    if let Some(n) = f.i64("n")? {
        if n != 1 {
            return Err(ApiError::invalid(
                "Only one completion choice is allowed ('n' must be 1)",
            ));
        }
    }

    let stop = match f.get("stop") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => {
            if a.len() > MAX_STOP_STRINGS {
                return Err(ApiError::invalid(format!(
                    "'stop' has {} strings; at most {MAX_STOP_STRINGS} are allowed",
                    a.len()
                )));
            }
            a.iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    v => Err(ApiError::invalid(format!(
                        "'stop' must hold strings, not {}",
                        type_name(v)
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(v) => return Err(Fields::wrong("stop", "a string or an array of strings", v)),
    };
    if stop.iter().any(|s| s.len() > MAX_STOP_LEN) {
        return Err(ApiError::invalid(format!(
            "a stop string is longer than {MAX_STOP_LEN} bytes"
        )));
    }

    let stream = f.bool("stream")?.unwrap_or(false);
    let include_usage = match f.object("stream_options")? {
        Some(o) => o.bool("include_usage")?.unwrap_or(false),
        None => false,
    };

    let logprobs = match dialect {
        Dialect::Chat => {
            let on = f.bool("logprobs")?.unwrap_or(false);
            let top = f.usize("top_logprobs")?;
            if top.is_some_and(|n| n > MAX_N_PROBS) {
                return Err(ApiError::invalid(format!(
                    "'top_logprobs' must be at most {MAX_N_PROBS}"
                )));
            }
            if top.is_some() && !on {
                return Err(ApiError::invalid(
                    "'top_logprobs' needs 'logprobs' set to true",
                ));
            }
            on.then(|| top.unwrap_or(0))
        }
        Dialect::Completion => match f.get("logprobs") {
            Some(Value::Bool(b)) => b.then_some(0),
            Some(_) => f.usize("logprobs")?,
            None => None,
        },
        Dialect::Native => f.usize("n_probs")?.filter(|&n| n > 0),
    };
    let logprobs = match logprobs {
        Some(n) if n > MAX_N_PROBS => {
            return Err(ApiError::invalid(format!(
                "at most {MAX_N_PROBS} alternatives per token can be reported"
            )))
        }
        l => l.or(if dialect != Dialect::Native {
            f.usize("n_probs")?
                .filter(|&n| n > 0)
                .map(|n| n.min(MAX_N_PROBS))
        } else {
            None
        }),
    };

    let logit_bias = logit_bias(f.get("logit_bias"))?;
    let grammar = grammar_spec(f)?;
    let cache_prompt = f.bool("cache_prompt")?.unwrap_or(true);
    let ignore_eos = f.bool("ignore_eos")?.unwrap_or(false);
    let n_keep = f.i64("n_keep")?.unwrap_or(0);
    if n_keep < -1 {
        return Err(ApiError::invalid("'n_keep' must be -1 or more"));
    }
    let timings_per_token = f.bool("timings_per_token")?.unwrap_or(false);
    Ok(GenParams {
        sampling: s,
        seed,
        n_predict,
        stop,
        stream,
        include_usage,
        logprobs,
        logit_bias,
        grammar,
        cache_prompt,
        ignore_eos,
        n_keep,
        timings_per_token,
    })
}

/// `logit_bias` as OpenAI's object (`{"token id": bias}`) or llama-server's array of
/// `[token or text, bias or false]` pairs (false bans).
fn logit_bias(v: Option<&Value>) -> Result<Vec<(BiasKey, f32)>, ApiError> {
    let bias_of = |v: &Value| -> Result<f32, ApiError> {
        match v {
            Value::Bool(false) => Ok(f32::NEG_INFINITY),
            Value::Number(n) => n
                .as_f64()
                .filter(|x| x.is_finite())
                .map(|x| x as f32)
                .ok_or_else(|| ApiError::invalid("a logit bias must be a finite number")),
            v => Err(ApiError::invalid(format!(
                "a logit bias must be a number or false, not {}",
                type_name(v)
            ))),
        }
    };
    let mut out = Vec::new();
    match v {
        None => {}
        Some(Value::Object(m)) => {
            for (k, b) in m {
                let key = match k.trim().parse::<i64>() {
                    Ok(id) => BiasKey::Token(id),
                    Err(_) => BiasKey::Text(k.clone()),
                };
                out.push((key, bias_of(b)?));
            }
        }
        Some(Value::Array(a)) => {
            for pair in a {
                let Some([k, b]) = pair
                    .as_array()
                    .map(Vec::as_slice)
                    .and_then(|s| <&[Value; 2]>::try_from(s).ok())
                else {
                    return Err(ApiError::invalid(
                        "'logit_bias' as an array must hold [token, bias] pairs",
                    ));
                };
                let key = match k {
                    Value::String(s) => BiasKey::Text(s.clone()),
                    Value::Number(n) if n.as_i64().is_some() => {
                        BiasKey::Token(n.as_i64().unwrap_or(-1))
                    }
                    v => {
                        return Err(ApiError::invalid(format!(
                            "a logit bias's token must be an id or a text, not {}",
                            type_name(v)
                        )))
                    }
                };
                out.push((key, bias_of(b)?));
            }
        }
        Some(v) => return Err(Fields::wrong("logit_bias", "an object or an array", v)),
    }
    if out.len() > 1 << 17 {
        return Err(ApiError::invalid("'logit_bias' has too many entries"));
    }
    Ok(out)
}

/// `grammar`, `json_schema` or `response_format`.
fn grammar_spec(f: Fields<'_>) -> Result<Option<GrammarSpec>, ApiError> {
    let mut specs = Vec::new();
    if let Some(g) = f.str("grammar")? {
        if !g.is_empty() {
            specs.push(GrammarSpec::Gbnf(g.to_string()));
        }
    }
    if let Some(s) = f.get("json_schema") {
        specs.push(GrammarSpec::JsonSchema(s.clone()));
    }
    if let Some(rf) = f.object("response_format")? {
        match rf.str("type")? {
            None | Some("text") => {}
            Some("json_object") => specs.push(match rf.get("schema") {
                Some(s) => GrammarSpec::JsonSchema(s.clone()),
                None => GrammarSpec::JsonObject,
            }),
            Some("json_schema") => {
                let schema = match rf.object("json_schema")? {
                    Some(js) => js.get("schema").cloned(),
                    None => rf.get("schema").cloned(),
                };
                specs.push(match schema {
                    Some(s) => GrammarSpec::JsonSchema(s),
                    None => GrammarSpec::JsonObject,
                });
            }
            Some(t) => {
                return Err(ApiError::invalid(format!(
                    "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\", not {t:?}"
                )))
            }
        }
    }
    if specs.len() > 1 {
        return Err(ApiError::invalid(
            "give one of 'grammar', 'json_schema' and 'response_format', not several",
        ));
    }
    Ok(specs.pop())
}

/// A completion prompt: text, or token ids (llama-server accepts both, and mixtures).
#[derive(Debug, Clone, PartialEq)]
pub enum PromptPart {
    /// Text, tokenized with special tokens parsed.
    Text(String),
    /// Token ids as they are.
    Tokens(Vec<i64>),
}

/// Reads `prompt`: a string, an array of token ids, an array of strings and ids (one prompt
/// in pieces), or an array holding one such prompt.
pub fn prompt(f: Fields<'_>, name: &str) -> Result<Vec<PromptPart>, ApiError> {
    let Some(v) = f.get(name) else {
        return Err(ApiError::invalid(format!("'{name}' is required")));
    };
    fn part(v: &Value, name: &str) -> Result<Vec<PromptPart>, ApiError> {
        match v {
            Value::String(s) => Ok(vec![PromptPart::Text(s.clone())]),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Ok(vec![PromptPart::Tokens(vec![i])]),
                None => Err(ApiError::invalid(format!(
                    "'{name}' holds a token that is not an integer"
                ))),
            },
            v => Err(ApiError::invalid(format!(
                "'{name}' must be a string, token ids, or an array of them, not {}",
                type_name(v)
            ))),
        }
    }
    match v {
        Value::Array(a) => {
            // One prompt given as an array holding one string or one token list.
            if a.len() == 1 {
                if let Value::Array(inner) = &a[0] {
                    return inner.iter().map(|v| part(v, name)).flat_map_ok();
                }
            }
            if a.iter().filter(|v| v.is_string()).count() > 1 && a.iter().all(|v| v.is_string()) {
                return Err(ApiError::invalid(format!(
                    "'{name}' holds several prompts; this server completes one prompt per request"
                )));
            }
            if a.iter().any(|v| v.is_array()) {
                return Err(ApiError::invalid(format!(
                    "'{name}' holds several prompts; this server completes one prompt per request"
                )));
            }
            a.iter().map(|v| part(v, name)).flat_map_ok()
        }
        v => part(v, name),
    }
}

trait FlatMapOk {
    fn flat_map_ok(self) -> Result<Vec<PromptPart>, ApiError>;
}

impl<I: Iterator<Item = Result<Vec<PromptPart>, ApiError>>> FlatMapOk for I {
    fn flat_map_ok(self) -> Result<Vec<PromptPart>, ApiError> {
        let mut out: Vec<PromptPart> = Vec::new();
        for p in self {
            for part in p? {
                match (out.last_mut(), part) {
                    (Some(PromptPart::Tokens(t)), PromptPart::Tokens(more)) => t.extend(more),
                    (_, part) => out.push(part),
                }
            }
        }
        Ok(out)
    }
}

/// A chat request's messages, checked: an array of objects with a string `role`, and a
/// `content` that is a string, null, or an array of parts (the text parts are joined, as
/// llama-server does for templates that take strings).
pub fn messages(f: Fields<'_>) -> Result<Value, ApiError> {
    let Some(v) = f.get("messages") else {
        return Err(ApiError::invalid("'messages' is required"));
    };
    let Value::Array(a) = v else {
        return Err(Fields::wrong("messages", "an array", v));
    };
    if a.is_empty() {
        return Err(ApiError::invalid("'messages' must not be empty"));
    }
    let mut out = Vec::with_capacity(a.len());
    for (i, m) in a.iter().enumerate() {
        let Value::Object(m) = m else {
            return Err(ApiError::invalid(format!(
                "'messages[{i}]' must be an object, not {}",
                type_name(m)
            )));
        };
        let mut m = m.clone();
        match m.get("role") {
            Some(Value::String(_)) => {}
            _ => {
                return Err(ApiError::invalid(format!(
                    "'messages[{i}].role' must be a string"
                )))
            }
        }
        let content = match m.get("content") {
            None | Some(Value::Null) => None,
            Some(Value::String(_)) => None,
            Some(Value::Array(parts)) => {
                let mut text = String::new();
                for (j, p) in parts.iter().enumerate() {
                    let t = p.get("type").and_then(Value::as_str);
                    match (t, p.get("text").and_then(Value::as_str)) {
                        (Some("text") | None, Some(s)) => text.push_str(s),
                        (Some(t), _) => {
                            return Err(ApiError::new(
                                ErrorKind::NotSupported,
                                format!("'messages[{i}].content[{j}]' is of type {t:?}; only text parts are supported"),
                            ))
                        }
                        _ => {
                            return Err(ApiError::invalid(format!(
                                "'messages[{i}].content[{j}]' must be a text part"
                            )))
                        }
                    }
                }
                Some(Value::String(text))
            }
            Some(v) => {
                return Err(ApiError::invalid(format!(
                    "'messages[{i}].content' must be a string, null or an array of parts, not {}",
                    type_name(v)
                )))
            }
        };
        if let Some(c) = content {
            m.insert("content".into(), c);
        }
        out.push(Value::Object(m));
    }
    Ok(Value::Array(out))
}

/// Why a generation ended, as llama-server's `stop_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// An end-of-generation token (or the grammar was complete).
    Eos,
    /// A stop string.
    Word(String),
    /// `max_tokens`, the slot's context, the time limit, or the server stopping.
    Limit,
}

impl Finish {
    /// OpenAI's `finish_reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Finish::Eos | Finish::Word(_) => "stop",
            Finish::Limit => "length",
        }
    }

    /// llama-server's `stop_type`.
    pub fn stop_type(&self) -> &'static str {
        match self {
            Finish::Eos => "eos",
            Finish::Word(_) => "word",
            Finish::Limit => "limit",
        }
    }
}

/// Times and counts of one generation (llama-server's `timings`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Prompt tokens reused from the slot's cache.
    pub cache_n: usize,
    /// Prompt tokens evaluated.
    pub prompt_n: usize,
    /// Milliseconds evaluating them.
    pub prompt_ms: f64,
    /// Tokens generated.
    pub predicted_n: usize,
    /// Milliseconds generating.
    pub predicted_ms: f64,
}

impl Timings {
    /// The layout.
    pub fn to_json(&self) -> Value {
        let per = |ms: f64, n: usize| if n == 0 { 0.0 } else { ms / n as f64 };
        let rate = |ms: f64, n: usize| if ms <= 0.0 { 0.0 } else { 1e3 * n as f64 / ms };
        json!({
            "cache_n": self.cache_n,
            "prompt_n": self.prompt_n,
            "prompt_ms": self.prompt_ms,
            "prompt_per_token_ms": per(self.prompt_ms, self.prompt_n),
            "prompt_per_second": rate(self.prompt_ms, self.prompt_n),
            "predicted_n": self.predicted_n,
            "predicted_ms": self.predicted_ms,
            "predicted_per_token_ms": per(self.predicted_ms, self.predicted_n),
            "predicted_per_second": rate(self.predicted_ms, self.predicted_n),
        })
    }

    /// OpenAI's `usage`: prompt tokens are all of the prompt's, cached ones included.
    pub fn usage(&self) -> Value {
        let prompt = self.cache_n + self.prompt_n;
        json!({
            "completion_tokens": self.predicted_n,
            "prompt_tokens": prompt,
            "total_tokens": prompt + self.predicted_n,
            "prompt_tokens_details": { "cached_tokens": self.cache_n },
        })
    }
}

/// One token's probability entry (llama-server's `probs` layout): the token, its text (cut to
/// whole UTF-8 characters) and bytes, its log-probability, and the alternatives.
pub fn logprob_json(lp: &TokenLogprob, text_of: &dyn Fn(u32) -> Vec<u8>) -> Value {
    let entry = |id: u32, logprob: f32| {
        let bytes = text_of(id);
        json!({
            "id": id,
            "token": valid_utf8_prefix(&bytes),
            "bytes": bytes,
            "logprob": finite_logprob(logprob),
        })
    };
    let mut e = entry(lp.id, lp.logprob);
    let top: Vec<Value> = lp.top[..lp.n_top]
        .iter()
        .map(|&(id, l)| entry(id, l))
        .collect();
    e["top_logprobs"] = Value::Array(top);
    e
}

/// A log-probability JSON can carry: -inf becomes the lowest float, as llama-server writes it.
fn finite_logprob(l: f32) -> f32 {
    if l.is_finite() {
        l
    } else {
        f32::MIN
    }
}

/// The longest prefix of `bytes` that is whole UTF-8 characters, as text.
pub fn valid_utf8_prefix(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(e) => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(text: &str) -> Map<String, Value> {
        parse_object(text.as_bytes()).unwrap()
    }

    #[test]
    fn wrong_types_name_the_field() {
        let m = obj(r#"{"max_tokens": "ten"}"#);
        let e = gen_params(Fields(&m), Dialect::Chat).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert_eq!(e.message, "'max_tokens' must be an integer, not a string");
        let m = obj(r#"{"max_tokens": -5}"#);
        let e = gen_params(Fields(&m), Dialect::Chat).unwrap_err();
        assert!(
            e.message.contains("'max_tokens' must be -1"),
            "{}",
            e.message
        );
        let e = parse_object(b"{\"a\": ").unwrap_err();
        assert!(
            e.message.starts_with("the body is not valid JSON"),
            "{}",
            e.message
        );
        assert_eq!(
            parse_object(b"[1]").unwrap_err().message,
            "the body must be a JSON object, not an array"
        );
    }

    #[test]
    fn the_dialects_names() {
        let m = obj(
            r#"{"max_tokens": 7, "logprobs": true, "top_logprobs": 3, "stop": "\n", "unknown": {"x": 1}}"#,
        );
        let p = gen_params(Fields(&m), Dialect::Chat).unwrap();
        assert_eq!(
            (p.n_predict, p.logprobs, p.stop.clone()),
            (Some(7), Some(3), vec!["\n".to_string()])
        );
        let m = obj(r#"{"max_tokens": 7, "logprobs": 2}"#);
        let p = gen_params(Fields(&m), Dialect::Completion).unwrap();
        assert_eq!(p.logprobs, Some(2));
        let m = obj(r#"{"n_predict": -1, "n_probs": 4, "max_tokens": 3}"#);
        let p = gen_params(Fields(&m), Dialect::Native).unwrap();
        assert_eq!((p.n_predict, p.logprobs), (None, Some(4)));
        let m = obj(r#"{"logit_bias": {"15": -100, "hello": 2.5}}"#);
        let p = gen_params(Fields(&m), Dialect::Chat).unwrap();
        assert_eq!(
            p.logit_bias,
            vec![
                (BiasKey::Token(15), -100.0),
                (BiasKey::Text("hello".into()), 2.5)
            ]
        );
        let m = obj(r#"{"logit_bias": [[15, false]]}"#);
        let p = gen_params(Fields(&m), Dialect::Native).unwrap();
        assert_eq!(p.logit_bias, vec![(BiasKey::Token(15), f32::NEG_INFINITY)]);
        let m = obj(
            r#"{"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer"}}}}"#,
        );
        let p = gen_params(Fields(&m), Dialect::Chat).unwrap();
        assert_eq!(
            p.grammar,
            Some(GrammarSpec::JsonSchema(json!({"type": "integer"})))
        );
    }

    #[test]
    fn prompts_and_messages() {
        let m = obj(r#"{"prompt": ["Hello", 12, 13]}"#);
        assert_eq!(
            prompt(Fields(&m), "prompt").unwrap(),
            vec![
                PromptPart::Text("Hello".into()),
                PromptPart::Tokens(vec![12, 13])
            ]
        );
        let m = obj(r#"{"prompt": [[1, 2, 3]]}"#);
        assert_eq!(
            prompt(Fields(&m), "prompt").unwrap(),
            vec![PromptPart::Tokens(vec![1, 2, 3])]
        );
        let m = obj(r#"{"prompt": ["a", "b"]}"#);
        assert!(prompt(Fields(&m), "prompt").is_err());
        let m = obj(
            r#"{"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": " there"}]}]}"#,
        );
        assert_eq!(
            messages(Fields(&m)).unwrap(),
            json!([{"role": "user", "content": "Hi there"}])
        );
        let m = obj(r#"{"messages": 5}"#);
        assert_eq!(
            messages(Fields(&m)).unwrap_err().message,
            "'messages' must be an array, not a number"
        );
    }

    #[test]
    fn the_error_layout() {
        let e = ApiError::exceeds_context(5000, 4096);
        assert_eq!(
            e.body(),
            json!({"error": {"code": 400, "message": "request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": 5000, "n_ctx": 4096}})
        );
    }
}
