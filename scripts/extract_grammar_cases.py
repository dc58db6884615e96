#!/usr/bin/env python3
"""Turn llama.cpp's grammar tests into JSON fixtures for llamette's data-driven tests.

Usage:
    python3 scripts/extract_grammar_cases.py /path/to/llama.cpp [OUT_DIR]

/path/to/llama.cpp is a llama.cpp source tree (for instance vendor/llama.cpp inside the
llama-cpp-python 0.3.36 sdist; the sdist root itself is accepted too).  OUT_DIR defaults
to tests/fixtures/grammar/ next to this script's repository root.

Reads tests/test-grammar-integration.cpp, tests/test-grammar-parser.cpp,
tests/test-json-schema-to-grammar.cpp and grammars/*.gbnf and writes integration.json,
parser.json, json_schema.json, gbnf/ and README.md (see the README for the formats).

The C++ string literals are decoded by a small C++ lexer (raw strings with any delimiter,
ordinary literals with every escape, u8 prefixes, adjacent-literal concatenation,
comments skipped).  Anything the extractor does not recognise is an error, and the number
of cases extracted is checked against a plain regex count of the call sites in each file,
so that a change in llama.cpp cannot silently drop cases: the script exits non-zero with a
message instead.

Python 3 standard library only.
"""

import hashlib
import json
import os
import re
import shutil
import sys
import unicodedata


class ExtractError(Exception):
    pass


def fail(msg):
    raise ExtractError(msg)


# --------------------------------------------------------------------------------------
# C++ lexer
# --------------------------------------------------------------------------------------

class Tok:
    __slots__ = ("kind", "value", "pos", "line", "prefix")

    def __init__(self, kind, value, pos, line, prefix=""):
        self.kind = kind      # 'str', 'char', 'num', 'ident', 'punct'
        self.value = value    # bytes for 'str', int for 'char', text otherwise
        self.pos = pos
        self.line = line
        self.prefix = prefix  # encoding prefix of a string literal ('' or 'u8')

    def __repr__(self):
        return "Tok(%s,%r,line %d)" % (self.kind, self.value, self.line)


_HEX = "0123456789abcdefABCDEF"
_SIMPLE_ESCAPES = {
    "'": 0x27, '"': 0x22, "?": 0x3F, "\\": 0x5C,
    "a": 0x07, "b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B,
}
_PUNCTS = ("::", "->", "==", "!=", "<=", ">=", "&&", "||", "++", "--", "+=", "-=", "<<", ">>")
_ENC_PREFIX_RE = re.compile(r'(u8|u|U|L)?(R)?(["\'])')


def _utf8_of_codepoint(cp, where):
    if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        fail("%s: universal character name U+%X is not a valid code point" % (where, cp))
    return chr(cp).encode("utf-8")


class Lexer:
    def __init__(self, text, filename):
        self.s = text
        self.fn = filename
        self.i = 0
        self.n = len(text)

    def line_of(self, pos):
        return self.s.count("\n", 0, pos) + 1

    def where(self, pos):
        return "%s:%d" % (self.fn, self.line_of(pos))

    def _at_line_start(self, pos):
        j = pos - 1
        while j >= 0 and self.s[j] in " \t":
            j -= 1
        return j < 0 or self.s[j] == "\n"

    def _skip_to_eol(self):
        # to the end of the line, honouring backslash-newline continuations
        s = self.s
        while self.i < self.n and s[self.i] != "\n":
            if s[self.i] == "\\" and self.i + 1 < self.n and s[self.i + 1] == "\n":
                self.i += 2
                continue
            self.i += 1

    def _skip_if0(self, start):
        """After '#if 0': skip to the matching #endif, or to an #else/#elif at the same level."""
        depth = 0
        d = re.compile(r"^[ \t]*#[ \t]*(\w+)", re.M)
        for m in d.finditer(self.s, self.i):
            kw = m.group(1)
            if kw in ("if", "ifdef", "ifndef"):
                depth += 1
            elif kw == "endif":
                if depth == 0:
                    self.i = m.start()  # the #endif line itself is skipped as a directive
                    return
                depth -= 1
            elif kw in ("else", "elif") and depth == 0:
                self.i = m.start()
                return
        fail("%s: #if 0 without #endif" % self.where(start))

    def tokens(self):
        toks = []
        s = self.s
        while True:
            # whitespace, comments, preprocessor lines
            while self.i < self.n:
                c = s[self.i]
                if c in " \t\r\n\f\v":
                    self.i += 1
                elif s.startswith("\\\n", self.i):
                    self.i += 2
                elif s.startswith("//", self.i):
                    self._skip_to_eol()
                elif s.startswith("/*", self.i):
                    j = s.find("*/", self.i + 2)
                    if j < 0:
                        fail("%s: unterminated /* comment" % self.where(self.i))
                    self.i = j + 2
                elif c == "#" and self._at_line_start(self.i):
                    d0 = self.i
                    self._skip_to_eol()
                    if re.match(r"#\s*if\s+0\b", s[d0:self.i]):
                        self._skip_if0(d0)
                else:
                    break
            if self.i >= self.n:
                break
            start = self.i
            m = _ENC_PREFIX_RE.match(s, self.i)
            if m:
                prefix, raw, quote = m.group(1) or "", m.group(2), m.group(3)
                if raw and quote == "'":
                    m = None  # R'x' is an identifier R then a char literal; fall through
            if m:
                if prefix in ("u", "U", "L"):
                    fail("%s: %s-prefixed literals are not narrow strings; cannot decode"
                         % (self.where(start), prefix))
                self.i = m.end()
                if quote == "'":
                    val = self._char_body()
                    toks.append(Tok("char", val, start, self.line_of(start)))
                    continue
                if raw:
                    val = self._raw_body(start)
                else:
                    val = self._ordinary_body(start)
                # user-defined literal suffix
                sm = re.match(r"[A-Za-z_]\w*", s[self.i:])
                if sm:
                    if sm.group(0) != "s":
                        fail("%s: string literal with suffix %r cannot be decoded"
                             % (self.where(start), sm.group(0)))
                    self.i += 1  # "..."s is a std::string with the same bytes
                toks.append(Tok("str", val, start, self.line_of(start), prefix))
                continue
            c = s[self.i]
            if c.isalpha() or c == "_":
                m2 = re.compile(r"[A-Za-z_]\w*").match(s, self.i)
                self.i = m2.end()
                toks.append(Tok("ident", m2.group(0), start, self.line_of(start)))
                continue
            if c.isdigit() or (c == "." and self.i + 1 < self.n and s[self.i + 1].isdigit()):
                m2 = re.compile(r"\.?\d(?:[eEpP][+-]|[\w.'])*").match(s, self.i)
                self.i = m2.end()
                toks.append(Tok("num", m2.group(0), start, self.line_of(start)))
                continue
            for p in _PUNCTS:
                if s.startswith(p, self.i):
                    self.i += len(p)
                    toks.append(Tok("punct", p, start, self.line_of(start)))
                    break
            else:
                self.i += 1
                toks.append(Tok("punct", c, start, self.line_of(start)))
        return _concat_adjacent(toks, self)

    def _raw_body(self, start):
        s = self.s
        j = s.find("(", self.i)
        if j < 0:
            fail("%s: raw string without '('" % self.where(start))
        delim = s[self.i:j]
        if len(delim) > 16 or any(ch in delim for ch in " ()\\\t\v\f\n\r"):
            fail("%s: invalid raw string delimiter %r" % (self.where(start), delim))
        close = ")" + delim + '"'
        k = s.find(close, j + 1)
        if k < 0:
            fail("%s: unterminated raw string (delimiter %r)" % (self.where(start), delim))
        self.i = k + len(close)
        # contents are verbatim (line splices are reverted inside raw strings)
        return s[j + 1:k].encode("utf-8")

    def _escape(self, start, out):
        """self.i is just past the backslash; append the escape's bytes to out."""
        s = self.s
        if self.i >= self.n:
            fail("%s: backslash at end of file" % self.where(start))
        c = s[self.i]
        if c in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[c])
            self.i += 1
        elif c in "01234567":
            j = self.i
            while j < self.n and j < self.i + 3 and s[j] in "01234567":
                j += 1
            v = int(s[self.i:j], 8)
            if v > 0xFF:
                fail("%s: octal escape \\%s out of range for char" % (self.where(start), s[self.i:j]))
            out.append(v)
            self.i = j
        elif c == "o" and s.startswith("o{", self.i):
            j = s.find("}", self.i)
            digits = s[self.i + 2:j]
            if j < 0 or not digits or any(d not in "01234567" for d in digits):
                fail("%s: bad \\o{} escape" % self.where(start))
            v = int(digits, 8)
            if v > 0xFF:
                fail("%s: \\o{%s} out of range for char" % (self.where(start), digits))
            out.append(v)
            self.i = j + 1
        elif c == "x":
            if s.startswith("x{", self.i):
                j = s.find("}", self.i)
                digits = s[self.i + 2:j] if j >= 0 else ""
                nxt = j + 1
            else:
                j = self.i + 1
                while j < self.n and s[j] in _HEX:
                    j += 1  # a C++ hex escape takes every hex digit that follows
                digits = s[self.i + 1:j]
                nxt = j
            if not digits or any(d not in _HEX for d in digits):
                fail("%s: \\x escape without hex digits" % self.where(start))
            v = int(digits, 16)
            if v > 0xFF:
                fail("%s: hex escape \\x%s out of range for char" % (self.where(start), digits))
            out.append(v)
            self.i = nxt
        elif c in "uU":
            if c == "u" and s.startswith("u{", self.i):
                j = s.find("}", self.i)
                digits = s[self.i + 2:j] if j >= 0 else ""
                nxt = j + 1
            else:
                width = 4 if c == "u" else 8
                digits = s[self.i + 1:self.i + 1 + width]
                if len(digits) != width:
                    fail("%s: truncated \\%s escape" % (self.where(start), c))
                nxt = self.i + 1 + width
            if not digits or any(d not in _HEX for d in digits):
                fail("%s: bad \\%s escape %r" % (self.where(start), c, digits))
            out.extend(_utf8_of_codepoint(int(digits, 16), self.where(start)))
            self.i = nxt
        elif c == "N" and s.startswith("N{", self.i):
            j = s.find("}", self.i)
            name = s[self.i + 2:j]
            try:
                ch = unicodedata.lookup(name)
            except KeyError:
                fail("%s: unknown character name \\N{%s}" % (self.where(start), name))
            out.extend(ch.encode("utf-8"))
            self.i = j + 1
        elif c == "\n":
            self.i += 1  # line splice
        else:
            fail("%s: unknown escape sequence \\%s" % (self.where(start), c))

    def _ordinary_body(self, start):
        s = self.s
        out = bytearray()
        while True:
            if self.i >= self.n:
                fail("%s: unterminated string literal" % self.where(start))
            c = s[self.i]
            if c == '"':
                self.i += 1
                return bytes(out)
            if c == "\n":
                fail("%s: newline in string literal" % self.where(start))
            if c == "\\":
                self.i += 1
                self._escape(start, out)
                continue
            out.extend(c.encode("utf-8"))
            self.i += 1

    def _char_body(self):
        start = self.i - 1
        s = self.s
        out = bytearray()
        while True:
            if self.i >= self.n or s[self.i] == "\n":
                fail("%s: unterminated character literal" % self.where(start))
            c = s[self.i]
            if c == "'":
                self.i += 1
                break
            if c == "\\":
                self.i += 1
                self._escape(start, out)
                continue
            out.extend(c.encode("utf-8"))
            self.i += 1
        if len(out) != 1:
            fail("%s: character literal of %d bytes cannot be decoded as one char"
                 % (self.where(start), len(out)))
        return out[0]


def _concat_adjacent(toks, lexer):
    """Translation phase 6: adjacent string literals are one literal."""
    out = []
    for t in toks:
        if t.kind == "str" and out and out[-1].kind == "str":
            prev = out[-1]
            prefix = prev.prefix or t.prefix
            if prev.prefix and t.prefix and prev.prefix != t.prefix:
                fail("%s: cannot concatenate %s and %s literals" % (lexer.where(t.pos), prev.prefix, t.prefix))
            out[-1] = Tok("str", prev.value + t.value, prev.pos, prev.line, prefix)
        else:
            out.append(t)
    return out


def lex(text, filename):
    return Lexer(text, filename).tokens()


def self_test_lexer():
    """Decoder spot checks that run every time; a broken decoder stops the script."""
    cases = [
        (r'"a\nb\tc\\d\"e\'f\rg\0h"', b'a\nb\tc\\d"e\'f\rg\x00h'),
        (r'"\x41\x7a\xff\x0"', b"Az\xff\x00"),
        (r'"\x4142"', None),  # hex escape takes all digits: 0x4142 is out of range
        (r'"\101\1012\7"', b"AA2\x07"),
        (r'"\u00e9\U0001F535"', "é🔵".encode("utf-8")),
        (r'u8"\u00e9" "x"', "éx".encode("utf-8")),
        ('"é🔵"', "é🔵".encode("utf-8")),
        (r'"\x1" "2"', b"\x012"),
        ('R"(a\\n"b)"', b'a\\n"b'),
        ('R"""(x)"y)""" "z"', b'x)"yz'),
        ('R"delim(a)"b)delim"', b'a)"b'),
        ('u8R"(é)"', "é".encode("utf-8")),
        ('"a" /* c */ "b" // d\n "c"', b"abc"),
        (r'"\a\b\f\v\?"', b"\x07\x08\x0c\x0b?"),
        (r'"\x{41}\o{101}\u{e9}"', b"AA\xc3\xa9"),
        (r'"\N{LATIN SMALL LETTER E WITH ACUTE}"', "é".encode("utf-8")),
        ('"ab\\\ncd"', b"abcd"),
        ('#if 0\n"x"\n#if 1\n"y"\n#endif\n#endif\n"z"', b"z"),
        ('#include <x>\n#if 0\n"x"\n#else\n"w"\n#endif\n', b"w"),
    ]
    for src, want in cases:
        try:
            toks = lex(src, "<self-test>")
            got = toks[0].value if len(toks) == 1 and toks[0].kind == "str" else ("tokens", toks)
        except ExtractError as e:
            got = None
            err = e
        if got != want:
            fail("decoder self-test failed for %s: got %r, want %r" % (src, got, want))
    for src, want in ((r"'a'", 97), (r"'\n'", 10), (r"'\0'", 0), (r"'\''", 39), (r"'\x7f'", 127)):
        toks = lex(src, "<self-test>")
        if len(toks) != 1 or toks[0].kind != "char" or toks[0].value != want:
            fail("char-literal self-test failed for %s: %r" % (src, toks))


# --------------------------------------------------------------------------------------
# A tiny expression parser over the tokens (enough for the test files' argument lists)
# --------------------------------------------------------------------------------------
# values: ('str', bytes, line) ('int', n) ('char', n) ('ident', 'a::b')
#         ('list', [values]) ('call', name, [values]) ('sum', [values])

class Parser:
    def __init__(self, toks, filename):
        self.t = toks
        self.fn = filename

    def err(self, i, msg):
        line = self.t[i].line if i < len(self.t) else -1
        fail("%s:%d: %s" % (self.fn, line, msg))

    def is_p(self, i, p):
        return i < len(self.t) and self.t[i].kind == "punct" and self.t[i].value == p

    def expect(self, i, p):
        if not self.is_p(i, p):
            self.err(i, "expected %r, found %r" % (p, self.t[i] if i < len(self.t) else "EOF"))
        return i + 1

    def expr(self, i):
        v, i = self.unary(i)
        terms = [v]
        while self.is_p(i, "+"):
            v, i = self.unary(i + 1)
            terms.append(v)
        return (terms[0] if len(terms) == 1 else ("sum", terms)), i

    def unary(self, i):
        if self.is_p(i, "-"):
            v, i = self.primary(i + 1)
            if v[0] not in ("int", "char"):
                self.err(i, "unary minus on a non-number")
            return (v[0], -v[1]), i
        return self.primary(i)

    def seq(self, i, close):
        items = []
        while not self.is_p(i, close):
            v, i = self.expr(i)
            items.append(v)
            if self.is_p(i, ","):
                i += 1
            elif not self.is_p(i, close):
                self.err(i, "expected ',' or %r, found %r" % (close, self.t[i]))
        return items, i + 1

    def primary(self, i):
        if i >= len(self.t):
            self.err(i, "unexpected end of file")
        t = self.t[i]
        if t.kind == "str":
            return ("str", t.value, t.line), i + 1
        if t.kind == "char":
            return ("char", t.value), i + 1
        if t.kind == "num":
            txt = t.value.replace("'", "")
            m = re.fullmatch(r"(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)([uUlL]*)", txt)
            if not m:
                self.err(i, "unsupported number %r" % t.value)
            return ("int", int(m.group(1), 0) if not re.fullmatch(r"0[0-7]+", m.group(1))
                    else int(m.group(1), 8)), i + 1
        if t.kind == "ident":
            name = t.value
            i += 1
            while self.is_p(i, "::") and i + 1 < len(self.t) and self.t[i + 1].kind == "ident":
                name += "::" + self.t[i + 1].value
                i += 2
            if self.is_p(i, "("):
                args, i = self.seq(i + 1, ")")
                return ("call", name, args), i
            return ("ident", name), i
        if self.is_p(i, "{"):
            items, i = self.seq(i + 1, "}")
            return ("list", items), i
        if self.is_p(i, "("):
            v, i = self.expr(i + 1)
            return v, self.expect(i, ")")
        self.err(i, "unexpected token %r" % (t,))


def find_matching(toks, i, open_p, close_p):
    """toks[i] is open_p; index of the matching close_p."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].kind == "punct":
            if toks[j].value == open_p:
                depth += 1
            elif toks[j].value == close_p:
                depth -= 1
                if depth == 0:
                    return j
    fail("unbalanced %r at line %d" % (open_p, toks[i].line))


def function_bodies(toks):
    """{name: (first_token_index_inside_body, index_of_closing_brace)} for top-level functions."""
    out = {}
    depth = 0
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "punct" and t.value == "{":
            if depth == 0:
                # a function definition: ... NAME ( params ) [const] {
                j = i - 1
                while j >= 0 and toks[j].kind == "ident" and toks[j].value in ("const", "noexcept", "override"):
                    j -= 1
                if j >= 0 and toks[j].kind == "punct" and toks[j].value == ")":
                    # walk back to the matching '('
                    d = 0
                    k = j
                    while k >= 0:
                        if toks[k].kind == "punct" and toks[k].value == ")":
                            d += 1
                        elif toks[k].kind == "punct" and toks[k].value == "(":
                            d -= 1
                            if d == 0:
                                break
                        k -= 1
                    if k > 0 and toks[k - 1].kind == "ident":
                        end = find_matching(toks, i, "{", "}")
                        out.setdefault(toks[k - 1].value, (i + 1, end))
                        i = end + 1
                        continue
            depth += 1
        elif t.kind == "punct" and t.value == "}":
            depth -= 1
        i += 1
    return out


# --------------------------------------------------------------------------------------
# value -> JSON
# --------------------------------------------------------------------------------------

def text_or_bytes(b):
    """A decoded literal as a JSON string, or {"bytes_hex": ...} when it is not UTF-8."""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"bytes_hex": b.hex()}


NON_UTF8 = []  # (file, where) of every literal stored as bytes_hex


def literal(v, what, fn, record=True):
    if v[0] != "str":
        fail("%s: %s: expected a string literal, found %r" % (fn, what, v))
    out = text_or_bytes(v[1])
    if record and isinstance(out, dict):
        NON_UTF8.append("%s:%d (%s)" % (fn, v[2], what))
    return out


def test_string(v, what, fn):
    """One passing/failing string: a literal, or token(N) + "..." + ... (a token sequence)."""
    if v[0] == "str":
        return literal(v, what, fn)
    if v[0] == "call" and v[1] == "token":
        v = ("sum", [v])
    if v[0] == "sum":
        seq = []
        for term in v[1]:
            if term[0] == "str":
                piece = literal(term, what, fn)
                if isinstance(piece, str) and seq and isinstance(seq[-1], str):
                    seq[-1] += piece
                else:
                    seq.append(piece)
            elif term[0] == "call" and term[1] == "token":
                if len(term[2]) != 1 or term[2][0][0] != "int":
                    fail("%s: %s: token() with a non-literal argument: %r" % (fn, what, term))
                seq.append({"token": term[2][0][1]})
            else:
                fail("%s: %s: cannot encode term %r of a test string" % (fn, what, term))
        return {"seq": seq}
    fail("%s: %s: cannot encode test string %r" % (fn, what, v))


def count_tokens_in(s):
    return 0 if not isinstance(s, dict) or "seq" not in s else sum(1 for x in s["seq"] if isinstance(x, dict) and "token" in x)


# --------------------------------------------------------------------------------------
# test-grammar-integration.cpp
# --------------------------------------------------------------------------------------

# Functions of test-grammar-integration.cpp whose bodies are not test_grammar/test_schema
# calls.  Each handler turns the function into cases and checks the body still looks the
# way it is described here; anything else in main() is an error.
STANDALONE = (
    "test_failure_missing_root",
    "test_failure_missing_reference",
    "test_failure_left_recursion",
    "test_failure_missing_root_symbol",
    "test_custom_root_symbol_check",
)


def _body_text(toks, lo, hi):
    return " ".join(str(t.value) if t.kind != "str" else json.dumps(t.value.decode("utf-8", "replace"))
                    for t in toks[lo:hi])


def _string_vars(toks, lo, hi, fn):
    """NAME = <string literal> ; inside a body, in order."""
    out = {}
    p = Parser(toks, fn)
    for i in range(lo, hi - 2):
        if (toks[i].kind == "ident" and p.is_p(i + 1, "=") and toks[i + 2].kind == "str"):
            v, j = p.expr(i + 2)
            if v[0] == "str" and p.is_p(j, ";"):
                out[toks[i].value] = v
    return out


def extract_integration(path):
    fn = os.path.basename(path)
    src = open(path, encoding="utf-8").read()
    toks = lex(src, fn)
    p = Parser(toks, fn)
    bodies = function_bodies(toks)

    # The argument order of test_grammar/test_schema, as the extractor assumes it.
    for name, second in (("test_grammar", "grammar_str"), ("test_schema", "schema_str")):
        m = re.search(r"static void %s\(([^)]*)\)" % name, src)
        params = re.findall(r"(\w+)\s*(?:,|$)", m.group(1)) if m else []
        if params != ["test_desc", second, "passing_strings", "failing_strings"]:
            fail("%s: %s's parameters are %r; the extractor expects "
                 "(test_desc, %s, passing_strings, failing_strings)" % (fn, name, params, second))

    def func_of(tok_index):
        for name, (lo, hi) in bodies.items():
            if lo <= tok_index < hi:
                return name
        return None

    cases = []
    for i, t in enumerate(toks):
        if t.kind == "ident" and t.value in ("test_grammar", "test_schema") and p.is_p(i + 1, "("):
            if i > 0 and toks[i - 1].kind == "ident" and toks[i - 1].value == "void":
                continue  # the definition
            v, _ = p.primary(i)
            args = v[2]
            if len(args) != 4 or args[2][0] != "list" or args[3][0] != "list":
                fail("%s:%d: %s call with unexpected arguments" % (fn, t.line, t.value))
            desc = literal(args[0], "description", fn)
            what = "%s %r" % (t.value, desc)
            kind = "gbnf" if t.value == "test_grammar" else "schema"
            case = {
                "name": desc,
                "kind": kind,
                "function": func_of(i),
                "line": t.line,
                ("grammar" if kind == "gbnf" else "schema"): literal(args[1], what, fn),
                "expect_parse_error": False,
                "passing": [test_string(s, what + " passing", fn) for s in args[2][1]],
                "failing": [test_string(s, what + " failing", fn) for s in args[3][1]],
            }
            cases.append(case)

    # Standalone test functions.
    def body(name):
        if name not in bodies:
            fail("%s: function %s not found" % (fn, name))
        return bodies[name]

    def need(cond, name, msg):
        if not cond:
            fail("%s: %s no longer looks as the extractor expects: %s; update STANDALONE "
                 "handling in extract_grammar_cases.py" % (fn, name, msg))

    def std_case(name, func, var, line, **kw):
        c = {"name": name, "kind": "gbnf", "function": func, "line": line,
             "grammar": literal(var, name, fn)}
        c.update(kw)
        c.setdefault("passing", [])
        c.setdefault("failing", [])
        return c

    standalone = []

    # test_failure_missing_root: the parser accepts the grammar (rules non-empty) but it has
    # no "root" symbol, so llama_grammar_init_impl(..., "root") refuses it.
    f = "test_failure_missing_root"
    lo, hi = body(f)
    vs = _string_vars(toks, lo, hi, fn)
    txt = _body_text(toks, lo, hi)
    need(list(vs) == ["grammar_str"], f, "string variables %r" % list(vs))
    need("assert ( ! parsed_grammar . rules . empty ( ) )" in txt, f, "rules-not-empty assert")
    need('symbol_ids . find ( "root" ) == parsed_grammar . symbol_ids . end ( )' in txt, f, "missing-root assert")
    standalone.append(std_case("failure-missing-root", f, vs["grammar_str"], vs["grammar_str"][2],
                               expect_parse_error=True, error_kind="missing_root"))

    # test_failure_missing_reference: an undefined rule name makes the parser fail.
    f = "test_failure_missing_reference"
    lo, hi = body(f)
    vs = _string_vars(toks, lo, hi, fn)
    txt = _body_text(toks, lo, hi)
    need(list(vs) == ["grammar_str"], f, "string variables %r" % list(vs))
    need("assert ( parsed_grammar . rules . empty ( ) )" in txt, f, "rules-empty assert")
    standalone.append(std_case("failure-missing-reference", f, vs["grammar_str"], vs["grammar_str"][2],
                               expect_parse_error=True, error_kind="parse"))

    # test_failure_left_recursion: assert(test_build_grammar_fails(VAR)) for each grammar.
    f = "test_failure_left_recursion"
    lo, hi = body(f)
    vs = _string_vars(toks, lo, hi, fn)
    n = 0
    for i in range(lo, hi):
        if toks[i].kind == "ident" and toks[i].value == "test_build_grammar_fails":
            need(p.is_p(i - 1, "(") and toks[i - 2].value == "assert", f, "call not inside assert()")
            v, _ = p.primary(i)
            need(len(v[2]) == 1 and v[2][0][0] == "ident" and v[2][0][1] in vs, f, "argument %r" % (v[2],))
            var = v[2][0][1]
            standalone.append(std_case("failure-left-recursion: " + var, f, vs[var], vs[var][2],
                                       expect_parse_error=True, error_kind="left_recursion"))
            n += 1
    need(n == len(vs), f, "%d grammars but %d test_build_grammar_fails calls" % (len(vs), n))

    # build_grammar_with_root(VAR, "start") results checked with assert(RES ==/!= nullptr).
    for f, label in (("test_failure_missing_root_symbol", "failure-missing-root-symbol"),
                     ("test_custom_root_symbol_check", "custom-root-symbol")):
        lo, hi = body(f)
        vs = _string_vars(toks, lo, hi, fn)
        results = {}
        for i in range(lo, hi):
            if toks[i].kind == "ident" and toks[i].value == "build_grammar_with_root":
                need(p.is_p(i - 1, "=") and toks[i - 2].kind == "ident", f, "result not assigned")
                v, _ = p.primary(i)
                need(len(v[2]) == 2 and v[2][0][0] == "ident" and v[2][0][1] in vs and v[2][1][0] == "str",
                     f, "arguments %r" % (v[2],))
                results[toks[i - 2].value] = (v[2][0][1], v[2][1][1].decode("utf-8"), toks[i].line)
        checks = 0
        for i in range(lo, hi - 5):
            if (toks[i].kind == "ident" and toks[i].value == "assert" and p.is_p(i + 1, "(")
                    and toks[i + 2].kind == "ident" and toks[i + 2].value in results
                    and toks[i + 3].kind == "punct" and toks[i + 3].value in ("==", "!=")
                    and toks[i + 4].kind == "ident" and toks[i + 4].value == "nullptr"):
                var, root, line = results[toks[i + 2].value]
                ok = toks[i + 3].value == "!="
                extra = {"expect_parse_error": not ok}
                if not ok:
                    extra["error_kind"] = "missing_root"
                if root != "root":
                    extra["root"] = root
                standalone.append(std_case("%s: %s with root %r" % (label, var, root), f, vs[var], line, **extra))
                checks += 1
        need(checks == len(results) and checks > 0, f,
             "%d build_grammar_with_root calls but %d nullptr asserts" % (len(results), checks))

    # main() must call only functions the extractor knows.
    lo, hi = body("main")
    called = [toks[i].value for i in range(lo, hi)
              if toks[i].kind == "ident" and toks[i].value.startswith("test_") and p.is_p(i + 1, "(")]
    call_funcs = {c["function"] for c in cases}
    unknown = [c for c in called if c not in call_funcs and c not in STANDALONE]
    if unknown:
        fail("%s: main() calls %s, which the extractor does not know; extend "
             "extract_grammar_cases.py" % (fn, ", ".join(unknown)))
    not_called = sorted((call_funcs | set(STANDALONE)) - set(called))
    if not_called:
        fail("%s: %s not called from main() any more" % (fn, ", ".join(not_called)))

    # Regex cross-checks against the source text.
    n_calls = len(re.findall(r"^[ \t]*test_(?:grammar|schema)[ \t]*\(", src, re.M))
    if n_calls != len(cases):
        fail("%s: %d test_grammar/test_schema call sites by regex, %d extracted"
             % (fn, n_calls, len(cases)))
    n_lr = len(re.findall(r"^[ \t]*assert\(test_build_grammar_fails\(", src, re.M))
    got_lr = sum(1 for c in standalone if c["function"] == "test_failure_left_recursion")
    if n_lr != got_lr:
        fail("%s: %d assert(test_build_grammar_fails(...)) by regex, %d extracted" % (fn, n_lr, got_lr))
    n_root = len(re.findall(r"=\s*build_grammar_with_root\(", src))
    got_root = sum(1 for c in standalone if c["function"] in
                   ("test_failure_missing_root_symbol", "test_custom_root_symbol_check"))
    if n_root != got_root:
        fail("%s: %d build_grammar_with_root(...) results by regex, %d extracted" % (fn, n_root, got_root))

    all_cases = cases + standalone
    all_cases.sort(key=lambda c: c["line"])
    return all_cases, called


# --------------------------------------------------------------------------------------
# test-grammar-parser.cpp
# --------------------------------------------------------------------------------------

def extract_parser(path):
    fn = os.path.basename(path)
    src = open(path, encoding="utf-8").read()
    toks = lex(src, fn)
    p = Parser(toks, fn)
    bodies = function_bodies(toks)
    lo, hi = bodies["main"]
    cases = []
    for i in range(lo, hi):
        t = toks[i]
        if t.kind == "ident" and t.value in ("verify_parsing", "verify_failure") and p.is_p(i + 1, "("):
            v, _ = p.primary(i)
            args = v[2]
            if t.value == "verify_failure":
                if len(args) != 1:
                    fail("%s:%d: verify_failure with %d arguments" % (fn, t.line, len(args)))
                cases.append({"line": t.line, "grammar": literal(args[0], "verify_failure", fn), "ok": False})
                continue
            if len(args) != 3 or args[1][0] != "list" or args[2][0] != "list":
                fail("%s:%d: verify_parsing with unexpected arguments" % (fn, t.line))
            ids = {}
            names = []
            for pair in args[1][1]:
                if (pair[0] != "list" or len(pair[1]) != 2 or pair[1][0][0] != "str"
                        or pair[1][1][0] != "int"):
                    fail("%s:%d: unexpected symbol entry %r" % (fn, t.line, pair))
                name = pair[1][0][1].decode("utf-8")
                names.append(name)
                ids[name] = pair[1][1][1]
            elements = []
            for el in args[2][1]:
                if (el[0] != "list" or len(el[1]) != 2 or el[1][0][0] != "ident"
                        or el[1][1][0] not in ("int", "char")):
                    fail("%s:%d: unexpected rule element %r" % (fn, t.line, el))
                ty = el[1][0][1]
                if not ty.startswith("LLAMA_GRETYPE_"):
                    fail("%s:%d: unexpected element type %r" % (fn, t.line, ty))
                elements.append([ty[len("LLAMA_GRETYPE_"):], el[1][1][1]])
            if len(ids) != len(names):
                fail("%s:%d: duplicate symbol names" % (fn, t.line))
            cases.append({"line": t.line, "grammar": literal(args[0], "verify_parsing", fn), "ok": True,
                          "symbols": names, "symbol_ids": ids, "elements": elements})
    n = len(re.findall(r"^[ \t]*verify_(?:parsing|failure)[ \t]*\(", src, re.M))
    if n != len(cases):
        fail("%s: %d verify_parsing/verify_failure call sites by regex, %d extracted" % (fn, n, len(cases)))
    return cases


# --------------------------------------------------------------------------------------
# test-json-schema-to-grammar.cpp
# --------------------------------------------------------------------------------------

# Checks in main() of test-json-schema-to-grammar.cpp that are not TestCase data.
JSON_SCHEMA_STANDALONE = ("parsed document", "sub-schema $ref")


def cpp_trim(s):
    """The C++ test's trim(): strip " \\n\\r\\t" at both ends, then leading blanks of each line."""
    a = len(s)
    for k, ch in enumerate(s):
        if ch not in " \n\r\t":
            a = k
            break
    s = s[a:]
    b = 0
    for k in range(len(s) - 1, -1, -1):
        if s[k] not in " \n\r\t":
            b = k + 1
            break
    s = s[:b]
    return re.sub(r"(^|\n)[ \t]+", r"\1", s)


def extract_json_schema(path):
    fn = os.path.basename(path)
    src = open(path, encoding="utf-8").read()
    toks = lex(src, fn)
    p = Parser(toks, fn)
    bodies = function_bodies(toks)

    m = re.search(r"struct TestCase \{(.*?)\n    void ", src, re.S)
    fields = re.findall(r"^\s*[\w:]+\s+(\w+);", m.group(1), re.M) if m else []
    if fields != ["expected_status", "name", "schema", "expected_grammar"]:
        fail("%s: struct TestCase fields are %r; the extractor expects "
             "expected_status, name, schema, expected_grammar" % (fn, fields))

    lo, hi = bodies["test_all"]
    cases = []
    for i in range(lo, hi):
        t = toks[i]
        if (t.kind == "ident" and t.value == "test" and p.is_p(i + 1, "(") and p.is_p(i + 2, "{")):
            v, _ = p.primary(i)
            if len(v[2]) != 1 or v[2][0][0] != "list" or len(v[2][0][1]) != 4:
                fail("%s:%d: test({...}) with unexpected contents" % (fn, t.line))
            status, name, schema, grammar = v[2][0][1]
            if status[0] != "ident" or status[1] not in ("SUCCESS", "FAILURE"):
                fail("%s:%d: unexpected status %r" % (fn, t.line, status))
            cases.append({
                "desc": literal(name, "name", fn),
                "line": t.line,
                "schema": literal(schema, "schema", fn),
                "expect": status[1],
                "grammar": literal(grammar, "expected_grammar", fn),
            })
    for c in cases:
        if (c["expect"] == "SUCCESS") != (cpp_trim(c["grammar"]) != "" if isinstance(c["grammar"], str) else True):
            fail("%s:%d: %s case %r has %s expected grammar" % (
                fn, c["line"], c["expect"], c["desc"], "an empty" if c["expect"] == "SUCCESS" else "a non-empty"))
    n = len(re.findall(r"^[ \t]*test\(\{", src, re.M))
    if n != len(cases):
        fail("%s: %d test({...}) call sites by regex, %d extracted" % (fn, n, len(cases)))

    # The standalone checks in main(), recognised by their "- NAME" progress line.
    lo, hi = bodies["main"]
    found = []
    for i in range(lo, hi - 4):
        if (toks[i].kind == "ident" and toks[i].value == "fprintf" and p.is_p(i + 1, "(")
                and toks[i + 4].kind == "str"):
            s = toks[i + 4].value.decode("utf-8")
            if s.startswith("- "):
                found.append(s[2:].rstrip("\n"))
    if tuple(found) != JSON_SCHEMA_STANDALONE:
        fail("%s: main()'s standalone checks are %r, the extractor knows %r; look at them and "
             "update JSON_SCHEMA_STANDALONE and the README" % (fn, found, JSON_SCHEMA_STANDALONE))
    n_tc = len(re.findall(r"\bTestCase\s+\w+\s*\{", src))
    if n_tc != 1:
        fail("%s: %d TestCase variables outside test_all (expected 1: sub-schema $ref)" % (fn, n_tc))
    return cases


# --------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------

def find_commit(root):
    """HEAD of root's git checkout (a .git directory or a gitdir: pointer), if readable."""
    g = os.path.join(root, ".git")
    try:
        if os.path.isfile(g):
            with open(g) as f:
                line = f.read().strip()
            if line.startswith("gitdir:"):
                g = os.path.normpath(os.path.join(root, line[len("gitdir:"):].strip()))
        with open(os.path.join(g, "HEAD")) as f:
            head = f.read().strip()
        if head.startswith("ref:"):
            ref = head[4:].strip()
            rp = os.path.join(g, ref)
            if os.path.isfile(rp):
                with open(rp) as f:
                    return f.read().strip()
            with open(os.path.join(g, "packed-refs")) as f:
                for line in f:
                    if line.strip().endswith(" " + ref):
                        return line.split()[0]
            return None
        return head if re.fullmatch(r"[0-9a-f]{40}", head) else None
    except OSError:
        return None


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_json(path, data):
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    with open(path, encoding="utf-8") as f:
        if json.load(f) != data:
            fail("%s does not read back as written" % path)


def n_strings(cases):
    return sum(len(c["passing"]) + len(c["failing"]) for c in cases)


def main(argv):
    if len(argv) not in (2, 3) or argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    root = os.path.abspath(argv[1])
    if not os.path.isfile(os.path.join(root, "tests", "test-grammar-parser.cpp")):
        cand = os.path.join(root, "vendor", "llama.cpp")
        if os.path.isfile(os.path.join(cand, "tests", "test-grammar-parser.cpp")):
            root = cand
        else:
            fail("%s is not a llama.cpp source tree (no tests/test-grammar-parser.cpp)" % root)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.abspath(argv[2]) if len(argv) == 3 else os.path.join(repo, "tests", "fixtures", "grammar")

    self_test_lexer()

    src_integration = os.path.join(root, "tests", "test-grammar-integration.cpp")
    src_parser = os.path.join(root, "tests", "test-grammar-parser.cpp")
    src_schema = os.path.join(root, "tests", "test-json-schema-to-grammar.cpp")
    integration, main_calls = extract_integration(src_integration)
    parser = extract_parser(src_parser)
    schema = extract_json_schema(src_schema)

    gdir = os.path.join(root, "grammars")
    gbnf_names = sorted(f for f in os.listdir(gdir) if f.endswith(".gbnf"))
    if not gbnf_names:
        fail("no .gbnf files in %s" % gdir)

    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "integration.json"), integration)
    write_json(os.path.join(out, "parser.json"), parser)
    write_json(os.path.join(out, "json_schema.json"), schema)

    odir = os.path.join(out, "gbnf")
    if os.path.isdir(odir):
        shutil.rmtree(odir)
    os.makedirs(odir)
    for name in gbnf_names:
        shutil.copyfile(os.path.join(gdir, name), os.path.join(odir, name))
        if sha256(os.path.join(gdir, name)) != sha256(os.path.join(odir, name)):
            fail("copy of %s differs" % name)
    readme_src = os.path.join(gdir, "README.md")
    if os.path.isfile(readme_src):
        shutil.copyfile(readme_src, os.path.join(odir, "llama.cpp-grammars-README.md"))

    commit = find_commit(root)
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8", newline="\n") as f:
        f.write(render_readme(root, commit, integration, main_calls, parser, schema, gbnf_names,
                              [src_integration, src_parser, src_schema]))

    gb = [c for c in integration if c["kind"] == "gbnf"]
    sc = [c for c in integration if c["kind"] == "schema"]
    print("integration.json: %d cases (%d gbnf, %d schema; %d expect_parse_error), %d strings "
          "(%d passing, %d failing)" % (
              len(integration), len(gb), len(sc), sum(c["expect_parse_error"] for c in integration),
              n_strings(integration), sum(len(c["passing"]) for c in integration),
              sum(len(c["failing"]) for c in integration)))
    print("parser.json: %d grammars (%d ok, %d parse error)" % (
        len(parser), sum(c["ok"] for c in parser), sum(not c["ok"] for c in parser)))
    print("json_schema.json: %d cases (%d SUCCESS, %d FAILURE)" % (
        len(schema), sum(c["expect"] == "SUCCESS" for c in schema), sum(c["expect"] == "FAILURE" for c in schema)))
    print("gbnf/: %s" % ", ".join(gbnf_names))
    if NON_UTF8:
        print("stored as bytes_hex (not UTF-8): %s" % "; ".join(NON_UTF8))
    print("commit: %s" % (commit or "unknown"))
    print("wrote %s" % out)
    return 0


def render_readme(root, commit, integration, main_calls, parser, schema, gbnf_names, sources):
    gb = [c for c in integration if c["kind"] == "gbnf"]
    sc = [c for c in integration if c["kind"] == "schema"]
    err = [c for c in integration if c["expect_parse_error"]]
    tok_strings = sum(1 for c in integration for s in c["passing"] + c["failing"]
                      if isinstance(s, dict) and "seq" in s)
    L = []
    w = L.append
    w("# Grammar fixtures from llama.cpp")
    w("")
    w("Generated by `scripts/extract_grammar_cases.py`; do not edit by hand. They are llama.cpp's")
    w("own grammar tests turned into data, for llamette's data-driven grammar tests.")
    w("")
    w("## Source")
    w("")
    w("llama.cpp as vendored in the llama-cpp-python 0.3.36 sdist (`vendor/llama.cpp`), commit")
    w("`%s` (ggml-org/llama.cpp; the sdist's git metadata and CHANGELOG.md name it)." % (commit or "unknown"))
    w("")
    w("| file | sha256 |")
    w("|---|---|")
    for s in sources:
        w("| `tests/%s` | `%s` |" % (os.path.basename(s), sha256(s)))
    w("")
    w("## Regenerating")
    w("")
    w("```sh")
    w("pip install scikit-build-core")
    w("pip download --no-deps --no-build-isolation --no-binary llama-cpp-python llama-cpp-python==0.3.36")
    w("tar xzf llama_cpp_python-0.3.36.tar.gz")
    w("python3 scripts/extract_grammar_cases.py llama_cpp_python-0.3.36/vendor/llama.cpp")
    w("```")
    w("")
    w("The script exits non-zero with a message if a test file no longer has the shape it")
    w("understands, or if the number of cases it extracted differs from a regex count of the")
    w("call sites (`test_grammar(`/`test_schema(`, `verify_parsing(`/`verify_failure(`,")
    w("`test({`, `assert(test_build_grammar_fails(`, `= build_grammar_with_root(`), or if")
    w("main() of a test file calls a test it does not know.")
    w("")
    w("## integration.json (tests/test-grammar-integration.cpp)")
    w("")
    w("%d cases: %d `gbnf`, %d `schema`; %d of them `expect_parse_error`. %d test strings"
      % (len(integration), len(gb), len(sc), len(err), n_strings(integration)))
    w("(%d passing, %d failing), %d of them token sequences."
      % (sum(len(c["passing"]) for c in integration), sum(len(c["failing"]) for c in integration), tok_strings))
    w("")
    w("A list, in source order, of")
    w("")
    w("```")
    w('{"name": description, "kind": "gbnf"|"schema", "grammar"|"schema": text,')
    w(' "expect_parse_error": bool, "error_kind"?: "parse"|"missing_root"|"left_recursion",')
    w(' "root"?: start symbol, "passing": [str], "failing": [str],')
    w(' "function": C++ test function, "line": source line}')
    w("```")
    w("")
    w("- `test_grammar(desc, grammar, passing, failing)` gives `kind: \"gbnf\"`;")
    w("  `test_schema(...)` gives `kind: \"schema\"`, whose grammar llama.cpp makes with")
    w("  `json_schema_to_grammar(json::parse(schema), /*force_gbnf=*/true)`. `name` is the bare")
    w("  description (llama.cpp prints it with \". Grammar: ...\" appended). Names are not unique")
    w("  (\"non-string const\" and \"required + optional props each in original order\" occur")
    w("  twice, and one schema case has an empty name); use `line` to tell cases apart.")
    w("- Matching, as llama.cpp's `match_string`: the string is split into code points (invalid")
    w("  UTF-8 becomes U+FFFD) and tokens; each is accepted in turn and the string fails as soon as")
    w("  no stack is left; at the end it passes if some stack is empty (the grammar is complete).")
    w("  Stacks are reset between strings.")
    w("- A test string is a JSON string, or `{\"seq\": [...]}` for the strings llama.cpp builds as")
    w("  `token(10) + \"text\" + token(11)`: the items are text (JSON strings) and `{\"token\": id}`")
    w("  (a special token, as in the grammar's `<[id]>`). llama.cpp encodes `token(id)` as the")
    w("  bytes `0xFF` + the id as 4 big-endian bytes and hands each one to")
    w("  `llama_grammar_accept_token(grammar, id, \"<[id]>\")`; text is accepted code point by code")
    w("  point with token 0.")
    w("- Standalone test functions, encoded with `passing`/`failing` empty:")
    w("  - `test_failure_missing_root`: llama.cpp only checks that the parser accepts the grammar")
    w("    (rules not empty) and that there is no `root` symbol: `expect_parse_error`,")
    w("    `error_kind: \"missing_root\"` (building it with start symbol `root` fails).")
    w("  - `test_failure_missing_reference`: the parser rejects a reference to an undefined rule:")
    w("    `error_kind: \"parse\"`.")
    w("  - `test_failure_left_recursion`: four grammars `llama_grammar_init_impl` rejects as left")
    w("    recursive (the parser itself accepts them): `error_kind: \"left_recursion\"`.")
    w("  - `test_failure_missing_root_symbol`: `root ::= \"foobar\"` is refused with start symbol")
    w("    `nonexistent` (recorded as `root: \"nonexistent\"`; `error_kind: \"missing_root\"`).")
    w("  - `test_custom_root_symbol_check`: the grammar `foobar ::= \"foobar\"` fails to build with")
    w("    start symbol `root` and builds with `root: \"foobar\"` (`expect_parse_error: false`, no")
    w("    strings: llama.cpp checks only that it builds).")
    w("- `error_kind` says where llama.cpp refuses the grammar; an implementation that reports")
    w("  all three as one build error is still faithful to what the tests check.")
    w("- main() runs:")
    for name in main_calls:
        w("  `%s`%s" % (name, "," if name != main_calls[-1] else "."))
    w("  Every one is encoded; no test in this file checks anything beyond build")
    w("  success/failure and accept/reject (no stack counts or rule dumps).")
    w("")
    w("## parser.json (tests/test-grammar-parser.cpp)")
    w("")
    w("%d grammars: %d `ok: true` (verify_parsing), %d `ok: false` (verify_failure)."
      % (len(parser), sum(c["ok"] for c in parser), sum(not c["ok"] for c in parser)))
    w("")
    w("```")
    w('{"grammar": text, "ok": bool, "line": source line,')
    w(' "symbols": [names], "symbol_ids": {name: id}, "elements": [[type, value]]}   // last three only when ok')
    w("```")
    w("")
    w("- `ok: false`: `llama_grammar_parser::parse` must fail (its rules are left empty).")
    w("- `ok: true`: the parse succeeds; `symbols` are the expected symbol table's names in the")
    w("  order llama.cpp lists them (its `std::map`, sorted by name), `symbol_ids` the rule index")
    w("  of each, and `elements` the expected rules flattened in rule-index order, each rule ending")
    w("  with `END`: `type` is the `LLAMA_GRETYPE_` name without that prefix (`CHAR`, `CHAR_NOT`,")
    w("  `CHAR_ALT`, `CHAR_RNG_UPPER`, `RULE_REF`, `ALT`, `END`, `TOKEN`, `TOKEN_NOT`), `value` the")
    w("  element's value as an integer (a code point for characters, a rule index for `RULE_REF`,")
    w("  a token id for tokens). These are llama.cpp's numbering of generated rules (`root_1` ...);")
    w("  a parser that numbers or orders them differently can still compare `symbols` as a set.")
    w("")
    w("## json_schema.json (tests/test-json-schema-to-grammar.cpp)")
    w("")
    w("%d cases: %d `SUCCESS`, %d `FAILURE`." % (
        len(schema), sum(c["expect"] == "SUCCESS" for c in schema), sum(c["expect"] == "FAILURE" for c in schema)))
    w("")
    w("```")
    w('{"desc": name, "line": source line, "schema": JSON schema text, "expect": "SUCCESS"|"FAILURE",')
    w(' "grammar": expected GBNF ("" for FAILURE)}')
    w("```")
    w("")
    w("- Every `test({status, name, schema, expected_grammar})` in `test_all`. llama.cpp runs")
    w("  `json_schema_to_grammar(common_json::parse(schema), /*force_gbnf=*/true)`; `FAILURE` means")
    w("  it throws `std::invalid_argument`. On success the output is compared with `grammar` after")
    w("  the test's `trim()` on both sides: strip ` \\n\\r\\t` at both ends, then remove the blanks")
    w("  (spaces and tabs) at the start of every line. A second pass checks that every `SUCCESS`")
    w("  `grammar` parses with `llama_grammar_parser` and has a `root` symbol.")
    w("- Not encoded: the two standalone checks at the end of main(): \"parsed document\" (the")
    w("  grammar of a schema parsed up front with `common_chat_schema_from_json` equals the one")
    w("  from the JSON) and \"sub-schema $ref\" (a grammar built with `common_grammar_builder` for")
    w("  one property's sub-schema). Both exercise llama.cpp C++ APIs that have no JSON-in,")
    w("  grammar-out form.")
    w("")
    w("## gbnf/")
    w("")
    w("The %d `grammars/*.gbnf` files, copied byte for byte: %s." % (
        len(gbnf_names), ", ".join("`%s`" % n for n in gbnf_names)))
    w("`gbnf/llama.cpp-grammars-README.md` is llama.cpp's `grammars/README.md` (the GBNF guide),")
    w("copied for reference; it is not a grammar.")
    w("")
    w("## Encoding")
    w("")
    w("JSON is UTF-8 with `ensure_ascii=False`: non-ASCII text is stored as is. C++ literals are")
    w("decoded as the compiler would (raw strings with any delimiter, every escape including")
    w("`\\xNN`, octal, `\\u`/`\\U`, `u8` prefixes, adjacent-literal concatenation, comments")
    w("dropped; commented-out test strings are not cases). A literal whose bytes are not valid")
    w("UTF-8 would be stored as `{\"bytes_hex\": \"...\"}`; ", )
    if NON_UTF8:
        L[-1] += "these are: " + "; ".join(NON_UTF8) + "."
    else:
        L[-1] += "none of the current tests has one."
    w("")
    return "\n".join(L)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except ExtractError as e:
        sys.stderr.write("extract_grammar_cases.py: error: %s\n" % e)
        sys.exit(1)
