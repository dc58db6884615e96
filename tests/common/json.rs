//! A minimal, dependency-free JSON reader for test code (RFC 8259).
//!
//! - Parses from bytes without per-character allocation: a string without escapes is one slice
//!   copy; a 3 MB golden file parses in a few tens of milliseconds in the dev profile.
//! - Strings: every escape (`\" \\ \/ \b \f \n \r \t \uXXXX`), UTF-16 surrogate pairs written as
//!   two `\uXXXX` escapes (Python's `json.dump(..., ensure_ascii=True)`), and raw UTF-8
//!   (`ensure_ascii=False`). A lone surrogate is an error (a Rust `String` cannot hold it).
//! - Numbers: the token is checked against the JSON grammar, then its exact text goes to
//!   `str::parse::<f64>`, which rounds correctly, so Python's `repr` of a float round-trips
//!   bit for bit. `NaN`, `Infinity` and `-Infinity` are rejected (no fixture has them).
//! - Errors are `"byte N: message"`, N the offset into the input where the problem is.
//! - Objects keep their members in file order; `get` returns the last member of that name, as
//!   Python's `json.load` would.

use std::fmt;

/// A parsed JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Nesting deeper than this is an error rather than a stack overflow.
const MAX_DEPTH: usize = 512;

/// Parses one JSON text (surrounding whitespace allowed, nothing else after the value).
pub fn parse(text: &str) -> Result<Json, String> {
    let mut p = Parser {
        s: text,
        b: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    let v = p.value()?;
    p.skip_ws();
    if p.pos != p.b.len() {
        return Err(p.err("trailing characters after the JSON value"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, msg: &str) -> String {
        self.err_at(self.pos, msg)
    }

    fn err_at(&self, pos: usize, msg: &str) -> String {
        match self.b.get(pos) {
            Some(&c) if c.is_ascii_graphic() || c == b' ' => {
                format!("byte {pos}: {msg} (found {:?})", c as char)
            }
            Some(&c) => format!("byte {pos}: {msg} (found byte 0x{c:02x})"),
            None => format!("byte {pos}: {msg} (found end of input)"),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_lit(&mut self, lit: &str, v: Json) -> Result<Json, String> {
        if self.b[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(v)
        } else {
            Err(self.err(&format!("invalid literal (expected `{lit}`)")))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b't') => self.expect_lit("true", Json::Bool(true)),
            Some(b'f') => self.expect_lit("false", Json::Bool(false)),
            Some(b'n') => self.expect_lit("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("expected a JSON value")),
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(&format!("nesting deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn array(&mut self) -> Result<Json, String> {
        self.enter()?;
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    let comma = self.pos;
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        return Err(self.err_at(comma, "trailing comma in array"));
                    }
                }
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.err("expected `,` or `]` in array")),
            }
        }
    }

    fn object(&mut self) -> Result<Json, String> {
        self.enter()?;
        self.pos += 1; // '{'
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key in object"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected `:` after object key"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value()?;
            members.push((key, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    let comma = self.pos;
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b'}') {
                        return Err(self.err_at(comma, "trailing comma in object"));
                    }
                }
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.err("expected `,` or `}` in object")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let start = self.pos;
        let mut v = 0u32;
        for i in 0..4 {
            let d = match self.b.get(start + i) {
                Some(&c @ b'0'..=b'9') => c - b'0',
                Some(&c @ b'a'..=b'f') => c - b'a' + 10,
                Some(&c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err_at(start + i, "bad \\u escape: expected 4 hex digits")),
            };
            v = v * 16 + d as u32;
        }
        self.pos += 4;
        Ok(v)
    }

    /// At the opening quote; returns the decoded string, leaves `pos` after the closing quote.
    fn string(&mut self) -> Result<String, String> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            // Fast path: copy the run of plain bytes up to the next quote, backslash or control.
            let run = self.pos;
            while let Some(&c) = self.b.get(self.pos) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // Both ends sit on ASCII bytes (or the end), so the slice is valid UTF-8.
            out.push_str(&self.s[run..self.pos]);
            match self.peek() {
                None => return Err(self.err_at(open, "unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let esc = self.pos;
                    self.pos += 1;
                    let c = match self.peek() {
                        None => return Err(self.err_at(open, "unterminated string")),
                        Some(c) => c,
                    };
                    self.pos += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                // High surrogate: a low one must follow as another \u escape.
                                if self.b[self.pos..].starts_with(b"\\u") {
                                    self.pos += 2;
                                    let lo_at = self.pos - 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return Err(self.err_at(
                                            lo_at,
                                            "high surrogate not followed by a low surrogate",
                                        ));
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    return Err(self.err_at(esc, "lone high surrogate"));
                                }
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(self.err_at(esc, "lone low surrogate"));
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).expect("valid scalar value"));
                        }
                        _ => return Err(self.err_at(esc, "bad escape in string")),
                    }
                }
                Some(_) => return Err(self.err("unescaped control character in string")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.err("leading zero in number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("expected a digit in number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("expected a digit after `.` in number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("expected a digit in exponent"));
            }
        }
        let tok = &self.s[start..self.pos];
        tok.parse::<f64>()
            .map(Json::Number)
            .map_err(|e| self.err_at(start, &format!("bad number {tok:?}: {e}")))
    }
}

/// Largest magnitude below which every integer is exactly an f64 (2^53).
const EXACT_INT: f64 = 9007199254740992.0;

impl Json {
    /// The member `key` of an object (the last one of that name); `None` for other values.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Element `i` of an array; `None` when out of range or not an array.
    pub fn at(&self, i: usize) -> Option<&Json> {
        match self {
            Json::Array(a) => a.get(i),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Json::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The number as an `f32` (`as f32` of the parsed f64; exact for Python reprs of f32 values).
    pub fn as_f32(&self) -> Option<f32> {
        self.as_f64().map(|n| n as f32)
    }

    /// The number as an i64 when it is an integer that the f64 holds exactly (|n| < 2^53).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Json::Number(n) if n.fract() == 0.0 && n.abs() < EXACT_INT => Some(n as i64),
            _ => None,
        }
    }

    /// `as_i64` restricted to `0..=u32::MAX`.
    pub fn as_u32(&self) -> Option<u32> {
        self.as_i64().and_then(|n| u32::try_from(n).ok())
    }

    /// `as_i64` restricted to non-negative values that fit a `usize`.
    pub fn as_usize(&self) -> Option<usize> {
        self.as_i64().and_then(|n| usize::try_from(n).ok())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Json::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// Elements of an array / members of an object; 0 for anything else.
    pub fn len(&self) -> usize {
        match self {
            Json::Array(a) => a.len(),
            Json::Object(m) => m.len(),
            _ => 0,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "bool",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    fn array_or_panic(&self, what: &str) -> &[Json] {
        self.as_array()
            .unwrap_or_else(|| panic!("{what}: expected an array, found {}", self.kind()))
    }

    /// An array of numbers as f32 (each parsed f64 converted with `as f32`). Panics otherwise.
    pub fn f32_vec(&self) -> Vec<f32> {
        self.array_or_panic("f32_vec")
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_f32().unwrap_or_else(|| {
                    panic!("f32_vec: element {i} is a {}, not a number", v.kind())
                })
            })
            .collect()
    }

    /// An array of numbers as f64. Panics otherwise.
    pub fn f64_vec(&self) -> Vec<f64> {
        self.array_or_panic("f64_vec")
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_f64().unwrap_or_else(|| {
                    panic!("f64_vec: element {i} is a {}, not a number", v.kind())
                })
            })
            .collect()
    }

    /// An array of exact integers. Panics otherwise.
    pub fn i64_vec(&self) -> Vec<i64> {
        self.array_or_panic("i64_vec")
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_i64()
                    .unwrap_or_else(|| panic!("i64_vec: element {i} ({v}) is not an exact integer"))
            })
            .collect()
    }

    /// An array of integers in `0..=u32::MAX` (token ids). Panics otherwise.
    pub fn u32_vec(&self) -> Vec<u32> {
        self.array_or_panic("u32_vec")
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_u32()
                    .unwrap_or_else(|| panic!("u32_vec: element {i} ({v}) is not a u32"))
            })
            .collect()
    }
}

/// `json["key"]`: panics (naming the key) when the value is not an object or lacks the key.
impl std::ops::Index<&str> for Json {
    type Output = Json;
    fn index(&self, key: &str) -> &Json {
        match self {
            Json::Object(_) => self
                .get(key)
                .unwrap_or_else(|| panic!("JSON object has no member {key:?}")),
            _ => panic!("JSON [{key:?}]: expected an object, found {}", self.kind()),
        }
    }
}

/// `json[i]`: panics when the value is not an array or `i` is out of range.
impl std::ops::Index<usize> for Json {
    type Output = Json;
    fn index(&self, i: usize) -> &Json {
        match self {
            Json::Array(a) => a
                .get(i)
                .unwrap_or_else(|| panic!("JSON [{i}]: index out of range (len {})", a.len())),
            _ => panic!("JSON [{i}]: expected an array, found {}", self.kind()),
        }
    }
}

/// Compact JSON text (for messages; strings are escaped, numbers use Rust's shortest repr).
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn esc(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
            f.write_str("\"")?;
            for c in s.chars() {
                match c {
                    '"' => f.write_str("\\\"")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")
        }
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Number(n) => write!(f, "{n:?}"),
            Json::String(s) => esc(f, s),
            Json::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Json::Object(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    esc(f, k)?;
                    write!(f, ":{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}
