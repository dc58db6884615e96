//! llama.cpp's GBNF grammars: the parser (`llama_grammar_parser` in `src/llama-grammar.cpp`
//! at llama.cpp 0c1e570, with its syntax, its errors and its checks: undefined rules, a
//! missing start rule, left recursion, the repetition limits) and the translation into the
//! Lark form the engine runs.
//!
//! The translation keeps GBNF's meaning exactly: every character of a literal, every
//! character class and every `.` becomes a terminal that matches one character, so the
//! engine's lexer never has to choose between overlapping terminals and the grammar is the
//! character-level context-free grammar llama.cpp matches.

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::tokenizer::Vocab;

/// llama.cpp's `MAX_REPETITION_THRESHOLD`: larger minimum counts are refused, larger maximum
/// counts mean "no maximum".
const MAX_REPETITION: u64 = 2000;

/// The largest Unicode scalar value.
const MAX_CHAR: u32 = 0x10_FFFF;

/// One element of a sequence.
#[derive(Debug, Clone, PartialEq)]
enum Elem {
    /// One character (a literal's characters are consecutive elements).
    Char(u32),
    /// A character class: inclusive ranges, negated or not.
    Class {
        negated: bool,
        ranges: Vec<(u32, u32)>,
    },
    /// `.`: any character.
    Any,
    /// A rule by its symbol index.
    Ref(usize),
    /// A token by id (`<[id]>`, or `<text>` resolved through the vocabulary), negated or not.
    Token { id: u32, negated: bool },
    /// `( alternatives )`.
    Group(Vec<Vec<Elem>>),
    /// An element repeated `min..=max` times (`None`: no maximum).
    Repeat {
        elem: Box<Elem>,
        min: u64,
        max: Option<u64>,
    },
}

/// A parsed and checked GBNF grammar.
#[derive(Debug, Clone)]
pub(crate) struct Gbnf {
    /// Symbol names by index, in order of first appearance.
    names: Vec<String>,
    /// Each symbol's alternatives (`None` until it is defined).
    rules: Vec<Option<Vec<Vec<Elem>>>>,
    /// The start symbol.
    root: usize,
}

/// Line and column (both from 1, the column in characters) of byte `at` in `src`.
fn line_col(src: &str, at: usize) -> (usize, usize) {
    let before = &src[..at.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    vocab: Option<&'a Vocab>,
    names: Vec<String>,
    rules: Vec<Option<Vec<Vec<Elem>>>>,
    /// Where each symbol was first referenced (for "undefined rule" errors).
    first_use: Vec<usize>,
    /// Rules llama.cpp would synthesize for groups and repetitions so far (its repetition
    /// limit counts them).
    n_generated: u64,
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

impl<'a> Parser<'a> {
    fn err(&self, at: usize, what: &str) -> Error {
        let (line, col) = line_col(self.src, at);
        Error::BadGrammar {
            reason: format!("GBNF line {line}, column {col}: {what}"),
        }
    }

    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    /// `parse_space`: spaces, tabs, comments, and line breaks where `newline_ok`.
    fn space(&self, mut i: usize, newline_ok: bool) -> usize {
        loop {
            match self.at(i) {
                b' ' | b'\t' => i += 1,
                b'#' => {
                    while i < self.b.len() && !matches!(self.b[i], b'\r' | b'\n') {
                        i += 1;
                    }
                }
                b'\r' | b'\n' if newline_ok => i += 1,
                _ => return i,
            }
        }
    }

    fn name_end(&self, i: usize) -> Result<usize> {
        let mut j = i;
        while is_word(self.at(j)) {
            j += 1;
        }
        if j == i {
            return Err(self.err(i, "expecting a rule name"));
        }
        Ok(j)
    }

    /// llama.cpp's `symbol_ids.size()`.
    fn n_symbols(&self) -> u64 {
        self.names.len() as u64 + self.n_generated
    }

    fn symbol(&mut self, name: &str, at: usize) -> usize {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return i;
        }
        self.names.push(name.to_string());
        self.rules.push(None);
        self.first_use.push(at);
        self.names.len() - 1
    }

    fn int_end(&self, i: usize) -> Result<usize> {
        let mut j = i;
        while self.at(j).is_ascii_digit() {
            j += 1;
        }
        if j == i {
            return Err(self.err(i, "expecting an integer"));
        }
        Ok(j)
    }

    fn int(&self, i: usize, j: usize) -> u64 {
        // Digits only; saturate like a count no grammar can use anyway.
        self.src[i..j].parse::<u64>().unwrap_or(u64::MAX)
    }

    fn hex(&self, i: usize, n: usize) -> Result<(u32, usize)> {
        let mut v: u32 = 0;
        for k in 0..n {
            let c = self.at(i + k);
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(self.err(i, &format!("expecting {n} hex digits"))),
            };
            v = v.wrapping_shl(4) | d as u32;
        }
        Ok((v, i + n))
    }

    /// `parse_char`: one character or escape.
    fn char(&self, i: usize) -> Result<(u32, usize)> {
        if i >= self.b.len() {
            return Err(self.err(i, "unexpected end of input"));
        }
        if self.at(i) == b'\\' {
            return match self.at(i + 1) {
                b'x' => self.hex(i + 2, 2),
                b'u' => self.hex(i + 2, 4),
                b'U' => self.hex(i + 2, 8),
                b't' => Ok(('\t' as u32, i + 2)),
                b'r' => Ok(('\r' as u32, i + 2)),
                b'n' => Ok(('\n' as u32, i + 2)),
                c @ (b'\\' | b'"' | b'[' | b']' | b'-') => Ok((c as u32, i + 2)),
                _ => Err(self.err(i, "unknown escape")),
            };
        }
        let c = self.src[i..].chars().next().expect("i is below the length");
        Ok((c as u32, i + c.len_utf8()))
    }

    /// `parse_token`: `<[id]>` or `<text>` (one token of the vocabulary).
    fn token(&self, i: usize) -> Result<(u32, usize)> {
        if self.at(i) != b'<' {
            return Err(self.err(i, "expecting '<'"));
        }
        let mut j = i + 1;
        if self.at(j) == b'[' {
            j += 1;
            let end = self.int_end(j)?;
            let id = self.int(j, end);
            let id = u32::try_from(id).map_err(|_| self.err(j, "token id is too big"))?;
            if let Some(v) = self.vocab {
                if id as usize >= v.n_tokens() {
                    return Err(self.err(
                        j,
                        &format!("token {id} is outside the vocabulary of {}", v.n_tokens()),
                    ));
                }
            }
            if self.at(end) != b']' {
                return Err(self.err(end, "expecting ']'"));
            }
            if self.at(end + 1) != b'>' {
                return Err(self.err(end + 1, "expecting '>'"));
            }
            return Ok((id, end + 2));
        }
        let Some(vocab) = self.vocab else {
            return Err(self.err(i, "a token by text needs the model's vocabulary"));
        };
        while j < self.b.len() && self.at(j) != b'>' {
            j += 1;
        }
        if self.at(j) != b'>' {
            return Err(self.err(j, "expecting '>'"));
        }
        let text = &self.src[i..j + 1];
        match vocab.tokenize(text, false, true) {
            Ok(ids) if ids.len() == 1 => Ok((ids[0], j + 1)),
            _ => Err(self.err(i, &format!("invalid token '{text}': not one token"))),
        }
    }

    fn alternates(&mut self, mut i: usize, nested: bool) -> Result<(Vec<Vec<Elem>>, usize)> {
        let mut alts = Vec::new();
        let (seq, j) = self.sequence(i, nested)?;
        alts.push(seq);
        i = j;
        while self.at(i) == b'|' && i < self.b.len() {
            i = self.space(i + 1, true);
            let (seq, j) = self.sequence(i, nested)?;
            alts.push(seq);
            i = j;
        }
        Ok((alts, i))
    }

    /// `parse_sequence`.
    fn sequence(&mut self, mut i: usize, nested: bool) -> Result<(Vec<Elem>, usize)> {
        let mut seq: Vec<Elem> = Vec::new();
        // Where the last item starts (a literal is several elements), as `last_sym_start`.
        let mut last: Option<usize> = None;
        // llama.cpp's `n_prev_rules`: the rules the last item stands for.
        let mut n_prev: u64 = 1;
        while i < self.b.len() {
            let c = self.at(i);
            match c {
                b'"' => {
                    i += 1;
                    let start = seq.len();
                    while self.at(i) != b'"' || i >= self.b.len() {
                        if i >= self.b.len() {
                            return Err(self.err(i, "unexpected end of input in a literal"));
                        }
                        let (ch, j) = self.char(i)?;
                        seq.push(Elem::Char(ch));
                        i = j;
                    }
                    last = Some(start);
                    n_prev = 1;
                    i = self.space(i + 1, nested);
                }
                b'[' => {
                    i += 1;
                    let mut negated = false;
                    if self.at(i) == b'^' {
                        negated = true;
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    while self.at(i) != b']' || i >= self.b.len() {
                        if i >= self.b.len() {
                            return Err(self.err(i, "unexpected end of input in a character class"));
                        }
                        let (lo, j) = self.char(i)?;
                        i = j;
                        let mut hi = lo;
                        if self.at(i) == b'-' && self.at(i + 1) != b']' {
                            if i + 1 >= self.b.len() {
                                return Err(
                                    self.err(i + 1, "unexpected end of input in a character class")
                                );
                            }
                            let (h, j) = self.char(i + 1)?;
                            hi = h;
                            i = j;
                        }
                        ranges.push((lo, hi));
                    }
                    last = Some(seq.len());
                    n_prev = 1;
                    seq.push(Elem::Class { negated, ranges });
                    i = self.space(i + 1, nested);
                }
                b'<' | b'!' => {
                    let negated = c == b'!';
                    let (id, j) = self.token(if negated { i + 1 } else { i })?;
                    last = Some(seq.len());
                    n_prev = 1;
                    seq.push(Elem::Token { id, negated });
                    i = self.space(j, nested);
                }
                c if is_word(c) => {
                    let end = self.name_end(i)?;
                    let name = self.src[i..end].to_string();
                    let id = self.symbol(&name, i);
                    last = Some(seq.len());
                    n_prev = 1;
                    seq.push(Elem::Ref(id));
                    i = self.space(end, nested);
                }
                b'(' => {
                    let open = i;
                    i = self.space(i + 1, true);
                    let before = self.n_symbols();
                    self.n_generated += 1;
                    let (alts, j) = self.alternates(i, true)?;
                    n_prev = (self.n_symbols() - before).max(1);
                    if self.at(j) != b')' || j >= self.b.len() {
                        return Err(self.err(
                            j,
                            &format!("expecting ')' (for the '(' at {})", {
                                let (l, c) = line_col(self.src, open);
                                format!("line {l}, column {c}")
                            }),
                        ));
                    }
                    last = Some(seq.len());
                    seq.push(Elem::Group(alts));
                    i = self.space(j + 1, nested);
                }
                b'.' => {
                    last = Some(seq.len());
                    n_prev = 1;
                    seq.push(Elem::Any);
                    i = self.space(i + 1, nested);
                }
                b'*' | b'+' | b'?' | b'{' => {
                    let op_at = i;
                    let (min, max) = match c {
                        b'*' => {
                            i = self.space(i + 1, nested);
                            (0, None)
                        }
                        b'+' => {
                            i = self.space(i + 1, nested);
                            (1, None)
                        }
                        b'?' => {
                            i = self.space(i + 1, nested);
                            (0, Some(1))
                        }
                        _ => {
                            i = self.space(i + 1, nested);
                            if !self.at(i).is_ascii_digit() {
                                return Err(self.err(i, "expecting an integer after '{'"));
                            }
                            let end = self.int_end(i)?;
                            let min = self.int(i, end);
                            i = self.space(end, nested);
                            let max = match self.at(i) {
                                b'}' => {
                                    i = self.space(i + 1, nested);
                                    Some(min)
                                }
                                b',' => {
                                    i = self.space(i + 1, nested);
                                    let mut max = None;
                                    if self.at(i).is_ascii_digit() {
                                        let end = self.int_end(i)?;
                                        max = Some(self.int(i, end));
                                        i = self.space(end, nested);
                                    }
                                    if self.at(i) != b'}' {
                                        return Err(self.err(i, "expecting '}'"));
                                    }
                                    i = self.space(i + 1, nested);
                                    max
                                }
                                _ => return Err(self.err(i, "expecting ',' or '}'")),
                            };
                            if min > MAX_REPETITION {
                                return Err(self.err(
                                    op_at,
                                    &format!("a repetition of at least {min} exceeds the limit of {MAX_REPETITION}"),
                                ));
                            }
                            let max = max.filter(|&m| m <= MAX_REPETITION);
                            (min, max)
                        }
                    };
                    let Some(start) = last else {
                        return Err(
                            self.err(op_at, "expecting an item before the repetition operator")
                        );
                    };
                    if max.is_some_and(|m| m < min) {
                        return Err(
                            self.err(op_at, "the repetition's maximum is below its minimum")
                        );
                    }
                    // llama.cpp's limit on the rules a repetition expands into.
                    let total = match max {
                        Some(m) if m > 0 => m,
                        _ => min.max(1),
                    };
                    if n_prev.saturating_mul(total) > MAX_REPETITION {
                        return Err(self.err(
                            op_at,
                            &format!("the repetition expands into more than {MAX_REPETITION} rules (llama.cpp's limit): reduce the counts or the repeated item"),
                        ));
                    }
                    self.n_generated += max.map_or(1, |m| m - min);
                    n_prev *= total;
                    let items: Vec<Elem> = seq.drain(start..).collect();
                    let elem = if items.len() == 1 {
                        items.into_iter().next().expect("one item")
                    } else {
                        Elem::Group(vec![items])
                    };
                    seq.push(Elem::Repeat {
                        elem: Box::new(elem),
                        min,
                        max,
                    });
                    last = Some(start);
                }
                _ => break,
            }
        }
        Ok((seq, i))
    }

    fn rule(&mut self, i: usize) -> Result<usize> {
        let end = self.name_end(i)?;
        let name = self.src[i..end].to_string();
        let j = self.space(end, false);
        if !self.src[j..].starts_with("::=") {
            return Err(self.err(j, &format!("expecting '::=' after the rule name '{name}'")));
        }
        let id = self.symbol(&name, i);
        let j = self.space(j + 3, true);
        let (alts, mut j) = self.alternates(j, false)?;
        // A later definition replaces an earlier one, as in llama.cpp.
        self.rules[id] = Some(alts);
        match self.at(j) {
            b'\r' => j += if self.at(j + 1) == b'\n' { 2 } else { 1 },
            b'\n' => j += 1,
            _ if j >= self.b.len() => {}
            _ => return Err(self.err(j, "expecting a line break or the end after the rule")),
        }
        Ok(self.space(j, true))
    }
}

impl Gbnf {
    /// Parses `src` with `root` as the start rule; `vocab` resolves tokens given by text.
    pub(crate) fn parse(src: &str, root: &str, vocab: Option<&Vocab>) -> Result<Gbnf> {
        if src.as_bytes().contains(&0) {
            let at = src.as_bytes().iter().position(|&b| b == 0).unwrap_or(0);
            let (line, col) = line_col(src, at);
            return Err(Error::BadGrammar {
                reason: format!("GBNF line {line}, column {col}: a NUL character"),
            });
        }
        let mut p = Parser {
            src,
            b: src.as_bytes(),
            vocab,
            names: Vec::new(),
            rules: Vec::new(),
            first_use: Vec::new(),
            n_generated: 0,
        };
        let mut i = p.space(0, true);
        while i < p.b.len() {
            i = p.rule(i)?;
        }
        for (k, r) in p.rules.iter().enumerate() {
            if r.is_none() {
                return Err(p.err(p.first_use[k], &format!("undefined rule '{}'", p.names[k])));
            }
        }
        let Some(root) = p.names.iter().position(|n| n == root) else {
            return Err(Error::BadGrammar {
                reason: format!("GBNF: the grammar has no '{root}' rule to start from"),
            });
        };
        let g = Gbnf {
            names: p.names,
            rules: p.rules,
            root,
        };
        if let Some(k) = g.left_recursive() {
            return Err(Error::BadGrammar {
                reason: format!(
                    "GBNF: rule '{}' is left-recursive (it can start with itself), which llama.cpp's grammars do not support",
                    g.names[k]
                ),
            });
        }
        Ok(g)
    }

    fn alts(&self, k: usize) -> &[Vec<Elem>] {
        self.rules[k].as_deref().unwrap_or(&[])
    }

    /// Which rules can match the empty string (a fixed point over all rules).
    fn nullable(&self) -> Vec<bool> {
        let mut n = vec![false; self.rules.len()];
        loop {
            let mut changed = false;
            for k in 0..self.rules.len() {
                if !n[k] && self.alts(k).iter().any(|s| seq_nullable(s, &n)) {
                    n[k] = true;
                    changed = true;
                }
            }
            if !changed {
                return n;
            }
        }
    }

    /// A rule that can reach itself at its own start, as llama.cpp's
    /// `detect_left_recursion` finds (through references at the start of an alternative,
    /// past elements that can match nothing).
    fn left_recursive(&self) -> Option<usize> {
        let nullable = self.nullable();
        // Edges: rule -> rules it can start with.
        let starts: Vec<Vec<usize>> = (0..self.rules.len())
            .map(|k| {
                let mut out = Vec::new();
                for s in self.alts(k) {
                    seq_starts(s, &nullable, &mut out);
                }
                out
            })
            .collect();
        // Colour-marking depth-first search, iterative (grammars may be deep).
        let mut state = vec![0u8; self.rules.len()]; // 0 new, 1 on stack, 2 done
        for s in 0..self.rules.len() {
            if state[s] != 0 {
                continue;
            }
            let mut stack = vec![(s, 0usize)];
            state[s] = 1;
            while let Some(&mut (k, ref mut e)) = stack.last_mut() {
                if let Some(&next) = starts[k].get(*e) {
                    *e += 1;
                    match state[next] {
                        0 => {
                            state[next] = 1;
                            stack.push((next, 0));
                        }
                        1 => return Some(next),
                        _ => {}
                    }
                } else {
                    state[k] = 2;
                    stack.pop();
                }
            }
        }
        None
    }

    /// The grammar in Lark form for the engine: `start: r<root>`, each rule `r<index>`, and
    /// every character-level item a one-character terminal.
    ///
    /// With `token_as` set, every token element names that token id instead (to compile
    /// against the byte-level vocabulary, where the grammar's ids do not exist).
    pub(crate) fn to_lark(&self, token_as: Option<u32>) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "start: r{}", self.root);
        for k in 0..self.rules.len() {
            let _ = write!(out, "r{k}: ");
            write_alts(&mut out, self.alts(k), token_as);
            out.push('\n');
        }
        out
    }
}

fn elem_nullable(e: &Elem, n: &[bool]) -> bool {
    match e {
        Elem::Char(_) | Elem::Class { .. } | Elem::Any | Elem::Token { .. } => false,
        Elem::Ref(k) => n[*k],
        Elem::Group(alts) => alts.iter().any(|s| seq_nullable(s, n)),
        Elem::Repeat { elem, min, max } => *min == 0 || *max == Some(0) || elem_nullable(elem, n),
    }
}

fn seq_nullable(s: &[Elem], n: &[bool]) -> bool {
    s.iter().all(|e| elem_nullable(e, n))
}

/// The rules a sequence can start with.
fn seq_starts(s: &[Elem], n: &[bool], out: &mut Vec<usize>) {
    for e in s {
        elem_starts(e, n, out);
        if !elem_nullable(e, n) {
            break;
        }
    }
}

fn elem_starts(e: &Elem, n: &[bool], out: &mut Vec<usize>) {
    match e {
        Elem::Ref(k) => out.push(*k),
        Elem::Group(alts) => alts.iter().for_each(|s| seq_starts(s, n, out)),
        Elem::Repeat { elem, max, .. } if *max != Some(0) => elem_starts(elem, n, out),
        _ => {}
    }
}

fn write_alts(out: &mut String, alts: &[Vec<Elem>], t: Option<u32>) {
    for (i, s) in alts.iter().enumerate() {
        if i > 0 {
            out.push_str(" | ");
        }
        write_seq(out, s, t);
    }
}

fn write_seq(out: &mut String, s: &[Elem], t: Option<u32>) {
    if s.is_empty() {
        out.push_str("\"\"");
        return;
    }
    for (i, e) in s.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_elem(out, e, t);
    }
}

/// A character as a regular-expression escape (`\x{..}`); a value that is no Unicode scalar
/// (a surrogate, above U+10FFFF) is `None`: no text contains it.
fn scalar(c: u32) -> Option<char> {
    char::from_u32(c)
}

/// An inclusive range of characters as regex class items, without surrogates and clamped to
/// Unicode.
fn write_range(out: &mut String, lo: u32, hi: u32) -> bool {
    let hi = hi.min(MAX_CHAR);
    if lo > hi {
        return false;
    }
    let mut any = false;
    for (a, b) in [(lo, hi.min(0xD7FF)), (lo.max(0xE000), hi)] {
        if a <= b {
            let _ = write!(out, "\\x{{{a:X}}}-\\x{{{b:X}}}");
            any = true;
        }
    }
    any
}

/// The characters (0..=U+10FFFF) outside `ranges`, as sorted inclusive ranges.
fn complement(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut r: Vec<(u32, u32)> = ranges
        .iter()
        .filter(|(lo, hi)| lo <= hi && *lo <= MAX_CHAR)
        .map(|&(lo, hi)| (lo, hi.min(MAX_CHAR)))
        .collect();
    r.sort_unstable();
    let mut out = Vec::new();
    let mut next = 0u32; // the first character not yet covered
    for (lo, hi) in r {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = next.max(hi.saturating_add(1));
    }
    if next <= MAX_CHAR {
        out.push((next, MAX_CHAR));
    }
    out
}

/// A terminal that matches nothing (a character no text can hold).
const NOTHING: &str = "/[^\\x{0}-\\x{10FFFF}]/";

fn write_elem(out: &mut String, e: &Elem, t: Option<u32>) {
    match e {
        Elem::Char(c) => match scalar(*c) {
            Some(ch) => {
                let _ = write!(out, "/\\x{{{:X}}}/", ch as u32);
            }
            None => out.push_str(NOTHING),
        },
        Elem::Class { negated, ranges } => {
            // A negated class is complemented here, over all characters, and written as a
            // positive class: the surrogate gap split into the items must not come back as
            // characters of the complement.
            let wanted = if *negated {
                complement(ranges)
            } else {
                ranges.clone()
            };
            let mut items = String::new();
            for &(lo, hi) in &wanted {
                write_range(&mut items, lo, hi);
            }
            if items.is_empty() {
                out.push_str(NOTHING);
            } else {
                let _ = write!(out, "/[{items}]/");
            }
        }
        Elem::Any => out.push_str("/(?s:.)/"),
        Elem::Ref(k) => {
            let _ = write!(out, "r{k}");
        }
        Elem::Token { id, negated } => {
            let id = t.unwrap_or(*id);
            let _ = write!(out, "<[{}{id}]>", if *negated { "^" } else { "" });
        }
        Elem::Group(alts) => {
            out.push('(');
            write_alts(out, alts, t);
            out.push(')');
        }
        Elem::Repeat { elem, min, max } => {
            if *max == Some(0) {
                out.push_str("\"\"");
                return;
            }
            out.push('(');
            write_elem(out, elem, t);
            out.push(')');
            match (min, max) {
                (0, None) => out.push('*'),
                (1, None) => out.push('+'),
                (0, Some(1)) => out.push('?'),
                (m, None) => {
                    let _ = write!(out, "{{{m},}}");
                }
                (m, Some(x)) if m == x => {
                    let _ = write!(out, "{{{m}}}");
                }
                (m, Some(x)) => {
                    let _ = write!(out, "{{{m},{x}}}");
                }
            }
        }
    }
}
