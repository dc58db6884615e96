//! Pre-tokenizers of byte-level BPE vocabularies: how llama.cpp cuts a text into words before BPE.
//!
//! llama.cpp picks a list of regexes from the vocabulary's `tokenizer.ggml.pre` and applies them
//! in sequence with `unicode_regex_split`: the first regex cuts the text into pieces (its matches
//! and, as pieces too, the unmatched text between them), each next regex cuts every piece of the
//! previous one the same way. Some regexes run through hand-written splitters
//! (`unicode_regex_split_custom_gpt2`, `..._llama3`, `..._qwen2`, ...), which differ from the
//! regex in corner cases; the others run through `std::regex` over a "collapsed" text where every
//! non-ASCII code point is replaced by one byte standing for its category (so, for example,
//! `[^a-z]` matches every non-ASCII letter, and `\s` matches exactly llama.cpp's whitespace set).
//!
//! This module has no regex engine: each regex is a small hand-written matcher that reproduces
//! what llama.cpp produces (the hand-written splitters are ported line by line; the `std::regex`
//! ones follow ECMAScript's leftmost, first-alternative semantics over the collapsed classes).
//! All of it runs in time linear in the text, allocates nothing per word, and never panics.
//! The reference splits in `tests/fixtures/pretok/splits.txt` come from llama.cpp's own
//! `unicode_regex_split` (see `scripts/unicode/make_pretok_goldens.py`).
//!
//! The supported `tokenizer.ggml.pre` names are listed on [`PreTokenizer::from_name`]. As in
//! llama.cpp, the text to split is one fragment left between special tokens (each fragment is
//! split on its own), after any normalization the vocabulary asks for.

use alloc::vec::Vec;
use core::cell::Cell;
use core::ops::Range;

use super::unicode::{self, Flags};

/// A byte-level BPE pre-tokenizer: one of llama.cpp's regex lists (`llm_tokenizer_bpe`).
///
/// Each variant stands for every `tokenizer.ggml.pre` name to which llama.cpp gives the same
/// regex list (see [`PreTokenizer::from_name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PreTokenizer {
    /// llama.cpp's default (`LLAMA_VOCAB_PRE_TYPE_DEFAULT`, also used when the name is missing):
    /// punctuation runs, then the GPT-2 regex, then number runs, then groups of three ASCII digits.
    Default,
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
    /// (llama.cpp's hand-written splitter, which also matches `\s+`).
    Gpt2,
    /// Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` (hand-written splitter).
    Llama3,
    /// Qwen2: as [`PreTokenizer::Llama3`] with single digits (`\p{N}`).
    Qwen2,
    /// Qwen3.5: as [`PreTokenizer::Qwen2`] with combining marks joining letters
    /// (`[\p{L}\p{M}]+`).
    Qwen35,
    /// StarCoder: every number code point alone (`\p{N}`), then the GPT-2 regex.
    Starcoder,
    /// DeepSeek Coder: `[\r\n]`, `\s?\p{L}+`, `\s?\p{P}+`, CJK runs, `\p{N}`.
    DeepseekCoder,
    /// DeepSeek LLM: `[\r\n]`, `\s?` + Latin/Greek/Cyrillic/... letter runs, `\s?` + punctuation
    /// runs, trailing whitespace, CJK runs, `\p{N}+`.
    DeepseekLlm,
    /// DeepSeek V3: `\p{N}{1,3}`, CJK/kana runs, then a GPT-4-like regex over letters, marks,
    /// punctuation and symbols.
    Deepseek3,
    /// Falcon: punctuation runs, the GPT-2 regex, groups of three ASCII digits.
    Falcon,
    /// Kimi K2: Han runs, letter words with their contraction, `\p{N}{1,3}`, ... (hand-written
    /// splitter).
    KimiK2,
    /// BLOOM: ` ?[^(\s|.,!?…。，、।۔،)]+`.
    Bloom,
    /// Viking: as [`PreTokenizer::Bloom`], then every number code point alone.
    Viking,
    /// Laguna: lines and newline runs, then the [`PreTokenizer::Qwen2`] splitter.
    Laguna,
    /// Tekken (Mistral): GPT-4o-like words split at case changes
    /// (`[^\r\n\p{L}\p{N}]?[upper]*[lower]+|...`), single digits, no contractions.
    Tekken,
    /// GPT-4o (Llama 4, MiniMax M2, ...): as [`PreTokenizer::Tekken`] with contractions and
    /// `\p{N}{1,3}`.
    Gpt4o,
    /// Granite multilingual embedding (97M): as [`PreTokenizer::Gpt4o`] with combining marks
    /// joining letters.
    GraniteEmbMulti,
    /// Seed-Coder: a Llama-3-like regex (through `std::regex`) with single digits.
    SeedCoder,
    /// Ufakzeka: the Qwen2 regex without contractions (through `std::regex`).
    Ufakzeka,
    /// MiniCPM5: `\p{N}{1,3}`, then a Llama-3-like regex with `\p{N}+`.
    Minicpm5,
    /// Bailing MoE (Ling): a Qwen2-like regex (through `std::regex`).
    Bailingmoe,
    /// EXAONE MoE: a Qwen2-like regex whose words may hold single spaces between letters.
    ExaoneMoe,
    /// Jais 2: the Llama 3 regex (through `std::regex`) with whitespace cut into runs of 512,
    /// 256, ..., 4, 2 or 1.
    Jais2,
    /// Tiny Aya (Cohere): digit runs grouped by three from the right, then a GPT-4o-like regex.
    TinyAya,
    /// AfMoE: digit runs grouped by three from the right, CJK and other Asian script runs, then
    /// the third regex of [`PreTokenizer::Deepseek3`].
    Afmoe,
    /// Spark 2.5: as [`PreTokenizer::Deepseek3`] with newlines alone and single digits.
    Spark25,
    /// Youtu: Hangul, CJK punctuation, Bopomofo and CJK/kana runs, then a GPT-4o-like regex with
    /// single digits.
    Youtu,
    /// Chameleon: sentinel and image tokens, tabs/newlines/space pairs, single digits, single
    /// punctuation, then the GPT-2 regex.
    Chameleon,
    /// Lines and newline runs only (`[^\n]+|[\n]+`): Gemma 4, Sarvam MoE. Not byte-encoded
    /// (see [`PreTokenizer::byte_encode`]); llama.cpp also escapes spaces as U+2581 first.
    Newlines,
    /// Runs of non-whitespace (`\S+`), the whitespace between them as pieces too. Not
    /// byte-encoded (see [`PreTokenizer::byte_encode`]).
    Whitespace,
}

impl PreTokenizer {
    /// Every supported pre-tokenizer.
    pub const ALL: [PreTokenizer; 30] = [
        PreTokenizer::Default,
        PreTokenizer::Gpt2,
        PreTokenizer::Llama3,
        PreTokenizer::Qwen2,
        PreTokenizer::Qwen35,
        PreTokenizer::Starcoder,
        PreTokenizer::DeepseekCoder,
        PreTokenizer::DeepseekLlm,
        PreTokenizer::Deepseek3,
        PreTokenizer::Falcon,
        PreTokenizer::KimiK2,
        PreTokenizer::Bloom,
        PreTokenizer::Viking,
        PreTokenizer::Laguna,
        PreTokenizer::Tekken,
        PreTokenizer::Gpt4o,
        PreTokenizer::GraniteEmbMulti,
        PreTokenizer::SeedCoder,
        PreTokenizer::Ufakzeka,
        PreTokenizer::Minicpm5,
        PreTokenizer::Bailingmoe,
        PreTokenizer::ExaoneMoe,
        PreTokenizer::Jais2,
        PreTokenizer::TinyAya,
        PreTokenizer::Afmoe,
        PreTokenizer::Spark25,
        PreTokenizer::Youtu,
        PreTokenizer::Chameleon,
        PreTokenizer::Newlines,
        PreTokenizer::Whitespace,
    ];

    /// The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` value, or `None` where llama.cpp
    /// uses a regex list this module does not implement (or rejects the name).
    ///
    /// | variant | names |
    /// |---|---|
    /// | `Default` | `""` (key missing), `default` |
    /// | `Gpt2` | `gpt-2`, `phi-2`, `jina-es`, `jina-de`, `gigachat`, `jina-v2-es`, `jina-v2-de`, `a.x-4.0`, `mellum`, `modern-bert`, `jina-v1-en`, `jina-v2-code`, `roberta-bpe`, `exaone4`, `mpt`, `olmo`, `jais`, `trillion`, `granite-docling` |
    /// | `Llama3` | `llama3`, `llama-v3`, `llama-bpe`, `falcon3`, `falcon-h1`, `pixtral`, `midm-2.0`, `lfm2`, `jina-v5-nano`, `dbrx`, `smaug-bpe`, `chatglm-bpe`, `glm4`, `glm5` |
    /// | `Qwen2` | `qwen2`, `deepseek-r1-qwen`, `kormo`, `f2llmv2`, `megrez`, `stablelm2`, `hunyuan`, `solar-open`, `grok-2` |
    /// | `Qwen35` | `qwen35` |
    /// | `Starcoder` | `starcoder`, `refact`, `command-r`, `smollm`, `codeshell`, `exaone`, `minerva-7b`, `mellum2` |
    /// | `DeepseekCoder` | `deepseek-coder` |
    /// | `DeepseekLlm` | `deepseek-llm` |
    /// | `Deepseek3` | `deepseek-v3`, `hunyuan-dense`, `joyai-llm`, `hy_v4` |
    /// | `Falcon` | `falcon` |
    /// | `KimiK2` | `kimi-k2` |
    /// | `Bloom` | `bloom`, `poro-chat`, `gpt3-finnish` |
    /// | `Viking` | `viking` |
    /// | `Laguna` | `laguna` |
    /// | `Tekken` | `tekken` |
    /// | `Gpt4o` | `gpt-4o`, `llama4`, `kanana2`, `talkie`, `minimax-m2` |
    /// | `GraniteEmbMulti` | `granite-embed-multi-97m` |
    /// | `SeedCoder` | `seed-coder` |
    /// | `Ufakzeka` | `ufakzeka` |
    /// | `Minicpm5` | `minicpm5` |
    /// | `Bailingmoe` | `bailingmoe`, `bailingmoe2`, `llada-moe` |
    /// | `ExaoneMoe` | `exaone-moe` |
    /// | `Jais2` | `jais-2` |
    /// | `TinyAya` | `tiny_aya`, `cohere2moe` |
    /// | `Afmoe` | `afmoe` |
    /// | `Spark25` | `spark2_5` |
    /// | `Youtu` | `youtu` |
    /// | `Chameleon` | `chameleon` |
    /// | `Newlines` | `gemma4`, `granite-embed-multi-311m`, `sarvam-moe` |
    /// | `Whitespace` | `whitespace` |
    ///
    /// Not implemented (`None`): `superbpe` (its second regex matches empty strings, which
    /// llama.cpp turns into empty words). Any other name is unknown to llama.cpp too, which then
    /// refuses to load the vocabulary; note that `gpt2` is such a name (GPT-2's is `gpt-2`).
    pub fn from_name(pre: &str) -> Option<PreTokenizer> {
        use PreTokenizer::*;
        Some(match pre {
            "" | "default" => Default,
            "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
            | "jina-v2-de" | "a.x-4.0" | "mellum" | "modern-bert" | "jina-v1-en"
            | "jina-v2-code" | "roberta-bpe" | "exaone4" | "mpt" | "olmo" | "jais" | "trillion"
            | "granite-docling" => Gpt2,
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral"
            | "midm-2.0" | "lfm2" | "jina-v5-nano" | "dbrx" | "smaug-bpe" | "chatglm-bpe"
            | "glm4" | "glm5" => Llama3,
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" | "stablelm2"
            | "hunyuan" | "solar-open" | "grok-2" => Qwen2,
            "qwen35" => Qwen35,
            "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone"
            | "minerva-7b" | "mellum2" => Starcoder,
            "deepseek-coder" => DeepseekCoder,
            "deepseek-llm" => DeepseekLlm,
            "deepseek-v3" | "hunyuan-dense" | "joyai-llm" | "hy_v4" => Deepseek3,
            "falcon" => Falcon,
            "kimi-k2" => KimiK2,
            "bloom" | "poro-chat" | "gpt3-finnish" => Bloom,
            "viking" => Viking,
            "laguna" => Laguna,
            "tekken" => Tekken,
            "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => Gpt4o,
            "granite-embed-multi-97m" => GraniteEmbMulti,
            "seed-coder" => SeedCoder,
            "ufakzeka" => Ufakzeka,
            "minicpm5" => Minicpm5,
            "bailingmoe" | "bailingmoe2" | "llada-moe" => Bailingmoe,
            "exaone-moe" => ExaoneMoe,
            "jais-2" => Jais2,
            "tiny_aya" | "cohere2moe" => TinyAya,
            "afmoe" => Afmoe,
            "spark2_5" => Spark25,
            "youtu" => Youtu,
            "chameleon" => Chameleon,
            "gemma4" | "granite-embed-multi-311m" | "sarvam-moe" => Newlines,
            "whitespace" => Whitespace,
            _ => return None,
        })
    }

    /// A `tokenizer.ggml.pre` name that selects this pre-tokenizer.
    pub fn name(self) -> &'static str {
        match self {
            PreTokenizer::Default => "default",
            PreTokenizer::Gpt2 => "gpt-2",
            PreTokenizer::Llama3 => "llama-bpe",
            PreTokenizer::Qwen2 => "qwen2",
            PreTokenizer::Qwen35 => "qwen35",
            PreTokenizer::Starcoder => "starcoder",
            PreTokenizer::DeepseekCoder => "deepseek-coder",
            PreTokenizer::DeepseekLlm => "deepseek-llm",
            PreTokenizer::Deepseek3 => "deepseek-v3",
            PreTokenizer::Falcon => "falcon",
            PreTokenizer::KimiK2 => "kimi-k2",
            PreTokenizer::Bloom => "bloom",
            PreTokenizer::Viking => "viking",
            PreTokenizer::Laguna => "laguna",
            PreTokenizer::Tekken => "tekken",
            PreTokenizer::Gpt4o => "gpt-4o",
            PreTokenizer::GraniteEmbMulti => "granite-embed-multi-97m",
            PreTokenizer::SeedCoder => "seed-coder",
            PreTokenizer::Ufakzeka => "ufakzeka",
            PreTokenizer::Minicpm5 => "minicpm5",
            PreTokenizer::Bailingmoe => "bailingmoe",
            PreTokenizer::ExaoneMoe => "exaone-moe",
            PreTokenizer::Jais2 => "jais-2",
            PreTokenizer::TinyAya => "tiny_aya",
            PreTokenizer::Afmoe => "afmoe",
            PreTokenizer::Spark25 => "spark2_5",
            PreTokenizer::Youtu => "youtu",
            PreTokenizer::Chameleon => "chameleon",
            PreTokenizer::Newlines => "gemma4",
            PreTokenizer::Whitespace => "whitespace",
        }
    }

    /// Whether llama.cpp maps the bytes of each word to GPT-2's printable characters before BPE
    /// (`llm_tokenizer_bpe::byte_encode`): true except for [`PreTokenizer::Newlines`] and
    /// [`PreTokenizer::Whitespace`], whose vocabularies hold raw UTF-8.
    pub fn byte_encode(self) -> bool {
        !matches!(self, PreTokenizer::Newlines | PreTokenizer::Whitespace)
    }

    /// Splits `text` into words: clears `out`, then fills it with the byte ranges of the words, in
    /// order. The words are contiguous and cover the whole text (an empty text has no word); each
    /// range is non-empty and starts and ends on a `char` boundary. They are exactly the words of
    /// llama.cpp's `unicode_regex_split(text, regex_exprs)` before its byte-to-unicode mapping.
    ///
    /// (One difference: for an empty text, llama.cpp's Kimi K2 and AfMoE pre-tokenizers fall back
    /// to `std::regex` on `\p{Han}+` / `\p{AFMoE_digits}`, which throws; here they give no word.)
    pub fn split(&self, text: &str, out: &mut Vec<Range<usize>>) {
        out.clear();
        self.for_each_word(text, |r| out.push(r));
    }

    /// Calls `f` with the byte range of every word of `text`, in order, without allocating (see
    /// [`PreTokenizer::split`]).
    pub fn for_each_word<F: FnMut(Range<usize>)>(&self, text: &str, mut f: F) {
        let s = text.as_bytes();
        if s.is_empty() {
            return;
        }
        run(s, self.stages(), 0, s.len(), &mut |a, b| f(a..b));
    }

    fn stages(self) -> &'static [Stage] {
        use Stage::*;
        match self {
            PreTokenizer::Default => &[Runs(is_default_punct), Gpt2, Runs(c_number), AsciiDigits3],
            PreTokenizer::Gpt2 => &[Gpt2],
            PreTokenizer::Llama3 => &[Llama3],
            PreTokenizer::Qwen2 => &[Qwen2],
            PreTokenizer::Qwen35 => &[Qwen35],
            PreTokenizer::Starcoder => &[Singles(c_number), Gpt2],
            PreTokenizer::DeepseekCoder => &[
                Singles(is_cr_or_lf),
                WsOptRuns(c_letter),
                WsOptRuns(c_punct),
                Runs(is_deepseek_cjk),
                Singles(c_number),
            ],
            PreTokenizer::DeepseekLlm => &[
                Singles(is_cr_or_lf),
                WsOptRuns(is_deepseek_llm_letter),
                WsOptRuns(is_deepseek_llm_punct),
                TrailingWs,
                Runs(is_deepseek_cjk),
                Runs(c_number),
            ],
            PreTokenizer::Deepseek3 => &[
                Groups3(c_number),
                Runs(is_deepseek3_cjk),
                Regex(match_deepseek3),
            ],
            PreTokenizer::Falcon => &[Runs(is_falcon_punct), Gpt2, AsciiDigits3],
            PreTokenizer::KimiK2 => &[KimiK2],
            PreTokenizer::Bloom => &[Regex(match_bloom)],
            PreTokenizer::Viking => &[Regex(match_bloom), Singles(c_number)],
            PreTokenizer::Laguna => &[Newlines, Qwen2],
            PreTokenizer::Tekken => &[Regex(match_tekken)],
            PreTokenizer::Gpt4o => &[Regex(match_gpt4o)],
            PreTokenizer::GraniteEmbMulti => &[Regex(match_granite_emb_multi)],
            PreTokenizer::SeedCoder => &[Regex(match_seed_coder)],
            PreTokenizer::Ufakzeka => &[Regex(match_ufakzeka)],
            PreTokenizer::Minicpm5 => &[Groups3(c_number), Regex(match_minicpm5)],
            PreTokenizer::Bailingmoe => &[Regex(match_bailingmoe)],
            PreTokenizer::ExaoneMoe => &[Regex(match_exaone_moe)],
            PreTokenizer::Jais2 => &[Jais2],
            PreTokenizer::TinyAya => &[DigitsFromRight, Regex(match_tiny_aya)],
            PreTokenizer::Afmoe => &[DigitsFromRight, Runs(is_afmoe_cjk), Regex(match_deepseek3)],
            PreTokenizer::Spark25 => &[
                Groups3(c_number),
                Runs(is_deepseek3_cjk),
                Regex(match_spark25),
                Singles(c_number),
            ],
            PreTokenizer::Youtu => &[Regex(match_youtu_scripts), Regex(match_youtu)],
            PreTokenizer::Chameleon => &[
                Regex(match_chameleon_sentinel),
                Regex(match_chameleon_image),
                Regex(match_chameleon_spaces),
                Singles(c_number),
                Singles(is_chameleon_punct),
                Gpt2,
            ],
            PreTokenizer::Newlines => &[Newlines],
            PreTokenizer::Whitespace => &[Runs(is_not_whitespace)],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The pipeline

/// Receives the byte range `[start, end)` of each piece.
type Emit<'e> = &'e mut dyn FnMut(usize, usize);

/// One regex of a list.
#[derive(Clone, Copy)]
enum Stage {
    /// llama.cpp `unicode_regex_split_custom_gpt2`.
    Gpt2,
    /// llama.cpp `unicode_regex_split_custom_llama3`.
    Llama3,
    /// llama.cpp `unicode_regex_split_custom_qwen2`.
    Qwen2,
    /// llama.cpp `unicode_regex_split_custom_qwen35`.
    Qwen35,
    /// llama.cpp `unicode_regex_split_custom_kimi_k2`.
    KimiK2,
    /// llama.cpp `unicode_regex_split_custom_newlines` (`[^\n]+|[\n]+`).
    Newlines,
    /// llama.cpp `unicode_regex_split_custom_afmoe` (for `\p{AFMoE_digits}` and
    /// `\d{1,3}(?=(?:\d{3})*\b)`).
    DigitsFromRight,
    /// The jais-2 regex through `std::regex` (see [`match_jais2`]).
    Jais2,
    /// `[C]+` through `std::regex`.
    Runs(fn(u32) -> bool),
    /// `[C]` through `std::regex`: each such code point alone.
    Singles(fn(u32) -> bool),
    /// `\s?[C]+` through `std::regex`.
    WsOptRuns(fn(u32) -> bool),
    /// `[C]{1,3}` through `std::regex`.
    Groups3(fn(u32) -> bool),
    /// `[0-9][0-9][0-9]` through `std::regex`.
    AsciiDigits3,
    /// `\s+$` through `std::regex` (`$`: the end of the piece).
    TrailingWs,
    /// Any other regex through `std::regex`: the end of its match at a position, if any.
    Regex(fn(&[u8], usize, usize) -> Option<usize>),
}

/// Applies `stages` to the piece `[a, b)` of `s`, passing the final pieces to `emit`.
fn run(s: &[u8], stages: &[Stage], a: usize, b: usize, emit: Emit) {
    match stages.split_first() {
        None => emit(a, b),
        Some((stage, [])) => stage.apply(s, a, b, emit),
        Some((stage, rest)) => stage.apply(s, a, b, &mut |x, y| run(s, rest, x, y, emit)),
    }
}

impl Stage {
    fn apply(self, s: &[u8], a: usize, b: usize, emit: Emit) {
        match self {
            Stage::Gpt2 => split_gpt2(s, a, b, emit),
            Stage::Llama3 => split_llama3_like(s, a, b, 3, false, emit),
            Stage::Qwen2 => split_llama3_like(s, a, b, 1, false, emit),
            Stage::Qwen35 => split_llama3_like(s, a, b, 1, true, emit),
            Stage::KimiK2 => split_kimi_k2(s, a, b, emit),
            Stage::Newlines => split_newlines(s, a, b, emit),
            Stage::DigitsFromRight => split_digits_from_right(s, a, b, emit),
            Stage::Runs(class) => regex_split(s, a, b, emit, |s, i, b| {
                let (c, n) = decode(s, i);
                class(c).then(|| skip_while(s, n, b, class))
            }),
            Stage::Singles(class) => regex_split(s, a, b, emit, |s, i, _| {
                let (c, n) = decode(s, i);
                class(c).then_some(n)
            }),
            Stage::WsOptRuns(class) => regex_split(s, a, b, emit, |s, i, b| {
                let (c0, n0) = decode(s, i);
                if unicode::is_whitespace(c0) && n0 < b {
                    let (c1, n1) = decode(s, n0);
                    if class(c1) {
                        return Some(skip_while(s, n1, b, class));
                    }
                }
                class(c0).then(|| skip_while(s, n0, b, class))
            }),
            Stage::Groups3(class) => regex_split(s, a, b, emit, |s, i, b| {
                let (c, mut n) = decode(s, i);
                if !class(c) {
                    return None;
                }
                for _ in 0..2 {
                    if n >= b {
                        break;
                    }
                    let (c, m) = decode(s, n);
                    if !class(c) {
                        break;
                    }
                    n = m;
                }
                Some(n)
            }),
            Stage::AsciiDigits3 => regex_split(s, a, b, emit, |s, i, b| {
                (i + 3 <= b && s[i..i + 3].iter().all(u8::is_ascii_digit)).then_some(i + 3)
            }),
            Stage::TrailingWs => split_trailing_ws(s, a, b, emit),
            Stage::Jais2 => {
                let cache = Cell::new(WsRun::default());
                regex_split(s, a, b, emit, |s, i, b| match_jais2(s, i, b, &cache))
            }
            Stage::Regex(m) => regex_split(s, a, b, emit, m),
        }
    }
}

/// How llama.cpp's `unicode_regex_split_stl` cuts a piece with `std::regex_iterator`: the
/// leftmost match, then the next one from its end, ...; the text between matches (and before the
/// first, after the last) becomes pieces too. `m(s, i, b)` is the end of the regex's match at `i`
/// (never empty) or `None`.
#[inline]
fn regex_split<M: Fn(&[u8], usize, usize) -> Option<usize>>(
    s: &[u8],
    a: usize,
    b: usize,
    emit: Emit,
    m: M,
) {
    let mut gap = a;
    let mut i = a;
    while i < b {
        match m(s, i, b) {
            Some(e) if e > i => {
                if gap < i {
                    emit(gap, i);
                }
                emit(i, e);
                i = e;
                gap = e;
            }
            _ => i = decode(s, i).1,
        }
    }
    if gap < b {
        emit(gap, b);
    }
}

/// `\s+$`: the piece's trailing whitespace (if any) is the only match.
fn split_trailing_ws(s: &[u8], a: usize, b: usize, emit: Emit) {
    let mut start = b;
    let mut i = a;
    while i < b {
        let (c, n) = decode(s, i);
        if unicode::is_whitespace(c) {
            if start == b {
                start = i;
            }
        } else {
            start = b;
        }
        i = n;
    }
    if a < start {
        emit(a, start);
    }
    if start < b {
        emit(start, b);
    }
}

/// `[^\n]+|[\n]+`.
fn split_newlines(s: &[u8], a: usize, b: usize, emit: Emit) {
    let mut i = a;
    while i < b {
        let nl = s[i] == b'\n';
        let start = i;
        while i < b && (s[i] == b'\n') == nl {
            i += 1;
        }
        // `i` stops on '\n' or on the byte after one, so on a char boundary.
        emit(start, i);
    }
}

// ---------------------------------------------------------------------------------------------
// Code points of valid UTF-8

/// The code point at `s[i]` (`i` on a char boundary of valid UTF-8) and the index after it.
#[inline(always)]
fn decode(s: &[u8], i: usize) -> (u32, usize) {
    let b0 = s[i];
    if b0 < 0x80 {
        (u32::from(b0), i + 1)
    } else if b0 < 0xE0 {
        (
            u32::from(b0 & 0x1F) << 6 | u32::from(s[i + 1] & 0x3F),
            i + 2,
        )
    } else if b0 < 0xF0 {
        (
            u32::from(b0 & 0x0F) << 12
                | u32::from(s[i + 1] & 0x3F) << 6
                | u32::from(s[i + 2] & 0x3F),
            i + 3,
        )
    } else {
        (
            u32::from(b0 & 0x07) << 18
                | u32::from(s[i + 1] & 0x3F) << 12
                | u32::from(s[i + 2] & 0x3F) << 6
                | u32::from(s[i + 3] & 0x3F),
            i + 4,
        )
    }
}

/// The first index `>= i` (up to `b`) whose code point is not in `class`.
#[inline]
fn skip_while(s: &[u8], mut i: usize, b: usize, class: impl Fn(u32) -> bool) -> usize {
    while i < b {
        let (c, n) = decode(s, i);
        if !class(c) {
            break;
        }
        i = n;
    }
    i
}

/// llama.cpp's `OUT_OF_RANGE`.
const OUT_OF_RANGE: u32 = 0xFFFF_FFFF;

/// A piece as llama.cpp's hand-written splitters see it: reading past its end gives
/// `OUT_OF_RANGE` and empty flags.
#[derive(Clone, Copy)]
struct Piece<'s> {
    s: &'s [u8],
    end: usize,
}

impl Piece<'_> {
    /// `(_get_cpt(p), _get_flags(p), p + 1)`; at or past the end, `(OUT_OF_RANGE, NONE, p)`.
    #[inline(always)]
    fn at(self, p: usize) -> (u32, Flags, usize) {
        if p < self.end {
            let (c, n) = decode(self.s, p);
            (c, unicode::flags(c), n)
        } else {
            (OUT_OF_RANGE, Flags::NONE, p)
        }
    }

    #[inline(always)]
    fn flags(self, p: usize) -> Flags {
        self.at(p).1
    }

    /// The first index `>= p` whose flags fail `keep` (the end at the latest).
    #[inline]
    fn skip(self, mut p: usize, keep: impl Fn(u32, Flags) -> bool) -> usize {
        loop {
            let (c, f, n) = self.at(p);
            if p >= self.end || !keep(c, f) {
                return p;
            }
            p = n;
        }
    }

    /// llama.cpp's whitespace scan at `p`: `(end of the run, start of its last code point, end of
    /// its last '\r' or '\n', number of code points)`.
    #[inline]
    fn whitespace_run(self, p: usize) -> (usize, usize, Option<usize>, usize) {
        let (mut q, mut last, mut last_rn, mut n) = (p, p, None, 0);
        loop {
            let (c, f, next) = self.at(q);
            if !f.is_whitespace() {
                return (q, last, last_rn, n);
            }
            if c == u32::from(b'\r') || c == u32::from(b'\n') {
                last_rn = Some(next);
            }
            last = q;
            q = next;
            n += 1;
        }
    }
}

#[inline(always)]
fn ch(c: u8) -> u32 {
    u32::from(c)
}

// ---------------------------------------------------------------------------------------------
// llama.cpp's hand-written splitters, ported line by line

/// `unicode_regex_split_custom_gpt2`:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
fn split_gpt2(s: &[u8], a: usize, b: usize, emit: Emit) {
    let pc = Piece { s, end: b };
    let mut pos = a;
    while pos < b {
        let start = pos;
        let (cpt, flags, p1) = pc.at(pos);

        // 's|'t|'re|'ve|'m|'ll|'d
        if cpt == ch(b'\'') && p1 < b {
            let (c1, _, p2) = pc.at(p1);
            if c1 == ch(b's') || c1 == ch(b't') || c1 == ch(b'm') || c1 == ch(b'd') {
                emit(start, p2);
                pos = p2;
                continue;
            }
            if p2 < b {
                let (c2, _, p3) = pc.at(p2);
                if (c1 == ch(b'r') && c2 == ch(b'e'))
                    || (c1 == ch(b'v') && c2 == ch(b'e'))
                    || (c1 == ch(b'l') && c2 == ch(b'l'))
                {
                    emit(start, p3);
                    pos = p3;
                    continue;
                }
            }
        }

        // The optional leading space: `flags2` are the flags at `q`.
        let (flags2, q) = if cpt == ch(b' ') {
            (pc.flags(p1), p1)
        } else {
            (flags, pos)
        };
        // <space>?\p{L}+
        if flags2.is_letter() {
            pos = pc.skip(q, |_, f| f.is_letter());
            emit(start, pos);
            continue;
        }
        // <space>?\p{N}+
        if flags2.is_number() {
            pos = pc.skip(q, |_, f| f.is_number());
            emit(start, pos);
            continue;
        }
        // <space>?[^\s\p{L}\p{N}]+
        let other =
            |f: Flags| !(f.is_whitespace() || f.is_letter() || f.is_number()) && f.is_some();
        if other(flags2) {
            pos = pc.skip(q, |_, f| other(f));
            emit(start, pos);
            continue;
        }

        let (ws_end, ws_last, _, num_whitespaces) = pc.whitespace_run(pos);
        // \s+(?!\S)
        if num_whitespaces > 1 && ws_end < b {
            pos = ws_last;
            emit(start, pos);
            continue;
        }
        // \s+
        if num_whitespaces > 0 {
            pos = ws_end;
            emit(start, pos);
            continue;
        }
        // no match
        pos = p1;
        emit(start, pos);
    }
}

/// `unicode_regex_split_custom_llama3` (`max_digits` 3, `marks` false),
/// `unicode_regex_split_custom_qwen2` (`max_digits` 1) and `unicode_regex_split_custom_qwen35`
/// (`max_digits` 1, `marks` true: `[\p{L}\p{M}]+` for letters):
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
/// \s*[\r\n]+|\s+(?!\S)|\s+`.
fn split_llama3_like(s: &[u8], a: usize, b: usize, max_digits: usize, marks: bool, emit: Emit) {
    let pc = Piece { s, end: b };
    let word = |f: Flags| f.is_letter() || (marks && f.is_accent_mark());
    let mut pos = a;
    while pos < b {
        let start = pos;
        let (cpt, flags, p1) = pc.at(pos);

        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if cpt == ch(b'\'') && p1 < b {
            let (c1, _, p2) = pc.at(p1);
            let c1 = unicode::to_lower(c1);
            if c1 == ch(b's') || c1 == ch(b't') || c1 == ch(b'm') || c1 == ch(b'd') {
                emit(start, p2);
                pos = p2;
                continue;
            }
            if p2 < b {
                let (c2, _, p3) = pc.at(p2);
                let c2 = unicode::to_lower(c2);
                if (c1 == ch(b'r') && c2 == ch(b'e'))
                    || (c1 == ch(b'v') && c2 == ch(b'e'))
                    || (c1 == ch(b'l') && c2 == ch(b'l'))
                {
                    emit(start, p3);
                    pos = p3;
                    continue;
                }
            }
        }

        // [^\r\n\p{L}\p{N}]?\p{L}+
        if !(cpt == ch(b'\r') || cpt == ch(b'\n') || flags.is_number())
            && (word(flags) || word(pc.flags(p1)))
        {
            pos = pc.skip(p1, |_, f| word(f));
            emit(start, pos);
            continue;
        }

        // \p{N}{1,3} (or \p{N})
        if flags.is_number() {
            let mut prev = start;
            let mut k = 0;
            pos = start;
            while pc.flags(pos).is_number() {
                pos = pc.at(pos).2;
                k += 1;
                if k >= max_digits {
                    emit(prev, pos);
                    prev = pos;
                    k = 0;
                }
            }
            if prev < pos {
                emit(prev, pos);
            }
            continue;
        }

        // <space>?[^\s\p{L}\p{N}]+[\r\n]*
        let (flags2, q) = if cpt == ch(b' ') {
            (pc.flags(p1), p1)
        } else {
            (flags, pos)
        };
        let other = |f: Flags| !(f.is_whitespace() || word(f) || f.is_number());
        if other(flags2) && flags.is_some() {
            pos = pc.skip(q, |_, f| other(f) && f.is_some());
            pos = pc.skip(pos, |c, _| c == ch(b'\r') || c == ch(b'\n'));
            emit(start, pos);
            continue;
        }

        let (ws_end, ws_last, last_rn, num_whitespaces) = pc.whitespace_run(pos);
        // \s*[\r\n]+
        if let Some(e) = last_rn {
            pos = e;
            emit(start, pos);
            continue;
        }
        // \s+(?!\S)
        if num_whitespaces > 1 && ws_end < b {
            pos = ws_last;
            emit(start, pos);
            continue;
        }
        // \s+
        if num_whitespaces > 0 {
            pos = ws_end;
            emit(start, pos);
            continue;
        }
        // no match
        pos = p1;
        emit(start, pos);
    }
}

/// `unicode_regex_split_custom_kimi_k2`: `[\p{Han}]+`, then letter words (not Han) with an
/// optional leading non-letter and an optional trailing contraction, `\p{N}{1,3}`,
/// ` ?[^\s\p{L}\p{N}]+[\r\n]*`, `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`.
fn split_kimi_k2(s: &[u8], a: usize, b: usize, emit: Emit) {
    let pc = Piece { s, end: b };
    let han_free_letter = |c: u32, f: Flags| f.is_letter() && !unicode::is_han(c);
    let mut pos = a;
    while pos < b {
        let start = pos;
        let (cpt, flags, p1) = pc.at(pos);

        // [\p{Han}]+
        if unicode::is_han(cpt) {
            pos = pc.skip(pos, |c, _| unicode::is_han(c));
            emit(start, pos);
            continue;
        }

        // letter words
        let (c1, f1, _) = pc.at(p1);
        let leading_ok =
            !(cpt == ch(b'\r') || cpt == ch(b'\n') || flags.is_letter() || flags.is_number());
        if han_free_letter(cpt, flags) || (leading_ok && han_free_letter(c1, f1)) {
            let mut p = pos;
            let has_leading_char = leading_ok;
            if has_leading_char {
                p = p1;
            }
            let mut has_letters = false;
            loop {
                let (c, f, n) = pc.at(p);
                if !han_free_letter(c, f) {
                    break;
                }
                has_letters = true;
                p = n;
            }
            let (cq, fq, nq) = pc.at(p);
            if has_letters || (!has_leading_char && han_free_letter(cq, fq)) {
                if !has_letters {
                    p = nq;
                }
                p = pc.skip(p, han_free_letter);
                // (?i:'s|'t|'re|'ve|'m|'ll|'d)?
                let (cq, _, n1) = pc.at(p);
                if cq == ch(b'\'') && n1 < b {
                    let (d1, _, n2) = pc.at(n1);
                    let d1 = unicode::to_lower(d1);
                    if d1 == ch(b's') || d1 == ch(b't') || d1 == ch(b'm') || d1 == ch(b'd') {
                        p = n2;
                    } else if n2 < b {
                        let (d2, _, n3) = pc.at(n2);
                        let d2 = unicode::to_lower(d2);
                        if (d1 == ch(b'r') && d2 == ch(b'e'))
                            || (d1 == ch(b'v') && d2 == ch(b'e'))
                            || (d1 == ch(b'l') && d2 == ch(b'l'))
                        {
                            p = n3;
                        }
                    }
                }
                pos = p;
                emit(start, pos);
                continue;
            }
            // else: back to `start` (llama.cpp's `pos--`)
        }

        // \p{N}{1,3}
        if flags.is_number() {
            let mut prev = start;
            let mut k = 0;
            pos = start;
            while pc.flags(pos).is_number() {
                pos = pc.at(pos).2;
                k += 1;
                if k >= 3 {
                    emit(prev, pos);
                    prev = pos;
                    k = 0;
                }
            }
            if prev < pos {
                emit(prev, pos);
            }
            continue;
        }

        // <space>?[^\s\p{L}\p{N}]+[\r\n]*
        let (flags2, q) = if cpt == ch(b' ') {
            (f1, p1)
        } else {
            (flags, pos)
        };
        let other =
            |f: Flags| !(f.is_whitespace() || f.is_letter() || f.is_number()) && f.is_some();
        if other(flags2) {
            pos = pc.skip(q, |_, f| other(f));
            pos = pc.skip(pos, |c, _| c == ch(b'\r') || c == ch(b'\n'));
            emit(start, pos);
            continue;
        }

        let (ws_end, ws_last, last_rn, num_whitespaces) = pc.whitespace_run(pos);
        if let Some(e) = last_rn {
            pos = e;
            emit(start, pos);
            continue;
        }
        if num_whitespaces > 1 && ws_end < b {
            pos = ws_last;
            emit(start, pos);
            continue;
        }
        if num_whitespaces > 0 {
            pos = ws_end;
            emit(start, pos);
            continue;
        }
        pos = p1;
        emit(start, pos);
    }
}

// ---------------------------------------------------------------------------------------------
// Classes of llama.cpp's `std::regex` path
//
// A regex with `\p{..}` runs over the "collapsed" text: ASCII stays itself; other code points
// become 0x0B if whitespace, else one byte for their category if it is N, L, P, M or S, else a
// byte no class matches. `\p{L}` becomes `[<letter byte>A-Za-z]`, and so on, and `\s` is the C
// locale's (9..=13 and space). A regex without `\p{..}` runs over the code points themselves, with
// non-ASCII whitespace replaced by 0x0B. Either way `\s` is exactly `unicode::is_whitespace`.

/// Bits of [`COLLAPSED_ASCII`] / [`collapsed`].
const C_L: u8 = 1;
const C_N: u8 = 2;
const C_P: u8 = 4;
const C_S: u8 = 8;
const C_M: u8 = 16;

/// The classes of the ASCII code points in the collapsed regexes: `A-Za-z`, `0-9`,
/// ``!-#%-*,-/:-;?-@[-]_{}`` and ``$+<=>^`|~`` (llama.cpp's `k_ucat_map`).
static COLLAPSED_ASCII: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphabetic() {
            C_L
        } else if b.is_ascii_digit() {
            C_N
        } else if matches!(
            b,
            b'$' | b'+' | b'<' | b'=' | b'>' | b'^' | b'`' | b'|' | b'~'
        ) {
            C_S
        } else if b.is_ascii_punctuation() {
            C_P
        } else {
            0
        };
        c += 1;
    }
    t
};

/// The class bits of a code point as llama.cpp's collapsed `std::regex` path sees it.
#[inline]
fn collapsed(cp: u32) -> u8 {
    if cp < 128 {
        return COLLAPSED_ASCII[cp as usize];
    }
    let f = unicode::flags(cp);
    if f.is_whitespace() {
        return 0;
    }
    match f.category() {
        Flags::LETTER => C_L,
        Flags::NUMBER => C_N,
        Flags::PUNCTUATION => C_P,
        Flags::SYMBOL => C_S,
        Flags::ACCENT_MARK => C_M,
        _ => 0,
    }
}

/// `\p{L}` in a collapsed regex.
fn c_letter(cp: u32) -> bool {
    collapsed(cp) & C_L != 0
}

/// `\p{N}` in a collapsed regex.
fn c_number(cp: u32) -> bool {
    collapsed(cp) & C_N != 0
}

/// `\p{P}` in a collapsed regex.
fn c_punct(cp: u32) -> bool {
    collapsed(cp) & C_P != 0
}

/// `[\p{P}\$\+<=>\^~\|]` (default).
fn is_default_punct(cp: u32) -> bool {
    c_punct(cp) || matches!(cp, 0x24 | 0x2B | 0x3C | 0x3D | 0x3E | 0x5E | 0x7E | 0x7C)
}

/// ``[\p{P}\$\+<=>\^~\|`]`` (falcon).
fn is_falcon_punct(cp: u32) -> bool {
    is_default_punct(cp) || cp == 0x60
}

/// `[\r\n]`.
fn is_cr_or_lf(cp: u32) -> bool {
    cp == 0x0D || cp == 0x0A
}

/// Whether `cp` is in a literal class of a regex without `\p{..}` (code points as they are,
/// non-ASCII whitespace replaced by 0x0B, which none of these classes holds).
#[inline]
fn in_literal_class(cp: u32, ranges: &[(u32, u32)]) -> bool {
    let i = ranges.partition_point(|&(lo, _)| lo <= cp);
    i > 0 && cp <= ranges[i - 1].1 && !(cp > 0x7F && unicode::is_whitespace(cp))
}

fn is_deepseek_cjk(cp: u32) -> bool {
    in_literal_class(cp, &DEEPSEEK_CJK)
}

fn is_deepseek3_cjk(cp: u32) -> bool {
    in_literal_class(cp, &DEEPSEEK3_CJK)
}

fn is_deepseek_llm_letter(cp: u32) -> bool {
    in_literal_class(cp, &DEEPSEEK_LLM_LETTERS)
}

fn is_deepseek_llm_punct(cp: u32) -> bool {
    in_literal_class(cp, &DEEPSEEK_LLM_PUNCT)
}

/// ` ?[^(\s|.,!?…。，、।۔،)]+` (bloom, poro, gpt3-finnish, viking).
fn match_bloom(s: &[u8], i: usize, b: usize) -> Option<usize> {
    let word = |cp: u32| !unicode::is_whitespace(cp) && !in_literal_class(cp, &BLOOM_EXCLUDED);
    let (c0, n0) = decode(s, i);
    if c0 == ch(b' ') && n0 < b {
        let (c1, n1) = decode(s, n0);
        if word(c1) {
            return Some(skip_while(s, n1, b, word));
        }
    }
    word(c0).then(|| skip_while(s, n0, b, word))
}

/// The third regex of deepseek-v3 (collapsed), also afmoe's third:
/// ``[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
/// ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+``.
fn match_deepseek3(s: &[u8], i: usize, b: usize) -> Option<usize> {
    deepseek3_words(s, i, b)
        .or_else(|| punct_symbol_run(s, i, b).map(|e| skip_while(s, e, b, is_cr_or_lf)))
        .or_else(|| whitespace_alternatives(s, i, b, true))
}

/// The third regex of spark2_5 (collapsed): as deepseek-v3's, with
/// ` ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+` at the end.
fn match_spark25(s: &[u8], i: usize, b: usize) -> Option<usize> {
    deepseek3_words(s, i, b)
        .or_else(|| punct_symbol_run(s, i, b))
        .or_else(|| is_cr_or_lf(decode(s, i).0).then(|| decode(s, i).1))
        .or_else(|| whitespace_alternatives(s, i, b, false))
}

/// ``[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+``.
fn deepseek3_words(s: &[u8], i: usize, b: usize) -> Option<usize> {
    let ascii_alpha = |c: u32| c < 128 && (c as u8).is_ascii_alphabetic();
    let (c0, n0) = decode(s, i);
    if c0 < 128 && (c0 as u8).is_ascii_punctuation() && n0 < b {
        let (c1, n1) = decode(s, n0);
        if ascii_alpha(c1) {
            return Some(skip_while(s, n1, b, ascii_alpha));
        }
    }
    let lm = |c: u32| collapsed(c) & (C_L | C_M) != 0;
    let prefix = |c: u32| !is_cr_or_lf(c) && collapsed(c) & (C_L | C_P | C_S) == 0;
    optional_prefix(s, i, b, prefix, |p| nonempty_run(s, p, b, lm))
}

/// ` ?[\p{P}\p{S}]+`.
fn punct_symbol_run(s: &[u8], i: usize, b: usize) -> Option<usize> {
    space_then_run(s, i, b, |c| collapsed(c) & (C_P | C_S) != 0)
}

/// `\s*[\r\n]+|\s+(?!\S)|\s+` at `i` (or without the first alternative), with `std::regex`'s
/// backtracking: the whitespace up to its last `\r`/`\n`; else all of it at the end of the piece
/// or when it is a single code point; else all of it but its last code point.
fn whitespace_alternatives(s: &[u8], i: usize, b: usize, newline_first: bool) -> Option<usize> {
    let (mut q, mut last, mut last_rn, mut n) = (i, i, None, 0usize);
    while q < b {
        let (c, next) = decode(s, q);
        if !unicode::is_whitespace(c) {
            break;
        }
        if is_cr_or_lf(c) {
            last_rn = Some(next);
        }
        last = q;
        q = next;
        n += 1;
    }
    if n == 0 {
        None
    } else if newline_first && last_rn.is_some() {
        last_rn
    } else if q == b || n == 1 {
        Some(q)
    } else {
        Some(last)
    }
}

// ---------------------------------------------------------------------------------------------
// Building blocks of the `std::regex` regexes (all collapsed unless said otherwise)

/// A prefix class (typically `[^\r\n\p{L}\p{N}]`) made optional before `body`, as ECMAScript
/// tries it: with the prefix first, then without.
#[inline]
fn optional_prefix(
    s: &[u8],
    i: usize,
    b: usize,
    prefix: impl Fn(u32) -> bool,
    body: impl Fn(usize) -> Option<usize>,
) -> Option<usize> {
    let (c0, n0) = decode(s, i);
    if prefix(c0) && n0 < b {
        if let Some(e) = body(n0) {
            return Some(e);
        }
    }
    body(i)
}

/// `[C]+` at `p` (`None` if `p` is the end or not in the class).
#[inline]
fn nonempty_run(s: &[u8], p: usize, b: usize, class: impl Fn(u32) -> bool) -> Option<usize> {
    let e = skip_while(s, p, b, &class);
    (e > p).then_some(e)
}

/// ` ?[C]+`.
#[inline]
fn space_then_run(s: &[u8], i: usize, b: usize, class: impl Fn(u32) -> bool) -> Option<usize> {
    let (c0, n0) = decode(s, i);
    if c0 == ch(b' ') && n0 < b {
        let (c1, n1) = decode(s, n0);
        if class(c1) {
            return Some(skip_while(s, n1, b, &class));
        }
    }
    class(c0).then(|| skip_while(s, n0, b, &class))
}

/// `[^\r\n\p{L}\p{N}]`.
fn not_crlf_letter_number(c: u32) -> bool {
    !is_cr_or_lf(c) && collapsed(c) & (C_L | C_N) == 0
}

/// `[^\s\p{L}\p{N}]`.
fn not_space_letter_number(c: u32) -> bool {
    !unicode::is_whitespace(c) && collapsed(c) & (C_L | C_N) == 0
}

/// `[\r\n/]`.
fn is_cr_lf_or_slash(c: u32) -> bool {
    is_cr_or_lf(c) || c == ch(b'/')
}

/// `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])` at `i` (also bailingmoe's
/// `'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])`, the same set).
fn contraction(s: &[u8], i: usize, b: usize) -> Option<usize> {
    if i + 1 >= b || s[i] != b'\'' {
        return None;
    }
    let c1 = s[i + 1].to_ascii_lowercase();
    if matches!(c1, b's' | b't' | b'm' | b'd') {
        return Some(i + 2);
    }
    if i + 2 < b
        && matches!(
            (c1, s[i + 2].to_ascii_lowercase()),
            (b'r', b'e') | (b'v', b'e') | (b'l', b'l')
        )
    {
        return Some(i + 3);
    }
    None
}

/// `\p{N}{1,max}` at `i`.
fn numbers(s: &[u8], i: usize, b: usize, max: usize) -> Option<usize> {
    let mut q = i;
    let mut k = 0;
    while q < b && k < max {
        let (c, n) = decode(s, q);
        if !c_number(c) {
            break;
        }
        q = n;
        k += 1;
    }
    (k > 0).then_some(q)
}

/// ` ?[^\s\p{L}\p{N}]+` then up to `max_trail` code points of `trail`.
fn other_run(
    s: &[u8],
    i: usize,
    b: usize,
    trail: fn(u32) -> bool,
    max_trail: usize,
) -> Option<usize> {
    let mut e = space_then_run(s, i, b, not_space_letter_number)?;
    for _ in 0..max_trail {
        if e >= b {
            break;
        }
        let (c, n) = decode(s, e);
        if !trail(c) {
            break;
        }
        e = n;
    }
    Some(e)
}

/// `[^\r\n\p{L}\p{N}]?\p{L}+`.
fn prefixed_letters(s: &[u8], i: usize, b: usize) -> Option<usize> {
    optional_prefix(s, i, b, not_crlf_letter_number, |p| {
        nonempty_run(s, p, b, c_letter)
    })
}

// ---------------------------------------------------------------------------------------------
// Llama-3-like regexes that llama.cpp runs through `std::regex`

/// seed-coder: `(?:'[sS]|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|
/// \s*[\r\n]+|\s+(?!\S)|\s+`.
fn match_seed_coder(s: &[u8], i: usize, b: usize) -> Option<usize> {
    contraction(s, i, b)
        .or_else(|| prefixed_letters(s, i, b))
        .or_else(|| numbers(s, i, b, 1))
        .or_else(|| other_run(s, i, b, is_cr_or_lf, 0))
        .or_else(|| whitespace_alternatives(s, i, b, true))
}

/// ufakzeka: `[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
fn match_ufakzeka(s: &[u8], i: usize, b: usize) -> Option<usize> {
    prefixed_letters(s, i, b)
        .or_else(|| numbers(s, i, b, 1))
        .or_else(|| other_run(s, i, b, is_cr_or_lf, usize::MAX))
        .or_else(|| whitespace_alternatives(s, i, b, true))
}

/// minicpm5, second regex: `(?:'[sS]|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+|
/// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
fn match_minicpm5(s: &[u8], i: usize, b: usize) -> Option<usize> {
    contraction(s, i, b)
        .or_else(|| prefixed_letters(s, i, b))
        .or_else(|| numbers(s, i, b, usize::MAX))
        .or_else(|| other_run(s, i, b, is_cr_or_lf, usize::MAX))
        .or_else(|| whitespace_alternatives(s, i, b, true))
}

/// bailingmoe: `'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
/// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+` (`\s*[\r\n]` ends where `\s*[\r\n]+`
/// would).
fn match_bailingmoe(s: &[u8], i: usize, b: usize) -> Option<usize> {
    contraction(s, i, b)
        .or_else(|| prefixed_letters(s, i, b))
        .or_else(|| numbers(s, i, b, 1))
        .or_else(|| other_run(s, i, b, is_cr_or_lf, usize::MAX))
        .or_else(|| whitespace_alternatives(s, i, b, true))
}

/// exaone-moe: `(?:'[sS]|...)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}|
/// ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+`.
fn match_exaone_moe(s: &[u8], i: usize, b: usize) -> Option<usize> {
    let spaced_words = |p: usize| {
        // letters, each followed by marks, possibly separated by single spaces
        let mut q = p;
        while q < b {
            let (c, n) = decode(s, q);
            if !c_letter(c) {
                break;
            }
            q = skip_while(s, n, b, |c| collapsed(c) & C_M != 0);
            if q + 1 < b && s[q] == b' ' && c_letter(decode(s, q + 1).0) {
                q += 1;
            }
        }
        (q > p).then_some(q)
    };
    contraction(s, i, b)
        .or_else(|| optional_prefix(s, i, b, not_crlf_letter_number, spaced_words))
        .or_else(|| numbers(s, i, b, 1))
        .or_else(|| other_run(s, i, b, is_cr_lf_or_slash, 1))
        .or_else(|| whitespace_alternatives(s, i, b, true))
}

/// jais-2: the Llama 3 regex with `\s{512}(?!\S)|\s{256}(?!\S)|...|\s{4}(?!\S)|\s{1,2}(?!\S)|
/// \s{1}` instead of `\s+(?!\S)|\s+`.
///
/// `cache` remembers the last whitespace run scanned, so that cutting a long run into pieces of
/// 512 code points does not rescan it for `\r`/`\n` every time (linear time).
fn match_jais2(s: &[u8], i: usize, b: usize, cache: &Cell<WsRun>) -> Option<usize> {
    contraction(s, i, b)
        .or_else(|| prefixed_letters(s, i, b))
        .or_else(|| numbers(s, i, b, 3))
        .or_else(|| other_run(s, i, b, is_cr_or_lf, usize::MAX))
        .or_else(|| jais2_whitespace(s, i, b, cache))
}

/// A run of whitespace `[start, end)` and the end of its last `\r` or `\n`.
#[derive(Clone, Copy, Default)]
struct WsRun {
    start: usize,
    end: usize,
    last_rn: Option<usize>,
}

fn jais2_whitespace(s: &[u8], i: usize, b: usize, cache: &Cell<WsRun>) -> Option<usize> {
    let mut run = cache.get();
    if !(run.start <= i && i < run.end) {
        run = WsRun {
            start: i,
            end: i,
            last_rn: None,
        };
        while run.end < b {
            let (c, next) = decode(s, run.end);
            if !unicode::is_whitespace(c) {
                break;
            }
            if is_cr_or_lf(c) {
                run.last_rn = Some(next);
            }
            run.end = next;
        }
        cache.set(run);
    }
    if run.end == i {
        return None;
    }
    // \s*[\r\n]+: up to the last \r or \n of the run (if it is not before `i`)
    if let Some(e) = run.last_rn.filter(|&e| e > i) {
        return Some(e);
    }
    // the counted alternatives look at the first 513 code points at most
    let (mut q, mut n) = (i, 0usize);
    let mut ends = [0usize; 10]; // ends[k]: the end of the first 2^k code points
    while q < run.end && n <= 512 {
        q = decode(s, q).1;
        n += 1;
        if n.is_power_of_two() && n <= 512 {
            ends[n.trailing_zeros() as usize] = q;
        }
    }
    let at_end = run.end == b;
    for k in [9usize, 8, 7, 6, 5, 4, 3, 2, 1, 0] {
        let len = 1usize << k;
        if n > len || (n == len && at_end) {
            return Some(ends[k]);
        }
    }
    // \s{1}
    Some(ends[0])
}

// ---------------------------------------------------------------------------------------------
// GPT-4o-like regexes that llama.cpp runs through `std::regex`

/// `X?((?=[L])([^a-z]))*((?=[L])([^A-Z]))+C?|X?((?=[L])([^a-z]))+((?=[L])([^A-Z]))*C?|
/// \p{N}{1,max}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+` with `X` =
/// `[^\r\n\p{L}\p{N}]`, `C` the contractions (if `contractions`) and `L` = `\p{L}` (or
/// `[\p{L}\p{M}]` if `marks`). In the collapsed text every non-ASCII letter is both "not a-z" and
/// "not A-Z".
fn match_gpt4o_like(
    s: &[u8],
    i: usize,
    b: usize,
    marks: bool,
    contractions: bool,
    max_digits: usize,
) -> Option<usize> {
    let bits = if marks { C_L | C_M } else { C_L };
    let upper = |c: u32| collapsed(c) & bits != 0 && !(0x61..=0x7A).contains(&c);
    let lower = |c: u32| collapsed(c) & bits != 0 && !(0x41..=0x5A).contains(&c);
    // upper* lower+, with backtracking into upper*
    let word1 = |p: usize| {
        let mut q = p;
        let mut last_both = None;
        while q < b {
            let (c, n) = decode(s, q);
            if !upper(c) {
                break;
            }
            if lower(c) {
                last_both = Some(n);
            }
            q = n;
        }
        if q < b {
            let (c, n) = decode(s, q);
            if lower(c) {
                return Some(skip_while(s, n, b, lower));
            }
        }
        // back off to the last code point that is also "lower": lower+ is that one alone
        last_both
    };
    // upper+ lower*
    let word2 = |p: usize| nonempty_run(s, p, b, upper).map(|q| skip_while(s, q, b, lower));
    let tail = |e: usize| {
        if contractions {
            contraction(s, e, b).unwrap_or(e)
        } else {
            e
        }
    };
    optional_prefix(s, i, b, not_crlf_letter_number, word1)
        .or_else(|| optional_prefix(s, i, b, not_crlf_letter_number, word2))
        .map(tail)
        .or_else(|| numbers(s, i, b, max_digits))
        .or_else(|| other_run(s, i, b, is_cr_lf_or_slash, usize::MAX))
        .or_else(|| whitespace_alternatives(s, i, b, true))
}

/// tekken.
fn match_tekken(s: &[u8], i: usize, b: usize) -> Option<usize> {
    match_gpt4o_like(s, i, b, false, false, 1)
}

/// gpt-4o.
fn match_gpt4o(s: &[u8], i: usize, b: usize) -> Option<usize> {
    match_gpt4o_like(s, i, b, false, true, 3)
}

/// granite-embed-multi-97m.
fn match_granite_emb_multi(s: &[u8], i: usize, b: usize) -> Option<usize> {
    match_gpt4o_like(s, i, b, true, true, 3)
}

/// tiny_aya (`max_digits` 3) and youtu (1), second regex: as GPT-4o's, but `\p{Lu}`, `\p{Ll}`, ...
/// all collapse to `\p{L}`, so the word alternatives are `X?[\p{L}\p{M}]+C?`.
fn match_tiny_aya_like(s: &[u8], i: usize, b: usize, max_digits: usize) -> Option<usize> {
    let lm = |c: u32| collapsed(c) & (C_L | C_M) != 0;
    optional_prefix(s, i, b, not_crlf_letter_number, |p| {
        nonempty_run(s, p, b, lm)
    })
    .map(|e| contraction(s, e, b).unwrap_or(e))
    .or_else(|| numbers(s, i, b, max_digits))
    .or_else(|| other_run(s, i, b, is_cr_lf_or_slash, usize::MAX))
    .or_else(|| whitespace_alternatives(s, i, b, true))
}

/// tiny_aya.
fn match_tiny_aya(s: &[u8], i: usize, b: usize) -> Option<usize> {
    match_tiny_aya_like(s, i, b, 3)
}

/// youtu.
fn match_youtu(s: &[u8], i: usize, b: usize) -> Option<usize> {
    match_tiny_aya_like(s, i, b, 1)
}

/// youtu, first regex (code points): `[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|
/// [一-龥぀-ゟ゠-ヿ]+`.
fn match_youtu_scripts(s: &[u8], i: usize, b: usize) -> Option<usize> {
    let (c, n) = decode(s, i);
    let classes: [&[(u32, u32)]; 4] =
        [&YOUTU_HANGUL, &YOUTU_PUNCT, &YOUTU_BOPOMOFO, &DEEPSEEK3_CJK];
    classes
        .iter()
        .find(|class| in_literal_class(c, class))
        .map(|class| skip_while(s, n, b, |c| in_literal_class(c, class)))
}

// ---------------------------------------------------------------------------------------------
// Others

/// `\d{1,3}(?=(?:\d{3})*\b)` / `\p{AFMoE_digits}`: llama.cpp's
/// `unicode_regex_split_custom_afmoe`, ported as is. Each run of numbers is cut into groups of
/// three from the right; what precedes a run joins its first group (llama.cpp's `_add_token`
/// starts where the previous word ended), and what follows the last run is one piece.
fn split_digits_from_right(s: &[u8], a: usize, b: usize, emit: Emit) {
    let number = |c: u32| unicode::flags(c).is_number();
    let advance = |mut p: usize, k: usize| {
        for _ in 0..k {
            p = decode(s, p).1;
        }
        p
    };
    let mut prev = a;
    let mut pos = a;
    while pos < b {
        let (c, n) = decode(s, pos);
        if !number(c) {
            pos = n;
            continue;
        }
        let mut count = 0;
        let mut end = pos;
        while end < b {
            let (c, n) = decode(s, end);
            if !number(c) {
                break;
            }
            count += 1;
            end = n;
        }
        let mut cur = pos;
        if count % 3 > 0 {
            cur = advance(cur, count % 3);
            emit(prev, cur);
            prev = cur;
        }
        while cur < end {
            cur = advance(cur, 3);
            emit(prev, cur);
            prev = cur;
        }
        pos = end;
    }
    if prev < b {
        emit(prev, b);
    }
}

fn is_afmoe_cjk(cp: u32) -> bool {
    in_literal_class(cp, &AFMOE_CJK)
}

/// `\S+` (whitespace).
fn is_not_whitespace(cp: u32) -> bool {
    !unicode::is_whitespace(cp)
}

/// ``[\p{P}!-/:-@\[-`{-~]`` (chameleon).
fn is_chameleon_punct(cp: u32) -> bool {
    c_punct(cp) || (cp < 128 && (cp as u8).is_ascii_punctuation())
}

/// `<sentinel:[0-9]+>` (chameleon).
fn match_chameleon_sentinel(s: &[u8], i: usize, b: usize) -> Option<usize> {
    let t = &s[i..b];
    let digits = t.strip_prefix(b"<sentinel:")?;
    let k = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    (k > 0 && digits.get(k) == Some(&b'>')).then_some(i + 10 + k + 1)
}

/// `(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z` (chameleon).
fn match_chameleon_image(s: &[u8], i: usize, b: usize) -> Option<usize> {
    let t = s[i..b].strip_prefix(b"IMGIMG")?;
    let k = t
        .iter()
        .take(4)
        .take_while(|c| (b'A'..=b'I').contains(c))
        .count();
    (k > 0 && t.get(k) == Some(&b'Z')).then_some(i + 6 + k + 1)
}

/// `([\t\n]|    |  )` (chameleon).
fn match_chameleon_spaces(s: &[u8], i: usize, b: usize) -> Option<usize> {
    let t = &s[i..b];
    if t[0] == b'\t' || t[0] == b'\n' {
        Some(i + 1)
    } else if t.starts_with(b"    ") {
        Some(i + 4)
    } else if t.starts_with(b"  ") {
        Some(i + 2)
    } else {
        None
    }
}

// BEGIN GENERATED CLASSES
// Generated by scripts/unicode/gen_tables.py from llama.cpp src/llama-vocab.cpp; do not edit.

/// The literal class of deepseek-llm, regex 2: `\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+`.
#[rustfmt::skip]
static DEEPSEEK_LLM_LETTERS: [(u32, u32); 84] = [
    (0x0041, 0x005A), (0x0061, 0x007A), (0x00B5, 0x00B5), (0x00C0, 0x00D6), (0x00D8, 0x00F6), (0x00F8, 0x01BA),
    (0x01BC, 0x01BF), (0x01C4, 0x0293), (0x0295, 0x02AF), (0x0370, 0x0373), (0x0376, 0x0377), (0x037B, 0x037D),
    (0x037F, 0x037F), (0x0386, 0x0386), (0x0388, 0x038A), (0x038C, 0x038C), (0x038E, 0x03A1), (0x03A3, 0x03F5),
    (0x03F7, 0x0481), (0x048A, 0x052F), (0x0531, 0x0556), (0x10A0, 0x10C5), (0x13A0, 0x13F5), (0x13F8, 0x13FD),
    (0x1C90, 0x1CBA), (0x1CBD, 0x1CBF), (0x1D00, 0x1D2B), (0x1D6B, 0x1D77), (0x1D79, 0x1D9A), (0x1E00, 0x1F15),
    (0x1F18, 0x1F1D), (0x1F20, 0x1F45), (0x1F48, 0x1F4D), (0x1F50, 0x1F57), (0x1F59, 0x1F59), (0x1F5B, 0x1F5B),
    (0x1F5D, 0x1F5D), (0x1F5F, 0x1F7D), (0x1F80, 0x1FB4), (0x1FB6, 0x1FBC), (0x1FBE, 0x1FBE), (0x1FC2, 0x1FC4),
    (0x1FC6, 0x1FCC), (0x1FD0, 0x1FD3), (0x1FD6, 0x1FDB), (0x1FE0, 0x1FEC), (0x1FF2, 0x1FF4), (0x1FF6, 0x1FFC),
    (0x2102, 0x2102), (0x2107, 0x2107), (0x210A, 0x2113), (0x2115, 0x2115), (0x2119, 0x211D), (0x2124, 0x2124),
    (0x2126, 0x2126), (0x2128, 0x2128), (0x212A, 0x212D), (0x212F, 0x2134), (0x2139, 0x2139), (0x213C, 0x213F),
    (0x2145, 0x2149), (0x214E, 0x214E), (0x2183, 0x2184), (0x2C00, 0x2C7B), (0x2C7E, 0x2CE4), (0x2CEB, 0x2CEE),
    (0x2CF2, 0x2CF3), (0xA640, 0xA66D), (0xA680, 0xA69B), (0xA722, 0xA76F), (0xA771, 0xA787), (0xA78B, 0xA78E),
    (0xAB70, 0xABBF), (0xFB00, 0xFB06), (0xFB13, 0xFB17), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A), (0x10400, 0x1044F),
    (0x104B0, 0x104D3), (0x104D8, 0x104FB), (0x10C80, 0x10CB2), (0x10CC0, 0x10CF2), (0x118A0, 0x118DF), (0x1E900, 0x1E943),
];

/// The literal class of deepseek-llm, regex 3: `\s?[!-/:-~！-／：-～‘-‟　-。]+`.
#[rustfmt::skip]
static DEEPSEEK_LLM_PUNCT: [(u32, u32); 6] = [
    (0x0021, 0x002F), (0x003A, 0x007E), (0x2018, 0x201F), (0x3000, 0x3002), (0xFF01, 0xFF0F), (0xFF1A, 0xFF5E),
];

/// The literal class of deepseek-coder regex 4, deepseek-llm regex 5: `[一-龥ࠀ-一가-퟿]+`.
#[rustfmt::skip]
static DEEPSEEK_CJK: [(u32, u32); 2] = [
    (0x0800, 0x9FA5), (0xAC00, 0xD7FF),
];

/// The literal class of deepseek-v3 and spark2_5 regex 2, youtu regex 1 alternative 4: `[一-龥぀-ゟ゠-ヿ]+`.
#[rustfmt::skip]
static DEEPSEEK3_CJK: [(u32, u32); 2] = [
    (0x3040, 0x30FF), (0x4E00, 0x9FA5),
];

/// The literal class of afmoe, regex 2: `[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+`.
#[rustfmt::skip]
static AFMOE_CJK: [(u32, u32); 9] = [
    (0x0E40, 0x0EFF), (0x1000, 0x109F), (0x1100, 0x11FF), (0x1780, 0x17FF), (0x2F00, 0x2FDF), (0x3040, 0x30FF),
    (0x3400, 0x4DBF), (0x4E00, 0xFAFF), (0xFF65, 0xFF9F),
];

/// The literal class of youtu, regex 1, alternative 1: `[가-힣ㄱ-ㆎ]+`.
#[rustfmt::skip]
static YOUTU_HANGUL: [(u32, u32); 2] = [
    (0x3131, 0x318E), (0xAC00, 0xD7A3),
];

/// The literal class of youtu, regex 1, alternative 2: `[！…“”‘’—：；，、-〿︰-﹏]+`.
#[rustfmt::skip]
static YOUTU_PUNCT: [(u32, u32); 9] = [
    (0x2014, 0x2014), (0x2018, 0x2019), (0x201C, 0x201D), (0x2026, 0x2026), (0x3001, 0x303F), (0xFE30, 0xFE4F),
    (0xFF01, 0xFF01), (0xFF0C, 0xFF0C), (0xFF1A, 0xFF1B),
];

/// The literal class of youtu, regex 1, alternative 3: `[ㄅ-ㄯ]+`.
#[rustfmt::skip]
static YOUTU_BOPOMOFO: [(u32, u32); 1] = [
    (0x3105, 0x312F),
];

/// The literal class of bloom (and poro, gpt3-finnish, viking): the negated set, without `\s`: ` ?[^(\s|.,!?…。，、।۔،)]+`.
#[rustfmt::skip]
static BLOOM_EXCLUDED: [(u32, u32); 12] = [
    (0x0021, 0x0021), (0x0028, 0x0029), (0x002C, 0x002C), (0x002E, 0x002E), (0x003F, 0x003F), (0x007C, 0x007C),
    (0x060C, 0x060C), (0x06D4, 0x06D4), (0x0964, 0x0964), (0x2026, 0x2026), (0x3001, 0x3002), (0xFF0C, 0xFF0C),
];
// END GENERATED CLASSES

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec;

    const SPLITS: &str = include_str!("../../tests/fixtures/pretok/splits.txt");
    const NAMES: &str = include_str!("../../tests/fixtures/pretok/names.txt");

    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }

    fn words(pre: PreTokenizer, text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        pre.split(text, &mut out);
        out.into_iter().map(|r| &text[r]).collect()
    }

    /// Every case of the llama.cpp reference file.
    #[test]
    fn matches_llama_cpp_reference() {
        let mut texts: Vec<String> = Vec::new();
        let mut cases = 0;
        let mut failures = Vec::new();
        let mut seen = vec![0usize; PreTokenizer::ALL.len()];
        let mut out = Vec::new();
        for line in SPLITS.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f[0] {
                "T" => {
                    assert_eq!(f[1].parse::<usize>().unwrap(), texts.len());
                    texts.push(String::from_utf8(unhex(f[2])).unwrap());
                }
                "S" => {
                    let text = &texts[f[2].parse::<usize>().unwrap()];
                    let mut want = Vec::new();
                    let mut at = 0;
                    for len in f[3].split(',').filter(|l| !l.is_empty()) {
                        let len: usize = len.parse().unwrap();
                        want.push(at..at + len);
                        at += len;
                    }
                    assert_eq!(at, text.len());
                    for name in f[1].split(',') {
                        let pre = PreTokenizer::from_name(name).unwrap();
                        pre.split(text, &mut out);
                        cases += 1;
                        seen[PreTokenizer::ALL.iter().position(|&p| p == pre).unwrap()] += 1;
                        if out != want {
                            failures.push(alloc::format!(
                                "{name}: {text:?}\n  llama.cpp {:?}\n  got       {:?}",
                                want.iter().map(|r| &text[r.clone()]).collect::<Vec<_>>(),
                                out.iter().map(|r| &text[r.clone()]).collect::<Vec<_>>(),
                            ));
                        }
                    }
                }
                _ => assert!(line.starts_with('#'), "{line}"),
            }
        }
        assert!(cases > 17000, "{cases}");
        for (p, n) in PreTokenizer::ALL.iter().zip(&seen) {
            assert!(*n > 500, "{p:?} has only {n} reference cases");
        }
        assert!(
            failures.is_empty(),
            "{} of {cases} cases differ from llama.cpp; first ones:\n{}",
            failures.len(),
            failures[..failures.len().min(10)].join("\n")
        );
    }

    /// `from_name` agrees with llama.cpp on which names share a regex list.
    #[test]
    fn names_like_llama_cpp() {
        let mut n = 0;
        for line in NAMES.lines().filter(|l| !l.starts_with('#')) {
            let (name, rep) = line.split_once('\t').unwrap();
            if rep == "-" {
                assert_eq!(PreTokenizer::from_name(name), None, "{name}");
            } else {
                let p = PreTokenizer::from_name(name);
                assert!(p.is_some(), "{name}");
                assert_eq!(p, PreTokenizer::from_name(rep), "{name}");
                n += 1;
            }
        }
        assert!(n >= 60, "{n}");
        for p in PreTokenizer::ALL {
            assert_eq!(PreTokenizer::from_name(p.name()), Some(p));
        }
        assert_eq!(PreTokenizer::from_name("gpt2"), None);
        assert_eq!(PreTokenizer::from_name("superbpe"), None);
    }

    #[test]
    fn examples() {
        use PreTokenizer::*;
        assert_eq!(words(Gpt2, "Hello world"), ["Hello", " world"]);
        assert_eq!(words(Gpt2, "a   b"), ["a", "  ", " b"]);
        assert_eq!(words(Gpt2, "a   "), ["a", "   "]);
        assert_eq!(words(Gpt2, "it's 12345"), ["it", "'s", " 12345"]);
        assert_eq!(words(Llama3, "IT'S 12345"), ["IT", "'S", " ", "123", "45"]);
        assert_eq!(words(Llama3, "x!!\n\ny"), ["x", "!!\n\n", "y"]);
        assert_eq!(words(Llama3, "a \n b"), ["a", " \n", " b"]);
        assert_eq!(words(Qwen2, "123"), ["1", "2", "3"]);
        assert_eq!(words(Starcoder, "x = 123"), ["x", " =", " ", "1", "2", "3"]);
        assert_eq!(words(Default, "1234567"), ["123", "456", "7"]);
        assert_eq!(words(Falcon, "a+b"), ["a", "+", "b"]);
        assert_eq!(words(DeepseekCoder, "中文abc"), ["中文", "abc"]);
        assert_eq!(words(Deepseek3, "12345 go"), ["123", "45", " go"]);
        assert!(words(Llama3, "").is_empty());
    }

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_char(rng: &mut Rng) -> char {
        const PICKS: &[char] = &[
            ' ',
            ' ',
            ' ',
            '\t',
            '\n',
            '\r',
            '\u{a0}',
            '\u{3000}',
            '\u{85}',
            '\u{2028}',
            '\'',
            '\'',
            's',
            'S',
            'l',
            'L',
            'e',
            'd',
            'r',
            'v',
            'm',
            't',
            '0',
            '7',
            '!',
            '.',
            '$',
            '`',
            '…',
            '。',
            '中',
            'é',
            '\u{301}',
            '🦙',
            '٣',
            '½',
            '\u{200b}',
            '\u{0}',
            '\u{1f}',
            '\u{7f}',
            'ſ',
            'İ',
            'K',
            '가',
            'ア',
            '\u{fffd}',
            '\u{10ffff}',
        ];
        loop {
            let c = match rng.below(4) {
                0 => PICKS[rng.below(PICKS.len() as u64) as usize],
                1 => (0x20 + rng.below(0x5F) as u8) as char,
                2 => match char::from_u32(rng.below(0x3000) as u32) {
                    Some(c) => c,
                    None => continue,
                },
                _ => match char::from_u32(rng.below(0x11_0000) as u32) {
                    Some(c) => c,
                    None => continue,
                },
            };
            return c;
        }
    }

    fn check_cover(pre: PreTokenizer, text: &str, out: &[Range<usize>]) {
        let mut at = 0;
        for r in out {
            assert_eq!(r.start, at, "{pre:?} {text:?}");
            assert!(r.end > r.start, "{pre:?} {text:?}");
            assert!(text.is_char_boundary(r.end), "{pre:?} {text:?}");
            at = r.end;
        }
        assert_eq!(at, text.len(), "{pre:?} {text:?}");
    }

    /// Arbitrary text never panics, and the words always tile it.
    #[test]
    fn random_text_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut out = Vec::new();
        let mut text = String::new();
        for _ in 0..3000 {
            text.clear();
            let n = rng.below(40);
            for _ in 0..n {
                text.push(random_char(&mut rng));
            }
            for pre in PreTokenizer::ALL {
                pre.split(&text, &mut out);
                check_cover(pre, &text, &out);
            }
        }
    }

    /// Long runs take linear time (no regex-style backtracking blow-up).
    #[test]
    fn long_runs_are_linear() {
        let n = 200_000;
        let cases: [String; 7] = [
            " ".repeat(n),
            " ".repeat(n) + "x",
            "\u{3000}".repeat(n / 2) + "x",
            "1".repeat(n),
            "'".repeat(n),
            " \n".repeat(n / 2),
            "a\u{301}".repeat(n / 2),
        ];
        let mut out = Vec::new();
        for text in &cases {
            for pre in PreTokenizer::ALL {
                pre.split(text, &mut out);
                check_cover(pre, text, &out);
            }
        }
    }
}
