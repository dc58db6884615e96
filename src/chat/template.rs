//! The GGUF file's own chat template (feature `templates`): the Jinja text of
//! `tokenizer.chat_template` (or of a named alternative, `tokenizer.chat_template.<name>`)
//! rendered as Hugging Face's `apply_chat_template` renders it.
//!
//! transformers (`utils/chat_template_utils.py`, `_compile_jinja_template`) renders with a
//! jinja2 `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
//! extensions=[loopcontrols])`, its own `tojson` filter (`json.dumps` with
//! `ensure_ascii=False`, and `indent`, `separators`, `sort_keys`), the globals
//! `raise_exception(message)` and `strftime_now(format)`, and the variables `messages`,
//! `add_generation_prompt`, `bos_token`, `eos_token` (and `tools`, `documents` when given).
//! This module does the same with minijinja, plus what jinja2 has and minijinja lacks:
//! Python's str and dict methods (`.strip()`, `.items()`, ...; minijinja-contrib's
//! `pycompat`), and printing values as Python's `str` does (`None`, `True`, `['a', 1]`).
//! tests/chat_templates.rs compares the output with jinja2's on llama.cpp's templates.
//!
//! A template is untrusted input: every failure (a syntax error, an unknown filter or method,
//! `raise_exception`) is an [`Error::Template`] naming the line, and a render is bounded
//! ([`FUEL`], minijinja's recursion limit), so a hostile template ends with an error.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{AutoEscape, Environment, ErrorKind, State, UndefinedBehavior, Value};

use super::Message;
use crate::error::{Error, Result};
use crate::gguf::GgufHeader;

/// The metadata key of a model's default chat template.
pub const TEMPLATE_KEY: &str = "tokenizer.chat_template";

/// The work one render may do, in minijinja's fuel units (about one per instruction, or per
/// 64 bytes made). Real templates use a few thousand per message; this leaves room for
/// conversations of thousands of messages and stops loops a template makes endless (nested
/// `range` calls) within about a second.
pub const FUEL: u64 = 50_000_000;

/// How deep templates may nest calls, macros and includes (minijinja's default is 500; a
/// chat template needs a handful).
const RECURSION_LIMIT: usize = 200;

/// One message as a template sees it: a role and a content that may be absent (an assistant
/// message that only calls tools has `content: None`, which templates test with `is none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateMessage<'a> {
    /// "system", "user", "assistant", "tool", ...
    pub role: &'a str,
    /// The text, or `None` (rendered as Python's `None`).
    pub content: Option<&'a str>,
}

impl<'a> From<Message<'a>> for TemplateMessage<'a> {
    fn from(m: Message<'a>) -> TemplateMessage<'a> {
        TemplateMessage {
            role: m.role,
            content: Some(m.content),
        }
    }
}

/// What a template may use besides the messages, as `apply_chat_template` passes it: tool
/// definitions (OpenAI's function schemas) and documents for retrieval-augmented generation.
/// Each is `none` in the template when `None` (transformers passes `tools=None`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TemplateExtra<'a> {
    /// `tools`: a JSON array of tool definitions.
    pub tools: Option<&'a serde_json::Value>,
    /// `documents`: a JSON array of documents.
    pub documents: Option<&'a serde_json::Value>,
}

/// A Jinja chat template with the vocabulary's BOS and EOS token texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
    /// `strftime_now`'s time in seconds since 1970 (UTC); `None`: the clock's.
    now: Option<i64>,
}

impl ChatTemplate {
    /// A template from its text, with the texts of the BOS and EOS tokens (`bos_token`,
    /// `eos_token` in the template; "" where the vocabulary has none). Fails when the text
    /// does not parse.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<ChatTemplate> {
        let t = ChatTemplate {
            source: source.to_string(),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
            now: None,
        };
        let compiled = t.compiled();
        let env = t.environment();
        env.template_from_str(&compiled)
            .map_err(|e| template_error(&e))?;
        Ok(t)
    }

    /// The text minijinja compiles: the source with transformers' `{% generation %}` and
    /// `{% endgeneration %}` tags (its assistant-mask extension, which renders the body as it
    /// is) written as `{% if true %}` and `{% endif %}`, whitespace control kept.
    fn compiled(&self) -> String {
        rewrite_generation_tags(&self.source)
    }

    /// The model's default template (`tokenizer.chat_template`), `None` when the file has
    /// none, with BOS and EOS texts from the vocabulary (`tokenizer.ggml.bos_token_id`,
    /// `tokenizer.ggml.eos_token_id` into `tokenizer.ggml.tokens`).
    pub fn from_gguf(header: &GgufHeader<'_>) -> Result<Option<ChatTemplate>> {
        Self::from_key(header, TEMPLATE_KEY)
    }

    /// The template named `name` (`tokenizer.chat_template.<name>`, for example "tool_use"
    /// or "rag"), `None` when the file has none of that name.
    pub fn named(header: &GgufHeader<'_>, name: &str) -> Result<Option<ChatTemplate>> {
        Self::from_key(header, &format!("{TEMPLATE_KEY}.{name}"))
    }

    /// A template given as text for the model `header` describes: its BOS and EOS texts come
    /// from the vocabulary, as for the file's own template.
    pub fn from_text_for(header: &GgufHeader<'_>, source: &str) -> Result<ChatTemplate> {
        let bos = special_text(header, "tokenizer.ggml.bos_token_id")?;
        let eos = special_text(header, "tokenizer.ggml.eos_token_id")?;
        ChatTemplate::new(source, bos, eos)
    }

    /// The names of the file's named templates, in file order.
    pub fn names(header: &GgufHeader<'_>) -> Vec<String> {
        header
            .metadata()
            .filter_map(|(k, _)| k.strip_prefix(TEMPLATE_KEY)?.strip_prefix('.'))
            .map(ToString::to_string)
            .collect()
    }

    fn from_key(header: &GgufHeader<'_>, key: &str) -> Result<Option<ChatTemplate>> {
        let Some(source) = header.get_str_opt(key)? else {
            return Ok(None);
        };
        ChatTemplate::from_text_for(header, source)
            .map(Some)
            .map_err(|e| match e {
                Error::Template { reason } => Error::Template {
                    reason: format!("'{key}': {reason}"),
                },
                e => e,
            })
    }

    /// The same template with `strftime_now` reading `unix_seconds` (seconds since
    /// 1970-01-01 UTC) instead of the clock: for renders that must not change by the day.
    pub fn with_now(mut self, unix_seconds: i64) -> ChatTemplate {
        self.now = Some(unix_seconds);
        self
    }

    /// The template's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `bos_token` as the template sees it.
    pub fn bos_token(&self) -> &str {
        &self.bos_token
    }

    /// `eos_token` as the template sees it.
    pub fn eos_token(&self) -> &str {
        &self.eos_token
    }

    /// The conversation rendered, ending with the assistant's header when
    /// `add_generation_prompt` is set; [`ChatTemplate::render_with`] for absent contents,
    /// tools and documents.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let messages: Vec<TemplateMessage> = messages.iter().map(|&m| m.into()).collect();
        self.render_with(&messages, add_generation_prompt, TemplateExtra::default())
    }

    /// The conversation rendered, with the optional `tools` and `documents`.
    pub fn render_with(
        &self,
        messages: &[TemplateMessage],
        add_generation_prompt: bool,
        extra: TemplateExtra<'_>,
    ) -> Result<String> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                Value::from_pairs([
                    ("role", Value::from(m.role)),
                    ("content", m.content.map_or(Value::from(()), Value::from)),
                ])
            })
            .collect();
        self.render_values(Value::from(messages), add_generation_prompt, extra)
    }

    /// The conversation rendered from OpenAI-style JSON messages: an array of objects with
    /// any fields (`role`, `content` as a string, null or a list of parts, `tool_calls`,
    /// `name`, ...), passed to the template as they are.
    pub fn render_json(
        &self,
        messages: &serde_json::Value,
        add_generation_prompt: bool,
        extra: TemplateExtra<'_>,
    ) -> Result<String> {
        if !messages.is_array() {
            return Err(Error::BadChat {
                message: 0,
                reason: "the messages must be a JSON array".to_string(),
            });
        }
        self.render_values(from_json(messages), add_generation_prompt, extra)
    }

    fn render_values(
        &self,
        messages: Value,
        add_generation_prompt: bool,
        extra: TemplateExtra<'_>,
    ) -> Result<String> {
        let compiled = self.compiled();
        let env = self.environment();
        let template = env
            .template_from_str(&compiled)
            .map_err(|e| template_error(&e))?;
        // transformers passes `tools` and `documents`, as None when the caller has none.
        let ctx = [
            ("messages", messages),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("bos_token", Value::from(self.bos_token.as_str())),
            ("eos_token", Value::from(self.eos_token.as_str())),
            ("tools", extra.tools.map_or(Value::from(()), from_json)),
            (
                "documents",
                extra.documents.map_or(Value::from(()), from_json),
            ),
        ];
        template
            .render(Value::from_pairs(ctx))
            .map_err(|e| template_error(&e))
    }

    /// The environment transformers renders in, rebuilt per render (it borrows nothing and
    /// costs microseconds next to compiling the template).
    fn environment(&self) -> Environment<'static> {
        let mut env = Environment::new();
        let mut syntax = minijinja::syntax::SyntaxConfig::builder();
        syntax
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(false);
        if let Ok(s) = syntax.build() {
            env.set_syntax(s);
        }
        // jinja2's default `Undefined`: printing one gives "", using its attributes fails.
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(RECURSION_LIMIT);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(|out, _state, value| {
            let mut s = String::new();
            py_str(&mut s, value, 0)?;
            out.write_str(&s).map_err(|_| {
                minijinja::Error::new(ErrorKind::WriteFailure, "the output cannot be written")
            })
        });
        // jinja2's `iterable` (Python's `iter()` succeeds): not for none, undefined, numbers
        // or booleans (minijinja's own says yes to none, which loops as empty).
        env.add_test("iterable", |v: Value| {
            matches!(
                v.kind(),
                ValueKind::Seq | ValueKind::Map | ValueKind::String | ValueKind::Iterable
            )
        });
        env.add_filter("tojson", tojson);
        env.add_filter(
            "string",
            |v: Value| -> core::result::Result<Value, minijinja::Error> {
                let mut s = String::new();
                py_str(&mut s, &v, 0)?;
                Ok(Value::from(s))
            },
        );
        env.add_function(
            "raise_exception",
            |message: String| -> core::result::Result<Value, minijinja::Error> {
                Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("raise_exception: {message}"),
                ))
            },
        );
        let now = self.now;
        env.add_function(
            "strftime_now",
            move |fmt: String| -> core::result::Result<Value, minijinja::Error> {
                let t = now.unwrap_or_else(clock_now);
                Ok(Value::from(strftime(&fmt, t)))
            },
        );
        env
    }
}

/// `{% generation %}` / `{% endgeneration %}` (with any `-`/`+` markers and spaces) as
/// `{% if true %}` / `{% endif %}`; everything else as it is.
fn rewrite_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find("{%") {
        out.push_str(&rest[..at]);
        let tag = &rest[at..];
        // The closing `%}` after the opening `{%` (in `{%}` the `%` is the opener's).
        let Some(end) = tag[2..].find("%}").map(|e| e + 2) else {
            out.push_str(tag);
            return out;
        };
        let inner = &tag[2..end];
        let (open_mark, body) = match inner.chars().next() {
            Some(c @ ('-' | '+')) => (Some(c), &inner[1..]),
            _ => (None, inner),
        };
        let (body, close_mark) = match body.chars().last() {
            Some(c @ ('-' | '+')) => (&body[..body.len() - 1], Some(c)),
            _ => (body, None),
        };
        let replacement = match body.trim() {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match replacement {
            Some(r) => {
                out.push_str("{%");
                out.extend(open_mark);
                out.push(' ');
                out.push_str(r);
                out.push(' ');
                out.extend(close_mark);
                out.push_str("%}");
            }
            None => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The text of the token whose id is at `key` ("" when the key or the token is absent, as
/// transformers passes an empty string for a tokenizer without one).
fn special_text<'h>(header: &'h GgufHeader<'_>, key: &str) -> Result<&'h str> {
    let Some(id) = header.get_u32_opt(key)? else {
        return Ok("");
    };
    let tokens = header.get_array_opt("tokenizer.ggml.tokens")?;
    Ok(tokens
        .and_then(|t| t.get(id as usize))
        .and_then(|v| v.as_str())
        .unwrap_or(""))
}

/// A minijinja error as the crate's: its message (which names the unknown filter, test,
/// function or method, or the template's own `raise_exception` message) and its line.
fn template_error(e: &minijinja::Error) -> Error {
    let what = match e.detail() {
        Some(d)
            if e.kind() == ErrorKind::InvalidOperation && d.starts_with("raise_exception: ") =>
        {
            d.to_string()
        }
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    let reason = match e.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    };
    Error::Template { reason }
}

/// JSON as template values; objects keep their key order.
fn from_json(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        J::String(s) => Value::from(s.as_str()),
        J::Array(a) => a.iter().map(from_json).collect(),
        J::Object(o) => Value::from_pairs(o.iter().map(|(k, v)| (k.as_str(), from_json(v)))),
    }
}

type JinjaResult<T> = core::result::Result<T, minijinja::Error>;

fn invalid(msg: impl Into<String>) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Nesting deeper than this in a value printed or turned into JSON is an error: values made
/// by a template are finite, but a deep one would cost stack.
const MAX_VALUE_DEPTH: usize = 128;

/// Python's `str(value)` as jinja2 prints a value: strings as they are, `None`, `True`,
/// `False`, lists and dicts as Python's `repr` (`['a', 1]`, `{'k': None}`), undefined as "".
fn py_str(out: &mut String, v: &Value, depth: usize) -> JinjaResult<()> {
    match v.kind() {
        ValueKind::String => out.push_str(v.as_str().unwrap_or_default()),
        ValueKind::Undefined => {}
        _ => py_repr(out, v, depth)?,
    }
    Ok(())
}

/// Python's `repr(value)`.
fn py_repr(out: &mut String, v: &Value, depth: usize) -> JinjaResult<()> {
    if depth > MAX_VALUE_DEPTH {
        return Err(invalid("a value nests too deeply to print"));
    }
    match v.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => {
            if let Some(f) = as_f64(v).filter(|_| is_float(v)) {
                py_float(out, f);
            } else {
                let _ = write!(out, "{v}");
            }
        }
        ValueKind::String => py_str_repr(out, v.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_repr(out, &item, depth + 1)?;
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_repr(out, &key, depth + 1)?;
                out.push_str(": ");
                py_repr(out, &v.get_item(&key)?, depth + 1)?;
            }
            out.push('}');
        }
        _ => {
            let _ = write!(out, "{v}");
        }
    }
    Ok(())
}

/// Whether a number value is a float (minijinja prints `1.0` for one, `1` for an integer).
/// A number as f64 (None for other kinds).
fn as_f64(v: &Value) -> Option<f64> {
    f64::try_from(v.clone()).ok()
}

fn is_float(v: &Value) -> bool {
    i64::try_from(v.clone()).is_err() && v.as_i64().is_none()
        || (v.as_i64().is_none() && as_f64(v).is_some())
        || format!("{v}").contains(['.', 'e', 'n', 'N'])
}

/// Python's `repr(str)`: single quotes unless the text has one and no double quote.
fn py_str_repr(out: &mut String, s: &str) {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(q);
}

/// Python's `repr(float)`: the shortest digits that read back, in fixed notation for
/// exponents -4 to 15 (always with a fraction: `1.0`) and `1e+16`, `1.5e-05` otherwise.
fn py_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("nan");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if f == 0.0 {
        out.push_str(if f.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e3".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            out.push_str("0.");
            for _ in 0..-point {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let point = point as usize;
            if digits.len() <= point {
                out.push_str(&digits);
                for _ in digits.len()..point {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

/// transformers' `tojson`: `json.dumps(value, ensure_ascii=False, indent=None,
/// separators=None, sort_keys=False)`, its arguments by position or by name. Unlike jinja2's
/// own filter it escapes no HTML characters.
fn tojson(state: &State, value: &Value, args: Rest<Value>, kwargs: Kwargs) -> JinjaResult<Value> {
    let names = ["ensure_ascii", "indent", "separators", "sort_keys"];
    if args.len() > names.len() {
        return Err(invalid("tojson takes at most 4 arguments"));
    }
    let mut opts: [Option<Value>; 4] = Default::default();
    for (slot, a) in opts.iter_mut().zip(args.iter()) {
        *slot = Some(a.clone());
    }
    for (i, name) in names.iter().enumerate() {
        if let Some(v) = kwargs.get::<Option<Value>>(name)? {
            if opts[i].is_some() {
                return Err(invalid(format!("tojson got {name} twice")));
            }
            opts[i] = Some(v);
        }
    }
    kwargs.assert_all_used()?;
    let given = |i: usize| {
        opts[i]
            .clone()
            .filter(|v| !v.is_none() && !v.is_undefined())
    };
    let ensure_ascii = given(0).is_some_and(|v| v.is_true());
    let sort_keys = given(3).is_some_and(|v| v.is_true());
    let indent: Option<String> = match given(1) {
        None => None,
        Some(v) if v.kind() == ValueKind::String => Some(v.as_str().unwrap_or_default().into()),
        Some(v) => {
            let n = v
                .as_i64()
                .ok_or_else(|| invalid("tojson: indent must be an integer or a string"))?;
            Some(" ".repeat(usize::try_from(n).unwrap_or(0).min(64)))
        }
    };
    let (item_sep, key_sep) = match given(2) {
        Some(v) => {
            let parts: Vec<Value> = v.try_iter()?.collect();
            match parts.as_slice() {
                [a, b] if a.as_str().is_some() && b.as_str().is_some() => (
                    a.as_str().unwrap_or_default().to_string(),
                    b.as_str().unwrap_or_default().to_string(),
                ),
                _ => return Err(invalid("tojson: separators must be two strings")),
            }
        }
        None if indent.is_some() => (",".to_string(), ": ".to_string()),
        None => (", ".to_string(), ": ".to_string()),
    };
    let json = Json {
        ensure_ascii,
        sort_keys,
        indent,
        item_sep,
        key_sep,
    };
    let mut out = String::new();
    json.value(state, &mut out, value, 0)?;
    Ok(Value::from(out))
}

/// Python's `json.dumps` settings.
struct Json {
    ensure_ascii: bool,
    sort_keys: bool,
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
}

impl Json {
    fn newline(&self, out: &mut String, depth: usize) {
        if let Some(ind) = &self.indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(ind);
            }
        }
    }

    fn value(&self, state: &State, out: &mut String, v: &Value, depth: usize) -> JinjaResult<()> {
        if depth > MAX_VALUE_DEPTH {
            return Err(invalid("tojson: the value nests too deeply"));
        }
        if out.len() >= 64 {
            // Pays for the output as the engine pays for what templates make.
            state.consume_fuel((out.len() / 64) as u64 / (depth as u64 + 1))?;
        }
        match v.kind() {
            ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
            ValueKind::Number => {
                if is_float(v) {
                    let f = as_f64(v).unwrap_or(f64::NAN);
                    if f.is_nan() {
                        out.push_str("NaN");
                    } else if f.is_infinite() {
                        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
                    } else {
                        py_float(out, f);
                    }
                } else {
                    let _ = write!(out, "{v}");
                }
            }
            ValueKind::String => self.string(out, v.as_str().unwrap_or_default()),
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = v.try_iter()?.collect();
                if items.is_empty() {
                    out.push_str("[]");
                    return Ok(());
                }
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item_sep);
                    }
                    self.newline(out, depth + 1);
                    self.value(state, out, item, depth + 1)?;
                }
                self.newline(out, depth);
                out.push(']');
            }
            ValueKind::Map => {
                let mut keys: Vec<(String, Value)> = Vec::new();
                for key in v.try_iter()? {
                    let text = match key.kind() {
                        ValueKind::String => key.as_str().unwrap_or_default().to_string(),
                        ValueKind::None => "null".to_string(),
                        ValueKind::Bool => (if key.is_true() { "true" } else { "false" }).into(),
                        ValueKind::Number => {
                            let mut s = String::new();
                            self.value(state, &mut s, &key, depth + 1)?;
                            s
                        }
                        _ => {
                            return Err(invalid(format!(
                                "tojson: keys must be str, int, float, bool or None, not {}",
                                key.kind()
                            )))
                        }
                    };
                    keys.push((text, key));
                }
                if keys.is_empty() {
                    out.push_str("{}");
                    return Ok(());
                }
                if self.sort_keys {
                    keys.sort_by(|a, b| a.0.cmp(&b.0));
                }
                out.push('{');
                for (i, (text, key)) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item_sep);
                    }
                    self.newline(out, depth + 1);
                    self.string(out, text);
                    out.push_str(&self.key_sep);
                    self.value(state, out, &v.get_item(key)?, depth + 1)?;
                }
                self.newline(out, depth);
                out.push('}');
            }
            kind => {
                return Err(invalid(format!(
                    "tojson: a value of type {kind} is not JSON serializable"
                )))
            }
        }
        Ok(())
    }

    /// A JSON string as Python writes it: `"`, `\`, `\n`, `\r`, `\t`, `\b`, `\f` escaped,
    /// other control characters as `\u00XX`, and with `ensure_ascii` everything past ASCII
    /// as `\uXXXX` (UTF-16 surrogate pairs above the BMP).
    fn string(&self, out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c if self.ensure_ascii && (c as u32) > 0x7e => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        let _ = write!(out, "\\u{u:04x}");
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

/// Seconds since 1970 by the system clock (UTC: transformers uses the local time; a library
/// has no time zone of its own).
fn clock_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// C's `strftime` in the C locale for a time without a zone (what Python's
/// `datetime.now().strftime` gives for a naive time): `%a %A %b %B %c %d %D %e %F %H %I %j %m
/// %M %p %S %T %u %w %y %Y %%`, `%z` and `%Z` empty; anything else kept as written.
pub fn strftime(fmt: &str, unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    let wd = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday (Monday = 0)
    let is_leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let before: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = before[m as usize - 1] + d + u32::from(is_leap && m > 2);
    let month = MONTHS[m as usize - 1];
    let weekday = WEEKDAYS[wd];
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        let _ = match spec {
            'a' => write!(out, "{}", &weekday[..3]),
            'A' => write!(out, "{weekday}"),
            'b' | 'h' => write!(out, "{}", &month[..3]),
            'B' => write!(out, "{month}"),
            'c' => write!(
                out,
                "{} {} {d:2} {hh:02}:{mm:02}:{ss:02} {y}",
                &weekday[..3],
                &month[..3]
            ),
            'd' => write!(out, "{d:02}"),
            'D' => write!(out, "{m:02}/{d:02}/{:02}", y.rem_euclid(100)),
            'e' => write!(out, "{d:2}"),
            'F' => write!(out, "{y}-{m:02}-{d:02}"),
            'H' => write!(out, "{hh:02}"),
            'I' => write!(out, "{:02}", if hh % 12 == 0 { 12 } else { hh % 12 }),
            'j' => write!(out, "{yday:03}"),
            'm' => write!(out, "{m:02}"),
            'M' => write!(out, "{mm:02}"),
            'p' => write!(out, "{}", if hh < 12 { "AM" } else { "PM" }),
            'S' => write!(out, "{ss:02}"),
            'T' => write!(out, "{hh:02}:{mm:02}:{ss:02}"),
            'u' => write!(out, "{}", wd + 1),
            'w' => write!(out, "{}", (wd + 1) % 7),
            'y' => write!(out, "{:02}", y.rem_euclid(100)),
            'Y' => write!(out, "{y}"),
            'z' | 'Z' => Ok(()),
            '%' => write!(out, "%"),
            other => write!(out, "%{other}"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(source: &str) -> ChatTemplate {
        ChatTemplate::new(source, "<s>", "</s>").unwrap()
    }

    #[test]
    fn renders_the_huggingface_context() {
        let tmpl = t("{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}");
        let msgs = [
            Message::new("system", "Be brief."),
            Message::new("user", "Hi"),
        ];
        assert_eq!(
            tmpl.render(&msgs, true).unwrap(),
            "<s>[system] Be brief.\n[user] Hi\n[assistant]</s>"
        );
        assert_eq!(
            tmpl.render(&msgs, false).unwrap(),
            "<s>[system] Be brief.\n[user] Hi\n</s>"
        );
    }

    #[test]
    fn trims_blocks_and_prints_values_as_python() {
        let tmpl = t("  {% if true %}\nx{{ none }} {{ true }} {{ [1, 'a', none, 2.5] }} {{ {'k': false} }}\n  {% endif %}\n");
        assert_eq!(
            tmpl.render(&[], false).unwrap(),
            "xNone True [1, 'a', None, 2.5] {'k': False}\n"
        );
        let none = [TemplateMessage {
            role: "assistant",
            content: None,
        }];
        let tmpl = t("{{ messages[0].content }}|{{ messages[0].content is none }}");
        assert_eq!(
            tmpl.render_with(&none, false, TemplateExtra::default())
                .unwrap(),
            "None|True"
        );
    }

    #[test]
    fn python_methods_and_loop_controls() {
        let tmpl = t("{% for w in '  a b c '.strip().split(' ') %}{% if w == 'b' %}{% continue %}{% endif %}{{ w.upper() }}{% endfor %}{{ 'xy'.startswith('x') }}{% for k, v in {'p': 1}.items() %}{{ k }}={{ v }}{% endfor %}");
        assert_eq!(tmpl.render(&[], false).unwrap(), "ACTruep=1");
    }

    #[test]
    fn tojson_as_transformers() {
        let tools = serde_json::json!([{"name": "f", "ü": [1, 2.5, null, true, "<&>"], "e": {}}]);
        let extra = TemplateExtra {
            tools: Some(&tools),
            documents: None,
        };
        let tmpl = t("{{ tools | tojson }}|{{ tools[0]['ü'] | tojson(indent=2) }}|{{ tools | tojson(separators=(',', ':'), sort_keys=true) }}|{{ 'é' | tojson(true) }}");
        assert_eq!(
            tmpl.render_with(&[], false, extra).unwrap(),
            "[{\"name\": \"f\", \"ü\": [1, 2.5, null, true, \"<&>\"], \"e\": {}}]|[\n  1,\n  2.5,\n  null,\n  true,\n  \"<&>\"\n]|[{\"e\":{},\"name\":\"f\",\"ü\":[1,2.5,null,true,\"<&>\"]}]|\"\\u00e9\""
        );
    }

    #[test]
    fn floats_print_as_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (2.5, "2.5"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.0, "123456789012345.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.1, "-0.1"),
            (0.0, "0.0"),
            (1.0 / 3.0, "0.3333333333333333"),
        ];
        for (f, want) in cases {
            let mut s = String::new();
            py_float(&mut s, f);
            assert_eq!(s, want, "{f}");
        }
    }

    #[test]
    fn errors_name_the_thing_and_the_line() {
        // minijinja looks filters up when the template runs.
        let e = t("a\n{{ x | no_such_filter }}")
            .render(&[], false)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "chat template: line 2: unknown filter: filter no_such_filter is unknown"
        );
        let e = ChatTemplate::new("{% for %}", "", "").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("chat template: line 1: syntax error"),
            "{e}"
        );
        let e = t("\n\n{{ raise_exception('Only user and assistant roles are supported!') }}")
            .render(&[], false)
            .unwrap_err();
        assert_eq!(
            e,
            Error::Template {
                reason: "line 3: raise_exception: Only user and assistant roles are supported!"
                    .to_string()
            }
        );
        let e = t("{{ 'a'.no_such_method() }}")
            .render(&[], false)
            .unwrap_err();
        assert!(e.to_string().contains("no_such_method"), "{e}");
        let e = t("{{ no_such_function() }}")
            .render(&[], false)
            .unwrap_err();
        assert!(e.to_string().contains("no_such_function"), "{e}");
    }

    #[test]
    fn hostile_templates_end_with_an_error() {
        let e =
            t("{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}")
                .render(&[], false)
                .unwrap_err();
        assert!(e.to_string().contains("fuel"), "{e}");
        let e = t("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
            .render(&[], false)
            .unwrap_err();
        assert!(e.to_string().contains("recursion"), "{e}");
    }

    #[test]
    fn the_files_default_and_named_templates() {
        use crate::gguf::writer::MetaValue;
        use crate::gguf::{GgufFile, ValueType, Writer};
        let tokens = ["<unk>", "<s>", "</s>"]
            .iter()
            .map(|t| MetaValue::String((*t).into()))
            .collect();
        let bytes = Writer::new()
            .meta("general.architecture", MetaValue::String("llama".into()))
            .meta(
                "tokenizer.ggml.tokens",
                MetaValue::Array(ValueType::String, tokens),
            )
            .meta("tokenizer.ggml.bos_token_id", MetaValue::U32(1))
            .meta("tokenizer.ggml.eos_token_id", MetaValue::U32(2))
            .meta(
                TEMPLATE_KEY,
                MetaValue::String("{{ bos_token }}default:{{ messages[0].content }}".into()),
            )
            .meta(
                "tokenizer.chat_template.tool_use",
                MetaValue::String("tools={{ tools | tojson }};{{ eos_token }}".into()),
            )
            .meta(
                "tokenizer.chat_template.rag",
                MetaValue::String("{{ documents[0].title }}".into()),
            )
            .to_bytes()
            .unwrap();
        let file = GgufFile::from_bytes(&bytes).unwrap();
        let h = file.header();
        assert_eq!(ChatTemplate::names(h), ["tool_use", "rag"]);
        let msgs = [Message::new("user", "hi")];
        let d = ChatTemplate::from_gguf(h).unwrap().unwrap();
        assert_eq!(d.render(&msgs, true).unwrap(), "<s>default:hi");
        let tools = serde_json::json!([{"type": "function", "function": {"name": "f"}}]);
        let docs = serde_json::json!([{"title": "Paris", "text": "..."}]);
        let extra = TemplateExtra {
            tools: Some(&tools),
            documents: Some(&docs),
        };
        let tm: Vec<TemplateMessage> = msgs.iter().map(|&m| m.into()).collect();
        let t = ChatTemplate::named(h, "tool_use").unwrap().unwrap();
        assert_eq!(
            t.render_with(&tm, true, extra).unwrap(),
            r#"tools=[{"type": "function", "function": {"name": "f"}}];</s>"#
        );
        let r = ChatTemplate::named(h, "rag").unwrap().unwrap();
        assert_eq!(r.render_with(&tm, true, extra).unwrap(), "Paris");
        assert!(ChatTemplate::named(h, "none_such").unwrap().is_none());
    }

    #[test]
    fn generation_tags_render_their_body_and_odd_tags_stay() {
        assert_eq!(
            rewrite_generation_tags("a {%- generation +%}b{%endgeneration-%} c"),
            "a {%- if true +%}b{% endif -%} c"
        );
        // A fuzzer's finding: `{%}` (the `%` is the opener's), unclosed tags, multi-byte text.
        for s in ["{%}", "x{%", "{%-}", "é{%}é%}", "{% generation", "{%%}"] {
            assert_eq!(rewrite_generation_tags(s), s);
        }
        assert!(ChatTemplate::new("{%}", "", "").is_err());
    }

    #[test]
    fn strftime_at_a_fixed_time() {
        // 2026-07-26 14:05:09 UTC, a Sunday.
        let now = 1_785_074_709;
        assert_eq!(
            strftime("%d %b %Y|%A %B %e|%H:%M:%S %p %I|%j %y %m|%F %T|%%|%Q", now),
            "26 Jul 2026|Sunday July 26|14:05:09 PM 02|207 26 07|2026-07-26 14:05:09|%|%Q"
        );
        assert_eq!(strftime("%Y-%m-%d %a", 0), "1970-01-01 Thu");
        assert_eq!(strftime("%Y-%m-%d %j", 951_782_400), "2000-02-29 060");
        let tmpl = t("{{ strftime_now('%d %B %Y') }}").with_now(now);
        assert_eq!(tmpl.render(&[], false).unwrap(), "26 July 2026");
    }
}
