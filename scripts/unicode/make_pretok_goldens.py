#!/usr/bin/env python3
"""Reference pre-tokenizer splits for `src/tokenizer/pretokenize.rs`, taken from llama.cpp itself.

Usage: make_pretok_goldens.py [--llama DIR] [--out FILE] [--fuzz N] [--names FILE]

The reference is llama.cpp's own `unicode_regex_split(text, regex_exprs, byte_encode=false)`: this
script extracts the regex lists of `llm_tokenizer_bpe`'s constructor from `src/llama-vocab.cpp`
(copied verbatim, as C++ literals, into a generated harness), compiles the harness with the vendored
`src/unicode.cpp` + `src/unicode-data.cpp` (g++ -O2 -std=c++17) and runs it over:
  - every text of llama.cpp's vocab test suites (tests/fixtures/vocab/ggml-vocab-*.gguf.inp),
  - hand-picked corner cases and source code,
  - a few hundred seeded random strings mixing ASCII, digits, whitespace runs (space, tab, \\n, \\r,
    U+00A0, U+3000, ...), apostrophes, CJK, emoji, accents, marks, other scripts and numbers.
Python's `regex` module, applying the same regexes in sequence the way `unicode_regex_split` does,
is run as a cross-check; where it disagrees with llama.cpp (it does, by design: llama.cpp uses
hand-written splitters for some regexes and a byte-"collapsed" text for \\p{..} classes), llama.cpp
wins and the count of disagreements is printed.

Output (default tests/fixtures/pretok/splits.txt), UTF-8 lines:
  # comment
  T <TAB> index <TAB> hex(UTF-8 text)
  S <TAB> pre-tokenizer names (tokenizer.ggml.pre), comma-separated <TAB> text index <TAB> word byte
    lengths, comma-separated (one line per distinct split of a text; each pre-tokenizer in one line)
The words of a text are contiguous and cover it, so word k is [sum(len[:k]), sum(len[:k+1])).
It also writes tests/fixtures/pretok/names.txt (--names): `name <TAB> representative`, where two
names share a representative when llama.cpp gives them the same regex list (`-` if not covered).

--fuzz N instead compares 2N fresh random strings (N like the above, N short ones over a small
alphabet of troublesome code points) between llama.cpp and this crate's `PreTokenizer::split`, for
every covered pre-tokenizer (--all: every pre-tokenizer llama.cpp has, the others then fail), and
prints the mismatches. The Rust side is a small driver crate built in /tmp/pretok-harness/driver
(or the binary named by $PRETOK_RUST), reading the harness's input format.
"""
import argparse
import glob
import hashlib
import os
import random
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_LLAMA = '/tmp/sdist/llama_cpp_python-0.3.36/vendor/llama.cpp'
BUILD = '/tmp/pretok-harness'

# Pre-tokenizers covered by the golden file: PRE_TYPE -> the name used for it in the file.
SUPPORTED = {
    'DEFAULT': 'default',
    'GPT2': 'gpt-2',
    'LLAMA3': 'llama-bpe',
    'QWEN2': 'qwen2',
    'QWEN35': 'qwen35',
    'STARCODER': 'starcoder',
    'DEEPSEEK_CODER': 'deepseek-coder',
    'DEEPSEEK_LLM': 'deepseek-llm',
    'DEEPSEEK3_LLM': 'deepseek-v3',
    'FALCON': 'falcon',
    'KIMI_K2': 'kimi-k2',
    'BLOOM': 'bloom',
    'VIKING': 'viking',
    'LAGUNA': 'laguna',
    'TEKKEN': 'tekken',
    'GPT4O': 'gpt-4o',
    'GRANITE_EMB_MULTI': 'granite-embed-multi-97m',
    'SEED_CODER': 'seed-coder',
    'UFAKZEKA': 'ufakzeka',
    'MINICPM5': 'minicpm5',
    'BAILINGMOE': 'bailingmoe',
    'EXAONE_MOE': 'exaone-moe',
    'JAIS2': 'jais-2',
    'TINY_AYA': 'tiny_aya',
    'AFMOE': 'afmoe',
    'SPARK2_5': 'spark2_5',
    'YOUTU': 'youtu',
    'CHAMELEON': 'chameleon',
    'GEMMA4': 'gemma4',
    'WHITESPACE': 'whitespace',
}


# ---------------------------------------------------------------------------------------------
# llama-vocab.cpp parsing

def cpp_literals(block):
    """The C++ string literals of a block (comment lines dropped), raw (escapes not decoded)."""
    lines = [ln for ln in block.split('\n') if not ln.strip().startswith('//')]
    return re.findall(r'"((?:[^"\\]|\\.)*)"', '\n'.join(lines))


def cpp_unescape(lit):
    out, i = [], 0
    esc = {'\\': '\\', '"': '"', "'": "'", 'n': '\n', 'r': '\r', 't': '\t'}
    while i < len(lit):
        c = lit[i]
        if c == '\\':
            n = lit[i + 1]
            if n not in esc:
                raise ValueError('escape \\' + n)
            out.append(esc[n])
            i += 2
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def parse_vocab(llama):
    src = open(os.path.join(llama, 'src', 'llama-vocab.cpp'), encoding='utf-8').read()
    i = src.index('llm_tokenizer_bpe(const llama_vocab & vocab) {')
    j = src.index('std::vector<std::string> regex_exprs;', i)
    body = src[i:j]
    groups = {}  # PRE_TYPE -> [raw literal]
    pending = []
    pos = body.index('switch')
    tok = re.compile(r'case (LLAMA_VOCAB_PRE_TYPE_\w+):|default:|regex_exprs = \{(.*?)\n\s*\};', re.S)
    for m in tok.finditer(body, pos):
        if m.group(1):
            pending.append(m.group(1)[len('LLAMA_VOCAB_PRE_TYPE_'):])
        elif m.group(0) == 'default:':
            pending.append('DEFAULT')
        else:
            lits = cpp_literals(m.group(2))
            for p in pending:
                groups[p] = lits
            pending = []
    # names
    k = src.index('if (tokenizer_pre.empty())')
    chain = src[k:src.index('unknown pre-tokenizer type', k)]
    names = {'': 'DEFAULT'}
    for m in re.finditer(r'((?:tokenizer_pre == "[^"]*"\s*\|*\s*)+)\)\s*\{\s*pre_type = LLAMA_VOCAB_PRE_TYPE_(\w+);', chain):
        for n in re.findall(r'tokenizer_pre == "([^"]*)"', m.group(1)):
            names.setdefault(n, m.group(2))
    names['default'] = 'DEFAULT'
    return groups, names


# ---------------------------------------------------------------------------------------------
# the C++ harness

UNICODE_OBJS = ['unicode.cpp', 'unicode-data.cpp']


def build_harness(llama, groups):
    os.makedirs(BUILD, exist_ok=True)
    order = sorted(groups)
    rows = []
    for p in order:
        rows.append('    {"%s", {%s}},' % (p, ', '.join('"%s"' % lit for lit in groups[p])))
    cpp = r'''// generated by make_pretok_goldens.py
#include "unicode.h"
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

static const std::map<std::string, std::vector<std::string>> k_pre = {
%s
};

// stdin: repeated "PRE_TYPE LEN\n" + LEN bytes; stdout: one line per case, the word byte lengths
// comma-separated, or "ERR message".
int main() {
    std::string pre;
    size_t len;
    while (std::cin >> pre >> len) {
        std::cin.get();
        std::string text(len, '\0');
        std::cin.read(&text[0], len);
        auto it = k_pre.find(pre);
        if (it == k_pre.end()) { printf("ERR unknown %%s\n", pre.c_str()); continue; }
        try {
            auto words = unicode_regex_split(text, it->second, false);
            std::string line;
            for (size_t i = 0; i < words.size(); ++i) {
                if (i) line += ',';
                line += std::to_string(words[i].size());
            }
            printf("%%s\n", line.c_str());
        } catch (const std::exception & e) {
            printf("ERR %%s\n", e.what());
        }
        fflush(stdout);
    }
}
''' % '\n'.join(rows)
    h = hashlib.sha256(cpp.encode()).hexdigest()[:12]
    exe = os.path.join(BUILD, 'harness-' + h)
    if os.path.exists(exe):
        return exe
    open(os.path.join(BUILD, 'harness.cpp'), 'w', encoding='utf-8').write(cpp)
    objs = []
    for f in UNICODE_OBJS:
        o = os.path.join(BUILD, f + '.o')
        if not os.path.exists(o):
            subprocess.check_call(['g++', '-O2', '-std=c++17', '-c', os.path.join(llama, 'src', f), '-o', o])
        objs.append(o)
    subprocess.check_call(['g++', '-O2', '-std=c++17', '-I', os.path.join(llama, 'src'),
                           os.path.join(BUILD, 'harness.cpp')] + objs + ['-o', exe])
    return exe


DRIVER_MAIN = r'''use std::io::{BufRead, Read, Write};
use llamette::tokenizer::pretokenize::PreTokenizer;
// stdin: repeated "NAME LEN\n" + LEN bytes; stdout: the word byte lengths of each, comma-separated.
fn main() {
    let stdin = std::io::stdin();
    let mut inp = stdin.lock();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let (mut words, mut header) = (Vec::new(), String::new());
    loop {
        header.clear();
        if inp.read_line(&mut header).unwrap() == 0 { break; }
        let mut it = header.split_whitespace();
        let name = it.next().unwrap().to_string();
        let len: usize = it.next().unwrap().parse().unwrap();
        let mut buf = vec![0u8; len];
        inp.read_exact(&mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        match PreTokenizer::from_name(&name) {
            None => writeln!(out, "ERR unknown {name}").unwrap(),
            Some(p) => {
                p.split(&text, &mut words);
                let v: Vec<String> = words.iter().map(|r| (r.end - r.start).to_string()).collect();
                writeln!(out, "{}", v.join(",")).unwrap();
            }
        }
    }
}
'''


def build_driver():
    if os.environ.get('PRETOK_RUST'):
        return os.environ['PRETOK_RUST']
    d = os.path.join(BUILD, 'driver')
    os.makedirs(os.path.join(d, 'src'), exist_ok=True)
    open(os.path.join(d, 'Cargo.toml'), 'w').write(
        '[package]\nname = "pretok-driver"\nversion = "0.0.0"\nedition = "2021"\n\n[workspace]\n\n'
        f'[dependencies]\nllamette = {{ path = "{ROOT}", default-features = false }}\n')
    open(os.path.join(d, 'src', 'main.rs'), 'w').write(DRIVER_MAIN)
    target = os.path.join(BUILD, 'target')
    subprocess.check_call(['cargo', 'build', '--release', '-j1', '--quiet'], cwd=d,
                          env=dict(os.environ, CARGO_TARGET_DIR=target))
    return os.path.join(target, 'release', 'pretok-driver')


def run_splitter(exe, jobs):
    """jobs: [(PRE_TYPE or name, text)] -> [list of word byte lengths, or an 'ERR ...' string]."""
    inp = bytearray()
    for pre, text in jobs:
        b = text.encode('utf-8')
        inp += f'{pre} {len(b)}\n'.encode() + b
    out = subprocess.run([exe], input=bytes(inp), stdout=subprocess.PIPE, check=True).stdout.decode()
    res = []
    for line in out.split('\n')[:len(jobs)]:
        if line.startswith('ERR'):
            res.append(line)
        else:
            res.append([int(x) for x in line.split(',')] if line else [])
    assert len(res) == len(jobs), (len(res), len(jobs))
    return res


# ---------------------------------------------------------------------------------------------
# Python `regex` cross-check: unicode_regex_split's sequencing, with Python's own classes

def py_split(regexes, text):
    import regex
    pieces = [text]
    for r in regexes:
        pat = regex.compile(r)
        nxt = []
        for p in pieces:
            last = 0
            for m in pat.finditer(p):
                if m.start() > last:
                    nxt.append(p[last:m.start()])
                nxt.append(m.group(0))
                last = m.end()
            if last < len(p):
                nxt.append(p[last:])
        pieces = nxt
    return [len(w.encode('utf-8')) for w in pieces]


# ---------------------------------------------------------------------------------------------
# texts

def vocab_texts():
    texts = []
    seen = set()
    for f in sorted(glob.glob(os.path.join(ROOT, 'tests', 'fixtures', 'vocab', 'ggml-vocab-*.gguf.inp'))):
        raw = open(f, encoding='utf-8').read().split('\n__ggml_vocab_test__\n')
        if raw and raw[-1].endswith('\n__ggml_vocab_test__'):
            raw[-1] = raw[-1][:-len('\n__ggml_vocab_test__')]
        for t in raw:
            if t not in seen:
                seen.add(t)
                texts.append(t)
    return texts


CORNER = [
    '', ' ', '  ', '\n', '\r\n', ' \n', '\n ', 'a', ' a', '  a', '   a', '\ta', '\t\ta', ' \ta', '\u00a0a',
    '\u3000a', 'a  ', 'a \n b', 'a\u00a0\u00a0b', "'s", "'S", "'ll", "'LL", "'lL", "'x", "' s", "''s", "a's",
    "it's", "IT'S", "we'Re", "'", "''", "'re'", "don't'", 'x\'\u0130', "'\u212a", 'a\u2019s',
    '1', '12', '123', '1234', '1234567', '12345678901', ' 1234', 'a1234b', '\u0661\u0662\u0663\u0664',
    '\u00bd\u00bd\u00bd\u00bd', '\u2160\u2161\u2162\u2163', '①②③④⑤', '１２３４',
    '!!!', ' !!!', '!!!\n\n', ' !!!\r\n\r\n x', '$$$', '+=-', '<=>', '^^', '``', '||', '~~', '...', '…',
    '。', '，', '、', 'a.b', 'a,b!c?d', '(a|b)', '“quoted”', '‘x’', '—', '\u3000\u3000x', '　。', '！？',
    '\r', '\r\r', '\r \r', ' \r\n ', '\n\n\n', '\t\n\t', 'a\n\n\nb', 'a \n\n b', '  \n  ', ' \u00a0\n',
    '\x00', '\x01\x02', '\x1c\x1d\x1e\x1f', 'a\x1fb', '\x7f', '\x85', 'a\x85b', '\u0085\u0085', '\u200b',
    '\ufeff', '\u180e', '\u2028', '\u2029', '\u202f', '\u205f', '\u1680', '\u2000\u200a',
    '\ufffd', '\ue000', '\U000f0000', '\U0010fffd', '\u0378', '\U000e0001', '\U000e0100',
    'é', 'e\u0301', 'e\u0301\u0301', '\u0301', ' \u0301', '\u0301a', 'a\u0301b', 'ñandú', 'Ǆ', 'ǅ',
    'Ελληνικά', 'Русский текст', 'עברית', 'العربية', 'हिन्दी', 'ภาษาไทย', 'ქართული', 'Հայերեն',
    '中文', '中文字符', '日本語のテキスト', 'カタカナ', 'ひらがな', '한국어', 'ㄱㄴㄷ', '한글 abc', '中a文',
    '🦙', '🦙🦙', ' 🦙', '👨\u200d👩\u200d👧', '🇺🇸', '👍🏽', '😀 😃', 'a🦙b', '𝔘𝔫𝔦', '𐐀𐐨', '𠀀𠀁',
    '\U0002a700', '\U0002ebe0', '\U0002f800', 'ＡＢＣ', 'ａｂｃ', 'Ａ！', 'µ', 'ƻ', 'ʔ', 'K', 'Ω', 'ℇ',
    'x\u0300y', 'ǀ', 'ᵃ', 'ª', 'º', '̀', 'a-b_c', 'snake_case', 'CamelCase', 'HTTPServer', 'iPhone',
    'l\'Hôpital', 'Ünïcödé', 'ÀÖØöøƺ', 'Ωmega', 'ǅemal', 'ſt', 'ﬀ', '\U0001e900',
    'a/b', 'a//b', '/*x*/', '<|im_start|>', '<s>', '</s>', '[INST]', '@user', '#tag', 'e-mail@x.com',
    'http://example.com/a?b=c&d=e', 'C:\\path\\to', '1,234.56', '3.14159', '-42', '+1', '1e10', '0x1F',
    '<sentinel:12>', '<sentinel:>', '<sentinel:1x>', 'a<sentinel:0>b', 'IMGIMGABCDZ', 'IMGIMGABCDEZ', 'IMGIMGZ',
    'xIMGIMGAZy', 'IMGIMGIZIMGIMGJZ', '  \t\n    x', '     ', ' ' * 600 + 'x', ' ' * 513, ' ' * 1000,
    '\u3000' * 300 + 'a', ' ' * 17 + '\n', 'x' + ' ' * 64 + 'y', 'MixedCASEWords', 'ÉCOLE école', 'ΑΒΓδεζ',
    'A\u0301B\u0301c', 'HELLOworld', 'helloWORLD', "DON'T", "Don't", "I'M", 'x/\n/y', 'a!/\n\nb', '12345678',
    'abc1234', 'a 1234567 b', '١٢٣٤٥', 'ภาษาไทย ๑๒๓', '한국어 ㄅㄆ 中文！', 'ｶﾀｶﾅ', '⼀⼁', 'ꩠꩡ', 'ꧠꧡ',
]

CODE = [
    'def main(argv):\n    for i, x in enumerate(argv[1:]):\n        print(f"{i:>3}: {x!r}")\n    return 0\n',
    'if __name__ == "__main__":\n\tsys.exit(main(sys.argv))\n',
    'class Foo(Bar):\n    """Doc string."""\n\n    def __init__(self, *args, **kw):\n        super().__init__(*args)\n        self.x = kw.get(\'x\', 1_000_000)\n',
    'x = [i ** 2 for i in range(10) if i % 3 != 0]  # squares\r\ny = {k: v for k, v in zip("abc", (1, 2, 3))}\n',
    'fn main() {\n    let v: Vec<u32> = (0..100).map(|x| x * 2).collect();\n    println!("{:?}", &v[..3]);\n}\n',
    'impl<\'a, T: Clone + \'static> Iterator for Iter<\'a, T> {\n    type Item = &\'a T;\n    fn next(&mut self) -> Option<Self::Item> { self.inner.next() }\n}\n',
    '#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub struct Range { pub start: usize, pub end: usize }\n',
    'match x {\n    Some(ref y) if *y > 0 => y.to_string(),\n    _ => String::new(),\n}\n\n\n',
    '    \n        \n\t\t\n  // comment\n/* block */ let s = "it\'s \\"quoted\\"\\n";\n',
    'SELECT id, name FROM users WHERE age >= 18 AND name LIKE \'%a%\';\n',
    '<div class="x">&nbsp;Hello&amp;bye</div>\n',
    '    return a+b;  \n}  \n',
    'int main(int argc, char **argv) { return argc > 1 ? atoi(argv[1]) : -1; }\n',
    '$ cargo test --lib tokenizer:: 2>&1 | tail -n 20\n',
    '```python\nprint("héllo 世界 🦙")\n```\n',
]


def nonsurrogate(cp):
    return chr(cp) if not 0xD800 <= cp < 0xE000 else '\ufffd'


def rand_text(rng, n_parts):
    pools = [
        lambda: rng.choice(['the', 'The', 'THE', 'quick', 'brown', 'fox', 'Hello', 'world', 'llama', 'a', 'I',
                            'x', 'foo', 'BAR', 'café', 'naïve', 'Straße', 'İstanbul', 'ǅ', 'Ω']),
        lambda: ''.join(rng.choice('0123456789') for _ in range(rng.randint(1, 12))),
        lambda: rng.choice([' ', '  ', '   ', '    ', '\t', '\t\t', '\n', '\n\n', '\r\n', '\r', ' \n', '\n ',
                            '\u00a0', '\u3000', '\u2009', '\u0085', '\u2028', '\u1680', ' \t ', '\x0b', '\x0c',
                            ' ' * rng.randint(5, 20), '\n' * rng.randint(3, 6)]),
        lambda: rng.choice(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'Re", "'", "''", '’s', "'x"]),
        lambda: ''.join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(1, 4))),
        lambda: ''.join(chr(rng.choice([rng.randint(0x3041, 0x3096), rng.randint(0x30A1, 0x30FA),
                                        rng.randint(0xAC00, 0xD7A3), rng.randint(0x3131, 0x318E),
                                        rng.randint(0x3105, 0x312F), rng.randint(0x3400, 0x4DBF),
                                        rng.randint(0x0800, 0x0FFF), rng.randint(0xF900, 0xFAFF)]))
                        for _ in range(rng.randint(1, 4))),
        lambda: rng.choice(['🦙', '😀', '🎉', '👍🏽', '👨\u200d👩\u200d👧', '🇯🇵', '❤️', '✨', '🤖', '\U0001f9d1\u200d\U0001f4bb']),
        lambda: rng.choice(['é', 'è', 'ñ', 'ü', 'ø', 'å', 'ç', 'e\u0301', 'a\u0308', 'o\u0302\u0323', '\u0301',
                            '\u0327', 'Å', 'Ǆ', 'ǈ', 'ß', 'ẞ', 'ı', 'İ', 'ﬁ']),
        lambda: rng.choice(['αβγ', 'ΑΒΓ', 'привет', 'ПРИВЕТ', 'שלום', 'مرحبا', 'नमस्ते', 'สวัสดี', 'გამარჯობა',
                            'Բարեւ', 'ᏣᎳᎩ', 'ⰀⰁ', '𝔘𝔫𝔦', '𐐀𐐨', 'ᚠᛇᚻ', 'ܐܒ', 'ދިވެހި', 'ꦗꦮ', 'Ꙁꙁ']),
        lambda: ''.join(rng.choice('!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~') for _ in range(rng.randint(1, 4))),
        lambda: rng.choice(['…', '。', '，', '、', '！', '？', '：', '“', '”', '‘', '’', '—', '–', '·', '¿', '¡',
                            '«', '»', '§', '¶', '†', '€', '£', '¥', '©', '®', '°', '±', '×', '÷', '→', '∑',
                            '√', '∞', '≠', '≤', '＄', '＋', '｜', '～', '‟', '〜', '〆', '〿', '︰', '﹏', '।', '۔', '،']),
        lambda: rng.choice(['٣٤٥', '४२', '½', '¾', 'Ⅻ', 'ⅻ', '①', '⑳', '１２', '𝟘𝟙', '߁', '᪐', '〇', '²', '³']),
        lambda: chr(rng.choice([0, 1, 7, 8, 0x1b, 0x1c, 0x1f, 0x7f, 0x80, 0x9f, 0xad, 0x200b, 0x200e, 0xfeff,
                                0x180e, 0x2060, 0xfffd, 0xe000, 0xf8ff, 0x0378, 0x0e0001, 0x0e0100, 0x0f0000,
                                0x10fffd, 0x2fffe, 0x1d173])),
        lambda: chr(rng.randint(0x80, 0x2FFF)),
        lambda: nonsurrogate(rng.randint(0x80, 0x10FFFF)) if rng.random() < 0.5 else chr(rng.randint(0x10000, 0x3FFFF)),
        lambda: rng.choice(['=>', '->', '::', '&&', '||', '!=', '==', '+=', '//', '/*', '*/', '#!', '{{', '}}',
                            '()', '[]', '<>', '...', '..=', '?;', "b'x'", 'r"raw"', '\\n', '\\\\']),
    ]
    weights = [10, 5, 9, 4, 3, 3, 2, 3, 2, 4, 2, 2, 1, 2, 1, 2]
    parts = [rng.choices(pools, weights)[0]() for _ in range(n_parts)]
    if rng.random() < 0.5:
        return ''.join(parts)
    return ''.join(p + rng.choice(['', ' ', ' ', '  ', '\n']) for p in parts)


def random_texts(seed, n):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.choice([1, 2, 3, 4, 6, 8, 12, 16, 24])
        if i % 50 == 49:
            k = 120  # a few long ones
        out.append(rand_text(rng, k))
    return out


def small_alphabet_texts(seed, n):
    """Short strings over a few code points that hit the splitters' corner cases."""
    rng = random.Random(seed)
    alphabet = [' ', ' ', '\t', '\n', '\r', '\u00a0', '\u3000', '\u0085', 'a', 'A', 's', 'S', 'l', 'L', 'e', 'r',
                'v', 'd', '1', '\u0663', '\u00bd', "'", "'", '!', '.', '`', '$', '+', '_', '\u0301', '\u4e2d',
                '\u30a2', '\uac00', '\u2026', '\u3002', '\U0001f999', '\x00', '\x1f', '\u200b', '\u0130',
                '\u212a', '\u00b5', '\u0100', '\u3001', '\uff01', '\u2018', '/', 'Z', 'I', 'IMGIMG',
                '<sentinel:', '>', '\u0e01', '\u3105', '\uac01', '\u3131', '\u00e9', '\u00c9', '    ']
    return [''.join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) for _ in range(n)]


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--llama', default=DEFAULT_LLAMA)
    ap.add_argument('--out', default=os.path.join(ROOT, 'tests', 'fixtures', 'pretok', 'splits.txt'))
    ap.add_argument('--names', default=os.path.join(ROOT, 'tests', 'fixtures', 'pretok', 'names.txt'))
    ap.add_argument('--random', type=int, default=300)
    ap.add_argument('--fuzz', type=int, default=0)
    ap.add_argument('--seed', type=int, default=20240611)
    ap.add_argument('--all', action='store_true', help='fuzz every pre-tokenizer llama.cpp has')
    args = ap.parse_args()

    groups, names = parse_vocab(args.llama)
    for p in SUPPORTED:
        assert p in groups, p
    exe = build_harness(args.llama, groups)

    # representative of each PRE_TYPE: the SUPPORTED one with the same regex list
    rep = {}
    for p, lits in groups.items():
        for q, n in SUPPORTED.items():
            if groups[q] == lits:
                rep[p] = n
                break

    if args.fuzz:
        rust = build_driver()
        texts = random_texts(args.seed + 1, args.fuzz) + small_alphabet_texts(args.seed + 2, args.fuzz)
        pres = sorted(groups) if args.all else list(SUPPORTED)
        jobs = [(p, t) for p in pres for t in texts]
        ref = run_splitter(exe, jobs)
        rjobs = [(rep.get(p, p), t) for p, t in jobs]
        got = run_splitter(rust, rjobs)
        bad = {}
        for (p, t), a, b in zip(jobs, ref, got):
            if a != b:
                bad.setdefault(p, []).append((t, a, b))
        for p in pres:
            print(f'{p:16} {len(bad.get(p, [])):5} mismatches / {len(texts)}')
        for p, lst in bad.items():
            for t, a, b in lst[:3]:
                print(p, repr(t), a, b)
        sys.exit(1 if bad else 0)

    texts = vocab_texts() + CORNER + CODE + random_texts(args.seed, args.random)
    uniq = []
    seen = set()
    for t in texts:
        if t not in seen:
            seen.add(t)
            uniq.append(t)
    texts = uniq

    order = list(SUPPORTED.items())
    jobs = [(p, t) for p, _ in order for t in texts]
    ref = run_splitter(exe, jobs)

    lines = ['# Pre-tokenizer reference splits from llama.cpp 0c1e570 unicode_regex_split (byte_encode=false),',
             '# generated by scripts/unicode/make_pretok_goldens.py; see that script for the format.']
    for i, t in enumerate(texts):
        lines.append(f'T\t{i}\t{t.encode("utf-8").hex()}')
    try:
        import regex  # noqa: F401
        have_regex = True
    except ImportError:
        have_regex = False
        print('warning: Python `regex` not installed, no cross-check')
    k = 0
    per_text = [dict() for _ in texts]  # text index -> {word lengths: [names]}
    for p, name in order:
        decoded = [cpp_unescape(x) for x in groups[p]]
        diff = 0
        for i, t in enumerate(texts):
            r = ref[k]
            k += 1
            if isinstance(r, str):
                # llama.cpp throws: kimi-k2 and afmoe on an empty text (their std::regex fallback
                # cannot compile `\\p{Han}+` / `\\p{AFMoE_digits}`). No reference for that case.
                print(f'  {name} {t!r}: llama.cpp {r}; case left out')
                continue
            assert sum(r) == len(t.encode('utf-8')), (p, t, r)
            per_text[i].setdefault(tuple(r), []).append(name)
            if have_regex:
                try:
                    if py_split(decoded, t) != r:
                        diff += 1
                except Exception:
                    diff += 1
        print(f'{name:16} {len(texts)} texts; Python regex disagrees with llama.cpp on {diff}')
    for i, splits in enumerate(per_text):
        for r, names_ in splits.items():
            lines.append(f'S\t{",".join(names_)}\t{i}\t{",".join(map(str, r))}')
    open(args.out, 'w', encoding='utf-8').write('\n'.join(lines) + '\n')
    print(args.out, os.path.getsize(args.out), 'bytes')

    with open(args.names, 'w', encoding='utf-8') as f:
        f.write('# tokenizer.ggml.pre name <TAB> representative name of the same llama.cpp regex list, or - if\n')
        f.write('# that list is not covered by splits.txt. Generated by make_pretok_goldens.py.\n')
        for n in sorted(names):
            f.write(f'{n}\t{rep.get(names[n], "-")}\n')
    print(args.names)


if __name__ == '__main__':
    main()
